/* handler.c - see handler.h: record accessors, state access and emit. */
#include "handler.h"
#include "msgid.h"
#include "numparse.h"
#include "txn.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- records ---- */

void eoc__record_init(eoc_record_t *rec, const rd_kafka_message_t *msg)
{
    memset(rec, 0, sizeof(*rec));
    rec->msg = msg;
    rec->topic = rd_kafka_topic_name(msg->rkt);
    if (rd_kafka_message_headers(msg, &rec->headers) != RD_KAFKA_RESP_ERR_NO_ERROR)
        rec->headers = NULL;
}

const char *eoc_record_topic(const eoc_record_t *rec)
{
    return rec->topic;
}

int32_t eoc_record_partition(const eoc_record_t *rec)
{
    return rec->msg->partition;
}

int64_t eoc_record_offset(const eoc_record_t *rec)
{
    return rec->msg->offset;
}

int64_t eoc_record_timestamp(const eoc_record_t *rec)
{
    return rd_kafka_message_timestamp(rec->msg, NULL);
}

const void *eoc_record_key(const eoc_record_t *rec, size_t *len)
{
    *len = rec->msg->key_len;
    return rec->msg->key;
}

const void *eoc_record_value(const eoc_record_t *rec, size_t *len)
{
    *len = rec->msg->len;
    return rec->msg->payload;
}

const char *eoc_record_id(const eoc_record_t *rec, size_t *len)
{
    *len = rec->id_len;
    return rec->id;
}

eoc_err_t eoc_record_header(const eoc_record_t *rec, const char *name, const void **value,
                            size_t *len)
{
    if (!rec->headers ||
        rd_kafka_header_get_last(rec->headers, name, value, len) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return EOC_ERR_NOT_FOUND;
    return EOC_OK;
}

size_t eoc_record_header_count(const eoc_record_t *rec)
{
    return rec->headers ? rd_kafka_header_cnt(rec->headers) : 0;
}

eoc_err_t eoc_record_header_at(const eoc_record_t *rec, size_t i, const char **name,
                               const void **value, size_t *len)
{
    if (!rec->headers ||
        rd_kafka_header_get_all(rec->headers, i, name, value, len) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return EOC_ERR_NOT_FOUND;
    return EOC_OK;
}

/* ---- transaction ---- */

void eoc__txn_reset(eoc_txn_t *txn, const eoc_record_t *rec)
{
    txn->rec = rec;
    txn->emits = 0;
    txn->store_err = EOC_OK;
    txn->error[0] = 0;
}

/* Remembers the first store failure: the handler may ignore the return
 * code, but a failed put poisons the LMDB transaction, so the worker must
 * fail the batch. */
static eoc_err_t track(eoc_txn_t *txn, eoc_err_t err)
{
    if (err != EOC_OK && err != EOC_ERR_NOT_FOUND && err != EOC_ERR_INVALID_ARG &&
        err != EOC_ERR_TOO_LARGE && !txn->store_err)
        txn->store_err = err;
    return err;
}

/* eos.mode=kafka: the key as stored, prefixed with the record's partition
 * (txn.h); 0 when the key does not fit. */
static size_t scoped(const eoc_txn_t *txn, const void *key, size_t key_len, unsigned char *buf)
{
    if (!key_len || key_len > EOC_ID_MAX - EOC__KM_SCOPE)
        return 0;
    eoc__km_scope(buf, txn->rec->topic, txn->rec->msg->partition);
    memcpy(buf + EOC__KM_SCOPE, key, key_len);
    return EOC__KM_SCOPE + key_len;
}

eoc_err_t eoc_state_get(eoc_txn_t *txn, const void *key, size_t key_len, const void **value,
                        size_t *len)
{
    unsigned char sk[EOC_ID_MAX];
    if (txn->km_group && !(key_len = scoped(txn, key, key_len, sk)))
        return EOC_ERR_INVALID_ARG;
    return track(txn,
                 eoc__store_state_get(txn->store, txn->km_group ? sk : key, key_len, value, len));
}

eoc_err_t eoc_state_put(eoc_txn_t *txn, const void *key, size_t key_len, const void *value,
                        size_t len)
{
    unsigned char sk[EOC_ID_MAX];
    if (!txn->km_group)
        return track(txn, eoc__store_state_put(txn->store, key, key_len, value, len));
    size_t n = scoped(txn, key, key_len, sk);
    if (!n)
        return EOC_ERR_INVALID_ARG;
    eoc_err_t err = eoc__store_state_put(txn->store, sk, n, value, len);
    if (err == EOC_OK)
        err = eoc__km_stage_state(txn->store, txn->km_group, txn->rec->topic,
                                  txn->rec->msg->partition, key, key_len, value, len, 0);
    return track(txn, err);
}

eoc_err_t eoc_state_del(eoc_txn_t *txn, const void *key, size_t key_len)
{
    unsigned char sk[EOC_ID_MAX];
    if (!txn->km_group)
        return track(txn, eoc__store_state_del(txn->store, key, key_len));
    size_t n = scoped(txn, key, key_len, sk);
    if (!n)
        return EOC_ERR_INVALID_ARG;
    eoc_err_t err = eoc__store_state_del(txn->store, sk, n);
    if (err == EOC_OK)
        err = eoc__km_stage_state(txn->store, txn->km_group, txn->rec->topic,
                                  txn->rec->msg->partition, key, key_len, NULL, 0, 1);
    return track(txn, err);
}

void eoc_txn_set_error(eoc_txn_t *txn, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(txn->error, sizeof(txn->error), fmt, ap);
    va_end(ap);
}

/* ---- trace context (W3C Trace Context) ---- */

size_t eoc__trace_headers(const eoc_record_t *rec, const eoc_msg_t *msg, eoc_header_t out[2])
{
    static const char *const names[] = {"traceparent", "tracestate"};
    size_t n = 0;
    for (size_t i = 0; i < 2; i++) {
        const void *v;
        size_t len;
        int has = 0;
        for (size_t j = 0; j < msg->header_count && !has; j++)
            has = strcmp(msg->headers[j].name, names[i]) == 0;
        if (!has && eoc_record_header(rec, names[i], &v, &len) == EOC_OK && v)
            out[n++] = (eoc_header_t){names[i], v, len};
    }
    return n;
}

/* Appends the row of msg for rec with the headers hs[0..n) (provenance is
 * kept apart, see eoc__outrow_t; the relay adds `message-id`); `timestamp`
 * 0: the producer's clock. */
static eoc_err_t append_row(eoc__store_t *store, const eoc_record_t *rec, const char *id,
                            size_t id_len, const eoc_msg_t *msg, const eoc_header_t *hs, size_t n,
                            int64_t timestamp)
{
    eoc__outrow_t row = {.id = id,
                         .id_len = id_len,
                         .topic = msg->topic,
                         .topic_len = strlen(msg->topic),
                         .partition = msg->partition,
                         .key = msg->key,
                         .key_len = msg->key_len,
                         .value = msg->value,
                         .value_len = msg->value_len,
                         .headers = hs,
                         .header_count = n,
                         .src_topic = rec->topic,
                         .src_topic_len = strlen(rec->topic),
                         .src_partition = rec->msg->partition,
                         .src_offset = rec->msg->offset,
                         .timestamp = timestamp};
    return eoc__store_outbox_add(store, &row);
}

/* Copies headers except `message-id` (the relay sets it); returns the count. */
static size_t copy_headers(eoc_header_t *to, const eoc_header_t *from, size_t n)
{
    size_t i = 0;
    for (size_t j = 0; j < n; j++)
        if (strcmp(from[j].name, "message-id") != 0)
            to[i++] = from[j];
    return i;
}

/* Appends one outbox row: the caller's headers, then extras. */
static eoc_err_t outbox_append(eoc__store_t *store, const eoc_record_t *rec, const char *id,
                               size_t id_len, const eoc_msg_t *msg, const eoc_header_t *extra,
                               size_t nextra, int64_t timestamp)
{
    enum { MAXH = EOC_HEADERS_MAX };
    size_t n = msg->header_count + nextra;
    if (n > MAXH)
        return EOC_ERR_INVALID_ARG;
    eoc_header_t hs[MAXH];
    size_t i = copy_headers(hs, msg->headers, msg->header_count);
    for (size_t j = 0; j < nextra; j++)
        hs[i++] = extra[j];
    return append_row(store, rec, id, id_len, msg, hs, i, timestamp);
}

eoc_err_t eoc__outbox_append(eoc__store_t *store, const eoc_record_t *rec, const char *id,
                             size_t id_len, const eoc_msg_t *msg, const eoc_header_t *extra,
                             size_t nextra)
{
    return outbox_append(store, rec, id, id_len, msg, extra, nextra, 0);
}

eoc_err_t eoc__outbox_append_dead(eoc__store_t *store, const eoc_record_t *rec, const char *id,
                                  size_t id_len, const eoc_msg_t *out, const eoc_header_t *extra,
                                  size_t nextra)
{
    /* Every original header, however many (a dead letter is the record as
     * it came, to be resubmitted as it came), then eoc's. */
    enum { ONSTACK = EOC_HEADERS_MAX };
    size_t count = eoc_record_header_count(rec), n = count + nextra;
    eoc_header_t stack[ONSTACK], *hs = n <= ONSTACK ? stack : malloc(n * sizeof(*hs));
    if (!hs)
        return EOC_ERR_NOMEM;
    size_t i = 0;
    for (size_t j = 0; j < count; j++) {
        eoc_header_t h;
        if (eoc_record_header_at(rec, j, &h.name, &h.value, &h.len) == EOC_OK &&
            strcmp(h.name, "message-id") != 0)
            hs[i++] = h;
    }
    for (size_t j = 0; j < nextra; j++)
        hs[i++] = extra[j];
    eoc_err_t err = append_row(store, rec, id, id_len, out, hs, i, 0);
    if (hs != stack)
        free(hs);
    return err;
}

int64_t eoc__emit_limit(const eoc_conf_t *conf, int64_t output_max_bytes)
{
    static const char *const keys[] = {"relay.kafka.message.max.bytes", "kafka.message.max.bytes"};
    int64_t producer = 1000000; /* librdkafka's default */
    for (size_t i = 0; conf && i < 2; i++) {
        const char *v = eoc_conf_get(conf, keys[i]);
        int64_t n;
        if (v && *v && eoc__num_i64(v, 1, INT32_MAX, &n) == 0) {
            producer = n;
            break;
        }
    }
    producer -= EOC__KAFKA_BATCH_OVERHEAD;
    return output_max_bytes < producer ? output_max_bytes : producer;
}

/* The headers the relay adds: message-id and EOC_HEADER_SOURCE,
 * `<topic>/<partition>/<offset>` (at most 11 and 20 digits). */
static size_t relay_additions(size_t id_len, const char *src_topic)
{
    return 2 * EOC__KAFKA_HEADER_OVERHEAD + strlen("message-id") + id_len +
           strlen(EOC_HEADER_SOURCE) + (src_topic ? strlen(src_topic) : 0) + 2 + 11 + 20;
}

size_t eoc__row_wire_size(const eoc_msg_t *msg, const eoc_header_t *hs, size_t n, size_t id_len,
                          const char *src_topic)
{
    size_t size = EOC__KAFKA_RECORD_OVERHEAD + msg->key_len + msg->value_len +
                  relay_additions(id_len, src_topic);
    for (size_t i = 0; i < n; i++)
        size += EOC__KAFKA_HEADER_OVERHEAD + strlen(hs[i].name) + hs[i].len;
    return size;
}

size_t eoc__dead_wire_size(const eoc_record_t *rec, const eoc_msg_t *out, size_t id_len,
                           const eoc_header_t *extra, size_t nextra)
{
    size_t size = eoc__row_wire_size(out, extra, nextra, id_len, rec->topic);
    for (size_t j = 0, count = eoc_record_header_count(rec); j < count; j++) {
        eoc_header_t h;
        if (eoc_record_header_at(rec, j, &h.name, &h.value, &h.len) == EOC_OK)
            size += EOC__KAFKA_HEADER_OVERHEAD + strlen(h.name) + h.len;
    }
    return size;
}

eoc_err_t eoc_emit(eoc_txn_t *txn, const eoc_msg_t *msg)
{
    return eoc_emit_at(txn, msg, 0);
}

eoc_err_t eoc_emit_at(eoc_txn_t *txn, const eoc_msg_t *msg, int64_t timestamp_ms)
{
    eoc_msg_t m = *msg;
    if (!m.topic || !*m.topic)
        m.topic = txn->default_topic;
    if (!m.topic || !*m.topic) {
        eoc_txn_set_error(txn, "eoc_emit: no topic given and output.topic is not set");
        return EOC_ERR_INVALID_ARG;
    }
    if (m.header_count > EOC_HEADERS_MAX) {
        eoc_txn_set_error(txn, "eoc_emit: %zu headers, more than EOC_HEADERS_MAX (%d)",
                          m.header_count, EOC_HEADERS_MAX);
        return EOC_ERR_INVALID_ARG;
    }
    char id[EOC_ID_MAX + 1], nth[24]; /* <input-id>/<n>, at most EOC_ID_MAX bytes */
    size_t n = eoc__id_derive(id, txn->rec->id, txn->rec->id_len, nth,
                              eoc__fmt_i64(nth, txn->emits));
    eoc_header_t trace[2];
    size_t ntrace = txn->trace ? eoc__trace_headers(txn->rec, &m, trace) : 0;
    /* Publishable as the relay will send it, eoc's headers included. */
    size_t size = eoc__row_wire_size(&m, m.headers, m.header_count, n, txn->rec->topic);
    for (size_t i = 0; i < ntrace; i++)
        size += EOC__KAFKA_HEADER_OVERHEAD + strlen(trace[i].name) + trace[i].len;
    if ((int64_t)size > txn->max_bytes) {
        eoc_txn_set_error(txn,
                          "eoc_emit: message of %zu bytes as published (key, value, headers and "
                          "eoc's own) exceeds %lld bytes (output.max.bytes, or the relay "
                          "producer's message.max.bytes less Kafka's overhead if smaller)",
                          size, (long long)txn->max_bytes);
        return EOC_ERR_TOO_LARGE;
    }
    eoc_err_t err = outbox_append(txn->store, txn->rec, id, n, &m, trace, ntrace,
                                  timestamp_ms > 0 ? timestamp_ms : 0);
    if (err == EOC_OK)
        txn->emits++;
    return track(txn, err);
}
