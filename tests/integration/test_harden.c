/*
 * test_harden - issue #15: the shipped programs at their limits, as real
 * processes against the development Kafka: maximal IDs through a chain of
 * eoc-forward hops, JSON IDs and ledger fields that cJSON would lose,
 * strict numbers on every command line, signals, `eoc replay` and
 * `eoc dlq` edge cases.
 *
 * The helpers up to "The tests" are test_consumers.c's (fixture, child
 * processes, Kafka in and out, inspect); same environment variables.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "devkafka.h"

#include <cjson/cJSON.h>
#include <librdkafka/rdkafka.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define DEADLINE_MS  60000 /* any single wait */
#define RUN_MS       20000 /* a short-lived command (inspect, --help, ...) */
#define POLL_MS      50
#define MAX_CHILDREN 8
#define NACCOUNTS    5

/* ------------------------------------------------------------------ */
/* Small utilities                                                     */
/* ------------------------------------------------------------------ */

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* The whole file as a NUL-terminated string (caller frees); "" when absent. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0, cap = 0, n;

    if (!f)
        return strdup("");
    do {
        if (len + 4096 + 1 > cap) {
            cap = (cap ? cap * 2 : 8192);
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
        n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
    } while (n > 0);
    fclose(f);
    buf[len] = '\0';
    return buf;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    assert_true(fputs(text, f) >= 0);
    assert_int_equal(fclose(f), 0);
}

/* A fixed seed from EOC_TEST_SEED, or a fresh one; printed either way. */
static unsigned test_seed(const char *test)
{
    const char *env = getenv("EOC_TEST_SEED");
    unsigned seed =
        env ? (unsigned)strtoul(env, NULL, 10) : (unsigned)time(NULL) ^ ((unsigned)getpid() << 16);

    fprintf(stderr, "%s: seed %u (EOC_TEST_SEED=%u replays it)\n", test, seed, seed);
    return seed;
}

/* ------------------------------------------------------------------ */
/* The fixture: a scratch directory, development Kafkas, child processes */
/* ------------------------------------------------------------------ */

typedef struct fx {
    char dir[64];      /* scratch directory, removed at teardown */
    devkafka_t *dk[2]; /* dk[1] only for the two-cluster test */
    const char *bs[2];
    pid_t kids[MAX_CHILDREN]; /* still-running children, killed at teardown */
    int nkids;
    int seq; /* names the output files of children */
} fx_t;

static const char *build_root(void)
{
    const char *root = getenv("EOC_BUILD_ROOT");

    return root && *root ? root : ".";
}

/* "<EOC_BUILD_ROOT>/<rel>" in buf. */
static const char *program(char *buf, size_t size, const char *rel)
{
    snprintf(buf, size, "%s/%s", build_root(), rel);
    return buf;
}

static int fx_setup(void **state)
{
    fx_t *f = calloc(1, sizeof(*f));

    if (!f)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/eoc-consumers-XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static void remove_tree(const char *dir)
{
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

static int fx_teardown(void **state)
{
    fx_t *f = *state;

    for (int i = 0; i < f->nkids; i++) {
        if (f->kids[i] > 0) {
            kill(f->kids[i], SIGKILL);
            waitpid(f->kids[i], NULL, 0);
        }
    }
    for (int i = 0; i < 2; i++)
        devkafka_stop(f->dk[i]);
    if (getenv("EOC_TEST_KEEP"))
        fprintf(stderr, "kept %s\n", f->dir);
    else
        remove_tree(f->dir);
    free(f);
    return 0;
}

/* Starts development Kafka number `i` with `topics` ("name:partitions", NULL-terminated). */
static const char *fx_kafka(fx_t *f, int i, const char *const *topics)
{
    char err[256];
    const char *exe = devkafka_exe_from_env();

    assert_non_null(exe);
    f->dk[i] = devkafka_start(exe, 1, topics, err, sizeof(err));
    if (!f->dk[i])
        fail_msg("devkafka: %s", err);
    f->bs[i] = devkafka_bootstraps(f->dk[i]);
    return f->bs[i];
}

/* "<dir>/<name>" in buf. */
static const char *fx_path(const fx_t *f, char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", f->dir, name);
    return buf;
}

/* ------------------------------------------------------------------ */
/* Child processes                                                     */
/* ------------------------------------------------------------------ */

typedef struct proc {
    pid_t pid;
    char out[128]; /* stdout and stderr go to files in the scratch directory */
    char err[128];
} proc_t;

/* Starts argv (NULL-terminated) with stdin from /dev/null; extra env "K=V" or NULL. */
static void proc_start(fx_t *f, proc_t *p, const char *const *argv, const char *env)
{
    posix_spawn_file_actions_t fa;
    char **envp = environ;
    char *one_more[512];

    snprintf(p->out, sizeof(p->out), "%s/proc%d.out", f->dir, f->seq);
    snprintf(p->err, sizeof(p->err), "%s/proc%d.err", f->dir, f->seq++);
    assert_int_equal(posix_spawn_file_actions_init(&fa), 0);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, p->out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, p->err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (env) {
        size_t n = 0;

        while (environ[n] && n < 510) {
            one_more[n] = environ[n];
            n++;
        }
        one_more[n++] = (char *)env;
        one_more[n] = NULL;
        envp = one_more;
    }
    int rc = posix_spawn(&p->pid, argv[0], &fa, NULL, (char *const *)argv, envp);
    if (rc != 0)
        fail_msg("cannot start %s: %s", argv[0], strerror(rc));
    posix_spawn_file_actions_destroy(&fa);
    int slot = 0;
    while (slot < f->nkids && f->kids[slot] > 0)
        slot++;
    assert_true(slot < MAX_CHILDREN);
    f->kids[slot] = p->pid;
    if (slot == f->nkids)
        f->nkids++;
}

static void forget_kid(fx_t *f, pid_t pid)
{
    for (int i = 0; i < f->nkids; i++) {
        if (f->kids[i] == pid)
            f->kids[i] = 0;
    }
}

/*
 * Waits up to timeout_ms for the child. Returns its exit status, 128 + the
 * signal when a signal ended it, or -1 when it is still running (then it
 * stays running: the caller decides).
 */
static int proc_wait(fx_t *f, proc_t *p, int64_t timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    int st;

    for (;;) {
        pid_t r = waitpid(p->pid, &st, WNOHANG);

        if (r == p->pid) {
            forget_kid(f, p->pid);
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        }
        assert_int_equal(r, 0);
        if (now_ms() >= deadline)
            return -1;
        sleep_ms(10);
    }
}

/* Sends `sig` and waits for the end; fails the test when the child outlives the deadline. */
static int proc_signal(fx_t *f, proc_t *p, int sig)
{
    assert_int_equal(kill(p->pid, sig), 0);
    int rc = proc_wait(f, p, DEADLINE_MS);
    if (rc < 0) {
        char *err = slurp(p->err);
        fail_msg("pid %d ignored signal %d; stderr:\n%s", (int)p->pid, sig, err);
    }
    return rc;
}

/* Runs argv to completion (bounded); returns the exit status, stdout and stderr (caller frees). */
static int run(fx_t *f, const char *const *argv, char **out, char **err)
{
    proc_t p;

    proc_start(f, &p, argv, NULL);
    int rc = proc_wait(f, &p, RUN_MS);
    if (rc < 0) {
        kill(p.pid, SIGKILL);
        proc_wait(f, &p, RUN_MS);
        fail_msg("%s did not finish within %d ms", argv[0], RUN_MS);
    }
    if (out)
        *out = slurp(p.out);
    if (err)
        *err = slurp(p.err);
    return rc;
}

/* Prints a child's stderr, for the log of a failing test. */
static void proc_dump(const proc_t *p, const char *what)
{
    char *err = slurp(p->err);

    fprintf(stderr, "---- %s stderr ----\n%s---- end ----\n", what, err);
    free(err);
}

/* ------------------------------------------------------------------ */
/* Kafka: producing and reading back                                   */
/* ------------------------------------------------------------------ */

static rd_kafka_t *producer_new(const char *bs)
{
    char err[256];
    rd_kafka_conf_t *kc = rd_kafka_conf_new();

    assert_int_equal(rd_kafka_conf_set(kc, "bootstrap.servers", bs, err, sizeof(err)), 0);
    assert_int_equal(rd_kafka_conf_set(kc, "enable.idempotence", "true", err, sizeof(err)), 0);
    assert_int_equal(rd_kafka_conf_set(kc, "linger.ms", "5", err, sizeof(err)), 0);
    rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, kc, err, sizeof(err));
    if (!p)
        fail_msg("producer: %s", err);
    return p;
}

/*
 * Queues one record; `hdrs` holds name, value pairs (NULL-terminated; a
 * value may be given with its length through hdr_lens, else strlen).
 */
static void produce(rd_kafka_t *p, const char *topic, const char *key, const void *value,
                    size_t len, const char *const *hdrs, const size_t *hdr_lens)
{
    rd_kafka_headers_t *h = rd_kafka_headers_new(8);

    for (size_t i = 0; hdrs && hdrs[i]; i += 2) {
        ssize_t vlen = hdr_lens ? (ssize_t)hdr_lens[i / 2] : -1;
        rd_kafka_header_add(h, hdrs[i], -1, hdrs[i + 1], vlen);
    }
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
            RD_KAFKA_V_VALUE((void *)value, len), RD_KAFKA_V_HEADERS(h),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_poll(p, 10);
            continue;
        }
        assert_int_equal(e, RD_KAFKA_RESP_ERR_NO_ERROR);
        return;
    }
}

static void producer_done(rd_kafka_t *p)
{
    assert_int_equal(rd_kafka_flush(p, DEADLINE_MS), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(p);
}

/* A record read back. */
typedef struct krec {
    char *key; /* NUL-terminated copies; NULL for null */
    size_t key_len;
    char *value;
    size_t len;
    int32_t partition;
    rd_kafka_headers_t *hdrs; /* owned, may be NULL */
} krec_t;

typedef struct krecs {
    krec_t *v;
    size_t n, cap;
} krecs_t;

static char *copy_bytes(const void *p, size_t len)
{
    char *c;

    if (!p)
        return NULL;
    c = malloc(len + 1);
    assert_non_null(c);
    memcpy(c, p, len);
    c[len] = '\0';
    return c;
}

static void krecs_add(krecs_t *rs, rd_kafka_message_t *m)
{
    if (rs->n == rs->cap) {
        rs->cap = rs->cap ? rs->cap * 2 : 64;
        rs->v = realloc(rs->v, rs->cap * sizeof(*rs->v));
        assert_non_null(rs->v);
    }
    krec_t *r = &rs->v[rs->n++];
    r->key = copy_bytes(m->key, m->key_len);
    r->key_len = m->key_len;
    r->value = copy_bytes(m->payload, m->len);
    r->len = m->len;
    r->partition = m->partition;
    r->hdrs = NULL;
    rd_kafka_message_detach_headers(m, &r->hdrs);
}

static void krecs_free(krecs_t *rs)
{
    for (size_t i = 0; i < rs->n; i++) {
        free(rs->v[i].key);
        free(rs->v[i].value);
        if (rs->v[i].hdrs)
            rd_kafka_headers_destroy(rs->v[i].hdrs);
    }
    free(rs->v);
    memset(rs, 0, sizeof(*rs));
}

/* The last header `name` of r as a NUL-terminated copy in buf (NULL when absent). */
static const char *krec_header(const krec_t *r, const char *name, char *buf, size_t size)
{
    const void *v;
    size_t len;

    if (!r->hdrs || rd_kafka_header_get_last(r->hdrs, name, &v, &len) != 0)
        return NULL;
    snprintf(buf, size, "%.*s", (int)len, v ? (const char *)v : "");
    return buf;
}

static size_t krec_header_count(const krec_t *r, const char *name)
{
    size_t n = 0;
    const void *v;
    size_t len;

    while (r->hdrs && rd_kafka_header_get(r->hdrs, n, name, &v, &len) == 0)
        n++;
    return n;
}

/* Number of partitions of `topic`. */
static int partitions_of(rd_kafka_t *rk, const char *topic)
{
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    int n = 0;

    assert_non_null(t);
    assert_int_equal(rd_kafka_metadata(rk, 0, t, &md, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    if (md->topic_cnt == 1 && md->topics[0].err == 0)
        n = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(t);
    return n;
}

/*
 * Reads `topic` from its beginning until at least `min` records arrived and
 * every partition's end was reached after its last record, or the
 * deadline. Returns the records (the caller frees them with krecs_free).
 */
static krecs_t read_topic(const char *bs, const char *topic, size_t min)
{
    char err[256];
    krecs_t rs = {0};
    rd_kafka_conf_t *kc = rd_kafka_conf_new();

    assert_int_equal(rd_kafka_conf_set(kc, "bootstrap.servers", bs, err, sizeof(err)), 0);
    assert_int_equal(rd_kafka_conf_set(kc, "group.id", "test-reader", err, sizeof(err)), 0);
    assert_int_equal(rd_kafka_conf_set(kc, "enable.partition.eof", "true", err, sizeof(err)), 0);
    assert_int_equal(rd_kafka_conf_set(kc, "enable.auto.commit", "false", err, sizeof(err)), 0);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, err, sizeof(err));
    assert_non_null(rk);
    int np = partitions_of(rk, topic);
    assert_true(np > 0 && np <= 64);
    int at_end[64] = {0}, ends = 0;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(np);
    for (int i = 0; i < np; i++)
        rd_kafka_topic_partition_list_add(l, topic, i)->offset = RD_KAFKA_OFFSET_BEGINNING;
    assert_int_equal(rd_kafka_assign(rk, l), 0);
    rd_kafka_topic_partition_list_destroy(l);
    for (int64_t deadline = now_ms() + DEADLINE_MS;
         !(rs.n >= min && ends == np) && now_ms() < deadline;) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);

        if (!m)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            ends += !at_end[m->partition];
            at_end[m->partition] = 1;
        } else if (!m->err) {
            ends -= at_end[m->partition];
            at_end[m->partition] = 0;
            krecs_add(&rs, m);
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return rs;
}

/* ------------------------------------------------------------------ */
/* The programs                                                        */
/* ------------------------------------------------------------------ */

/* `eoc inspect --json DIR`, parsed (caller deletes); NULL with *rc set when it fails. */
static cJSON *try_inspect(fx_t *f, const char *data, int *rc, char **err)
{
    char exe[PATH_MAX];
    const char *argv[] = {program(exe, sizeof(exe), "tools/eoc/eoc"), "inspect", data, "--json",
                          NULL};
    char *out;

    *rc = run(f, argv, &out, err);
    cJSON *doc = *rc == 0 ? cJSON_Parse(out) : NULL;
    if (*rc == 0 && !doc)
        fail_msg("eoc inspect printed no JSON: %s", out);
    free(out);
    return doc;
}

/* `eoc inspect --json DIR`, parsed (caller deletes); fails the test on error. */
static cJSON *inspect(fx_t *f, const char *data)
{
    char *err;
    int rc;
    cJSON *doc = try_inspect(f, data, &rc, &err);

    if (!doc)
        fail_msg("eoc inspect exited %d: %s", rc, err);
    free(err);
    return doc;
}

/* A number at a path of two names ("inbox", "applied"), or -1. */
static int64_t json_num(const cJSON *doc, const char *obj, const char *name)
{
    const cJSON *o = obj ? cJSON_GetObjectItemCaseSensitive(doc, obj) : doc;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

    return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : -1;
}

/* The sum of the stored next offsets: the records that have their disposition. */
static int64_t offsets_sum(const cJSON *doc)
{
    const cJSON *o, *offsets = cJSON_GetObjectItemCaseSensitive(doc, "offsets");
    int64_t sum = 0;

    cJSON_ArrayForEach(o, offsets)
    {
        sum += json_num(o, NULL, "next_offset");
    }
    return sum;
}

/* The store's progress (offsets sum); 0 while the worker is still creating it. */
static int64_t progress(fx_t *f, const char *data)
{
    char *err;
    int rc;
    cJSON *doc = try_inspect(f, data, &rc, &err);
    int64_t n = doc ? offsets_sum(doc) : 0;

    cJSON_Delete(doc);
    free(err);
    return n;
}

/*
 * Polls until at least `target` records have their disposition in the
 * store `data`, while `worker` keeps running. Returns the progress seen.
 */
static int64_t wait_progress(fx_t *f, proc_t *worker, const char *data, int64_t target)
{
    int64_t deadline = now_ms() + DEADLINE_MS, seen = 0;

    while ((seen = progress(f, data)) < target) {
        if (proc_wait(f, worker, 0) >= 0) {
            proc_dump(worker, "worker");
            fail_msg("the worker exited at %" PRId64 "/%" PRId64 " records", seen, target);
        }
        if (now_ms() >= deadline) {
            proc_dump(worker, "worker");
            fail_msg("only %" PRId64 " of %" PRId64 " records done after %d ms", seen, target,
                     DEADLINE_MS);
        }
        sleep_ms(POLL_MS);
    }
    return seen;
}

/* Starts eoc-ledger on `bs` with the store `data`; extra flags follow, NULL-terminated. */
static void start_ledger(fx_t *f, proc_t *p, const char *bs, const char *data, const char *env, ...)
{
    char exe[PATH_MAX];
    const char *argv[40] = {program(exe, sizeof(exe), "consumers/eoc-ledger"),
                            "--brokers",
                            bs,
                            "--input",
                            "in",
                            "--output",
                            "out",
                            "--dlq",
                            "dlq",
                            "--data",
                            data,
                            "--batch-ms",
                            "20",
                            "--set",
                            "kafka.session.timeout.ms=6000"};
    size_t n = 15;
    va_list ap;

    va_start(ap, env);
    for (const char *a; (a = va_arg(ap, const char *)) && n < 39;)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    proc_start(f, p, argv, env);
}

/* `eoc-ledger --data DIR --balances` output. */
static char *ledger_balances(fx_t *f, const char *data)
{
    char exe[PATH_MAX];
    const char *argv[] = {program(exe, sizeof(exe), "consumers/eoc-ledger"), "--data", data,
                          "--balances", NULL};
    char *out, *err;
    int rc = run(f, argv, &out, &err);

    if (rc != 0)
        fail_msg("eoc-ledger --balances exited %d: %s", rc, err);
    free(err);
    return out;
}

/* ------------------------------------------------------------------ */
/* Ledger data                                                         */
/* ------------------------------------------------------------------ */

/* ------------------------------------------------------------------ */
/* The tests                                                           */
/* ------------------------------------------------------------------ */

#include "jsontext.h" /* eoc__utf8_valid */
#include "msgid.h"    /* eoc__id_derive: the IDs a chain must produce */

/* eoc-forward from `in` to `out`, its own group and store; runs until stopped. */
static void start_forward(fx_t *f, proc_t *p, const char *bs, const char *in, const char *out,
                          const char *dlq, const char *name)
{
    static char exe[PATH_MAX], data[4][PATH_MAX];
    static int n;
    char *d = data[n++ % 4];
    const char *argv[] = {program(exe, sizeof(exe), "consumers/eoc-forward"),
                          "--brokers", bs, "--input", in, "--output", out, "--dlq", dlq,
                          "--data", fx_path(f, d, PATH_MAX, name), "--group", name,
                          "--batch-ms", "20", NULL};
    proc_start(f, p, argv, NULL);
}

#define CHAIN_N 6

/* Item 2: derived IDs stay within EOC_ID_MAX through any number of hops. */
static void test_maximal_ids_pass_a_chain_of_three_forward_hops(void **state)
{
    fx_t *f = *state;
    static const char *const topics[] = {"t0:1", "t1:1", "t2:1", "t3:1", "d1:1",
                                         "d2:1", "d3:1", NULL};
    const char *bs = fx_kafka(f, 0, topics);
    /* three 511-byte IDs that differ only in their last byte, one that
     * fits one hop exactly (509 + "/0"), one a byte over, one short */
    static char ids[CHAIN_N][EOC_ID_MAX + 1];
    size_t lens[CHAIN_N] = {EOC_ID_MAX, EOC_ID_MAX, EOC_ID_MAX, EOC_ID_MAX - 2, EOC_ID_MAX - 1, 3};
    for (int i = 0; i < CHAIN_N; i++) {
        memset(ids[i], 'a' + i % 3, lens[i]);
        memcpy(ids[i], "\xc3\xa9t\xc3\xa9", 6); /* UTF-8 at the front */
        ids[i][lens[i] - 1] = (char)('0' + i);
    }
    rd_kafka_t *p = producer_new(bs);
    for (int i = 0; i < CHAIN_N; i++) {
        const char *hdrs[] = {"message-id", ids[i], NULL};
        char v[16];
        int vl = snprintf(v, sizeof(v), "v%d", i);
        produce(p, "t0", NULL, v, (size_t)vl, hdrs, &lens[i]);
    }
    producer_done(p);

    proc_t hop[3];
    start_forward(f, &hop[0], bs, "t0", "t1", "d1", "hop1");
    start_forward(f, &hop[1], bs, "t1", "t2", "d2", "hop2");
    start_forward(f, &hop[2], bs, "t2", "t3", "d3", "hop3");
    char data[PATH_MAX];
    wait_progress(f, &hop[2], fx_path(f, data, sizeof(data), "hop3"), CHAIN_N);
    for (int i = 0; i < 3; i++) {
        int rc = proc_signal(f, &hop[i], SIGTERM);
        char *log = slurp(hop[i].err);
        if (rc != 0 || !strstr(log, "dead_letters=0"))
            fail_msg("hop %d: exit %d:\n%s", i + 1, rc, log);
        free(log);
    }

    krecs_t rs = read_topic(bs, "t3", CHAIN_N);
    assert_int_equal(rs.n, CHAIN_N);
    int seen[CHAIN_N] = {0};
    for (size_t r = 0; r < rs.n; r++) {
        const void *v;
        size_t len;
        assert_int_equal(rd_kafka_header_get_last(rs.v[r].hdrs, "message-id", &v, &len), 0);
        assert_true(len <= EOC_ID_MAX);
        int i = rs.v[r].value[1] - '0';
        assert_true(i >= 0 && i < CHAIN_N && !seen[i]);
        seen[i] = 1;
        /* deterministic: what three derivations of the input ID give */
        char a[EOC_ID_MAX + 1], b[EOC_ID_MAX + 1], c[EOC_ID_MAX + 1];
        size_t n = eoc__id_derive(a, ids[i], lens[i], "0", 1);
        n = eoc__id_derive(b, a, n, "0", 1);
        n = eoc__id_derive(c, b, n, "0", 1);
        assert_int_equal(len, n);
        assert_memory_equal(v, c, n);
        if (lens[i] == 3) { /* short IDs keep the plain form */
            assert_int_equal(len, 9);
            assert_memory_equal(v, "\xc3\xa9" "5/0/0/0", 9);
        }
    }
    krecs_free(&rs);
    for (int d = 1; d <= 3; d++) {
        char t[8];
        snprintf(t, sizeof(t), "d%d", d);
        rs = read_topic(bs, t, 0);
        assert_int_equal(rs.n, 0);
        krecs_free(&rs);
    }
}
/* Item 4 (and 10): ledger strings keep their length; non-UTF-8 is refused. */
static void test_ledger_keeps_nul_inside_strings_and_refuses_invalid_utf8(void **state)
{
    fx_t *f = *state;
    static const char *const topics[] = {"in:1", "out:1", "dlq:1", NULL};
    static const char *const values[] = {
        "{\"id\":\"t3\\u0000a\",\"account\":\"alice\\u0000mallory\",\"amount\":5}",
        "{\"id\":\"t3\\u0000b\",\"account\":\"alice\",\"amount\":7}",
        "{\"id\":\"t3\\u0000a\",\"account\":\"alice\\u0000mallory\",\"amount\":5}", /* dup */
        "{\"id\":\"u1\",\"account\":\"bad\xff\",\"amount\":1}",
        "{\"id\":\"u2\",\"account\":\"caf\xc3\xa9\",\"amount\":2}",
    };
    enum { N = sizeof(values) / sizeof(values[0]) };
    const char *bs = fx_kafka(f, 0, topics);
    char data[PATH_MAX], buf[600];
    proc_t w;

    fx_path(f, data, sizeof(data), "data");
    rd_kafka_t *p = producer_new(bs);
    for (int i = 0; i < N; i++)
        produce(p, "in", "k", values[i], strlen(values[i]), NULL, NULL);
    producer_done(p);
    start_ledger(f, &w, bs, data, NULL, "--group", "ledger-nul", NULL);
    wait_progress(f, &w, data, N);
    assert_int_equal(proc_signal(f, &w, SIGTERM), 0);
    char *got = ledger_balances(f, data);
    assert_string_equal(got, "alice 7\nalice\\x00mallory 5\ncaf\xc3\xa9 2\n");
    free(got);

    krecs_t rs = read_topic(bs, "out", 3);
    assert_int_equal(rs.n, 3);
    assert_string_equal(rs.v[0].value, "{\"id\":\"t3\\u0000a\",\"account\":\"alice\\u0000mallory\","
                                       "\"amount\":5,\"balance\":5}");
    assert_int_equal(rs.v[0].key_len, 13);
    assert_memory_equal(rs.v[0].key, "alice\0mallory", 13);
    const void *v;
    size_t len;
    assert_int_equal(rd_kafka_header_get_last(rs.v[0].hdrs, "message-id", &v, &len), 0);
    assert_int_equal(len, 6);
    assert_memory_equal(v, "t3\0a/0", 6);
    assert_string_equal(rs.v[1].value,
                        "{\"id\":\"t3\\u0000b\",\"account\":\"alice\",\"amount\":7,\"balance\":7}");
    assert_string_equal(rs.v[2].value, "{\"id\":\"u2\",\"account\":\"caf\xc3\xa9\",\"amount\":2,"
                                       "\"balance\":2}");
    krecs_free(&rs);
    rs = read_topic(bs, "dlq", 1);
    assert_int_equal(rs.n, 1);
    assert_string_equal(krec_header(&rs.v[0], "eoc-dlq-reason", buf, sizeof(buf)),
                        "handler_error");
    assert_non_null(strstr(krec_header(&rs.v[0], "eoc-error", buf, sizeof(buf)),
                           "\"account\" is not valid UTF-8"));
    krecs_free(&rs);
}

/* Item 3: json:FIELD numbers are IDs as written, integers only. */
static void test_json_number_ids_are_exact(void **state)
{
    fx_t *f = *state;
    static const char *const topics[] = {"in:1", "out:1", "dlq:1", NULL};
    static const char *const values[] = {
        "{\"id\":1234567890123456789}", "{\"id\":1234567890123456790}",
        "{\"id\":\"100\"}",             "{\"id\":100}", /* the same ID: a collision */
        "{\"id\":1e2}",                 "{\"id\":100.0}",
        "not json",
    };
    enum { N = sizeof(values) / sizeof(values[0]) };
    const char *bs = fx_kafka(f, 0, topics);
    char exe[PATH_MAX], data[PATH_MAX], buf[600];
    const char *argv[] = {program(exe, sizeof(exe), "consumers/eoc-forward"),
                          "--brokers", bs, "--input", "in", "--output", "out", "--dlq", "dlq",
                          "--data", fx_path(f, data, sizeof(data), "data"), "--id", "json:id",
                          "--batch-ms", "20", NULL};
    proc_t w;

    rd_kafka_t *p = producer_new(bs);
    for (int i = 0; i < N; i++)
        produce(p, "in", NULL, values[i], strlen(values[i]), NULL, NULL);
    producer_done(p);
    proc_start(f, &w, argv, NULL);
    wait_progress(f, &w, data, N);
    assert_int_equal(proc_signal(f, &w, SIGTERM), 0);
    char *log = slurp(w.err);
    if (!strstr(log, "duplicates=0") || !strstr(log, "dead_letters=4"))
        fail_msg("unexpected counters:\n%s", log);
    free(log);
    krecs_t rs = read_topic(bs, "out", 3);
    assert_int_equal(rs.n, 3);
    assert_string_equal(krec_header(&rs.v[0], "message-id", buf, sizeof(buf)),
                        "1234567890123456789/0");
    assert_string_equal(krec_header(&rs.v[1], "message-id", buf, sizeof(buf)),
                        "1234567890123456790/0");
    assert_string_equal(krec_header(&rs.v[2], "message-id", buf, sizeof(buf)), "100/0");
    krecs_free(&rs);
    rs = read_topic(bs, "dlq", 4);
    assert_int_equal(rs.n, 4);
    assert_string_equal(krec_header(&rs.v[0], "eoc-dlq-reason", buf, sizeof(buf)),
                        "id_collision");
    for (size_t i = 1; i < rs.n; i++)
        assert_string_equal(krec_header(&rs.v[i], "eoc-dlq-reason", buf, sizeof(buf)),
                            "invalid_id");
    krecs_free(&rs);
}

/* Item 7: one strict number parser; a bad number names its flag, exit 2. */
static void test_every_command_line_refuses_bad_numbers(void **state)
{
    fx_t *f = *state;
    char eoc[PATH_MAX], fwd[PATH_MAX], dir[PATH_MAX];
    program(eoc, sizeof(eoc), "tools/eoc/eoc");
    program(fwd, sizeof(fwd), "consumers/eoc-forward");
    fx_path(f, dir, sizeof(dir), "store");
    /* no Kafka: every case must fail before anything connects */
#define REPLAY eoc, "replay", dir, "--brokers", "127.0.0.1:1", "--group", "g", "--topic", "t"
    struct {
        const char *argv[16];
        const char *says;
    } cases[] = {
        {{REPLAY, "--to-offset", "abc", NULL}, "--to-offset: 'abc' is not a decimal integer"},
        {{REPLAY, "--to-offset", "12abc", NULL}, "--to-offset: '12abc'"},
        {{REPLAY, "--to-offset", "-3", NULL}, "--to-offset: -3 is outside"},
        {{REPLAY, "--to-beginning", "--partition", "foo", NULL}, "--partition: 'foo'"},
        {{REPLAY, "--to-beginning", "--partition", "0x1", NULL}, "--partition: '0x1'"},
        {{REPLAY, "--to-beginning", "--partition", "-1", NULL}, "--partition: -1 is outside"},
        {{REPLAY, "--to-beginning", "--partition", "4294967296", NULL}, "--partition: 4294967296"},
        {{REPLAY, "--by-duration", "99999999999999999d", NULL}, "--by-duration: 99999999999999999d"},
        {{REPLAY, "--by-duration", "1h1", NULL}, "--by-duration: '1h1' is not a duration"},
        {{REPLAY, "--by-duration", "1h", "--to-beginning", NULL},
         "--by-duration and --to-beginning both choose the target"},
        {{REPLAY, "--to-offset", "5", "--to-time", "2026-01-01T00:00:00Z", NULL},
         "--to-offset and --to-time both choose the target"},
        {{eoc, "outbox", dir, "--limit", "10x", NULL}, "--limit: '10x'"},
        {{eoc, "watch", dir, "--brokers", "127.0.0.1:1", "--interval-ms", "1e3", NULL},
         "--interval-ms: '1e3'"},
        {{eoc, "watch", dir, "--brokers", "127.0.0.1:1", "--timeout-ms", " 5", NULL},
         "--timeout-ms: ' 5'"},
        {{fwd, "--brokers", "127.0.0.1:1", "--batch", "+5", NULL}, "--batch: batch.max.records: '+5'"},
        {{fwd, "--brokers", "127.0.0.1:1", "--set", "batch.max.ms=0x10", NULL},
         "--set: batch.max.ms: '0x10'"},
    };
#undef REPLAY
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *out, *err;
        int rc = run(f, cases[i].argv, &out, &err);
        if (rc != 2 || !strstr(err, cases[i].says))
            fail_msg("case %zu: exit %d, stderr:\n%s(wanted exit 2 and \"%s\")", i, rc, err,
                     cases[i].says);
        free(out);
        free(err);
    }
}

/* A running eoc-forward on in -> out that has handled 3 records; its
 * stderr goes to `err_fd` (-1: the proc's file). */
static void forward_running(fx_t *f, proc_t *w, const char *bs, int err_fd)
{
    char exe[PATH_MAX], data[PATH_MAX];
    const char *argv[] = {program(exe, sizeof(exe), "consumers/eoc-forward"),
                          "--brokers", bs, "--input", "in", "--output", "out", "--dlq", "dlq",
                          "--data", fx_path(f, data, sizeof(data), "data"), "--batch-ms", "20",
                          NULL};
    rd_kafka_t *p = producer_new(bs);
    for (int i = 0; i < 3; i++) {
        char id[8];
        snprintf(id, sizeof(id), "r%d", i);
        const char *hdrs[] = {"message-id", id, NULL};
        produce(p, "in", NULL, "v", 1, hdrs, NULL);
    }
    producer_done(p);
    if (err_fd < 0) {
        proc_start(f, w, argv, NULL);
    } else {
        posix_spawn_file_actions_t fa;
        snprintf(w->out, sizeof(w->out), "/dev/null");
        snprintf(w->err, sizeof(w->err), "/dev/null");
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_adddup2(&fa, err_fd, 2);
        /* the default SIGPIPE, as from a shell (a test runner may ignore it) */
        posix_spawnattr_t at;
        sigset_t dfl;
        posix_spawnattr_init(&at);
        sigemptyset(&dfl);
        sigaddset(&dfl, SIGPIPE);
        posix_spawnattr_setsigdefault(&at, &dfl);
        posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGDEF);
        assert_int_equal(posix_spawn(&w->pid, argv[0], &fa, &at, (char *const *)argv, environ),
                         0);
        posix_spawnattr_destroy(&at);
        posix_spawn_file_actions_destroy(&fa);
        f->kids[f->nkids++] = w->pid;
    }
    wait_progress(f, w, data, 3);
}

/* Item 10: SIGHUP stops like SIGTERM, with a drain and the final counters. */
static void test_sighup_stops_a_worker_with_a_drain(void **state)
{
    fx_t *f = *state;
    static const char *const topics[] = {"in:1", "out:1", "dlq:1", NULL};
    const char *bs = fx_kafka(f, 0, topics);
    proc_t w;

    forward_running(f, &w, bs, -1);
    int rc = proc_signal(f, &w, SIGHUP);
    char *log = slurp(w.err);
    if (rc != 0 || !strstr(log, "stopped: consumed=3"))
        fail_msg("exit %d after SIGHUP:\n%s", rc, log);
    free(log);
    krecs_t rs = read_topic(bs, "out", 3);
    assert_int_equal(rs.n, 3);
    krecs_free(&rs);
}

/* Item 10: a worker whose stderr pipe was closed keeps running and stops cleanly. */
static void test_a_closed_stderr_pipe_does_not_kill_a_worker(void **state)
{
    fx_t *f = *state;
    static const char *const topics[] = {"in:1", "out:1", "dlq:1", NULL};
    const char *bs = fx_kafka(f, 0, topics);
    int fds[2];
    proc_t w;

    assert_int_equal(pipe2(fds, O_CLOEXEC), 0); /* the worker must not hold the read end */
    forward_running(f, &w, bs, fds[1]);
    close(fds[1]);
    close(fds[0]); /* the reader is gone: the next log line meets EPIPE */
    rd_kafka_t *p = producer_new(bs);
    const char *hdrs[] = {"message-id", "", NULL}; /* an empty ID: a logged dead letter */
    produce(p, "in", NULL, "v", 1, hdrs, NULL);
    producer_done(p);
    char data[PATH_MAX];
    wait_progress(f, &w, fx_path(f, data, sizeof(data), "data"), 4);
    assert_int_equal(proc_wait(f, &w, 200), -1); /* still running */
    assert_int_equal(proc_signal(f, &w, SIGTERM), 0);
}

/* Item 10: `eoc dlq list --json` writes valid UTF-8 JSON whatever the IDs'
 * bytes; `eoc dlq resubmit --id` of an ID that is not there fails. */
static void test_dlq_list_json_escapes_and_resubmit_of_a_missing_id_fails(void **state)
{
    fx_t *f = *state;
    static const char *const topics[] = {"in:1", "out:1", "dlq:1", NULL};
    const char *bs = fx_kafka(f, 0, topics);
    char exe[PATH_MAX], eoc[PATH_MAX], data[PATH_MAX];
    const char *argv[] = {program(exe, sizeof(exe), "consumers/eoc-forward"),
                          "--brokers", bs, "--input", "in", "--output", "out", "--dlq", "dlq",
                          "--data", fx_path(f, data, sizeof(data), "data"), "--batch-ms", "20",
                          NULL};
    proc_t w;

    rd_kafka_t *p = producer_new(bs);
    const char *h1[] = {"message-id", "bad\xffid", NULL}, *h2[] = {"message-id", "t3\0a", NULL};
    size_t l1 = 6, l2 = 4;
    produce(p, "in", NULL, "", 0, h1, &l1); /* empty values: dead letters with these IDs */
    produce(p, "in", NULL, "", 0, h2, &l2);
    producer_done(p);
    proc_start(f, &w, argv, NULL);
    wait_progress(f, &w, data, 2);
    assert_int_equal(proc_signal(f, &w, SIGTERM), 0);
    krecs_t rs = read_topic(bs, "dlq", 2);
    assert_int_equal(rs.n, 2);
    krecs_free(&rs);

    program(eoc, sizeof(eoc), "tools/eoc/eoc");
    const char *list[] = {eoc, "dlq", "list", "--brokers", bs, "--topic", "dlq", "--json", NULL};
    char *out, *err;
    assert_int_equal(run(f, list, &out, &err), 0);
    if (!eoc__utf8_valid(out, strlen(out)))
        fail_msg("not UTF-8:\n%s", out);
    char *line2 = strchr(out, '\n');
    assert_non_null(line2);
    *line2++ = 0;
    cJSON *a = cJSON_Parse(out), *b = cJSON_Parse(line2);
    assert_non_null(a);
    assert_non_null(b);
    assert_string_equal(cJSON_GetObjectItem(a, "id")->valuestring, "bad\xef\xbf\xbdid");
    assert_string_equal(cJSON_GetObjectItem(a, "id_hex")->valuestring, "626164ff6964");
    assert_string_equal(cJSON_GetObjectItem(a, "reason")->valuestring, "empty_value");
    assert_int_equal(cJSON_GetObjectItem(a, "source_offset")->valuedouble, 0);
    assert_non_null(strstr(line2, "\"id\":\"t3\\u0000a\""));
    assert_null(cJSON_GetObjectItem(b, "id_hex"));
    cJSON_Delete(a);
    cJSON_Delete(b);
    free(out);
    free(err);

    const char *missing[] = {eoc, "dlq", "resubmit", "--brokers", bs, "--topic", "dlq",
                             "--id", "not-there", "--dry-run", NULL};
    int rc = run(f, missing, &out, &err);
    if (rc != 1 || !strstr(err, "no dead letter with id 'not-there'"))
        fail_msg("exit %d:\n%s", rc, err);
    free(out);
    free(err);
}


/* Wire-ins: a dead letter keeps every original header (100 here, more than
 * the 48 once copied), and names why its ID was refused. */
static void test_dead_letters_keep_all_headers_and_say_why(void **state)
{
    fx_t *f = *state;
    static const char *const topics[] = {"in:1", "out:1", "dlq:1", NULL};
    const char *bs = fx_kafka(f, 0, topics);
    char exe[PATH_MAX], data[PATH_MAX];
    const char *argv[] = {program(exe, sizeof(exe), "consumers/eoc-forward"),
                          "--brokers", bs, "--input", "in", "--output", "out", "--dlq", "dlq",
                          "--data", fx_path(f, data, sizeof(data), "data"), "--batch-ms", "20",
                          "--id", "json:id", NULL};
    proc_t w;
    static char names[100][16];
    const char *h[202];
    for (int i = 0; i < 100; i++) {
        snprintf(names[i], sizeof(names[i]), "h%03d", i);
        h[2 * i] = names[i];
        h[2 * i + 1] = names[i];
    }
    h[200] = NULL;

    rd_kafka_t *p = producer_new(bs);
    produce(p, "in", NULL, "not json", 8, h, NULL);
    producer_done(p);
    proc_start(f, &w, argv, NULL);
    wait_progress(f, &w, data, 1);
    assert_int_equal(proc_signal(f, &w, SIGTERM), 0);
    krecs_t rs = read_topic(bs, "dlq", 1);
    assert_int_equal(rs.n, 1);
    char buf[256];
    for (int i = 0; i < 100; i++) {
        const char *v = krec_header(&rs.v[0], names[i], buf, sizeof(buf));
        if (!v || strcmp(v, names[i]) != 0)
            fail_msg("header %s lost", names[i]);
    }
    assert_string_equal(krec_header(&rs.v[0], "eoc-dlq-reason", buf, sizeof(buf)), "invalid_id");
    const char *e = krec_header(&rs.v[0], "eoc-error", buf, sizeof(buf));
    if (!e || !strstr(e, "the value is not JSON"))
        fail_msg("eoc-error: %s", e ? e : "(none)");
    krecs_free(&rs);
}


/* Item 1: rows too large for the producer. relay.kafka.message.max.bytes=
 * 20000: a 19 960-byte record's copy would exceed it once headers are
 * added (librdkafka counts 36 bytes of record framing and the headers,
 * message-id and eoc-source, 33 bytes here), so eoc_emit refuses it and its dead letter carries a reference
 * instead of the payload; the records around it are published. A row the
 * worker wrote under a larger limit (relay off) is refused by the
 * standalone relay's producer and replaced by a dead letter of its own;
 * `eoc outbox --drop SEQ --execute` drops a row unpublished. */
static void test_rows_too_large_for_the_producer_never_wedge_the_relay(void **state)
{
    fx_t *f = *state;
    static const char *const topics[] = {"in:1", "out:1", "dlq:1", NULL};
    const char *bs = fx_kafka(f, 0, topics);
    char exe[PATH_MAX], eoc[PATH_MAX], data[PATH_MAX], data2[PATH_MAX];
    const char *argv[] = {program(exe, sizeof(exe), "consumers/eoc-forward"),
                          "--brokers", bs, "--input", "in", "--output", "out", "--dlq", "dlq",
                          "--data", fx_path(f, data, sizeof(data), "data"), "--batch-ms", "20",
                          "--set", "relay.kafka.message.max.bytes=20000", NULL};
    proc_t w;
    static char big[19960];
    memset(big, 'x', sizeof(big));
    const char *h1[] = {"message-id", "a", NULL}, *h2[] = {"message-id", "b", NULL},
               *h3[] = {"message-id", "c", NULL};

    rd_kafka_t *p = producer_new(bs);
    produce(p, "in", NULL, "small", 5, h1, NULL);
    produce(p, "in", NULL, big, sizeof(big), h2, NULL);
    produce(p, "in", NULL, "after", 5, h3, NULL);
    producer_done(p);
    proc_start(f, &w, argv, NULL);
    wait_progress(f, &w, data, 3);
    krecs_t out = read_topic(bs, "out", 2), dlq = read_topic(bs, "dlq", 1);
    assert_int_equal(proc_signal(f, &w, SIGTERM), 0);
    assert_int_equal(out.n, 2);
    assert_int_equal(dlq.n, 1);
    char buf[256];
    assert_int_equal(dlq.v[0].len, 0);
    assert_non_null(krec_header(&dlq.v[0], "eoc-payload-ref", buf, sizeof(buf)));
    assert_string_equal(buf, "in/0/1");
    krecs_free(&out);
    krecs_free(&dlq);

    /* The worker's limit was larger than the relay's. */
    const char *argv2[] = {exe, "--brokers", bs, "--input", "in", "--output", "out", "--dlq",
                           "dlq", "--data", fx_path(f, data2, sizeof(data2), "data2"),
                           "--group", "second", "--batch-ms", "20", "--set",
                           "relay.enable=false", NULL};
    proc_start(f, &w, argv2, NULL);
    wait_progress(f, &w, data2, 3);
    assert_int_equal(proc_signal(f, &w, SIGTERM), 0);
    program(eoc, sizeof(eoc), "tools/eoc/eoc");
    const char *drop[] = {eoc, "outbox", data2, "--drop", "0", "--execute", NULL};
    char *o, *e;
    int rc = run(f, drop, &o, &e);
    if (rc != 0 || !strstr(e, "AUDIT: dropped outbox row 0"))
        fail_msg("eoc outbox --drop: exit %d: %s", rc, e);
    free(o);
    free(e);
    const char *relay[] = {eoc, "relay", data2, "--brokers", bs, "--set",
                           "relay.kafka.message.max.bytes=20000", "--set", "dlq.topic=dlq",
                           NULL};
    proc_t rl;
    proc_start(f, &rl, relay, NULL);
    out = read_topic(bs, "out", 3); /* 2 from the first worker, "c" from this store */
    dlq = read_topic(bs, "dlq", 2);
    assert_int_equal(proc_signal(f, &rl, SIGTERM), 0);
    if (out.n != 3 || dlq.n != 2) {
        proc_dump(&rl, "relay");
        fail_msg("out %zu, dlq %zu", out.n, dlq.n);
    }
    assert_string_equal(krec_header(&dlq.v[1], "eoc-dlq-reason", buf, sizeof(buf)), "refused");
    assert_string_equal(krec_header(&dlq.v[1], "eoc-payload-ref", buf, sizeof(buf)), "in/0/1");
    assert_int_equal(dlq.v[1].len, 0);
    krecs_free(&out);
    krecs_free(&dlq);
}


/* Item 5: damage the copy `dir` of a store: "truncate" cuts data.mdb to half
 * its used pages, "empty" to 0 bytes, "flip" overwrites bytes in every page
 * past the two meta pages. */
static void damage_store(const char *dir, const char *how)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/data.mdb", dir);
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    off_t size = lseek(fd, 0, SEEK_END);
    if (strcmp(how, "truncate") == 0) {
        assert_int_equal(ftruncate(fd, (size / 4096 / 2) * 4096), 0);
    } else if (strcmp(how, "empty") == 0) {
        assert_int_equal(ftruncate(fd, 0), 0);
    } else {
        unsigned char junk[64];
        memset(junk, 0xa5, sizeof(junk));
        for (off_t at = 2 * 4096; at + 4096 <= size; at += 4096)
            assert_int_equal(pwrite(fd, junk, sizeof(junk), at + 8), (ssize_t)sizeof(junk));
    }
    close(fd);
}

/* A damaged store is refused with a clear line by eoc inspect, eoc-ledger
 * --balances and the worker; none dies of a signal. */
static void test_a_damaged_store_is_refused_not_a_crash(void **state)
{
    fx_t *f = *state;
    static const char *const topics[] = {"in:1", "out:1", "dlq:1", NULL};
    static const char *const kinds[] = {"truncate", "empty", "flip"};
    const char *bs = fx_kafka(f, 0, topics);
    char data[PATH_MAX], copy[PATH_MAX], cmd[2 * PATH_MAX + 32], v[160], eoc[PATH_MAX],
        ledger[PATH_MAX];
    proc_t w;

    fx_path(f, data, sizeof(data), "data");
    rd_kafka_t *p = producer_new(bs);
    for (int i = 0; i < 400; i++) {
        int n = snprintf(v, sizeof(v), "{\"id\":\"tx-%04d\",\"account\":\"acct-%d\",\"amount\":1}",
                         i, i);
        produce(p, "in", "k", v, (size_t)n, NULL, NULL);
    }
    producer_done(p);
    start_ledger(f, &w, bs, data, NULL, "--group", "damaged", NULL);
    wait_progress(f, &w, data, 400);
    assert_int_equal(proc_signal(f, &w, SIGTERM), 0);
    program(eoc, sizeof(eoc), "tools/eoc/eoc");
    program(ledger, sizeof(ledger), "consumers/eoc-ledger");
    for (int k = 0; k < 3; k++) {
        fx_path(f, copy, sizeof(copy), kinds[k]);
        snprintf(cmd, sizeof(cmd), "cp -r '%s' '%s'", data, copy);
        assert_int_equal(system(cmd), 0);
        damage_store(copy, kinds[k]);
        const char *inspect[] = {eoc, "inspect", copy, NULL};
        const char *balances[] = {ledger, "--data", copy, "--balances", NULL};
        const char *const *cmds[] = {inspect, balances};
        for (int c = 0; c < 2; c++) {
            char *o, *e;
            int rc = run(f, cmds[c], &o, &e);
            if (rc <= 0 || rc >= 128 || !strstr(e, "data.mdb") || strchr(e, '\n') != strrchr(e, '\n'))
                fail_msg("%s %s on a store (%s): exit %d:\n%s", cmds[c][0], cmds[c][1], kinds[k],
                         rc, e);
            free(o);
            free(e);
        }
        start_ledger(f, &w, bs, copy, NULL, "--group", "damaged", NULL);
        int rc = proc_wait(f, &w, RUN_MS);
        char *e = slurp(w.err);
        if (rc <= 0 || rc >= 128 || !strstr(e, "data.mdb"))
            fail_msg("the worker on a store (%s): exit %d:\n%s", kinds[k], rc, e);
        free(e);
    }
}


/* Item 9: only a worker creates a store: `eoc relay` and `eoc inspect` on a
 * mistyped directory refuse with exit 2 and create nothing. */
static void test_tools_refuse_a_directory_without_a_store(void **state)
{
    fx_t *f = *state;
    static const char *const topics[] = {"in:1", NULL};
    const char *bs = fx_kafka(f, 0, topics);
    char eoc[PATH_MAX], typo[PATH_MAX];
    program(eoc, sizeof(eoc), "tools/eoc/eoc");
    fx_path(f, typo, sizeof(typo), "dta");
    const char *relay[] = {eoc, "relay", "--data", typo, "--brokers", bs, NULL};
    const char *inspect[] = {eoc, "inspect", typo, NULL};
    const char *const *cmds[] = {relay, inspect};
    for (int c = 0; c < 2; c++) {
        char *o, *e;
        int rc = run(f, cmds[c], &o, &e);
        if (rc != 2 || !strstr(e, "no store in") || !strstr(e, "a worker creates it"))
            fail_msg("eoc %s: exit %d: %s", cmds[c][1], rc, e);
        free(o);
        free(e);
        struct stat st;
        assert_int_equal(stat(typo, &st), -1);
    }
}

/* Item 6: `eoc replay` refuses while the group has a live member (here a
 * worker on another store) and leaves it, and the development Kafka, alone. */
static void test_replay_refuses_while_the_group_has_members(void **state)
{
    fx_t *f = *state;
    static const char *const topics[] = {"in:1", "out:1", "dlq:1", NULL};
    const char *bs = fx_kafka(f, 0, topics);
    char exe[PATH_MAX], eoc[PATH_MAX], a[PATH_MAX], b[PATH_MAX];
    const char *argv[] = {program(exe, sizeof(exe), "consumers/eoc-forward"),
                          "--brokers", bs, "--input", "in", "--output", "out", "--dlq", "dlq",
                          "--group", "g", "--batch-ms", "20", "--data", NULL, NULL};
    proc_t wb, wa;
    rd_kafka_t *p = producer_new(bs);

    for (int i = 0; i < 3; i++) {
        char id[8];
        snprintf(id, sizeof(id), "r%d", i);
        const char *hdrs[] = {"message-id", id, NULL};
        produce(p, "in", NULL, "v", 1, hdrs, NULL);
    }
    rd_kafka_flush(p, DEADLINE_MS);
    argv[14] = fx_path(f, b, sizeof(b), "b"); /* a first worker of g, on store b, stopped */
    proc_start(f, &wb, argv, NULL);
    wait_progress(f, &wb, b, 3);
    assert_int_equal(proc_signal(f, &wb, SIGTERM), 0);
    argv[14] = fx_path(f, a, sizeof(a), "a"); /* a second one, on store a, running */
    proc_start(f, &wa, argv, NULL);
    const char *h4[] = {"message-id", "r3", NULL};
    produce(p, "in", NULL, "v", 1, h4, NULL);
    rd_kafka_flush(p, DEADLINE_MS);
    wait_progress(f, &wa, a, 4);

    program(eoc, sizeof(eoc), "tools/eoc/eoc");
    const char *replay[] = {eoc, "replay", b, "--brokers", bs, "--group", "g", "--topic", "in",
                            "--to-beginning", "--execute", NULL};
    proc_t r;
    proc_start(f, &r, replay, NULL);
    int rc = proc_wait(f, &r, 90000);
    char *err = slurp(r.err);
    if (rc != 1 || !strstr(err, "stop every worker of the group first"))
        fail_msg("eoc replay exited %d:\n%s", rc, err);
    free(err);

    /* Kafka is up, the worker goes on, and nothing was rewound */
    const char *h5[] = {"message-id", "r4", NULL};
    produce(p, "in", NULL, "v", 1, h5, NULL);
    producer_done(p);
    wait_progress(f, &wa, a, 5);
    assert_int_equal(proc_signal(f, &wa, SIGTERM), 0);
    char *log = slurp(wa.err);
    if (!strstr(log, "stopped: consumed=2 applied=2"))
        fail_msg("the running worker saw a rewind:\n%s", log);
    free(log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_maximal_ids_pass_a_chain_of_three_forward_hops,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(
            test_ledger_keeps_nul_inside_strings_and_refuses_invalid_utf8, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_json_number_ids_are_exact, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_every_command_line_refuses_bad_numbers, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_sighup_stops_a_worker_with_a_drain, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_a_closed_stderr_pipe_does_not_kill_a_worker,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(
            test_dlq_list_json_escapes_and_resubmit_of_a_missing_id_fails, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_dead_letters_keep_all_headers_and_say_why, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(
            test_rows_too_large_for_the_producer_never_wedge_the_relay, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_a_damaged_store_is_refused_not_a_crash, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_tools_refuse_a_directory_without_a_store, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_replay_refuses_while_the_group_has_members, fx_setup,
                                        fx_teardown),
    };
    if (getenv("EOC_TEST_FILTER")) /* e.g. "*ledger*" */
        cmocka_set_test_filter(getenv("EOC_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
