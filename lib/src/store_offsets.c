/*
 * store_offsets.c - the offsets keyspace: each partition's next offset,
 * written with the batch that applied the records before it, and its
 * compact id (allocated once, kept in meta) that inbox position keys use.
 * The open batch caches the partitions it touched (struct tp).
 */
#include "store_int.h"

#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void eoc__store_tps_rollback(eoc__store_t *s, int level)
{
    size_t j = 0;
    for (size_t i = 0; i < s->ntps; i++) {
        if (s->tps[i].uncommitted >= level) {
            free(s->tps[i].topic);
            continue;
        }
        if (level == 1)
            s->tps[i].pending = -1;
        s->tps[j++] = s->tps[i];
    }
    s->ntps = j;
    s->last_tp = 0;
}

int eoc__store_offset_read(const eoc__store_t *s, MDB_txn *txn, const char *topic,
                           int32_t partition, int64_t *off, uint32_t *tp_id)
{
    unsigned char kb[EOC__TP_KEY_MAX];
    MDB_val k = {eoc__tp_key(kb, sizeof(kb), topic, partition), kb}, d;
    int rc = mdb_get(txn, s->offsets, &k, &d);
    if (rc)
        return rc;
    return eoc__offset_decode(d.mv_data, d.mv_size, off, tp_id) ? MDB_CORRUPTED : 0;
}

int eoc__store_offset_write(eoc__store_t *s, MDB_txn *txn, const char *topic, int32_t partition,
                            uint32_t tp_id, int64_t off)
{
    unsigned char kb[EOC__TP_KEY_MAX];
    eoc__buf_reset(&s->enc);
    eoc__offset_encode(&s->enc, off, tp_id);
    if (s->enc.oom)
        return ENOMEM;
    MDB_val k = {eoc__tp_key(kb, sizeof(kb), topic, partition), kb};
    MDB_val d = {s->enc.len, s->enc.p};
    return mdb_put(txn, s->offsets, &k, &d, 0);
}

int eoc__store_offsets_flush(eoc__store_t *s)
{
    int rc = 0;
    for (size_t i = 0; i < s->ntps && !rc; i++) {
        struct tp *t = &s->tps[i];
        int64_t stored;
        if (t->pending < 0)
            continue;
        rc = eoc__store_offset_read(s, s->batch, t->topic, t->partition, &stored, NULL);
        if (rc == MDB_NOTFOUND || (!rc && t->pending > stored))
            rc = eoc__store_offset_write(s, s->batch, t->topic, t->partition, t->id, t->pending);
    }
    return rc;
}

void eoc__store_tps_committed(eoc__store_t *s)
{
    for (size_t i = 0; i < s->ntps; i++) {
        s->tps[i].uncommitted = 0;
        s->tps[i].pending = -1;
    }
}

int eoc__store_tp_get(eoc__store_t *s, const char *topic, int32_t partition, struct tp **out)
{
    if (s->last_tp < s->ntps) {
        struct tp *t = &s->tps[s->last_tp];
        if (t->partition == partition && strcmp(t->topic, topic) == 0) {
            *out = t;
            return 0;
        }
    }
    for (size_t i = 0; i < s->ntps; i++) {
        struct tp *t = &s->tps[i];
        if (t->partition == partition && strcmp(t->topic, topic) == 0) {
            s->last_tp = i;
            *out = t;
            return 0;
        }
    }
    /* Not cached: look up its id in meta, or allocate one in this batch. */
    MDB_txn *txn = eoc__store_txn(s);
    unsigned char kb[3 + EOC__TP_KEY_MAX];
    memcpy(kb, META_TP_PREFIX, 3);
    MDB_val k = {3 + eoc__tp_key(kb + 3, sizeof(kb) - 3, topic, partition), kb}, d;
    uint32_t id;
    int uncommitted = 0;
    int rc = mdb_get(txn, s->meta, &k, &d);
    if (rc == 0) {
        uint64_t v;
        if (eoc__le_decode(d.mv_data, d.mv_size, 4, &v) != 0)
            return MDB_CORRUPTED;
        id = (uint32_t)v;
    } else if (rc == MDB_NOTFOUND) {
        uint64_t next;
        /* Allocated in the innermost transaction: a rollback of it drops
         * the cache entry too (tps_rollback). */
        if ((rc = eoc__store_meta_u64(txn, s->meta, META_TP_NEXT, &next)) ||
            (rc = eoc__store_put_meta_u64(txn, s->meta, META_TP_NEXT, next + 1)))
            return rc;
        id = (uint32_t)next;
        unsigned char vb[4];
        eoc__le_encode(vb, sizeof(vb), id);
        d.mv_size = sizeof(vb);
        d.mv_data = vb;
        if ((rc = mdb_put(txn, s->meta, &k, &d, 0)))
            return rc;
        uncommitted = s->rec ? 2 : 1;
    } else {
        return rc;
    }
    struct tp *tps = eoc__grow(s->tps, &s->captps, s->ntps, sizeof(*tps), 16);
    if (!tps)
        return ENOMEM;
    s->tps = tps;
    struct tp *t = &s->tps[s->ntps];
    if (!(t->topic = strdup(topic)))
        return ENOMEM;
    t->partition = partition;
    t->id = id;
    t->pending = -1;
    t->uncommitted = uncommitted;
    s->last_tp = s->ntps++;
    *out = t;
    return 0;
}

eoc_err_t eoc__store_offset_set(eoc__store_t *s, const char *topic, int32_t partition,
                                int64_t next_offset)
{
    if (!s->batch)
        return EOC_ERR_STATE;
    struct tp *t;
    int rc = eoc__store_tp_get(s, topic, partition, &t);
    if (rc)
        return eoc__store_fail(s, rc, "offset");
    if (next_offset > t->pending)
        t->pending = next_offset;
    return EOC_OK;
}

eoc_err_t eoc__store_offset_get(eoc__store_t *s, const char *topic, int32_t partition,
                                int64_t *next_offset)
{
    /* The batch owner reads through its write transaction (the record's
     * while one is open: LMDB refuses a parent with an active child). */
    MDB_txn *txn = s->batch ? eoc__store_txn(s) : NULL;
    int rc = txn ? 0 : mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return eoc__store_fail(s, rc, "read begin");
    rc = eoc__store_offset_read(s, txn, topic, partition, next_offset, NULL);
    if (!s->batch)
        mdb_txn_abort(txn);
    return rc ? (rc == MDB_NOTFOUND ? EOC_ERR_NOT_FOUND : eoc__store_fail(s, rc, "offset"))
              : EOC_OK;
}
