/* store.c - see store.h. The only file that talks to LMDB. */
#include "store.h"

#include "crash.h"
#include "error.h"
#include "idindex.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <lmdb.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define META_SCHEMA      "schema"
#define META_INBOX_NEXT  "inbox.next"
#define META_OUTBOX_NEXT "outbox.next"
#define META_TP_NEXT     "tp.next"
#define META_INBOX_DEAD  "inbox.dead" /* dead-lettered rows in the inbox log */
#define META_POS_NEXT    "inbox.pos.next" /* log rows below this are in inbox_pos */
#define POS_CATCHUP_MAX  200000           /* log rows indexed per retention pass */
#define META_TP_PREFIX   "tp/"

/* One known (topic, partition): its compact id for inbox position keys and
 * the next offset this batch will store. */
struct tp {
    char *topic;
    int32_t partition;
    uint32_t id;
    int64_t pending; /* next offset to write at commit, -1 when none */
    int uncommitted; /* id allocated in the open batch (1) or record (2) */
};

/* An index insertion of the open batch, undone if the batch aborts. */
struct staged {
    uint64_t hash, seq;
};

struct eoc_store {
    MDB_env *env;
    MDB_dbi offsets, inbox, inbox_pos, outbox, state, meta;
    int rdonly;
    int lock_fd;          /* worker.lock, shared while batches may run; -1 */
    const eoc_log_t *log; /* borrowed */
    char *dir;
    /* Transactions up to this id are on disk, as far as this handle saw:
     * its commits (each flush carries the previous meta page) and syncs.
     * Any thread. */
    atomic_size_t on_disk;

    /* Writer side: touched only by the thread that runs batches. */
    MDB_txn *batch;
    MDB_txn *rec;
    eoc__idindex_t *idx;
    uint64_t idx_next;                  /* inbox seqs below this are in idx */
    uint64_t inbox_next;                /* next inbox seq (batch view) */
    uint64_t outbox_next;               /* next outbox seq (batch view) */
    uint64_t inbox_next0, outbox_next0; /* values at begin */
    uint64_t dead_batch, dead_rec;      /* DEAD inbox rows added by the batch / open record */
    int64_t batch_ms;                   /* wall clock at begin: the time of its rows */
    struct staged *staged;
    size_t nstaged, capstaged, rec_mark;
    struct tp *tps;
    size_t ntps, captps, last_tp;
    eoc__buf_t enc; /* encode scratch */
};

static void set_errstr(char *errstr, size_t size, const char *fmt, ...)
{
    if (!errstr || !size)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errstr, size, fmt, ap);
    va_end(ap);
}

/* Maps an LMDB failure, logging which operation failed. */
static eoc_err_t mdb_fail(const eoc__store_t *s, int rc, const char *what)
{
    eoc_err_t err = eoc__err_from_mdb(rc);
    if (s->log && rc != MDB_NOTFOUND)
        eoc__log(s->log, rc == MDB_MAP_FULL ? EOC_LOG_ERR : EOC_LOG_WARNING, "store: %s: %s%s",
                 what, mdb_strerror(rc),
                 rc == MDB_MAP_FULL ? " (raise store.map.size or let the relay drain)" : "");
    return err;
}

static void mark_on_disk(eoc__store_t *s, size_t txnid)
{
    size_t cur = atomic_load(&s->on_disk);
    while (cur < txnid && !atomic_compare_exchange_weak(&s->on_disk, &cur, txnid))
        ;
}

/* Commits a top-level write transaction. A commit that wrote flushed its
 * pages, and with them the previous transaction's meta page
 * (MDB_NOMETASYNC). One that changed nothing writes and flushes nothing
 * and leaves the last transaction id as it was: it proves nothing, unless
 * another process's commit took that id meanwhile (which flushed). */
static int commit_write(eoc__store_t *s, MDB_txn *txn)
{
    size_t id = mdb_txn_id(txn);
    int rc = mdb_txn_commit(txn);
    MDB_envinfo info;
    if (!rc && !mdb_env_info(s->env, &info) && info.me_last_txnid >= id)
        mark_on_disk(s, id - 1);
    return rc;
}

static MDB_txn *cur_txn(const eoc__store_t *s)
{
    return s->rec ? s->rec : s->batch;
}

/* ------------------------------------------------------------------ */
/* meta helpers                                                        */
/* ------------------------------------------------------------------ */

static int meta_u64(MDB_txn *txn, MDB_dbi dbi, const char *name, uint64_t *v)
{
    MDB_val k = {strlen(name), (void *)name}, d;
    int rc = mdb_get(txn, dbi, &k, &d);
    if (rc == MDB_NOTFOUND) {
        *v = 0;
        return 0;
    }
    if (rc)
        return rc;
    eoc__rd_t r;
    eoc__rd_init(&r, d.mv_data, d.mv_size);
    *v = eoc__rd_u64(&r);
    return r.bad ? MDB_CORRUPTED : 0;
}

static int put_meta_u64(MDB_txn *txn, MDB_dbi dbi, const char *name, uint64_t v)
{
    unsigned char b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    MDB_val k = {strlen(name), (void *)name}, d = {8, b};
    return mdb_put(txn, dbi, &k, &d, 0);
}

/* ------------------------------------------------------------------ */
/* open / close                                                        */
/* ------------------------------------------------------------------ */

/* Takes <dir>/worker.lock with `how` (LOCK_SH waits; LOCK_EX does not).
 * Returns the fd, or -1 with errstr set. */
static int lock_open(const char *dir, int how, char *errstr, size_t errstr_size)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/worker.lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
        set_errstr(errstr, errstr_size, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (flock(fd, how == LOCK_EX ? LOCK_EX | LOCK_NB : how) != 0) {
        set_errstr(errstr, errstr_size,
                   errno == EWOULDBLOCK ? "%s: a worker has this store open; stop it first"
                                        : "%s: cannot lock: %s",
                   dir, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
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
    int rc = meta_u64(txn, s->meta, META_SCHEMA, &v);
    if (rc) {
        set_errstr(errstr, errstr_size, "%s: reading schema version: %s", s->dir, mdb_strerror(rc));
        return eoc__err_from_mdb(rc);
    }
    if (v == 0 && !s->rdonly) {
        if ((rc = put_meta_u64(txn, s->meta, META_SCHEMA, EOC__SCHEMA_VERSION))) {
            set_errstr(errstr, errstr_size, "%s: writing schema version: %s", s->dir,
                       mdb_strerror(rc));
            return eoc__err_from_mdb(rc);
        }
        return EOC_OK;
    }
    if (v != EOC__SCHEMA_VERSION) {
        set_errstr(errstr, errstr_size,
                   "%s: store schema version %llu, this eoc reads version %u: use the "
                   "matching eoc version or a new data directory",
                   s->dir, (unsigned long long)v, EOC__SCHEMA_VERSION);
        return EOC_ERR_VERSION;
    }
    return EOC_OK;
}

static int decode_inbox(const MDB_val *d, eoc__inbox_entry_t *e, const char **id, size_t *id_len,
                        uint32_t *tp_id)
{
    eoc__rd_t r;
    eoc__rd_init(&r, d->mv_data, d->mv_size);
    uint64_t disp = eoc__rd_uv(&r), tp = eoc__rd_uv(&r);
    e->offset = (int64_t)eoc__rd_uv(&r);
    e->time_ms = (int64_t)eoc__rd_uv(&r);
    e->digest = eoc__rd_u64(&r); /* random: fixed size */
    *id = eoc__rd_bytes(&r, id_len);
    e->disposition = (int)disp;
    *tp_id = (uint32_t)tp;
    return r.bad || !*id || disp > INT_MAX || tp > UINT32_MAX ? -1 : 0;
}

/* Adds inbox rows with seq in [from, to) to the in-memory index. */
static int index_range(eoc__store_t *s, MDB_txn *txn, uint64_t from, uint64_t to)
{
    if (from >= to)
        return 0;
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, s->inbox, &c);
    if (rc)
        return rc;
    unsigned char kb[8];
    eoc__be64_put(kb, from);
    MDB_val k = {8, kb}, d;
    for (rc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) {
        uint64_t seq = eoc__be64_get(k.mv_data);
        if (seq >= to)
            break;
        eoc__inbox_entry_t e;
        const char *id;
        size_t id_len;
        uint32_t tp_id;
        if (decode_inbox(&d, &e, &id, &id_len, &tp_id) != 0) {
            rc = MDB_CORRUPTED;
            break;
        }
        if (eoc__idindex_insert(s->idx, eoc__store_id_hash(id, id_len), seq) != 0) {
            rc = ENOMEM;
            break;
        }
    }
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

eoc_err_t eoc__store_open(const char *dir, uint64_t map_size, int flags, const eoc_log_t *log,
                          eoc__store_t **out, char *errstr, size_t errstr_size)
{
    *out = NULL;
    eoc__store_t *s = calloc(1, sizeof(*s));
    if (!s || !(s->dir = strdup(dir))) {
        free(s);
        set_errstr(errstr, errstr_size, "out of memory");
        return EOC_ERR_NOMEM;
    }
    s->rdonly = !!(flags & EOC__STORE_RDONLY);
    s->log = log;
    s->lock_fd = -1;

    eoc_err_t err = EOC_OK;
    int rc;
    MDB_txn *txn = NULL;
    if (!s->rdonly && mkdir(dir, 0750) != 0 && errno != EEXIST) {
        set_errstr(errstr, errstr_size, "%s: cannot create data directory: %s", dir,
                   strerror(errno));
        err = EOC_ERR_IO;
        goto fail;
    }
    if ((rc = mdb_env_create(&s->env)) || (rc = mdb_env_set_maxdbs(s->env, 8)) ||
        (map_size && (rc = mdb_env_set_mapsize(s->env, (size_t)map_size)))) {
        set_errstr(errstr, errstr_size, "%s: %s", dir, mdb_strerror(rc));
        err = eoc__err_from_mdb(rc);
        goto fail;
    }
    /* Durable by construction: no MDB_NOSYNC, no MDB_WRITEMAP (a full disk
     * must be an error, not SIGBUS). MDB_NOMETASYNC: one flush per commit
     * instead of two, the meta page riding on the next flush (store.h,
     * "Durability"); integrity is kept. MDB_NOTLS: read transactions may
     * move between threads (relay, metrics). */
    unsigned envf = MDB_NOTLS | (s->rdonly ? 0 : MDB_NOMETASYNC) | (s->rdonly ? MDB_RDONLY : 0);
    if ((rc = mdb_env_open(s->env, dir, envf, 0640))) {
        set_errstr(errstr, errstr_size, "%s: cannot open store: %s", dir,
                   rc == ENOENT ? "no store here (wrong --data directory?)" : mdb_strerror(rc));
        err = rc == ENOENT ? EOC_ERR_NOT_FOUND : eoc__err_from_mdb(rc);
        goto fail;
    }
    int dead = 0;
    mdb_reader_check(s->env, &dead); /* slots of killed processes */
    if (dead && log)
        eoc__log(log, EOC_LOG_NOTICE, "store: cleared %d stale reader slot(s)", dead);

    if ((rc = mdb_txn_begin(s->env, NULL, s->rdonly ? MDB_RDONLY : 0, &txn)) ||
        (rc = open_dbs(s, txn))) {
        set_errstr(errstr, errstr_size, "%s: %s", dir,
                   rc == MDB_NOTFOUND ? "not an eoc store" : mdb_strerror(rc));
        err = rc == MDB_NOTFOUND ? EOC_ERR_VERSION : eoc__err_from_mdb(rc);
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
            set_errstr(errstr, errstr_size, "%s: %s", dir, mdb_strerror(rc));
            err = eoc__err_from_mdb(rc);
            goto fail;
        }
        *out = s;
        return EOC_OK;
    }
    if (!(flags & EOC__STORE_NOINDEX)) {
        uint64_t next;
        if ((s->lock_fd = lock_open(dir, LOCK_SH, errstr, errstr_size)) < 0) {
            err = EOC_ERR_LOCKED;
            goto fail;
        }
        if (!(s->idx = eoc__idindex_new())) {
            err = EOC_ERR_NOMEM;
            set_errstr(errstr, errstr_size, "out of memory");
            goto fail;
        }
        MDB_stat st;
        if ((rc = meta_u64(txn, s->meta, META_INBOX_NEXT, &next)) ||
            (rc = mdb_stat(txn, s->inbox, &st)) ||
            (rc = eoc__idindex_reserve(s->idx, st.ms_entries) ? ENOMEM : 0) ||
            (rc = index_range(s, txn, 0, next))) {
            set_errstr(errstr, errstr_size, "%s: loading inbox: %s", dir, mdb_strerror(rc));
            err = eoc__err_from_mdb(rc);
            goto fail;
        }
        s->idx_next = next;
    }
    rc = commit_write(s, txn); /* the schema version of a new store */
    txn = NULL;
    if (rc) {
        set_errstr(errstr, errstr_size, "%s: %s", dir, mdb_strerror(rc));
        err = eoc__err_from_mdb(rc);
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
    eoc_store_close(s);
    return err;
}

void eoc_store_close(eoc_store_t *s)
{
    if (!s)
        return;
    if (s->batch)
        eoc__store_abort(s);
    if (s->env)
        mdb_env_close(s->env);
    if (s->lock_fd >= 0)
        close(s->lock_fd);
    eoc__idindex_free(s->idx);
    for (size_t i = 0; i < s->ntps; i++)
        free(s->tps[i].topic);
    free(s->tps);
    free(s->staged);
    eoc__buf_free(&s->enc);
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
    if (rc) {
        s->batch = NULL;
        return mdb_fail(s, rc, "begin");
    }
    /* Under the writer lock: pick up inbox rows other processes appended. */
    if ((rc = meta_u64(s->batch, s->meta, META_INBOX_NEXT, &s->inbox_next)) ||
        (rc = meta_u64(s->batch, s->meta, META_OUTBOX_NEXT, &s->outbox_next)) ||
        (rc = index_range(s, s->batch, s->idx_next, s->inbox_next))) {
        mdb_txn_abort(s->batch);
        s->batch = NULL;
        return mdb_fail(s, rc, "begin");
    }
    if (s->inbox_next > s->idx_next)
        s->idx_next = s->inbox_next;
    s->inbox_next0 = s->inbox_next;
    s->batch_ms = eoc__now_ms();
    s->dead_batch = s->dead_rec = 0;
    s->outbox_next0 = s->outbox_next;
    s->nstaged = 0;
    return EOC_OK;
}

/* Drops tp ids allocated at `level` or deeper (1: batch, 2: record) by
 * an aborted transaction; a batch abort also drops pending offsets. */
static void tps_rollback(eoc__store_t *s, int level)
{
    size_t j = 0;
    for (size_t i = 0; i < s->ntps; i++) {
        if (s->tps[i].uncommitted >= level) {
            free(s->tps[i].topic);
            continue;
        }
        if (level == 1)
            s->tps[i].pending = -1;
        s->tps[j++] = s->tps[i];
    }
    s->ntps = j;
    s->last_tp = 0;
}

static void unstage(eoc__store_t *s, size_t from)
{
    for (size_t i = from; i < s->nstaged; i++)
        eoc__idindex_remove(s->idx, s->staged[i].hash, s->staged[i].seq);
    s->nstaged = from;
}

void eoc__store_abort(eoc__store_t *s)
{
    if (!s->batch)
        return;
    if (s->rec)
        eoc__store_rec_abort(s);
    mdb_txn_abort(s->batch);
    s->batch = NULL;
    unstage(s, 0);
    tps_rollback(s, 1);
}

static int read_offset(const eoc__store_t *s, MDB_txn *txn, const struct tp *t, int64_t *off);
static int write_offset(eoc__store_t *s, MDB_txn *txn, const struct tp *t, int64_t off);

eoc_err_t eoc__store_commit(eoc__store_t *s)
{
    if (!s->batch)
        return EOC_ERR_STATE;
    if (s->rec)
        eoc__store_rec_abort(s);
    int rc = 0;
    for (size_t i = 0; i < s->ntps && !rc; i++) {
        struct tp *t = &s->tps[i];
        int64_t stored;
        if (t->pending < 0)
            continue;
        rc = read_offset(s, s->batch, t, &stored);
        if (rc == MDB_NOTFOUND || (!rc && t->pending > stored))
            rc = write_offset(s, s->batch, t, t->pending);
    }
    if (!rc && s->inbox_next != s->inbox_next0)
        rc = put_meta_u64(s->batch, s->meta, META_INBOX_NEXT, s->inbox_next);
    if (!rc && s->outbox_next != s->outbox_next0)
        rc = put_meta_u64(s->batch, s->meta, META_OUTBOX_NEXT, s->outbox_next);
    uint64_t dead;
    if (!rc && s->dead_batch && !(rc = meta_u64(s->batch, s->meta, META_INBOX_DEAD, &dead)))
        rc = put_meta_u64(s->batch, s->meta, META_INBOX_DEAD, dead + s->dead_batch);
    if (rc) {
        eoc_err_t err = mdb_fail(s, rc, "writing offsets");
        eoc__store_abort(s);
        return err;
    }
    eoc__crash_point("store.commit");
    rc = commit_write(s, s->batch);
    s->batch = NULL;
    if (rc) {
        /* mdb_txn_commit frees the txn on failure too. */
        unstage(s, 0);
        tps_rollback(s, 1);
        return mdb_fail(s, rc, "commit");
    }
    s->nstaged = 0;
    s->idx_next = s->inbox_next;
    for (size_t i = 0; i < s->ntps; i++) {
        s->tps[i].uncommitted = 0;
        s->tps[i].pending = -1;
    }
    return EOC_OK;
}

eoc_err_t eoc__store_sync(eoc__store_t *s)
{
    if (s->rdonly)
        return EOC_OK;
    MDB_envinfo info;
    mdb_env_info(s->env, &info); /* what the flush below will cover */
    int rc = mdb_env_sync(s->env, 1);
    if (rc)
        return mdb_fail(s, rc, "sync");
    mark_on_disk(s, info.me_last_txnid);
    return EOC_OK;
}

int eoc__store_on_disk(eoc__store_t *s, size_t txnid)
{
    return txnid <= atomic_load(&s->on_disk);
}

eoc_err_t eoc__store_outbox_end(eoc__store_t *s, size_t *txnid, uint64_t *end)
{
    MDB_txn *txn;
    MDB_cursor *c;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return mdb_fail(s, rc, "read begin");
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
    return rc && rc != MDB_NOTFOUND ? mdb_fail(s, rc, "outbox end") : EOC_OK;
}

eoc_err_t eoc__store_rec_begin(eoc__store_t *s)
{
    if (!s->batch || s->rec)
        return EOC_ERR_STATE;
    int rc = mdb_txn_begin(s->env, s->batch, 0, &s->rec);
    if (rc) {
        s->rec = NULL;
        return mdb_fail(s, rc, "record begin");
    }
    s->rec_mark = s->nstaged;
    s->dead_rec = 0;
    return EOC_OK;
}

eoc_err_t eoc__store_rec_commit(eoc__store_t *s)
{
    if (!s->rec)
        return EOC_ERR_STATE;
    int rc = mdb_txn_commit(s->rec);
    s->rec = NULL;
    if (rc) {
        unstage(s, s->rec_mark);
        tps_rollback(s, 2);
        return mdb_fail(s, rc, "record commit");
    }
    for (size_t i = 0; i < s->ntps; i++)
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
    unstage(s, s->rec_mark);
    tps_rollback(s, 2);
    /* Sequence numbers used by the aborted record are simply skipped: the
     * counters only need to be unique and increasing. */
}

/* ------------------------------------------------------------------ */
/* partitions and offsets                                              */
/* ------------------------------------------------------------------ */

/* Offsets key: topic bytes, NUL, partition (big-endian). */
static size_t tp_key(unsigned char *buf, size_t cap, const char *topic, int32_t partition)
{
    size_t n = strlen(topic);
    if (n + 5 > cap)
        n = cap - 5;
    memcpy(buf, topic, n);
    buf[n] = 0;
    eoc__be32_put(buf + n + 1, (uint32_t)partition);
    return n + 5;
}

static int read_offset(const eoc__store_t *s, MDB_txn *txn, const struct tp *t, int64_t *off)
{
    unsigned char kb[512];
    MDB_val k = {tp_key(kb, sizeof(kb), t->topic, t->partition), kb}, d;
    int rc = mdb_get(txn, s->offsets, &k, &d);
    if (rc)
        return rc;
    eoc__rd_t r;
    eoc__rd_init(&r, d.mv_data, d.mv_size);
    *off = (int64_t)eoc__rd_u64(&r);
    return r.bad ? MDB_CORRUPTED : 0;
}

static int write_offset(eoc__store_t *s, MDB_txn *txn, const struct tp *t, int64_t off)
{
    unsigned char kb[512];
    eoc__buf_reset(&s->enc);
    eoc__buf_u64(&s->enc, (uint64_t)off);
    eoc__buf_u32(&s->enc, t->id);
    if (s->enc.oom)
        return ENOMEM;
    MDB_val k = {tp_key(kb, sizeof(kb), t->topic, t->partition), kb};
    MDB_val d = {s->enc.len, s->enc.p};
    return mdb_put(txn, s->offsets, &k, &d, 0);
}

/* Finds or registers (topic, partition) in the batch; *out stays valid
 * until the next call. */
static int tp_get(eoc__store_t *s, const char *topic, int32_t partition, struct tp **out)
{
    if (s->last_tp < s->ntps) {
        struct tp *t = &s->tps[s->last_tp];
        if (t->partition == partition && strcmp(t->topic, topic) == 0) {
            *out = t;
            return 0;
        }
    }
    for (size_t i = 0; i < s->ntps; i++) {
        struct tp *t = &s->tps[i];
        if (t->partition == partition && strcmp(t->topic, topic) == 0) {
            s->last_tp = i;
            *out = t;
            return 0;
        }
    }
    /* Not cached: look up its id in meta, or allocate one in this batch. */
    MDB_txn *txn = cur_txn(s);
    unsigned char kb[520];
    memcpy(kb, META_TP_PREFIX, 3);
    MDB_val k = {3 + tp_key(kb + 3, sizeof(kb) - 3, topic, partition), kb}, d;
    uint32_t id;
    int uncommitted = 0;
    int rc = mdb_get(txn, s->meta, &k, &d);
    if (rc == 0) {
        eoc__rd_t r;
        eoc__rd_init(&r, d.mv_data, d.mv_size);
        id = eoc__rd_u32(&r);
        if (r.bad)
            return MDB_CORRUPTED;
    } else if (rc == MDB_NOTFOUND) {
        uint64_t next;
        /* Allocated in the innermost transaction: a rollback of it drops
         * the cache entry too (tps_rollback). */
        if ((rc = meta_u64(txn, s->meta, META_TP_NEXT, &next)) ||
            (rc = put_meta_u64(txn, s->meta, META_TP_NEXT, next + 1)))
            return rc;
        id = (uint32_t)next;
        unsigned char vb[4] = {(unsigned char)id, (unsigned char)(id >> 8),
                               (unsigned char)(id >> 16), (unsigned char)(id >> 24)};
        d.mv_size = 4;
        d.mv_data = vb;
        if ((rc = mdb_put(txn, s->meta, &k, &d, 0)))
            return rc;
        uncommitted = s->rec ? 2 : 1;
    } else {
        return rc;
    }
    if (s->ntps == s->captps) {
        size_t cap = s->captps ? s->captps * 2 : 16;
        struct tp *p = realloc(s->tps, cap * sizeof(*p));
        if (!p)
            return ENOMEM;
        s->tps = p;
        s->captps = cap;
    }
    struct tp *t = &s->tps[s->ntps];
    if (!(t->topic = strdup(topic)))
        return ENOMEM;
    t->partition = partition;
    t->id = id;
    t->pending = -1;
    t->uncommitted = uncommitted;
    s->last_tp = s->ntps++;
    *out = t;
    return 0;
}

eoc_err_t eoc__store_offset_set(eoc__store_t *s, const char *topic, int32_t partition,
                                int64_t next_offset)
{
    if (!s->batch)
        return EOC_ERR_STATE;
    struct tp *t;
    int rc = tp_get(s, topic, partition, &t);
    if (rc)
        return mdb_fail(s, rc, "offset");
    if (next_offset > t->pending)
        t->pending = next_offset;
    return EOC_OK;
}

eoc_err_t eoc__store_offset_get(eoc__store_t *s, const char *topic, int32_t partition,
                                int64_t *next_offset)
{
    /* The batch owner reads through its write transaction (the record's
     * while one is open: LMDB refuses a parent with an active child). */
    MDB_txn *txn = s->batch ? cur_txn(s) : NULL;
    int rc = txn ? 0 : mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return mdb_fail(s, rc, "read begin");
    struct tp t = {.topic = (char *)topic, .partition = partition};
    rc = read_offset(s, txn, &t, next_offset);
    if (!s->batch)
        mdb_txn_abort(txn);
    return rc ? (rc == MDB_NOTFOUND ? EOC_ERR_NOT_FOUND : mdb_fail(s, rc, "offset")) : EOC_OK;
}

/* ------------------------------------------------------------------ */
/* inbox                                                               */
/* ------------------------------------------------------------------ */

/* Appends (hash, seq) to s->staged: a batch's index insertions (undone
 * if it aborts) or, between batches, a prune's pending removals. */
static int staged_push(eoc__store_t *s, uint64_t hash, uint64_t seq)
{
    if (s->nstaged == s->capstaged) {
        size_t cap = s->capstaged ? s->capstaged * 2 : 1024;
        struct staged *p = realloc(s->staged, cap * sizeof(*p));
        if (!p)
            return ENOMEM;
        s->staged = p;
        s->capstaged = cap;
    }
    s->staged[s->nstaged++] = (struct staged){hash, seq};
    return 0;
}

static int stage(eoc__store_t *s, uint64_t hash, uint64_t seq)
{
    if (staged_push(s, hash, seq) != 0)
        return ENOMEM;
    if (eoc__idindex_insert(s->idx, hash, seq) != 0) {
        s->nstaged--;
        return ENOMEM;
    }
    return 0;
}

uint64_t eoc__store_id_hash(const char *id, size_t id_len)
{
    return eoc__hash64(id, id_len, 0);
}

void eoc__store_inbox_prefetch(const eoc__store_t *s, uint64_t hash)
{
    if (s->idx)
        eoc__idindex_prefetch(s->idx, hash);
}

eoc_err_t eoc__store_inbox_find(eoc__store_t *s, const char *id, size_t id_len,
                                eoc__inbox_entry_t *out)
{
    return eoc__store_inbox_find_hashed(s, id, id_len, eoc__store_id_hash(id, id_len), out);
}

eoc_err_t eoc__store_inbox_find_hashed(eoc__store_t *s, const char *id, size_t id_len,
                                       uint64_t hash, eoc__inbox_entry_t *out)
{
    if (!s->batch)
        return EOC_ERR_STATE;
    if (id_len == 0 || id_len > EOC_ID_MAX)
        return EOC_ERR_INVALID_ID;
    /* The newest entry decides: a resubmitted dead letter that was then
     * applied has two rows, and the later one is its disposition. */
    uint64_t seq;
    size_t cursor = 0;
    int found = 0;
    while (eoc__idindex_next(s->idx, hash, &cursor, &seq)) {
        if (found && seq < out->seq)
            continue;
        unsigned char kb[8];
        eoc__be64_put(kb, seq);
        MDB_val k = {8, kb}, d;
        int rc = mdb_get(cur_txn(s), s->inbox, &k, &d);
        if (rc == MDB_NOTFOUND)
            continue; /* pruned, possibly by another process */
        if (rc)
            return mdb_fail(s, rc, "inbox lookup");
        const char *rid;
        size_t rlen;
        uint32_t tp_id;
        eoc__inbox_entry_t e;
        if (decode_inbox(&d, &e, &rid, &rlen, &tp_id) != 0)
            return mdb_fail(s, MDB_CORRUPTED, "inbox row");
        if (rlen == id_len && memcmp(rid, id, id_len) == 0) {
            *out = e;
            out->seq = seq;
            found = 1;
        }
    }
    return found ? EOC_OK : EOC_ERR_NOT_FOUND;
}

eoc_err_t eoc__store_inbox_add(eoc__store_t *s, const char *id, size_t id_len, const char *topic,
                               int32_t partition, int64_t offset, uint64_t digest, int disposition)
{
    return eoc__store_inbox_add_hashed(s, id, id_len, eoc__store_id_hash(id, id_len), topic,
                                       partition, offset, digest, disposition);
}

eoc_err_t eoc__store_inbox_add_hashed(eoc__store_t *s, const char *id, size_t id_len,
                                      uint64_t hash, const char *topic, int32_t partition,
                                      int64_t offset, uint64_t digest, int disposition)
{
    if (!s->batch)
        return EOC_ERR_STATE;
    if (id_len == 0 || id_len > EOC_ID_MAX)
        return EOC_ERR_INVALID_ID;
    struct tp *t;
    int rc = tp_get(s, topic, partition, &t);
    if (rc)
        return mdb_fail(s, rc, "inbox partition");
    MDB_txn *txn = cur_txn(s);
    uint64_t seq = s->inbox_next;

    eoc__buf_reset(&s->enc);
    eoc__buf_uv(&s->enc, (uint64_t)disposition);
    eoc__buf_uv(&s->enc, t->id);
    eoc__buf_uv(&s->enc, (uint64_t)offset);
    eoc__buf_uv(&s->enc, (uint64_t)s->batch_ms);
    eoc__buf_u64(&s->enc, digest);
    eoc__buf_bytes(&s->enc, id, id_len);
    if (s->enc.oom)
        return EOC_ERR_NOMEM;

    unsigned char kb[8];
    eoc__be64_put(kb, seq);
    MDB_val k = {8, kb}, d = {s->enc.len, s->enc.p};
    if ((rc = mdb_put(txn, s->inbox, &k, &d, MDB_APPEND)))
        return mdb_fail(s, rc, "inbox put");

    /* No position-index row here: retention builds that index behind the
     * log (pos_catch_up), so a batch dirties no page per partition. */
    if ((rc = stage(s, hash, seq)))
        return mdb_fail(s, rc, "inbox index");
    s->inbox_next = seq + 1;
    if (disposition == EOC__DISP_DEAD)
        *(s->rec ? &s->dead_rec : &s->dead_batch) += 1;
    return EOC_OK;
}

/* ------------------------------------------------------------------ */
/* outbox                                                              */
/* ------------------------------------------------------------------ */

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
    int rc = mdb_put(cur_txn(s), s->outbox, &k, &d, MDB_APPEND);
    if (rc)
        return mdb_fail(s, rc, "outbox put");
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
        return mdb_fail(s, rc, "read begin");
    if ((rc = mdb_cursor_open(txn, s->outbox, &c))) {
        mdb_txn_abort(txn);
        return mdb_fail(s, rc, "outbox cursor");
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
            err = mdb_fail(s, MDB_CORRUPTED, "outbox row");
            break;
        }
        if (next)
            *next = seq + 1;
        if (cb(opaque, seq, &row))
            break;
    }
    if (rc && rc != MDB_NOTFOUND && !err)
        err = mdb_fail(s, rc, "outbox scan");
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
        return mdb_fail(s, rc, "read begin");
    rc = mdb_stat(txn, s->outbox, &st);
    mdb_txn_abort(txn);
    if (rc)
        return mdb_fail(s, rc, "outbox stat");
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
        return mdb_fail(s, rc, "begin");
    if ((rc = outbox_delete_below(s, txn, upto))) {
        mdb_txn_abort(txn);
        return mdb_fail(s, rc, "outbox delete");
    }
    if ((rc = commit_write(s, txn)))
        return mdb_fail(s, rc, "outbox delete commit");
    return EOC_OK;
}

eoc_err_t eoc__store_outbox_remove_in_batch(eoc__store_t *s, uint64_t upto)
{
    if (!s->batch || s->rec)
        return EOC_ERR_STATE;
    int rc = outbox_delete_below(s, s->batch, upto);
    return rc ? mdb_fail(s, rc, "outbox delete") : EOC_OK;
}

/* ------------------------------------------------------------------ */
/* state and meta                                                      */
/* ------------------------------------------------------------------ */

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
    int rc = mdb_get(cur_txn(s), s->state, &k, &d);
    if (rc)
        return rc == MDB_NOTFOUND ? EOC_ERR_NOT_FOUND : mdb_fail(s, rc, "state get");
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
    int rc = mdb_put(cur_txn(s), s->state, &k, &d, 0);
    return rc ? mdb_fail(s, rc, "state put") : EOC_OK;
}

eoc_err_t eoc__store_state_del(eoc__store_t *s, const void *key, size_t klen)
{
    if (!s->batch)
        return EOC_ERR_STATE;
    if (!key_ok(klen))
        return EOC_ERR_INVALID_ARG;
    MDB_val k = {klen, (void *)key};
    int rc = mdb_del(cur_txn(s), s->state, &k, NULL);
    return rc && rc != MDB_NOTFOUND ? mdb_fail(s, rc, "state del") : EOC_OK;
}

eoc_err_t eoc__store_meta_get(eoc__store_t *s, const char *name, void *buf, size_t *len)
{
    if (!s->batch)
        return EOC_ERR_STATE;
    MDB_val k = {strlen(name), (void *)name}, d;
    int rc = mdb_get(cur_txn(s), s->meta, &k, &d);
    if (rc)
        return rc == MDB_NOTFOUND ? EOC_ERR_NOT_FOUND : mdb_fail(s, rc, "meta get");
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
    int rc = len ? mdb_put(cur_txn(s), s->meta, &k, &d, 0) : mdb_del(cur_txn(s), s->meta, &k, NULL);
    return rc && rc != MDB_NOTFOUND ? mdb_fail(s, rc, "meta put") : EOC_OK;
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

eoc_err_t eoc__store_crashes_set(eoc__store_t *s, const char *topic, int32_t partition,
                                 uint64_t at, uint64_t n)
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

/* ------------------------------------------------------------------ */
/* retention                                                           */
/* ------------------------------------------------------------------ */

/* Extends the position index (tp id, offset) -> (seq, time) over inbox log
 * rows from META_POS_NEXT on, at most POS_CATCHUP_MAX of them; retention
 * reads only indexed rows, so it never prunes a row it has not seen. A
 * re-submitted record at the same position replaces the older pointer.
 * Returns an LMDB code. */
static int pos_catch_up(eoc__store_t *s, MDB_txn *txn)
{
    uint64_t next;
    int rc = meta_u64(txn, s->meta, META_POS_NEXT, &next);
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
        eoc__inbox_entry_t e;
        const char *id;
        size_t id_len;
        uint32_t tp_id;
        if (k.mv_size != 8 || decode_inbox(&d, &e, &id, &id_len, &tp_id) != 0) {
            rc = MDB_CORRUPTED;
            break;
        }
        unsigned char pk[12], pv[16];
        eoc__be32_put(pk, tp_id);
        eoc__be64_put(pk + 4, (uint64_t)e.offset);
        memcpy(pv, k.mv_data, 8);
        eoc__be64_put(pv + 8, (uint64_t)e.time_ms);
        MDB_val pkv = {12, pk}, pvv = {16, pv};
        if ((rc = mdb_put(txn, s->inbox_pos, &pkv, &pvv, 0)))
            break;
        next = eoc__be64_get(k.mv_data) + 1;
    }
    mdb_cursor_close(c);
    if (rc && rc != MDB_NOTFOUND)
        return rc;
    return put_meta_u64(txn, s->meta, META_POS_NEXT, next);
}

/* Prunes one partition's entries below `limit` (and older than `before`
 * when before > 0); returns an LMDB code. */
static int prune_tp(eoc__store_t *s, MDB_txn *txn, uint32_t tp_id, int64_t limit, int64_t before,
                    size_t max, uint64_t *pruned, uint64_t *dead)
{
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, s->inbox_pos, &c);
    if (rc)
        return rc;
    unsigned char kb[12];
    eoc__be32_put(kb, tp_id);
    eoc__be64_put(kb + 4, 0);
    MDB_val k = {12, kb}, d;
    for (rc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE); rc == 0 && *pruned < max;
         rc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) {
        const unsigned char *kp = k.mv_data, *dp = d.mv_data;
        if (k.mv_size != 12 || d.mv_size != 16 || eoc__be32_get(kp) != tp_id)
            break;
        int64_t off = (int64_t)eoc__be64_get(kp + 4);
        int64_t t = (int64_t)eoc__be64_get(dp + 8);
        if (off >= limit || (before > 0 && t >= before))
            break;
        unsigned char sk[8];
        memcpy(sk, dp, 8);
        MDB_val lk = {8, sk}, ld;
        rc = mdb_get(txn, s->inbox, &lk, &ld);
        eoc__inbox_entry_t e;
        const char *id;
        size_t id_len;
        uint32_t tpid;
        if (rc == 0 && decode_inbox(&ld, &e, &id, &id_len, &tpid) == 0) {
            *dead += e.disposition == EOC__DISP_DEAD;
            /* dropped from the index only once the deletion commits, so a
             * failed prune never makes a committed ID look new */
            if (s->idx && (rc = staged_push(s, eoc__store_id_hash(id, id_len), eoc__be64_get(sk))))
                break;
        }
        if ((rc == 0 && (rc = mdb_del(txn, s->inbox, &lk, NULL))) || (rc && rc != MDB_NOTFOUND) ||
            (rc = mdb_cursor_del(c, 0)))
            break;
        (*pruned)++;
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
    s->nstaged = 0;
    MDB_txn *txn;
    MDB_cursor *c;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc)
        return mdb_fail(s, rc, "prune begin");
    if ((rc = pos_catch_up(s, txn)) || (rc = mdb_cursor_open(txn, s->offsets, &c))) {
        mdb_txn_abort(txn);
        return mdb_fail(s, rc, "prune index");
    }
    int64_t before = age_ms > 0 ? eoc__now_ms() - age_ms : 0;
    uint64_t dead = 0, dead_total;
    MDB_val k, d;
    for (rc = mdb_cursor_get(c, &k, &d, MDB_FIRST); rc == 0 && *pruned < max;
         rc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) {
        eoc__rd_t r;
        eoc__rd_init(&r, d.mv_data, d.mv_size);
        int64_t committed = (int64_t)eoc__rd_u64(&r);
        uint32_t tp_id = eoc__rd_u32(&r);
        if (r.bad)
            continue;
        /* Never at or above the committed offset: those can still arrive.
         * Either horizon qualifies an entry: first everything more than
         * `count` offsets behind, then what is older than the age horizon. */
        if (count > 0 && (rc = prune_tp(s, txn, tp_id, committed - count, 0, max, pruned, &dead)))
            break;
        if (age_ms > 0 && (rc = prune_tp(s, txn, tp_id, committed, before, max, pruned, &dead)))
            break;
    }
    mdb_cursor_close(c);
    if ((!rc || rc == MDB_NOTFOUND) && dead &&
        !(rc = meta_u64(txn, s->meta, META_INBOX_DEAD, &dead_total)))
        rc = put_meta_u64(txn, s->meta, META_INBOX_DEAD, dead_total > dead ? dead_total - dead : 0);
    if (rc && rc != MDB_NOTFOUND) {
        mdb_txn_abort(txn);
        s->nstaged = 0;
        *pruned = 0;
        return mdb_fail(s, rc, "prune");
    }
    if ((rc = commit_write(s, txn))) {
        s->nstaged = 0;
        *pruned = 0;
        return mdb_fail(s, rc, "prune commit");
    }
    for (size_t i = 0; i < s->nstaged; i++)
        eoc__idindex_remove(s->idx, s->staged[i].hash, s->staged[i].seq);
    s->nstaged = 0;
    return EOC_OK;
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

/* ------------------------------------------------------------------ */
/* public read-only API                                                */
/* ------------------------------------------------------------------ */

eoc_store_t *eoc_store_open_readonly(const char *dir, char *errstr, size_t errstr_size)
{
    eoc__store_t *s;
    return eoc__store_open(dir, 0, EOC__STORE_RDONLY, NULL, &s, errstr, errstr_size) == EOC_OK
               ? s
               : NULL;
}

/* Runs `fn` over the cursor of `dbi` from `start` (NULL: first) in one
 * read snapshot, until fn returns non-zero. */
static eoc_err_t ro_walk(eoc_store_t *s, MDB_dbi dbi, const MDB_val *start,
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
    int (*cb)(void *, const void *, size_t, const void *, size_t);
    void *opaque;
};

static int state_step(void *ctx, const MDB_val *k, const MDB_val *d)
{
    struct state_walk *w = ctx;
    if (k->mv_size < w->prefix_len || memcmp(k->mv_data, w->prefix, w->prefix_len) != 0)
        return 1;
    return w->cb(w->opaque, k->mv_data, k->mv_size, d->mv_data, d->mv_size);
}

eoc_err_t eoc_store_state_foreach(eoc_store_t *s, const void *prefix, size_t prefix_len,
                                  int (*cb)(void *opaque, const void *key, size_t key_len,
                                            const void *value, size_t len),
                                  void *opaque)
{
    struct state_walk w = {prefix, prefix_len, cb, opaque};
    MDB_val start = {prefix_len, (void *)prefix};
    return ro_walk(s, s->state, prefix_len ? &start : NULL, state_step, &w);
}

struct offsets_walk {
    int (*cb)(void *, const eoc_position_t *);
    void *opaque;
};

static int offsets_step(void *ctx, const MDB_val *k, const MDB_val *d)
{
    struct offsets_walk *w = ctx;
    char topic[512];
    if (k->mv_size < 6 || k->mv_size - 5 >= sizeof(topic))
        return 0;
    size_t n = k->mv_size - 5;
    memcpy(topic, k->mv_data, n);
    topic[n] = 0;
    eoc__rd_t r;
    eoc__rd_init(&r, d->mv_data, d->mv_size);
    eoc_position_t pos = {topic, (int32_t)eoc__be32_get((const unsigned char *)k->mv_data + n + 1),
                          (int64_t)eoc__rd_u64(&r)};
    return r.bad ? 0 : w->cb(w->opaque, &pos);
}

eoc_err_t eoc_store_offsets_foreach(eoc_store_t *s, int (*cb)(void *opaque, const eoc_position_t *),
                                    void *opaque)
{
    struct offsets_walk w = {cb, opaque};
    return ro_walk(s, s->offsets, NULL, offsets_step, &w);
}

struct outbox_walk {
    int (*cb)(void *, const eoc_outbox_row_t *);
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

eoc_err_t eoc_store_outbox_foreach(eoc_store_t *s,
                                   int (*cb)(void *opaque, const eoc_outbox_row_t *), void *opaque)
{
    struct outbox_walk w = {cb, opaque, {0}, {0}};
    eoc_err_t err = eoc__store_outbox_scan(s, 0, SIZE_MAX, outbox_step, &w, NULL);
    eoc__buf_free(&w.id);
    eoc__buf_free(&w.topic);
    return err;
}

/* One read snapshot; constant time (counters in meta, the oldest entry is
 * the log's first row), so tools may call it often. */
eoc_err_t eoc_store_info(eoc_store_t *s, eoc_store_info_t *out)
{
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
    if (!rc && !(rc = mdb_stat(txn, s->outbox, &st)))
        out->outbox_rows = st.ms_entries;
    if (!rc && !(rc = mdb_stat(txn, s->state, &st)))
        out->state_entries = st.ms_entries;
    if (!rc && !(rc = meta_u64(txn, s->meta, META_SCHEMA, &v)))
        out->schema_version = (uint32_t)v;
    if (!rc && !(rc = meta_u64(txn, s->meta, META_INBOX_DEAD, &v))) {
        out->inbox_dead_lettered = v < out->inbox_entries ? v : out->inbox_entries;
        out->inbox_applied = out->inbox_entries - out->inbox_dead_lettered;
    }
    MDB_val k, d;
    eoc__inbox_entry_t e;
    const char *id;
    size_t id_len;
    uint32_t tp_id;
    if (!rc && !(rc = mdb_cursor_open(txn, s->inbox, &c))) {
        if (!mdb_cursor_get(c, &k, &d, MDB_FIRST) &&
            decode_inbox(&d, &e, &id, &id_len, &tp_id) == 0)
            out->inbox_oldest_ms = e.time_ms;
        mdb_cursor_close(c);
    }
    if (!rc && !(rc = mdb_cursor_open(txn, s->outbox, &c))) {
        eoc__buf_t scratch = {0};
        eoc__outrow_t row;
        if (!mdb_cursor_get(c, &k, &d, MDB_FIRST) &&
            eoc__outrow_decode(d.mv_data, d.mv_size, &row, &scratch) == 0)
            out->outbox_oldest_ms = row.created_ms;
        eoc__buf_free(&scratch);
        mdb_cursor_close(c);
    }
    mdb_txn_abort(txn);
    eoc__store_map_usage(s, &out->map_used, &out->map_size);
    return rc ? eoc__err_from_mdb(rc) : EOC_OK;
}

struct eoc_store_admin {
    int lock_fd;
    eoc__store_t *s;
};

eoc_store_admin_t *eoc_store_admin_open(const char *dir, char *errstr, size_t errstr_size)
{
    eoc_store_admin_t *a = calloc(1, sizeof(*a));
    if (!a) {
        set_errstr(errstr, errstr_size, "out of memory");
        return NULL;
    }
    if ((a->lock_fd = lock_open(dir, LOCK_EX, errstr, errstr_size)) < 0) {
        free(a);
        return NULL;
    }
    if (eoc__store_open(dir, 0, EOC__STORE_NOINDEX, NULL, &a->s, errstr, errstr_size) != EOC_OK) {
        close(a->lock_fd);
        free(a);
        return NULL;
    }
    return a;
}

void eoc_store_admin_close(eoc_store_admin_t *a)
{
    if (!a)
        return;
    eoc_store_close(a->s);
    close(a->lock_fd);
    free(a);
}

eoc_err_t eoc_store_admin_rewind(eoc_store_admin_t *a, const char *topic, int32_t partition,
                                 int64_t offset, char *errstr, size_t errstr_size)
{
    if (!a || !topic || offset < 0) {
        set_errstr(errstr, errstr_size, "rewind: invalid arguments");
        return EOC_ERR_INVALID_ARG;
    }
    eoc__store_t *s = a->s;
    eoc_err_t err = EOC_OK;
    MDB_txn *txn;
    struct tp t = {.topic = (char *)topic, .partition = partition};
    int64_t cur = -1;
    unsigned char kb[512];
    MDB_val k = {tp_key(kb, sizeof(kb), topic, partition), kb}, d;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc) {
        set_errstr(errstr, errstr_size, "%s: %s", s->dir, mdb_strerror(rc));
        return eoc__err_from_mdb(rc);
    }
    if (!(rc = mdb_get(txn, s->offsets, &k, &d))) {
        eoc__rd_t r;
        eoc__rd_init(&r, d.mv_data, d.mv_size);
        cur = (int64_t)eoc__rd_u64(&r);
        t.id = eoc__rd_u32(&r);
        rc = r.bad ? MDB_CORRUPTED : 0;
    }
    if (rc == MDB_NOTFOUND) {
        set_errstr(errstr, errstr_size, "%s: no stored offset for %s[%d]", s->dir, topic,
                   partition);
        err = EOC_ERR_NOT_FOUND;
    } else if (rc) {
        set_errstr(errstr, errstr_size, "%s: %s", s->dir, mdb_strerror(rc));
        err = eoc__err_from_mdb(rc);
    } else if (offset > cur) {
        set_errstr(errstr, errstr_size,
                   "%s[%d]: offset %lld is ahead of the stored %lld: moving forward would skip "
                   "records",
                   topic, partition, (long long)offset, (long long)cur);
        err = EOC_ERR_INVALID_ARG;
    } else if ((rc = write_offset(s, txn, &t, offset)) != 0) {
        set_errstr(errstr, errstr_size, "%s: %s", s->dir, mdb_strerror(rc));
        err = eoc__err_from_mdb(rc);
    } else {
        rc = commit_write(s, txn);
        txn = NULL;
        if (!rc) /* an administrative change is on disk when the call returns */
            rc = mdb_env_sync(s->env, 1);
        if (rc) {
            set_errstr(errstr, errstr_size, "%s: %s", s->dir, mdb_strerror(rc));
            err = eoc__err_from_mdb(rc);
        }
    }
    if (txn)
        mdb_txn_abort(txn);
    return err;
}
