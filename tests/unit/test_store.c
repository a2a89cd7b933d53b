/*
 * test_store.c - the LMDB store: atomic batches (inbox, state, outbox and
 * offsets together), nested record transactions, the log-structured inbox
 * and its in-memory index (rebuilt at open, caught up with other
 * processes), offsets that never move back, retention, a full map, bad
 * IDs, schema versions, the outbox queue and the public read-only API.
 *
 * Every test runs on real LMDB in a fresh directory under /tmp, removed at
 * teardown. LMDB forbids opening one environment twice in a process, so
 * "another handle" tests fork first and open the second handle in the
 * child; a handle is always closed before the read-only API opens one.
 */
#include "store.h"

#include "idindex.h"
#include "util.h"
#include "tu_rmtree.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <lmdb.h>

#define SMALL_MAP (1u << 20)  /* store.map.size 1 MiB */
#define TEST_MAP  (64u << 20) /* everything else */

/* ------------------------------------------------------------------ */
/* Fixture: a temp directory and at most one open store                */
/* ------------------------------------------------------------------ */

struct fx {
    char dir[64];
    eoc__store_t *s;
};

/* The store's lookup, hashing the ID as the worker does. */
static eoc_err_t inbox_find(eoc__store_t *s, const char *id, size_t id_len,
                            eoc__inbox_entry_t *out)
{
    return eoc__store_inbox_find_hashed(s, id, id_len, eoc__store_id_hash(id, id_len), out);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    strcpy(f->dir, "/tmp/eoc-test-store-XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    eoc__store_close(f->s);
    int rc = tu_rmtree(f->dir);
    free(f);
    return rc;
}

static eoc__store_t *open_at(const char *dir, uint64_t map_size, int flags)
{
    eoc__store_t *s = NULL;
    char err[512] = "";
    eoc_err_t rc =
        eoc__store_open(dir, map_size ? map_size : TEST_MAP, flags, NULL, &s, err, sizeof(err));
    if (rc != EOC_OK)
        fail_msg("opening %s: %s (%s)", dir, eoc_strerror(rc), err);
    return s;
}

static void reopen(struct fx *f)
{
    eoc__store_close(f->s);
    f->s = open_at(f->dir, 0, 0);
}

static void close_store(struct fx *f)
{
    eoc__store_close(f->s);
    f->s = NULL;
}

static eoc_store_t *open_ro(const char *dir)
{
    char err[512] = "";
    eoc_store_t *ro = eoc_store_open_readonly(dir, err, sizeof(err));
    if (!ro)
        fail_msg("read-only open of %s: %s", dir, err);
    return ro;
}

/* ------------------------------------------------------------------ */
/* Records as the worker writes them                                   */
/* ------------------------------------------------------------------ */

static uint64_t digest_of(const char *id)
{
    return eoc__hash64(id, strlen(id), 99);
}

static const eoc_header_t row_headers[] = {{"message-id", "m", 1}, {"trace", NULL, 0}};

/* One applied record: lookup, nested transaction with a state write, an
 * outbox row and the inbox row, then the partition's next offset. */
static void apply(eoc__store_t *s, const char *id, const char *topic, int32_t partition,
                  int64_t offset)
{
    eoc__inbox_entry_t e;
    char key[600], out_id[600], value[600];
    snprintf(key, sizeof(key), "state/%s", id);
    snprintf(out_id, sizeof(out_id), "%s/0", id);
    snprintf(value, sizeof(value), "v-%s", id);

    assert_int_equal(inbox_find(s, id, strlen(id), &e), EOC_ERR_NOT_FOUND);
    assert_int_equal(eoc__store_rec_begin(s), EOC_OK);
    assert_int_equal(eoc__store_state_put(s, key, strlen(key), id, strlen(id)), EOC_OK);
    eoc__outrow_t row = {0};
    row.id = out_id;
    row.id_len = strlen(out_id);
    row.topic = "out";
    row.topic_len = 3;
    row.partition = partition;
    row.key = id;
    row.key_len = strlen(id);
    row.value = value;
    row.value_len = strlen(value);
    row.headers = row_headers;
    row.header_count = 2;
    assert_int_equal(eoc__store_outbox_add(s, &row), EOC_OK);
    assert_int_equal(eoc__store_inbox_add(s, id, strlen(id), topic, partition, offset,
                                          digest_of(id), EOC__DISP_APPLIED),
                     EOC_OK);
    assert_int_equal(eoc__store_rec_commit(s), EOC_OK);
    assert_int_equal(eoc__store_offset_set(s, topic, partition, offset + 1), EOC_OK);
}

/* Inbox row only (no record transaction), as for duplicates of prefill. */
static void record_id(eoc__store_t *s, const char *id, const char *topic, int32_t partition,
                      int64_t offset)
{
    assert_int_equal(eoc__store_inbox_add(s, id, strlen(id), topic, partition, offset,
                                          digest_of(id), EOC__DISP_APPLIED),
                     EOC_OK);
}

static int is_found(eoc__store_t *s, const char *id)
{
    eoc__inbox_entry_t e;
    eoc_err_t err = inbox_find(s, id, strlen(id), &e);
    assert_true(err == EOC_OK || err == EOC_ERR_NOT_FOUND);
    return err == EOC_OK;
}

/* Checks everything `apply` wrote for `id`, inside an open batch. */
static void assert_applied(eoc__store_t *s, const char *id, int64_t offset)
{
    eoc__inbox_entry_t e;
    if (inbox_find(s, id, strlen(id), &e) != EOC_OK)
        fail_msg("inbox has no %s", id);
    assert_int_equal(e.offset, offset);
    assert_int_equal(e.disposition, EOC__DISP_APPLIED);
    assert_true(e.digest == digest_of(id));
    assert_true(e.time_ms > 0);
    char key[600];
    snprintf(key, sizeof(key), "state/%s", id);
    const void *v;
    size_t vlen;
    assert_int_equal(eoc__store_state_get(s, key, strlen(key), &v, &vlen), EOC_OK);
    assert_int_equal(vlen, strlen(id));
    assert_memory_equal(v, id, vlen);
}

static void assert_not_applied(eoc__store_t *s, const char *id)
{
    assert_false(is_found(s, id));
    char key[600];
    snprintf(key, sizeof(key), "state/%s", id);
    const void *v;
    size_t vlen;
    assert_int_equal(eoc__store_state_get(s, key, strlen(key), &v, &vlen), EOC_ERR_NOT_FOUND);
}

static int64_t offset_of(eoc__store_t *s, const char *topic, int32_t partition)
{
    int64_t off = -1;
    eoc_err_t err = eoc__store_offset_get(s, topic, partition, &off);
    return err == EOC_OK ? off : -(int64_t)err - 100;
}

/* Outbox rows copied out of a scan. */
#define MAX_ROWS 256
struct rows {
    size_t n;
    uint64_t seq[MAX_ROWS];
    int64_t created[MAX_ROWS];
    int32_t partition[MAX_ROWS];
    char id[MAX_ROWS][64];
    char value[MAX_ROWS][64];
    size_t headers[MAX_ROWS];
    int stop_after; /* 0: never */
};

static void copy_text(char *dst, const void *src, size_t len)
{
    if (len > 63)
        len = 63;
    if (src)
        memcpy(dst, src, len);
    dst[src ? len : 0] = 0;
}

static int collect(void *opaque, uint64_t seq, const eoc__outrow_t *row)
{
    struct rows *r = opaque;
    assert_true(r->n < MAX_ROWS);
    r->seq[r->n] = seq;
    r->created[r->n] = row->created_ms;
    r->partition[r->n] = row->partition;
    copy_text(r->id[r->n], row->id, row->id_len);
    copy_text(r->value[r->n], row->value, row->value_len);
    r->headers[r->n] = row->header_count;
    r->n++;
    return r->stop_after && r->n >= (size_t)r->stop_after;
}

static void scan_all(eoc__store_t *s, uint64_t from, struct rows *r)
{
    memset(r, 0, sizeof(*r));
    uint64_t next = from;
    assert_int_equal(eoc__store_outbox_scan(s, from, SIZE_MAX, collect, r, &next), EOC_OK);
    if (r->n)
        assert_true(next == r->seq[r->n - 1] + 1);
    else
        assert_true(next == from);
}

static void add_row(eoc__store_t *s, const char *id, int64_t created_ms)
{
    eoc__outrow_t row = {0};
    row.created_ms = created_ms;
    row.id = id;
    row.id_len = strlen(id);
    row.topic = "out";
    row.topic_len = 3;
    row.partition = 0;
    row.value = id;
    row.value_len = strlen(id);
    assert_int_equal(eoc__store_outbox_add(s, &row), EOC_OK);
}

/* ------------------------------------------------------------------ */
/* A second store handle in a child process                            */
/* ------------------------------------------------------------------ */

#define CHILD_CHECK(cond)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "child: %s:%d: %s\n", __FILE__, __LINE__, #cond);                      \
            _exit(1);                                                                              \
        }                                                                                          \
    } while (0)

typedef void (*child_fn)(const char *dir);

struct child {
    pid_t pid;
    int go; /* write end: one byte lets the child start */
};

/* Forks before anything is opened in this test, so the child never
 * inherits an LMDB environment; the child waits for release(). */
static struct child spawn(const char *dir, child_fn fn)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[1]);
        char c;
        if (read(p[0], &c, 1) != 1)
            _exit(2);
        fn(dir);
        _exit(0);
    }
    close(p[0]);
    return (struct child){pid, p[1]};
}

static void release_and_wait(struct child *c)
{
    assert_int_equal(write(c->go, "g", 1), 1);
    close(c->go);
    int status = 0;
    assert_int_equal(waitpid(c->pid, &status, 0), c->pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static eoc__store_t *child_open(const char *dir)
{
    eoc__store_t *s = NULL;
    char err[512] = "";
    if (eoc__store_open(dir, TEST_MAP, 0, NULL, &s, err, sizeof(err)) != EOC_OK) {
        fprintf(stderr, "child: open: %s\n", err);
        _exit(3);
    }
    return s;
}

/* Commits child-0..99 on in[1] at offsets 0..99. */
static void child_commits_ids(const char *dir)
{
    eoc__store_t *s = child_open(dir);
    CHILD_CHECK(eoc__store_begin(s) == EOC_OK);
    for (int i = 0; i < 100; i++) {
        char id[32];
        snprintf(id, sizeof(id), "child-%d", i);
        eoc__inbox_entry_t e;
        CHILD_CHECK(inbox_find(s, id, strlen(id), &e) == EOC_ERR_NOT_FOUND);
        CHILD_CHECK(eoc__store_inbox_add(s, id, strlen(id), "in", 1, i, digest_of(id),
                                         EOC__DISP_APPLIED) == EOC_OK);
    }
    CHILD_CHECK(eoc__store_offset_set(s, "in", 1, 100) == EOC_OK);
    CHILD_CHECK(eoc__store_commit(s) == EOC_OK);
    eoc__store_close(s);
}

/* Prunes everything more than 10 offsets behind each committed offset. */
static void child_prunes(const char *dir)
{
    eoc__store_t *s = child_open(dir);
    uint64_t n = 0;
    CHILD_CHECK(eoc__store_prune(s, 0, 10, 100000, &n) == EOC_OK);
    CHILD_CHECK(n == 90);
    eoc__store_close(s);
}

/* ------------------------------------------------------------------ */
/* Atomic batches                                                      */
/* ------------------------------------------------------------------ */

struct seen {
    int n;
    char names[16][64];
    int64_t offsets[16];
    size_t headers[16];
    int prefix_ok;
};

static int state_cb(void *opaque, const void *key, size_t klen, const void *value, size_t len)
{
    struct seen *w = opaque;
    assert_true(w->n < 16);
    copy_text(w->names[w->n], key, klen);
    /* apply() stores the ID as the value of state/<id>. */
    w->prefix_ok &= klen == len + 6 && memcmp((const char *)key + 6, value, len) == 0;
    w->n++;
    return 0;
}

static int offsets_cb(void *opaque, const eoc_position_t *pos)
{
    struct seen *w = opaque;
    assert_true(w->n < 16);
    snprintf(w->names[w->n], sizeof(w->names[0]), "%s/%d", pos->topic, pos->partition);
    w->offsets[w->n++] = pos->next_offset;
    return 0;
}

static int outbox_cb(void *opaque, const eoc_outbox_row_t *row)
{
    struct seen *w = opaque;
    assert_true(w->n < 16);
    assert_string_equal(row->topic, "out");
    snprintf(w->names[w->n], sizeof(w->names[0]), "%s", row->id);
    w->offsets[w->n] = (int64_t)row->seq;
    w->headers[w->n++] = row->header_count;
    if (row->header_count)
        assert_string_equal(row->headers[0].name, "message-id");
    return 0;
}

static void a_commit_persists_inbox_state_outbox_and_offsets_together(void **state)
{
    struct fx *f = *state;
    f->s = open_at(f->dir, 0, 0);
    assert_int_equal(eoc__store_begin(f->s), EOC_OK);
    apply(f->s, "a", "in", 0, 10);
    apply(f->s, "b", "in", 0, 11);
    apply(f->s, "c", "in", 2, 5);
    /* A dead letter: inbox row and a DLQ outbox row, no state. */
    add_row(f->s, "d/dlq", 0);
    assert_int_equal(eoc__store_inbox_add(f->s, "d", 1, "in", 0, 12, 0, EOC__DISP_DEAD), EOC_OK);
    assert_int_equal(eoc__store_offset_set(f->s, "in", 0, 13), EOC_OK);
    assert_int_equal(eoc__store_commit(f->s), EOC_OK);
    assert_false(eoc__store_in_batch(f->s));

    /* Internal API after a reopen. */
    reopen(f);
    assert_int_equal(eoc__store_begin(f->s), EOC_OK);
    assert_applied(f->s, "a", 10);
    assert_applied(f->s, "b", 11);
    assert_applied(f->s, "c", 5);
    eoc__inbox_entry_t e;
    assert_int_equal(inbox_find(f->s, "d", 1, &e), EOC_OK);
    assert_int_equal(e.disposition, EOC__DISP_DEAD);
    assert_int_equal(e.offset, 12);
    assert_int_equal(offset_of(f->s, "in", 0), 13);
    assert_int_equal(offset_of(f->s, "in", 2), 6);
    eoc__store_abort(f->s);
    struct rows r;
    scan_all(f->s, 0, &r);
    assert_int_equal(r.n, 4);
    assert_string_equal(r.id[0], "a/0");
    assert_string_equal(r.id[1], "b/0");
    assert_string_equal(r.id[2], "c/0");
    assert_string_equal(r.id[3], "d/dlq");
    assert_string_equal(r.value[0], "v-a");
    assert_int_equal(r.partition[2], 2);
    assert_int_equal(r.headers[0], 2);
    assert_true(r.created[0] > 0);
    close_store(f);

    /* The public read-only API sees the same commit. */
    eoc_store_t *ro = open_ro(f->dir);
    struct seen w = {.prefix_ok = 1};
    assert_int_equal(eoc_store_state_foreach(ro, "state/", 6, state_cb, &w), EOC_OK);
    assert_int_equal(w.n, 3);
    assert_true(w.prefix_ok);
    assert_string_equal(w.names[0], "state/a");
    assert_string_equal(w.names[2], "state/c");

    memset(&w, 0, sizeof(w));
    assert_int_equal(eoc_store_offsets_foreach(ro, offsets_cb, &w), EOC_OK);
    assert_int_equal(w.n, 2);
    assert_string_equal(w.names[0], "in/0");
    assert_int_equal(w.offsets[0], 13);
    assert_string_equal(w.names[1], "in/2");
    assert_int_equal(w.offsets[1], 6);

    memset(&w, 0, sizeof(w));
    assert_int_equal(eoc_store_outbox_foreach(ro, outbox_cb, &w), EOC_OK);
    assert_int_equal(w.n, 4);
    assert_string_equal(w.names[0], "a/0");
    assert_string_equal(w.names[3], "d/dlq");
    assert_int_equal(w.headers[0], 2);
    assert_int_equal(w.headers[3], 0);
    assert_true(w.offsets[0] < w.offsets[1] && w.offsets[1] < w.offsets[2]);

    eoc_store_info_t info;
    assert_int_equal(eoc_store_info(ro, &info), EOC_OK);
    assert_int_equal(info.inbox_entries, 4);
    assert_int_equal(info.inbox_applied, 3);
    assert_int_equal(info.inbox_dead_lettered, 1);
    assert_true(info.inbox_oldest_ms > 0);
    assert_int_equal(info.outbox_rows, 4);
    assert_true(info.outbox_oldest_ms > 0);
    assert_int_equal(info.state_entries, 3);
    assert_int_equal(info.schema_version, EOC__SCHEMA_VERSION);
    assert_true(info.map_used > 0 && info.map_used <= info.map_size);
    eoc_store_close(ro);
}

static void an_abort_leaves_no_inbox_state_outbox_or_offsets(void **state)
{
    struct fx *f = *state;
    f->s = open_at(f->dir, 0, 0);
    assert_int_equal(eoc__store_begin(f->s), EOC_OK);
    apply(f->s, "a", "in", 0, 0);
    apply(f->s, "b", "in", 1, 0);
    assert_int_equal(eoc__store_meta_put(f->s, "x", "1", 1), EOC_OK);
    eoc__store_abort(f->s);
    assert_false(eoc__store_in_batch(f->s));

    for (int pass = 0; pass < 2; pass++) {
        assert_int_equal(eoc__store_begin(f->s), EOC_OK);
        assert_not_applied(f->s, "a");
        assert_not_applied(f->s, "b");
        assert_int_equal(offset_of(f->s, "in", 0), -(int64_t)EOC_ERR_NOT_FOUND - 100);
        char buf[8];
        size_t len = sizeof(buf);
        assert_int_equal(eoc__store_meta_get(f->s, "x", buf, &len), EOC_ERR_NOT_FOUND);
        eoc__store_abort(f->s);
        struct rows r;
        scan_all(f->s, 0, &r);
        assert_int_equal(r.n, 0);
        reopen(f);
    }
    close_store(f);
    eoc_store_t *ro = open_ro(f->dir);
    eoc_store_info_t info;
    assert_int_equal(eoc_store_info(ro, &info), EOC_OK);
    assert_int_equal(info.inbox_entries, 0);
    assert_int_equal(info.outbox_rows, 0);
    assert_int_equal(info.state_entries, 0);
    eoc_store_close(ro);
}

static void aborting_with_a_record_open_discards_that_record_too(void **state)
{
    struct fx *f = *state;
    f->s = open_at(f->dir, 0, 0);
    assert_int_equal(eoc__store_begin(f->s), EOC_OK);
    apply(f->s, "a", "in", 0, 0);
    assert_int_equal(eoc__store_rec_begin(f->s), EOC_OK);
    record_id(f->s, "b", "in", 0, 1);
    assert_int_equal(eoc__store_state_put(f->s, "k", 1, "v", 1), EOC_OK);
    eoc__store_abort(f->s);
    assert_int_equal(eoc__store_begin(f->s), EOC_OK);
    assert_not_applied(f->s, "a");
    assert_false(is_found(f->s, "b"));
    const void *v;
    size_t vlen;
    assert_int_equal(eoc__store_state_get(f->s, "k", 1, &v, &vlen), EOC_ERR_NOT_FOUND);
    /* The same IDs can be applied by the next batch. */
    apply(f->s, "a", "in", 0, 0);
    apply(f->s, "b", "in", 0, 1);
    assert_int_equal(eoc__store_commit(f->s), EOC_OK);
    reopen(f);
    assert_int_equal(eoc__store_begin(f->s), EOC_OK);
    assert_applied(f->s, "a", 0);
    assert_applied(f->s, "b", 1);
    eoc__store_abort(f->s);
}

static void a_failing_record_rolls_back_alone_while_the_batch_commits(void **state)
{
    struct fx *f = *state;
    f->s = open_at(f->dir, 0, 0);
    assert_int_equal(eoc__store_begin(f->s), EOC_OK);
    apply(f->s, "a", "in", 0, 0);

    /* b writes state, an outbox row and its inbox row, then fails. */
    assert_int_equal(eoc__store_rec_begin(f->s), EOC_OK);
    assert_int_equal(eoc__store_state_put(f->s, "state/b", 7, "b", 1), EOC_OK);
    assert_int_equal(eoc__store_state_put(f->s, "state/a", 7, "overwritten", 11), EOC_OK);
    add_row(f->s, "b/0", 0);
    record_id(f->s, "b", "in", 0, 1);
    assert_true(is_found(f->s, "b"));
    eoc__store_rec_abort(f->s);
    assert_false(is_found(f->s, "b"));
    assert_int_equal(eoc__store_offset_set(f->s, "in", 0, 2), EOC_OK);

    apply(f->s, "c", "in", 0, 2);
    assert_applied(f->s, "a", 0); /* b's overwrite of state/a is gone */
    assert_int_equal(eoc__store_commit(f->s), EOC_OK);

    reopen(f);
    assert_int_equal(eoc__store_begin(f->s), EOC_OK);
    assert_applied(f->s, "a", 0);
    assert_not_applied(f->s, "b");
    assert_applied(f->s, "c", 2);
    assert_int_equal(offset_of(f->s, "in", 0), 3);
    eoc__store_abort(f->s);
    struct rows r;
    scan_all(f->s, 0, &r);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.id[0], "a/0");
    assert_string_equal(r.id[1], "c/0");
}

/* Inbox rows appended in the batch itself go through a cursor kept at the
 * log's tail; record transactions, a forget and more appends between them
 * (over many leaf pages) must leave every row where a lookup finds it. */
static void batch_appends_around_records_and_forgets_keep_the_inbox_log_whole(void **state)
{
    struct fx *f = *state;
    f->s = open_at(f->dir, 0, 0);
    enum { N = 3000 };
    char id[64];
    assert_int_equal(eoc__store_begin(f->s), EOC_OK);
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof(id), "appended-in-the-batch-%06d-padding-padding", i);
        if (i % 300 == 150) { /* a record that commits, then one that aborts */
            apply(f->s, id, "in", 0, i);
            assert_int_equal(eoc__store_rec_begin(f->s), EOC_OK);
            record_id(f->s, "aborted", "in", 1, i);
            eoc__store_rec_abort(f->s);
        } else if (i % 700 == 699) { /* forget an earlier row */
            char old[64];
            snprintf(old, sizeof(old), "appended-in-the-batch-%06d-padding-padding", i - 600);
            assert_int_equal(eoc__store_inbox_forget(f->s, old, strlen(old)), EOC_OK);
            record_id(f->s, id, "in", 0, i);
        } else {
            record_id(f->s, id, "in", 0, i);
        }
    }
    assert_int_equal(eoc__store_commit(f->s), EOC_OK);

    reopen(f); /* the index is rebuilt from the log, row by row */
    assert_int_equal(eoc__store_begin(f->s), EOC_OK);
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof(id), "appended-in-the-batch-%06d-padding-padding", i);
        int forgotten = (i + 600) % 700 == 699 && i + 600 < N;
        if (is_found(f->s, id) == forgotten)
            fail_msg("%s: %s", id, forgotten ? "found after its forget" : "not found");
    }
    assert_false(is_found(f->s, "aborted"));
    /* And the tail takes appends again in the next batch. */
    record_id(f->s, "next-batch", "in", 0, N);
    assert_int_equal(eoc__store_commit(f->s), EOC_OK);
    reopen(f);
    assert_int_equal(eoc__store_begin(f->s), EOC_OK);
    assert_true(is_found(f->s, "next-batch"));
    eoc__store_abort(f->s);
}

static void the_first_record_of_a_new_partition_can_be_recorded_inside_a_record(void **state)
{
    struct fx *f = *state;
    f->s = open_at(f->dir, 0, 0);
    /* A fresh store knows no partition: the inbox row of the very first
     * record registers the partition from inside the nested transaction. */
    assert_int_equal(eoc__store_begin(f->s), EOC_OK);
    apply(f->s, "first", "in", 0, 0);
    apply(f->s, "other-topic", "in2", 0, 0);
    assert_int_equal(eoc__store_commit(f->s), EOC_OK);
    reopen(f);
    assert_int_equal(eoc__store_begin(f->s), EOC_OK);
    assert_applied(f->s, "first", 0);
    assert_applied(f->s, "other-topic", 0);
    eoc__store_abort(f->s);
}

static void partitions_registered_by_rolled_back_records_get_distinct_positions(void **state)
{
    struct fx *f = *state;
    f->s = open_at(f->dir, 0, 0);
    assert_int_equal(eoc__store_begin(f->s), EOC_OK);
    /* in[0] is first seen in a record that rolls back... */
    assert_int_equal(eoc__store_rec_begin(f->s), EOC_OK);
    record_id(f->s, "rolled-back", "in", 0, 0);
    eoc__store_rec_abort(f->s);
    /* ...then in[1] and in[0] are registered for real. */
    char id[32];
    for (int i = 0; i < 10; i++) {
        snprintf(id, sizeof(id), "p1-%d", i);
        apply(f->s, id, "in", 1, i);
    }
    for (int i = 0; i < 10; i++) {
        snprintf(id, sizeof(id), "p0-%d", i);
        apply(f->s, id, "in", 0, i);
    }
    assert_int_equal(eoc__store_commit(f->s), EOC_OK);

    /* Had the rolled-back registration leaked, in[0] and in[1] would share
     * position keys and pruning one would remove the other's entries. */
    uint64_t n = 0;
    assert_int_equal(eoc__store_prune(f->s, 0, 2, 1000, &n), EOC_OK);
    assert_int_equal(n, 16); /* 8 per partition: offsets 0..7 */
    reopen(f);
    assert_int_equal(eoc__store_begin(f->s), EOC_OK);
    for (int i = 0; i < 10; i++) {
        snprintf(id, sizeof(id), "p0-%d", i);
        assert_int_equal(is_found(f->s, id), i >= 8);
        snprintf(id, sizeof(id), "p1-%d", i);
        assert_int_equal(is_found(f->s, id), i >= 8);
    }
    eoc__store_abort(f->s);
}

/* ------------------------------------------------------------------ */
/* Inbox: reopen, duplicates, other processes                          */
/* ------------------------------------------------------------------ */

static void a_reopened_store_sees_the_last_commit_and_finds_ids_committed_before_it(void **state)
{
    struct fx *f = *state;
    f->s = open_at(f->dir, 0, 0);
    char id[64];
    for (int b = 0; b < 20; b++) {
        assert_int_equal(eoc__store_begin(f->s), EOC_OK);
        for (int i = 0; i < 1000; i++) {
            snprintf(id, sizeof(id), "batch-%d-record-%d", b, i);
            record_id(f->s, id, "in", b % 3, b * 1000 + i);
        }
        assert_int_equal(eoc__store_state_put(f->s, "last", 4, &b, sizeof(b)), EOC_OK);
        assert_int_equal(eoc__store_offset_set(f->s, "in", b % 3, b * 1000 + 1000), EOC_OK);
        assert_int_equal(eoc__store_commit(f->s), EOC_OK);
    }
    /* An aborted batch after the last commit is not seen. */
    assert_int_equal(eoc__store_begin(f->s), EOC_OK);
    record_id(f->s, "aborted", "in", 0, 99999);
    int bad = -1;
    assert_int_equal(eoc__store_state_put(f->s, "last", 4, &bad, sizeof(bad)), EOC_OK);
    eoc__store_abort(f->s);

    reopen(f);
    assert_int_equal(eoc__store_begin(f->s), EOC_OK);
    for (int b = 0; b < 20; b++)
        for (int i = 0; i < 1000; i++) {
            snprintf(id, sizeof(id), "batch-%d-record-%d", b, i);
            eoc__inbox_entry_t e;
            if (inbox_find(f->s, id, strlen(id), &e) != EOC_OK)
                fail_msg("%s not found after reopen", id);
            assert_int_equal(e.offset, b * 1000 + i);
        }
    for (int i = 0; i < 1000; i++) {
        snprintf(id, sizeof(id), "never-%d", i);
        assert_false(is_found(f->s, id));
    }
    assert_false(is_found(f->s, "aborted"));
    const void *v;
    size_t vlen;
    assert_int_equal(eoc__store_state_get(f->s, "last", 4, &v, &vlen), EOC_OK);
    int last;
    memcpy(&last, v, sizeof(last));
    assert_int_equal(last, 19);
    assert_int_equal(offset_of(f->s, "in", 19 % 3), 20000);
    eoc__store_abort(f->s);
}

static void an_id_is_a_duplicate_in_its_own_batch_and_in_later_batches(void **state)
{
    struct fx *f = *state;
    f->s = open_at(f->dir, 0, 0);
    assert_int_equal(eoc__store_begin(f->s), EOC_OK);
    apply(f->s, "x", "in", 0, 0);
    /* Same batch, before the commit. */
    eoc__inbox_entry_t e;
    assert_int_equal(inbox_find(f->s, "x", 1, &e), EOC_OK);
    assert_int_equal(e.offset, 0);
    /* Inside the next record's transaction as well. */
    assert_int_equal(eoc__store_rec_begin(f->s), EOC_OK);
    assert_int_equal(inbox_find(f->s, "x", 1, &e), EOC_OK);
    record_id(f->s, "y", "in", 0, 1);
    assert_int_equal(inbox_find(f->s, "y", 1, &e), EOC_OK);
    assert_int_equal(eoc__store_rec_commit(f->s), EOC_OK);
    assert_int_equal(inbox_find(f->s, "y", 1, &e), EOC_OK);
    assert_int_equal(eoc__store_commit(f->s), EOC_OK);

    /* Later batch. */
    assert_int_equal(eoc__store_begin(f->s), EOC_OK);
    assert_int_equal(inbox_find(f->s, "x", 1, &e), EOC_OK);
    assert_int_equal(inbox_find(f->s, "y", 1, &e), EOC_OK);
    assert_int_equal(e.offset, 1);
    assert_true(e.digest == digest_of("y"));
    assert_false(is_found(f->s, "z"));
    eoc__store_abort(f->s);
}

static void info_counts_dispositions_through_rollbacks_and_pruning(void **state)
{
    struct fx *f = *state;
    char err[256];
    f->s = open_at(f->dir, 0, 0);
    assert_int_equal(eoc__store_begin(f->s), EOC_OK);
    assert_int_equal(eoc__store_inbox_add(f->s, "d0", 2, "in", 0, 0, 1, EOC__DISP_DEAD), EOC_OK);
    record_id(f->s, "a1", "in", 0, 1);
    assert_int_equal(eoc__store_rec_begin(f->s), EOC_OK); /* rolled back: not counted */
    assert_int_equal(eoc__store_inbox_add(f->s, "d9", 2, "in", 0, 2, 1, EOC__DISP_DEAD), EOC_OK);
    eoc__store_rec_abort(f->s);
    assert_int_equal(eoc__store_rec_begin(f->s), EOC_OK);
    assert_int_equal(eoc__store_inbox_add(f->s, "d2", 2, "in", 0, 2, 1, EOC__DISP_DEAD), EOC_OK);
    assert_int_equal(eoc__store_rec_commit(f->s), EOC_OK);
    record_id(f->s, "a3", "in", 0, 3);
    assert_int_equal(eoc__store_offset_set(f->s, "in", 0, 4), EOC_OK);
    assert_int_equal(eoc__store_commit(f->s), EOC_OK);

    eoc__store_close(f->s); /* one handle per environment and process */
    f->s = NULL;
    eoc_store_t *ro = eoc_store_open_readonly(f->dir, err, sizeof(err));
    assert_non_null(ro);
    eoc_store_info_t info;
    assert_int_equal(eoc_store_info(ro, &info), EOC_OK);
    assert_int_equal(info.inbox_entries, 4);
    assert_int_equal(info.inbox_dead_lettered, 2);
    assert_int_equal(info.inbox_applied, 2);
    assert_true(info.inbox_oldest_ms > 0);
    eoc_store_close(ro);
    f->s = open_at(f->dir, 0, 0);

    uint64_t pruned;
    assert_int_equal(eoc__store_prune(f->s, 0, 3, 100, &pruned), EOC_OK); /* offset 0 only */
    assert_int_equal(pruned, 1);
    eoc__store_close(f->s); /* one handle per environment and process */
    f->s = NULL;
    ro = eoc_store_open_readonly(f->dir, err, sizeof(err));
    assert_non_null(ro);
    assert_int_equal(eoc_store_info(ro, &info), EOC_OK);
    assert_int_equal(info.inbox_entries, 3);
    assert_int_equal(info.inbox_dead_lettered, 1);
    assert_int_equal(info.inbox_applied, 2);
    eoc_store_close(ro);
}

static void the_newest_disposition_of_an_id_decides_after_a_resubmission(void **state)
{
    struct fx *f = *state;
    f->s = open_at(f->dir, 0, 0);
    assert_int_equal(eoc__store_begin(f->s), EOC_OK);
    assert_int_equal(eoc__store_inbox_add(f->s, "r", 1, "in", 0, 3, digest_of("r"), EOC__DISP_DEAD),
                     EOC_OK);
    assert_int_equal(eoc__store_commit(f->s), EOC_OK);
    /* Resubmitted at a later offset and applied: a second row for "r". */
    assert_int_equal(eoc__store_begin(f->s), EOC_OK);
    record_id(f->s, "r", "in", 0, 9);
    assert_int_equal(eoc__store_commit(f->s), EOC_OK);
    eoc__store_close(f->s);

    f->s = open_at(f->dir, 0, 0); /* the rebuilt index holds both rows */
    assert_int_equal(eoc__store_begin(f->s), EOC_OK);
    eoc__inbox_entry_t e;
    assert_int_equal(inbox_find(f->s, "r", 1, &e), EOC_OK);
    assert_int_equal(e.disposition, EOC__DISP_APPLIED);
    assert_int_equal(e.offset, 9);
    eoc__store_abort(f->s);
}

static void
ids_committed_by_another_process_after_we_opened_are_found_at_our_next_begin(void **state)
{
    struct fx *f = *state;
    struct child c = spawn(f->dir, child_commits_ids);
    f->s = open_at(f->dir, 0, 0);
    char id[32];
    assert_int_equal(eoc__store_begin(f->s), EOC_OK);
    for (int i = 0; i < 10; i++) {
        snprintf(id, sizeof(id), "parent-%d", i);
        record_id(f->s, id, "in", 0, i);
    }
    assert_int_equal(eoc__store_commit(f->s), EOC_OK);

    release_and_wait(&c); /* the child opens its own handle and commits */

    assert_int_equal(eoc__store_begin(f->s), EOC_OK);
    for (int i = 0; i < 100; i++) {
        snprintf(id, sizeof(id), "child-%d", i);
        if (!is_found(f->s, id))
            fail_msg("%s, committed by another process, not found", id);
    }
    assert_int_equal(offset_of(f->s, "in", 1), 100);
    /* Our next inbox rows go after the child's in the log. */
    record_id(f->s, "parent-10", "in", 0, 10);
    assert_int_equal(eoc__store_commit(f->s), EOC_OK);

    reopen(f);
    assert_int_equal(eoc__store_begin(f->s), EOC_OK);
    for (int i = 0; i <= 10; i++) {
        snprintf(id, sizeof(id), "parent-%d", i);
        assert_true(is_found(f->s, id));
    }
    for (int i = 0; i < 100; i++) {
        snprintf(id, sizeof(id), "child-%d", i);
        assert_true(is_found(f->s, id));
    }
    eoc__store_abort(f->s);
    close_store(f);
    eoc_store_t *ro = open_ro(f->dir);
    eoc_store_info_t info;
    assert_int_equal(eoc_store_info(ro, &info), EOC_OK);
    assert_int_equal(info.inbox_entries, 111);
    eoc_store_close(ro);
}

static void ids_committed_by_another_process_before_we_opened_are_found_after_open(void **state)
{
    struct fx *f = *state;
    struct child c = spawn(f->dir, child_commits_ids);
    release_and_wait(&c);
    f->s = open_at(f->dir, 0, 0);
    assert_int_equal(eoc__store_begin(f->s), EOC_OK);
    char id[32];
    for (int i = 0; i < 100; i++) {
        snprintf(id, sizeof(id), "child-%d", i);
        assert_true(is_found(f->s, id));
    }
    assert_false(is_found(f->s, "child-100"));
    record_id(f->s, "parent-0", "in", 0, 0);
    assert_int_equal(eoc__store_commit(f->s), EOC_OK);
    assert_int_equal(eoc__store_begin(f->s), EOC_OK);
    assert_true(is_found(f->s, "parent-0"));
    assert_true(is_found(f->s, "child-99"));
    eoc__store_abort(f->s);
}

static void an_id_pruned_by_another_process_is_not_found_through_our_stale_index(void **state)
{
    struct fx *f = *state;
    struct child c = spawn(f->dir, child_prunes);
    f->s = open_at(f->dir, 0, 0);
    char id[32];
    assert_int_equal(eoc__store_begin(f->s), EOC_OK);
    for (int i = 0; i < 100; i++) {
        snprintf(id, sizeof(id), "id-%d", i);
        record_id(f->s, id, "in", 0, i);
    }
    assert_int_equal(eoc__store_offset_set(f->s, "in", 0, 100), EOC_OK);
    assert_int_equal(eoc__store_commit(f->s), EOC_OK);

    release_and_wait(&c); /* prunes offsets 0..89 */

    assert_int_equal(eoc__store_begin(f->s), EOC_OK);
    for (int i = 0; i < 100; i++) {
        snprintf(id, sizeof(id), "id-%d", i);
        assert_int_equal(is_found(f->s, id), i >= 90);
    }
    eoc__store_abort(f->s);
}

/* ------------------------------------------------------------------ */
/* Offsets                                                             */
/* ------------------------------------------------------------------ */

static void a_rewind_moves_an_offset_back_but_never_forward_and_never_beside_a_worker(void **state)
{
    struct fx *f = *state;
    char err[256];
    f->s = open_at(f->dir, 0, 0);
    assert_int_equal(eoc__store_begin(f->s), EOC_OK);
    assert_int_equal(eoc__store_offset_set(f->s, "in", 0, 50), EOC_OK);
    assert_int_equal(eoc__store_commit(f->s), EOC_OK);
    /* A worker has the store open: refused, and its offset is untouched. */
    assert_null(eoc_store_admin_open(f->dir, err, sizeof(err)));
    assert_non_null(strstr(err, "stop it first"));
    eoc__store_close(f->s);
    f->s = NULL;

    eoc_store_admin_t *a = eoc_store_admin_open(f->dir, err, sizeof(err));
    assert_non_null(a);
    assert_int_equal(eoc_store_admin_rewind(a, "in", 0, 60, err, sizeof(err)), EOC_ERR_INVALID_ARG);
    assert_non_null(strstr(err, "skip"));
    assert_int_equal(eoc_store_admin_rewind(a, "in", 1, 0, err, sizeof(err)), EOC_ERR_NOT_FOUND);
    assert_int_equal(eoc_store_admin_rewind(a, "in", 0, 10, err, sizeof(err)), EOC_OK);
    eoc_store_admin_close(a);

    f->s = open_at(f->dir, 0, 0);
    int64_t off;
    assert_int_equal(eoc__store_offset_get(f->s, "in", 0, &off), EOC_OK);
    assert_int_equal(off, 10);
}

static void offsets_never_move_back(void **state)
{
    struct fx *f = *state;
    f->s = open_at(f->dir, 0, 0);
    assert_int_equal(eoc__store_begin(f->s), EOC_OK);
    assert_int_equal(offset_of(f->s, "in", 0), -(int64_t)EOC_ERR_NOT_FOUND - 100);
    assert_int_equal(eoc__store_offset_set(f->s, "in", 0, 100), EOC_OK);
    assert_int_equal(eoc__store_commit(f->s), EOC_OK);

    /* A lower offset in a later batch keeps the higher one. */
    assert_int_equal(eoc__store_begin(f->s), EOC_OK);
    assert_int_equal(eoc__store_offset_set(f->s, "in", 0, 50), EOC_OK);
    assert_int_equal(eoc__store_commit(f->s), EOC_OK);
    assert_int_equal(offset_of(f->s, "in", 0), 100);

    /* The stored offset reads the same from inside a record. */
    assert_int_equal(eoc__store_begin(f->s), EOC_OK);
    assert_int_equal(eoc__store_rec_begin(f->s), EOC_OK);
    assert_int_equal(offset_of(f->s, "in", 0), 100);
    eoc__store_rec_abort(f->s);
    eoc__store_abort(f->s);

    /* Within one batch, the highest wins. */
    assert_int_equal(eoc__store_begin(f->s), EOC_OK);
    assert_int_equal(eoc__store_offset_set(f->s, "in", 0, 200), EOC_OK);
    assert_int_equal(eoc__store_offset_set(f->s, "in", 0, 150), EOC_OK);
    assert_int_equal(eoc__store_commit(f->s), EOC_OK);
    assert_int_equal(offset_of(f->s, "in", 0), 200);

    /* An aborted batch's offset is forgotten, also by the next batch. */
    assert_int_equal(eoc__store_begin(f->s), EOC_OK);
    assert_int_equal(eoc__store_offset_set(f->s, "in", 0, 300), EOC_OK);
    eoc__store_abort(f->s);
    assert_int_equal(eoc__store_begin(f->s), EOC_OK);
    assert_int_equal(eoc__store_offset_set(f->s, "in", 1, 7), EOC_OK);
    assert_int_equal(eoc__store_commit(f->s), EOC_OK);
    assert_int_equal(offset_of(f->s, "in", 0), 200);

    reopen(f);
    assert_int_equal(eoc__store_begin(f->s), EOC_OK);
    assert_int_equal(eoc__store_offset_set(f->s, "in", 0, 199), EOC_OK);
    assert_int_equal(eoc__store_commit(f->s), EOC_OK);
    assert_int_equal(offset_of(f->s, "in", 0), 200);
    assert_int_equal(offset_of(f->s, "in", 1), 7);
}

/* ------------------------------------------------------------------ */
/* Retention                                                           */
/* ------------------------------------------------------------------ */

/* Records ids `<prefix>-0..n-1` at offsets 0..n-1 and commits `committed`
 * as the partition's next offset. */
static void fill_partition(eoc__store_t *s, const char *prefix, int32_t partition, int n,
                           int64_t committed)
{
    char id[32];
    assert_int_equal(eoc__store_begin(s), EOC_OK);
    for (int i = 0; i < n; i++) {
        snprintf(id, sizeof(id), "%s-%d", prefix, i);
        record_id(s, id, "in", partition, i);
    }
    assert_int_equal(eoc__store_offset_set(s, "in", partition, committed), EOC_OK);
    assert_int_equal(eoc__store_commit(s), EOC_OK);
}

static int count_found(eoc__store_t *s, const char *prefix, int from, int to)
{
    char id[32];
    int n = 0;
    assert_int_equal(eoc__store_begin(s), EOC_OK);
    for (int i = from; i < to; i++) {
        snprintf(id, sizeof(id), "%s-%d", prefix, i);
        n += is_found(s, id);
    }
    eoc__store_abort(s);
    return n;
}

static void pruning_never_removes_entries_at_or_above_the_committed_offset(void **state)
{
    struct fx *f = *state;
    f->s = open_at(f->dir, 0, 0);
    /* Entries at offsets 0..99 but only 50 committed as consumed. */
    fill_partition(f->s, "p0", 0, 100, 50);
    /* A partition whose entries are all within the count horizon. */
    fill_partition(f->s, "p1", 1, 10, 10);
    uint64_t n = 99;

    assert_int_equal(eoc__store_prune(f->s, 0, 1000, 1000, &n), EOC_OK);
    assert_int_equal(n, 0);
    assert_int_equal(eoc__store_prune(f->s, 3600 * 1000, 0, 1000, &n), EOC_OK);
    assert_int_equal(n, 0);
    assert_int_equal(eoc__store_prune(f->s, 0, 0, 1000, &n), EOC_OK); /* no horizon */
    assert_int_equal(n, 0);

    /* Every entry is older than 1 ms now, but only those below the
     * committed offset may go. */
    eoc__sleep_ms(20);
    assert_int_equal(eoc__store_prune(f->s, 1, 0, 1000, &n), EOC_OK);
    assert_int_equal(n, 50 + 10);
    assert_int_equal(count_found(f->s, "p0", 0, 50), 0);
    assert_int_equal(count_found(f->s, "p0", 50, 100), 50);
    assert_int_equal(count_found(f->s, "p1", 0, 10), 0);
    /* Nothing left to prune: repeated calls are no-ops. */
    assert_int_equal(eoc__store_prune(f->s, 1, 1, 1000, &n), EOC_OK);
    assert_int_equal(n, 0);
    reopen(f);
    assert_int_equal(count_found(f->s, "p0", 0, 50), 0);
    assert_int_equal(count_found(f->s, "p0", 50, 100), 50);
}

static void pruning_removes_entries_behind_the_count_horizon_up_to_max_per_call(void **state)
{
    struct fx *f = *state;
    f->s = open_at(f->dir, 0, 0);
    fill_partition(f->s, "id", 0, 100, 100);
    uint64_t n = 0;
    assert_int_equal(eoc__store_prune(f->s, 0, 10, 30, &n), EOC_OK);
    assert_int_equal(n, 30);
    assert_int_equal(count_found(f->s, "id", 0, 30), 0);
    assert_int_equal(count_found(f->s, "id", 30, 100), 70);
    assert_int_equal(eoc__store_prune(f->s, 0, 10, 1000, &n), EOC_OK);
    assert_int_equal(n, 60);
    assert_int_equal(count_found(f->s, "id", 0, 90), 0);
    assert_int_equal(count_found(f->s, "id", 90, 100), 10);

    /* The log and the rebuilt index agree after a reopen. */
    reopen(f);
    assert_int_equal(count_found(f->s, "id", 0, 90), 0);
    assert_int_equal(count_found(f->s, "id", 90, 100), 10);
    close_store(f);
    eoc_store_t *ro = open_ro(f->dir);
    eoc_store_info_t info;
    assert_int_equal(eoc_store_info(ro, &info), EOC_OK);
    assert_int_equal(info.inbox_entries, 10);
    eoc_store_close(ro);
}

/* Batches never write the (partition, offset) index; retention extends it
 * over the log first, at most 200 000 rows per call, and prunes only rows it
 * has indexed. */
static void retention_indexes_the_log_behind_the_batches_in_bounded_passes(void **state)
{
    struct fx *f = *state;
    f->s = open_at(f->dir, 0, 0);
    fill_partition(f->s, "id", 0, 250000, 250000);
    uint64_t n = 0;
    assert_int_equal(eoc__store_prune(f->s, 0, 10, 1000000, &n), EOC_OK);
    assert_int_equal(n, 200000); /* everything indexed so far was behind the horizon */
    assert_int_equal(count_found(f->s, "id", 199990, 200010), 10);
    assert_int_equal(eoc__store_prune(f->s, 0, 10, 1000000, &n), EOC_OK);
    assert_int_equal(n, 49990);
    assert_int_equal(count_found(f->s, "id", 0, 1000), 0);
    assert_int_equal(count_found(f->s, "id", 249980, 250000), 10);
    assert_int_equal(eoc__store_prune(f->s, 0, 10, 1000000, &n), EOC_OK);
    assert_int_equal(n, 0);
}

static void a_pruned_id_looks_new_again_which_is_the_price_of_retention(void **state)
{
    struct fx *f = *state;
    f->s = open_at(f->dir, 0, 0);
    fill_partition(f->s, "id", 0, 20, 20);
    uint64_t n = 0;
    assert_int_equal(eoc__store_prune(f->s, 0, 5, 1000, &n), EOC_OK);
    assert_int_equal(n, 15);
    /* Were Kafka to redeliver offset 0 now, it would be applied again:
     * the horizon must exceed how far back redelivery can reach. */
    assert_int_equal(eoc__store_begin(f->s), EOC_OK);
    assert_false(is_found(f->s, "id-0"));
    apply(f->s, "id-0", "in", 0, 0);
    assert_true(is_found(f->s, "id-0"));
    assert_int_equal(eoc__store_commit(f->s), EOC_OK);
    assert_int_equal(offset_of(f->s, "in", 0), 20);
}

static void a_prune_that_fails_for_lack_of_space_keeps_every_committed_id_findable(void **state)
{
    struct fx *f = *state;
    f->s = open_at(f->dir, SMALL_MAP, 0);
    /* Fill the map with IDs alternating between two partitions, only in[0]
     * committed as consumed: pruning in[0] then rewrites every inbox page
     * without freeing one, and runs out of space. */
    char id[96];
    int added = 0, committed = 0;
    eoc_err_t rc = EOC_OK;
    while (rc == EOC_OK) {
        assert_int_equal(eoc__store_begin(f->s), EOC_OK);
        for (int i = 0; i < 100 && rc == EOC_OK; i++) {
            snprintf(id, sizeof(id), "id-%08d-padding-padding-padding", added);
            rc = eoc__store_inbox_add(f->s, id, strlen(id), "in", added % 2, added, digest_of(id),
                                      EOC__DISP_APPLIED);
            added += rc == EOC_OK;
        }
        if (rc != EOC_OK) {
            eoc__store_abort(f->s);
            break;
        }
        assert_int_equal(eoc__store_offset_set(f->s, "in", 0, added), EOC_OK);
        if ((rc = eoc__store_commit(f->s)) == EOC_OK)
            committed = added;
    }
    assert_int_equal(rc, EOC_ERR_MAP_FULL);
    assert_true(committed > 1000);

    uint64_t n = 99;
    rc = eoc__store_prune(f->s, 0, 1, 1000000, &n);
    if (rc != EOC_ERR_MAP_FULL)
        fail_msg("the prune was expected to run out of space (got %s): adjust the fill",
                 eoc_strerror(rc));
    assert_int_equal(n, 0);
    /* Nothing was pruned, so nothing may look new. */
    assert_int_equal(eoc__store_begin(f->s), EOC_OK);
    for (int i = 0; i < committed; i++) {
        snprintf(id, sizeof(id), "id-%08d-padding-padding-padding", i);
        if (!is_found(f->s, id))
            fail_msg("%s was committed but is not found after a failed prune", id);
    }
    eoc__store_abort(f->s);
}

/* ------------------------------------------------------------------ */
/* Failure modes                                                       */
/* ------------------------------------------------------------------ */

struct captured {
    int lines;
    char last[512];
};

static void capture(void *opaque, int level, const char *line)
{
    struct captured *c = opaque;
    (void)level;
    c->lines++;
    snprintf(c->last, sizeof(c->last), "%s", line);
}

static void a_full_map_fails_the_batch_and_the_store_stays_usable(void **state)
{
    struct fx *f = *state;
    struct captured cap = {0};
    eoc_log_t lg = {.cb = capture, .opaque = &cap, .level = EOC_LOG_DEBUG, .name = "test"};
    char err[256] = "";
    assert_int_equal(eoc__store_open(f->dir, SMALL_MAP, 0, &lg, &f->s, err, sizeof(err)), EOC_OK);
    assert_int_equal(eoc__store_begin(f->s), EOC_OK);
    apply(f->s, "before", "in", 0, 0);
    assert_int_equal(eoc__store_commit(f->s), EOC_OK);

    /* 4 MiB of state into a 1 MiB map. */
    static char value[1024];
    memset(value, 'x', sizeof(value));
    assert_int_equal(eoc__store_begin(f->s), EOC_OK);
    apply(f->s, "doomed", "in", 0, 1);
    eoc_err_t rc = EOC_OK;
    for (int i = 0; i < 4096 && rc == EOC_OK; i++) {
        char key[16];
        snprintf(key, sizeof(key), "fill-%05d", i);
        rc = eoc__store_state_put(f->s, key, strlen(key), value, sizeof(value));
    }
    if (rc == EOC_OK) {
        rc = eoc__store_commit(f->s); /* the failure may also come at commit */
    } else {
        eoc__store_abort(f->s);
    }
    assert_int_equal(rc, EOC_ERR_MAP_FULL);
    assert_false(eoc__store_in_batch(f->s));
    assert_true(strstr(cap.last, "store.map.size") != NULL);

    /* A small batch commits afterwards; the earlier commit is intact. */
    assert_int_equal(eoc__store_begin(f->s), EOC_OK);
    assert_applied(f->s, "before", 0);
    assert_not_applied(f->s, "doomed");
    apply(f->s, "after", "in", 0, 1);
    assert_int_equal(eoc__store_commit(f->s), EOC_OK);
    eoc__store_close(f->s);
    f->s = open_at(f->dir, SMALL_MAP, 0);
    assert_int_equal(eoc__store_begin(f->s), EOC_OK);
    assert_applied(f->s, "before", 0);
    assert_applied(f->s, "after", 1);
    assert_not_applied(f->s, "doomed");
    assert_int_equal(offset_of(f->s, "in", 0), 2);
    eoc__store_abort(f->s);
}

static void invalid_ids_are_rejected_and_nothing_is_written(void **state)
{
    struct fx *f = *state;
    f->s = open_at(f->dir, 0, 0);
    assert_int_equal(eoc__store_begin(f->s), EOC_OK);
    record_id(f->s, "valid", "in", 0, 0);
    assert_int_equal(eoc__store_commit(f->s), EOC_OK);

    static char longest[EOC__STORE_ID_MAX + 1]; /* eos.mode=kafka's scoped IDs are longer */
    memset(longest, 'a', sizeof(longest));
    eoc__inbox_entry_t e;
    assert_int_equal(eoc__store_begin(f->s), EOC_OK);
    assert_int_equal(inbox_find(f->s, "", 0, &e), EOC_ERR_INVALID_ID);
    assert_int_equal(inbox_find(f->s, NULL, 0, &e), EOC_ERR_INVALID_ID);
    assert_int_equal(inbox_find(f->s, longest, EOC__STORE_ID_MAX + 1, &e), EOC_ERR_INVALID_ID);
    assert_int_equal(eoc__store_inbox_add(f->s, "", 0, "in", 0, 1, 0, EOC__DISP_APPLIED),
                     EOC_ERR_INVALID_ID);
    assert_int_equal(eoc__store_inbox_add(f->s, longest, EOC__STORE_ID_MAX + 1, "new-topic", 0, 1, 0,
                                          EOC__DISP_APPLIED),
                     EOC_ERR_INVALID_ID);
    assert_int_equal(eoc__store_rec_begin(f->s), EOC_OK);
    assert_int_equal(
        eoc__store_inbox_add(f->s, longest, EOC__STORE_ID_MAX + 1, "in", 0, 1, 0, EOC__DISP_APPLIED),
        EOC_ERR_INVALID_ID);
    assert_int_equal(eoc__store_rec_commit(f->s), EOC_OK);
    /* The batch is still good and commits. */
    assert_int_equal(eoc__store_commit(f->s), EOC_OK);
    close_store(f);
    eoc_store_t *ro = open_ro(f->dir);
    eoc_store_info_t info;
    assert_int_equal(eoc_store_info(ro, &info), EOC_OK);
    assert_int_equal(info.inbox_entries, 1);
    eoc_store_close(ro);

    /* The limit itself is fine: 511 bytes. */
    f->s = open_at(f->dir, 0, 0);
    assert_int_equal(eoc__store_begin(f->s), EOC_OK);
    assert_int_equal(inbox_find(f->s, longest, EOC_ID_MAX, &e), EOC_ERR_NOT_FOUND);
    assert_int_equal(
        eoc__store_inbox_add(f->s, longest, EOC_ID_MAX, "in", 0, 1, 0, EOC__DISP_APPLIED), EOC_OK);
    assert_int_equal(eoc__store_commit(f->s), EOC_OK);
    reopen(f);
    assert_int_equal(eoc__store_begin(f->s), EOC_OK);
    assert_int_equal(inbox_find(f->s, longest, EOC_ID_MAX, &e), EOC_OK);
    assert_int_equal(inbox_find(f->s, longest, EOC_ID_MAX - 1, &e), EOC_ERR_NOT_FOUND);
    eoc__store_abort(f->s);
}

/* Overwrites meta "schema" through a raw LMDB handle. */
static void write_schema(const char *dir, uint64_t version)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    unsigned char v[8];
    for (int i = 0; i < 8; i++)
        v[i] = (unsigned char)(version >> (8 * i));
    MDB_val k = {6, "schema"}, d = {8, v};
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 8), 0);
    assert_int_equal(mdb_env_open(env, dir, 0, 0640), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "meta", MDB_CREATE, &dbi), 0);
    assert_int_equal(mdb_put(txn, dbi, &k, &d, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

static void a_store_of_another_schema_version_fails_to_open_and_says_what_to_do(void **state)
{
    struct fx *f = *state;
    f->s = open_at(f->dir, 0, 0);
    close_store(f);
    write_schema(f->dir, 99);

    eoc__store_t *s = (eoc__store_t *)1;
    char err[512] = "";
    assert_int_equal(eoc__store_open(f->dir, 0, 0, NULL, &s, err, sizeof(err)), EOC_ERR_VERSION);
    assert_null(s);
    assert_non_null(strstr(err, f->dir));
    assert_non_null(strstr(err, "99"));
    assert_non_null(strstr(err, "new data directory"));

    err[0] = 0;
    assert_null(eoc_store_open_readonly(f->dir, err, sizeof(err)));
    assert_non_null(strstr(err, "99"));
    assert_non_null(strstr(err, "matching eoc version"));

    /* Back at our version, it opens again. */
    write_schema(f->dir, EOC__SCHEMA_VERSION);
    f->s = open_at(f->dir, 0, 0);
}

static void a_lmdb_environment_that_is_not_a_store_is_refused_read_only(void **state)
{
    struct fx *f = *state;
    MDB_env *env;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_open(env, f->dir, 0, 0640), 0);
    mdb_env_close(env);
    char err[512] = "";
    assert_null(eoc_store_open_readonly(f->dir, err, sizeof(err)));
    assert_non_null(strstr(err, "not an eoc store"));
}

static void a_read_only_open_of_a_missing_directory_fails_with_a_clear_message(void **state)
{
    struct fx *f = *state;
    char missing[128];
    snprintf(missing, sizeof(missing), "%s/no-such-store", f->dir);
    char err[512] = "";
    assert_null(eoc_store_open_readonly(missing, err, sizeof(err)));
    assert_non_null(strstr(err, missing));
    assert_non_null(strstr(err, "no store in"));

    eoc__store_t *s = NULL;
    assert_int_equal(eoc__store_open(missing, 0, EOC__STORE_RDONLY, NULL, &s, err, sizeof(err)),
                     EOC_ERR_NOT_FOUND);
    struct stat st;
    assert_int_equal(stat(missing, &st), -1); /* and nothing was created */
    assert_int_equal(errno, ENOENT);
}

static void a_read_only_store_refuses_batches_and_pruning(void **state)
{
    struct fx *f = *state;
    f->s = open_at(f->dir, 0, 0);
    close_store(f);
    f->s = open_at(f->dir, 0, EOC__STORE_RDONLY);
    assert_int_equal(eoc__store_begin(f->s), EOC_ERR_READ_ONLY);
    uint64_t n = 5;
    assert_int_equal(eoc__store_prune(f->s, 0, 10, 10, &n), EOC_ERR_READ_ONLY);
    assert_int_equal(n, 0);
    uint64_t rows = 9;
    int64_t age = 9;
    assert_int_equal(eoc__store_outbox_info(f->s, &rows, &age), EOC_OK);
    assert_int_equal(rows, 0);
    assert_int_equal(age, 0);
}

static void calls_out_of_order_fail_with_a_state_error(void **state)
{
    struct fx *f = *state;
    f->s = open_at(f->dir, 0, 0);
    eoc__inbox_entry_t e;
    const void *v;
    size_t vlen;
    /* No batch open. */
    assert_int_equal(eoc__store_commit(f->s), EOC_ERR_STATE);
    assert_int_equal(eoc__store_rec_begin(f->s), EOC_ERR_STATE);
    assert_int_equal(eoc__store_rec_commit(f->s), EOC_ERR_STATE);
    assert_int_equal(inbox_find(f->s, "a", 1, &e), EOC_ERR_STATE);
    assert_int_equal(eoc__store_inbox_add(f->s, "a", 1, "in", 0, 0, 0, 1), EOC_ERR_STATE);
    assert_int_equal(eoc__store_state_put(f->s, "k", 1, "v", 1), EOC_ERR_STATE);
    assert_int_equal(eoc__store_state_get(f->s, "k", 1, &v, &vlen), EOC_ERR_STATE);
    assert_int_equal(eoc__store_state_del(f->s, "k", 1), EOC_ERR_STATE);
    assert_int_equal(eoc__store_offset_set(f->s, "in", 0, 1), EOC_ERR_STATE);
    assert_int_equal(eoc__store_meta_put(f->s, "m", "v", 1), EOC_ERR_STATE);
    eoc__outrow_t row = {0};
    assert_int_equal(eoc__store_outbox_add(f->s, &row), EOC_ERR_STATE);
    eoc__store_abort(f->s); /* no-ops */
    eoc__store_rec_abort(f->s);
    /* Inside a batch. */
    assert_int_equal(eoc__store_begin(f->s), EOC_OK);
    assert_true(eoc__store_in_batch(f->s));
    assert_int_equal(eoc__store_begin(f->s), EOC_ERR_STATE);
    assert_int_equal(eoc__store_rec_commit(f->s), EOC_ERR_STATE);
    uint64_t n = 7;
    assert_int_equal(eoc__store_prune(f->s, 0, 1, 10, &n), EOC_ERR_STATE); /* between batches */
    assert_int_equal(n, 0);
    assert_int_equal(eoc__store_rec_begin(f->s), EOC_OK);
    assert_int_equal(eoc__store_rec_begin(f->s), EOC_ERR_STATE);
    /* Committing the batch with a record still open drops the record. */
    record_id(f->s, "in-open-record", "in", 0, 0);
    assert_int_equal(eoc__store_commit(f->s), EOC_OK);
    assert_int_equal(eoc__store_begin(f->s), EOC_OK);
    assert_false(is_found(f->s, "in-open-record"));
    eoc__store_abort(f->s);
}

static void state_writes_of_a_record_are_visible_to_it_and_gone_after_its_rollback(void **state)
{
    struct fx *f = *state;
    f->s = open_at(f->dir, 0, 0);
    const void *v;
    size_t vlen;
    static char big_key[EOC_ID_MAX + 1];
    memset(big_key, 'k', sizeof(big_key));
    assert_int_equal(eoc__store_begin(f->s), EOC_OK);
    assert_int_equal(eoc__store_state_put(f->s, "k", 1, "old", 3), EOC_OK);
    assert_int_equal(eoc__store_state_put(f->s, "", 0, "x", 1), EOC_ERR_INVALID_ARG);
    assert_int_equal(eoc__store_state_put(f->s, big_key, sizeof(big_key), "x", 1),
                     EOC_ERR_INVALID_ARG);
    assert_int_equal(eoc__store_state_get(f->s, "", 0, &v, &vlen), EOC_ERR_INVALID_ARG);
    assert_int_equal(eoc__store_state_del(f->s, "absent", 6), EOC_OK);

    assert_int_equal(eoc__store_rec_begin(f->s), EOC_OK);
    assert_int_equal(eoc__store_state_get(f->s, "k", 1, &v, &vlen), EOC_OK);
    assert_int_equal(vlen, 3);
    assert_memory_equal(v, "old", 3);
    assert_int_equal(eoc__store_state_put(f->s, "k", 1, "new", 3), EOC_OK);
    assert_int_equal(eoc__store_state_get(f->s, "k", 1, &v, &vlen), EOC_OK);
    assert_memory_equal(v, "new", 3);
    assert_int_equal(eoc__store_state_put(f->s, "k2", 2, "", 0), EOC_OK);
    assert_int_equal(eoc__store_state_get(f->s, "k2", 2, &v, &vlen), EOC_OK);
    assert_int_equal(vlen, 0);
    assert_int_equal(eoc__store_state_del(f->s, "k", 1), EOC_OK);
    assert_int_equal(eoc__store_state_get(f->s, "k", 1, &v, &vlen), EOC_ERR_NOT_FOUND);
    eoc__store_rec_abort(f->s);

    assert_int_equal(eoc__store_state_get(f->s, "k", 1, &v, &vlen), EOC_OK);
    assert_memory_equal(v, "old", 3);
    assert_int_equal(eoc__store_state_get(f->s, "k2", 2, &v, &vlen), EOC_ERR_NOT_FOUND);
    assert_int_equal(eoc__store_commit(f->s), EOC_OK);
}

static void meta_values_round_trip_and_an_empty_value_deletes(void **state)
{
    struct fx *f = *state;
    f->s = open_at(f->dir, 0, 0);
    char buf[16];
    size_t len;
    assert_int_equal(eoc__store_begin(f->s), EOC_OK);
    assert_int_equal(eoc__store_meta_put(f->s, "mark", "abc", 3), EOC_OK);
    assert_int_equal(eoc__store_commit(f->s), EOC_OK);
    reopen(f);
    assert_int_equal(eoc__store_begin(f->s), EOC_OK);
    len = 2;
    assert_int_equal(eoc__store_meta_get(f->s, "mark", buf, &len), EOC_ERR_TOO_LARGE);
    len = sizeof(buf);
    assert_int_equal(eoc__store_meta_get(f->s, "mark", buf, &len), EOC_OK);
    assert_int_equal(len, 3);
    assert_memory_equal(buf, "abc", 3);
    assert_int_equal(eoc__store_meta_put(f->s, "mark", NULL, 0), EOC_OK);
    assert_int_equal(eoc__store_meta_put(f->s, "never-set", NULL, 0), EOC_OK);
    len = sizeof(buf);
    assert_int_equal(eoc__store_meta_get(f->s, "mark", buf, &len), EOC_ERR_NOT_FOUND);
    assert_int_equal(eoc__store_commit(f->s), EOC_OK);
}

/* ------------------------------------------------------------------ */
/* Outbox                                                              */
/* ------------------------------------------------------------------ */

/* Commits rows "r0".."r<n-1>" in one batch. */
static void add_rows(eoc__store_t *s, int from, int n, int64_t created_ms)
{
    char id[32];
    assert_int_equal(eoc__store_begin(s), EOC_OK);
    for (int i = from; i < from + n; i++) {
        snprintf(id, sizeof(id), "r%d", i);
        add_row(s, id, created_ms);
    }
    assert_int_equal(eoc__store_commit(s), EOC_OK);
}

static void the_outbox_scan_returns_rows_in_order_from_a_sequence(void **state)
{
    struct fx *f = *state;
    f->s = open_at(f->dir, 0, 0);
    add_rows(f->s, 0, 6, 0);
    add_rows(f->s, 6, 4, 0);
    struct rows all, r;
    scan_all(f->s, 0, &all);
    assert_int_equal(all.n, 10);
    for (size_t i = 0; i < all.n; i++) {
        char id[32];
        snprintf(id, sizeof(id), "r%zu", i);
        assert_string_equal(all.id[i], id);
        if (i)
            assert_true(all.seq[i] > all.seq[i - 1]);
    }
    /* From a sequence in the middle. */
    scan_all(f->s, all.seq[7], &r);
    assert_int_equal(r.n, 3);
    assert_string_equal(r.id[0], "r7");
    /* From past the end: nothing, next stays. */
    scan_all(f->s, all.seq[9] + 1, &r);
    assert_int_equal(r.n, 0);
    /* At most `max` rows, and next points after the last one. */
    memset(&r, 0, sizeof(r));
    uint64_t next = 0;
    assert_int_equal(eoc__store_outbox_scan(f->s, all.seq[2], 3, collect, &r, &next), EOC_OK);
    assert_int_equal(r.n, 3);
    assert_string_equal(r.id[2], "r4");
    assert_true(next == all.seq[4] + 1);
    /* The callback can stop early. */
    memset(&r, 0, sizeof(r));
    r.stop_after = 2;
    assert_int_equal(eoc__store_outbox_scan(f->s, 0, 100, collect, &r, &next), EOC_OK);
    assert_int_equal(r.n, 2);
    assert_true(next == all.seq[1] + 1);
    /* Scans also work while a batch is open and do not see it. */
    assert_int_equal(eoc__store_begin(f->s), EOC_OK);
    add_row(f->s, "uncommitted", 0);
    scan_all(f->s, 0, &r);
    assert_int_equal(r.n, 10);
    eoc__store_abort(f->s);
}

/* A commit is on disk once a later commit or a sync carried it
 * (MDB_NOMETASYNC): what the relay waits for before publishing. */
static void a_commit_is_known_on_disk_after_the_next_commit_or_a_sync(void **state)
{
    struct fx *f = *state;
    f->s = open_at(f->dir, 0, 0);
    size_t t1, t2, t3;
    uint64_t end;
    add_rows(f->s, 0, 3, 0);
    assert_int_equal(eoc__store_outbox_end(f->s, &t1, &end), EOC_OK);
    struct rows all;
    scan_all(f->s, 0, &all);
    assert_int_equal(all.n, 3);
    assert_true(end == all.seq[2] + 1);
    assert_false(eoc__store_on_disk(f->s, t1)); /* its meta page rides on the next flush */
    /* a commit that changes nothing flushes nothing: it does not count */
    assert_int_equal(eoc__store_outbox_remove_below(f->s, 0), EOC_OK);
    assert_false(eoc__store_on_disk(f->s, t1));
    add_rows(f->s, 3, 2, 0); /* the next commit flushes it */
    assert_true(eoc__store_on_disk(f->s, t1));
    assert_int_equal(eoc__store_outbox_end(f->s, &t2, &end), EOC_OK);
    assert_true(t2 > t1);
    assert_false(eoc__store_on_disk(f->s, t2));
    assert_int_equal(eoc__store_sync(f->s), EOC_OK);
    assert_true(eoc__store_on_disk(f->s, t2));
    /* a relay's own commit (removing rows) counts too */
    add_rows(f->s, 5, 1, 0);
    assert_int_equal(eoc__store_outbox_end(f->s, &t3, &end), EOC_OK);
    assert_false(eoc__store_on_disk(f->s, t3));
    assert_int_equal(eoc__store_outbox_remove_below(f->s, all.seq[1]), EOC_OK);
    assert_true(eoc__store_on_disk(f->s, t3));
    /* an empty outbox ends at 0 */
    assert_int_equal(eoc__store_outbox_remove_below(f->s, UINT64_MAX), EOC_OK);
    assert_int_equal(eoc__store_outbox_end(f->s, &t3, &end), EOC_OK);
    assert_true(end == 0);
}

static void outbox_remove_below_deletes_the_prefix_only(void **state)
{
    struct fx *f = *state;
    f->s = open_at(f->dir, 0, 0);
    add_rows(f->s, 0, 10, 0);
    struct rows all, r;
    scan_all(f->s, 0, &all);
    assert_int_equal(eoc__store_outbox_remove_below(f->s, all.seq[4]), EOC_OK);
    scan_all(f->s, 0, &r);
    assert_int_equal(r.n, 6);
    assert_string_equal(r.id[0], "r4");
    assert_string_equal(r.id[5], "r9");
    /* Again, below what is already gone: no change. */
    assert_int_equal(eoc__store_outbox_remove_below(f->s, all.seq[2]), EOC_OK);
    scan_all(f->s, 0, &r);
    assert_int_equal(r.n, 6);
    assert_int_equal(eoc__store_outbox_remove_below(f->s, all.seq[9]), EOC_OK);
    scan_all(f->s, 0, &r);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.id[0], "r9");
}

static void outbox_sequence_numbers_keep_increasing_after_everything_was_removed(void **state)
{
    struct fx *f = *state;
    f->s = open_at(f->dir, 0, 0);
    add_rows(f->s, 0, 5, 0);
    struct rows r;
    scan_all(f->s, 0, &r);
    uint64_t last = r.seq[4];
    assert_int_equal(eoc__store_outbox_remove_below(f->s, UINT64_MAX), EOC_OK);
    scan_all(f->s, 0, &r);
    assert_int_equal(r.n, 0);

    add_rows(f->s, 5, 1, 0);
    scan_all(f->s, 0, &r);
    assert_int_equal(r.n, 1);
    assert_true(r.seq[0] > last);
    last = r.seq[0];

    /* Also across a reopen with an empty outbox. */
    assert_int_equal(eoc__store_outbox_remove_below(f->s, UINT64_MAX), EOC_OK);
    reopen(f);
    /* An aborted batch does not reuse or skip backwards either. */
    assert_int_equal(eoc__store_begin(f->s), EOC_OK);
    add_row(f->s, "aborted", 0);
    eoc__store_abort(f->s);
    add_rows(f->s, 6, 2, 0);
    scan_all(f->s, 0, &r);
    assert_int_equal(r.n, 2);
    assert_true(r.seq[0] > last);
    assert_true(r.seq[1] > r.seq[0]);
}

static void outbox_info_counts_rows_and_the_age_of_the_oldest(void **state)
{
    struct fx *f = *state;
    f->s = open_at(f->dir, 0, 0);
    uint64_t rows = 9;
    int64_t age = 9;
    assert_int_equal(eoc__store_outbox_info(f->s, &rows, &age), EOC_OK);
    assert_int_equal(rows, 0);
    assert_int_equal(age, 0);

    int64_t now = eoc__now_ms();
    add_rows(f->s, 0, 3, now - 60000); /* a minute old */
    add_rows(f->s, 3, 4, 0);           /* now */
    assert_int_equal(eoc__store_outbox_info(f->s, &rows, &age), EOC_OK);
    assert_int_equal(rows, 7);
    assert_true(age >= 60000 && age < 120000);

    struct rows r;
    scan_all(f->s, 0, &r);
    assert_int_equal(eoc__store_outbox_remove_below(f->s, r.seq[3]), EOC_OK);
    assert_int_equal(eoc__store_outbox_info(f->s, &rows, &age), EOC_OK);
    assert_int_equal(rows, 4);
    assert_true(age >= 0 && age < 60000);

    assert_int_equal(eoc__store_outbox_remove_below(f->s, UINT64_MAX), EOC_OK);
    assert_int_equal(eoc__store_outbox_info(f->s, &rows, &age), EOC_OK);
    assert_int_equal(rows, 0);
    assert_int_equal(age, 0);
}

/* A batch's rows are one segment: a record that fails takes its rows out of
 * it, the others stay, in order. */
static void outbox_rows_of_a_failed_record_leave_the_batch_and_the_others_stay(void **state)
{
    struct fx *f = *state;
    f->s = open_at(f->dir, 0, 0);
    assert_int_equal(eoc__store_begin(f->s), EOC_OK);
    const char *ids[] = {"kept-1", "failed", "kept-2"};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(eoc__store_rec_begin(f->s), EOC_OK);
        add_row(f->s, ids[i], 0);
        if (i == 1) {
            add_row(f->s, "failed-too", 0);
            eoc__store_rec_abort(f->s);
        } else {
            assert_int_equal(eoc__store_rec_commit(f->s), EOC_OK);
        }
    }
    add_row(f->s, "outside-a-record", 0);
    assert_int_equal(eoc__store_commit(f->s), EOC_OK);
    struct rows r;
    scan_all(f->s, 0, &r);
    assert_int_equal(r.n, 3);
    assert_string_equal(r.id[0], "kept-1");
    assert_string_equal(r.id[1], "kept-2");
    assert_string_equal(r.id[2], "outside-a-record");
    uint64_t rows;
    int64_t age;
    assert_int_equal(eoc__store_outbox_info(f->s, &rows, &age), EOC_OK);
    assert_int_equal(rows, 3);
}

/* A row refused for good is cut out of its batch's segment (first, middle,
 * last), never found twice, and a dead letter goes after everything. */
static void a_refused_row_is_cut_out_of_its_batch_and_the_rest_kept(void **state)
{
    struct fx *f = *state;
    f->s = open_at(f->dir, 0, 0);
    add_rows(f->s, 0, 5, 0);
    add_rows(f->s, 5, 3, 0);
    struct rows all, r;
    scan_all(f->s, 0, &all);
    assert_int_equal(all.n, 8);
    assert_int_equal(eoc__store_outbox_replace(f->s, all.seq[2], NULL), EOC_OK);
    assert_int_equal(eoc__store_outbox_replace(f->s, all.seq[2], NULL), EOC_ERR_NOT_FOUND);
    assert_int_equal(eoc__store_outbox_replace(f->s, all.seq[0], NULL), EOC_OK);
    assert_int_equal(eoc__store_outbox_replace(f->s, all.seq[4], NULL), EOC_OK);
    scan_all(f->s, 0, &r);
    assert_int_equal(r.n, 5);
    assert_string_equal(r.id[0], "r1");
    assert_string_equal(r.id[1], "r3");
    assert_string_equal(r.id[2], "r5");
    /* From a seq that was cut: the next row. */
    scan_all(f->s, all.seq[4], &r);
    assert_int_equal(r.n, 3);
    assert_string_equal(r.id[0], "r5");
    /* A whole segment cut away, row by row. */
    assert_int_equal(eoc__store_outbox_replace(f->s, all.seq[1], NULL), EOC_OK);
    assert_int_equal(eoc__store_outbox_replace(f->s, all.seq[3], NULL), EOC_OK);
    scan_all(f->s, 0, &r);
    assert_int_equal(r.n, 3);
    assert_string_equal(r.id[0], "r5");
    /* Delivered rows are gone for a cut too; a dead letter comes last. */
    assert_int_equal(eoc__store_outbox_remove_below(f->s, all.seq[6]), EOC_OK);
    assert_int_equal(eoc__store_outbox_replace(f->s, all.seq[5], NULL), EOC_ERR_NOT_FOUND);
    eoc__outrow_t dead = {0};
    dead.id = "dead";
    dead.id_len = 4;
    dead.topic = "dlq";
    dead.topic_len = 3;
    assert_int_equal(eoc__store_outbox_replace(f->s, all.seq[6], &dead), EOC_OK);
    scan_all(f->s, 0, &r);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.id[0], "r7");
    assert_string_equal(r.id[1], "dead");
    assert_true(r.seq[1] > all.seq[7]);
    uint64_t rows;
    int64_t age;
    assert_int_equal(eoc__store_outbox_info(f->s, &rows, &age), EOC_OK);
    assert_int_equal(rows, 2);
    /* And the sequence goes on after the dead letter. */
    add_rows(f->s, 8, 1, 0);
    scan_all(f->s, 0, &r);
    assert_int_equal(r.n, 3);
    assert_true(r.seq[2] > r.seq[1]);
}

/* Schema 3 kept an LMDB value per outbox row: a writable open rewrites them
 * as segments and nothing is lost; a read-only open says what to do. */
static void a_schema_3_store_is_upgraded_in_place_by_a_writable_open(void **state)
{
    struct fx *f = *state;
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi, meta;
    const char *names[] = {"offsets", "inbox", "inbox_pos", "state"};
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 8), 0);
    assert_int_equal(mdb_env_open(env, f->dir, 0, 0640), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(mdb_dbi_open(txn, names[i], MDB_CREATE, &dbi), 0);
    assert_int_equal(mdb_dbi_open(txn, "meta", MDB_CREATE, &meta), 0);
    assert_int_equal(mdb_dbi_open(txn, "outbox", MDB_CREATE, &dbi), 0);
    eoc__buf_t enc = {0};
    for (int i = 0; i < 3; i++) {
        char id[8];
        snprintf(id, sizeof(id), "old%d", i);
        eoc__outrow_t row = {0};
        row.created_ms = 1000 + i;
        row.id = id;
        row.id_len = strlen(id);
        row.topic = "out";
        row.topic_len = 3;
        eoc__buf_reset(&enc);
        eoc__outrow_encode(&enc, &row);
        unsigned char kb[8];
        eoc__be64_put(kb, (uint64_t)(40 + i));
        MDB_val k = {8, kb}, d = {enc.len, enc.p};
        assert_int_equal(mdb_put(txn, dbi, &k, &d, MDB_APPEND), 0);
    }
    eoc__buf_free(&enc);
    unsigned char v[8];
    eoc__le_encode(v, 8, 3);
    MDB_val k = {6, "schema"}, d = {8, v};
    assert_int_equal(mdb_put(txn, meta, &k, &d, 0), 0);
    unsigned char n[8];
    eoc__le_encode(n, 8, 43);
    MDB_val nk = {11, "outbox.next"}, nd = {8, n};
    assert_int_equal(mdb_put(txn, meta, &nk, &nd, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);

    char err[512] = "";
    assert_null(eoc_store_open_readonly(f->dir, err, sizeof(err)));
    assert_non_null(strstr(err, "upgrade"));

    f->s = open_at(f->dir, 0, 0);
    struct rows r;
    scan_all(f->s, 0, &r);
    assert_int_equal(r.n, 3);
    for (int i = 0; i < 3; i++) {
        assert_true(r.seq[i] == (uint64_t)(40 + i));
        assert_int_equal(r.created[i], 1000 + i);
    }
    assert_string_equal(r.id[2], "old2");
    add_rows(f->s, 0, 1, 0);
    scan_all(f->s, 41, &r);
    assert_int_equal(r.n, 3);
    assert_true(r.seq[2] == 43);
    assert_int_equal(eoc__store_outbox_replace(f->s, 41, NULL), EOC_OK);
    assert_int_equal(eoc__store_outbox_remove_below(f->s, 43), EOC_OK);
    scan_all(f->s, 0, &r);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.id[0], "r0");
    reopen(f);
    eoc_store_t *ro = eoc_store_open_readonly(f->dir, err, sizeof(err));
    assert_non_null(ro);
    eoc_store_info_t info;
    assert_int_equal(eoc_store_info(ro, &info), EOC_OK);
    assert_int_equal(info.schema_version, EOC__SCHEMA_VERSION);
    assert_int_equal(info.outbox_rows, 1);
    eoc_store_close(ro);
}

static void a_store_without_index_relays_but_refuses_batches(void **state)
{
    struct fx *f = *state;
    f->s = open_at(f->dir, 0, 0);
    add_rows(f->s, 0, 3, 0);
    close_store(f);
    f->s = open_at(f->dir, 0, EOC__STORE_NOINDEX);
    assert_int_equal(eoc__store_begin(f->s), EOC_ERR_STATE);
    struct rows r;
    scan_all(f->s, 0, &r);
    assert_int_equal(r.n, 3);
    assert_int_equal(eoc__store_outbox_remove_below(f->s, r.seq[1]), EOC_OK);
    scan_all(f->s, 0, &r);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.id[0], "r1");
    assert_string_equal(eoc__store_dir(f->s), f->dir);
}

#define STORE_TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        STORE_TEST(a_commit_persists_inbox_state_outbox_and_offsets_together),
        STORE_TEST(an_abort_leaves_no_inbox_state_outbox_or_offsets),
        STORE_TEST(aborting_with_a_record_open_discards_that_record_too),
        STORE_TEST(a_failing_record_rolls_back_alone_while_the_batch_commits),
        STORE_TEST(batch_appends_around_records_and_forgets_keep_the_inbox_log_whole),
        STORE_TEST(the_first_record_of_a_new_partition_can_be_recorded_inside_a_record),
        STORE_TEST(partitions_registered_by_rolled_back_records_get_distinct_positions),
        STORE_TEST(a_reopened_store_sees_the_last_commit_and_finds_ids_committed_before_it),
        STORE_TEST(an_id_is_a_duplicate_in_its_own_batch_and_in_later_batches),
        STORE_TEST(the_newest_disposition_of_an_id_decides_after_a_resubmission),
        STORE_TEST(info_counts_dispositions_through_rollbacks_and_pruning),
        STORE_TEST(ids_committed_by_another_process_after_we_opened_are_found_at_our_next_begin),
        STORE_TEST(ids_committed_by_another_process_before_we_opened_are_found_after_open),
        STORE_TEST(an_id_pruned_by_another_process_is_not_found_through_our_stale_index),
        STORE_TEST(offsets_never_move_back),
        STORE_TEST(a_rewind_moves_an_offset_back_but_never_forward_and_never_beside_a_worker),
        STORE_TEST(pruning_never_removes_entries_at_or_above_the_committed_offset),
        STORE_TEST(pruning_removes_entries_behind_the_count_horizon_up_to_max_per_call),
        STORE_TEST(retention_indexes_the_log_behind_the_batches_in_bounded_passes),
        STORE_TEST(a_pruned_id_looks_new_again_which_is_the_price_of_retention),
        STORE_TEST(a_prune_that_fails_for_lack_of_space_keeps_every_committed_id_findable),
        STORE_TEST(a_full_map_fails_the_batch_and_the_store_stays_usable),
        STORE_TEST(invalid_ids_are_rejected_and_nothing_is_written),
        STORE_TEST(a_store_of_another_schema_version_fails_to_open_and_says_what_to_do),
        STORE_TEST(a_lmdb_environment_that_is_not_a_store_is_refused_read_only),
        STORE_TEST(a_read_only_open_of_a_missing_directory_fails_with_a_clear_message),
        STORE_TEST(a_read_only_store_refuses_batches_and_pruning),
        STORE_TEST(calls_out_of_order_fail_with_a_state_error),
        STORE_TEST(state_writes_of_a_record_are_visible_to_it_and_gone_after_its_rollback),
        STORE_TEST(meta_values_round_trip_and_an_empty_value_deletes),
        STORE_TEST(the_outbox_scan_returns_rows_in_order_from_a_sequence),
        STORE_TEST(a_commit_is_known_on_disk_after_the_next_commit_or_a_sync),
        STORE_TEST(outbox_remove_below_deletes_the_prefix_only),
        STORE_TEST(outbox_sequence_numbers_keep_increasing_after_everything_was_removed),
        STORE_TEST(outbox_info_counts_rows_and_the_age_of_the_oldest),
        STORE_TEST(outbox_rows_of_a_failed_record_leave_the_batch_and_the_others_stay),
        STORE_TEST(a_refused_row_is_cut_out_of_its_batch_and_the_rest_kept),
        STORE_TEST(a_schema_3_store_is_upgraded_in_place_by_a_writable_open),
        STORE_TEST(a_store_without_index_relays_but_refuses_batches),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
