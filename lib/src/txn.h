/*
 * txn - eos.mode=kafka: the Kafka transaction is the commit point (the
 * design notes, "Two modes: where the commit point is"; the protocol as
 * tests/model/eoc_kafka.pml fixes it).
 *
 *   txn.c        the worker's transactional producer (transactional.id
 *                stable per data directory), the batch's commit path,
 *                aborts and fencing, the rebalance hooks and the catch-up
 *                after a fencing or a failed LMDB commit
 *   changelog.c  the changelog topics (one compacted topic per input
 *                topic and group), the scoping of state and inbox per
 *                input partition, staging of changelog entries, restore
 *
 * Per batch (apply thread): the records are applied in the open LMDB
 * write transaction; their outputs, dead letters and changelog entries
 * are staged as outbox rows of that transaction; then
 *   begin_transaction, produce the staged rows  (crash point txn.produced)
 *   send_offsets_to_transaction with the group metadata taken when the
 *     batch left the polling thread           (crash point txn.offsets_sent)
 *   commit_transaction: the commit point       (crash point txn.committed)
 *   the changelog positions from the delivery reports into LMDB, and the
 *     LMDB commit.
 * LMDB is never ahead of Kafka: a crash before the LMDB commit leaves it
 * behind, and the next assignment's restore catches it up.
 */
#ifndef EOC_TXN_H
#define EOC_TXN_H

#include "eoc/eoc.h"
#include "store.h"

#include <librdkafka/rdkafka.h>
#include <stdatomic.h>
#include <stdint.h>

typedef struct eoc__km eoc__km_t;
typedef struct eoc__batch eoc__batch_t;

/* Length of the per-partition scope prefix of state keys and inbox IDs. */
#define EOC__KM_SCOPE 8
_Static_assert(EOC__STORE_ID_MAX == EOC_ID_MAX + EOC__KM_SCOPE, "inbox IDs carry the scope");

/* A partition's restore (changelog.c), queued by txn.c. */
typedef struct eoc__km_rs {
    char topic[256];
    int32_t partition;
    int started, done;
    int live;                /* its careful-mode markers are set (a repeat: catch-up) */
    int64_t hi, at;          /* the end (taken by the first step) and the position */
    int64_t t0, last_log;    /* when it started, its last progress line */
    uint64_t total;          /* records applied */
    uint64_t bytes;          /* their keys and values */
    int64_t from;            /* where reading started */
} eoc__km_rs_t;

/* The mode's objects of a worker. */
struct eoc__km {
    rd_kafka_t *rk;         /* transactional producer; isolation.level=read_uncommitted, so
                               its watermark queries give the high watermark */
    rd_kafka_t *restore_rk; /* changelog reader (assign only), created on first use */
    /* Partitions to restore before they are consumed, paused in the group's
     * consumer meanwhile; the head is the one being read. Polling thread. */
    eoc__km_rs_t *rq;
    size_t nrq, caprq;
    char txid[300];         /* transactional.id */
    int lock_fd;            /* the instance file, locked while we run */
    rd_kafka_consumer_group_metadata_t *meta[2]; /* per batch slot */
    /* Changelog positions of the batch in flight, from delivery reports. */
    struct eoc__km_pos {
        char topic[256]; /* the changelog topic */
        int32_t partition;
        int64_t next;
    } * pos;
    size_t npos, cappos;
    int dr_failed;          /* a delivery of the batch failed */
    uint64_t txn_seq;       /* the transaction in flight, in each message's opaque: a late
                               report of an earlier (aborted) one moves no position */
    int _Atomic catch_up;   /* restore and reposition every assigned partition */
    int64_t _Atomic rejoin; /* when the group refused our generation or member id (0:
                               not): no batch until the next rebalance callback */
};

/* ---- txn.c (the worker's side) */
/** Creates the mode's objects: the instance id in data.dir, the
 *  transactional producer (init_transactions), the changelog topics. */
eoc__km_t *eoc__km_create(eoc_worker_t *w, char *errstr, size_t errstr_size);
void eoc__km_destroy(eoc__km_t *km);
/** The batch leaves the polling thread: keeps the consumer's group
 *  metadata of this moment for its send_offsets. Polling thread. */
void eoc__km_batch_meta(eoc_worker_t *w, eoc__batch_t *b);
/** Produces, sends the offsets, commits Kafka, then LMDB (the batch's
 *  LMDB transaction is open). EOC_OK when Kafka committed (LMDB too, or a
 *  catch-up is due); else the Kafka transaction was aborted and LMDB's
 *  with it, and the batch is to be rewound. Apply thread. */
eoc_err_t eoc__km_commit(eoc_worker_t *w, eoc__batch_t *b);
/** Runs a due catch-up (after a fencing or a failed LMDB commit): drops
 *  the filling batch, restores every assigned partition and seeks to the
 *  committed offsets. 1 when it ran. Polling thread, apply thread idle. */
int eoc__km_catch_up(eoc_worker_t *w);
/** Runs one step of the queued restores for about budget_ms (waiting for
 *  the apply thread to idle first); a partition whose restore ended is
 *  positioned at the group's committed offset and resumed. 1 when a
 *  restore is queued (the polling loop should come back soon), else 0.
 *  Polling thread. */
int eoc__km_restore_run(eoc_worker_t *w, int64_t budget_ms);
/** Whether m's partition waits for its restore: the record is dropped
 *  (the partition is positioned at its committed offset when the restore
 *  ends, so it comes again). Polling thread. */
int eoc__km_restoring(eoc_worker_t *w, const rd_kafka_message_t *m);
/** Rebalance hooks (rebalance.c), polling thread. on_assign queues the
 *  partitions' restores; after_assign (once they are assigned) pauses
 *  them until their restores end. */
void eoc__km_on_assign(eoc_worker_t *w, rd_kafka_topic_partition_list_t *parts);
void eoc__km_after_assign(eoc_worker_t *w, const rd_kafka_topic_partition_list_t *parts);
void eoc__km_on_revoke(eoc_worker_t *w, rd_kafka_topic_partition_list_t *parts, int lost);

/* ---- changelog.c */
/** "<group>.<topic>.changelog" into buf. */
void eoc__km_changelog_name(char *buf, size_t size, const char *group, const char *topic);
/** The scope prefix of (topic, partition): EOC__KM_SCOPE bytes. */
void eoc__km_scope(unsigned char *out, const char *topic, int32_t partition);
/** The inbox ID of `id` within its partition; returns its length. buf:
 *  EOC__KM_SCOPE + EOC_ID_MAX bytes. */
size_t eoc__km_inbox_id(char *buf, const char *topic, int32_t partition, const char *id,
                        size_t len);
/** Stages the changelog entry of an inbox row (key "i\0<id>"). */
eoc_err_t eoc__km_stage_inbox(eoc__store_t *s, const char *group, const char *topic,
                              int32_t partition, const char *id, size_t id_len, int64_t offset,
                              uint64_t digest, int disposition);
/** Stages the tombstone of an inbox row that retention removed (key
 *  "i\0<id>", `id` as the inbox stores it: with its scope prefix; a row
 *  without one is not this mode's and stages nothing). */
eoc_err_t eoc__km_stage_inbox_gone(eoc__store_t *s, const char *group, const char *topic,
                                   int32_t partition, const char *id, size_t id_len);
/** Stages the changelog entry of a state write (key "s\0<key>"; del: a
 *  tombstone). */
eoc_err_t eoc__km_stage_state(eoc__store_t *s, const char *group, const char *topic,
                              int32_t partition, const void *key, size_t klen, const void *v,
                              size_t vlen, int del);
/** Whether an outbox row is a changelog entry, and whether a tombstone. */
int eoc__km_row_is_changelog(const eoc__outrow_t *row, int *tombstone);
/** Creates missing changelog topics (compacted, the input's partition
 *  count); EOC_ERR_CONFIG on a partition-count mismatch. `rk` any client. */
eoc_err_t eoc__km_changelog_ensure(rd_kafka_t *rk, const char *group, const char *topics,
                                   const eoc_log_t *log, char *errstr, size_t errstr_size);
/** One step of r's restore from its changelog: the first takes the end
 *  (the high watermark as it stands) and the start (the recorded position;
 *  the log start when none, or when it is outside [log start, high
 *  watermark]); each later one applies and commits a chunk, for about
 *  budget_ms. Sets r->done at the end. Polling thread, apply thread idle. */
eoc_err_t eoc__km_restore_step(eoc_worker_t *w, eoc__km_rs_t *r, int64_t budget_ms);
/** Stops reading r's changelog (its partition was revoked). */
void eoc__km_restore_cancel(eoc_worker_t *w, eoc__km_rs_t *r);

#endif
