/*
 * conf.c - table-driven configuration.
 *
 * Every key eoc understands is one row of conf_table: name, type, default,
 * range or allowed values, and a one-line doc. eoc_conf_set validates a
 * value against its row and stores it in text form, normalized: decimal
 * integers, byte counts for sizes, "true"/"false" for booleans, trimmed
 * items for lists. Defaults are never copied into the conf: a key that was
 * not set reads the default of its row.
 *
 * Rows whose name ends in ".*" are patterns: they accept any key made of
 * the prefix and a non-empty rest ("id.strategy.orders", "kafka.acks").
 * Values of kafka.* and relay.kafka.* are kept as given; librdkafka
 * validates them when the client is created.
 *
 * Ownership: an eoc_conf_t owns the (key, value) strings it stores; the
 * table and its defaults are static. Thread rules: see eoc.h (no lock) and
 * conf.h (concurrent readers are fine).
 */
#include "conf_int.h"

#include "numparse.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

/* ------------------------------------------------------------------ */
/* The table                                                           */
/* ------------------------------------------------------------------ */

static const char *const conf_type_name[] = {
    [CONF_STRING] = "string", [CONF_INT] = "int",   [CONF_SIZE] = "size", [CONF_BOOL] = "bool",
    [CONF_DOUBLE] = "double", [CONF_ENUM] = "enum", [CONF_LIST] = "list",
};

#define KIB    ((int64_t)1 << 10)
#define MIB    ((int64_t)1 << 20)
#define GIB    ((int64_t)1 << 30)
#define TIB    ((int64_t)1 << 40)
#define NO_MAX INT64_MAX

/* One macro per type keeps each row of the table on a line or two; `f` is
 * the row's field in eoc__settings_t. F() also checks that the field has
 * the C type the row's type reads as: comparing pointers to different
 * types does not compile (-Werror). */
/* clang-format off */
#define F(f, T) (offsetof(eoc__settings_t, f) + 0 * sizeof((T *)0 == &((eoc__settings_t *)0)->f))
#define ROW_STRING(n, f, d, doc_)                                                                  \
    {.name = n, .type = CONF_STRING, .defval = d, .doc = doc_, .off = F(f, const char *)}
#define ROW_INT(n, f, d, lo, hi, doc_)                                                             \
    {.name = n, .type = CONF_INT, .defval = d, .min = lo, .max = hi, .doc = doc_,                  \
     .off = F(f, int64_t)}
#define ROW_SIZE(n, f, d, lo, hi, doc_)                                                            \
    {.name = n, .type = CONF_SIZE, .defval = d, .min = lo, .max = hi, .doc = doc_,                 \
     .off = F(f, int64_t)}
#define ROW_BOOL(n, f, d, doc_)                                                                    \
    {.name = n, .type = CONF_BOOL, .defval = d, .doc = doc_, .off = F(f, int)}
#define ROW_DOUBLE(n, f, d, lo, hi, doc_)                                                          \
    {.name = n, .type = CONF_DOUBLE, .defval = d, .fmin = lo, .fmax = hi, .doc = doc_,             \
     .off = F(f, double)}
#define ROW_ENUM(n, f, d, vals, doc_)                                                              \
    {.name = n, .type = CONF_ENUM, .defval = d, .values = vals, .doc = doc_, .off = F(f, int)}
#define ROW_LIST(n, f, d, doc_)                                                                    \
    {.name = n, .type = CONF_LIST, .defval = d, .doc = doc_, .off = F(f, const char *)}
#define ROW_PATTERN(n, doc_) {.name = n, .type = CONF_STRING, .doc = doc_}
#define ROW_PASSTHROUGH(n, doc_)                                                                   \
    {.name = n, .type = CONF_STRING, .flags = CONF_F_ANY_SCALAR, .doc = doc_}
/* clang-format on */

static const conf_row_t conf_table[] = {
    ROW_STRING("data.dir", data_dir, NULL,
               "directory of the worker's LMDB store (created if missing)"),
    ROW_STRING("group.id", group_id, NULL, "Kafka consumer group"),
    ROW_LIST("input.topics", input_topics, NULL, "comma-separated input topics"),
    ROW_STRING("output.topic", output_topic, "", "default topic for eoc_emit() without a topic"),
    ROW_STRING("dlq.topic", dlq_topic, "", "dead-letter topic (empty: \"<group.id>.dlq\")"),
    ROW_STRING("id.strategy", id_strategy, "header:message-id",
               "how a record's message ID is found: header:NAME, json:FIELD[.FIELD...], key or "
               "position"),
    ROW_PATTERN("id.strategy.*", "per-topic override of id.strategy (id.strategy.<topic>)"),
    ROW_ENUM("id.missing", id_missing, "dlq", "dlq,position",
             "record without an ID: dead-letter (missing_id) or use topic/partition/offset"),
    ROW_ENUM("empty.value", empty_value, "dlq", "dlq,skip",
             "null or empty value: dead-letter (empty_value) or skip and count"),
    ROW_INT("batch.max.records", batch_max_records, "1000", 1, 1000000,
            "records per LMDB transaction"),
    ROW_INT("batch.max.ms", batch_max_ms, "100", 1, 60000, "longest time a batch stays open"),
    ROW_INT("batch.backlog.max.records", batch_backlog_max_records, "0", 0, 1000000,
            "records per LMDB transaction while the previous one is still committing: a full "
            "batch grows up to this instead of waiting (batch.max.ms still bounds it); 0: 10000 "
            "with the default batch.max.records, else no growth"),
    ROW_SIZE("store.map.size", store_map_size, "8GiB", 64 * KIB, TIB,
             "LMDB map size (address space; disk grows as used)"),
    ROW_INT("retry.max.attempts", retry_max_attempts, "3", 1, 100,
            "handler attempts before a record is dead-lettered"),
    ROW_INT("retry.backoff.ms", retry_backoff_ms, "100", 0, 60000,
            "first retry delay, doubled per attempt"),
    ROW_INT("handler.max.crashes", handler_max_crashes, "3", 1, 100,
            "process crashes while handling one record before it is dead-lettered unhandled"),
    ROW_SIZE("record.max.bytes", record_max_bytes, "1MiB", 1, GIB,
             "larger input records are dead-lettered (too_large)"),
    ROW_SIZE("output.max.bytes", output_max_bytes, "1000000", 1, GIB,
             "eoc_emit() refuses larger messages"),
    ROW_ENUM("eos.mode", eos_mode, "local", "local,kafka",
             "commit point: local (the LMDB commit; one store per group) or kafka (a Kafka "
             "transaction per batch; state and inbox per partition, restored from a changelog)"),
    ROW_INT("eos.restore.timeout.ms", eos_restore_timeout_ms, "120000", 1000, NO_MAX,
            "eos.mode=kafka: longest restore of one partition's changelog before giving up"),
    ROW_INT("eos.restore.batch.records", eos_restore_batch_records, "20000", 1, 10000000,
            "eos.mode=kafka: changelog records per LMDB commit during a restore"),
    ROW_BOOL("relay.enable", relay_enable, "true", "run the outbox relay in the worker process"),
    ROW_INT("relay.commit.ms", relay_commit_ms, "20", 1, 60000,
            "longest wait of delivered outbox rows for removal (with the next batch, else by "
            "the relay)"),
    ROW_INT("relay.flush.timeout.ms", relay_flush_timeout_ms, "10000", 0, 3600000,
            "how long a stop waits for the outbox to drain"),
    ROW_INT("inbox.retention.ms", inbox_retention_ms, "0", 0, NO_MAX,
            "prune inbox entries older than this (0: keep)"),
    ROW_INT("inbox.retention.count", inbox_retention_count, "0", 0, NO_MAX,
            "prune entries more than this many offsets behind the committed offset (0: off)"),
    ROW_INT("inbox.prune.interval.ms", inbox_prune_interval_ms, "1000", 10, 3600000,
            "how often retention runs"),
    ROW_STRING("metrics.listen", metrics_listen, "",
               "host:port for /metrics, /healthz and /readyz (empty: off)"),
    ROW_INT("health.stall.ms", health_stall_ms, "120000", 1000, NO_MAX,
            "/healthz fails when the poll loop has not turned for this long (a hung handler or "
            "commit)"),
    ROW_INT("input.topics.wait.ms", input_topics_wait_ms, "30000", 0, 3600000,
            "at start, how long to wait for the brokers' metadata to check that every input "
            "topic exists (a missing one fails the start; 0: do not check)"),
    ROW_INT("health.relay.stuck.ms", health_relay_stuck_ms, "60000", 1, NO_MAX,
            "/healthz fails when the oldest outbox row is older"),
    ROW_DOUBLE("health.map.usage", health_map_usage, "0.9", 0.0, 1.0,
               "/healthz fails above this LMDB map usage"),
    ROW_INT("log.progress.interval.ms", log_progress_interval_ms, "10000", 0, NO_MAX,
            "while behind, log the catch-up progress this often (0: never)"),
    ROW_BOOL("trace.propagate", trace_propagate, "true",
             "copy an input record's W3C traceparent and tracestate headers to its outputs"),
    ROW_ENUM("log.level", log_level, "info", "err,warning,notice,info,debug",
             "most verbose severity that is logged"),
    ROW_ENUM("log.format", log_format, "text", "text,json",
             "format of log lines on stderr (when no log callback is set)"),
    ROW_PASSTHROUGH("kafka.consumer.*",
                    "passed to librdkafka's consumer only (overrides kafka.*)"),
    ROW_PASSTHROUGH("kafka.*", "passed to librdkafka: to each client whose properties include "
                               "it (consumer, producers)"),
    ROW_PASSTHROUGH("relay.kafka.*", "passed to the relay's producer only (overrides kafka.*)"),
};

#define CONF_ROWS COUNTOF(conf_table)

static int row_is_pattern(const conf_row_t *row)
{
    size_t n = strlen(row->name);

    return n >= 2 && strcmp(row->name + n - 2, ".*") == 0;
}

const conf_row_t *eoc__conf_row_find(const char *key)
{
    for (size_t i = 0; i < CONF_ROWS; i++) {
        const conf_row_t *row = &conf_table[i];

        if (row_is_pattern(row)) {
            size_t plen = strlen(row->name) - 1; /* keeps the dot */

            if (strncmp(key, row->name, plen) == 0 && key[plen] != '\0')
                return row;
        } else if (strcmp(key, row->name) == 0) {
            return row;
        }
    }
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Storage                                                             */
/* ------------------------------------------------------------------ */

/* One set key. Both strings are owned by the conf. */
typedef struct conf_kv {
    char *key;
    char *value; /* validated, normalized text */
} conf_kv_t;

struct eoc_conf {
    conf_kv_t *kv; /* set keys, in the order they were first set */
    size_t cnt;
    size_t cap;
    eoc_log_cb *log_cb;
    void *log_opaque;
    eoc_kafka_conf_cb *kafka_conf_cb;
    void *kafka_conf_opaque;
    eoc_kafka_stats_cb *kafka_stats_cb;
    void *kafka_stats_opaque;
    eoc_rebalance_cb *rebalance_cb;
    void *rebalance_opaque;
};

static conf_kv_t *conf_kv_find(const eoc_conf_t *conf, const char *key)
{
    for (size_t i = 0; i < conf->cnt; i++) {
        if (strcmp(conf->kv[i].key, key) == 0)
            return &conf->kv[i];
    }
    return NULL;
}

/*
 * Adds or replaces `key`. Takes ownership of `value` (malloc'd) in every
 * case, freeing it on failure; `key` is copied. Returns 0 or ENOMEM.
 */
static int conf_kv_put(eoc_conf_t *conf, const char *key, char *value)
{
    conf_kv_t *kv = conf_kv_find(conf, key);
    char *k;

    if (kv != NULL) {
        free(kv->value);
        kv->value = value;
        return 0;
    }
    conf_kv_t *grown = eoc__grow(conf->kv, &conf->cap, conf->cnt, sizeof(*grown), 16);

    if (grown == NULL) {
        free(value);
        return ENOMEM;
    }
    conf->kv = grown;
    k = strdup(key);
    if (k == NULL) {
        free(value);
        return ENOMEM;
    }
    conf->kv[conf->cnt].key = k;
    conf->kv[conf->cnt].value = value;
    conf->cnt++;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Text                                                                */
/* ------------------------------------------------------------------ */

/* A byte count with the largest binary suffix that divides it: "64KiB", "1000000". */
static void format_size(int64_t v, char *buf, size_t size)
{
    static const char *const unit[] = {"TiB", "GiB", "MiB", "KiB"};
    static const int shift[] = {40, 30, 20, 10};

    for (size_t i = 0; i < COUNTOF(unit); i++) {
        int64_t u = (int64_t)1 << shift[i];

        if (v > 0 && v % u == 0) {
            snprintf(buf, size, "%" PRId64 "%s", v / u, unit[i]);
            return;
        }
    }
    snprintf(buf, size, "%" PRId64, v);
}

/* The range of a row: "1..100", "0.." (no upper bound), "64KiB..1TiB", "0..1". */
static void format_range(const conf_row_t *row, char *buf, size_t size)
{
    char lo[32], hi[32] = "";

    if (row->type == CONF_DOUBLE) {
        snprintf(buf, size, "%g..%g", row->fmin, row->fmax);
        return;
    }
    if (row->type == CONF_SIZE) {
        format_size(row->min, lo, sizeof(lo));
        if (row->max != NO_MAX)
            format_size(row->max, hi, sizeof(hi));
    } else {
        snprintf(lo, sizeof(lo), "%" PRId64, row->min);
        if (row->max != NO_MAX)
            snprintf(hi, sizeof(hi), "%" PRId64, row->max);
    }
    snprintf(buf, size, "%s..%s", lo, hi);
}

/* Copies the comma-separated `values` into buf, separated by `sep`. */
static void join_values(const char *values, const char *sep, char *buf, size_t size)
{
    size_t off = 0;
    const char *p = values;

    buf[0] = '\0';
    while (*p != '\0' && off < size) {
        size_t len = strcspn(p, ",");
        int n = snprintf(buf + off, size - off, "%s%.*s", off ? sep : "", (int)len, p);

        if (n < 0)
            break;
        off += (size_t)n;
        p += len;
        if (*p == ',')
            p++;
    }
}

/* ------------------------------------------------------------------ */
/* Parsing one value                                                   */
/* ------------------------------------------------------------------ */

/* Decimal int64, nothing around it: 0, EINVAL or ERANGE. */
static int parse_int(const char *s, int64_t *out)
{
    return eoc__num_i64(s, INT64_MIN, INT64_MAX, out); /* strict: numparse.h */
}

/* Byte count: digits, optionally followed by K/M/G/T or KiB/MiB/GiB/TiB. */
static int parse_size(const char *s, int64_t *out)
{
    static const struct {
        const char *suffix;
        int64_t mult;
    } suffix[] = {
        {"", 1},    {"K", KIB},   {"KiB", KIB}, {"M", MIB},   {"MiB", MIB},
        {"G", GIB}, {"GiB", GIB}, {"T", TIB},   {"TiB", TIB},
    };
    char *end;
    unsigned long long v;

    if (!isdigit((unsigned char)*s))
        return EINVAL;
    errno = 0;
    v = strtoull(s, &end, 10);
    for (size_t i = 0; i < COUNTOF(suffix); i++) {
        if (strcmp(end, suffix[i].suffix) != 0)
            continue;
        if (errno == ERANGE || v > (unsigned long long)(INT64_MAX / suffix[i].mult))
            return ERANGE;
        *out = (int64_t)v * suffix[i].mult;
        return 0;
    }
    return EINVAL;
}

static int parse_bool(const char *s, int *out)
{
    static const char *const yes[] = {"true", "yes", "1"};
    static const char *const no[] = {"false", "no", "0"};

    for (size_t i = 0; i < COUNTOF(yes); i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return EINVAL;
}

/* A finite double, nothing around it: 0, EINVAL or ERANGE. */
static int parse_double(const char *s, double *out)
{
    char *end;
    double v;

    if (*s == '\0' || isspace((unsigned char)*s))
        return EINVAL;
    errno = 0;
    v = strtod(s, &end);
    if (*end != '\0' || !isfinite(v))
        return EINVAL;
    if (errno == ERANGE)
        return ERANGE;
    *out = v;
    return 0;
}

/* Int or size by the row's type. */
static int parse_integer(const conf_row_t *row, const char *s, int64_t *out)
{
    return row->type == CONF_SIZE ? parse_size(s, out) : parse_int(s, out);
}

/* The index of `s` among the comma-separated `values`, or -1. */
static int enum_find(const char *values, const char *s)
{
    size_t n = strlen(s);
    const char *p = values;

    for (int i = 0; *p != '\0'; i++) {
        size_t len = strcspn(p, ",");

        if (len == n && strncmp(p, s, n) == 0)
            return i;
        p += len;
        if (*p == ',')
            p++;
    }
    return -1;
}

/*
 * A copy of the list `s` with its items trimmed, into *out (malloc'd).
 * EINVAL when an item is empty, ENOMEM.
 */
static int list_normalize(const char *s, char **out)
{
    char *buf = malloc(strlen(s) + 1);
    char *o = buf;
    const char *p = s;

    if (buf == NULL)
        return ENOMEM;
    for (;;) {
        size_t len = strcspn(p, ",");
        const char *b = p, *e = p + len;

        while (b < e && isspace((unsigned char)*b))
            b++;
        while (e > b && isspace((unsigned char)e[-1]))
            e--;
        if (b == e) {
            free(buf);
            return EINVAL;
        }
        if (o != buf)
            *o++ = ',';
        memcpy(o, b, (size_t)(e - b));
        o += e - b;
        if (p[len] == '\0')
            break;
        p += len + 1;
    }
    *o = '\0';
    *out = buf;
    return 0;
}

static eoc_err_t conf_check_integer(const conf_row_t *row, const char *key, const char *value,
                                    int64_t *out, char *errstr, size_t errstr_size)
{
    char range[64];
    int rc = parse_integer(row, value, out);

    if (rc == EINVAL && row->type == CONF_SIZE)
        return eoc__errf(errstr, errstr_size, EOC_ERR_CONFIG,
                         "%s: expected a size in bytes (suffixes K, M, G, T, KiB, MiB, GiB, TiB), "
                         "got \"%s\"",
                         key, value);
    if (rc == EINVAL)
        return eoc__errf(errstr, errstr_size, EOC_ERR_CONFIG, "%s: expected an integer, got \"%s\"",
                         key, value);
    if (rc == ERANGE || *out < row->min || *out > row->max) {
        format_range(row, range, sizeof(range));
        return eoc__errf(errstr, errstr_size, EOC_ERR_CONFIG, "%s: %s is out of range %s", key,
                         value, range);
    }
    return EOC_OK;
}

static eoc_err_t conf_check_double(const conf_row_t *row, const char *key, const char *value,
                                   char *errstr, size_t errstr_size)
{
    char range[64];
    double v = 0;
    int rc = parse_double(value, &v);

    if (rc == EINVAL)
        return eoc__errf(errstr, errstr_size, EOC_ERR_CONFIG, "%s: expected a number, got \"%s\"",
                         key, value);
    if (rc == ERANGE || v < row->fmin || v > row->fmax) {
        format_range(row, range, sizeof(range));
        return eoc__errf(errstr, errstr_size, EOC_ERR_CONFIG, "%s: %s is out of range %s", key,
                         value, range);
    }
    return EOC_OK;
}

/*
 * Validates `value` for `row` (`key` is the name the caller used, for
 * messages) and returns the text to store in *out (malloc'd, caller owns).
 */
static eoc_err_t conf_normalize(const conf_row_t *row, const char *key, const char *value,
                                char **out, char *errstr, size_t errstr_size)
{
    char num[32], values[128];
    const char *text = value;
    int64_t n = 0;
    int b, rc;
    eoc_err_t err;

    switch (row->type) {
    case CONF_STRING:
        break;
    case CONF_INT:
    case CONF_SIZE:
        err = conf_check_integer(row, key, value, &n, errstr, errstr_size);
        if (err != EOC_OK)
            return err;
        snprintf(num, sizeof(num), "%" PRId64, n);
        text = num;
        break;
    case CONF_BOOL:
        if (parse_bool(value, &b) != 0)
            return eoc__errf(errstr, errstr_size, EOC_ERR_CONFIG,
                             "%s: expected true, false, yes, no, 1 or 0, got \"%s\"", key, value);
        text = b ? "true" : "false";
        break;
    case CONF_DOUBLE:
        err = conf_check_double(row, key, value, errstr, errstr_size);
        if (err != EOC_OK)
            return err;
        break;
    case CONF_ENUM:
        if (enum_find(row->values, value) < 0) {
            join_values(row->values, ", ", values, sizeof(values));
            return eoc__errf(errstr, errstr_size, EOC_ERR_CONFIG, "%s: \"%s\" is not one of %s",
                             key, value, values);
        }
        break;
    case CONF_LIST:
        rc = list_normalize(value, out);
        if (rc == EINVAL)
            return eoc__errf(errstr, errstr_size, EOC_ERR_CONFIG, "%s: empty item in list \"%s\"",
                             key, value);
        if (rc != 0)
            return eoc__errf(errstr, errstr_size, EOC_ERR_NOMEM, "out of memory");
        return EOC_OK;
    }
    *out = strdup(text);
    if (*out == NULL)
        return eoc__errf(errstr, errstr_size, EOC_ERR_NOMEM, "out of memory");
    return EOC_OK;
}

/* ------------------------------------------------------------------ */
/* Public API                                                          */
/* ------------------------------------------------------------------ */

eoc_conf_t *eoc_conf_new(void)
{
    return calloc(1, sizeof(eoc_conf_t));
}

eoc_conf_t *eoc_conf_dup(const eoc_conf_t *conf)
{
    eoc_conf_t *copy;

    if (conf == NULL)
        return NULL;
    copy = eoc_conf_new();
    if (copy == NULL)
        return NULL;
    copy->log_cb = conf->log_cb;
    copy->log_opaque = conf->log_opaque;
    copy->kafka_conf_cb = conf->kafka_conf_cb;
    copy->kafka_conf_opaque = conf->kafka_conf_opaque;
    copy->kafka_stats_cb = conf->kafka_stats_cb;
    copy->kafka_stats_opaque = conf->kafka_stats_opaque;
    copy->rebalance_cb = conf->rebalance_cb;
    copy->rebalance_opaque = conf->rebalance_opaque;
    for (size_t i = 0; i < conf->cnt; i++) {
        char *value = strdup(conf->kv[i].value);

        if (value == NULL || conf_kv_put(copy, conf->kv[i].key, value) != 0) {
            eoc_conf_destroy(copy);
            return NULL;
        }
    }
    return copy;
}

void eoc_conf_destroy(eoc_conf_t *conf)
{
    if (conf == NULL)
        return;
    for (size_t i = 0; i < conf->cnt; i++) {
        free(conf->kv[i].key);
        free(conf->kv[i].value);
    }
    free(conf->kv);
    free(conf);
}

eoc_err_t eoc_conf_set(eoc_conf_t *conf, const char *key, const char *value, char *errstr,
                       size_t errstr_size)
{
    const conf_row_t *row;
    char *text = NULL;
    eoc_err_t err;

    if (conf == NULL || key == NULL || value == NULL)
        return eoc__errf(errstr, errstr_size, EOC_ERR_INVALID_ARG,
                         "eoc_conf_set: conf, key and value must not be NULL");
    row = eoc__conf_row_find(key);
    if (row == NULL)
        return eoc__errf(errstr, errstr_size, EOC_ERR_CONFIG, "unknown configuration key \"%s\"",
                         key);
    err = conf_normalize(row, key, value, &text, errstr, errstr_size);
    if (err != EOC_OK)
        return err;
    if (conf_kv_put(conf, key, text) != 0)
        return eoc__errf(errstr, errstr_size, EOC_ERR_NOMEM, "out of memory");
    return EOC_OK;
}

const char *eoc_conf_get(const eoc_conf_t *conf, const char *key)
{
    const conf_row_t *row;
    const conf_kv_t *kv;

    if (conf == NULL || key == NULL)
        return NULL;
    row = eoc__conf_row_find(key);
    if (row == NULL)
        return NULL;
    kv = conf_kv_find(conf, key);
    return kv != NULL ? kv->value : row->defval;
}

void eoc_conf_describe(eoc_conf_doc_cb *cb, void *opaque)
{
    char values[128], doc[512];

    for (size_t i = 0; i < CONF_ROWS; i++) {
        const conf_row_t *row = &conf_table[i];
        const char *d = row->doc;

        if (row->type == CONF_ENUM) {
            join_values(row->values, "|", values, sizeof(values));
            snprintf(doc, sizeof(doc), "%s (%s)", row->doc, values);
            d = doc;
        }
        cb(opaque, row->name, conf_type_name[row->type], row->defval, d);
    }
}

void eoc_conf_set_log_cb(eoc_conf_t *conf, eoc_log_cb *cb, void *opaque)
{
    if (conf == NULL)
        return;
    conf->log_cb = cb;
    conf->log_opaque = opaque;
}

void eoc_conf_set_kafka_conf_cb(eoc_conf_t *conf, eoc_kafka_conf_cb *cb, void *opaque)
{
    if (conf == NULL)
        return;
    conf->kafka_conf_cb = cb;
    conf->kafka_conf_opaque = opaque;
}

void eoc_conf_set_kafka_stats_cb(eoc_conf_t *conf, eoc_kafka_stats_cb *cb, void *opaque)
{
    if (conf == NULL)
        return;
    conf->kafka_stats_cb = cb;
    conf->kafka_stats_opaque = opaque;
}

void eoc_conf_set_rebalance_cb(eoc_conf_t *conf, eoc_rebalance_cb *cb, void *opaque)
{
    if (conf == NULL)
        return;
    conf->rebalance_cb = cb;
    conf->rebalance_opaque = opaque;
}

/* ------------------------------------------------------------------ */
/* Settings (conf.h)                                                   */
/* ------------------------------------------------------------------ */

void eoc__settings_read(const eoc_conf_t *c, eoc__settings_t *out)
{
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < CONF_ROWS; i++) {
        const conf_row_t *row = &conf_table[i];
        if (row_is_pattern(row))
            continue;
        const conf_kv_t *kv = c ? conf_kv_find(c, row->name) : NULL;
        const char *text = kv ? kv->value : row->defval ? row->defval : "";
        char *field = (char *)out + row->off;
        int64_t v = 0;
        double d = 0;
        int b = 0;
        switch (row->type) { /* the values were validated when set */
        case CONF_STRING:
        case CONF_LIST:
            *(const char **)field = text;
            break;
        case CONF_INT:
        case CONF_SIZE:
            parse_integer(row, text, &v);
            *(int64_t *)field = v;
            break;
        case CONF_DOUBLE:
            parse_double(text, &d);
            *(double *)field = d;
            break;
        case CONF_BOOL:
            parse_bool(text, &b);
            *(int *)field = b;
            break;
        case CONF_ENUM:
            *(int *)field = enum_find(row->values, text);
            break;
        }
    }
    out->log_level += EOC_LOG_ERR; /* log.level's values start at "err" */
    if (c) {
        out->log_cb = c->log_cb;
        out->log_opaque = c->log_opaque;
        out->kafka_conf_cb = c->kafka_conf_cb;
        out->kafka_conf_opaque = c->kafka_conf_opaque;
        out->kafka_stats_cb = c->kafka_stats_cb;
        out->kafka_stats_opaque = c->kafka_stats_opaque;
        out->rebalance_cb = c->rebalance_cb;
        out->rebalance_opaque = c->rebalance_opaque;
    }
}

int eoc__conf_foreach_prefix(const eoc_conf_t *c, const char *prefix,
                             int (*cb)(void *opaque, const char *key, const char *value),
                             void *opaque)
{
    size_t plen = strlen(prefix);

    for (size_t i = 0; i < c->cnt; i++) {
        const conf_kv_t *kv = &c->kv[i];
        int rc;

        if (strncmp(kv->key, prefix, plen) != 0 || kv->key[plen] == '\0')
            continue;
        rc = cb(opaque, kv->key + plen, kv->value);
        if (rc != 0)
            return rc;
    }
    return 0;
}
