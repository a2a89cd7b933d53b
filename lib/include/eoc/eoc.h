/*
 * eoc - exactly-once consumer framework for Kafka.
 *
 * The one public header. A worker polls records from Kafka, drops the ones
 * whose message ID it has already applied (the inbox), runs the user's
 * handler, and commits the handler's state writes, its outgoing messages
 * (the outbox) and the consumed offsets in ONE durable LMDB transaction.
 * Only after that commit do offsets advance in Kafka and does the relay
 * publish the outbox.
 *
 * Conventions, as in LMDB and librdkafka:
 *  - Every function that can fail returns an eoc_err_t (0 = EOC_OK) or NULL
 *    with the reason in a caller-supplied errstr buffer.
 *  - Handles are opaque. Ownership is stated on every function.
 *  - Pointers handed to a handler (records, state values) are valid only
 *    for the duration of that handler call: copy what you keep.
 *  - Thread rules are stated per function; no function uses global state.
 *  - Callback types are function types (`typedef R name(args)`), taken as
 *    `name *`.
 *  - Every `const char *` eoc hands out is NUL-terminated unless its
 *    comment says otherwise (then a length comes with it).
 */
#ifndef EOC_EOC_H
#define EOC_EOC_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(EOC_BUILDING) && defined(__GNUC__)
#define EOC_API __attribute__((visibility("default")))
#else
#define EOC_API
#endif

#define EOC_VERSION_STR "0.1.0"

/** Longest message ID in bytes (LMDB's key limit). */
#define EOC_ID_MAX 511

/** Headers one eoc_emit takes at most (`message-id` included, which eoc
 *  replaces); more is EOC_ERR_INVALID_ARG with the reason set. A dead
 *  letter has no such limit: it keeps every header of the record. */
#define EOC_HEADERS_MAX 64

/**
 * The header an output carries with the record it came from, one value
 * `<topic>/<partition>/<offset>` (decimal; a Kafka topic name has no '/').
 * Outputs of an eoc_emit and dead letters carry it; eoc_source_parse
 * reads it.
 */
#define EOC_HEADER_SOURCE "eoc-source"

/**
 * Parses an EOC_HEADER_SOURCE value (`len` bytes, not NUL-terminated):
 * the topic goes NUL-terminated into `topic` (`topic_size` bytes). Returns
 * 0, or -1 when the value is not of that form or the topic does not fit.
 */
EOC_API int eoc_source_parse(const void *value, size_t len, char *topic, size_t topic_size,
                             int32_t *partition, int64_t *offset);

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

typedef enum eoc_err {
    EOC_OK = 0,
    EOC_ERR_INVALID_ARG, /**< bad argument or value */
    EOC_ERR_CONFIG,      /**< configuration error (see errstr) */
    EOC_ERR_NOMEM,       /**< out of memory */
    EOC_ERR_NOT_FOUND,   /**< key, row or file not found */
    EOC_ERR_MAP_FULL,    /**< LMDB map full: raise store.map.size */
    EOC_ERR_STORE,       /**< other LMDB error (I/O, corruption, ...) */
    EOC_ERR_IO,          /**< file system error */
    EOC_ERR_VERSION,     /**< store written by an incompatible version */
    EOC_ERR_LOCKED,      /**< resource held by another process */
    EOC_ERR_KAFKA,       /**< librdkafka error (see log) */
    EOC_ERR_TOO_LARGE,   /**< message larger than the configured limit */
    EOC_ERR_INVALID_ID,  /**< empty message ID or longer than EOC_ID_MAX */
    EOC_ERR_STATE,       /**< call not valid in the object's state */
    EOC_ERR_READ_ONLY,   /**< write on a read-only store */
    EOC_ERR_FATAL,       /**< unrecoverable error, the worker stopped */
    EOC_ERR__COUNT
} eoc_err_t;

/** Static, never-NULL text for an error code. Any thread. */
EOC_API const char *eoc_strerror(eoc_err_t err);

/** Library version string, e.g. "0.1.0". Static. */
EOC_API const char *eoc_version(void);

/* ------------------------------------------------------------------ */
/* Logging                                                             */
/* ------------------------------------------------------------------ */

/** Syslog levels. */
enum {
    EOC_LOG_ERR = 3,
    EOC_LOG_WARNING = 4,
    EOC_LOG_NOTICE = 5,
    EOC_LOG_INFO = 6,
    EOC_LOG_DEBUG = 7
};

/**
 * Log callback. Called from any eoc thread (worker, relay, metrics) for
 * one line of text without a trailing newline; `line` is valid only for the
 * call. When no callback is set, lines go to stderr in the format chosen by
 * `log.format` (text or json).
 */
typedef void eoc_log_cb(void *opaque, int level, const char *line);

/* ------------------------------------------------------------------ */
/* Configuration                                                       */
/* ------------------------------------------------------------------ */

/**
 * A configuration: a table of typed keys with defaults (see
 * eoc_conf_describe, or `--help` of any consumer). Keys starting with
 * `kafka.` are passed to librdkafka: each client gets those of its
 * properties that apply to it (a consumer property is not given to a
 * producer, and the other way round). Keys starting with `kafka.consumer.`
 * go to the consumer only, keys starting with `relay.kafka.` to the relay's
 * producer only; both override `kafka.`.
 * Not thread-safe: configure from one thread, then hand it over.
 */
typedef struct eoc_conf eoc_conf_t;

/** A new configuration holding every default. NULL on out of memory. */
EOC_API eoc_conf_t *eoc_conf_new(void);

/** A deep copy. NULL on out of memory. */
EOC_API eoc_conf_t *eoc_conf_dup(const eoc_conf_t *conf);

/** Frees `conf` (NULL is fine). */
EOC_API void eoc_conf_destroy(eoc_conf_t *conf);

/**
 * Sets `key` to `value` (text form, parsed by the key's type). Unknown
 * keys, bad values and wrong types fail with EOC_ERR_CONFIG and a message
 * naming the key in errstr. `value` is copied.
 */
EOC_API eoc_err_t eoc_conf_set(eoc_conf_t *conf, const char *key, const char *value, char *errstr,
                               size_t errstr_size);

/**
 * Loads a JSON object file: {"key": value, ...}. Values may be strings,
 * numbers or booleans (the key's type decides what is accepted); nested
 * objects are flattened with dots ({"kafka": {"acks": "all"}}). On error
 * nothing is guaranteed about which keys were applied; errstr names the
 * file and the key.
 */
EOC_API eoc_err_t eoc_conf_load_json(eoc_conf_t *conf, const char *path, char *errstr,
                                     size_t errstr_size);

/**
 * Current text value of `key`, or NULL when the key is unknown or unset
 * (for keys without a default). Valid until the key is set again or the
 * conf is destroyed.
 */
EOC_API const char *eoc_conf_get(const eoc_conf_t *conf, const char *key);

/** One documented key: name, type name, default (NULL when none), one-line doc. */
typedef void eoc_conf_doc_cb(void *opaque, const char *key, const char *type, const char *defval,
                             const char *doc);

/** Calls `cb` once per documented key, in table order. For `--help` output. */
EOC_API void eoc_conf_describe(eoc_conf_doc_cb *cb, void *opaque);

/** Sets a log callback; `opaque` is passed through. */
EOC_API void eoc_conf_set_log_cb(eoc_conf_t *conf, eoc_log_cb *cb, void *opaque);

/* ---- reaching into librdkafka ---- */

/** The librdkafka clients eoc creates. */
typedef enum eoc_kafka_client {
    EOC_KAFKA_CONSUMER = 0,       /**< the worker's consumer */
    EOC_KAFKA_RELAY_PRODUCER = 1, /**< the outbox relay's idempotent producer */
    EOC_KAFKA_TX_PRODUCER = 2     /**< a transactional producer */
} eoc_kafka_client_t;

struct rd_kafka_conf_s; /* librdkafka's rd_kafka_conf_t */

/**
 * Called with the `rd_kafka_conf_t` of each client eoc creates, after the
 * `kafka.*` keys (and the client's own prefix: `kafka.consumer.*`,
 * `relay.kafka.*`) were applied and before the client is created: set
 * callbacks (OAUTHBEARER token refresh, SSL certificate verification,
 * interceptors) or properties eoc has no key for. eoc sets its own
 * callbacks (opaque, log, rebalance, offset commit, delivery report,
 * error, statistics) after this one; do not replace them, and do not turn
 * enable.auto.commit or enable.auto.offset.store back on: eoc sets them
 * again. Return EOC_OK, or an error with a reason in errstr to fail the
 * creation of the worker or relay. Called on the thread that creates the
 * worker or relay.
 */
typedef eoc_err_t(eoc_kafka_conf_cb)(void *opaque, eoc_kafka_client_t client,
                                     struct rd_kafka_conf_s *kconf, char *errstr,
                                     size_t errstr_size);

/** Sets the client configuration hook (NULL: none); `opaque` is passed through. */
EOC_API void eoc_conf_set_kafka_conf_cb(eoc_conf_t *conf, eoc_kafka_conf_cb *cb, void *opaque);

/**
 * librdkafka's statistics (the JSON document described in its
 * STATISTICS.md), every `kafka.statistics.interval.ms` (off by default:
 * set it, e.g. to 15000; with metrics.listen set the consumer reports every
 * 10 s by default). `client` says whose: the consumer's come on the
 * worker's polling thread, the relay producer's on the relay's thread.
 * `json` is valid during the call only. The worker also publishes a
 * summary of its consumer's in /metrics (eoc_kafka_*).
 */
typedef void(eoc_kafka_stats_cb)(void *opaque, eoc_kafka_client_t client, const char *json,
                                 size_t len);

/** Sets the statistics callback (NULL: none); `opaque` is passed through. */
EOC_API void eoc_conf_set_kafka_stats_cb(eoc_conf_t *conf, eoc_kafka_stats_cb *cb, void *opaque);

/** What happened to a set of partitions (eoc_rebalance_cb). */
typedef enum eoc_rebalance_event {
    EOC_REBALANCE_ASSIGNED = 0, /**< given to this worker */
    EOC_REBALANCE_REVOKED = 1,  /**< taken away cleanly: their batch committed first */
    EOC_REBALANCE_LOST = 2      /**< the group moved on without this worker */
} eoc_rebalance_event_t;

/** A partition in a rebalance. */
typedef struct eoc_partition {
    const char *topic; /**< valid during the callback */
    int32_t partition;
    int64_t offset; /**< assigned: where consumption starts (-1: Kafka or auto.offset.reset
                         decides); otherwise -1 */
} eoc_partition_t;

/**
 * Rebalance listener: called on the worker's polling thread after eoc
 * handled the event (positions read from the store on assignment; the open
 * batch committed and offsets sent on revocation). `parts` is valid during
 * the call only. Must not call eoc_worker_run or eoc_worker_destroy.
 */
typedef void(eoc_rebalance_cb)(void *opaque, eoc_rebalance_event_t event,
                               const eoc_partition_t *parts, size_t count);

/** Sets the rebalance listener (NULL: none); `opaque` is passed through. */
EOC_API void eoc_conf_set_rebalance_cb(eoc_conf_t *conf, eoc_rebalance_cb *cb, void *opaque);

/* ------------------------------------------------------------------ */
/* Records (read-only views handed to the handler)                     */
/* ------------------------------------------------------------------ */

/**
 * A consumed record. Every pointer returned by these accessors is valid
 * only during the handler call that received the record.
 */
typedef struct eoc_record eoc_record_t;

/** The topic name (NUL-terminated). */
EOC_API const char *eoc_record_topic(const eoc_record_t *rec);
EOC_API int32_t eoc_record_partition(const eoc_record_t *rec);
EOC_API int64_t eoc_record_offset(const eoc_record_t *rec);
/** Timestamp in ms since the epoch, or -1. */
EOC_API int64_t eoc_record_timestamp(const eoc_record_t *rec);
/** Key bytes and length; NULL for a null key. */
EOC_API const void *eoc_record_key(const eoc_record_t *rec, size_t *len);
/** Value bytes and length; NULL for a null value. */
EOC_API const void *eoc_record_value(const eoc_record_t *rec, size_t *len);
/** The message ID this record was deduplicated by: `*len` bytes, NOT
 *  NUL-terminated. */
EOC_API const char *eoc_record_id(const eoc_record_t *rec, size_t *len);
/**
 * Last header named `name` (NUL-terminated): EOC_OK with value/len set
 * (the value is bytes, not NUL-terminated; NULL for a null value),
 * EOC_ERR_NOT_FOUND when absent.
 */
EOC_API eoc_err_t eoc_record_header(const eoc_record_t *rec, const char *name, const void **value,
                                    size_t *len);
/** Number of headers, and the header at index `i`: the name is
 *  NUL-terminated, the value is `*len` bytes (not NUL-terminated). */
EOC_API size_t eoc_record_header_count(const eoc_record_t *rec);
EOC_API eoc_err_t eoc_record_header_at(const eoc_record_t *rec, size_t i, const char **name,
                                       const void **value, size_t *len);

/* ------------------------------------------------------------------ */
/* The handler's transaction                                           */
/* ------------------------------------------------------------------ */

/**
 * The transaction a handler runs in: the batch's LMDB write transaction.
 * Everything done through it (state writes, emitted messages) commits with
 * the record's inbox row and offset, or not at all. A handler runs directly
 * in the batch transaction; when it returns anything but EOC_HANDLER_OK the
 * batch is rolled back and applied again with that record in a nested
 * transaction of its own, so that its retries and its failure roll back
 * alone (the handlers of the records before it run again). Valid only
 * during the handler call; never share it with another thread.
 */
typedef struct eoc_txn eoc_txn_t;

/**
 * Reads a state value. On EOC_OK `*value`/`*len` point into the store and
 * stay valid until the next write through `txn` or the end of the call.
 * EOC_ERR_NOT_FOUND when absent. Keys are 1..511 bytes.
 */
EOC_API eoc_err_t eoc_state_get(eoc_txn_t *txn, const void *key, size_t key_len, const void **value,
                                size_t *len);
/** Writes a state value (copied). EOC_ERR_MAP_FULL when the store is full. */
EOC_API eoc_err_t eoc_state_put(eoc_txn_t *txn, const void *key, size_t key_len, const void *value,
                                size_t len);
/** Deletes a state value; EOC_OK also when it was absent. */
EOC_API eoc_err_t eoc_state_del(eoc_txn_t *txn, const void *key, size_t key_len);

typedef struct eoc_header {
    const char *name; /**< NUL-terminated */
    const void *value;
    size_t len;
} eoc_header_t;

/** An outgoing message. Everything is copied by eoc_emit. */
typedef struct eoc_msg {
    const char *topic; /**< NULL: the configured `output.topic` */
    int32_t partition; /**< -1 (EOC_PARTITION_ANY): partitioned by key */
    const void *key;   /**< may be NULL */
    size_t key_len;
    const void *value; /**< may be NULL */
    size_t value_len;
    const eoc_header_t *headers; /**< may be NULL */
    size_t header_count;
} eoc_msg_t;

#define EOC_PARTITION_ANY (-1)

/**
 * Appends an outgoing message to the outbox. It is published after the
 * batch commits, with the deterministic ID `<input-id>/<n>` (n counts the
 * record's emits from 0; past EOC_ID_MAX bytes `<head>~<digest>/<n>`, see
 * the README) as its `message-id` header (a `message-id` in
 * msg->headers is dropped: eoc owns that header). A message carries at
 * most EOC_HEADERS_MAX headers: more fail with EOC_ERR_INVALID_ARG. Fails
 * with EOC_ERR_TOO_LARGE when the message exceeds `output.max.bytes`, and
 * with EOC_ERR_INVALID_ARG when no topic is given and none is configured.
 */
EOC_API eoc_err_t eoc_emit(eoc_txn_t *txn, const eoc_msg_t *msg);

/**
 * eoc_emit with the message's Kafka timestamp (CreateTime) in ms since the
 * epoch; eoc_emit's messages get the producer's clock when the relay sends
 * them. A copy keeps its input's time with eoc_record_timestamp(rec).
 * `timestamp_ms` <= 0 is the same as eoc_emit.
 */
EOC_API eoc_err_t eoc_emit_at(eoc_txn_t *txn, const eoc_msg_t *msg, int64_t timestamp_ms);

/**
 * Attaches an error text to the current attempt (printf format). It is
 * logged and, if the record is dead-lettered, sent in the `eoc-error`
 * header.
 */
EOC_API void eoc_txn_set_error(eoc_txn_t *txn, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/** What a handler returns. */
typedef enum eoc_result {
    EOC_HANDLER_OK = 0, /**< commit the effects */
    EOC_HANDLER_RETRY,  /**< transient: roll back, try again (bounded), then dead-letter */
    EOC_HANDLER_FAIL    /**< permanent: roll back and dead-letter now */
} eoc_result_t;

/**
 * The user's handler. Runs on the worker thread, once per new record (and
 * again on a retry, or after a crash before the batch committed: effects
 * outside `txn` are not covered by the exactly-once guarantee).
 */
typedef eoc_result_t eoc_handler_fn(eoc_txn_t *txn, const eoc_record_t *rec, void *opaque);

/* ------------------------------------------------------------------ */
/* Statistics                                                          */
/* ------------------------------------------------------------------ */

/** Counters since the worker was created (monotonic). */
typedef struct eoc_stats {
    uint64_t consumed;        /**< records polled from Kafka */
    uint64_t applied;         /**< handler effects committed */
    uint64_t duplicates;      /**< skipped: ID already in the inbox */
    uint64_t dead_letters;    /**< dead-lettered records */
    uint64_t skipped;         /**< null/empty values skipped (empty.value=skip) */
    uint64_t retries;         /**< handler retries */
    uint64_t batches;         /**< batches committed */
    uint64_t commit_failures; /**< batches aborted and rewound */
    uint64_t rebalances;      /**< assignments and revocations */
    uint64_t published;       /**< outbox rows delivered by the relay */
    uint64_t relay_errors;    /**< failed deliveries (retried) */
    uint64_t outbox_backlog;  /**< rows committed but not yet removed */
    int64_t outbox_oldest_ms; /**< age of the oldest pending row, 0 when none */
    uint64_t inbox_pruned;    /**< inbox entries removed by retention */
} eoc_stats_t;

/* ------------------------------------------------------------------ */
/* Worker                                                              */
/* ------------------------------------------------------------------ */

typedef struct eoc_worker eoc_worker_t;

/**
 * Creates a worker: opens (creating) the store in `data.dir`, creates the
 * Kafka consumer and, when `relay.enable` is true, the relay. Takes
 * ownership of `conf` on success only. NULL on error, with the reason in
 * errstr.
 */
EOC_API eoc_worker_t *eoc_worker_new(eoc_conf_t *conf, eoc_handler_fn *handler, void *opaque,
                                     char *errstr, size_t errstr_size);

/**
 * Runs the worker on the calling thread until eoc_worker_stop() is called
 * or a fatal error happens. On stop it drains: commits the open batch,
 * flushes the outbox (bounded by `relay.flush.timeout.ms`), commits
 * offsets to Kafka and leaves the group. Returns EOC_OK after a clean
 * stop, or the fatal error (also logged, with what to do).
 */
EOC_API eoc_err_t eoc_worker_run(eoc_worker_t *w);

/**
 * Asks a running worker to stop. Async-signal-safe and callable from any
 * thread; returns at once.
 */
EOC_API void eoc_worker_stop(eoc_worker_t *w);

/**
 * The fatal error that stopped the worker, or EOC_OK when none: as
 * eoc_worker_run returns it, with its reason (NUL-terminated) written to
 * errstr (errstr may be NULL). Any thread.
 */
EOC_API eoc_err_t eoc_worker_fatal_error(eoc_worker_t *w, char *errstr, size_t errstr_size);

/** Copies current counters into `*out`. Any thread. */
EOC_API void eoc_worker_stats(eoc_worker_t *w, eoc_stats_t *out);

/** Frees the worker (after eoc_worker_run returned, or without running). */
EOC_API void eoc_worker_destroy(eoc_worker_t *w);

/* ------------------------------------------------------------------ */
/* Relay (standalone)                                                  */
/* ------------------------------------------------------------------ */

typedef struct eoc_relay eoc_relay_t;

/**
 * A standalone relay for the store in `data.dir`: publishes its outbox
 * until stopped. Only one relay runs per store (an exclusive file lock);
 * a second one waits for the lock. Takes ownership of `conf` on success.
 */
EOC_API eoc_relay_t *eoc_relay_new(eoc_conf_t *conf, char *errstr, size_t errstr_size);
/**
 * Runs until eoc_relay_stop(); then flushes within `relay.flush.timeout.ms`.
 * Returns EOC_OK when it stopped with every committed row published,
 * EOC_ERR_LOCKED when it never ran because another relay held the store
 * the whole time, or EOC_ERR_KAFKA when it stopped with rows unpublished
 * (they stay in the outbox for the next relay; the log says why).
 */
EOC_API eoc_err_t eoc_relay_run(eoc_relay_t *r);
/** Async-signal-safe stop request. */
EOC_API void eoc_relay_stop(eoc_relay_t *r);
EOC_API void eoc_relay_destroy(eoc_relay_t *r);

/* ------------------------------------------------------------------ */
/* Store inspection (read-only, safe while a worker runs)              */
/* ------------------------------------------------------------------ */

typedef struct eoc_store eoc_store_t;

/**
 * Opens the store in `dir` read-only. NULL on error (no store, version
 * mismatch) with the reason in errstr. Any thread may use the handle, one
 * call at a time.
 */
EOC_API eoc_store_t *eoc_store_open_readonly(const char *dir, char *errstr, size_t errstr_size);
EOC_API void eoc_store_close(eoc_store_t *s);

/**
 * Calls `cb` for every state entry whose key starts with `prefix`
 * (`prefix_len` 0 = all), in key order, in one read snapshot. Pointers
 * are valid during the callback. `cb` returns non-zero to stop early.
 */
typedef int eoc_state_cb(void *opaque, const void *key, size_t key_len, const void *value,
                         size_t len);
EOC_API eoc_err_t eoc_store_state_foreach(eoc_store_t *s, const void *prefix, size_t prefix_len,
                                          eoc_state_cb *cb, void *opaque);

/** One partition's stored position. */
typedef struct eoc_position {
    const char *topic; /**< NUL-terminated, valid during the callback */
    int32_t partition;
    int64_t next_offset;
} eoc_position_t;

/** Calls `cb` for every stored partition offset, in (topic, partition)
 *  order; it returns non-zero to stop early. */
typedef int eoc_position_cb(void *opaque, const eoc_position_t *pos);
EOC_API eoc_err_t eoc_store_offsets_foreach(eoc_store_t *s, eoc_position_cb *cb, void *opaque);

/**
 * eos.mode=kafka: calls `cb` for every changelog partition's recorded
 * position (the offset after the last changelog record the store holds;
 * `topic` is the changelog topic, "<group>.<input topic>.changelog").
 * Stops at a non-zero return of `cb`.
 */
EOC_API eoc_err_t eoc_store_changelog_foreach(eoc_store_t *s,
                                              int (*cb)(void *opaque, const eoc_position_t *pos),
                                              void *opaque);

/** A pending outbox row, as handed to eoc_store_outbox_foreach. */
typedef struct eoc_outbox_row {
    uint64_t seq;
    int64_t created_ms;
    const char *id;    /**< outbox ID, NUL-terminated */
    const char *topic; /**< NUL-terminated */
    int32_t partition;
    const void *key;
    size_t key_len;
    const void *value;
    size_t value_len;
    size_t header_count;
    const eoc_header_t *headers;
} eoc_outbox_row_t;

/** Calls `cb` for every pending outbox row in sequence order; it returns
 *  non-zero to stop early. Pointers are valid during the callback. */
typedef int eoc_outbox_row_cb(void *opaque, const eoc_outbox_row_t *row);
EOC_API eoc_err_t eoc_store_outbox_foreach(eoc_store_t *s, eoc_outbox_row_cb *cb, void *opaque);

/** A summary of the store, for `eoc inspect` and metrics. */
typedef struct eoc_store_info {
    uint64_t inbox_entries;
    uint64_t inbox_applied;
    uint64_t inbox_dead_lettered;
    int64_t inbox_oldest_ms; /**< commit time of the oldest entry, 0 when empty */
    uint64_t outbox_rows;
    int64_t outbox_oldest_ms; /**< created time of the oldest pending row, 0 */
    uint64_t state_entries;
    uint64_t map_size; /**< bytes */
    uint64_t map_used; /**< bytes in use */
    uint32_t schema_version;
} eoc_store_info_t;

EOC_API eoc_err_t eoc_store_info(eoc_store_t *s, eoc_store_info_t *out);

/* ------------------------------------------------------------------ */
/* Replay                                                              */
/* ------------------------------------------------------------------ */

/**
 * An administrative handle on the store in `dir`: it holds the store's
 * worker lock exclusively, so no worker runs (or starts) while it is open.
 * NULL with EOC_ERR_LOCKED's reason in errstr while a worker has the store
 * open. Close it with eoc_store_admin_close. One thread at a time.
 */
typedef struct eoc_store_admin eoc_store_admin_t;

EOC_API eoc_store_admin_t *eoc_store_admin_open(const char *dir, char *errstr, size_t errstr_size);
EOC_API void eoc_store_admin_close(eoc_store_admin_t *a);

/**
 * Moves the stored next offset of (topic, partition) BACK to `offset`, so
 * the next worker re-reads from there (every record it already applied is
 * then a duplicate). EOC_ERR_INVALID_ARG when `offset` is ahead of the
 * stored one (moving forward would skip records), EOC_ERR_NOT_FOUND when
 * the store has no offset for the partition; the reason goes to errstr.
 * One durable commit.
 */
EOC_API eoc_err_t eoc_store_admin_rewind(eoc_store_admin_t *a, const char *topic, int32_t partition,
                                         int64_t offset, char *errstr, size_t errstr_size);

/**
 * Drops the pending outbox row `seq` unpublished (a row the broker refuses
 * for good whose dead letter is refused too: `eoc outbox --drop`).
 * EOC_ERR_NOT_FOUND when there is no such row. One durable commit.
 */
EOC_API eoc_err_t eoc_store_admin_outbox_drop(eoc_store_admin_t *a, uint64_t seq, char *errstr,
                                              size_t errstr_size);

#ifdef __cplusplus
}
#endif
#endif /* EOC_EOC_H */
