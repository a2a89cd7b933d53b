/*
 * store_outbox.c - the outbox: outgoing messages written with the batch
 * that produced them, in sequence order, until the relay has delivered
 * them (store.h, "Durability", says when it may).
 *
 * A batch's rows are one segment (codec.h), kept in memory while the batch
 * is open and written at its commit under the batch's first seq: one
 * B-tree insertion per batch, not one per row. Delivered rows leave from
 * the bottom: a segment whose rows are all delivered is deleted whole, and
 * meta "outbox.first" hides the delivered rows of a segment that still has
 * undelivered ones. A row refused for good is cut out of its segment
 * (store_outbox_refused.c).
 */
#include "store_int.h"

#include "util.h"

#include <errno.h>

/* ------------------------------------------------------------------ */
/* the open batch's segment                                           */
/* ------------------------------------------------------------------ */

void eoc__store_seg_begin(eoc__store_t *s)
{
    eoc__outseg_begin(&s->seg);
    s->seg_rows = 0;
    s->seg_last = 0;
}

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
    eoc__outseg_add(&s->seg, s->outbox_next - s->outbox_next0, s->enc.p, s->enc.len);
    if (s->seg.oom)
        return EOC_ERR_NOMEM; /* the batch (or the record) aborts */
    s->seg_last = s->outbox_next++;
    s->seg_rows++;
    return EOC_OK;
}

int eoc__store_seg_flush(eoc__store_t *s)
{
    if (!s->seg_rows)
        return 0;
    if (s->seg.oom)
        return ENOMEM;
    eoc__outseg_finish(&s->seg, s->seg_rows, s->seg_last);
    unsigned char kb[8];
    eoc__be64_put(kb, s->outbox_next0);
    MDB_val k = {8, kb}, d = {s->seg.len, s->seg.p};
    return mdb_put(s->batch, s->outbox, &k, &d, MDB_APPEND);
}

/* ------------------------------------------------------------------ */
/* reading: the rows from a seq on                                    */
/* ------------------------------------------------------------------ */

/* A cursor over the undelivered rows with seq >= from, segment by segment. */
struct rows {
    MDB_cursor *c;
    MDB_val k, d;         /* the current segment */
    eoc__outseg_rd_t seg; /* its unread rows */
    uint64_t from;
    int in_seg; /* seg may still hold rows >= from */
};

static int rows_load(struct rows *r)
{
    uint64_t last;
    if (r->k.mv_size != 8 ||
        eoc__outseg_open(&r->seg, eoc__be64_get(r->k.mv_data), r->d.mv_data, r->d.mv_size, NULL,
                         &last) != 0)
        return MDB_CORRUPTED;
    r->in_seg = last >= r->from; /* else every row in it is below */
    return 0;
}

/* Positions r at the segment that may hold `from` (the last one keyed at or
 * below it), or else the first one after it. 0, MDB_NOTFOUND when there is
 * no row at or after `from`, or an LMDB code. rows_close in every case. */
static int rows_open(const eoc__store_t *s, MDB_txn *txn, uint64_t from, struct rows *r)
{
    uint64_t first;
    r->c = NULL;
    r->in_seg = 0;
    int rc = eoc__store_meta_u64(txn, s->meta, META_OUTBOX_FIRST, &first);
    if (rc || (rc = mdb_cursor_open(txn, s->outbox, &r->c)))
        return rc;
    r->from = from > first ? from : first;
    unsigned char kb[8];
    eoc__be64_put(kb, r->from);
    r->k = (MDB_val){8, kb};
    rc = mdb_cursor_get(r->c, &r->k, &r->d, MDB_SET_RANGE);
    if ((rc == 0 && eoc__be64_get(r->k.mv_data) != r->from) || rc == MDB_NOTFOUND) {
        int below = mdb_cursor_get(r->c, &r->k, &r->d, rc == 0 ? MDB_PREV : MDB_LAST);
        if (below == MDB_NOTFOUND && rc == 0) { /* `from` is below every key */
            r->k = (MDB_val){8, kb};
            rc = mdb_cursor_get(r->c, &r->k, &r->d, MDB_SET_RANGE);
        } else {
            rc = below;
        }
    }
    return rc ? rc : rows_load(r);
}

/* The next row: 0 with its seq and encoded bytes, MDB_NOTFOUND at the end,
 * or an LMDB code. */
static int rows_next(struct rows *r, uint64_t *seq, const void **row, size_t *len)
{
    for (;;) {
        while (r->in_seg) {
            int n = eoc__outseg_next(&r->seg, seq, row, len);
            if (n < 0)
                return MDB_CORRUPTED;
            if (n == 0)
                r->in_seg = 0;
            else if (*seq >= r->from)
                return 0;
        }
        int rc = mdb_cursor_get(r->c, &r->k, &r->d, MDB_NEXT);
        if (rc || (rc = rows_load(r)))
            return rc;
    }
}

static void rows_close(struct rows *r)
{
    if (r->c)
        mdb_cursor_close(r->c);
}

eoc_err_t eoc__store_outbox_scan(eoc__store_t *s, uint64_t from, size_t max,
                                 int (*cb)(void *opaque, uint64_t seq, const eoc__outrow_t *row),
                                 void *opaque, uint64_t *next)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return eoc__store_fail(s, rc, "read begin");
    eoc__buf_t scratch = {0};
    struct rows r;
    rc = rows_open(s, txn, from, &r);
    for (size_t n = 0; !rc && n < max; n++) {
        uint64_t seq;
        const void *v;
        size_t len;
        eoc__outrow_t row;
        if ((rc = rows_next(&r, &seq, &v, &len)))
            break;
        if (eoc__outrow_decode(v, len, &row, &scratch) != 0) {
            rc = MDB_CORRUPTED;
            break;
        }
        if (next)
            *next = seq + 1;
        if (cb(opaque, seq, &row))
            break;
    }
    eoc_err_t err = rc && rc != MDB_NOTFOUND ? eoc__store_fail(s, rc, "outbox scan") : EOC_OK;
    eoc__buf_free(&scratch);
    rows_close(&r);
    mdb_txn_abort(txn);
    return err;
}

int eoc__store_outbox_stat(const eoc__store_t *s, MDB_txn *txn, uint64_t *rows,
                           int64_t *oldest_ms)
{
    *rows = 0;
    *oldest_ms = 0;
    struct rows r;
    uint64_t seq;
    const void *v;
    size_t len;
    int rc = rows_open(s, txn, 0, &r);
    if (!rc && !(rc = rows_next(&r, &seq, &v, &len))) {
        /* The oldest row is the first; created_ms leads its encoding. */
        eoc__rd_t rd;
        eoc__rd_init(&rd, v, len);
        *oldest_ms = (int64_t)eoc__rd_uv(&rd);
        /* The rest of its segment row by row, the later ones by their count. */
        for (*rows = 1; eoc__outseg_next(&r.seg, &seq, &v, &len) > 0;)
            ++*rows;
        while (!(rc = mdb_cursor_get(r.c, &r.k, &r.d, MDB_NEXT))) {
            uint32_t count;
            if (eoc__outseg_open(&r.seg, 0, r.d.mv_data, r.d.mv_size, &count, NULL) != 0) {
                rc = MDB_CORRUPTED;
                break;
            }
            *rows += count;
        }
    }
    rows_close(&r);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

eoc_err_t eoc__store_outbox_info(eoc__store_t *s, uint64_t *rows, int64_t *oldest_age_ms)
{
    *rows = 0;
    *oldest_age_ms = 0;
    MDB_txn *txn;
    int64_t created;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return eoc__store_fail(s, rc, "read begin");
    rc = eoc__store_outbox_stat(s, txn, rows, &created);
    mdb_txn_abort(txn);
    if (rc)
        return eoc__store_fail(s, rc, "outbox stat");
    if (created)
        *oldest_age_ms = eoc__now_ms() - created;
    return EOC_OK;
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
        eoc__outseg_rd_t seg;
        uint64_t last;
        if (!(rc = mdb_cursor_get(c, &k, &d, MDB_LAST))) {
            if (k.mv_size == 8 &&
                !eoc__outseg_open(&seg, eoc__be64_get(k.mv_data), d.mv_data, d.mv_size, NULL, &last))
                *end = last + 1;
            else
                rc = MDB_CORRUPTED;
        }
        mdb_cursor_close(c);
    }
    mdb_txn_abort(txn);
    return rc && rc != MDB_NOTFOUND ? eoc__store_fail(s, rc, "outbox end") : EOC_OK;
}

/* ------------------------------------------------------------------ */
/* removal                                                            */
/* ------------------------------------------------------------------ */

/* Removes the rows with seq < upto through `txn`: whole segments, and the
 * mark that hides the rest; an LMDB code. */
static int outbox_delete_below(eoc__store_t *s, MDB_txn *txn, uint64_t upto)
{
    uint64_t first, next;
    int rc;
    if ((rc = eoc__store_meta_u64(txn, s->meta, META_OUTBOX_FIRST, &first)) ||
        (rc = eoc__store_meta_u64(txn, s->meta, META_OUTBOX_NEXT, &next)))
        return rc;
    if (upto > next) /* never hide rows not written yet */
        upto = next;
    if (upto <= first)
        return 0;
    MDB_cursor *c;
    if ((rc = mdb_cursor_open(txn, s->outbox, &c)))
        return rc;
    MDB_val k, d;
    for (rc = mdb_cursor_get(c, &k, &d, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) { /* after a delete: the next one */
        eoc__outseg_rd_t seg;
        uint64_t last;
        if (k.mv_size != 8 ||
            eoc__outseg_open(&seg, eoc__be64_get(k.mv_data), d.mv_data, d.mv_size, NULL, &last)) {
            rc = MDB_CORRUPTED;
            break;
        }
        if (last >= upto || (rc = mdb_cursor_del(c, 0)))
            break;
    }
    mdb_cursor_close(c);
    if (rc && rc != MDB_NOTFOUND)
        return rc;
    return eoc__store_put_meta_u64(txn, s->meta, META_OUTBOX_FIRST, upto);
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

/* ------------------------------------------------------------------ */
/* cutting one row, the schema 3 layout                               */
/* ------------------------------------------------------------------ */

int eoc__store_outbox_cut(eoc__store_t *s, MDB_txn *txn, uint64_t seq)
{
    struct rows r;
    eoc__buf_t out = {0};
    uint64_t at, last = 0;
    const void *v;
    size_t len;
    uint32_t kept = 0;
    int found = 0;
    int rc = rows_open(s, txn, seq, &r);
    if (!rc && !r.in_seg)
        rc = MDB_NOTFOUND; /* not in the segment that would hold it */
    if (!rc) {
        eoc__outseg_begin(&out);
        int n;
        while ((n = eoc__outseg_next(&r.seg, &at, &v, &len)) > 0) {
            if (at == seq && at >= r.from) {
                found = 1;
                continue;
            }
            eoc__outseg_add(&out, at - r.seg.key, v, len);
            last = at;
            kept++;
        }
        if (n < 0)
            rc = MDB_CORRUPTED;
        else if (!found)
            rc = MDB_NOTFOUND;
        else if (out.oom)
            rc = ENOMEM;
    }
    if (!rc && kept) {
        eoc__outseg_finish(&out, kept, last);
        MDB_val d = {out.len, out.p};
        rc = mdb_cursor_put(r.c, &r.k, &d, MDB_CURRENT);
    } else if (!rc) {
        rc = mdb_cursor_del(r.c, 0);
    }
    eoc__buf_free(&out);
    rows_close(&r);
    return rc;
}

int eoc__store_outbox_upgrade(eoc__store_t *s, MDB_txn *txn)
{
    MDB_cursor *c;
    eoc__buf_t out = {0};
    int rc = mdb_cursor_open(txn, s->outbox, &c);
    if (rc)
        return rc;
    /* Key by key: a rewritten value must not be met again. */
    for (uint64_t at = 0;; at++) {
        unsigned char kb[8];
        eoc__be64_put(kb, at);
        MDB_val k = {8, kb}, d;
        if ((rc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE)))
            break;
        if (k.mv_size != 8) {
            rc = MDB_CORRUPTED;
            break;
        }
        at = eoc__be64_get(k.mv_data);
        eoc__outseg_single(&out, at, d.mv_data, d.mv_size);
        if (out.oom) {
            rc = ENOMEM;
            break;
        }
        MDB_val seg = {out.len, out.p};
        eoc__be64_put(kb, at);
        k = (MDB_val){8, kb};
        if ((rc = mdb_put(txn, s->outbox, &k, &seg, 0)))
            break;
    }
    eoc__buf_free(&out);
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND ? 0 : rc;
}
