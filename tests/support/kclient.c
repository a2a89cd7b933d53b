/* kclient.c - see kclient.h. */
#include "kclient.h"

#include "tu_clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The producer's opaque counts failed deliveries since the last flush. */
static void on_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    if (m->err)
        (*(int *)opaque)++;
}

rd_kafka_t *kc_client_new(rd_kafka_type_t type, const char *const (*kv)[2], size_t n,
                          void (*dr_cb)(rd_kafka_t *, const rd_kafka_message_t *, void *),
                          void *opaque, char *err, size_t errsize)
{
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    for (size_t i = 0; i < n; i++) {
        if (rd_kafka_conf_set(c, kv[i][0], kv[i][1], err, errsize) != RD_KAFKA_CONF_OK) {
            rd_kafka_conf_destroy(c);
            return NULL;
        }
    }
    if (dr_cb) {
        rd_kafka_conf_set_opaque(c, opaque);
        rd_kafka_conf_set_dr_msg_cb(c, dr_cb);
    }
    /* rd_kafka_new takes the conf only on success. */
    rd_kafka_t *rk = rd_kafka_new(type, c, err, errsize);
    if (!rk)
        rd_kafka_conf_destroy(c);
    return rk;
}

rd_kafka_t *kc_producer(const char *bootstraps)
{
    char err[256];
    const char *const kv[][2] = {
        {"bootstrap.servers", bootstraps}, {"enable.idempotence", "true"}, {"linger.ms", "1"}};
    int *failures = calloc(1, sizeof(int)); /* freed by kc_producer_destroy */
    rd_kafka_t *p = kc_client_new(RD_KAFKA_PRODUCER, kv, sizeof(kv) / sizeof(kv[0]), on_dr,
                                  failures, err, sizeof(err));
    if (!p) {
        fprintf(stderr, "kc_producer: %s\n", err);
        abort();
    }
    return p;
}

void kc_producer_destroy(rd_kafka_t *p)
{
    void *failures = rd_kafka_opaque(p);
    rd_kafka_destroy(p);
    free(failures);
}

int kc_produce(rd_kafka_t *p, const char *topic, int32_t partition, const char *key,
               const void *value, size_t len, const char *message_id)
{
    rd_kafka_headers_t *hs = rd_kafka_headers_new(1);
    if (message_id)
        rd_kafka_header_add(hs, "message-id", -1, message_id, -1);
    rd_kafka_resp_err_t e = rd_kafka_producev(
        p, RD_KAFKA_V_TOPIC(topic),
        RD_KAFKA_V_PARTITION(partition < 0 ? RD_KAFKA_PARTITION_UA : partition),
        RD_KAFKA_V_KEY(key, key ? strlen(key) : 0), RD_KAFKA_V_VALUE((void *)value, len),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(hs), RD_KAFKA_V_END);
    if (e) {
        rd_kafka_headers_destroy(hs);
        return -1;
    }
    return 0;
}

int kc_flush(rd_kafka_t *p)
{
    int *failures = rd_kafka_opaque(p);
    rd_kafka_flush(p, 30000);
    int ok = rd_kafka_outq_len(p) == 0 && *failures == 0;
    *failures = 0;
    return ok ? 0 : -1;
}

static char *dup_bytes(const void *p, size_t n)
{
    if (!p)
        return NULL;
    char *s = malloc(n + 1);
    memcpy(s, p, n);
    s[n] = 0;
    return s;
}

void kc_read_topic(const char *bootstraps, const char *topic, size_t min, int timeout_ms,
                   kmsgs_t *out)
{
    char err[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "bootstrap.servers", bootstraps, err, sizeof(err));
    rd_kafka_conf_set(c, "enable.partition.eof", "true", err, sizeof(err));
    /* librdkafka's consumer API wants a group even for assign(); it never
     * joins it and commits nothing here. */
    rd_kafka_conf_set(c, "group.id", "eoc-test-reader", err, sizeof(err));
    rd_kafka_conf_set(c, "enable.auto.commit", "false", err, sizeof(err));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof(err));
    const struct rd_kafka_metadata *md = NULL;
    int64_t deadline = tu_now_ms() + timeout_ms;
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
    while (rd_kafka_metadata(rk, 0, t, &md, 5000) != RD_KAFKA_RESP_ERR_NO_ERROR ||
           md->topics[0].partition_cnt == 0) {
        if (md)
            rd_kafka_metadata_destroy(md);
        md = NULL;
        if (tu_now_ms() > deadline)
            break;
    }
    int nparts = md ? md->topics[0].partition_cnt : 0;
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(t);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(nparts);
    for (int i = 0; i < nparts; i++)
        rd_kafka_topic_partition_list_add(l, topic, i)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);

    /* Done when `min` arrived and every partition is at its end. */
    size_t got = 0;
    int ateof = 0;
    char *eof = calloc((size_t)nparts + 1, 1);
    while (tu_now_ms() < deadline && (got < min || ateof < nparts)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (m->partition < nparts && !eof[m->partition]) {
                eof[m->partition] = 1;
                ateof++;
            }
        } else if (!m->err) {
            if (m->partition < nparts && eof[m->partition]) {
                eof[m->partition] = 0;
                ateof--;
            }
            if (out->n == out->cap) {
                out->cap = out->cap ? out->cap * 2 : 64;
                out->v = realloc(out->v, out->cap * sizeof(*out->v));
            }
            kmsg_t *k = &out->v[out->n++];
            k->topic = strdup(rd_kafka_topic_name(m->rkt));
            k->partition = m->partition;
            k->offset = m->offset;
            k->key = dup_bytes(m->key, m->key_len);
            k->value = dup_bytes(m->payload, m->len);
            k->value_len = m->len;
            rd_kafka_headers_t *hs = NULL;
            k->headers = rd_kafka_message_headers(m, &hs) ? NULL : rd_kafka_headers_copy(hs);
            got++;
        }
        rd_kafka_message_destroy(m);
    }
    free(eof);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
}

const char *kc_header(const kmsg_t *m, const char *name, char *buf, size_t size)
{
    const void *v;
    size_t n;
    if (!m->headers || rd_kafka_header_get_last(m->headers, name, &v, &n) || !v)
        return NULL;
    if (n >= size)
        n = size - 1;
    memcpy(buf, v, n);
    buf[n] = 0;
    return buf;
}

void kc_msgs_free(kmsgs_t *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->v[i].topic);
        free(m->v[i].key);
        free(m->v[i].value);
        if (m->v[i].headers)
            rd_kafka_headers_destroy(m->v[i].headers);
    }
    free(m->v);
    memset(m, 0, sizeof(*m));
}
