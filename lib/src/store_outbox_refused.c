/*
 * store_outbox_refused.c - an outbox row the broker refuses for good
 * (too large, not authorised, invalid) leaves the outbox: replaced by a
 * dead letter of its own (the relay), or dropped by an operator (`eoc
 * outbox --drop SEQ --execute`), in one durable transaction of its own.
 */
#include "store_int.h"

#include "util.h"

eoc_err_t eoc__store_outbox_replace(eoc__store_t *s, uint64_t seq, const eoc__outrow_t *dead)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn); /* waits for the worker's batch */
    if (rc)
        return eoc__store_fail(s, rc, "begin");
    if ((rc = eoc__store_outbox_cut(s, txn, seq))) {
        mdb_txn_abort(txn);
        return rc == MDB_NOTFOUND ? EOC_ERR_NOT_FOUND : eoc__store_fail(s, rc, "outbox delete");
    }
    if (dead) {
        uint64_t next;
        eoc__outrow_t r = *dead;
        if (!r.created_ms)
            r.created_ms = eoc__now_ms();
        if ((rc = eoc__store_meta_u64(txn, s->meta, META_OUTBOX_NEXT, &next))) {
            mdb_txn_abort(txn);
            return eoc__store_fail(s, rc, "outbox dead letter");
        }
        eoc__buf_t enc = {0}, seg = {0};
        eoc__outrow_encode(&enc, &r);
        eoc__outseg_single(&seg, next, enc.p, enc.len); /* a segment of its own */
        if (enc.oom || seg.oom) {
            eoc__buf_free(&enc);
            eoc__buf_free(&seg);
            mdb_txn_abort(txn);
            return EOC_ERR_NOMEM;
        }
        unsigned char nb[8];
        eoc__be64_put(nb, next);
        MDB_val nk = {8, nb}, d = {seg.len, seg.p};
        if (!(rc = mdb_put(txn, s->outbox, &nk, &d, MDB_APPEND)))
            rc = eoc__store_put_meta_u64(txn, s->meta, META_OUTBOX_NEXT, next + 1);
        eoc__buf_free(&seg);
        eoc__buf_free(&enc);
        if (rc) {
            mdb_txn_abort(txn);
            return eoc__store_fail(s, rc, "outbox dead letter");
        }
    }
    if ((rc = eoc__store_commit_txn(s, txn)))
        return eoc__store_fail(s, rc, "outbox replace commit");
    return EOC_OK;
}
