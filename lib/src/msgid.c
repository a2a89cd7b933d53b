/* msgid.c - see msgid.h. */
#include "msgid.h"

#include "jsontext.h"

#include <cjson/cJSON.h>
#define XXH_INLINE_ALL
#include <xxhash.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

eoc_err_t eoc__msgid_parse(eoc__msgid_t *st, const char *spec, char *errstr, size_t errstr_size)
{
    memset(st, 0, sizeof(*st));
    const char *arg = NULL;
    if (strncmp(spec, "header:", 7) == 0) {
        st->kind = EOC__MSGID_HEADER;
        arg = spec + 7;
    } else if (strncmp(spec, "json:", 5) == 0) {
        st->kind = EOC__MSGID_JSON;
        arg = spec + 5;
    } else if (strcmp(spec, "key") == 0) {
        st->kind = EOC__MSGID_KEY;
    } else if (strcmp(spec, "position") == 0) {
        st->kind = EOC__MSGID_POSITION;
    } else {
        snprintf(errstr, errstr_size,
                 "id.strategy: \"%s\" is not one of header:NAME, json:FIELD, key, position", spec);
        return EOC_ERR_CONFIG;
    }
    if (arg) {
        if (!*arg || arg[0] == '.' || arg[strlen(arg) - 1] == '.' || strstr(arg, "..")) {
            snprintf(errstr, errstr_size, "id.strategy: \"%s\" needs a name after the colon", spec);
            return EOC_ERR_CONFIG;
        }
        if (!(st->arg = strdup(arg))) {
            snprintf(errstr, errstr_size, "out of memory");
            return EOC_ERR_NOMEM;
        }
    }
    return EOC_OK;
}

void eoc__msgid_clear(eoc__msgid_t *st)
{
    free(st->arg);
    st->arg = NULL;
}

size_t eoc__msgid_position(const rd_kafka_message_t *msg, char *buf)
{
    int n = snprintf(buf, EOC_ID_MAX + 1, "%s/%" PRId32 "/%" PRId64, rd_kafka_topic_name(msg->rkt),
                     msg->partition, msg->offset);
    return n > EOC_ID_MAX ? EOC_ID_MAX : (size_t)n;
}

static eoc__id_status_t check(const void *p, size_t n, const char **id, size_t *len)
{
    if (n == 0)
        return EOC__ID_INVALID;
    if (n > EOC_ID_MAX)
        return EOC__ID_TOO_LONG;
    *id = p;
    *len = n;
    return EOC__ID_FOUND;
}

/*
 * json:FIELD. cJSON decides whether the value is JSON; the field is then
 * found and read from the value's own text (jsontext), so that:
 *  - a string is taken with its length: "t3\u0000a" and "t3\u0000b" are two
 *    IDs, and a string longer than EOC_ID_MAX once decoded is invalid;
 *  - a number is taken as written, and only as an integer literal
 *    (-?(0|[1-9][0-9]*), not -0): 1234567890123456789 and
 *    1234567890123456790 stay apart, 1e2 and 100.0 are refused. An integer
 *    is the same ID as the string of its digits: 100 and "100" are one ID.
 */
static eoc__id_status_t from_json(const char *path, const rd_kafka_message_t *msg, char *buf,
                                  const char **id, size_t *len)
{
    if (!msg->payload || !msg->len)
        return EOC__ID_MISSING;
    cJSON *doc = cJSON_ParseWithLength(msg->payload, msg->len);
    if (!doc)
        return EOC__ID_NOT_JSON;
    cJSON_Delete(doc);
    eoc__json_val_t root, f;
    if (eoc__json_value(msg->payload, msg->len, &root) != 0)
        return EOC__ID_NOT_JSON;
    int rc = eoc__json_path(&root, path, &f);
    if (rc < 0)
        return EOC__ID_NOT_JSON;
    if (rc == 0)
        return root.type == EOC__JSON_OBJECT ? EOC__ID_MISSING : EOC__ID_NOT_OBJECT;
    size_t n;
    switch (f.type) {
    case EOC__JSON_STRING:
        rc = eoc__json_string(&f, buf, EOC_ID_MAX, &n);
        if (rc == -2)
            return EOC__ID_TOO_LONG;
        return rc == 0 ? check(buf, n, id, len) : EOC__ID_NOT_JSON;
    case EOC__JSON_NUMBER:
        if (!eoc__json_is_integer(&f))
            return EOC__ID_NOT_INTEGER;
        if (f.len > EOC_ID_MAX)
            return EOC__ID_TOO_LONG;
        return check(memcpy(buf, f.raw, f.len), f.len, id, len);
    default:
        return EOC__ID_BAD_TYPE;
    }
}

const char *eoc__msgid_status_text(eoc__id_status_t st)
{
    switch (st) {
    case EOC__ID_FOUND:
        return "message ID found";
    case EOC__ID_MISSING:
        return "no message ID";
    case EOC__ID_INVALID:
        return "message ID is empty";
    case EOC__ID_TOO_LONG:
        return "message ID longer than 511 bytes";
    case EOC__ID_NOT_JSON:
        return "the value is not JSON (the ID strategy is json:FIELD)";
    case EOC__ID_NOT_OBJECT:
        return "the value is JSON but not an object (the ID strategy is json:FIELD)";
    case EOC__ID_NOT_INTEGER:
        return "the ID field is a number but not an integer literal (1e2, 1.0 and -0 are refused)";
    case EOC__ID_BAD_TYPE:
        return "the ID field is neither a string nor an integer";
    }
    return "message ID unreadable";
}

eoc__id_status_t eoc__msgid_extract(const eoc__msgid_t *st, const rd_kafka_message_t *msg,
                                    char *buf, const char **id, size_t *len)
{
    switch (st->kind) {
    case EOC__MSGID_HEADER: {
        rd_kafka_headers_t *hs;
        const void *v;
        size_t n;
        if (rd_kafka_message_headers(msg, &hs) != RD_KAFKA_RESP_ERR_NO_ERROR ||
            rd_kafka_header_get_last(hs, st->arg, &v, &n) != RD_KAFKA_RESP_ERR_NO_ERROR)
            return EOC__ID_MISSING;
        return v ? check(v, n, id, len) : EOC__ID_INVALID;
    }
    case EOC__MSGID_JSON:
        return from_json(st->arg, msg, buf, id, len);
    case EOC__MSGID_KEY:
        return msg->key ? check(msg->key, msg->key_len, id, len) : EOC__ID_MISSING;
    case EOC__MSGID_POSITION:
        *len = eoc__msgid_position(msg, buf);
        *id = buf;
        return EOC__ID_FOUND;
    }
    return EOC__ID_MISSING;
}

size_t eoc__id_derive(char *out, const char *base, size_t base_len, const char *suffix,
                      size_t suffix_len)
{
    if (base_len + 1 + suffix_len <= EOC_ID_MAX) {
        memcpy(out, base, base_len);
        out[base_len] = '/';
        memcpy(out + base_len + 1, suffix, suffix_len);
        return base_len + 1 + suffix_len;
    }
    /* <head of base>~<XXH3-128 of all of base, 32 hex digits>/<suffix>, at
     * most EOC_ID_MAX bytes; the head is cut back to a UTF-8 boundary. */
    static const char hex[] = "0123456789abcdef";
    enum { DIGEST = 1 + 32 };
    if (suffix_len > EOC_ID_MAX - DIGEST - 1)
        suffix_len = EOC_ID_MAX - DIGEST - 1; /* suffixes are eoc's own and short */
    size_t head = EOC_ID_MAX - DIGEST - 1 - suffix_len;
    if (head > base_len)
        head = base_len;
    while (head > 0 && head < base_len && ((unsigned char)base[head] & 0xC0) == 0x80)
        head--;
    XXH128_hash_t h = XXH3_128bits(base, base_len);
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, h);
    size_t n = head;
    memcpy(out, base, head);
    out[n++] = '~';
    for (size_t i = 0; i < sizeof(c.digest); i++) {
        out[n++] = hex[c.digest[i] >> 4];
        out[n++] = hex[c.digest[i] & 15];
    }
    out[n++] = '/';
    memcpy(out + n, suffix, suffix_len);
    return n + suffix_len;
}
