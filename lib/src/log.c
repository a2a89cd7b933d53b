/*
 * log.c - per-instance logger (see log.h).
 *
 * A line is formatted into a stack buffer (a heap buffer when it is long)
 * and handed to the callback, or written to stderr with ONE fputs call so
 * that lines from different threads do not interleave. No state is shared
 * between calls.
 */
#include "log.h"

#include "util.h"

#include "conf.h"
#include "jsontext.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

/* Syslog level names, lower case for log.level and JSON, upper case for text. */
static const char *const level_lower[] = {"emerg",   "alert",  "crit", "err",
                                          "warning", "notice", "info", "debug"};
static const char *const level_upper[] = {"EMERG",   "ALERT",  "CRIT", "ERR",
                                          "WARNING", "NOTICE", "INFO", "DEBUG"};

#define LEVELS ((int)COUNTOF(level_lower))

static int level_index(int level)
{
    if (level < 0)
        return 0;
    return level < LEVELS ? level : LEVELS - 1;
}

void eoc__log_init(eoc_log_t *lg, const eoc__settings_t *st, const char *name)
{
    memset(lg, 0, sizeof(*lg));
    lg->level = EOC_LOG_INFO;
    snprintf(lg->name, sizeof(lg->name), "%s", name != NULL ? name : "eoc");
    if (st == NULL)
        return;
    lg->cb = st->log_cb;
    lg->opaque = st->log_opaque;
    lg->level = st->log_level;
    lg->json = st->log_format == EOC__LOG_FORMAT_JSON;
}

/*
 * Formats into `buf` or, when the result does not fit, into a malloc'd
 * block. Returns the text: `buf`, the block (caller frees), or the
 * truncated `buf` when out of memory.
 */
static char *log_vformat(char *buf, size_t size, const char *fmt, va_list ap) EOC__PRINTF(3, 0);

static char *log_vformat(char *buf, size_t size, const char *fmt, va_list ap)
{
    va_list again;
    char *big;
    int n;

    va_copy(again, ap);
    n = vsnprintf(buf, size, fmt, again);
    va_end(again);
    if (n < 0) {
        buf[0] = '\0';
        return buf;
    }
    if ((size_t)n < size)
        return buf;
    big = malloc((size_t)n + 1);
    if (big == NULL)
        return buf;
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    return big;
}

static char *log_format(char *buf, size_t size, const char *fmt, ...) EOC__PRINTF(3, 4);

static char *log_format(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    char *s;

    va_start(ap, fmt);
    s = log_vformat(buf, size, fmt, ap);
    va_end(ap);
    return s;
}

/* Makes `s` one line: drops trailing line breaks, turns the others into spaces. */
static void log_one_line(char *s)
{
    size_t n = strlen(s);

    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = '\0';
    for (char *p = s; *p != '\0'; p++) {
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    }
}

/* UTC time with milliseconds: "2026-11-29T07:50:01.123Z". */
static void log_timestamp(char *buf, size_t size)
{
    struct timespec ts;
    struct tm tm;
    size_t n;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, size - n, ".%03ldZ", (long)(ts.tv_nsec / 1000000));
}

/* Whether a text field value needs quotes. */
static int kv_needs_quotes(const char *s, size_t len)
{
    if (len == 0)
        return 1;
    for (size_t i = 0; i < len; i++)
        if (s[i] == ' ' || s[i] == '"' || s[i] == '=' || s[i] == '\\' || (unsigned char)s[i] < 0x20)
            return 1;
    return 0;
}

/* `msg` followed by ` key=value` per field, in a malloc'd string (NULL out
 * of memory). */
static char *kv_text(const char *msg, const eoc__kv_t *kv, size_t n)
{
    size_t cap = strlen(msg) + 1;
    for (size_t i = 0; i < n; i++)
        cap += strlen(kv[i].key) + 4 +
               (kv[i].s ? 2 * (kv[i].len == (size_t)-1 ? strlen(kv[i].s) : kv[i].len) : 24);
    char *out = malloc(cap), *o = out;
    if (!out)
        return NULL;
    o += sprintf(o, "%s", msg);
    for (size_t i = 0; i < n; i++) {
        o += sprintf(o, " %s=", kv[i].key);
        if (!kv[i].s) {
            o += sprintf(o, "%lld", (long long)kv[i].i);
            continue;
        }
        size_t len = kv[i].len == (size_t)-1 ? strlen(kv[i].s) : kv[i].len;
        int q = kv_needs_quotes(kv[i].s, len);
        if (q)
            *o++ = '"';
        for (size_t j = 0; j < len; j++) {
            char c = kv[i].s[j];
            if (c == '"' || c == '\\')
                *o++ = '\\';
            *o++ = (unsigned char)c < 0x20 ? ' ' : c;
        }
        if (q)
            *o++ = '"';
    }
    *o = '\0';
    return out;
}

static void log_write_text(const eoc_log_t *lg, int level, const char *ts, const char *msg)
{
    char buf[1024];
    char *line = log_format(buf, sizeof(buf), "%s eoc[%ld] %s %s %s\n", ts, (long)getpid(),
                            lg->name, level_upper[level_index(level)], msg);

    fputs(line, stderr);
    if (line != buf)
        free(line);
}

/* Writes a JSON line; returns -1 when cJSON ran out of memory (nothing written). */
static int log_write_json(const eoc_log_t *lg, int level, const char *ts, const char *msg,
                          const eoc__kv_t *kv, size_t nkv)
{
    cJSON *obj = cJSON_CreateObject();
    char buf[1024];
    char *json = NULL, *line;
    /* A message can carry raw bytes of an ID: JSON gets UTF-8 only. */
    char *fixed = eoc__utf8_escape_invalid(msg, strlen(msg));

    if (fixed)
        msg = fixed;

    if (obj != NULL && cJSON_AddStringToObject(obj, "ts", ts) != NULL &&
        cJSON_AddStringToObject(obj, "level", level_lower[level_index(level)]) != NULL &&
        cJSON_AddStringToObject(obj, "component", lg->name) != NULL &&
        cJSON_AddNumberToObject(obj, "pid", (double)getpid()) != NULL &&
        cJSON_AddStringToObject(obj, "msg", msg) != NULL) {
        int ok = 1;
        for (size_t i = 0; ok && i < nkv; i++) {
            if (!kv[i].s) {
                ok = cJSON_AddNumberToObject(obj, kv[i].key, (double)kv[i].i) != NULL;
                continue;
            }
            size_t len = kv[i].len == (size_t)-1 ? strlen(kv[i].s) : kv[i].len;
            char *v = malloc(len + 1);
            if (v) {
                memcpy(v, kv[i].s, len);
                v[len] = '\0';
            }
            ok = v && cJSON_AddStringToObject(obj, kv[i].key, v) != NULL;
            free(v);
        }
        if (ok)
            json = cJSON_PrintUnformatted(obj);
    }
    cJSON_Delete(obj);
    free(fixed);
    if (json == NULL)
        return -1;
    line = log_format(buf, sizeof(buf), "%s\n", json);
    fputs(line, stderr);
    if (line != buf)
        free(line);
    cJSON_free(json);
    return 0;
}

static void log_v(const eoc_log_t *lg, int level, const eoc__kv_t *kv, size_t nkv,
                  const char *fmt, va_list ap) EOC__PRINTF(5, 0);

static void log_v(const eoc_log_t *lg, int level, const eoc__kv_t *kv, size_t nkv,
                  const char *fmt, va_list ap)
{
    char buf[512], ts[40];
    char *msg, *text = NULL;

    msg = log_vformat(buf, sizeof(buf), fmt, ap);
    if (nkv && (lg->cb != NULL || !lg->json))
        text = kv_text(msg, kv, nkv); /* text lines carry the fields as key=value */
    log_one_line(text ? text : msg);

    if (lg->cb != NULL) {
        lg->cb(lg->opaque, level, text ? text : msg);
    } else {
        log_timestamp(ts, sizeof(ts));
        if (!lg->json || log_write_json(lg, level, ts, msg, kv, nkv) != 0)
            log_write_text(lg, level, ts, text ? text : msg);
    }
    free(text);
    if (msg != buf)
        free(msg);
}

void eoc__log(const eoc_log_t *lg, int level, const char *fmt, ...)
{
    va_list ap;

    if (level > lg->level)
        return;
    va_start(ap, fmt);
    log_v(lg, level, NULL, 0, fmt, ap);
    va_end(ap);
}

void eoc__log_kv(const eoc_log_t *lg, int level, const eoc__kv_t *kv, size_t n, const char *fmt,
                 ...)
{
    va_list ap;

    if (level > lg->level)
        return;
    va_start(ap, fmt);
    log_v(lg, level, kv, n, fmt, ap);
    va_end(ap);
}
