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
#include "conf.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#if defined(__GNUC__)
#define CONF_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define CONF_PRINTF(fmt, args)
#endif

/* ------------------------------------------------------------------ */
/* The table                                                           */
/* ------------------------------------------------------------------ */

typedef enum conf_type {
    CONF_STRING,
    CONF_INT,    /* int64 within [min, max] */
    CONF_SIZE,   /* int64 bytes within [min, max], K/M/G/T suffixes */
    CONF_BOOL,   /* true/false/1/0/yes/no */
    CONF_DOUBLE, /* finite double within [fmin, fmax] */
    CONF_ENUM,   /* one of `values` */
    CONF_LIST    /* comma-separated, items trimmed and non-empty */
} conf_type_t;

static const char *const conf_type_name[] = {
    [CONF_STRING] = "string", [CONF_INT] = "int",   [CONF_SIZE] = "size", [CONF_BOOL] = "bool",
    [CONF_DOUBLE] = "double", [CONF_ENUM] = "enum", [CONF_LIST] = "list",
};

/* Row flag: a JSON number or boolean is accepted and stored as its text. */
#define CONF_F_ANY_SCALAR 0x1u

typedef struct conf_row {
    const char *name; /* ends with ".*" for a pattern row */
    conf_type_t type;
    const char *defval; /* text form; NULL when the key has no default */
    int64_t min, max;   /* CONF_INT, CONF_SIZE: inclusive range */
    double fmin, fmax;  /* CONF_DOUBLE: inclusive range */
    const char *values; /* CONF_ENUM: allowed values, comma-separated */
    unsigned flags;     /* CONF_F_* */
    const char *doc;
} conf_row_t;

#define KIB    ((int64_t)1 << 10)
#define MIB    ((int64_t)1 << 20)
#define GIB    ((int64_t)1 << 30)
#define TIB    ((int64_t)1 << 40)
#define NO_MAX INT64_MAX

/* One macro per type keeps each row of the table on a line or two. */
/* clang-format off */
#define ROW_STRING(n, d, doc_) {.name = n, .type = CONF_STRING, .defval = d, .doc = doc_}
#define ROW_INT(n, d, lo, hi, doc_)                                                                \
    {.name = n, .type = CONF_INT, .defval = d, .min = lo, .max = hi, .doc = doc_}
#define ROW_SIZE(n, d, lo, hi, doc_)                                                               \
    {.name = n, .type = CONF_SIZE, .defval = d, .min = lo, .max = hi, .doc = doc_}
#define ROW_BOOL(n, d, doc_) {.name = n, .type = CONF_BOOL, .defval = d, .doc = doc_}
#define ROW_DOUBLE(n, d, lo, hi, doc_)                                                             \
    {.name = n, .type = CONF_DOUBLE, .defval = d, .fmin = lo, .fmax = hi, .doc = doc_}
#define ROW_ENUM(n, d, vals, doc_)                                                                 \
    {.name = n, .type = CONF_ENUM, .defval = d, .values = vals, .doc = doc_}
#define ROW_LIST(n, d, doc_) {.name = n, .type = CONF_LIST, .defval = d, .doc = doc_}
#define ROW_PASSTHROUGH(n, doc_)                                                                   \
    {.name = n, .type = CONF_STRING, .flags = CONF_F_ANY_SCALAR, .doc = doc_}
/* clang-format on */

static const conf_row_t conf_table[] = {
    ROW_STRING("data.dir", NULL, "directory of the worker's LMDB store (created if missing)"),
    ROW_STRING("group.id", NULL, "Kafka consumer group"),
    ROW_LIST("input.topics", NULL, "comma-separated input topics"),
    ROW_STRING("output.topic", "", "default topic for eoc_emit() without a topic"),
    ROW_STRING("dlq.topic", "", "dead-letter topic (empty: \"<group.id>.dlq\")"),
    ROW_STRING("id.strategy", "header:message-id",
               "how a record's message ID is found: header:NAME, json:FIELD[.FIELD...], key or "
               "position"),
    ROW_STRING("id.strategy.*", NULL, "per-topic override of id.strategy (id.strategy.<topic>)"),
    ROW_ENUM("id.missing", "dlq", "dlq,position",
             "record without an ID: dead-letter (missing_id) or use topic/partition/offset"),
    ROW_ENUM("empty.value", "dlq", "dlq,skip",
             "null or empty value: dead-letter (empty_value) or skip and count"),
    ROW_INT("batch.max.records", "1000", 1, 1000000, "records per LMDB transaction"),
    ROW_INT("batch.max.ms", "100", 1, 60000, "longest time a batch stays open"),
    ROW_SIZE("store.map.size", "8GiB", 64 * KIB, TIB,
             "LMDB map size (address space; disk grows as used)"),
    ROW_INT("retry.max.attempts", "3", 1, 100, "handler attempts before a record is dead-lettered"),
    ROW_INT("retry.backoff.ms", "100", 0, 60000, "first retry delay, doubled per attempt"),
    ROW_INT("handler.max.crashes", "3", 1, 100,
            "process crashes while handling one record before it is dead-lettered unhandled"),
    ROW_SIZE("record.max.bytes", "1MiB", 1, GIB,
             "larger input records are dead-lettered (too_large)"),
    ROW_SIZE("output.max.bytes", "1000000", 1, GIB, "eoc_emit() refuses larger messages"),
    ROW_BOOL("relay.enable", "true", "run the outbox relay in the worker process"),
    ROW_INT("relay.commit.ms", "20", 1, 60000,
            "longest wait of delivered outbox rows for removal (with the next batch, else by "
            "the relay)"),
    ROW_INT("relay.flush.timeout.ms", "10000", 0, 3600000,
            "how long a stop waits for the outbox to drain"),
    ROW_INT("inbox.retention.ms", "0", 0, NO_MAX, "prune inbox entries older than this (0: keep)"),
    ROW_INT("inbox.retention.count", "0", 0, NO_MAX,
            "prune entries more than this many offsets behind the committed offset (0: off)"),
    ROW_INT("inbox.prune.interval.ms", "1000", 10, 3600000, "how often retention runs"),
    ROW_STRING("metrics.listen", "", "host:port for /metrics and /healthz (empty: off)"),
    ROW_INT("health.relay.stuck.ms", "60000", 1, NO_MAX,
            "/healthz fails when the oldest outbox row is older"),
    ROW_DOUBLE("health.map.usage", "0.9", 0.0, 1.0, "/healthz fails above this LMDB map usage"),
    ROW_ENUM("log.level", "info", "err,warning,notice,info,debug",
             "most verbose severity that is logged"),
    ROW_ENUM("log.format", "text", "text,json",
             "format of log lines on stderr (when no log callback is set)"),
    ROW_PASSTHROUGH("kafka.*", "passed to librdkafka (consumer and producer)"),
    ROW_PASSTHROUGH("relay.kafka.*", "passed to the relay's producer only (overrides kafka.*)"),
};

#define CONF_ROWS (sizeof(conf_table) / sizeof(conf_table[0]))

/* Longest dotted key a JSON file may produce. */
#define CONF_KEY_MAX 256

/* Largest configuration file eoc_conf_load_json reads. */
#define CONF_FILE_MAX (16 * 1024 * 1024)

static int row_is_pattern(const conf_row_t *row)
{
    size_t n = strlen(row->name);

    return n >= 2 && strcmp(row->name + n - 2, ".*") == 0;
}

/* The row that accepts `key`, or NULL when the key is unknown. */
static const conf_row_t *conf_row_find(const char *key)
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
    if (conf->cnt == conf->cap) {
        size_t cap = conf->cap ? conf->cap * 2 : 16;
        conf_kv_t *grown = realloc(conf->kv, cap * sizeof(*grown));

        if (grown == NULL) {
            free(value);
            return ENOMEM;
        }
        conf->kv = grown;
        conf->cap = cap;
    }
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
/* Errors                                                              */
/* ------------------------------------------------------------------ */

/* Writes the message to errstr (which may be NULL) and returns `err`. */
static eoc_err_t conf_fail(eoc_err_t err, char *errstr, size_t errstr_size, const char *fmt, ...)
    CONF_PRINTF(4, 5);

static eoc_err_t conf_fail(eoc_err_t err, char *errstr, size_t errstr_size, const char *fmt, ...)
{
    va_list ap;

    if (errstr != NULL && errstr_size > 0) {
        va_start(ap, fmt);
        vsnprintf(errstr, errstr_size, fmt, ap);
        va_end(ap);
    }
    return err;
}

/* A byte count with the largest binary suffix that divides it: "64KiB", "1000000". */
static void format_size(int64_t v, char *buf, size_t size)
{
    static const char *const unit[] = {"TiB", "GiB", "MiB", "KiB"};
    static const int shift[] = {40, 30, 20, 10};

    for (size_t i = 0; i < sizeof(unit) / sizeof(unit[0]); i++) {
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
    const char *digits = (*s == '-' || *s == '+') ? s + 1 : s;
    char *end;
    long long v;

    if (!isdigit((unsigned char)*digits))
        return EINVAL;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (*end != '\0')
        return EINVAL;
    if (errno == ERANGE)
        return ERANGE;
    *out = (int64_t)v;
    return 0;
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
    for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
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

    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
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

/* Whether `s` is one of the comma-separated `values`. */
static int enum_has(const char *values, const char *s)
{
    size_t n = strlen(s);
    const char *p = values;

    while (*p != '\0') {
        size_t len = strcspn(p, ",");

        if (len == n && strncmp(p, s, n) == 0)
            return 1;
        p += len;
        if (*p == ',')
            p++;
    }
    return 0;
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
        return conf_fail(EOC_ERR_CONFIG, errstr, errstr_size,
                         "%s: expected a size in bytes (suffixes K, M, G, T, KiB, MiB, GiB, TiB), "
                         "got \"%s\"",
                         key, value);
    if (rc == EINVAL)
        return conf_fail(EOC_ERR_CONFIG, errstr, errstr_size, "%s: expected an integer, got \"%s\"",
                         key, value);
    if (rc == ERANGE || *out < row->min || *out > row->max) {
        format_range(row, range, sizeof(range));
        return conf_fail(EOC_ERR_CONFIG, errstr, errstr_size, "%s: %s is out of range %s", key,
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
        return conf_fail(EOC_ERR_CONFIG, errstr, errstr_size, "%s: expected a number, got \"%s\"",
                         key, value);
    if (rc == ERANGE || v < row->fmin || v > row->fmax) {
        format_range(row, range, sizeof(range));
        return conf_fail(EOC_ERR_CONFIG, errstr, errstr_size, "%s: %s is out of range %s", key,
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
            return conf_fail(EOC_ERR_CONFIG, errstr, errstr_size,
                             "%s: expected true, false, yes, no, 1 or 0, got \"%s\"", key, value);
        text = b ? "true" : "false";
        break;
    case CONF_DOUBLE:
        err = conf_check_double(row, key, value, errstr, errstr_size);
        if (err != EOC_OK)
            return err;
        break;
    case CONF_ENUM:
        if (!enum_has(row->values, value)) {
            join_values(row->values, ", ", values, sizeof(values));
            return conf_fail(EOC_ERR_CONFIG, errstr, errstr_size, "%s: \"%s\" is not one of %s",
                             key, value, values);
        }
        break;
    case CONF_LIST:
        rc = list_normalize(value, out);
        if (rc == EINVAL)
            return conf_fail(EOC_ERR_CONFIG, errstr, errstr_size, "%s: empty item in list \"%s\"",
                             key, value);
        if (rc != 0)
            return conf_fail(EOC_ERR_NOMEM, errstr, errstr_size, "out of memory");
        return EOC_OK;
    }
    *out = strdup(text);
    if (*out == NULL)
        return conf_fail(EOC_ERR_NOMEM, errstr, errstr_size, "out of memory");
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
        return conf_fail(EOC_ERR_INVALID_ARG, errstr, errstr_size,
                         "eoc_conf_set: conf, key and value must not be NULL");
    row = conf_row_find(key);
    if (row == NULL)
        return conf_fail(EOC_ERR_CONFIG, errstr, errstr_size, "unknown configuration key \"%s\"",
                         key);
    err = conf_normalize(row, key, value, &text, errstr, errstr_size);
    if (err != EOC_OK)
        return err;
    if (conf_kv_put(conf, key, text) != 0)
        return conf_fail(EOC_ERR_NOMEM, errstr, errstr_size, "out of memory");
    return EOC_OK;
}

const char *eoc_conf_get(const eoc_conf_t *conf, const char *key)
{
    const conf_row_t *row;
    const conf_kv_t *kv;

    if (conf == NULL || key == NULL)
        return NULL;
    row = conf_row_find(key);
    if (row == NULL)
        return NULL;
    kv = conf_kv_find(conf, key);
    return kv != NULL ? kv->value : row->defval;
}

void eoc_conf_describe(void (*cb)(void *opaque, const char *key, const char *type,
                                  const char *defval, const char *doc),
                       void *opaque)
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

/* ------------------------------------------------------------------ */
/* JSON files                                                          */
/* ------------------------------------------------------------------ */

/* State of one eoc_conf_load_json call. */
typedef struct conf_json {
    eoc_conf_t *conf;
    const char *path;
    char *errstr;
    size_t errstr_size;
    char key[CONF_KEY_MAX]; /* dotted name of the member being applied */
} conf_json_t;

/* Like conf_fail, with "<path>: " in front of the message. */
static eoc_err_t json_fail(const conf_json_t *cj, eoc_err_t err, const char *fmt, ...)
    CONF_PRINTF(3, 4);

static eoc_err_t json_fail(const conf_json_t *cj, eoc_err_t err, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return conf_fail(err, cj->errstr, cj->errstr_size, "%s: %s", cj->path, msg);
}

/* Reads the whole file into *out (malloc'd, NUL-terminated, caller frees). */
static eoc_err_t json_read_file(const char *path, char **out, size_t *len, char *errstr,
                                size_t errstr_size)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL, *grown;
    size_t n = 0, cap = 0, got;
    eoc_err_t err;

    if (f == NULL)
        return conf_fail(errno == ENOENT ? EOC_ERR_NOT_FOUND : EOC_ERR_IO, errstr, errstr_size,
                         "%s: %s", path, strerror(errno));
    do {
        if (n == cap) {
            cap = cap ? cap * 2 : 4096;
            if (cap > CONF_FILE_MAX) {
                err = conf_fail(EOC_ERR_CONFIG, errstr, errstr_size,
                                "%s: file too large (limit %d bytes)", path, CONF_FILE_MAX);
                goto fail;
            }
            grown = realloc(buf, cap + 1);
            if (grown == NULL) {
                err = conf_fail(EOC_ERR_NOMEM, errstr, errstr_size, "out of memory");
                goto fail;
            }
            buf = grown;
        }
        got = fread(buf + n, 1, cap - n, f);
        n += got;
    } while (got > 0);
    if (ferror(f)) {
        err = conf_fail(EOC_ERR_IO, errstr, errstr_size, "%s: %s", path, strerror(errno));
        goto fail;
    }
    fclose(f);
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return EOC_OK;

fail:
    free(buf);
    fclose(f);
    return err;
}

/* 1-based line and column of `at` in `text`. */
static void json_position(const char *text, const char *at, int *line, int *col)
{
    *line = 1;
    *col = 1;
    for (const char *p = text; p < at; p++) {
        if (*p == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

static const char *json_type_name(const cJSON *item)
{
    if (cJSON_IsString(item))
        return "a string";
    if (cJSON_IsNumber(item))
        return "a number";
    if (cJSON_IsBool(item))
        return "a boolean";
    if (cJSON_IsNull(item))
        return "null";
    if (cJSON_IsArray(item))
        return "an array";
    return "an object";
}

/* What a JSON value for `row` may be, for type errors. */
static const char *json_expected(const conf_row_t *row)
{
    if (row->flags & CONF_F_ANY_SCALAR)
        return "a string, a number or a boolean";
    switch (row->type) {
    case CONF_INT:
        return "an integer or a string";
    case CONF_SIZE:
        return "a whole number of bytes or a string";
    case CONF_DOUBLE:
        return "a number or a string";
    case CONF_BOOL:
        return "a boolean or a string";
    case CONF_LIST:
        return "an array of strings or a string";
    default:
        return "a string";
    }
}

/* Shortest "%g" text that reads back as `v`. */
static void format_double(double v, char *buf, size_t size)
{
    snprintf(buf, size, "%.15g", v);
    if (strtod(buf, NULL) != v)
        snprintf(buf, size, "%.17g", v);
}

/* The text of a JSON number for `row` into buf; NULL after an error. */
static const char *json_number(const conf_json_t *cj, const conf_row_t *row, double v, char *buf,
                               size_t size, eoc_err_t *err)
{
    /* Without libm: the cast is defined because of the range check. */
    int integral = v > -9.0e18 && v < 9.0e18 && v == (double)(int64_t)v;

    if (row->type == CONF_INT || row->type == CONF_SIZE) {
        if (!integral) {
            *err = json_fail(cj, EOC_ERR_CONFIG, "%s: expected an integer, got %g", cj->key, v);
            return NULL;
        }
        snprintf(buf, size, "%.0f", v);
    } else if (row->type == CONF_DOUBLE || (row->flags & CONF_F_ANY_SCALAR)) {
        if (integral)
            snprintf(buf, size, "%.0f", v);
        else
            format_double(v, buf, size);
    } else {
        return NULL;
    }
    return buf;
}

/* An array of strings joined with commas into *out (malloc'd); NULL after an error. */
static char *json_join(const conf_json_t *cj, const cJSON *array, eoc_err_t *err)
{
    const cJSON *el;
    size_t total = 1;
    char *buf, *o;

    cJSON_ArrayForEach(el, array)
    {
        if (!cJSON_IsString(el)) {
            *err = json_fail(cj, EOC_ERR_CONFIG, "%s: expected an array of strings, found %s in it",
                             cj->key, json_type_name(el));
            return NULL;
        }
        total += strlen(el->valuestring) + 1;
    }
    buf = o = malloc(total);
    if (buf == NULL) {
        *err = json_fail(cj, EOC_ERR_NOMEM, "out of memory");
        return NULL;
    }
    cJSON_ArrayForEach(el, array)
    {
        size_t n = strlen(el->valuestring);

        if (o != buf)
            *o++ = ',';
        memcpy(o, el->valuestring, n);
        o += n;
    }
    *o = '\0';
    return buf;
}

/* Applies one non-object member, whose dotted name is in cj->key. */
static eoc_err_t json_apply_value(conf_json_t *cj, const cJSON *item)
{
    const conf_row_t *row = conf_row_find(cj->key);
    char num[64], msg[512];
    char *joined = NULL;
    const char *text = NULL;
    eoc_err_t err = EOC_OK;

    if (row == NULL)
        return json_fail(cj, EOC_ERR_CONFIG, "unknown configuration key \"%s\"", cj->key);
    if (cJSON_IsString(item))
        text = item->valuestring;
    else if (cJSON_IsNumber(item))
        text = json_number(cj, row, item->valuedouble, num, sizeof(num), &err);
    else if (cJSON_IsBool(item) && (row->type == CONF_BOOL || (row->flags & CONF_F_ANY_SCALAR)))
        text = cJSON_IsTrue(item) ? "true" : "false";
    else if (cJSON_IsArray(item) && row->type == CONF_LIST)
        text = joined = json_join(cj, item, &err);
    if (err != EOC_OK)
        return err;
    if (text == NULL)
        return json_fail(cj, EOC_ERR_CONFIG, "%s: expected %s, got %s", cj->key, json_expected(row),
                         json_type_name(item));
    err = eoc_conf_set(cj->conf, cj->key, text, msg, sizeof(msg));
    free(joined);
    if (err != EOC_OK)
        return json_fail(cj, err, "%s", msg);
    return EOC_OK;
}

/* Applies the members of `obj`, whose dotted name (keylen bytes) is in cj->key. */
static eoc_err_t json_apply_object(conf_json_t *cj, const cJSON *obj, size_t keylen)
{
    const cJSON *it;

    cJSON_ArrayForEach(it, obj)
    {
        size_t dot = keylen > 0 ? 1 : 0;
        size_t n = strlen(it->string);
        eoc_err_t err;

        if (keylen + dot + n >= sizeof(cj->key))
            return json_fail(cj, EOC_ERR_CONFIG, "key \"%s.%s\" is too long", cj->key, it->string);
        if (dot)
            cj->key[keylen] = '.';
        memcpy(cj->key + keylen + dot, it->string, n + 1);
        if (cJSON_IsObject(it))
            err = json_apply_object(cj, it, keylen + dot + n);
        else
            err = json_apply_value(cj, it);
        cj->key[keylen] = '\0';
        if (err != EOC_OK)
            return err;
    }
    return EOC_OK;
}

eoc_err_t eoc_conf_load_json(eoc_conf_t *conf, const char *path, char *errstr, size_t errstr_size)
{
    conf_json_t cj = {.conf = conf, .path = path, .errstr = errstr, .errstr_size = errstr_size};
    const char *end = NULL;
    cJSON *root;
    char *text = NULL;
    size_t len = 0;
    int line, col;
    eoc_err_t err;

    if (conf == NULL || path == NULL)
        return conf_fail(EOC_ERR_INVALID_ARG, errstr, errstr_size,
                         "eoc_conf_load_json: conf and path must not be NULL");
    err = json_read_file(path, &text, &len, errstr, errstr_size);
    if (err != EOC_OK)
        return err;
    root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (root == NULL) {
        json_position(text, end != NULL ? end : text, &line, &col);
        err = json_fail(&cj, EOC_ERR_CONFIG, "invalid JSON near line %d, column %d", line, col);
    } else if (!cJSON_IsObject(root)) {
        err = json_fail(&cj, EOC_ERR_CONFIG, "expected a JSON object at the top level, got %s",
                        json_type_name(root));
    } else {
        err = json_apply_object(&cj, root, 0);
    }
    cJSON_Delete(root);
    free(text);
    return err;
}

/* ------------------------------------------------------------------ */
/* Internal getters (conf.h)                                           */
/* ------------------------------------------------------------------ */

#define TYPE_BIT(t) (1u << (t))

/*
 * The row of `key` in *rowp and the key's current text (NULL when unset
 * without a default). The key must exist and have one of `types`.
 */
static const char *conf_read(const eoc_conf_t *c, const char *key, unsigned types,
                             const conf_row_t **rowp)
{
    const conf_row_t *row = conf_row_find(key);
    const conf_kv_t *kv;

    assert(row != NULL && "unknown configuration key");
    assert((row == NULL || (types & TYPE_BIT(row->type))) && "configuration key of another type");
    (void)types;
    *rowp = row;
    if (row == NULL)
        return NULL;
    kv = conf_kv_find(c, key);
    return kv != NULL ? kv->value : row->defval;
}

int64_t eoc__conf_int(const eoc_conf_t *c, const char *key)
{
    const conf_row_t *row;
    const char *text = conf_read(c, key, TYPE_BIT(CONF_INT) | TYPE_BIT(CONF_SIZE), &row);
    int64_t v = 0;

    if (text == NULL || parse_integer(row, text, &v) != 0)
        return 0;
    return v;
}

double eoc__conf_double(const eoc_conf_t *c, const char *key)
{
    const conf_row_t *row;
    const char *text = conf_read(c, key, TYPE_BIT(CONF_DOUBLE), &row);
    double v = 0;

    if (text == NULL || parse_double(text, &v) != 0)
        return 0;
    return v;
}

int eoc__conf_bool(const eoc_conf_t *c, const char *key)
{
    const conf_row_t *row;
    const char *text = conf_read(c, key, TYPE_BIT(CONF_BOOL), &row);
    int v = 0;

    if (text == NULL || parse_bool(text, &v) != 0)
        return 0;
    return v;
}

const char *eoc__conf_str(const eoc_conf_t *c, const char *key)
{
    const conf_row_t *row;
    const char *text =
        conf_read(c, key, TYPE_BIT(CONF_STRING) | TYPE_BIT(CONF_ENUM) | TYPE_BIT(CONF_LIST), &row);

    if (text != NULL)
        return text;
    return row != NULL && row_is_pattern(row) ? NULL : "";
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

void eoc__conf_log_cb(const eoc_conf_t *c, eoc_log_cb **cb, void **opaque)
{
    *cb = c->log_cb;
    *opaque = c->log_opaque;
}
