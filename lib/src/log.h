/*
 * log.h - per-instance logger.
 *
 * Each worker, relay or metrics server embeds an eoc_log_t set up from its
 * conf: the user's callback (or stderr), the most verbose level written
 * (log.level) and the stderr format (log.format). There is no global
 * logger.
 *
 * Thread rules: an eoc_log_t is written once by eoc__log_init and only read
 * afterwards, so eoc__log may be called from any number of threads at the
 * same time. The callback must be thread-safe itself (see eoc_log_cb).
 */
#ifndef EOC_LOG_H
#define EOC_LOG_H

#include "conf.h"
#include "eoc/eoc.h"
#include "util.h"

#include <stddef.h>
#include <stdint.h>

typedef struct eoc_log {
    eoc_log_cb *cb; /* NULL: write to stderr */
    void *opaque;   /* passed to cb */
    int level;      /* lines with a higher (more verbose) level are dropped */
    int json;       /* stderr lines as JSON objects instead of text */
    char name[32];  /* component: "worker", "relay", ... */
} eoc_log_t;

/**
 * Sets up `lg` from the settings (log callback, log.level, log.format) for
 * the component `name` (truncated to 31 bytes). `st` is only read during
 * the call; NULL means the defaults (info, text, stderr).
 */
void eoc__log_init(eoc_log_t *lg, const eoc__settings_t *st, const char *name);

/**
 * Logs one line at syslog `level` (EOC_LOG_*). The message must not need a
 * trailing newline; embedded line breaks are replaced by spaces so that one
 * call is one line.
 */
void eoc__log(const eoc_log_t *lg, int level, const char *fmt, ...) EOC__PRINTF(3, 4);

/**
 * A structured field of a log line: a string (`s`, `len` bytes, or up to
 * its NUL when len is (size_t)-1) or an integer (`s` NULL). In
 * log.format=json each field is a member of the line's object; in text and
 * for a log callback it follows the message as ` key=value` (a value with
 * spaces, quotes or '=' in double quotes).
 */
typedef struct eoc__kv {
    const char *key;
    const char *s;
    size_t len;
    int64_t i;
} eoc__kv_t;

#define EOC__KV_S(k, v)      ((eoc__kv_t){(k), (v), (size_t)-1, 0})
#define EOC__KV_SN(k, v, n)  ((eoc__kv_t){(k), (v), (n), 0})
#define EOC__KV_I(k, v)      ((eoc__kv_t){(k), NULL, 0, (int64_t)(v)})

/** Logs one line like eoc__log, with `n` structured fields `kv`. */
void eoc__log_kv(const eoc_log_t *lg, int level, const eoc__kv_t *kv, size_t n, const char *fmt,
                 ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;

#endif /* EOC_LOG_H */
