/*
 * store_bench.c - what the log-structured inbox buys.
 *
 * Durable batch commits of N records, each record doing what the worker
 * does to the store: an ID lookup, a nested record transaction holding one
 * outbox row and the inbox row, and the partition's next offset. IDs are
 * random 36-character UUID-like strings. Both layouts start from an inbox
 * that already holds --prefill IDs (default 1,000,000), written in batches
 * of 10,000, and both commit the same way: each commit flushed, no
 * MDB_NOSYNC, no MDB_WRITEMAP, MDB_NOMETASYNC as the store runs (so the
 * comparison is about the layout alone):
 *
 *   log    the eoc store: an append-only inbox log keyed by sequence, a
 *          (partition, offset) index, and an in-memory ID hash rebuilt at
 *          open (the open time is measured too);
 *   btree  a plain LMDB B-tree keyed by the ID (mdb_put with the ID as
 *          key), the same outbox rows and offsets, in its own environment.
 *
 * Outbox rows are removed between phases (the relay's job), untimed.
 * Usage: eoc-store-bench [--prefill N] [--dir PARENT] [--seed S]
 * Nothing here asserts on time: it prints numbers.
 */
#include "codec.h"
#include "idindex.h"
#include "prefill.h"
#include "util.h"
#include "store.h"

#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define ID_LEN        BENCH_ID_LEN
#define PARTITIONS    8
#define PREFILL_BATCH BENCH_PREFILL_BATCH
#define MAP_SIZE      (4ull << 30)
#define VALUE_LEN     64

/* Phases: records per commit and total records (bounded for a ~3 min run). */
static const struct {
    size_t n, total;
} phases[] = {{1, 2000}, {100, 100000}, {1000, 200000}, {10000, 200000}};
#define NPHASES (sizeof(phases) / sizeof(phases[0]))

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "eoc-store-bench: %s: %s\n", what, detail);
    exit(1);
}

/* One batch worth of input: IDs and their (partition, offset). */
struct batch {
    size_t n;
    char *ids; /* n * ID_LEN */
    int64_t next_offset[PARTITIONS];
};

static void batch_fill(struct batch *b, size_t n, uint64_t *rng)
{
    b->n = n;
    for (size_t i = 0; i < n; i++)
        bench_make_id(rng, b->ids + i * ID_LEN);
}

static const char payload[VALUE_LEN] =
    "payload-payload-payload-payload-payload-payload-payload-payload";

/* The outbox row of a record (the same bytes for both layouts); out_id
 * (ID_LEN + 2 bytes) holds its ID and must outlive the row. */
static eoc__outrow_t make_row(char *out_id, const char *id, int32_t partition)
{
    memcpy(out_id, id, ID_LEN);
    memcpy(out_id + ID_LEN, "/0", 2);
    eoc__outrow_t row = {0};
    row.id = out_id;
    row.id_len = ID_LEN + 2;
    row.topic = "out";
    row.topic_len = 3;
    row.partition = partition;
    row.key = id;
    row.key_len = ID_LEN;
    row.value = payload;
    row.value_len = VALUE_LEN;
    return row;
}

/* Encodes the outbox row of a record for the B-tree layout. */
static void encode_row(eoc__buf_t *enc, const char *id, int32_t partition)
{
    char out_id[ID_LEN + 2];
    eoc__outrow_t row = make_row(out_id, id, partition);
    row.created_ms = eoc__now_ms();
    eoc__buf_reset(enc);
    eoc__outrow_encode(enc, &row);
}

/* ---- layout 1: the eoc store --------------------------------------- */

static eoc__store_t *log_open(const char *dir)
{
    eoc__store_t *s;
    char err[512];
    if (eoc__store_open(dir, MAP_SIZE, 0, NULL, &s, err, sizeof(err)) != EOC_OK)
        die("opening the store", err);
    return s;
}

/* The record's outbox row (bench_rec_fn), in the record transaction. */
static eoc_err_t log_outbox_row(eoc__store_t *s, const char *id, int32_t partition, void *opaque)
{
    (void)opaque;
    char out_id[ID_LEN + 2];
    eoc__outrow_t row = make_row(out_id, id, partition);
    return eoc__store_outbox_add(s, &row);
}

/* Returns the number of duplicates met (expected 0). */
static size_t log_batch(eoc__store_t *s, struct batch *b, int with_outbox)
{
    size_t dups = 0;
    const char *what = "";
    bench_target_t t = {"in", PARTITIONS, b->next_offset};
    eoc_err_t err = bench_inbox_batch(s, &t, b->ids, b->n, with_outbox ? log_outbox_row : NULL,
                                      NULL, &dups, &what);
    if (err != EOC_OK)
        die(what, eoc_strerror(err));
    return dups;
}

static void log_drain(eoc__store_t *s)
{
    eoc_err_t err = eoc__store_outbox_remove_below(s, UINT64_MAX);
    if (err != EOC_OK)
        die("outbox remove", eoc_strerror(err));
}

/* ---- layout 2: a plain B-tree keyed by the ID ---------------------- */

struct btree {
    MDB_env *env;
    MDB_dbi inbox, outbox, offsets;
    uint64_t outbox_next;
    eoc__buf_t enc;
};

static void mdb_check(int rc, const char *what)
{
    if (rc)
        die(what, mdb_strerror(rc));
}

static void btree_open(struct btree *t, const char *dir)
{
    MDB_txn *txn;
    if (mkdir(dir, 0750) != 0 && errno != EEXIST)
        die(dir, strerror(errno));
    mdb_check(mdb_env_create(&t->env), "env create");
    mdb_check(mdb_env_set_maxdbs(t->env, 4), "maxdbs");
    mdb_check(mdb_env_set_mapsize(t->env, MAP_SIZE), "mapsize");
    mdb_check(mdb_env_open(t->env, dir, MDB_NOTLS | MDB_NOMETASYNC, 0640), "env open");
    mdb_check(mdb_txn_begin(t->env, NULL, 0, &txn), "begin");
    mdb_check(mdb_dbi_open(txn, "inbox", MDB_CREATE, &t->inbox), "dbi inbox");
    mdb_check(mdb_dbi_open(txn, "outbox", MDB_CREATE, &t->outbox), "dbi outbox");
    mdb_check(mdb_dbi_open(txn, "offsets", MDB_CREATE, &t->offsets), "dbi offsets");
    /* Continue the outbox sequence after the last row. */
    MDB_cursor *c;
    MDB_val k, d;
    mdb_check(mdb_cursor_open(txn, t->outbox, &c), "cursor");
    t->outbox_next = mdb_cursor_get(c, &k, &d, MDB_LAST) == 0 ? eoc__be64_get(k.mv_data) + 1 : 0;
    mdb_cursor_close(c);
    mdb_check(mdb_txn_commit(txn), "commit");
}

static void btree_close(struct btree *t)
{
    mdb_env_close(t->env);
    eoc__buf_free(&t->enc);
    t->env = NULL;
}

static size_t btree_batch(struct btree *t, struct batch *b, int with_outbox)
{
    MDB_txn *txn, *rec;
    size_t dups = 0;
    int64_t pending[PARTITIONS];
    for (int p = 0; p < PARTITIONS; p++)
        pending[p] = -1;
    mdb_check(mdb_txn_begin(t->env, NULL, 0, &txn), "begin");
    for (size_t i = 0; i < b->n; i++) {
        char *id = b->ids + i * ID_LEN;
        int32_t p = (int32_t)(i % PARTITIONS);
        int64_t off = b->next_offset[p]++;
        MDB_val k = {ID_LEN, id}, d;
        int rc = mdb_get(txn, t->inbox, &k, &d);
        if (rc == 0) {
            dups++;
        } else {
            if (rc != MDB_NOTFOUND)
                mdb_check(rc, "inbox lookup");
            mdb_check(mdb_txn_begin(t->env, txn, 0, &rec), "record begin");
            if (with_outbox) {
                unsigned char sk[8];
                eoc__be64_put(sk, t->outbox_next++);
                encode_row(&t->enc, id, p);
                MDB_val ok = {8, sk}, ov = {t->enc.len, t->enc.p};
                mdb_check(mdb_put(rec, t->outbox, &ok, &ov, MDB_APPEND), "outbox put");
            }
            /* The same entry the eoc inbox row holds. */
            eoc__buf_reset(&t->enc);
            eoc__buf_u32(&t->enc, EOC__DISP_APPLIED);
            eoc__buf_u32(&t->enc, (uint32_t)p);
            eoc__buf_u64(&t->enc, (uint64_t)off);
            eoc__buf_u64(&t->enc, (uint64_t)eoc__now_ms());
            eoc__buf_u64(&t->enc, eoc__hash64(id, ID_LEN, 1));
            MDB_val v = {t->enc.len, t->enc.p};
            mdb_check(mdb_put(rec, t->inbox, &k, &v, MDB_NOOVERWRITE), "inbox put");
            mdb_check(mdb_txn_commit(rec), "record commit");
        }
        if (off + 1 > pending[p])
            pending[p] = off + 1;
    }
    for (int p = 0; p < PARTITIONS; p++) {
        if (pending[p] < 0)
            continue;
        unsigned char kb[7] = {'i', 'n', 0};
        eoc__be32_put(kb + 3, (uint32_t)p);
        MDB_val k = {sizeof(kb), kb}, d;
        int rc = mdb_get(txn, t->offsets, &k, &d);
        if (rc == 0 && d.mv_size == 8) {
            eoc__rd_t r;
            eoc__rd_init(&r, d.mv_data, d.mv_size);
            if ((int64_t)eoc__rd_u64(&r) >= pending[p])
                continue;
        }
        unsigned char vb[8];
        for (int i = 0; i < 8; i++)
            vb[i] = (unsigned char)((uint64_t)pending[p] >> (8 * i));
        MDB_val v = {8, vb};
        mdb_check(mdb_put(txn, t->offsets, &k, &v, 0), "offset put");
    }
    mdb_check(mdb_txn_commit(txn), "commit");
    return dups;
}

static void btree_drain(struct btree *t)
{
    MDB_txn *txn;
    mdb_check(mdb_txn_begin(t->env, NULL, 0, &txn), "begin");
    mdb_check(mdb_drop(txn, t->outbox, 0), "outbox drop");
    mdb_check(mdb_txn_commit(txn), "commit");
}

/* ---- driver -------------------------------------------------------- */

static int rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)type;
    (void)ftw;
    return remove(path);
}

static void usage(void)
{
    printf("usage: eoc-store-bench [--prefill N] [--dir PARENT] [--seed S]\n"
           "  --prefill N   IDs in each inbox before measuring (default 1000000)\n"
           "  --dir PARENT  where the temporary data directory goes (default /tmp)\n"
           "  --seed S      ID generator seed (default from the clock)\n");
}

int main(int argc, char **argv)
{
    size_t prefill = 1000000;
    const char *parent = "/tmp";
    uint64_t seed = (uint64_t)time(NULL);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--prefill") == 0 && i + 1 < argc) {
            prefill = (size_t)strtoull(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
            parent = argv[++i];
        } else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
            seed = strtoull(argv[++i], NULL, 10);
        } else {
            usage();
            return strcmp(argv[i], "--help") == 0 ? 0 : 2;
        }
    }

    char root[4096], log_dir[4200], btree_dir[4200];
    snprintf(root, sizeof(root), "%s/eoc-store-bench-XXXXXX", parent);
    if (!mkdtemp(root))
        die(root, strerror(errno));
    snprintf(log_dir, sizeof(log_dir), "%s/log", root);
    snprintf(btree_dir, sizeof(btree_dir), "%s/btree", root);

    size_t cap = PREFILL_BATCH;
    for (size_t i = 0; i < NPHASES; i++)
        if (phases[i].n > cap)
            cap = phases[i].n;
    struct batch lb = {0}, bb = {0};
    lb.ids = malloc(cap * ID_LEN);
    bb.ids = malloc(cap * ID_LEN);
    if (!lb.ids || !bb.ids)
        die("memory", "out of memory");
    /* Both layouts see the same ID sequence. */
    uint64_t lrng = seed, brng = seed;

    printf("eoc store benchmark: durable commits (one flush each), %d-char random IDs, %d partitions, "
           "seed %" PRIu64 "\n",
           ID_LEN, PARTITIONS, seed);
    printf("per record: ID lookup, nested record txn with 1 outbox row + inbox row, offset set\n");
    printf("data: %s\n", root);
    fflush(stdout);

    eoc__store_t *ls = log_open(log_dir);
    struct btree bt = {0};
    btree_open(&bt, btree_dir);

    /* Prefill: inbox rows and offsets, in batches of 10000. */
    double lt = 0, btt = 0;
    size_t dups = 0;
    for (size_t done = 0; done < prefill; done += PREFILL_BATCH) {
        size_t n = prefill - done < PREFILL_BATCH ? prefill - done : PREFILL_BATCH;
        batch_fill(&lb, n, &lrng);
        batch_fill(&bb, n, &brng);
        double t0 = now_s();
        dups += log_batch(ls, &lb, 0);
        double t1 = now_s();
        dups += btree_batch(&bt, &bb, 0);
        btt += now_s() - t1;
        lt += t1 - t0;
    }
    printf("prefill: %zu IDs per layout in batches of %d: log %.1f s, btree %.1f s\n", prefill,
           PREFILL_BATCH, lt, btt);

    /* Open time: the log layout rebuilds its ID index from the inbox log. */
    eoc__store_close(ls);
    btree_close(&bt);
    double t0 = now_s();
    ls = log_open(log_dir);
    double log_open_ms = (now_s() - t0) * 1000;
    t0 = now_s();
    btree_open(&bt, btree_dir);
    double btree_open_ms = (now_s() - t0) * 1000;
    uint64_t used, size;
    eoc__store_map_usage(ls, &used, &size);
    printf("open after prefill: log %.1f ms (index rebuilt from %zu inbox entries, %.0f MiB "
           "store), btree %.1f ms\n",
           log_open_ms, prefill, (double)used / (1 << 20), btree_open_ms);
    printf("\n%6s %8s | %12s %9s | %12s %9s | %9s\n", "N", "records", "log rec/s", "us/rec",
           "btree rec/s", "us/rec", "log/btree");
    fflush(stdout);

    double ratio[NPHASES];
    for (size_t ph = 0; ph < NPHASES; ph++) {
        size_t n = phases[ph].n, batches = phases[ph].total / n;
        double tl = 0, tb = 0;
        for (size_t i = 0; i < batches; i++) {
            batch_fill(&lb, n, &lrng);
            batch_fill(&bb, n, &brng);
            double a = now_s();
            dups += log_batch(ls, &lb, 1);
            double b = now_s();
            dups += btree_batch(&bt, &bb, 1);
            tb += now_s() - b;
            tl += b - a;
        }
        size_t recs = batches * n;
        double lr = (double)recs / tl, br = (double)recs / tb;
        ratio[ph] = lr / br;
        printf("%6zu %8zu | %12.0f %9.2f | %12.0f %9.2f | %8.2fx\n", n, recs, lr, 1e6 / lr, br,
               1e6 / br, ratio[ph]);
        fflush(stdout);
        log_drain(ls); /* the relay's job, untimed */
        btree_drain(&bt);
    }
    if (dups)
        printf("note: %zu duplicate IDs met (random collisions)\n", dups);

    eoc__store_close(ls);
    btree_close(&bt);
    free(lb.ids);
    free(bb.ids);
    if (nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
        fprintf(stderr, "eoc-store-bench: could not remove %s: %s\n", root, strerror(errno));

    printf("summary: log/btree@1000=%.2f", ratio[2]);
    for (size_t ph = 0; ph < NPHASES; ph++)
        if (ph != 2)
            printf(" log/btree@%zu=%.2f", phases[ph].n, ratio[ph]);
    printf(" log_open_ms=%.0f prefill=%zu\n", log_open_ms, prefill);
    return 0;
}
