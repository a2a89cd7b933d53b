/*
 * store_state.c - the handlers' state (eoc_state_*): their keys and values
 * as they wrote them, in the batch's (or the record's) transaction.
 */
#include "store_int.h"

static int key_ok(size_t klen)
{
    return klen > 0 && klen <= EOC_ID_MAX;
}

eoc_err_t eoc__store_state_get(eoc__store_t *s, const void *key, size_t klen, const void **v,
                               size_t *vlen)
{
    if (!s->batch)
        return EOC_ERR_STATE;
    if (!key_ok(klen))
        return EOC_ERR_INVALID_ARG;
    MDB_val k = {klen, (void *)key}, d;
    int rc = mdb_get(eoc__store_txn(s), s->state, &k, &d);
    if (rc)
        return rc == MDB_NOTFOUND ? EOC_ERR_NOT_FOUND : eoc__store_fail(s, rc, "state get");
    *v = d.mv_data;
    *vlen = d.mv_size;
    return EOC_OK;
}

eoc_err_t eoc__store_state_put(eoc__store_t *s, const void *key, size_t klen, const void *v,
                               size_t vlen)
{
    if (!s->batch)
        return EOC_ERR_STATE;
    if (!key_ok(klen))
        return EOC_ERR_INVALID_ARG;
    MDB_val k = {klen, (void *)key}, d = {vlen, (void *)v};
    int rc = mdb_put(eoc__store_txn(s), s->state, &k, &d, 0);
    return rc ? eoc__store_fail(s, rc, "state put") : EOC_OK;
}

eoc_err_t eoc__store_state_del(eoc__store_t *s, const void *key, size_t klen)
{
    if (!s->batch)
        return EOC_ERR_STATE;
    if (!key_ok(klen))
        return EOC_ERR_INVALID_ARG;
    MDB_val k = {klen, (void *)key};
    int rc = mdb_del(eoc__store_txn(s), s->state, &k, NULL);
    return rc && rc != MDB_NOTFOUND ? eoc__store_fail(s, rc, "state del") : EOC_OK;
}
