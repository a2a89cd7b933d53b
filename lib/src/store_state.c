/*
 * store_state.c - the handlers' state (eoc_state_*), and the records of
 * careful mode (careful.c) under meta keys per partition and record.
 */
#include "store_int.h"

#include <inttypes.h>
#include <stdio.h>

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

/* ---- careful mode's records (careful.c): meta keys per partition */

#define CAREFUL_NAME_MAX 600 /* "attempt/" + a topic (at most 249) + numbers */

static void careful_name(char *buf, const char *kind, const char *topic, int32_t partition)
{
    snprintf(buf, CAREFUL_NAME_MAX, "%s/%s/%d", kind, topic, partition);
}

eoc_err_t eoc__store_live_get(eoc__store_t *s, const char *topic, int32_t partition, int *live)
{
    char name[CAREFUL_NAME_MAX];
    unsigned char v[16];
    size_t len = sizeof(v);
    careful_name(name, "live", topic, partition);
    eoc_err_t err = eoc__store_meta_get(s, name, v, &len);
    *live = err == EOC_OK || err == EOC_ERR_TOO_LARGE;
    return err == EOC_ERR_NOT_FOUND || err == EOC_ERR_TOO_LARGE ? EOC_OK : err;
}

eoc_err_t eoc__store_live_set(eoc__store_t *s, const char *topic, int32_t partition, int live)
{
    char name[CAREFUL_NAME_MAX];
    careful_name(name, "live", topic, partition);
    return eoc__store_meta_put(s, name, live ? "1" : NULL, live ? 1 : 0);
}

eoc_err_t eoc__store_crashes_get(eoc__store_t *s, const char *topic, int32_t partition,
                                 uint64_t *at, uint64_t *n)
{
    char name[CAREFUL_NAME_MAX];
    unsigned char v[16];
    size_t len = sizeof(v);
    careful_name(name, "crash", topic, partition);
    eoc_err_t err = eoc__store_meta_get(s, name, v, &len);
    int ok = err == EOC_OK && len == 16;
    *at = ok ? eoc__be64_get(v) : 0;
    *n = ok ? eoc__be64_get(v + 8) : 0;
    return err == EOC_ERR_NOT_FOUND || err == EOC_ERR_TOO_LARGE ? EOC_OK : err;
}

eoc_err_t eoc__store_crashes_set(eoc__store_t *s, const char *topic, int32_t partition, uint64_t at,
                                 uint64_t n)
{
    char name[CAREFUL_NAME_MAX];
    unsigned char v[16];
    careful_name(name, "crash", topic, partition);
    eoc__be64_put(v, at);
    eoc__be64_put(v + 8, n);
    return eoc__store_meta_put(s, name, v, sizeof(v));
}

static void attempt_name(char *buf, const char *topic, int32_t partition, int64_t offset)
{
    snprintf(buf, CAREFUL_NAME_MAX, "attempt/%s/%d/%" PRId64, topic, partition, offset);
}

eoc_err_t eoc__store_attempts_get(eoc__store_t *s, const char *topic, int32_t partition,
                                  int64_t offset, uint64_t *n)
{
    char name[CAREFUL_NAME_MAX];
    unsigned char v[8];
    size_t len = sizeof(v);
    attempt_name(name, topic, partition, offset);
    eoc_err_t err = eoc__store_meta_get(s, name, v, &len);
    *n = err == EOC_OK && len == 8 ? eoc__be64_get(v) : 0;
    return err == EOC_ERR_NOT_FOUND || err == EOC_ERR_TOO_LARGE ? EOC_OK : err;
}

eoc_err_t eoc__store_attempts_set(eoc__store_t *s, const char *topic, int32_t partition,
                                  int64_t offset, uint64_t n)
{
    char name[CAREFUL_NAME_MAX];
    unsigned char v[8];
    attempt_name(name, topic, partition, offset);
    eoc__be64_put(v, n);
    return eoc__store_meta_put(s, name, v, sizeof(v));
}
