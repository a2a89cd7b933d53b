/*
 * conf.h - internal view of an eoc_conf_t: its settings parsed once into a
 * typed struct (see conf.c for the table of keys).
 *
 * eoc__settings_read reads values that eoc_conf_set already validated, so
 * it cannot fail: an unset key reads as its default. Each field is bound
 * to its key in conf.c's table, so a misspelt field does not compile. The
 * open-ended keys (id.strategy.<topic>, kafka.*, relay.kafka.*) are read
 * with eoc__conf_foreach_prefix.
 *
 * Thread rules: a conf has no lock. While nobody calls eoc_conf_set on it,
 * any number of threads may read it. The strings of an eoc__settings_t
 * point into the conf (or its static defaults) and stay valid until the
 * key is set again or the conf is destroyed.
 */
#ifndef EOC_CONF_H
#define EOC_CONF_H

#include "eoc/eoc.h"

#include <stdint.h>

/* The enum keys' values, in the order of their table rows. */
enum { EOC__ID_MISSING_DLQ, EOC__ID_MISSING_POSITION }; /* id.missing */
enum { EOC__EMPTY_DLQ, EOC__EMPTY_SKIP };               /* empty.value */
enum { EOC__LOG_FORMAT_TEXT, EOC__LOG_FORMAT_JSON };    /* log.format */
enum { EOC__EOS_LOCAL, EOC__EOS_KAFKA };                /* eos.mode */

typedef struct eoc__settings {
    const char *data_dir;     /* "" when unset */
    const char *group_id;     /* "" when unset */
    const char *input_topics; /* comma-separated; "" when unset */
    const char *output_topic;
    const char *dlq_topic;
    const char *id_strategy;
    int id_missing;  /* EOC__ID_MISSING_* */
    int empty_value; /* EOC__EMPTY_* */
    int64_t batch_max_records;
    int64_t batch_max_ms;
    int64_t batch_backlog_max_records;
    int64_t store_map_size;
    int64_t retry_max_attempts;
    int64_t retry_backoff_ms;
    int64_t handler_max_crashes;
    int64_t record_max_bytes;
    int64_t output_max_bytes;
    int eos_mode; /* EOC__EOS_* */
    int64_t eos_restore_timeout_ms;
    int64_t eos_restore_batch_records;
    int relay_enable;
    int64_t relay_commit_ms;
    int64_t relay_flush_timeout_ms;
    int64_t inbox_retention_ms;
    int64_t inbox_retention_count;
    int64_t inbox_prune_interval_ms;
    const char *metrics_listen;
    int64_t health_relay_stuck_ms;
    double health_map_usage;
    int64_t health_stall_ms;
    int64_t input_topics_wait_ms;
    int64_t log_progress_interval_ms;
    int trace_propagate;
    int log_level;      /* EOC_LOG_ERR .. EOC_LOG_DEBUG */
    int log_format;     /* EOC__LOG_FORMAT_* */
    eoc_log_cb *log_cb; /* eoc_conf_set_log_cb; NULL: stderr */
    void *log_opaque;
    eoc_kafka_conf_cb *kafka_conf_cb; /* eoc_conf_set_kafka_conf_cb */
    void *kafka_conf_opaque;
    eoc_kafka_stats_cb *kafka_stats_cb; /* eoc_conf_set_kafka_stats_cb */
    void *kafka_stats_opaque;
    eoc_rebalance_cb *rebalance_cb; /* eoc_conf_set_rebalance_cb */
    void *rebalance_opaque;
} eoc__settings_t;

/** Every setting of `c` (NULL: all defaults). */
void eoc__settings_read(const eoc_conf_t *c, eoc__settings_t *out);

/**
 * Calls `cb` for every set key that starts with `prefix` ("kafka.",
 * "relay.kafka.", "id.strategy."), in the order the keys were first set,
 * passing the key without the prefix and its value. Stops at, and returns,
 * the first non-zero value `cb` returns; 0 otherwise. `cb` must not modify
 * `c`.
 */
int eoc__conf_foreach_prefix(const eoc_conf_t *c, const char *prefix,
                             int (*cb)(void *opaque, const char *key, const char *value),
                             void *opaque);

#endif /* EOC_CONF_H */
