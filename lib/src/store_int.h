/*
 * store_int - the internals of eoc__store_t, shared by the store's files:
 *
 *   store.c            the environment, open/close, batch and record
 *                      transactions, durability tracking
 *   store_offsets.c    partitions: compact ids and next offsets
 *   store_inbox.c      the inbox log and its in-memory ID index (dedupe)
 *   store_outbox.c     the outbox the relay drains
 *   store_state.c      the handlers' state
 *   store_meta.c       the store's counters, named values, careful mode's
 *                      records
 *   store_retention.c  inbox retention over the position index
 *   store_admin.c      the public read-only and administrative API
 *
 * Only these files talk to LMDB. Byte layouts are in codec.h.
 */
#ifndef EOC_STORE_INT_H
#define EOC_STORE_INT_H

#include "error.h"
#include "idindex.h"
#include "lockfile.h"
#include "store.h"

#include <lmdb.h>
#include <stdatomic.h>

#define META_SCHEMA      "schema"
#define META_INBOX_NEXT  "inbox.next"
#define META_OUTBOX_NEXT "outbox.next"
#define META_OUTBOX_FIRST "outbox.first" /* outbox rows below this are delivered */
#define META_TP_NEXT     "tp.next"
#define META_INBOX_DEAD  "inbox.dead"     /* dead-lettered rows in the inbox log */
#define META_POS_NEXT    "inbox.pos.next" /* log rows below this are in inbox_pos */
#define META_TP_PREFIX   "tp/"

/* One known (topic, partition): its compact id for inbox position keys and
 * the next offset this batch will store. */
struct tp {
    char *topic;
    int32_t partition;
    uint32_t id;
    int64_t pending; /* next offset to write at commit, -1 when none */
    int uncommitted; /* id allocated in the open batch (1) or record (2) */
};

/* An index insertion of the open batch, undone if the batch aborts; or an
 * index removal, done once the transaction that deleted the row commits. */
struct staged {
    uint64_t hash, seq;
};

struct eoc__store {
    MDB_env *env;
    MDB_dbi offsets, inbox, inbox_pos, outbox, state, meta;
    int rdonly;
    eoc__lock_t lock;     /* lockfile.h, shared while batches may run */
    const eoc_log_t *log; /* borrowed */
    char *dir;
    /* Transactions up to this id are on disk, as far as this handle saw:
     * its commits (each flush carries the previous meta page) and syncs.
     * Any thread. */
    atomic_size_t on_disk;
    /* The file covers the pages below this (cover_pages in store.c). Any
     * thread. */
    atomic_size_t covered;

    /* Writer side: touched only by the thread that runs batches. */
    MDB_txn *batch;
    MDB_txn *rec;
    /* The batch transaction's cursor at the end of the inbox log, for its
     * appends (NULL until the batch's first row). LMDB closes it with the
     * batch; it is dropped before any other write to the inbox and before
     * a record transaction, whose shadow cursors would leave it stale. */
    MDB_cursor *inbox_tail;
    eoc__idindex_t *idx;
    uint64_t idx_next;                  /* inbox seqs below this are in idx */
    uint64_t inbox_next;                /* next inbox seq (batch view) */
    uint64_t outbox_next;               /* next outbox seq (batch view) */
    uint64_t inbox_next0, outbox_next0; /* values at begin */
    uint64_t dead_batch, dead_rec;      /* DEAD inbox rows added by the batch / open record */
    uint64_t dead_gone;                 /* DEAD inbox rows the batch deleted */
    int64_t batch_ms;                   /* wall clock at begin: the time of its rows */
    struct staged *staged;
    size_t nstaged, capstaged, rec_mark;
    struct staged *unindex; /* rows the open transaction deleted (retention) */
    size_t nunindex, capunindex;
    struct tp *tps;
    size_t ntps, captps, last_tp;
    eoc__buf_t enc; /* encode scratch */
    /* The open batch's outbox rows, one segment (codec.h) written at commit;
     * at record begin, what to cut back to if the record aborts. */
    eoc__buf_t seg;
    uint32_t seg_rows, seg_rows_mark;
    uint64_t seg_last, seg_last_mark;
    size_t seg_len_mark;
};

/* The write transaction in use: the record's when one is open. */
static inline MDB_txn *eoc__store_txn(const eoc__store_t *s)
{
    return s->rec ? s->rec : s->batch;
}

/** Maps an LMDB failure, logging which operation failed. */
static inline eoc_err_t eoc__store_fail(const eoc__store_t *s, int rc, const char *what)
{
    return eoc__err_from_mdb_logged(s->log, rc, what);
}

/* ---- store.c */
/** Commits a top-level write transaction and notes what it put on disk. */
int eoc__store_commit_txn(eoc__store_t *s, MDB_txn *txn);

/* ---- store_meta.c */
/** A meta counter (0 when missing); LMDB codes. */
int eoc__store_meta_u64(MDB_txn *txn, MDB_dbi dbi, const char *name, uint64_t *v);
int eoc__store_put_meta_u64(MDB_txn *txn, MDB_dbi dbi, const char *name, uint64_t v);

/* ---- store_outbox.c */
/** Starts the open batch's outbox segment (at begin). */
void eoc__store_seg_begin(eoc__store_t *s);
/** Writes the open batch's outbox segment, if it has rows; an LMDB code. */
int eoc__store_seg_flush(eoc__store_t *s);
/** Counts the outbox rows in `txn` and gives the oldest one's creation
 *  time (0 when empty); an LMDB code. */
int eoc__store_outbox_stat(const eoc__store_t *s, MDB_txn *txn, uint64_t *rows,
                           int64_t *oldest_ms);
/** Cuts outbox row `seq` out of its segment (deleting a segment left
 *  empty); MDB_NOTFOUND when there is no such row, or an LMDB code. */
int eoc__store_outbox_cut(eoc__store_t *s, MDB_txn *txn, uint64_t seq);
/** Rewrites schema 3's outbox (a value per row) as segments of one row;
 *  an LMDB code. */
int eoc__store_outbox_upgrade(eoc__store_t *s, MDB_txn *txn);

/* ---- store_offsets.c */
/** Finds or registers (topic, partition) in the batch; *out stays valid
 *  until the next call. An LMDB code. */
int eoc__store_tp_get(eoc__store_t *s, const char *topic, int32_t partition, struct tp **out);
/** Drops tp ids allocated at `level` or deeper (1: batch, 2: record) by an
 *  aborted transaction; a batch abort also drops pending offsets. */
void eoc__store_tps_rollback(eoc__store_t *s, int level);
/** Writes the batch's pending offsets (never lowering one); an LMDB code. */
int eoc__store_offsets_flush(eoc__store_t *s);
/** After a commit: the batch's ids and offsets are committed. */
void eoc__store_tps_committed(eoc__store_t *s);
/** Reads (topic, partition)'s stored next offset and id; an LMDB code. */
int eoc__store_offset_read(const eoc__store_t *s, MDB_txn *txn, const char *topic,
                           int32_t partition, int64_t *off, uint32_t *tp_id);
/** Writes (topic, partition)'s next offset with its id; an LMDB code. */
int eoc__store_offset_write(eoc__store_t *s, MDB_txn *txn, const char *topic, int32_t partition,
                            uint32_t tp_id, int64_t off);

/* ---- store_inbox.c */
/** Adds inbox rows with seq in [from, to) to the in-memory index. */
int eoc__store_index_range(eoc__store_t *s, MDB_txn *txn, uint64_t from, uint64_t to);
/** Appends (hash, seq) to s->staged: a batch's index insertions (undone if
 *  it aborts). */
int eoc__store_staged_push(eoc__store_t *s, uint64_t hash, uint64_t seq);
/** Undoes the index insertions staged from `from` on. */
void eoc__store_unstage(eoc__store_t *s, size_t from);
/** Closes the batch's inbox tail cursor (store_int.h, inbox_tail): before
 *  any write to the inbox but an append, and before a record transaction. */
void eoc__store_inbox_untail(eoc__store_t *s);
/** Notes that the open transaction deleted inbox row `seq` of ID hash
 *  `hash`: the index forgets it once that transaction commits
 *  (eoc__store_unindex_done), never before, so a failed deletion never
 *  makes a committed ID look new. An errno code. */
int eoc__store_unindex_push(eoc__store_t *s, uint64_t hash, uint64_t seq);
/** After the commit: the noted rows leave the index. After an abort,
 *  s->nunindex = 0 instead. */
void eoc__store_unindex_done(eoc__store_t *s);

#endif
