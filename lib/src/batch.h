/*
 * batch - a buffer of polled messages waiting to be applied in one LMDB
 * transaction: the messages themselves (owned), each one's partition, ID
 * and digests, and the partitions the batch touches with the first and
 * next offsets it holds of each.
 *
 * The worker keeps two batches: one filling on the polling thread while the
 * other is applied and committed on the apply thread. A batch is touched by
 * one thread at a time; the worker's hand-off (a mutex) orders the two.
 */
#ifndef EOC_BATCH_H
#define EOC_BATCH_H

#include "codec.h"
#include "msgid.h"

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

/* A partition of the worker (worker_int.h). */
typedef struct eoc__part eoc__part_t;

/* A message's ID and digests, worked out once when it is buffered (so a
 * rerun does not redo them). */
typedef struct eoc__key {
    uint64_t hash;   /* the store's hash of the ID, when st is EOC__ID_FOUND */
    uint64_t digest; /* of the payload, kept in the inbox row */
    uint32_t id_off; /* the ID's bytes in the batch (eoc__batch_id) */
    uint16_t id_len;
    uint8_t st; /* eoc__id_status_t */
} eoc__key_t;

/* A partition the batch touches. */
typedef struct eoc__bpos {
    eoc__part_t *part; /* borrowed from the worker's partition table */
    int64_t first;     /* offset of its first message in the batch */
    int64_t next;      /* offset after its last */
} eoc__bpos_t;

typedef struct eoc__batch {
    int slot;   /* 0 or 1: this batch's entry in eoc__part_t.bidx */
    size_t cap; /* messages at most */
    rd_kafka_message_t **msgs; /* owned: [0, n), or [0, nspent) once done */
    size_t nspent;             /* applied messages not yet destroyed */
    eoc__part_t **parts;       /* per message */
    eoc__key_t *keys;          /* per message */
    unsigned char *isolate;    /* per message: how it is applied (apply.c) */
    eoc__buf_t ids;            /* the IDs, back to back */
    size_t n;
    int64_t first_ms; /* when the first message was added */
    int isolate_all;  /* too many reruns: isolate every record */
    eoc__bpos_t *pos; /* cap entries; npos used */
    size_t npos;
} eoc__batch_t;

/** Allocates room for `cap` messages; 0, or -1 on out of memory. */
int eoc__batch_init(eoc__batch_t *b, int slot, size_t cap);
/** Drops what the batch holds and frees it. */
void eoc__batch_free(eoc__batch_t *b);

/** Appends `m` (ownership moves to the batch) of partition `p`, with its
 *  key; `id` (k->id_len bytes, when k->st is FOUND) is copied. 0, or -1
 *  when the batch is full or memory ran out (nothing added). */
int eoc__batch_add(eoc__batch_t *b, rd_kafka_message_t *m, eoc__part_t *p, const eoc__key_t *k,
                   const char *id, int64_t now_ms);

/** The ID of message i (NULL when it has none). */
static inline const char *eoc__batch_id(const eoc__batch_t *b, size_t i)
{
    return b->keys[i].st == EOC__ID_FOUND ? (const char *)b->ids.p + b->keys[i].id_off : NULL;
}

/** Destroys the messages and forgets the batch's partitions. */
void eoc__batch_drop(eoc__batch_t *b);

/** Forgets the messages of an applied batch and its partitions, leaving
 *  the messages to be destroyed when the batch fills again (or is dropped
 *  or freed): on the polling thread, off the apply thread's path. */
void eoc__batch_done(eoc__batch_t *b);

/** The touched partitions with their `first` offsets (to seek back) or
 *  `next` offsets (to commit). The caller destroys the list. */
rd_kafka_topic_partition_list_t *eoc__batch_list(const eoc__batch_t *b, int first);

#endif
