/*
 * conf.h - internal, typed view of an eoc_conf_t (see conf.c).
 *
 * The getters read values that eoc_conf_set already validated, so they
 * cannot fail: an unset key reads as its default. Asking for an unknown key,
 * or for a key through a getter of another type, is a programming error and
 * trips an assert().
 *
 * Thread rules: a conf has no lock. While nobody calls eoc_conf_set on it,
 * any number of threads may call these getters concurrently. Returned
 * strings point into the conf (or its static defaults) and stay valid until
 * the key is set again or the conf is destroyed.
 */
#ifndef EOC_CONF_H
#define EOC_CONF_H

#include "eoc/eoc.h"

#include <stdint.h>

/** Value of an int or size key (sizes in bytes). */
int64_t eoc__conf_int(const eoc_conf_t *c, const char *key);

/** Value of a double key. */
double eoc__conf_double(const eoc_conf_t *c, const char *key);

/** Value of a bool key: 0 or 1. */
int eoc__conf_bool(const eoc_conf_t *c, const char *key);

/**
 * Text of a string, enum or list key (lists are comma-separated, items
 * trimmed); "" when unset and without a default. For a key matched by a
 * pattern row ("id.strategy.orders", "kafka.acks") NULL when unset.
 */
const char *eoc__conf_str(const eoc_conf_t *c, const char *key);

/**
 * Calls `cb` for every set key that starts with `prefix` ("kafka.",
 * "relay.kafka."), in the order the keys were first set, passing the key
 * without the prefix and its value. Stops at, and returns, the first
 * non-zero value `cb` returns; 0 otherwise. `cb` must not modify `c`.
 */
int eoc__conf_foreach_prefix(const eoc_conf_t *c, const char *prefix,
                             int (*cb)(void *opaque, const char *key, const char *value),
                             void *opaque);

/** The log callback and its opaque set by eoc_conf_set_log_cb (NULLs when none). */
void eoc__conf_log_cb(const eoc_conf_t *c, eoc_log_cb **cb, void **opaque);

#endif /* EOC_CONF_H */
