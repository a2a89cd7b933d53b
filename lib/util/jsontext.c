/* jsontext.c - see jsontext.h. */
#include "jsontext.h"

#include <stdlib.h>
#include <string.h>

const char *eoc__json_type_name(eoc__json_type_t t)
{
    switch (t) {
    case EOC__JSON_STRING:
        return "a string";
    case EOC__JSON_NUMBER:
        return "a number";
    case EOC__JSON_OBJECT:
        return "an object";
    case EOC__JSON_ARRAY:
        return "an array";
    case EOC__JSON_TRUE:
    case EOC__JSON_FALSE:
        return "a boolean";
    case EOC__JSON_NULL:
        return "null";
    case EOC__JSON_BAD:
        break;
    }
    return "not JSON";
}

/* What cJSON skips as whitespace: every byte up to the space. */
static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (unsigned char)*p <= ' ')
        p++;
    return p;
}

/* Past the string whose quote is at p; NULL when it does not end. */
static const char *skip_string(const char *p, const char *end)
{
    for (p++; p < end; p++) {
        if (*p == '"')
            return p + 1;
        if (*p == '\\' && ++p == end)
            return NULL;
    }
    return NULL;
}

/* Past the value starting at p (which is not whitespace); NULL when malformed
 * or cut short. Containers are matched by bracket depth, strings skipped. */
static const char *skip_value(const char *p, const char *end, eoc__json_type_t *type)
{
    static const struct {
        const char *word;
        eoc__json_type_t type;
    } words[] = {{"true", EOC__JSON_TRUE}, {"false", EOC__JSON_FALSE}, {"null", EOC__JSON_NULL}};

    *type = EOC__JSON_BAD;
    if (p >= end)
        return NULL;
    if (*p == '"') {
        *type = EOC__JSON_STRING;
        return skip_string(p, end);
    }
    if (*p == '{' || *p == '[') {
        *type = *p == '{' ? EOC__JSON_OBJECT : EOC__JSON_ARRAY;
        size_t depth = 0;
        while (p < end) {
            if (*p == '"') {
                if (!(p = skip_string(p, end)))
                    return NULL;
                continue;
            }
            if (*p == '{' || *p == '[')
                depth++;
            else if ((*p == '}' || *p == ']') && --depth == 0)
                return p + 1;
            p++;
        }
        return NULL;
    }
    if (*p == '-' || (*p >= '0' && *p <= '9')) {
        const char *s = p;
        while (p < end && ((*p >= '0' && *p <= '9') || *p == '-' || *p == '+' || *p == '.' ||
                           *p == 'e' || *p == 'E'))
            p++;
        *type = EOC__JSON_NUMBER;
        return p > s ? p : NULL;
    }
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        size_t n = strlen(words[i].word);
        if ((size_t)(end - p) >= n && memcmp(p, words[i].word, n) == 0) {
            *type = words[i].type;
            return p + n;
        }
    }
    return NULL;
}

int eoc__json_value(const char *text, size_t len, eoc__json_val_t *out)
{
    const char *end = text + len, *p = text;

    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        p += 3; /* a UTF-8 byte order mark, which cJSON skips too */
    p = skip_ws(p, end);
    const char *v = p;
    if (!(p = skip_value(p, end, &out->type))) {
        out->type = EOC__JSON_BAD;
        return -1;
    }
    out->raw = v;
    out->len = (size_t)(p - v);
    return 0;
}

static unsigned hex4(const char *p)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return 0x110000; /* not hex */
    }
    return v;
}

/* Appends b to out if there is room; counts it either way. */
static void put(char *out, size_t cap, size_t *n, unsigned char b, int *full)
{
    if (*n < cap)
        out[*n] = (char)b;
    else
        *full = 1;
    (*n)++;
}

static int decode(const char *p, size_t len, char *out, size_t cap, size_t *n)
{
    const char *end = p + len;
    int full = 0;

    *n = 0;
    if (len < 2 || p[0] != '"' || end[-1] != '"')
        return -1;
    end--;
    for (p++; p < end; p++) {
        if (*p != '\\') {
            put(out, cap, n, (unsigned char)*p, &full);
            continue;
        }
        if (++p == end)
            return -1;
        const char *esc = "\"\\/bfnrt", *dec = "\"\\/\b\f\n\r\t", *e = strchr(esc, *p);
        if (*p && e) {
            put(out, cap, n, (unsigned char)dec[e - esc], &full);
            continue;
        }
        if (*p != 'u' || end - p < 5)
            return -1;
        unsigned cp = hex4(p + 1);
        p += 4;
        if (cp > 0xFFFF || (cp >= 0xDC00 && cp <= 0xDFFF))
            return -1; /* not hex, or a lone low surrogate */
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (end - p < 7 || p[1] != '\\' || p[2] != 'u')
                return -1;
            unsigned lo = hex4(p + 3);
            if (lo < 0xDC00 || lo > 0xDFFF)
                return -1;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            p += 6;
        }
        if (cp < 0x80) {
            put(out, cap, n, (unsigned char)cp, &full);
        } else if (cp < 0x800) {
            put(out, cap, n, (unsigned char)(0xC0 | (cp >> 6)), &full);
            put(out, cap, n, (unsigned char)(0x80 | (cp & 0x3F)), &full);
        } else if (cp < 0x10000) {
            put(out, cap, n, (unsigned char)(0xE0 | (cp >> 12)), &full);
            put(out, cap, n, (unsigned char)(0x80 | ((cp >> 6) & 0x3F)), &full);
            put(out, cap, n, (unsigned char)(0x80 | (cp & 0x3F)), &full);
        } else {
            put(out, cap, n, (unsigned char)(0xF0 | (cp >> 18)), &full);
            put(out, cap, n, (unsigned char)(0x80 | ((cp >> 12) & 0x3F)), &full);
            put(out, cap, n, (unsigned char)(0x80 | ((cp >> 6) & 0x3F)), &full);
            put(out, cap, n, (unsigned char)(0x80 | (cp & 0x3F)), &full);
        }
    }
    return full ? -2 : 0;
}

int eoc__json_string(const eoc__json_val_t *v, char *out, size_t cap, size_t *n)
{
    if (v->type != EOC__JSON_STRING)
        return -1;
    return decode(v->raw, v->len, out, cap, n);
}

/* 1 when the string token [p, p + len) decodes to exactly name[0..name_len). */
static int name_is(const char *p, size_t len, const char *name, size_t name_len)
{
    char buf[256];
    size_t n;

    if (name_len > sizeof(buf))
        return 0;
    /* The name can only match when it fits: -2 (too long) is no match. */
    return decode(p, len, buf, name_len, &n) == 0 && n == name_len &&
           memcmp(buf, name, name_len) == 0;
}

int eoc__json_member(const eoc__json_val_t *obj, const char *name, size_t name_len,
                     eoc__json_val_t *out, int *count)
{
    const char *p = obj->raw, *end = obj->raw + obj->len;

    *count = 0;
    if (obj->type != EOC__JSON_OBJECT || p == end || *p != '{')
        return -1;
    p = skip_ws(p + 1, end);
    if (p < end && *p == '}')
        return 0;
    for (;;) {
        if (p == end || *p != '"')
            return -1;
        const char *k = p;
        if (!(p = skip_string(p, end)))
            return -1;
        size_t klen = (size_t)(p - k);
        p = skip_ws(p, end);
        if (p == end || *p != ':')
            return -1;
        p = skip_ws(p + 1, end);
        eoc__json_val_t v = {.raw = p};
        if (!(p = skip_value(p, end, &v.type)))
            return -1;
        v.len = (size_t)(p - v.raw);
        if (name_is(k, klen, name, name_len) && (*count)++ == 0)
            *out = v;
        p = skip_ws(p, end);
        if (p < end && *p == '}')
            return *count > 0;
        if (p == end || *p != ',')
            return -1;
        p = skip_ws(p + 1, end);
    }
}

int eoc__json_path(const eoc__json_val_t *doc, const char *path, eoc__json_val_t *out)
{
    eoc__json_val_t cur = *doc;

    for (;;) {
        const char *dot = strchr(path, '.');
        size_t n = dot ? (size_t)(dot - path) : strlen(path);
        int count;
        if (cur.type != EOC__JSON_OBJECT)
            return 0;
        int rc = eoc__json_member(&cur, path, n, &cur, &count);
        if (rc <= 0)
            return rc;
        if (!dot) {
            *out = cur;
            return 1;
        }
        path = dot + 1;
    }
}

int eoc__json_is_integer(const eoc__json_val_t *v)
{
    const char *p = v->raw, *end = v->raw + v->len;

    if (v->type != EOC__JSON_NUMBER || v->len == 0)
        return 0;
    if (*p == '-')
        p++;
    if (p == end || (*p == '0' && (end - p > 1 || v->raw[0] == '-')))
        return 0; /* "-", leading zeros, "-0" */
    for (; p < end; p++)
        if (*p < '0' || *p > '9')
            return 0;
    return 1;
}

int eoc__utf8_valid(const void *s, size_t n)
{
    const unsigned char *p = s, *end = p + n;

    while (p < end) {
        unsigned c = *p++;
        size_t more;
        unsigned cp, min;
        if (c < 0x80)
            continue;
        if (c >= 0xC2 && c <= 0xDF)
            more = 1, cp = c & 0x1F, min = 0x80;
        else if (c >= 0xE0 && c <= 0xEF)
            more = 2, cp = c & 0x0F, min = 0x800;
        else if (c >= 0xF0 && c <= 0xF4)
            more = 3, cp = c & 0x07, min = 0x10000;
        else
            return 0;
        if ((size_t)(end - p) < more)
            return 0;
        for (size_t i = 0; i < more; i++, p++) {
            if ((*p & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (*p & 0x3Fu);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
    }
    return 1;
}

size_t eoc__json_quote(char *out, const void *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = s;
    size_t o = 0;

    out[o++] = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = p[i];
        const char *e = NULL;
        switch (c) {
        case '"':
            e = "\\\"";
            break;
        case '\\':
            e = "\\\\";
            break;
        case '\b':
            e = "\\b";
            break;
        case '\f':
            e = "\\f";
            break;
        case '\n':
            e = "\\n";
            break;
        case '\r':
            e = "\\r";
            break;
        case '\t':
            e = "\\t";
            break;
        default:
            break;
        }
        if (e) {
            out[o++] = e[0];
            out[o++] = e[1];
        } else if (c < 0x20) {
            memcpy(out + o, "\\u00", 4);
            out[o + 4] = hex[c >> 4];
            out[o + 5] = hex[c & 15];
            o += 6;
        } else {
            out[o++] = (char)c;
        }
    }
    out[o++] = '"';
    out[o] = 0;
    return o;
}

char *eoc__utf8_escape_invalid(const void *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = s;
    if (eoc__utf8_valid(p, n))
        return NULL;
    char *out = malloc(4 * n + 1);
    size_t o = 0;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n;) {
        size_t k = 1; /* the shortest well-formed sequence starting here */
        while (k <= 4 && i + k <= n && !eoc__utf8_valid(p + i, k))
            k++;
        if (k <= 4 && i + k <= n) {
            memcpy(out + o, p + i, k);
            o += k;
            i += k;
        } else {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[p[i] >> 4];
            out[o++] = hex[p[i] & 15];
            i++;
        }
    }
    out[o] = 0;
    return out;
}
