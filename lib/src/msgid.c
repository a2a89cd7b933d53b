/* msgid.c - see msgid.h. */
#include "msgid.h"

#include <cjson/cJSON.h>
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
    if (n == 0 || n > EOC_ID_MAX)
        return EOC__ID_INVALID;
    *id = p;
    *len = n;
    return EOC__ID_FOUND;
}

/* Walks a dotted path ("a.b.c") through nested objects. */
static const cJSON *json_path(const cJSON *node, const char *path)
{
    char name[256];
    while (node && *path) {
        const char *dot = strchr(path, '.');
        size_t n = dot ? (size_t)(dot - path) : strlen(path);
        if (n >= sizeof(name) || !cJSON_IsObject(node))
            return NULL;
        memcpy(name, path, n);
        name[n] = 0;
        node = cJSON_GetObjectItemCaseSensitive(node, name);
        path += n + (dot ? 1 : 0);
    }
    return node;
}

static eoc__id_status_t from_json(const char *path, const rd_kafka_message_t *msg, char *buf,
                                  const char **id, size_t *len)
{
    if (!msg->payload || !msg->len)
        return EOC__ID_MISSING;
    cJSON *doc = cJSON_ParseWithLength(msg->payload, msg->len);
    if (!doc)
        return EOC__ID_INVALID;
    const cJSON *f = json_path(doc, path);
    eoc__id_status_t st;
    if (!f) {
        st = cJSON_IsObject(doc) ? EOC__ID_MISSING : EOC__ID_INVALID;
    } else if (cJSON_IsString(f)) {
        size_t n = strlen(f->valuestring);
        st = n <= EOC_ID_MAX ? check(memcpy(buf, f->valuestring, n), n, id, len) : EOC__ID_INVALID;
    } else if (cJSON_IsNumber(f) && f->valuedouble == (double)(int64_t)f->valuedouble) {
        int n = snprintf(buf, EOC_ID_MAX + 1, "%" PRId64, (int64_t)f->valuedouble);
        st = check(buf, (size_t)n, id, len);
    } else {
        st = EOC__ID_INVALID;
    }
    cJSON_Delete(doc);
    return st;
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
