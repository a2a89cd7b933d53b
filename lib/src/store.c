/*
 * store.c - the LMDB environment of one data directory: open and close,
 * the batch and record transactions, what is known to be on disk. See
 * store.h for the contract and store_int.h for the other files of the
 * store.
 */
#include "store_int.h"

#include "crash.h"
#include "error.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static void mark_on_disk(eoc__store_t *s, size_t txnid)
{
    size_t cur = atomic_load(&s->on_disk);
    while (cur < txnid && !atomic_compare_exchange_weak(&s->on_disk, &cur, txnid))
        ;
}

/*
 * LMDB never writes a page that one transaction allocated and freed again:
 * the file can end before the last page the meta counts, the missing pages
 * being free. The open's check (check_file_size) cannot tell that file
 * from a truncated one, so after a commit the file is extended to cover
 * every counted page. fallocate, not ftruncate: it never shortens a file
 * another writer has meanwhile extended, and keeps what is there. Free
 * pages are never read before they are written. Best effort: a file
 * system without fallocate, or a full disk, leaves the file as LMDB did.
 */
static void cover_pages(eoc__store_t *s, size_t last_pgno)
{
    if (last_pgno < atomic_load(&s->covered))
        return;
    MDB_stat st;
    struct stat sb;
    int fd;
    if (mdb_env_stat(s->env, &st) || mdb_env_get_fd(s->env, &fd) || fstat(fd, &sb))
        return;
    off_t need = (off_t)(last_pgno + 1) * (off_t)st.ms_psize;
    if (sb.st_size < need && fallocate(fd, 0, sb.st_size, need - sb.st_size) != 0)
        return;
    size_t cur = atomic_load(&s->covered);
    while (cur < last_pgno + 1 && !atomic_compare_exchange_weak(&s->covered, &cur, last_pgno + 1))
        ;
}

/* Commits a top-level write transaction. A commit that wrote flushed its
 * pages, and with them the previous transaction's meta page
 * (MDB_NOMETASYNC). One that changed nothing writes and flushes nothing
 * and leaves the last transaction id as it was: it proves nothing, unless
 * another process's commit took that id meanwhile (which flushed). */
int eoc__store_commit_txn(eoc__store_t *s, MDB_txn *txn)
{
    size_t id = mdb_txn_id(txn);
    int rc = mdb_txn_commit(txn);
    MDB_envinfo info;
    if (rc || mdb_env_info(s->env, &info))
        return rc;
    if (info.me_last_txnid >= id)
        mark_on_disk(s, id - 1);
    cover_pages(s, info.me_last_pgno);
    return rc;
}

/* ------------------------------------------------------------------ */
/* open / close                                                        */
/* ------------------------------------------------------------------ */

/*
 * A store file shorter than the pages LMDB's meta says are in use (a
 * truncated copy, a full disk during a copy, flipped bytes in the meta)
 * would be read through the map past the file's end: SIGBUS. Refused at
 * open, with the sizes.
 */
static eoc_err_t check_file_size(eoc__store_t *s, char *errstr, size_t errstr_size)
{
    MDB_envinfo ei;
    MDB_stat es;
    struct stat sb;
    int fd;
    int rc = mdb_env_info(s->env, &ei);
    if (!rc)
        rc = mdb_env_stat(s->env, &es);
    if (!rc)
        rc = mdb_env_get_fd(s->env, &fd);
    if (rc)
        return eoc__errf(errstr, errstr_size, eoc__err_from_mdb(rc), "%s: %s", s->dir,
                         mdb_strerror(rc));
    if (fstat(fd, &sb) != 0)
        return eoc__errf(errstr, errstr_size, EOC_ERR_IO, "%s/data.mdb: %s", s->dir,
                         strerror(errno));
    uint64_t need = ((uint64_t)ei.me_last_pgno + 1) * es.ms_psize;
    if (need > (uint64_t)sb.st_size || ei.me_last_pgno * (uint64_t)es.ms_psize > ei.me_mapsize)
        return eoc__errf(errstr, errstr_size, EOC_ERR_STORE,
                         "%s/data.mdb is damaged: %lld bytes, but its last used page (%llu of "
                         "%u bytes) needs %llu; not opened (restore it from a backup)",
                         s->dir, (long long)sb.st_size, (unsigned long long)ei.me_last_pgno,
                         es.ms_psize, (unsigned long long)need);
    return EOC_OK;
}

static int open_dbs(eoc__store_t *s, MDB_txn *txn)
{
    unsigned f = s->rdonly ? 0 : MDB_CREATE;
    int rc;
    if ((rc = mdb_dbi_open(txn, "offsets", f, &s->offsets)) ||
        (rc = mdb_dbi_open(txn, "inbox", f, &s->inbox)) ||
        (rc = mdb_dbi_open(txn, "inbox_pos", f, &s->inbox_pos)) ||
        (rc = mdb_dbi_open(txn, "outbox", f, &s->outbox)) ||
        (rc = mdb_dbi_open(txn, "state", f, &s->state)) ||
        (rc = mdb_dbi_open(txn, "meta", f, &s->meta)))
        return rc;
    return 0;
}

static eoc_err_t check_schema(eoc__store_t *s, MDB_txn *txn, char *errstr, size_t errstr_size)
{
    uint64_t v;
    int rc = eoc__store_meta_u64(txn, s->meta, META_SCHEMA, &v);
    if (rc) {
        return eoc__errf(errstr, errstr_size, eoc__err_from_mdb(rc),
                         "%s: reading schema version: %s", s->dir, mdb_strerror(rc));
    }
    if (v == 0 && !s->rdonly) {
        if ((rc = eoc__store_put_meta_u64(txn, s->meta, META_SCHEMA, EOC__SCHEMA_VERSION))) {
            return eoc__errf(errstr, errstr_size, eoc__err_from_mdb(rc),
                             "%s: writing schema version: %s", s->dir, mdb_strerror(rc));
        }
        return EOC_OK;
    }
    if (v == 3 && !s->rdonly) { /* schema 3 kept a value per outbox row */
        if ((rc = eoc__store_outbox_upgrade(s, txn)) ||
            (rc = eoc__store_put_meta_u64(txn, s->meta, META_SCHEMA, EOC__SCHEMA_VERSION))) {
            return eoc__errf(errstr, errstr_size, eoc__err_from_mdb(rc),
                             "%s: upgrading the outbox to schema %u: %s", s->dir,
                             EOC__SCHEMA_VERSION, mdb_strerror(rc));
        }
        if (s->log)
            eoc__log(s->log, EOC_LOG_NOTICE, "store: %s upgraded from schema 3 to %u", s->dir,
                     EOC__SCHEMA_VERSION);
        return EOC_OK;
    }
    if (v == 3) {
        eoc__errf(errstr, errstr_size, EOC_OK,
                  "%s: store schema version 3: open it writable once (a worker or an "
                  "administrative command) to upgrade it to version %u",
                  s->dir, EOC__SCHEMA_VERSION);
        return EOC_ERR_VERSION;
    }
    if (v != EOC__SCHEMA_VERSION) {
        eoc__errf(errstr, errstr_size, EOC_OK,
                  "%s: store schema version %llu, this eoc reads version %u: use the "
                  "matching eoc version or a new data directory",
                  s->dir, (unsigned long long)v, EOC__SCHEMA_VERSION);
        return EOC_ERR_VERSION;
    }
    return EOC_OK;
}

eoc_err_t eoc__store_open(const char *dir, uint64_t map_size, int flags, const eoc_log_t *log,
                          eoc__store_t **out, char *errstr, size_t errstr_size)
{
    *out = NULL;
    eoc__store_t *s = calloc(1, sizeof(*s));
    if (!s || !(s->dir = strdup(dir))) {
        free(s);
        return eoc__errf(errstr, errstr_size, EOC_ERR_NOMEM, "out of memory");
    }
    s->rdonly = !!(flags & EOC__STORE_RDONLY);
    s->log = log;
    s->lock.dir_fd = s->lock.file_fd = -1;

    eoc_err_t err = EOC_OK;
    int rc;
    MDB_txn *txn = NULL;
    /* Only a worker creates a store, and never over an existing file. */
    int creating = !(flags & (EOC__STORE_RDONLY | EOC__STORE_NOINDEX));
    char path[PATH_MAX];
    struct stat sb;
    snprintf(path, sizeof(path), "%s/data.mdb", dir);
    int exists = stat(path, &sb) == 0;
    if (!exists && errno == ENOENT && !creating) {
        err = eoc__errf(errstr, errstr_size, EOC_ERR_NOT_FOUND,
                        "no store in %s (a worker creates it; wrong --data directory?)", dir);
        goto fail;
    }
    if (exists && sb.st_size == 0) {
        err = eoc__errf(errstr, errstr_size, EOC_ERR_STORE,
                        "%s is empty (0 bytes): a damaged store, not opened; restore it from a "
                        "backup, or remove it to start an empty store (whose offsets then come "
                        "from Kafka: records before them are never applied again)",
                        path);
        goto fail;
    }
    if (creating && mkdir(dir, 0750) != 0 && errno != EEXIST) {
        err = eoc__errf(errstr, errstr_size, EOC_ERR_IO, "%s: cannot create data directory: %s",
                        dir, strerror(errno));
        goto fail;
    }
    if ((rc = mdb_env_create(&s->env)) || (rc = mdb_env_set_maxdbs(s->env, 8)) ||
        (map_size && (rc = mdb_env_set_mapsize(s->env, (size_t)map_size)))) {
        err =
            eoc__errf(errstr, errstr_size, eoc__err_from_mdb(rc), "%s: %s", dir, mdb_strerror(rc));
        goto fail;
    }
    /* Durable by construction: no MDB_NOSYNC, no MDB_WRITEMAP (a full disk
     * must be an error, not SIGBUS). MDB_NOMETASYNC: one flush per commit
     * instead of two, the meta page riding on the next flush (store.h,
     * "Durability"); integrity is kept. MDB_NOTLS: read transactions may
     * move between threads (relay, metrics). */
    unsigned envf = MDB_NOTLS | (s->rdonly ? 0 : MDB_NOMETASYNC) | (s->rdonly ? MDB_RDONLY : 0);
    if ((rc = mdb_env_open(s->env, dir, envf, 0640))) {
        err =
            eoc__errf(errstr, errstr_size, rc == ENOENT ? EOC_ERR_NOT_FOUND : eoc__err_from_mdb(rc),
                      "%s: cannot open store: %s", dir,
                      rc == ENOENT ? "no store here (wrong --data directory?)" : mdb_strerror(rc));
        goto fail;
    }
    if ((err = check_file_size(s, errstr, errstr_size)) != EOC_OK)
        goto fail;
    if (!exists && log)
        eoc__log(log, EOC_LOG_WARNING,
                 "store: created a NEW, EMPTY store in %s: the worker starts from the group's "
                 "committed offsets in Kafka, if any, and never applies the records before them "
                 "again; if a store was lost here, stop the worker and restore it",
                 dir);
    int dead = 0;
    mdb_reader_check(s->env, &dead); /* slots of killed processes */
    if (dead && log)
        eoc__log(log, EOC_LOG_NOTICE, "store: cleared %d stale reader slot(s)", dead);

    if ((rc = mdb_txn_begin(s->env, NULL, s->rdonly ? MDB_RDONLY : 0, &txn)) ||
        (rc = open_dbs(s, txn))) {
        /* MDB_CURSOR_FULL: a tree deeper than LMDB ever builds, i.e. a
         * damaged branch page. */
        if (rc == MDB_PAGE_NOTFOUND || rc == MDB_CORRUPTED || rc == MDB_INVALID ||
            rc == MDB_CURSOR_FULL)
            err = eoc__errf(errstr, errstr_size, EOC_ERR_STORE,
                            "%s/data.mdb is damaged (%s); not opened (restore it from a backup)",
                            dir, mdb_strerror(rc));
        else
            err = eoc__errf(errstr, errstr_size,
                            rc == MDB_NOTFOUND ? EOC_ERR_VERSION : eoc__err_from_mdb(rc), "%s: %s",
                            dir, rc == MDB_NOTFOUND ? "not an eoc store" : mdb_strerror(rc));
        goto fail;
    }
    if ((err = check_schema(s, txn, errstr, errstr_size)) != EOC_OK)
        goto fail;

    if (s->rdonly) {
        /* Commit, not abort: an aborted transaction closes the DBI handles
         * it opened, and every later read would fail with EINVAL. */
        rc = mdb_txn_commit(txn);
        txn = NULL;
        if (rc) {
            err = eoc__errf(errstr, errstr_size, eoc__err_from_mdb(rc), "%s: %s", dir,
                            mdb_strerror(rc));
            goto fail;
        }
        *out = s;
        return EOC_OK;
    }
    if (!(flags & EOC__STORE_NOINDEX)) {
        uint64_t next;
        if (eoc__lock_take(&s->lock, dir, 0, errstr, errstr_size) != 0) {
            err = EOC_ERR_LOCKED;
            goto fail;
        }
        if (!(s->idx = eoc__idindex_new())) {
            err = eoc__errf(errstr, errstr_size, EOC_ERR_NOMEM, "out of memory");
            goto fail;
        }
        MDB_stat st;
        if ((rc = eoc__store_meta_u64(txn, s->meta, META_INBOX_NEXT, &next)) ||
            (rc = mdb_stat(txn, s->inbox, &st)) ||
            (rc = eoc__idindex_reserve(s->idx, st.ms_entries) ? ENOMEM : 0) ||
            (rc = eoc__store_index_range(s, txn, 0, next))) {
            err = eoc__errf(errstr, errstr_size, eoc__err_from_mdb(rc), "%s: loading inbox: %s",
                            dir, mdb_strerror(rc));
            goto fail;
        }
        s->idx_next = next;
    }
    rc = eoc__store_commit_txn(s, txn); /* the schema version of a new store */
    txn = NULL;
    if (rc) {
        err =
            eoc__errf(errstr, errstr_size, eoc__err_from_mdb(rc), "%s: %s", dir, mdb_strerror(rc));
        goto fail;
    }
    if (log && s->idx)
        eoc__log(log, EOC_LOG_INFO, "store: opened %s, %zu inbox entries indexed", dir,
                 eoc__idindex_count(s->idx));
    *out = s;
    return EOC_OK;

fail:
    if (txn)
        mdb_txn_abort(txn);
    eoc__store_close(s);
    return err;
}

void eoc__store_close(eoc__store_t *s)
{
    if (!s)
        return;
    if (s->batch)
        eoc__store_abort(s);
    if (s->env)
        mdb_env_close(s->env);
    eoc__lock_release(&s->lock);
    eoc__idindex_free(s->idx);
    for (size_t i = 0; i < s->ntps; i++)
        free(s->tps[i].topic);
    free(s->tps);
    free(s->staged);
    free(s->unindex);
    eoc__buf_free(&s->enc);
    eoc__buf_free(&s->seg);
    free(s->dir);
    free(s);
}

const char *eoc__store_dir(const eoc__store_t *s)
{
    return s->dir;
}

/* ------------------------------------------------------------------ */
/* batch                                                               */
/* ------------------------------------------------------------------ */

int eoc__store_in_batch(const eoc__store_t *s)
{
    return s->batch != NULL;
}

eoc_err_t eoc__store_begin(eoc__store_t *s)
{
    if (s->rdonly)
        return EOC_ERR_READ_ONLY;
    if (s->batch || !s->idx)
        return EOC_ERR_STATE;
    int rc = mdb_txn_begin(s->env, NULL, 0, &s->batch);
    s->inbox_tail = NULL;
    if (rc) {
        s->batch = NULL;
        return eoc__store_fail(s, rc, "begin");
    }
    /* Under the writer lock: pick up inbox rows other processes appended. */
    if ((rc = eoc__store_meta_u64(s->batch, s->meta, META_INBOX_NEXT, &s->inbox_next)) ||
        (rc = eoc__store_meta_u64(s->batch, s->meta, META_OUTBOX_NEXT, &s->outbox_next)) ||
        (rc = eoc__store_index_range(s, s->batch, s->idx_next, s->inbox_next))) {
        mdb_txn_abort(s->batch);
        s->batch = NULL;
        return eoc__store_fail(s, rc, "begin");
    }
    if (s->inbox_next > s->idx_next)
        s->idx_next = s->inbox_next;
    s->inbox_next0 = s->inbox_next;
    s->batch_ms = eoc__now_ms();
    s->dead_batch = s->dead_rec = s->dead_gone = 0;
    s->outbox_next0 = s->outbox_next;
    eoc__store_seg_begin(s);
    s->nstaged = 0;
    s->nunindex = 0;
    return EOC_OK;
}

void eoc__store_abort(eoc__store_t *s)
{
    if (!s->batch)
        return;
    if (s->rec)
        eoc__store_rec_abort(s);
    mdb_txn_abort(s->batch); /* closes inbox_tail */
    s->batch = NULL;
    s->inbox_tail = NULL;
    eoc__store_unstage(s, 0);
    s->nunindex = 0;
    eoc__store_tps_rollback(s, 1);
}

eoc_err_t eoc__store_commit(eoc__store_t *s)
{
    if (!s->batch)
        return EOC_ERR_STATE;
    if (s->rec)
        eoc__store_rec_abort(s);
    int rc = eoc__store_offsets_flush(s);
    if (!rc)
        rc = eoc__store_seg_flush(s);
    if (!rc && s->inbox_next != s->inbox_next0)
        rc = eoc__store_put_meta_u64(s->batch, s->meta, META_INBOX_NEXT, s->inbox_next);
    if (!rc && s->outbox_next != s->outbox_next0)
        rc = eoc__store_put_meta_u64(s->batch, s->meta, META_OUTBOX_NEXT, s->outbox_next);
    uint64_t dead;
    if (!rc && (s->dead_batch || s->dead_gone) &&
        !(rc = eoc__store_meta_u64(s->batch, s->meta, META_INBOX_DEAD, &dead))) {
        dead += s->dead_batch;
        rc = eoc__store_put_meta_u64(s->batch, s->meta, META_INBOX_DEAD,
                                     dead > s->dead_gone ? dead - s->dead_gone : 0);
    }
    if (rc) {
        eoc_err_t err = eoc__store_fail(s, rc, "writing the batch's outbox and offsets");
        eoc__store_abort(s);
        return err;
    }
    eoc__crash_point("store.commit");
    rc = eoc__store_commit_txn(s, s->batch); /* closes inbox_tail */
    s->batch = NULL;
    s->inbox_tail = NULL;
    if (rc) {
        /* mdb_txn_commit frees the txn on failure too. */
        eoc__store_unstage(s, 0);
        s->nunindex = 0;
        eoc__store_tps_rollback(s, 1);
        return eoc__store_fail(s, rc, "commit");
    }
    s->nstaged = 0;
    eoc__store_unindex_done(s);
    s->idx_next = s->inbox_next;
    eoc__store_tps_committed(s);
    return EOC_OK;
}

eoc_err_t eoc__store_end(eoc__store_t *s, eoc_err_t err)
{
    if (err == EOC_OK)
        return eoc__store_commit(s);
    eoc__store_abort(s);
    return err;
}

eoc_err_t eoc__store_sync(eoc__store_t *s)
{
    if (s->rdonly)
        return EOC_OK;
    MDB_envinfo info;
    mdb_env_info(s->env, &info); /* what the flush below will cover */
    int rc = mdb_env_sync(s->env, 1);
    if (rc)
        return eoc__store_fail(s, rc, "sync");
    mark_on_disk(s, info.me_last_txnid);
    return EOC_OK;
}

int eoc__store_on_disk(eoc__store_t *s, size_t txnid)
{
    return txnid <= atomic_load(&s->on_disk);
}

/* Drops the outbox rows of the record that did not commit. */
static void seg_cut(eoc__store_t *s)
{
    s->seg.len = s->seg_len_mark;
    s->seg.oom = 0;
    s->seg_rows = s->seg_rows_mark;
    s->seg_last = s->seg_last_mark;
}

eoc_err_t eoc__store_rec_begin(eoc__store_t *s)
{
    if (!s->batch || s->rec)
        return EOC_ERR_STATE;
    eoc__store_inbox_untail(s);
    int rc = mdb_txn_begin(s->env, s->batch, 0, &s->rec);
    if (rc) {
        s->rec = NULL;
        return eoc__store_fail(s, rc, "record begin");
    }
    s->rec_mark = s->nstaged;
    s->dead_rec = 0;
    s->seg_len_mark = s->seg.len;
    s->seg_rows_mark = s->seg_rows;
    s->seg_last_mark = s->seg_last;
    return EOC_OK;
}

eoc_err_t eoc__store_rec_commit(eoc__store_t *s)
{
    if (!s->rec)
        return EOC_ERR_STATE;
    int rc = mdb_txn_commit(s->rec);
    s->rec = NULL;
    if (rc) {
        eoc__store_unstage(s, s->rec_mark);
        eoc__store_tps_rollback(s, 2);
        seg_cut(s);
        return eoc__store_fail(s, rc, "record commit");
    }
    for (size_t i = 0; i < s->ntps; i++) /* the record's ids are the batch's now */
        if (s->tps[i].uncommitted == 2)
            s->tps[i].uncommitted = 1;
    s->dead_batch += s->dead_rec;
    s->dead_rec = 0;
    return EOC_OK;
}

void eoc__store_rec_abort(eoc__store_t *s)
{
    if (!s->rec)
        return;
    mdb_txn_abort(s->rec);
    s->rec = NULL;
    eoc__store_unstage(s, s->rec_mark);
    seg_cut(s);
    eoc__store_tps_rollback(s, 2);
    /* Sequence numbers used by the aborted record are simply skipped: the
     * counters only need to be unique and increasing. */
}

void eoc__store_map_usage(eoc__store_t *s, uint64_t *used, uint64_t *size)
{
    MDB_envinfo info;
    MDB_stat st;
    mdb_env_info(s->env, &info);
    mdb_env_stat(s->env, &st);
    *used = (uint64_t)(info.me_last_pgno + 1) * st.ms_psize;
    *size = info.me_mapsize;
}
