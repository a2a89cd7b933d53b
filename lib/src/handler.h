/*
 * handler - the objects a handler sees: the record view (eoc_record_t) and
 * the transaction (eoc_txn_t) through which it reads and writes state and
 * emits outgoing messages. Both live on the worker's stack for one handler
 * call; the worker fills them in.
 */
#ifndef EOC_HANDLER_H
#define EOC_HANDLER_H

#include "codec.h"
#include "eoc/eoc.h"
#include "store.h"

#include <librdkafka/rdkafka.h>

struct eoc_record {
    const rd_kafka_message_t *msg; /* borrowed from the consumer */
    const char *topic;             /* rd_kafka_topic_name(msg->rkt) */
    rd_kafka_headers_t *headers;   /* borrowed, NULL when none */
    const char *id;                /* borrowed, not NUL-terminated */
    size_t id_len;
    const char *inbox_id; /* the ID the inbox files it under: id, or in eos.mode=kafka id
                             scoped to its partition (txn.h) */
    size_t inbox_id_len;
};

struct eoc_txn {
    eoc__store_t *store;
    const eoc_record_t *rec;
    const char *default_topic; /* "" when none */
    int64_t max_bytes;         /* eoc__emit_limit: output.max.bytes, or less */
    int trace;                 /* trace.propagate: outputs carry the record's trace context */
    const char *km_group;      /* eos.mode=kafka: group.id (state per partition, changelog) */
    uint32_t emits;            /* outputs of this attempt so far */
    eoc_err_t store_err;       /* first store failure (map full, I/O): fails the batch */
    char error[512];           /* eoc_txn_set_error text */
};

/** Prepares `txn` for one attempt at `rec`. */
void eoc__txn_reset(eoc_txn_t *txn, const eoc_record_t *rec);

/** Fills `rec` from a consumed message; id is set later by the worker. */
void eoc__record_init(eoc_record_t *rec, const rd_kafka_message_t *msg);

/**
 * Builds and appends an outbox row for `rec` (provenance headers added)
 * with outbox ID `id`. Used by eoc_emit and by dead-lettering.
 */
eoc_err_t eoc__outbox_append(eoc__store_t *store, const eoc_record_t *rec, const char *id,
                             size_t id_len, const eoc_msg_t *msg, const eoc_header_t *extra,
                             size_t nextra);

/**
 * Publishable size. A row must be publishable before it commits: its size
 * as the relay sends it (key, value, every header, the `message-id` and
 * provenance headers the relay adds, Kafka's per-record varints) must not
 * exceed eoc__emit_limit: output.max.bytes, and the relay producer's
 * message.max.bytes (relay.kafka.*, else kafka.*, else librdkafka's
 * 1000000) less a record batch's overhead.
 */
#define EOC__KAFKA_BATCH_OVERHEAD  61 /* v2 record batch header */
#define EOC__KAFKA_RECORD_OVERHEAD 36 /* length, attributes, deltas, lengths, count */
#define EOC__KAFKA_HEADER_OVERHEAD 10 /* two length varints */
int64_t eoc__emit_limit(const eoc_conf_t *conf, int64_t output_max_bytes);
/** Wire size of a row of `msg` (headers hs[0..n)) with ID length id_len
 *  and provenance from the topic `src_topic`. */
size_t eoc__row_wire_size(const eoc_msg_t *msg, const eoc_header_t *hs, size_t n, size_t id_len,
                          const char *src_topic);
/** The same for the dead letter `out` of `rec` with all of rec's headers
 *  but message-id (eoc__outbox_append_dead) and `extra`. */
size_t eoc__dead_wire_size(const eoc_record_t *rec, const eoc_msg_t *out, size_t id_len,
                           const eoc_header_t *extra, size_t nextra);

/**
 * Appends the dead letter `out` of `rec` (out->headers ignored): EVERY
 * header of the original record (but `message-id`), however many, then
 * eoc's `extra`.
 */
eoc_err_t eoc__outbox_append_dead(eoc__store_t *store, const eoc_record_t *rec, const char *id,
                                  size_t id_len, const eoc_msg_t *out, const eoc_header_t *extra,
                                  size_t nextra);

/**
 * The trace context of `rec` for an output `msg`: its `traceparent` and
 * `tracestate` headers (W3C Trace Context), those `msg` does not set
 * itself. Fills out[0..n) (values borrowed from rec) and returns n.
 */
size_t eoc__trace_headers(const eoc_record_t *rec, const eoc_msg_t *msg, eoc_header_t out[2]);

#endif
