/*
 * store_inbox.c - the inbox: what happened to every message ID, for
 * dedupe. An append-only log keyed by a sequence number, and an in-memory
 * hash of ID -> sequence (idindex.h) rebuilt at open and caught up at each
 * begin with rows other processes appended. Lookups confirm each hash hit
 * against the row's full ID, so the hash is never the truth.
 */
#include "store_int.h"

#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int eoc__store_index_range(eoc__store_t *s, MDB_txn *txn, uint64_t from, uint64_t to)
{
    if (from >= to)
        return 0;
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, s->inbox, &c);
    if (rc)
        return rc;
    unsigned char kb[8];
    eoc__be64_put(kb, from);
    MDB_val k = {8, kb}, d;
    for (rc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) {
        uint64_t seq = eoc__be64_get(k.mv_data);
        if (seq >= to)
            break;
        eoc__inrow_t row;
        if (eoc__inrow_decode(d.mv_data, d.mv_size, &row) != 0) {
            rc = MDB_CORRUPTED;
            break;
        }
        if (eoc__idindex_insert(s->idx, eoc__store_id_hash(row.id, row.id_len), seq) != 0) {
            rc = ENOMEM;
            break;
        }
    }
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

void eoc__store_inbox_untail(eoc__store_t *s)
{
    if (s->inbox_tail && s->batch)
        mdb_cursor_close(s->inbox_tail);
    s->inbox_tail = NULL;
}

void eoc__store_unstage(eoc__store_t *s, size_t from)
{
    for (size_t i = from; i < s->nstaged; i++)
        eoc__idindex_remove(s->idx, s->staged[i].hash, s->staged[i].seq);
    s->nstaged = from;
}

/* Appends (hash, seq) to a growing list; an errno code. */
static int list_push(struct staged **v, size_t *cap, size_t *n, uint64_t hash, uint64_t seq)
{
    struct staged *p = eoc__grow(*v, cap, *n, sizeof(*p), 1024);
    if (!p)
        return ENOMEM;
    *v = p;
    p[(*n)++] = (struct staged){hash, seq};
    return 0;
}

int eoc__store_staged_push(eoc__store_t *s, uint64_t hash, uint64_t seq)
{
    return list_push(&s->staged, &s->capstaged, &s->nstaged, hash, seq);
}

int eoc__store_unindex_push(eoc__store_t *s, uint64_t hash, uint64_t seq)
{
    return list_push(&s->unindex, &s->capunindex, &s->nunindex, hash, seq);
}

void eoc__store_unindex_done(eoc__store_t *s)
{
    for (size_t i = 0; i < s->nunindex; i++)
        eoc__idindex_remove(s->idx, s->unindex[i].hash, s->unindex[i].seq);
    s->nunindex = 0;
}

eoc_err_t eoc__store_inbox_forget(eoc__store_t *s, const char *id, size_t id_len)
{
    if (!s->batch || s->rec)
        return EOC_ERR_STATE;
    if (id_len == 0 || id_len > EOC__STORE_ID_MAX)
        return EOC_ERR_INVALID_ID;
    uint64_t hash = eoc__store_id_hash(id, id_len), seq;
    size_t cursor = 0;
    eoc__store_inbox_untail(s);
    while (eoc__idindex_next(s->idx, hash, &cursor, &seq)) {
        unsigned char kb[8];
        eoc__be64_put(kb, seq);
        MDB_val k = {8, kb}, d;
        int rc = mdb_get(s->batch, s->inbox, &k, &d);
        if (rc == MDB_NOTFOUND)
            continue;
        eoc__inrow_t row;
        if (!rc && eoc__inrow_decode(d.mv_data, d.mv_size, &row) != 0)
            rc = MDB_CORRUPTED;
        if (rc)
            return eoc__store_fail(s, rc, "inbox forget");
        if (row.id_len != id_len || memcmp(row.id, id, id_len) != 0)
            continue;
        int dead = row.disposition == EOC__DISP_DEAD;
        /* A row retention indexed keeps its position entry: retention
         * drops such entries when it finds their row gone. */
        if ((rc = mdb_del(s->batch, s->inbox, &k, NULL)) ||
            (rc = eoc__store_unindex_push(s, hash, seq)))
            return eoc__store_fail(s, rc, "inbox forget");
        if (dead)
            s->dead_gone++;
    }
    return EOC_OK;
}

static int stage(eoc__store_t *s, uint64_t hash, uint64_t seq)
{
    if (eoc__store_staged_push(s, hash, seq) != 0)
        return ENOMEM;
    if (eoc__idindex_insert(s->idx, hash, seq) != 0) {
        s->nstaged--;
        return ENOMEM;
    }
    return 0;
}

uint64_t eoc__store_id_hash(const char *id, size_t id_len)
{
    return eoc__hash64(id, id_len, 0);
}

void eoc__store_inbox_prefetch(const eoc__store_t *s, uint64_t hash)
{
    if (s->idx)
        eoc__idindex_prefetch(s->idx, hash);
}

eoc_err_t eoc__store_inbox_find_hashed(eoc__store_t *s, const char *id, size_t id_len,
                                       uint64_t hash, eoc__inbox_entry_t *out)
{
    if (!s->batch)
        return EOC_ERR_STATE;
    if (id_len == 0 || id_len > EOC__STORE_ID_MAX)
        return EOC_ERR_INVALID_ID;
    /* The newest entry decides: a resubmitted dead letter that was then
     * applied has two rows, and the later one is its disposition. */
    uint64_t seq;
    size_t cursor = 0;
    int found = 0;
    while (eoc__idindex_next(s->idx, hash, &cursor, &seq)) {
        if (found && seq < out->seq)
            continue;
        unsigned char kb[8];
        eoc__be64_put(kb, seq);
        MDB_val k = {8, kb}, d;
        int rc = mdb_get(eoc__store_txn(s), s->inbox, &k, &d);
        if (rc == MDB_NOTFOUND)
            continue; /* pruned, possibly by another process */
        if (rc)
            return eoc__store_fail(s, rc, "inbox lookup");
        eoc__inrow_t row;
        if (eoc__inrow_decode(d.mv_data, d.mv_size, &row) != 0)
            return eoc__store_fail(s, MDB_CORRUPTED, "inbox row");
        if (row.id_len == id_len && memcmp(row.id, id, id_len) == 0) {
            *out = (eoc__inbox_entry_t){seq, row.disposition, row.digest, row.offset, row.time_ms};
            found = 1;
        }
    }
    return found ? EOC_OK : EOC_ERR_NOT_FOUND;
}

eoc_err_t eoc__store_inbox_add(eoc__store_t *s, const char *id, size_t id_len, const char *topic,
                               int32_t partition, int64_t offset, uint64_t digest, int disposition)
{
    return eoc__store_inbox_add_hashed(s, id, id_len, eoc__store_id_hash(id, id_len), topic,
                                       partition, offset, digest, disposition);
}

eoc_err_t eoc__store_inbox_add_hashed(eoc__store_t *s, const char *id, size_t id_len, uint64_t hash,
                                      const char *topic, int32_t partition, int64_t offset,
                                      uint64_t digest, int disposition)
{
    if (!s->batch)
        return EOC_ERR_STATE;
    if (id_len == 0 || id_len > EOC__STORE_ID_MAX)
        return EOC_ERR_INVALID_ID;
    struct tp *t;
    int rc = eoc__store_tp_get(s, topic, partition, &t);
    if (rc)
        return eoc__store_fail(s, rc, "inbox partition");
    MDB_txn *txn = eoc__store_txn(s);
    uint64_t seq = s->inbox_next;

    eoc__buf_reset(&s->enc);
    eoc__inrow_encode(&s->enc,
                      &(eoc__inrow_t){disposition, t->id, offset, s->batch_ms, digest, id, id_len});
    if (s->enc.oom)
        return EOC_ERR_NOMEM;

    unsigned char kb[8];
    eoc__be64_put(kb, seq);
    MDB_val k = {8, kb}, d = {s->enc.len, s->enc.p};
    /* In the batch itself through its tail cursor: an append then costs no
     * descent from the root (LMDB keeps the cursor at the last page). */
    if (!s->rec && !s->inbox_tail && (rc = mdb_cursor_open(txn, s->inbox, &s->inbox_tail)))
        s->inbox_tail = NULL;
    if (!rc)
        rc = s->inbox_tail ? mdb_cursor_put(s->inbox_tail, &k, &d, MDB_APPEND)
                           : mdb_put(txn, s->inbox, &k, &d, MDB_APPEND);
    if (rc)
        return eoc__store_fail(s, rc, "inbox put");

    /* No position-index row here: retention builds that index behind the
     * log (pos_catch_up), so a batch dirties no page per partition. */
    if ((rc = stage(s, hash, seq)))
        return eoc__store_fail(s, rc, "inbox index");
    s->inbox_next = seq + 1;
    if (disposition == EOC__DISP_DEAD)
        *(s->rec ? &s->dead_rec : &s->dead_batch) += 1;
    return EOC_OK;
}
