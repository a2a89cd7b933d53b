/*
 * store_kafka.c - what eos.mode=kafka keeps in the store besides the
 * keyspaces every mode has (see changelog.h and txn.h):
 *
 *   - the batch's outgoing rows (outputs, dead letters, changelog entries)
 *     are staged as outbox rows of the open batch, so a rerun or a
 *     record's rollback drops them with the LMDB writes they belong to;
 *     the commit path produces them into the Kafka transaction and
 *     removes them in the same LMDB transaction (the relay never sees
 *     them);
 *   - each changelog partition's position (the offset after the last
 *     changelog record LMDB holds), a meta value written with the batch
 *     or the restore step it follows;
 *   - a full restore first drops the partition's state (a key prefix).
 */
#include "store_int.h"

#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLPOS_NAME_MAX 600

static void clpos_name(char *buf, const char *topic, int32_t partition)
{
    snprintf(buf, CLPOS_NAME_MAX, "clpos/%s/%d", topic, partition);
}

eoc_err_t eoc__store_clpos_get(eoc__store_t *s, const char *topic, int32_t partition, int64_t *pos)
{
    char name[CLPOS_NAME_MAX];
    unsigned char v[8];
    size_t len = sizeof(v);
    clpos_name(name, topic, partition);
    eoc_err_t err = eoc__store_meta_get(s, name, v, &len);
    if (err == EOC_OK && len != 8)
        return EOC_ERR_NOT_FOUND;
    if (err == EOC_OK)
        *pos = (int64_t)eoc__be64_get(v);
    return err;
}

eoc_err_t eoc__store_clpos_set(eoc__store_t *s, const char *topic, int32_t partition, int64_t pos)
{
    char name[CLPOS_NAME_MAX];
    unsigned char v[8];
    clpos_name(name, topic, partition);
    eoc__be64_put(v, (uint64_t)pos);
    return eoc__store_meta_put(s, name, v, pos >= 0 ? 8 : 0);
}

eoc_err_t eoc__store_clpos_list(eoc__store_t *s,
                                void (*cb)(void *opaque, const char *topic, int32_t partition,
                                           int64_t pos),
                                void *opaque)
{
    MDB_txn *txn;
    MDB_cursor *c;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return eoc__store_fail(s, rc, "read begin");
    if ((rc = mdb_cursor_open(txn, s->meta, &c))) {
        mdb_txn_abort(txn);
        return eoc__store_fail(s, rc, "meta cursor");
    }
    MDB_val k = {6, (void *)"clpos/"}, d;
    for (rc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) {
        if (k.mv_size < 6 || memcmp(k.mv_data, "clpos/", 6) != 0)
            break;
        char name[CLPOS_NAME_MAX];
        size_t n = k.mv_size - 6 < sizeof(name) - 1 ? k.mv_size - 6 : sizeof(name) - 1;
        memcpy(name, (const char *)k.mv_data + 6, n);
        name[n] = 0;
        char *slash = strrchr(name, '/');
        if (!slash || d.mv_size != 8)
            continue;
        *slash = 0;
        cb(opaque, name, (int32_t)atoi(slash + 1), (int64_t)eoc__be64_get(d.mv_data));
    }
    mdb_cursor_close(c);
    mdb_txn_abort(txn);
    return EOC_OK;
}

eoc_err_t eoc__store_batch_rows_drain(eoc__store_t *s,
                                      int (*cb)(void *opaque, const eoc__outrow_t *row),
                                      void *opaque)
{
    if (!s->batch || s->rec)
        return EOC_ERR_STATE;
    if (!s->seg_rows)
        return EOC_OK;
    if (s->seg.oom)
        return EOC_ERR_NOMEM;
    /* The batch's rows are still its in-memory segment: they are handed
     * over from there and never written to the outbox table. */
    eoc__outseg_finish(&s->seg, s->seg_rows, s->seg_last);
    eoc__outseg_rd_t it;
    eoc__buf_t scratch = {0};
    eoc_err_t err = EOC_OK;
    uint64_t seq;
    const void *v;
    size_t len;
    int n = eoc__outseg_open(&it, s->outbox_next0, s->seg.p, s->seg.len, NULL, NULL) ? -1 : 1;
    while (n > 0 && (n = eoc__outseg_next(&it, &seq, &v, &len)) > 0) {
        eoc__outrow_t row;
        if (eoc__outrow_decode(v, len, &row, &scratch) != 0) {
            n = -1;
        } else if (cb(opaque, &row)) {
            err = EOC_ERR_KAFKA;
            break;
        }
    }
    if (n < 0)
        err = eoc__store_fail(s, MDB_CORRUPTED, "outbox row");
    eoc__buf_free(&scratch);
    if (!err)
        eoc__store_seg_begin(s); /* drained */
    return err;
}

eoc_err_t eoc__store_state_drop_prefix(eoc__store_t *s, const void *prefix, size_t len,
                                       uint64_t *dropped)
{
    if (!s->batch)
        return EOC_ERR_STATE;
    MDB_cursor *c;
    int rc = mdb_cursor_open(eoc__store_txn(s), s->state, &c);
    if (rc)
        return eoc__store_fail(s, rc, "state cursor");
    MDB_val k = {len, (void *)prefix}, d;
    *dropped = 0;
    for (rc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(c, &k, &d, MDB_GET_CURRENT)) {
        if (k.mv_size < len || memcmp(k.mv_data, prefix, len) != 0)
            break;
        if ((rc = mdb_cursor_del(c, 0)))
            break;
        (*dropped)++;
    }
    mdb_cursor_close(c);
    return rc && rc != MDB_NOTFOUND ? eoc__store_fail(s, rc, "state drop") : EOC_OK;
}

eoc_err_t eoc__store_state_put_raw(eoc__store_t *s, const void *key, size_t klen, const void *v,
                                   size_t vlen, int del)
{
    if (!s->batch)
        return EOC_ERR_STATE;
    if (klen == 0 || klen > EOC_ID_MAX)
        return EOC_ERR_INVALID_ARG;
    MDB_val k = {klen, (void *)key}, d = {vlen, (void *)v};
    int rc = del ? mdb_del(eoc__store_txn(s), s->state, &k, NULL)
                 : mdb_put(eoc__store_txn(s), s->state, &k, &d, 0);
    return rc && rc != MDB_NOTFOUND ? eoc__store_fail(s, rc, "state write") : EOC_OK;
}
