/*
 * worker_int - the internals of eoc_worker_t, shared by the files a record
 * passes through on its way from Kafka to the store and back:
 *
 *   worker.c     lifecycle (new, run, stop, destroy), the poll loop
 *   parts.c      the partitions seen, with the counters they publish
 *   pipeline.c   the hand-off of batches from the polling thread to the
 *                apply thread; rewinds after a failed batch, fail-stop
 *   apply.c      per record: ID, dedupe, handler, disposition; then the
 *                batch's durable commit
 *   offsets.c    committed offsets go to Kafka, once they are on disk
 *   rebalance.c  assignment and revocation: positions from the store
 *   careful.c    the crash-loop guard ("careful mode")
 *
 * Threads: the caller of eoc_worker_run is the polling thread: it owns the
 * consumer, the rebalance callbacks, the partition table and the filling
 * batch. The apply thread applies one handed-off batch at a time and
 * reaches its partitions through the batch (batch.h), never through the
 * table. Whatever both threads touch is either behind `mu` or owned by
 * whichever thread currently owns the store (pipeline.c says when).
 */
#ifndef EOC_WORKER_INT_H
#define EOC_WORKER_INT_H

#include "batch.h"
#include "careful.h"
#include "conf.h"
#include "eoc/eoc.h"
#include "log.h"
#include "metrics.h"
#include "msgid.h"
#include "relay.h"
#include "stages.h"
#include "store.h"
#include "util.h"
#include "txn.h"

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#define EOC__DIGEST_SEED 0x5bd1e9955bd1e995ull

/* A batch's tallies of one partition, published when it commits. */
typedef struct eoc__tally {
    uint64_t applied, duplicates, dead, retries, skipped;
} eoc__tally_t;

struct eoc__part {
    eoc__part_stats_t st; /* published (metrics.h) */
    /* the polling thread: careful mode (careful.c) */
    int64_t careful_until; /* careful mode below this offset, -1 when off */
    int careful_first;     /* careful mode from the first record received */
    int64_t polled;        /* next offset after the last record polled, -1 */
    /* the thread that holds the batch */
    int bidx[2];       /* its entry in each batch's positions (batch.h), -1 */
    eoc__tally_t pend; /* the applying batch's tallies */
};

/* A dead letter of the applying batch, logged once the batch commits
 * (apply.c): a rerun pass writes it again, the log names it once. */
typedef struct eoc__dl_note {
    const char *topic; /* the record's, valid while its batch is */
    int32_t partition;
    int64_t offset;
    char *id; /* owned */
    size_t id_len;
    const char *reason; /* static */
    char *error;        /* owned, NULL when none */
} eoc__dl_note_t;

/* A per-topic ID strategy. */
struct eoc__strat {
    char *topic; /* NULL: the default */
    eoc__msgid_t id;
};

struct eoc_worker {
    const eoc_log_t *_Atomic logp; /* first member: see kafka.h; NULL once destroyed */
    eoc_log_t log;
    eoc_conf_t *conf;    /* owned */
    eoc__settings_t set; /* read from conf at creation; strings point into it */
    eoc_handler_fn *handler;
    void *opaque;
    eoc__store_t *store; /* owned */
    eoc__relay_t *relay; /* owned, NULL when relay.enable=false or eos.mode=kafka */
    eoc__km_t *km;       /* owned, eos.mode=kafka only (txn.h) */
    pthread_t relay_thread;
    int relay_started;
    rd_kafka_t *rk;          /* consumer, owned */
    int assigned_once;       /* received an assignment (see eoc_worker_destroy) */
    int coop;                /* the group's rebalance protocol is COOPERATIVE (last answer) */
    int closed;              /* the consumer closed cleanly */
    eoc__metrics_t *metrics; /* owned; NULL when metrics.listen is empty */

    atomic_int stop;
    atomic_int fatal_taken; /* the first fatal error wins (eoc__pipe_fatal) */
    char fatal_reason[512]; /* written before stats.fatal is set */

    struct eoc__strat *strats;
    size_t nstrats;
    char dlq[256];
    int64_t last_prune; /* inbox retention's last run (monotonic ms), by its one thread */
    int64_t progress_at;     /* the last catch-up check (monotonic ms) */
    uint64_t progress_done;  /* records done then */
    int progress_behind;     /* the last check found the worker behind */

    /* Batches (pipeline.c): `fill` is the polling thread's; the other is
     * handed to the apply thread through `pending`. */
    eoc__batch_t bat[2];
    eoc__batch_t *fill;
    pthread_t apply_thread;
    int apply_started;
    pthread_mutex_t mu;    /* guards pending, apply_quit, rewind */
    pthread_cond_t cv;     /* pending taken or finished, quit */
    eoc__batch_t *pending; /* being applied; NULL when the apply thread idles */
    int apply_quit;
    rd_kafka_topic_partition_list_t *rewind; /* failed batches' first offsets, to seek */
    atomic_int rewind_flag;                  /* rewind is set */

    /* Touched by whichever thread owns the store (never both at once). */
    int failures;           /* consecutive failed batches */
    eoc__dl_note_t *dl_notes; /* the applying pass's dead letters (apply.c) */
    size_t dl_n, dl_cap;
    uint64_t removed_below; /* outbox rows below were removed by our batches */
    /* Offsets of the last committed batch, owned: they go to Kafka once
     * that commit is on disk (offsets.c). */
    rd_kafka_topic_partition_list_t *undurable;

    /* The partition table: the polling thread only. */
    eoc__part_t **parts;
    size_t nparts, capparts, lastpart;

    eoc__stats_t stats;
    eoc__stages_t stages; /* where the time goes (stages.h) */
    unsigned id_sample;   /* polling thread: records since the last timed ID */
};

/* ---- worker.c */
/** Whether inbox retention is configured and due (inbox.prune.interval.ms
 *  since its last run); when it is, notes this run. Called by the one
 *  thread that prunes: the polling thread in the local mode, the apply
 *  thread in eos.mode=kafka (txn.c). */
int eoc__prune_due(eoc_worker_t *w);

/* ---- parts.c */
/** The partition's entry, created on first sight (NULL out of memory).
 *  Polling thread. */
eoc__part_t *eoc__parts_get(eoc_worker_t *w, const char *topic, int32_t partition);
/** Frees every partition (with the worker). */
void eoc__parts_free(eoc_worker_t *w);

/* ---- pipeline.c */
/** Adds a polled message of partition p (NULL: looked up) to the filling
 *  batch (ownership moves to it); -1 when it could not (the caller rewinds
 *  it). */
int eoc__pipe_add(eoc_worker_t *w, rd_kafka_message_t *m, eoc__part_t *p, int64_t now);
/** Drops a batch that will not be applied: nothing of it is committed. */
void eoc__pipe_drop(eoc__batch_t *b);
/** The batch failed: drops it and queues its partitions' first offsets to
 *  seek back to (eoc__pipe_rewind_run). Any thread. */
void eoc__pipe_rewind_batch(eoc_worker_t *w, eoc__batch_t *b);
/** A polled message that could not be buffered is read again. */
void eoc__pipe_rewind_message(eoc_worker_t *w, rd_kafka_message_t *m);
/** Seeks back after failed batches; drops the filling batch and, when it
 *  is past a sought partition's position, *m (m may be NULL). Polling
 *  thread. */
void eoc__pipe_rewind_run(eoc_worker_t *w, rd_kafka_message_t **m);
/** Waits until the apply thread idles; the caller then owns the store. */
void eoc__pipe_wait(eoc_worker_t *w);
/** Whether the apply thread idles. */
int eoc__pipe_idle(eoc_worker_t *w);
/** Applies and commits batch `b` on this thread (apply.c); on a failure
 *  rewinds it, and stops the worker when failures persist. */
eoc_err_t eoc__pipe_apply(eoc_worker_t *w, eoc__batch_t *b, int crashed);
/** eoc__pipe_apply of the filling batch, on the polling thread: in
 *  eos.mode=kafka it takes the batch's group metadata first (a handed-off
 *  batch takes it in eoc__pipe_hand_off). */
eoc_err_t eoc__pipe_apply_fill(eoc_worker_t *w, int crashed);
/** Stops the worker on a fatal error, with its reason (also logged); a
 *  later one is ignored. Any thread. */
void eoc__pipe_fatal(eoc_worker_t *w, eoc_err_t err, const char *fmt, ...) EOC__PRINTF(3, 4);
/** Applies the filling batch on this thread (after eoc__pipe_wait). */
eoc_err_t eoc__pipe_flush_now(eoc_worker_t *w, int crashed);
/** Hands the filling batch to the apply thread (or applies it here when
 *  there is none); the other batch fills next. */
void eoc__pipe_hand_off(eoc_worker_t *w);
/** Starts the apply thread; 0, or -1 (batches are then applied on the
 *  polling thread). */
int eoc__pipe_start(eoc_worker_t *w);
/** Waits for the applying batch and joins the apply thread. */
void eoc__pipe_stop(eoc_worker_t *w);

/* ---- apply.c */
/* How a record is applied (eoc__batch_t.isolate) and the outcome of one
 * application. */
enum {
    EOC__APPLY_DONE = 0,   /* disposition written (fast path) */
    EOC__APPLY_RERUN = 1,  /* rerun isolated: its first isolated attempt is attempt 1 */
    EOC__APPLY_RETRIED = 2 /* rerun isolated: the fast path was attempt 1 and asked to retry */
};
/** Works out m's ID (per the topic's strategy) and digest; *id points into
 *  m or into idbuf (EOC_ID_MAX + 1 bytes). */
void eoc__apply_key(const eoc_worker_t *w, const rd_kafka_message_t *m, eoc__key_t *k, char *idbuf,
                    const char **id);
/** Applies and durably commits batch `b` (crashed: dead-letter its one
 *  record unhandled, careful.c); EOC_OK, or the error that aborted it
 *  (nothing of it stays). */
eoc_err_t eoc__apply_batch(eoc_worker_t *w, eoc__batch_t *b, int crashed);
/** Frees the dead-letter notes of the last pass (nothing is logged). */
void eoc__apply_notes_clear(eoc_worker_t *w);
/** Forgets the tallies of a batch that will not commit. */
void eoc__apply_tallies_reset(eoc__batch_t *b);

/* ---- offsets.c */
/** After a batch's commit: sends the previous batch's offsets to Kafka
 *  (this commit put them on disk) and keeps this batch's for later. */
void eoc__offsets_committed(eoc_worker_t *w, const eoc__batch_t *b);
/** Puts the last commit on disk, then its offsets in Kafka: for an idle
 *  worker, a hand-over and a stop. */
void eoc__offsets_sync(eoc_worker_t *w);
/** Idle, every polled record committed: moves the store's position of each
 *  such partition up to the consumer's, past offsets a read_committed
 *  consumer never gets (transaction markers, aborted records). Polling
 *  thread, the apply thread idle. */
void eoc__offsets_skip_unseen(eoc_worker_t *w);
/** Forgets offsets not yet sent (the assignment was lost). */
void eoc__offsets_forget(eoc_worker_t *w);
/** Commits `l`, already on disk, to Kafka now: synchronously unless the
 *  worker is stopping (the commit is advisory). */
void eoc__offsets_commit_now(eoc_worker_t *w, rd_kafka_topic_partition_list_t *l);
/** librdkafka's offset commit callback. */
void eoc__offsets_commit_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                            rd_kafka_topic_partition_list_t *offsets, void *opaque);

/* ---- rebalance.c */
/** librdkafka's rebalance callback. */
void eoc__rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                       rd_kafka_topic_partition_list_t *parts, void *opaque);

/* ---- careful.c */
/** eoc__careful_assign (careful.h) for each partition of an assignment, in
 *  the open store transaction, at the list's offsets
 *  (RD_KAFKA_OFFSET_INVALID: none known). Polling thread. */
eoc_err_t eoc__careful_assign_list(eoc_worker_t *w, const rd_kafka_topic_partition_list_t *parts);
/** eoc__careful_revoke for each partition of the list, in the open store
 *  transaction. */
eoc_err_t eoc__careful_revoke_list(eoc__store_t *s, const rd_kafka_topic_partition_list_t *parts);
/** Whether `m` falls in the careful range of its partition p. Polling
 *  thread. */
int eoc__careful_wants(eoc_worker_t *w, const rd_kafka_message_t *m, eoc__part_t *p);
/** Applies the filling batch, then `m` alone after committing its attempt
 *  count (ownership of m moves). Polling thread. */
void eoc__careful_apply(eoc_worker_t *w, rd_kafka_message_t *m, int64_t now);

#endif
