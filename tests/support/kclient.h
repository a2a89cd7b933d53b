/*
 * kclient - small synchronous Kafka helpers for tests: produce records and
 * read a whole topic back. Plain librdkafka, no eoc code, so tests check
 * eoc from the outside.
 */
#ifndef EOC_TEST_KCLIENT_H
#define EOC_TEST_KCLIENT_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

typedef struct kmsg {
    char *topic;
    int32_t partition;
    int64_t offset;
    char *key;   /* NUL-terminated copy, NULL for a null key */
    char *value; /* NUL-terminated copy, NULL for a null value */
    size_t value_len;
    rd_kafka_headers_t *headers; /* owned copy, may be NULL */
} kmsg_t;

typedef struct kmsgs {
    kmsg_t *v;
    size_t n, cap;
} kmsgs_t;

/**
 * A client of `type` with the n settings kv[i] = {name, value}, applied in
 * order. With dr_cb, delivery reports go to dr_cb with `opaque` (borrowed);
 * without, neither is set. Returns the client (destroy with
 * rd_kafka_destroy), or NULL with librdkafka's reason in err (errsize > 0):
 * never aborts, and the conf made here is destroyed on failure.
 */
rd_kafka_t *kc_client_new(rd_kafka_type_t type, const char *const (*kv)[2], size_t n,
                          void (*dr_cb)(rd_kafka_t *, const rd_kafka_message_t *, void *),
                          void *opaque, char *err, size_t errsize);

/** An idempotent producer; abort()s on setup failure (tests only). */
rd_kafka_t *kc_producer(const char *bootstraps);

/** Destroys a producer made by kc_producer. */
void kc_producer_destroy(rd_kafka_t *p);

/**
 * Queues one record (copied) with an optional `message-id` header;
 * partition -1: by key. Returns 0 when queued (see kc_flush).
 */
int kc_produce(rd_kafka_t *p, const char *topic, int32_t partition, const char *key,
               const void *value, size_t len, const char *message_id);

/** Waits for every outstanding delivery; returns 0 when all succeeded. */
int kc_flush(rd_kafka_t *p);

/**
 * Reads `topic` from the beginning until at least `min` messages arrived
 * and the topic's end was reached, or `timeout_ms` passed. Appends to out.
 */
void kc_read_topic(const char *bootstraps, const char *topic, size_t min, int timeout_ms,
                   kmsgs_t *out);

/** The last header `name` of m as a NUL-terminated static-size copy in buf, or NULL. */
const char *kc_header(const kmsg_t *m, const char *name, char *buf, size_t size);

void kc_msgs_free(kmsgs_t *m);

#endif
