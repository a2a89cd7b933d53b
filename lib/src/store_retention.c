/*
 * store_retention.c - inbox retention. A record's inbox row is needed only
 * while the record can still arrive again; retention removes rows behind
 * each partition's committed offset by age or count. It finds them through
 * a position index, (partition id, offset) -> (inbox seq, time), which it
 * builds itself behind the log (pos_catch_up), so a batch dirties no page
 * per partition. Retention runs in a transaction of its own
 * (eoc__store_prune), or inside a batch (eoc__store_prune_batch: in
 * eos.mode=kafka, whose hooks stage a changelog tombstone per removed ID,
 * so the deletions commit with the batch, after its Kafka transaction).
 */
#include "store_int.h"

#include "util.h"

#include <errno.h>
#include <string.h>

#define POS_CATCHUP_MAX 200000 /* log rows indexed per retention pass */

/* Extends the position index (tp id, offset) -> (seq, time) over inbox log
 * rows from META_POS_NEXT on, at most POS_CATCHUP_MAX of them; retention
 * reads only indexed rows, so it never prunes a row it has not seen. A
 * re-submitted record at the same position replaces the older pointer.
 * Returns an LMDB code. */
static int pos_catch_up(eoc__store_t *s, MDB_txn *txn)
{
    uint64_t next;
    int rc = eoc__store_meta_u64(txn, s->meta, META_POS_NEXT, &next);
    if (rc)
        return rc;
    MDB_cursor *c;
    if ((rc = mdb_cursor_open(txn, s->inbox, &c)))
        return rc;
    unsigned char kb[8];
    eoc__be64_put(kb, next);
    MDB_val k = {8, kb}, d;
    size_t n = 0;
    for (rc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE); rc == 0 && n < POS_CATCHUP_MAX;
         rc = mdb_cursor_get(c, &k, &d, MDB_NEXT), n++) {
        eoc__inrow_t row;
        if (k.mv_size != 8 || eoc__inrow_decode(d.mv_data, d.mv_size, &row) != 0) {
            rc = MDB_CORRUPTED;
            break;
        }
        unsigned char pk[EOC__POS_KEY_LEN], pv[EOC__POS_VAL_LEN];
        eoc__pos_key(pk, row.tp_id, row.offset);
        eoc__pos_val(pv, eoc__be64_get(k.mv_data), row.time_ms);
        MDB_val pkv = {sizeof(pk), pk}, pvv = {sizeof(pv), pv};
        if ((rc = mdb_put(txn, s->inbox_pos, &pkv, &pvv, 0)))
            break;
        next = eoc__be64_get(k.mv_data) + 1;
    }
    mdb_cursor_close(c);
    if (rc && rc != MDB_NOTFOUND)
        return rc;
    return eoc__store_put_meta_u64(txn, s->meta, META_POS_NEXT, next);
}

/* Prunes one partition's entries below `limit` (and older than `before`
 * when before > 0); returns an LMDB code. Each removed row is handed to
 * the hooks and noted for the index (which forgets it at commit); DEAD
 * rows are counted in *dead. */
static int prune_tp(eoc__store_t *s, MDB_txn *txn, uint32_t tp_id, int64_t limit, int64_t before,
                    size_t max, const eoc__prune_hooks_t *h, const char *topic,
                    int32_t partition, uint64_t *pruned, uint64_t *dead)
{
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, s->inbox_pos, &c);
    if (rc)
        return rc;
    unsigned char kb[EOC__POS_KEY_LEN];
    eoc__pos_key(kb, tp_id, 0);
    MDB_val k = {sizeof(kb), kb}, d;
    for (rc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE); rc == 0 && *pruned < max;
         rc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) {
        if (k.mv_size != EOC__POS_KEY_LEN || d.mv_size != EOC__POS_VAL_LEN)
            break;
        uint32_t key_tp;
        int64_t off, t;
        uint64_t seq;
        eoc__pos_key_decode(k.mv_data, &key_tp, &off);
        eoc__pos_val_decode(d.mv_data, &seq, &t);
        if (key_tp != tp_id || off >= limit || (before > 0 && t >= before))
            break;
        unsigned char sk[8];
        eoc__be64_put(sk, seq);
        MDB_val lk = {8, sk}, ld;
        rc = mdb_get(txn, s->inbox, &lk, &ld);
        eoc__inrow_t row;
        if (rc == 0 && eoc__inrow_decode(ld.mv_data, ld.mv_size, &row) == 0) {
            *dead += row.disposition == EOC__DISP_DEAD;
            if (s->idx &&
                (rc = eoc__store_unindex_push(s, eoc__store_id_hash(row.id, row.id_len), seq)))
                break;
            if (h && h->removed) {
                eoc_err_t err = h->removed(h->opaque, topic, partition, row.id, row.id_len);
                if (err != EOC_OK) {
                    rc = err == EOC_ERR_NOMEM ? ENOMEM : EIO;
                    break;
                }
            }
        }
        if ((rc == 0 && (rc = mdb_del(txn, s->inbox, &lk, NULL))) || (rc && rc != MDB_NOTFOUND) ||
            (rc = mdb_cursor_del(c, 0)))
            break;
        (*pruned)++;
    }
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* The prune itself, in `txn`: every partition the hooks want (all of them
 * without hooks). Returns an LMDB code. */
static int prune_txn(eoc__store_t *s, MDB_txn *txn, int64_t age_ms, int64_t count, size_t max,
                     const eoc__prune_hooks_t *h, uint64_t *pruned, uint64_t *dead)
{
    MDB_cursor *c;
    int rc;
    if ((rc = pos_catch_up(s, txn)) || (rc = mdb_cursor_open(txn, s->offsets, &c)))
        return rc;
    int64_t before = age_ms > 0 ? eoc__now_ms() - age_ms : 0;
    MDB_val k, d;
    for (rc = mdb_cursor_get(c, &k, &d, MDB_FIRST); rc == 0 && *pruned < max;
         rc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) {
        int64_t committed;
        uint32_t tp_id;
        char topic[EOC__TP_KEY_MAX + 1] = "";
        int32_t partition = -1;
        if (eoc__offset_decode(d.mv_data, d.mv_size, &committed, &tp_id) != 0)
            continue;
        if (h && (eoc__tp_key_decode(k.mv_data, k.mv_size, topic, sizeof(topic), &partition) != 0 ||
                  (h->wants && !h->wants(h->opaque, topic, partition))))
            continue;
        /* Never at or above the committed offset: those can still arrive.
         * Either horizon qualifies an entry: first everything more than
         * `count` offsets behind, then what is older than the age horizon. */
        if (count > 0 && (rc = prune_tp(s, txn, tp_id, committed - count, 0, max, h, topic,
                                        partition, pruned, dead)))
            break;
        if (age_ms > 0 && (rc = prune_tp(s, txn, tp_id, committed, before, max, h, topic,
                                         partition, pruned, dead)))
            break;
    }
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

eoc_err_t eoc__store_prune(eoc__store_t *s, int64_t age_ms, int64_t count, size_t max,
                           uint64_t *pruned)
{
    *pruned = 0;
    if (s->rdonly)
        return EOC_ERR_READ_ONLY;
    if (s->batch)
        return EOC_ERR_STATE; /* between batches only */
    if (age_ms <= 0 && count <= 0)
        return EOC_OK;
    s->nunindex = 0;
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc)
        return eoc__store_fail(s, rc, "prune begin");
    uint64_t dead = 0, dead_total;
    rc = prune_txn(s, txn, age_ms, count, max, NULL, pruned, &dead);
    if (!rc && dead && !(rc = eoc__store_meta_u64(txn, s->meta, META_INBOX_DEAD, &dead_total)))
        rc = eoc__store_put_meta_u64(txn, s->meta, META_INBOX_DEAD,
                                     dead_total > dead ? dead_total - dead : 0);
    if (rc) {
        mdb_txn_abort(txn);
        s->nunindex = 0;
        *pruned = 0;
        return eoc__store_fail(s, rc, "prune");
    }
    if ((rc = eoc__store_commit_txn(s, txn))) {
        s->nunindex = 0;
        *pruned = 0;
        return eoc__store_fail(s, rc, "prune commit");
    }
    eoc__store_unindex_done(s);
    return EOC_OK;
}

eoc_err_t eoc__store_prune_batch(eoc__store_t *s, int64_t age_ms, int64_t count, size_t max,
                                 const eoc__prune_hooks_t *h, uint64_t *pruned)
{
    *pruned = 0;
    if (!s->batch || s->rec)
        return EOC_ERR_STATE;
    if (age_ms <= 0 && count <= 0)
        return EOC_OK;
    uint64_t dead = 0;
    eoc__store_inbox_untail(s);
    int rc = prune_txn(s, s->batch, age_ms, count, max, h, pruned, &dead);
    if (rc) {
        *pruned = 0;
        return eoc__store_fail(s, rc, "prune");
    }
    s->dead_gone += dead;
    return EOC_OK;
}
