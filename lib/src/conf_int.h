/*
 * conf_int - the table row type shared by conf.c (the table, eoc_conf_set,
 * the settings) and conf_json.c (eoc_conf_load_json).
 */
#ifndef EOC_CONF_INT_H
#define EOC_CONF_INT_H

#include "conf.h"

#include <stddef.h>
#include <stdint.h>

typedef enum conf_type {
    CONF_STRING,
    CONF_INT,    /* int64 within [min, max] */
    CONF_SIZE,   /* int64 bytes within [min, max], K/M/G/T suffixes */
    CONF_BOOL,   /* true/false/1/0/yes/no */
    CONF_DOUBLE, /* finite double within [fmin, fmax] */
    CONF_ENUM,   /* one of `values` */
    CONF_LIST    /* comma-separated, items trimmed and non-empty */
} conf_type_t;

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
    size_t off; /* its field in eoc__settings_t (not for patterns) */
} conf_row_t;

/** The row that accepts `key`, or NULL when the key is unknown. */
const conf_row_t *eoc__conf_row_find(const char *key);

#endif
