/*
 * store_outbox.c - the outbox: outgoing messages written with the batch
 * that produced them, in sequence order, until the relay has delivered
 * them (store.h, "Durability", says when it may).
 */
#include "store_int.h"

#include "util.h"

eoc_err_t eoc__store_outbox_add(eoc__store_t *s, const eoc__outrow_t *row)
{
    if (!s->batch)
        return EOC_ERR_STATE;
    eoc__outrow_t r = *row;
    if (!r.created_ms)
        r.created_ms = s->batch_ms;
    eoc__buf_reset(&s->enc);
    eoc__outrow_encode(&s->enc, &r);
    if (s->enc.oom)
        return EOC_ERR_NOMEM;
    unsigned char kb[8];
    eoc__be64_put(kb, s->outbox_next);
    MDB_val k = {8, kb}, d = {s->enc.len, s->enc.p};
    int rc = mdb_put(eoc__store_txn(s), s->outbox, &k, &d, MDB_APPEND);
    if (rc)
        return eoc__store_fail(s, rc, "outbox put");
    s->outbox_next++;
    return EOC_OK;
}

eoc_err_t eoc__store_outbox_scan(eoc__store_t *s, uint64_t from, size_t max,
                                 int (*cb)(void *opaque, uint64_t seq, const eoc__outrow_t *row),
                                 void *opaque, uint64_t *next)
{
    MDB_txn *txn;
    MDB_cursor *c;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return eoc__store_fail(s, rc, "read begin");
    if ((rc = mdb_cursor_open(txn, s->outbox, &c))) {
        mdb_txn_abort(txn);
        return eoc__store_fail(s, rc, "outbox cursor");
    }
    eoc__buf_t scratch = {0};
    unsigned char kb[8];
    eoc__be64_put(kb, from);
    MDB_val k = {8, kb}, d;
    size_t n = 0;
    eoc_err_t err = EOC_OK;
    for (rc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE); rc == 0 && n < max;
         rc = mdb_cursor_get(c, &k, &d, MDB_NEXT), n++) {
        uint64_t seq = eoc__be64_get(k.mv_data);
        eoc__outrow_t row;
        if (eoc__outrow_decode(d.mv_data, d.mv_size, &row, &scratch) != 0) {
            err = eoc__store_fail(s, MDB_CORRUPTED, "outbox row");
            break;
        }
        if (next)
            *next = seq + 1;
        if (cb(opaque, seq, &row))
            break;
    }
    if (rc && rc != MDB_NOTFOUND && !err)
        err = eoc__store_fail(s, rc, "outbox scan");
    eoc__buf_free(&scratch);
    mdb_cursor_close(c);
    mdb_txn_abort(txn);
    return err;
}

static int first_created(void *opaque, uint64_t seq, const eoc__outrow_t *row)
{
    (void)seq;
    *(int64_t *)opaque = row->created_ms;
    return 1;
}

eoc_err_t eoc__store_outbox_info(eoc__store_t *s, uint64_t *rows, int64_t *oldest_age_ms)
{
    *rows = 0;
    *oldest_age_ms = 0;
    MDB_txn *txn;
    MDB_stat st;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return eoc__store_fail(s, rc, "read begin");
    rc = mdb_stat(txn, s->outbox, &st);
    mdb_txn_abort(txn);
    if (rc)
        return eoc__store_fail(s, rc, "outbox stat");
    *rows = st.ms_entries;
    int64_t created = 0;
    eoc_err_t err = eoc__store_outbox_scan(s, 0, 1, first_created, &created, NULL);
    if (created)
        *oldest_age_ms = eoc__now_ms() - created;
    return err;
}

/* Deletes outbox rows with seq < upto through `txn`; an LMDB code. */
static int outbox_delete_below(eoc__store_t *s, MDB_txn *txn, uint64_t upto)
{
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, s->outbox, &c);
    if (rc)
        return rc;
    MDB_val k, d;
    for (rc = mdb_cursor_get(c, &k, &d, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) {
        if (eoc__be64_get(k.mv_data) >= upto)
            break;
        if ((rc = mdb_cursor_del(c, 0)))
            break;
    }
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

eoc_err_t eoc__store_outbox_remove_below(eoc__store_t *s, uint64_t upto)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc)
        return eoc__store_fail(s, rc, "begin");
    if ((rc = outbox_delete_below(s, txn, upto))) {
        mdb_txn_abort(txn);
        return eoc__store_fail(s, rc, "outbox delete");
    }
    if ((rc = eoc__store_commit_txn(s, txn)))
        return eoc__store_fail(s, rc, "outbox delete commit");
    return EOC_OK;
}

eoc_err_t eoc__store_outbox_remove_in_batch(eoc__store_t *s, uint64_t upto)
{
    if (!s->batch || s->rec)
        return EOC_ERR_STATE;
    int rc = outbox_delete_below(s, s->batch, upto);
    return rc ? eoc__store_fail(s, rc, "outbox delete") : EOC_OK;
}

eoc_err_t eoc__store_outbox_end(eoc__store_t *s, size_t *txnid, uint64_t *end)
{
    MDB_txn *txn;
    MDB_cursor *c;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return eoc__store_fail(s, rc, "read begin");
    *txnid = mdb_txn_id(txn);
    *end = 0;
    MDB_val k, d;
    if (!(rc = mdb_cursor_open(txn, s->outbox, &c))) {
        rc = mdb_cursor_get(c, &k, &d, MDB_LAST);
        if (!rc && k.mv_size == 8)
            *end = eoc__be64_get(k.mv_data) + 1;
        mdb_cursor_close(c);
    }
    mdb_txn_abort(txn);
    return rc && rc != MDB_NOTFOUND ? eoc__store_fail(s, rc, "outbox end") : EOC_OK;
}
