/*
 * conf_json.c - eoc_conf_load_json: a JSON file of settings, nested
 * objects joined into dotted keys, each value checked by eoc_conf_set.
 */
#include "conf_int.h"

#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

/* Longest dotted key a JSON file may produce. */
#define CONF_KEY_MAX 256

/* Largest configuration file eoc_conf_load_json reads. */
#define CONF_FILE_MAX (16 * 1024 * 1024)

/* State of one eoc_conf_load_json call. */
typedef struct conf_json {
    eoc_conf_t *conf;
    const char *path;
    char *errstr;
    size_t errstr_size;
    char key[CONF_KEY_MAX]; /* dotted name of the member being applied */
} conf_json_t;

/* Like eoc__errf, with "<path>: " in front of the message. */
static eoc_err_t json_fail(const conf_json_t *cj, eoc_err_t err, const char *fmt, ...)
    EOC__PRINTF(3, 4);

static eoc_err_t json_fail(const conf_json_t *cj, eoc_err_t err, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return eoc__errf(cj->errstr, cj->errstr_size, err, "%s: %s", cj->path, msg);
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
        return eoc__errf(errstr, errstr_size, errno == ENOENT ? EOC_ERR_NOT_FOUND : EOC_ERR_IO,
                         "%s: %s", path, strerror(errno));
    do {
        if (n == cap) {
            cap = cap ? cap * 2 : 4096;
            if (cap > CONF_FILE_MAX) {
                err = eoc__errf(errstr, errstr_size, EOC_ERR_CONFIG,
                                "%s: file too large (limit %d bytes)", path, CONF_FILE_MAX);
                goto fail;
            }
            grown = realloc(buf, cap + 1);
            if (grown == NULL) {
                err = eoc__errf(errstr, errstr_size, EOC_ERR_NOMEM, "out of memory");
                goto fail;
            }
            buf = grown;
        }
        got = fread(buf + n, 1, cap - n, f);
        n += got;
    } while (got > 0);
    if (ferror(f)) {
        err = eoc__errf(errstr, errstr_size, EOC_ERR_IO, "%s: %s", path, strerror(errno));
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
    const conf_row_t *row = eoc__conf_row_find(cj->key);
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

/* The first "\u0000" escape inside a string of the (well-formed) JSON text,
 * or NULL. cJSON hands strings over as C strings, which would cut such a
 * value short silently; a setting never holds a NUL byte, so it is refused. */
static const char *json_find_nul_escape(const char *text, size_t len)
{
    int in_string = 0;

    for (size_t i = 0; i < len; i++) {
        if (!in_string) {
            in_string = text[i] == '"';
        } else if (text[i] == '"') {
            in_string = 0;
        } else if (text[i] == '\\' && i + 1 < len) {
            if (text[i + 1] == 'u' && i + 5 < len && memcmp(text + i + 2, "0000", 4) == 0)
                return text + i;
            i++; /* the escaped character */
        }
    }
    return NULL;
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
        return eoc__errf(errstr, errstr_size, EOC_ERR_INVALID_ARG,
                         "eoc_conf_load_json: conf and path must not be NULL");
    err = json_read_file(path, &text, &len, errstr, errstr_size);
    if (err != EOC_OK)
        return err;
    root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (root == NULL) {
        json_position(text, end != NULL ? end : text, &line, &col);
        err = json_fail(&cj, EOC_ERR_CONFIG, "invalid JSON near line %d, column %d", line, col);
    } else if ((end = json_find_nul_escape(text, len)) != NULL) {
        json_position(text, end, &line, &col);
        err = json_fail(&cj, EOC_ERR_CONFIG,
                        "a string holds \\u0000 near line %d, column %d (no setting holds a NUL "
                        "byte)",
                        line, col);
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
