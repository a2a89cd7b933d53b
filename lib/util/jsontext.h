/*
 * jsontext - JSON values as the bytes they were written with, with lengths
 * (never C strings: "\u0000" is a byte like any other).
 *
 * cJSON keeps numbers only as doubles and strings only as C strings; where
 * an exact value matters (message IDs, the ledger's fields) callers first
 * let cJSON accept the document, then find members here by their decoded
 * names and take the value's own text. The scanner is bounds-checked on any
 * input, accepted by cJSON or not (the fuzz target drives it with both).
 */
#ifndef EOC_JSONTEXT_H
#define EOC_JSONTEXT_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    EOC__JSON_BAD = 0, /* not a JSON value */
    EOC__JSON_STRING,
    EOC__JSON_NUMBER,
    EOC__JSON_OBJECT,
    EOC__JSON_ARRAY,
    EOC__JSON_TRUE,
    EOC__JSON_FALSE,
    EOC__JSON_NULL
} eoc__json_type_t;

/** A value's raw text: [raw, raw + len), quotes and brackets included. */
typedef struct eoc__json_val {
    eoc__json_type_t type;
    const char *raw;
    size_t len;
} eoc__json_val_t;

/** "a string", "an object", ... for error texts. */
const char *eoc__json_type_name(eoc__json_type_t t);

/**
 * The first value in text (after whitespace and a UTF-8 byte order mark).
 * Returns 0, or -1 when text does not start with a complete value.
 */
int eoc__json_value(const char *text, size_t len, eoc__json_val_t *out);

/**
 * The member `name` (name_len bytes, compared with the decoded member
 * names) of the object `obj`: *out is its first occurrence, *count how many
 * members have that name. Returns 1 found, 0 absent, -1 obj is not a
 * well-formed object.
 */
int eoc__json_member(const eoc__json_val_t *obj, const char *name, size_t name_len,
                     eoc__json_val_t *out, int *count);

/**
 * Walks a dotted path ("a.b.c") through nested objects from `doc`. Returns
 * 1 found, 0 absent (or a step is not an object), -1 malformed.
 */
int eoc__json_path(const eoc__json_val_t *doc, const char *path, eoc__json_val_t *out);

/**
 * Decodes the string value `v` (quotes included) into out, at most cap
 * bytes, setting *n. Returns 0, -1 on a bad string (bad escape, lone
 * surrogate), -2 when the decoded string is longer than cap.
 */
int eoc__json_string(const eoc__json_val_t *v, char *out, size_t cap, size_t *n);

/**
 * 1 when the number `v` is a canonical JSON integer literal:
 * -?(0|[1-9][0-9]*), and not "-0"; 0 otherwise (fraction, exponent).
 */
int eoc__json_is_integer(const eoc__json_val_t *v);

/** 1 when s[0..n) is well-formed UTF-8 (no overlongs, surrogates or > U+10FFFF). */
int eoc__utf8_valid(const void *s, size_t n);

/**
 * s[0..n) with every byte that does not start a well-formed UTF-8 sequence
 * written as the text \xNN, NUL-terminated in malloc'd memory (the caller
 * frees); NULL when s is already UTF-8 (use it as is) or out of memory.
 * For text that goes into JSON (log lines) and may carry raw ID bytes.
 */
char *eoc__utf8_escape_invalid(const void *s, size_t n);

/** Room eoc__json_quote needs for n bytes. */
#define EOC__JSON_QUOTED_MAX(n) (6 * (size_t)(n) + 3)

/**
 * Writes s[0..n) as a quoted JSON string into out (EOC__JSON_QUOTED_MAX(n)
 * bytes, NUL-terminated) with cJSON's escapes (\" \\ \b \f \n \r \t, other
 * control bytes and NUL as \u00XX); other bytes as they are, so the caller
 * checks UTF-8 first. Returns the length.
 */
size_t eoc__json_quote(char *out, const void *s, size_t n);

#endif
