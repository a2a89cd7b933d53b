/*
 * store_meta.c - the meta keyspace: the store's own counters (schema
 * version, next sequence numbers, partition ids), small named values, and
 * careful mode's records per partition and record (careful.c).
 */
#include "store_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

int eoc__store_meta_u64(MDB_txn *txn, MDB_dbi dbi, const char *name, uint64_t *v)
{
    MDB_val k = {strlen(name), (void *)name}, d;
    int rc = mdb_get(txn, dbi, &k, &d);
    if (rc == MDB_NOTFOUND) {
        *v = 0;
        return 0;
    }
    if (rc)
        return rc;
    return eoc__le_decode(d.mv_data, d.mv_size, 8, v) ? MDB_CORRUPTED : 0;
}

int eoc__store_put_meta_u64(MDB_txn *txn, MDB_dbi dbi, const char *name, uint64_t v)
{
    unsigned char b[8];
    eoc__le_encode(b, sizeof(b), v);
    MDB_val k = {strlen(name), (void *)name}, d = {8, b};
    return mdb_put(txn, dbi, &k, &d, 0);
}

eoc_err_t eoc__store_meta_get(eoc__store_t *s, const char *name, void *buf, size_t *len)
{
    if (!s->batch)
        return EOC_ERR_STATE;
    MDB_val k = {strlen(name), (void *)name}, d;
    int rc = mdb_get(eoc__store_txn(s), s->meta, &k, &d);
    if (rc)
        return rc == MDB_NOTFOUND ? EOC_ERR_NOT_FOUND : eoc__store_fail(s, rc, "meta get");
    if (d.mv_size > *len)
        return EOC_ERR_TOO_LARGE;
    memcpy(buf, d.mv_data, d.mv_size);
    *len = d.mv_size;
    return EOC_OK;
}

eoc_err_t eoc__store_meta_put(eoc__store_t *s, const char *name, const void *buf, size_t len)
{
    if (!s->batch)
        return EOC_ERR_STATE;
    MDB_val k = {strlen(name), (void *)name}, d = {len, (void *)buf};
    int rc = len ? mdb_put(eoc__store_txn(s), s->meta, &k, &d, 0)
                 : mdb_del(eoc__store_txn(s), s->meta, &k, NULL);
    return rc && rc != MDB_NOTFOUND ? eoc__store_fail(s, rc, "meta put") : EOC_OK;
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
