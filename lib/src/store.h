/*
 * store - owns the LMDB environment of one data directory: offsets, inbox,
 * inbox position index, outbox, user state and meta, as named databases
 * (one file per keyspace: see store_int.h).
 *
 * Write side (one batch at a time per handle, on one thread):
 *
 *   eoc__store_begin            one durable write transaction = one batch
 *     eoc__store_inbox_find_hashed  is this message ID already applied?
 *     eoc__store_rec_begin      nested transaction for one record
 *       eoc__store_state_*      handler state
 *       eoc__store_outbox_add   outgoing messages
 *       eoc__store_inbox_add    the record's disposition
 *     eoc__store_rec_commit / eoc__store_rec_abort
 *     eoc__store_offset_set     partition's next offset (never moves back)
 *   eoc__store_commit / eoc__store_abort
 *
 * (The worker's fast path calls the same functions without the nested
 * record transaction.)
 *
 * Durability: a commit is atomic and leaves the store intact whatever
 * happens after it, and it survives the process dying at once. It is on
 * disk (survives a system crash or power loss) once the next commit of
 * any transaction returns, or once eoc__store_sync returns. LMDB runs with
 * MDB_NOMETASYNC: a commit flushes its data, then writes its meta page
 * without a second flush, which the next flush carries. Whatever leaves
 * the machine on the strength of a commit (outbox rows published, offsets
 * committed to Kafka) therefore waits for one of the two.
 *
 * Physical inbox layout: an append-only log keyed by a sequence number
 * (sequential B-tree inserts), a (partition, offset) index for retention,
 * and an in-memory hash of ID -> sequence rebuilt at open and caught up
 * at each begin with rows other processes appended. Lookups confirm each
 * hash hit against the row's full ID, so the hash is never the truth.
 *
 * Read side (relay, metrics): short read transactions; safe from any
 * thread and from other processes (the environment uses MDB_NOTLS). Tools
 * use the public eoc_store_t (eoc.h), a wrapper of a read-only store.
 */
#ifndef EOC_STORE_H
#define EOC_STORE_H

#include "codec.h"
#include "eoc/eoc.h"
#include "log.h"

#include <stdint.h>

typedef struct eoc__store eoc__store_t;

enum {
    EOC__STORE_RDONLY = 1, /* read-only: eoc_store_t */
    EOC__STORE_NOINDEX = 2 /* writable, but no batches: a standalone relay */
};

/*
 * A store opened for batches holds the store lock (lockfile.h) shared for
 * its lifetime; administrative writes (eoc_store_admin_rewind) take it
 * exclusively, so they never run beside a worker.
 */

#define EOC__SCHEMA_VERSION 4u /* 2: XXH3 payload digests; 3: varint rows; 4: outbox segments */

/** Dispositions recorded in the inbox. */
enum { EOC__DISP_APPLIED = 1, EOC__DISP_DEAD = 2 };

/** The longest inbox ID: a message ID, in eos.mode=kafka with its 8-byte
 *  partition scope in front (txn.h, EOC__KM_SCOPE). */
#define EOC__STORE_ID_MAX (EOC_ID_MAX + 8)

/** What the inbox knows about one ID. */
typedef struct eoc__inbox_entry {
    uint64_t seq;
    int disposition;
    uint64_t digest;
    int64_t offset;
    int64_t time_ms;
} eoc__inbox_entry_t;

/**
 * Opens (creating unless RDONLY) the store in `dir`. `log` is borrowed and
 * must outlive the store (NULL: no logging). map_size 0 keeps the file's.
 * Returns EOC_ERR_VERSION for a store of another schema.
 */
eoc_err_t eoc__store_open(const char *dir, uint64_t map_size, int flags, const eoc_log_t *log,
                          eoc__store_t **out, char *errstr, size_t errstr_size);
/** Aborts an open batch and closes the store. NULL is fine. */
void eoc__store_close(eoc__store_t *s);

/* ---- batch ---- */
eoc_err_t eoc__store_begin(eoc__store_t *s);
/** Commits the batch (see "Durability" above). On failure the batch is
 *  aborted (nothing of it stays). */
eoc_err_t eoc__store_commit(eoc__store_t *s);
/** Ends the batch by the outcome of its last step: commits it when `err`
 *  is EOC_OK, else aborts it (when one is open) and returns `err`. */
eoc_err_t eoc__store_end(eoc__store_t *s, eoc_err_t err);
/** Puts every commit so far on disk, whichever process made it. Any
 *  thread; EOC_ERR_IO when the disk refuses. */
eoc_err_t eoc__store_sync(eoc__store_t *s);
/** Whether transaction `txnid` is known to be on disk: a later commit
 *  through this handle or a sync carried it. Any thread. */
int eoc__store_on_disk(eoc__store_t *s, size_t txnid);
void eoc__store_abort(eoc__store_t *s);
int eoc__store_in_batch(const eoc__store_t *s);

/** The hash the inbox files `id` under; the _hashed calls take it so that a
 *  caller hashes each ID once (and can prefetch its index slot). */
uint64_t eoc__store_id_hash(const char *id, size_t id_len);
/** Starts loading the index slot of `hash` (a hint; any time, any thread
 *  that owns the store). */
void eoc__store_inbox_prefetch(const eoc__store_t *s, uint64_t hash);
/** EOC_OK and *out filled when `id` (whose eoc__store_id_hash is `hash`)
 *  is in the inbox, else EOC_ERR_NOT_FOUND. */
eoc_err_t eoc__store_inbox_find_hashed(eoc__store_t *s, const char *id, size_t id_len,
                                       uint64_t hash, eoc__inbox_entry_t *out);

eoc_err_t eoc__store_rec_begin(eoc__store_t *s);
eoc_err_t eoc__store_rec_commit(eoc__store_t *s);
void eoc__store_rec_abort(eoc__store_t *s);

/** Records `id`'s disposition (in the record transaction when one is open). */
eoc_err_t eoc__store_inbox_add(eoc__store_t *s, const char *id, size_t id_len, const char *topic,
                               int32_t partition, int64_t offset, uint64_t digest, int disposition);
/** eoc__store_inbox_add with hash = eoc__store_id_hash(id, id_len). */
eoc_err_t eoc__store_inbox_add_hashed(eoc__store_t *s, const char *id, size_t id_len, uint64_t hash,
                                      const char *topic, int32_t partition, int64_t offset,
                                      uint64_t digest, int disposition);

/** Appends an outbox row; `row->created_ms` 0 means when the batch began. */
eoc_err_t eoc__store_outbox_add(eoc__store_t *s, const eoc__outrow_t *row);

eoc_err_t eoc__store_state_get(eoc__store_t *s, const void *k, size_t klen, const void **v,
                               size_t *vlen);
eoc_err_t eoc__store_state_put(eoc__store_t *s, const void *k, size_t klen, const void *v,
                               size_t vlen);
eoc_err_t eoc__store_state_del(eoc__store_t *s, const void *k, size_t klen);

/** Sets the partition's next offset, written at commit; never lowers it. */
eoc_err_t eoc__store_offset_set(eoc__store_t *s, const char *topic, int32_t partition,
                                int64_t next_offset);

/** Meta values (small named blobs) in the current write transaction. */
eoc_err_t eoc__store_meta_get(eoc__store_t *s, const char *name, void *buf, size_t *len);
eoc_err_t eoc__store_meta_put(eoc__store_t *s, const char *name, const void *buf, size_t len);

/* ---- careful mode's records (careful.c), in the open write transaction.
 * A value that is missing (or not of the expected size) reads as 0. */

/** Whether the partition's live marker is set: a worker owns it and has
 *  not yet released it cleanly. */
eoc_err_t eoc__store_live_get(eoc__store_t *s, const char *topic, int32_t partition, int *live);
eoc_err_t eoc__store_live_set(eoc__store_t *s, const char *topic, int32_t partition, int live);
/** The offset the partition's owners last crashed at, and how many times. */
eoc_err_t eoc__store_crashes_get(eoc__store_t *s, const char *topic, int32_t partition,
                                 uint64_t *at, uint64_t *n);
eoc_err_t eoc__store_crashes_set(eoc__store_t *s, const char *topic, int32_t partition, uint64_t at,
                                 uint64_t n);
/** Handler attempts at one record in careful mode. */
eoc_err_t eoc__store_attempts_get(eoc__store_t *s, const char *topic, int32_t partition,
                                  int64_t offset, uint64_t *n);
eoc_err_t eoc__store_attempts_set(eoc__store_t *s, const char *topic, int32_t partition,
                                  int64_t offset, uint64_t n);

/* ---- read side (own read transaction; any thread) ---- */

/** The stored next offset, or EOC_ERR_NOT_FOUND. Reads through the open
 *  batch when there is one (call it from the batch's thread then). */
eoc_err_t eoc__store_offset_get(eoc__store_t *s, const char *topic, int32_t partition,
                                int64_t *next_offset);

/**
 * Calls cb for outbox rows with seq >= from in order, at most `max` rows,
 * in one read snapshot. cb returns non-zero to stop. *next is set to the
 * seq after the last row visited (or left at from).
 */
eoc_err_t eoc__store_outbox_scan(eoc__store_t *s, uint64_t from, size_t max,
                                 int (*cb)(void *opaque, uint64_t seq, const eoc__outrow_t *row),
                                 void *opaque, uint64_t *next);

/** In one read snapshot: its transaction id, and the seq after the last
 *  outbox row (0 when the outbox is empty). Any thread. */
eoc_err_t eoc__store_outbox_end(eoc__store_t *s, size_t *txnid, uint64_t *end);

/** Pending outbox rows and the age of the oldest (0 when none). */
eoc_err_t eoc__store_outbox_info(eoc__store_t *s, uint64_t *rows, int64_t *oldest_age_ms);

/** Deletes outbox rows with seq < upto in one durable transaction. */
eoc_err_t eoc__store_outbox_remove_below(eoc__store_t *s, uint64_t upto);

/** The same inside the open batch (outside any record): the relay's
 *  removals ride on the worker's commits instead of fsyncs of their own. */
eoc_err_t eoc__store_outbox_remove_in_batch(eoc__store_t *s, uint64_t upto);

/**
 * Removes outbox row `seq` and, when `dead` is not NULL, appends `dead` at
 * the end of the outbox, in one durable transaction of its own (it waits
 * for an open batch). EOC_ERR_NOT_FOUND when there is no row `seq`.
 */
eoc_err_t eoc__store_outbox_replace(eoc__store_t *s, uint64_t seq, const eoc__outrow_t *dead);

/**
 * Retention (on the batch's thread, between batches: it updates the
 * in-memory index): removes inbox entries below each partition's committed offset
 * that are older than age_ms (0: no age limit) or more than `count` offsets
 * behind it (0: no count limit), at most `max` entries, in one durable
 * transaction. *pruned gets the number removed.
 */
eoc_err_t eoc__store_prune(eoc__store_t *s, int64_t age_ms, int64_t count, size_t max,
                           uint64_t *pruned);

/** What a prune inside a batch asks of its caller (every call in the
 *  batch's write transaction). */
typedef struct eoc__prune_hooks {
    /** Whether to prune (topic, partition) at all; NULL: every partition. */
    int (*wants)(void *opaque, const char *topic, int32_t partition);
    /** A removed inbox row's ID (as stored); an error fails the prune. */
    eoc_err_t (*removed)(void *opaque, const char *topic, int32_t partition, const char *id,
                         size_t id_len);
    void *opaque;
} eoc__prune_hooks_t;

/**
 * eoc__store_prune inside the open batch (no record open): the removals
 * commit or abort with it, and the in-memory index forgets the rows only
 * when it commits. On an error the batch must be aborted.
 */
eoc_err_t eoc__store_prune_batch(eoc__store_t *s, int64_t age_ms, int64_t count, size_t max,
                                 const eoc__prune_hooks_t *h, uint64_t *pruned);

/**
 * Deletes every inbox row of `id` in the open batch (no record open): an
 * ID that retention removed elsewhere (eos.mode=kafka's changelog
 * tombstone). EOC_OK also when there is none.
 */
eoc_err_t eoc__store_inbox_forget(eoc__store_t *s, const char *id, size_t id_len);

/* ---- eos.mode=kafka (store_kafka.c) */

/** A changelog partition's recorded position (the offset after the last
 *  changelog record the store holds), in the open write transaction;
 *  EOC_ERR_NOT_FOUND when none. */
eoc_err_t eoc__store_clpos_get(eoc__store_t *s, const char *topic, int32_t partition,
                               int64_t *pos);
/** Records it with the open write transaction (pos < 0 forgets it). */
eoc_err_t eoc__store_clpos_set(eoc__store_t *s, const char *topic, int32_t partition, int64_t pos);
/** Every recorded changelog position, in a read snapshot. Any thread. */
eoc_err_t eoc__store_clpos_list(eoc__store_t *s,
                                void (*cb)(void *opaque, const char *topic, int32_t partition,
                                           int64_t pos),
                                void *opaque);
/** Calls cb for each outbox row the open batch added, in order, and
 *  drops it from the batch (drained rows never reach the outbox table); a
 *  non-zero cb stops with EOC_ERR_KAFKA. Outside
 *  a record transaction. */
eoc_err_t eoc__store_batch_rows_drain(eoc__store_t *s,
                                      int (*cb)(void *opaque, const eoc__outrow_t *row),
                                      void *opaque);
/** Deletes every state key starting with `prefix` in the open batch. */
eoc_err_t eoc__store_state_drop_prefix(eoc__store_t *s, const void *prefix, size_t len,
                                       uint64_t *dropped);
/** A state write (del: a delete) of a key as stored (no length check
 *  beyond LMDB's). */
eoc_err_t eoc__store_state_put_raw(eoc__store_t *s, const void *key, size_t klen, const void *v,
                                   size_t vlen, int del);

/** Map usage (bytes used by pages, map size). */
void eoc__store_map_usage(eoc__store_t *s, uint64_t *used, uint64_t *size);

/** The data directory (NUL-terminated, valid while the store is open). */
const char *eoc__store_dir(const eoc__store_t *s);

#endif
