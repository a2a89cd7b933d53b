/*
 * store_admin.c - the public store API (eoc.h): read-only views for tools
 * and an administrative handle for offline changes. A public eoc_store_t
 * wraps a read-only internal store.
 */
#include "store_int.h"

#include "error.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

struct eoc_store {
    eoc__store_t *s; /* opened EOC__STORE_RDONLY */
};

eoc_store_t *eoc_store_open_readonly(const char *dir, char *errstr, size_t errstr_size)
{
    eoc_store_t *p = calloc(1, sizeof(*p));
    if (!p) {
        eoc__errf(errstr, errstr_size, EOC_ERR_NOMEM, "out of memory");
        return NULL;
    }
    if (eoc__store_open(dir, 0, EOC__STORE_RDONLY, NULL, &p->s, errstr, errstr_size) != EOC_OK) {
        free(p);
        return NULL;
    }
    return p;
}

void eoc_store_close(eoc_store_t *p)
{
    if (!p)
        return;
    eoc__store_close(p->s);
    free(p);
}

/* Runs `fn` over the cursor of `dbi` from `start` (NULL: first) in one
 * read snapshot, until fn returns non-zero. */
static eoc_err_t ro_walk(eoc__store_t *s, MDB_dbi dbi, const MDB_val *start,
                         int (*fn)(void *ctx, const MDB_val *k, const MDB_val *d), void *ctx)
{
    MDB_txn *txn;
    MDB_cursor *c;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return eoc__err_from_mdb(rc);
    if ((rc = mdb_cursor_open(txn, dbi, &c))) {
        mdb_txn_abort(txn);
        return eoc__err_from_mdb(rc);
    }
    MDB_val k = start ? *start : (MDB_val){0, NULL}, d;
    for (rc = mdb_cursor_get(c, &k, &d, start ? MDB_SET_RANGE : MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &d, MDB_NEXT))
        if (fn(ctx, &k, &d))
            break;
    mdb_cursor_close(c);
    mdb_txn_abort(txn);
    return rc && rc != MDB_NOTFOUND ? eoc__err_from_mdb(rc) : EOC_OK;
}

struct state_walk {
    const void *prefix;
    size_t prefix_len;
    eoc_state_cb *cb;
    void *opaque;
};

static int state_step(void *ctx, const MDB_val *k, const MDB_val *d)
{
    struct state_walk *w = ctx;
    if (k->mv_size < w->prefix_len || memcmp(k->mv_data, w->prefix, w->prefix_len) != 0)
        return 1;
    return w->cb(w->opaque, k->mv_data, k->mv_size, d->mv_data, d->mv_size);
}

eoc_err_t eoc_store_state_foreach(eoc_store_t *p, const void *prefix, size_t prefix_len,
                                  eoc_state_cb *cb, void *opaque)
{
    eoc__store_t *s = p->s;
    struct state_walk w = {prefix, prefix_len, cb, opaque};
    MDB_val start = {prefix_len, (void *)prefix};
    return ro_walk(s, s->state, prefix_len ? &start : NULL, state_step, &w);
}

struct offsets_walk {
    eoc_position_cb *cb;
    void *opaque;
};

static int offsets_step(void *ctx, const MDB_val *k, const MDB_val *d)
{
    struct offsets_walk *w = ctx;
    char topic[EOC__TP_KEY_MAX];
    eoc_position_t pos = {topic, 0, 0};
    if (eoc__tp_key_decode(k->mv_data, k->mv_size, topic, sizeof(topic), &pos.partition) != 0 ||
        eoc__offset_decode(d->mv_data, d->mv_size, &pos.next_offset, NULL) != 0)
        return 0;
    return w->cb(w->opaque, &pos);
}

eoc_err_t eoc_store_offsets_foreach(eoc_store_t *p, eoc_position_cb *cb, void *opaque)
{
    eoc__store_t *s = p->s;
    struct offsets_walk w = {cb, opaque};
    return ro_walk(s, s->offsets, NULL, offsets_step, &w);
}

struct clpos_walk {
    int (*cb)(void *, const eoc_position_t *);
    void *opaque;
    int stop;
};

static void clpos_step(void *ctx, const char *topic, int32_t partition, int64_t pos)
{
    struct clpos_walk *w = ctx;
    eoc_position_t p = {topic, partition, pos};
    if (!w->stop)
        w->stop = w->cb(w->opaque, &p);
}

eoc_err_t eoc_store_changelog_foreach(eoc_store_t *p,
                                      int (*cb)(void *opaque, const eoc_position_t *), void *opaque)
{
    struct clpos_walk w = {cb, opaque, 0};
    return eoc__store_clpos_list(p->s, clpos_step, &w);
}

struct outbox_walk {
    eoc_outbox_row_cb *cb;
    void *opaque;
    eoc__buf_t id, topic;
};

static int outbox_step(void *ctx, uint64_t seq, const eoc__outrow_t *row)
{
    struct outbox_walk *w = ctx;
    /* The public row has NUL-terminated id and topic. */
    eoc__buf_reset(&w->id);
    eoc__buf_put(&w->id, row->id, row->id_len);
    eoc__buf_put(&w->id, "", 1);
    eoc__buf_reset(&w->topic);
    eoc__buf_put(&w->topic, row->topic, row->topic_len);
    eoc__buf_put(&w->topic, "", 1);
    if (w->id.oom || w->topic.oom)
        return 1;
    eoc_outbox_row_t out = {seq,
                            row->created_ms,
                            (const char *)w->id.p,
                            (const char *)w->topic.p,
                            row->partition,
                            row->key,
                            row->key_len,
                            row->value,
                            row->value_len,
                            row->header_count,
                            row->headers};
    return w->cb(w->opaque, &out);
}

eoc_err_t eoc_store_outbox_foreach(eoc_store_t *p, eoc_outbox_row_cb *cb, void *opaque)
{
    eoc__store_t *s = p->s;
    struct outbox_walk w = {cb, opaque, {0}, {0}};
    eoc_err_t err = eoc__store_outbox_scan(s, 0, SIZE_MAX, outbox_step, &w, NULL);
    eoc__buf_free(&w.id);
    eoc__buf_free(&w.topic);
    return err;
}

/* One read snapshot, cheap enough for tools to call often: counters in
 * meta, the oldest entries are the logs' first rows, and the outbox's rows
 * are counted from its segments' headers (one per batch not yet
 * delivered). */
eoc_err_t eoc_store_info(eoc_store_t *p, eoc_store_info_t *out)
{
    eoc__store_t *s = p->s;
    memset(out, 0, sizeof(*out));
    MDB_txn *txn;
    MDB_cursor *c;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return eoc__err_from_mdb(rc);
    MDB_stat st;
    uint64_t v = 0;
    if (!(rc = mdb_stat(txn, s->inbox, &st)))
        out->inbox_entries = st.ms_entries;
    if (!rc)
        rc = eoc__store_outbox_stat(s, txn, &out->outbox_rows, &out->outbox_oldest_ms);
    if (!rc && !(rc = mdb_stat(txn, s->state, &st)))
        out->state_entries = st.ms_entries;
    if (!rc && !(rc = eoc__store_meta_u64(txn, s->meta, META_SCHEMA, &v)))
        out->schema_version = (uint32_t)v;
    if (!rc && !(rc = eoc__store_meta_u64(txn, s->meta, META_INBOX_DEAD, &v))) {
        out->inbox_dead_lettered = v < out->inbox_entries ? v : out->inbox_entries;
        out->inbox_applied = out->inbox_entries - out->inbox_dead_lettered;
    }
    MDB_val k, d;
    eoc__inrow_t in;
    if (!rc && !(rc = mdb_cursor_open(txn, s->inbox, &c))) {
        if (!mdb_cursor_get(c, &k, &d, MDB_FIRST) &&
            eoc__inrow_decode(d.mv_data, d.mv_size, &in) == 0)
            out->inbox_oldest_ms = in.time_ms;
        mdb_cursor_close(c);
    }
    mdb_txn_abort(txn);
    eoc__store_map_usage(s, &out->map_used, &out->map_size);
    return rc ? eoc__err_from_mdb(rc) : EOC_OK;
}

struct eoc_store_admin {
    eoc__lock_t lock; /* exclusive: no worker runs on the store meanwhile */
    eoc__store_t *s;
};

eoc_store_admin_t *eoc_store_admin_open(const char *dir, char *errstr, size_t errstr_size)
{
    eoc_store_admin_t *a = calloc(1, sizeof(*a));
    if (!a) {
        eoc__errf(errstr, errstr_size, EOC_ERR_NOMEM, "out of memory");
        return NULL;
    }
    if (eoc__lock_take(&a->lock, dir, 1, errstr, errstr_size) != 0) {
        free(a);
        return NULL;
    }
    if (eoc__store_open(dir, 0, EOC__STORE_NOINDEX, NULL, &a->s, errstr, errstr_size) != EOC_OK) {
        eoc__lock_release(&a->lock);
        free(a);
        return NULL;
    }
    return a;
}

void eoc_store_admin_close(eoc_store_admin_t *a)
{
    if (!a)
        return;
    eoc__store_close(a->s);
    eoc__lock_release(&a->lock);
    free(a);
}

eoc_err_t eoc_store_admin_rewind(eoc_store_admin_t *a, const char *topic, int32_t partition,
                                 int64_t offset, char *errstr, size_t errstr_size)
{
    if (!a || !topic || offset < 0) {
        return eoc__errf(errstr, errstr_size, EOC_ERR_INVALID_ARG, "rewind: invalid arguments");
    }
    eoc__store_t *s = a->s;
    eoc_err_t err = EOC_OK;
    MDB_txn *txn;
    int64_t cur = -1;
    uint32_t tp_id = 0;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc) {
        return eoc__errf(errstr, errstr_size, eoc__err_from_mdb(rc), "%s: %s", s->dir,
                         mdb_strerror(rc));
    }
    rc = eoc__store_offset_read(s, txn, topic, partition, &cur, &tp_id);
    if (rc == MDB_NOTFOUND) {
        err = eoc__errf(errstr, errstr_size, EOC_ERR_NOT_FOUND, "%s: no stored offset for %s[%d]",
                        s->dir, topic, partition);
    } else if (rc) {
        err = eoc__errf(errstr, errstr_size, eoc__err_from_mdb(rc), "%s: %s", s->dir,
                        mdb_strerror(rc));
    } else if (offset > cur) {
        eoc__errf(errstr, errstr_size, EOC_OK,
                  "%s[%d]: offset %lld is ahead of the stored %lld: moving forward would skip "
                  "records",
                  topic, partition, (long long)offset, (long long)cur);
        err = EOC_ERR_INVALID_ARG;
    } else if ((rc = eoc__store_offset_write(s, txn, topic, partition, tp_id, offset)) != 0) {
        err = eoc__errf(errstr, errstr_size, eoc__err_from_mdb(rc), "%s: %s", s->dir,
                        mdb_strerror(rc));
    } else {
        rc = eoc__store_commit_txn(s, txn);
        txn = NULL;
        if (!rc) /* an administrative change is on disk when the call returns */
            rc = mdb_env_sync(s->env, 1);
        if (rc) {
            err = eoc__errf(errstr, errstr_size, eoc__err_from_mdb(rc), "%s: %s", s->dir,
                            mdb_strerror(rc));
        }
    }
    if (txn)
        mdb_txn_abort(txn);
    return err;
}

eoc_err_t eoc_store_admin_outbox_drop(eoc_store_admin_t *a, uint64_t seq, char *errstr,
                                      size_t errstr_size)
{
    eoc_err_t err = eoc__store_outbox_replace(a->s, seq, NULL);
    if (err == EOC_ERR_NOT_FOUND)
        return eoc__errf(errstr, errstr_size, err, "no outbox row %llu", (unsigned long long)seq);
    if (err != EOC_OK)
        return eoc__errf(errstr, errstr_size, err, "dropping outbox row %llu: %s",
                         (unsigned long long)seq, eoc_strerror(err));
    return EOC_OK;
}
