/*
 * test_consumers - the shipped programs (eoc-ledger, eoc-forward, eoc) run as
 * real processes against the development Kafka (eoc-kafka-dev, one or two per
 * test), fed and read back with plain librdkafka.
 *
 * Environment (set by meson's test_env): EOC_BUILD_ROOT (the programs),
 * EOC_KAFKA_DEV (the development Kafka). Every wait is a poll loop with a
 * deadline; sleeps only pace the polls. Progress is read from the store with
 * `eoc inspect --json`: when the stored next offsets add up to the number of
 * records produced, every record has its disposition.
 *
 * The random data of each test comes from a seed printed on stderr; set
 * EOC_TEST_SEED to replay one. EOC_TEST_FILTER="*forward*" runs matching
 * tests only; EOC_TEST_KEEP=1 keeps the scratch directories.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "devkafka.h"
#include "tu_clock.h"

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
    int64_t deadline = tu_now_ms() + timeout_ms;
    int st;

    for (;;) {
        pid_t r = waitpid(p->pid, &st, WNOHANG);

        if (r == p->pid) {
            forget_kid(f, p->pid);
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        }
        assert_int_equal(r, 0);
        if (tu_now_ms() >= deadline)
            return -1;
        tu_sleep_ms(10);
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
    for (int64_t deadline = tu_now_ms() + DEADLINE_MS;
         !(rs.n >= min && ends == np) && tu_now_ms() < deadline;) {
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
    int64_t deadline = tu_now_ms() + DEADLINE_MS, seen = 0;

    while ((seen = progress(f, data)) < target) {
        if (proc_wait(f, worker, 0) >= 0) {
            proc_dump(worker, "worker");
            fail_msg("the worker exited at %" PRId64 "/%" PRId64 " records", seen, target);
        }
        if (tu_now_ms() >= deadline) {
            proc_dump(worker, "worker");
            fail_msg("only %" PRId64 " of %" PRId64 " records done after %d ms", seen, target,
                     DEADLINE_MS);
        }
        tu_sleep_ms(POLL_MS);
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

typedef struct book {
    int64_t balance[NACCOUNTS];
    int n; /* distinct entries produced */
} book_t;

/* Produces entry `i` (ID "e-<i>", account from i, amount from the seed). */
static void produce_entry(rd_kafka_t *p, book_t *b, int i, unsigned seed, int count_it)
{
    char account[16], value[128];
    int64_t amount = (int64_t)((seed * 2654435761u + (unsigned)i * 40503u) % 2001u) - 1000;

    snprintf(account, sizeof(account), "acc-%d", i % NACCOUNTS);
    snprintf(value, sizeof(value), "{\"id\":\"e-%d\",\"account\":\"%s\",\"amount\":%" PRId64 "}", i,
             account, amount);
    produce(p, "in", account, value, strlen(value), NULL, NULL);
    if (count_it) {
        b->balance[i % NACCOUNTS] += amount;
        b->n++;
    }
}

/* What --balances must print for the book. */
static void expected_balances(const book_t *b, char *buf, size_t size)
{
    size_t off = 0;

    buf[0] = '\0';
    for (int a = 0; a < NACCOUNTS && off < size; a++)
        off += (size_t)snprintf(buf + off, size - off, "acc-%d %" PRId64 "\n", a, b->balance[a]);
}

/*
 * Checks the output topic against the book: one distinct message ID per
 * applied entry ("e-<i>/0"), and the last output of each account (its
 * partition keeps commit order) carries the final balance. Transport
 * duplicates (the same ID again) are allowed after crashes.
 */
static void check_ledger_output(const char *bs, const book_t *b)
{
    krecs_t rs = read_topic(bs, "out", (size_t)b->n);
    char *seen = calloc((size_t)b->n, 1);
    int64_t last[NACCOUNTS];
    int distinct = 0;
    char id[600];

    assert_non_null(seen);
    for (int a = 0; a < NACCOUNTS; a++)
        last[a] = INT64_MIN;
    for (size_t i = 0; i < rs.n; i++) {
        int e = -1, a = -1, consumed = 0;

        assert_non_null(krec_header(&rs.v[i], "message-id", id, sizeof(id)));
        assert_int_equal(sscanf(id, "e-%d/0%n", &e, &consumed), 1);
        assert_int_equal((size_t)consumed, strlen(id));
        assert_true(e >= 0 && e < b->n);
        distinct += !seen[e];
        seen[e] = 1;
        cJSON *doc = cJSON_Parse(rs.v[i].value);
        assert_non_null(doc);
        assert_int_equal(sscanf(rs.v[i].key, "acc-%d", &a), 1);
        last[a] = (int64_t)cJSON_GetObjectItem(doc, "balance")->valuedouble;
        cJSON_Delete(doc);
    }
    assert_int_equal(distinct, b->n);
    for (int a = 0; a < NACCOUNTS; a++)
        assert_true(last[a] == b->balance[a]);
    free(seen);
    krecs_free(&rs);
}

/* ------------------------------------------------------------------ */
/* Tests: the command line                                             */
/* ------------------------------------------------------------------ */

static void test_a_consumer_without_brokers_names_the_dev_kafka_and_exits_2(void **state)
{
    fx_t *f = *state;
    char exe[PATH_MAX], data[PATH_MAX];
    static const char *const progs[] = {"consumers/eoc-ledger", "consumers/eoc-forward"};

    fx_path(f, data, sizeof(data), "data");
    for (size_t i = 0; i < 2; i++) {
        const char *argv[] = {program(exe, sizeof(exe), progs[i]),
                              "--input",
                              "in",
                              "--output",
                              "out",
                              "--data",
                              data,
                              NULL};
        char *out, *err;

        assert_int_equal(run(f, argv, &out, &err), 2);
        assert_non_null(strstr(err, "--brokers"));
        assert_non_null(strstr(err, "eoc-kafka-dev"));
        assert_true(strlen(err) > 0 && strchr(err, '\n') == err + strlen(err) - 1); /* one line */
        free(out);
        free(err);
    }
}

static void test_help_lists_every_flag_and_config_key(void **state)
{
    fx_t *f = *state;
    char exe[PATH_MAX];
    static const char *const want[] = {"--brokers",
                                       "--group",
                                       "--input",
                                       "--output",
                                       "--dlq",
                                       "--data",
                                       "--config",
                                       "--id",
                                       "--batch",
                                       "--batch-ms",
                                       "--set",
                                       "--metrics",
                                       "-v",
                                       "--version",
                                       "--balances",
                                       "data.dir",
                                       "batch.max.records",
                                       "store.map.size",
                                       "kafka.*",
                                       "relay.kafka.*",
                                       "log.level",
                                       "(int, default: 1000)"};
    const char *argv[] = {program(exe, sizeof(exe), "consumers/eoc-ledger"), "--help", NULL};
    char *out, *err;

    assert_int_equal(run(f, argv, &out, &err), 0);
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        if (!strstr(out, want[i]))
            fail_msg("--help does not mention %s:\n%s", want[i], out);
    }
    free(out);
    free(err);

    const char *fwd[] = {program(exe, sizeof(exe), "consumers/eoc-forward"), "--help", NULL};
    assert_int_equal(run(f, fwd, &out, &err), 0);
    assert_non_null(strstr(out, "--output-brokers"));
    assert_non_null(strstr(out, "relay.kafka.bootstrap.servers"));
    assert_null(strstr(out, "--balances"));
    free(out);
    free(err);
}

/* Each bad flag alone makes an otherwise complete command line exit 2, naming the problem. */
static void test_bad_flags_and_values_are_usage_errors(void **state)
{
    fx_t *f = *state;
    char exe[PATH_MAX], data[PATH_MAX];
    static const char *const bad[][3] = {
        {"--bogus", NULL, "--bogus"},
        {"--batch", "abc", "batch.max.records"},
        {"--id", "nonsense", "id.strategy"},
        {"--set", "no.such.key=1", "no.such.key"},
        {"--set", "kafka.no.such.property=1", "no.such.property"},
        {"positional", NULL, "positional"},
        {"--group", NULL, "--group"}, /* no value */
    };

    fx_path(f, data, sizeof(data), "data");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *argv[] = {program(exe, sizeof(exe), "consumers/eoc-ledger"),
                              "--brokers",
                              "127.0.0.1:1",
                              "--input",
                              "in",
                              "--output",
                              "out",
                              "--data",
                              data,
                              bad[i][0],
                              bad[i][1],
                              NULL};
        char *out, *err;

        assert_int_equal(run(f, argv, &out, &err), 2);
        if (!strstr(err, bad[i][2]))
            fail_msg("%s: stderr does not name %s: %s", bad[i][0], bad[i][2], err);
        free(out);
        free(err);
    }
}

/* --config is applied first: a flag before it still wins. Seen through --balances. */
static void test_flags_override_the_config_file_wherever_they_stand(void **state)
{
    fx_t *f = *state;
    char exe[PATH_MAX], cfg[PATH_MAX], text[PATH_MAX + 64];
    const char *argv[] = {program(exe, sizeof(exe), "consumers/eoc-ledger"),
                          "--data",
                          "/",
                          "--config",
                          fx_path(f, cfg, sizeof(cfg), "c.json"),
                          "--balances",
                          NULL};
    char *out, *err;

    snprintf(text, sizeof(text), "{\"data\": {\"dir\": \"%s/no-such-store\"}}", f->dir);
    write_file(cfg, text);
    /* The flag's directory "/" is no store either: both fail, with different names. */
    assert_int_equal(run(f, argv, &out, &err), 1);
    assert_null(strstr(err, "no-such-store"));
    free(out);
    free(err);

    const char *only_file[] = {argv[0], "--config", cfg, "--balances", NULL};
    assert_int_equal(run(f, only_file, &out, &err), 1);
    assert_non_null(strstr(err, "no-such-store"));
    free(out);
    free(err);
}

static void test_eoc_command_lists_subcommands_and_refuses_unknown_ones(void **state)
{
    fx_t *f = *state;
    char exe[PATH_MAX];
    const char *help[] = {program(exe, sizeof(exe), "tools/eoc/eoc"), "--help", NULL};
    const char *unknown[] = {exe, "frobnicate", NULL};
    const char *none[] = {exe, NULL};
    const char *missing[] = {exe, "inspect", f->dir, NULL};
    char *out, *err;

    assert_int_equal(run(f, help, &out, &err), 0);
    assert_non_null(strstr(out, "inspect"));
    assert_non_null(strstr(out, "outbox"));
    assert_non_null(strstr(out, "state"));
    assert_non_null(strstr(out, "relay"));
    free(out);
    free(err);
    assert_int_equal(run(f, unknown, &out, &err), 2);
    assert_non_null(strstr(err, "frobnicate"));
    free(out);
    free(err);
    assert_int_equal(run(f, none, &out, &err), 2);
    free(out);
    free(err);
    assert_int_equal(run(f, missing, &out, &err), 2); /* no store there: a usage error */
    assert_non_null(strstr(err, "a worker creates it"));
    free(out);
    free(err);
}

/* ------------------------------------------------------------------ */
/* Tests: eoc-ledger                                                   */
/* ------------------------------------------------------------------ */

static void test_ledger_applies_each_entry_once_despite_duplicates(void **state)
{
    fx_t *f = *state;
    static const char *const topics[] = {"in:4", "out:4", "dlq:1", NULL};
    const char *bs = fx_kafka(f, 0, topics);
    unsigned seed = test_seed(__func__);
    char data[PATH_MAX], want[512];
    book_t b = {0};
    proc_t w;
    int total = 0;

    fx_path(f, data, sizeof(data), "data");
    rd_kafka_t *p = producer_new(bs);
    for (int i = 0; i < 300; i++, total++)
        produce_entry(p, &b, i, seed, 1);
    for (int i = 0; i < 100; i++, total++) /* same ID, same payload */
        produce_entry(p, &b, (int)((seed + (unsigned)i * 7u) % 300u), seed, 0);
    producer_done(p);

    start_ledger(f, &w, bs, data, NULL, "--group", "ledger-dedupe", NULL);
    wait_progress(f, &w, data, total);
    assert_int_equal(proc_signal(f, &w, SIGTERM), 0);

    char *log = slurp(w.err);
    assert_non_null(strstr(log, "duplicates=100"));
    assert_non_null(strstr(log, "applied=300"));
    free(log);
    expected_balances(&b, want, sizeof(want));
    char *got = ledger_balances(f, data);
    assert_string_equal(got, want);
    free(got);
    check_ledger_output(bs, &b);
}

/* One bad entry, and what its dead letter must say. */
typedef struct bad_case {
    const char *value;
    const char *reason; /* eoc-dlq-reason */
    const char *error;  /* a piece of eoc-error */
} bad_case_t;

static void test_ledger_dead_letters_each_bad_entry_with_its_reason(void **state)
{
    fx_t *f = *state;
    static const char *const topics[] = {"in:1", "out:1", "dlq:1", NULL};
    static const bad_case_t cases[] = {
        {"{\"id\":\"b0\",\"account\":\"x\",\"amount\":1.5}", "handler_error", "\"amount\" 1.5"},
        {"{\"id\":\"b1\",\"account\":\"x\",\"amount\":\"10\"}", "handler_error",
         "\"amount\" must be an integer"},
        {"{\"id\":\"b2\",\"account\":\"x\"}", "handler_error", "\"amount\" is missing"},
        {"{\"id\":\"b3\",\"amount\":5}", "handler_error", "\"account\" is missing"},
        {"{\"id\":\"b4\",\"account\":\"\",\"amount\":5}", "handler_error", "\"account\" is empty"},
        {"{\"id\":\"b5\",\"account\":7,\"amount\":5}", "handler_error",
         "\"account\" must be a string"},
        {"{\"id\":\"b6\",\"account\":\"x\",\"amount\":9223372036854775808}", "handler_error",
         "outside the 64-bit"},
        {"{\"id\":\"b7\",\"account\":\"x\",\"amount\":-9223372036854775809}", "handler_error",
         "outside the 64-bit"},
        {"{\"id\":\"b8\",\"account\":\"x\",\"amount\":1e3}", "handler_error", "not an integer"},
        {"{\"id\":\"b9\",\"account\":\"big\",\"amount\":1}", "handler_error", "balance overflow"},
        {"[\"id\",\"b10\"]", "invalid_id", NULL}, /* no object: no json:id */
        {"not json at all", "invalid_id", NULL},  /* the library's verdict */
        {"{\"account\":\"x\",\"amount\":1}", "missing_id", NULL},
    };
    enum { NCASES = sizeof(cases) / sizeof(cases[0]) };
    const char *bs = fx_kafka(f, 0, topics);
    char data[PATH_MAX], buf[600];
    const char *max = "{\"id\":\"g0\",\"account\":\"big\",\"amount\":9223372036854775807}";
    const char *after = "{\"id\":\"g1\",\"account\":\"x\",\"amount\":-42}";
    proc_t w;

    fx_path(f, data, sizeof(data), "data");
    rd_kafka_t *p = producer_new(bs);
    produce(p, "in", "k", max, strlen(max), NULL, NULL);
    for (int i = 0; i < NCASES; i++)
        produce(p, "in", "k", cases[i].value, strlen(cases[i].value), NULL, NULL);
    produce(p, "in", "k", after, strlen(after), NULL, NULL); /* the partition goes on */
    producer_done(p);

    start_ledger(f, &w, bs, data, NULL, "--group", "ledger-bad", NULL);
    wait_progress(f, &w, data, NCASES + 2);
    assert_int_equal(proc_signal(f, &w, SIGTERM), 0);
    char *got = ledger_balances(f, data);
    assert_string_equal(got, "big 9223372036854775807\nx -42\n");
    free(got);

    krecs_t rs = read_topic(bs, "dlq", NCASES);
    assert_int_equal(rs.n, NCASES);
    for (size_t i = 0; i < rs.n; i++) { /* one partition: in production order */
        const bad_case_t *c = &cases[i];
        assert_string_equal(rs.v[i].value, c->value);
        assert_non_null(krec_header(&rs.v[i], "eoc-dlq-reason", buf, sizeof(buf)));
        assert_string_equal(buf, c->reason);
        if (c->error) {
            assert_non_null(krec_header(&rs.v[i], "eoc-error", buf, sizeof(buf)));
            if (!strstr(buf, c->error))
                fail_msg("case %zu: eoc-error \"%s\" does not mention \"%s\"", i, buf, c->error);
        }
    }
    krecs_free(&rs);
}

static void test_ledger_balances_stay_exact_across_kills_and_restarts(void **state)
{
    fx_t *f = *state;
    static const char *const topics[] = {"in:4", "out:4", "dlq:1", NULL};
    const char *bs = fx_kafka(f, 0, topics);
    unsigned seed = test_seed(__func__);
    char data[PATH_MAX], want[512];
    enum { N = 1500 };
    book_t b = {0};
    proc_t w;
    int total = 0;

    fx_path(f, data, sizeof(data), "data");
    rd_kafka_t *p = producer_new(bs);
    for (int i = 0; i < N; i++, total++)
        produce_entry(p, &b, i, seed, 1);
    producer_done(p);

    /* 1. kill -9 from outside while batches of one record commit. */
    start_ledger(f, &w, bs, data, NULL, "--group", "ledger-kill", "--batch", "1", NULL);
    wait_progress(f, &w, data, N / 5);
    assert_int_equal(proc_signal(f, &w, SIGKILL), 128 + SIGKILL);
    int64_t at_kill = progress(f, data);
    fprintf(stderr, "killed at %" PRId64 "/%d records\n", at_kill, total);
    assert_true(at_kill >= N / 5 && at_kill < total); /* really mid-run */

    /* 2. Duplicates of applied entries and new ones while it is down. */
    p = producer_new(bs);
    for (int i = 0; i < 200; i++, total++)
        produce_entry(p, &b, (int)((seed + (unsigned)i * 13u) % N), seed, 0);
    for (int i = N; i < N + 100; i++, total++)
        produce_entry(p, &b, i, seed, 1);
    producer_done(p);

    /* 3. A self-kill inside the write transaction (test builds with crash points). */
    start_ledger(f, &w, bs, data, "EOC_CRASH_AT=store.commit:20", "--group", "ledger-kill",
                 "--batch", "5", NULL);
    int64_t deadline = tu_now_ms() + DEADLINE_MS;
    int rc;
    while ((rc = proc_wait(f, &w, POLL_MS)) < 0 && progress(f, data) < total && tu_now_ms() < deadline)
        ;
    if (rc < 0)
        fprintf(stderr, "no crash point fired (build without crash_points?)\n");
    else
        assert_int_equal(rc, 128 + SIGKILL);
    if (rc < 0)
        assert_int_equal(proc_signal(f, &w, SIGKILL), 128 + SIGKILL);

    /* 4. A clean run to the end. */
    start_ledger(f, &w, bs, data, NULL, "--group", "ledger-kill", NULL);
    wait_progress(f, &w, data, total);
    assert_int_equal(proc_signal(f, &w, SIGTERM), 0);

    expected_balances(&b, want, sizeof(want));
    char *got = ledger_balances(f, data);
    assert_string_equal(got, want);
    free(got);
    cJSON *doc = inspect(f, data);
    assert_int_equal(json_num(doc, "inbox", "applied"), b.n);
    assert_int_equal(json_num(doc, "inbox", "dead_lettered"), 0);
    assert_int_equal(json_num(doc, "outbox", "backlog"), 0);
    assert_int_equal(offsets_sum(doc), total);
    cJSON_Delete(doc);
    check_ledger_output(bs, &b);
}

/* ------------------------------------------------------------------ */
/* Tests: the eoc command on a known store                             */
/* ------------------------------------------------------------------ */

static size_t count_lines_starting(const char *text, const char *prefix)
{
    size_t n = 0;

    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
        n += strncmp(l, prefix, strlen(prefix)) == 0;
    return n;
}

static void test_eoc_inspect_outbox_state_and_relay_on_a_known_store(void **state)
{
    fx_t *f = *state;
    static const char *const topics[] = {"in:2", "out:2", "dlq:1", NULL};
    const char *bs = fx_kafka(f, 0, topics);
    char data[PATH_MAX], exe[PATH_MAX];
    static const char *const entries[] = {
        "{\"id\":\"k1\",\"account\":\"acc-a\",\"amount\":10}",
        "{\"id\":\"k2\",\"account\":\"acc-b\",\"amount\":-3}",
        "{\"id\":\"k3\",\"account\":\"acc-a\",\"amount\":5}",
        "{\"id\":\"k4\",\"account\":\"acc-c\",\"amount\":7}",
        "{\"id\":\"k1\",\"account\":\"acc-a\",\"amount\":10}",  /* duplicate */
        "{\"id\":\"k5\",\"account\":\"acc-a\",\"amount\":0.5}", /* dead letter */
        "{\"id\":\"k6\",\"account\":\"acc-b\"}",                /* dead letter */
    };
    enum { N = sizeof(entries) / sizeof(entries[0]), APPLIED = 4, DEAD = 2 };
    char *out, *err;
    proc_t w;

    fx_path(f, data, sizeof(data), "data");
    rd_kafka_t *p = producer_new(bs);
    for (int i = 0; i < N; i++)
        produce(p, "in", "same-key", entries[i], strlen(entries[i]), NULL, NULL);
    producer_done(p);
    /* No relay in the worker: the outbox keeps every row for inspection. */
    start_ledger(f, &w, bs, data, NULL, "--group", "ledger-inspect", "--set", "relay.enable=false",
                 NULL);
    wait_progress(f, &w, data, N);
    assert_int_equal(proc_signal(f, &w, SIGTERM), 0);

    cJSON *doc = inspect(f, data);
    assert_int_equal(offsets_sum(doc), N);
    assert_int_equal(json_num(doc, "inbox", "entries"), APPLIED + DEAD);
    assert_int_equal(json_num(doc, "inbox", "applied"), APPLIED);
    assert_int_equal(json_num(doc, "inbox", "dead_lettered"), DEAD);
    assert_true(json_num(doc, "inbox", "oldest_ms") > 0);
    assert_int_equal(json_num(doc, "outbox", "backlog"), APPLIED + DEAD);
    assert_true(json_num(doc, "outbox", "oldest_age_ms") >= 0);
    assert_int_equal(json_num(doc, "state", "entries"), 3);
    assert_true(json_num(doc, "map", "used") > 0);
    assert_true(json_num(doc, "map", "size") >= json_num(doc, "map", "used"));
    assert_true(json_num(doc, NULL, "schema_version") >= 1);
    cJSON_Delete(doc);

    const char *text[] = {program(exe, sizeof(exe), "tools/eoc/eoc"), "inspect", data, NULL};
    assert_int_equal(run(f, text, &out, &err), 0);
    assert_non_null(strstr(out, "4 applied, 2 dead-lettered"));
    free(out);
    free(err);

    const char *outbox_all[] = {exe, "outbox", data, "--limit", "0", NULL};
    assert_int_equal(run(f, outbox_all, &out, &err), 0);
    assert_int_equal(count_lines_starting(out, "seq="), APPLIED + DEAD);
    assert_non_null(strstr(out, "id=k1/0 topic=out"));
    assert_non_null(strstr(out, "id=k5/dlq topic=dlq"));
    assert_non_null(strstr(out, "header eoc-dlq-reason: handler_error"));
    free(out);
    free(err);
    const char *outbox_two[] = {exe, "outbox", data, "--limit", "2", NULL};
    assert_int_equal(run(f, outbox_two, &out, &err), 0);
    assert_int_equal(count_lines_starting(out, "seq="), 2);
    assert_non_null(strstr(out, "4 more pending"));
    free(out);
    free(err);

    const char *st[] = {exe, "state", data, NULL};
    assert_int_equal(run(f, st, &out, &err), 0);
    assert_string_equal(out, "balance/acc-a 15\nbalance/acc-b -3\nbalance/acc-c 7\n");
    free(out);
    free(err);
    const char *st_prefix[] = {exe, "state", data, "balance/acc-b", NULL};
    assert_int_equal(run(f, st_prefix, &out, &err), 0);
    assert_string_equal(out, "balance/acc-b -3\n");
    free(out);
    free(err);

    /* The standalone relay drains the outbox to Kafka. */
    const char *relay[] = {exe, "relay", "--data", data, "--brokers", bs, NULL};
    proc_t r;
    proc_start(f, &r, relay, NULL);
    int64_t deadline = tu_now_ms() + DEADLINE_MS;
    int64_t backlog = APPLIED + DEAD;
    while (backlog > 0 && tu_now_ms() < deadline) {
        tu_sleep_ms(POLL_MS);
        doc = inspect(f, data);
        backlog = json_num(doc, "outbox", "backlog");
        cJSON_Delete(doc);
    }
    assert_int_equal(backlog, 0);
    assert_int_equal(proc_signal(f, &r, SIGTERM), 0);
    krecs_t rs = read_topic(bs, "out", APPLIED);
    assert_int_equal(rs.n, APPLIED);
    krecs_free(&rs);
    rs = read_topic(bs, "dlq", DEAD);
    assert_int_equal(rs.n, DEAD);
    krecs_free(&rs);
}

/* ------------------------------------------------------------------ */
/* Tests: eoc-forward                                                  */
/* ------------------------------------------------------------------ */

enum { FWD_N = 40, FWD_DUPS = 15 };

/* Produces forward input i: key, a binary value and headers, message-id "f-<i>". */
static void produce_forward_input(rd_kafka_t *p, int i)
{
    char key[16], id[16], h1[16], value[32];
    int len = snprintf(value, sizeof(value), "v%d", i);

    value[len++] = '\0'; /* binary: an inner NUL and a high byte */
    value[len++] = (char)0xff;
    snprintf(key, sizeof(key), "key-%d", i % 7);
    snprintf(id, sizeof(id), "f-%d", i);
    snprintf(h1, sizeof(h1), "h1-%d", i);
    const char *hdrs[] = {"trace", h1, "message-id", id, "empty", "", "bin", "\x01\x00\x02", NULL};
    const size_t lens[] = {strlen(h1), strlen(id), 0, 3};
    produce(p, "in", key, value, (size_t)len, hdrs, lens);
}

/* Checks that `out` of bs holds each input exactly once, headers and IDs as promised. */
static void check_forward_output(const char *bs)
{
    krecs_t rs = read_topic(bs, "out", FWD_N);
    char seen[FWD_N] = {0}, buf[600], want[32];

    assert_int_equal(rs.n, FWD_N);
    for (size_t i = 0; i < rs.n; i++) {
        const krec_t *r = &rs.v[i];
        int n = -1, consumed = 0;

        assert_int_equal(krec_header_count(r, "message-id"), 1);
        assert_non_null(krec_header(r, "message-id", buf, sizeof(buf)));
        assert_int_equal(sscanf(buf, "f-%d/0%n", &n, &consumed), 1);
        assert_int_equal((size_t)consumed, strlen(buf));
        assert_true(n >= 0 && n < FWD_N && !seen[n]);
        seen[n] = 1;
        snprintf(want, sizeof(want), "key-%d", n % 7);
        assert_string_equal(r->key, want);
        int vlen = snprintf(want, sizeof(want), "v%d", n);
        assert_int_equal(r->len, (size_t)vlen + 2);
        assert_memory_equal(r->value, want, (size_t)vlen);
        assert_int_equal(r->value[vlen], '\0');
        assert_int_equal((unsigned char)r->value[vlen + 1], 0xff);
        snprintf(want, sizeof(want), "h1-%d", n);
        assert_string_equal(krec_header(r, "trace", buf, sizeof(buf)), want);
        assert_string_equal(krec_header(r, "empty", buf, sizeof(buf)), "");
        const void *v;
        size_t len;
        assert_int_equal(rd_kafka_header_get_last(r->hdrs, "bin", &v, &len), 0);
        assert_int_equal(len, 3);
        assert_memory_equal(v, "\x01\x00\x02", 3);
        const char *src = krec_header(r, "eoc-source", buf, sizeof(buf)); /* in/<p>/<offset> */
        assert_non_null(src);
        assert_int_equal(strncmp(src, "in/", 3), 0);
    }
    krecs_free(&rs);
}

/* Runs eoc-forward until every input has its disposition; extra flags follow. */
static void run_forward(fx_t *f, const char *bs, const char *data, const char *group,
                        const char *extra_flag, const char *extra_value)
{
    char exe[PATH_MAX];
    const char *argv[] = {program(exe, sizeof(exe), "consumers/eoc-forward"),
                          "--brokers",
                          bs,
                          "--input",
                          "in",
                          "--output",
                          "out",
                          "--data",
                          data,
                          "--group",
                          group,
                          "--batch-ms",
                          "20",
                          extra_flag,
                          extra_value,
                          NULL};
    proc_t w;

    rd_kafka_t *p = producer_new(bs);
    for (int i = 0; i < FWD_N; i++)
        produce_forward_input(p, i);
    for (int i = 0; i < FWD_DUPS; i++)
        produce_forward_input(p, (i * 3) % FWD_N);
    producer_done(p);
    proc_start(f, &w, argv, NULL);
    wait_progress(f, &w, data, FWD_N + FWD_DUPS);
    assert_int_equal(proc_signal(f, &w, SIGTERM), 0);
    char *log = slurp(w.err);
    if (!strstr(log, "duplicates=15") || !strstr(log, "dead_letters=0"))
        fail_msg("unexpected counters:\n%s", log);
    free(log);
}

static void test_forward_copies_each_record_once_with_headers_and_output_ids(void **state)
{
    fx_t *f = *state;
    static const char *const topics[] = {"in:3", "out:2", NULL};
    const char *bs = fx_kafka(f, 0, topics);
    char data[PATH_MAX];

    run_forward(f, bs, fx_path(f, data, sizeof(data), "data"), "forward-one", "--dlq", "dlq");
    check_forward_output(bs);
}

static void test_forward_publishes_to_another_cluster_with_output_brokers(void **state)
{
    fx_t *f = *state;
    static const char *const in_topics[] = {"in:3", "out:2", NULL};
    static const char *const out_topics[] = {"out:2", NULL};
    const char *bs = fx_kafka(f, 0, in_topics);
    const char *bs2 = fx_kafka(f, 1, out_topics);
    char data[PATH_MAX];

    run_forward(f, bs, fx_path(f, data, sizeof(data), "data"), "forward-two", "--output-brokers",
                bs2);
    check_forward_output(bs2);
    krecs_t rs = read_topic(bs, "out", 0); /* nothing went to the input cluster */
    assert_int_equal(rs.n, 0);
    krecs_free(&rs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_a_consumer_without_brokers_names_the_dev_kafka_and_exits_2, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_help_lists_every_flag_and_config_key, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_bad_flags_and_values_are_usage_errors, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_flags_override_the_config_file_wherever_they_stand,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_eoc_command_lists_subcommands_and_refuses_unknown_ones,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_ledger_applies_each_entry_once_despite_duplicates,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_ledger_dead_letters_each_bad_entry_with_its_reason,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_ledger_balances_stay_exact_across_kills_and_restarts,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_eoc_inspect_outbox_state_and_relay_on_a_known_store,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(
            test_forward_copies_each_record_once_with_headers_and_output_ids, fx_setup,
            fx_teardown),
        cmocka_unit_test_setup_teardown(
            test_forward_publishes_to_another_cluster_with_output_brokers, fx_setup, fx_teardown),
    };

    signal(SIGPIPE, SIG_IGN);
    if (getenv("EOC_TEST_FILTER")) /* e.g. "*forward*" */
        cmocka_set_test_filter(getenv("EOC_TEST_FILTER"));
    return cmocka_run_group_tests_name("consumers", tests, NULL, NULL);
}
