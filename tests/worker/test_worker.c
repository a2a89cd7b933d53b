/*
 * test_worker - the worker against the development Kafka (librdkafka's mock
 * cluster in its own process) and a real LMDB store on disk.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "kclient.h"
#include "testutil.h"

#include <eoc/eoc.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define DEADLINE_MS 60000

static int fx_setup(void **state)
{
    static const char *const topics[] = {"in:4", "out:4", "dlq:1", NULL};
    return tu_fixture_setup(state, topics);
}

static int fx_teardown(void **state)
{
    return tu_fixture_teardown(state);
}

static eoc_conf_t *conf_for(const tu_fixture_t *f, const char *group, ...)
{
    eoc_conf_t *c = eoc_conf_new();
    char err[256];
    const char *kv[][2] = {{"kafka.bootstrap.servers", f->bs},
                           {"group.id", group},
                           {"input.topics", "in"},
                           {"output.topic", "out"},
                           {"dlq.topic", "dlq"},
                           {"data.dir", f->dir},
                           {"batch.max.ms", "50"},
                           {"retry.backoff.ms", "1"},
                           {"log.level", "notice"},
                           /* the development Kafka keeps a departed member until its
                            * session expires: keep restarts quick */
                           {"kafka.session.timeout.ms", "6000"}};
    for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++)
        assert_int_equal(eoc_conf_set(c, kv[i][0], kv[i][1], err, sizeof(err)), EOC_OK);
    va_list ap;
    va_start(ap, group);
    for (const char *k; (k = va_arg(ap, const char *));) {
        const char *v = va_arg(ap, const char *);
        assert_int_equal(eoc_conf_set(c, k, v, err, sizeof(err)), EOC_OK);
    }
    va_end(ap);
    return c;
}

static void produce_n(const tu_fixture_t *f, const char *prefix, int from, int to, const char *val)
{
    rd_kafka_t *p = kc_producer(f->bs);
    for (int i = from; i < to; i++) {
        char id[64], key[16], v[128];
        snprintf(id, sizeof(id), "%s%d", prefix, i);
        snprintf(key, sizeof(key), "k%d", i % 7);
        snprintf(v, sizeof(v), "%s-%s", val, id);
        assert_int_equal(kc_produce(p, "in", -1, key, v, strlen(v), id), 0);
    }
    assert_int_equal(kc_flush(p), 0);
    kc_producer_destroy(p);
}

/* ---- an in-process worker on its own thread ---- */

struct calls {
    pthread_mutex_t lock;
    int ok, failed, retried;
    int flaky_attempts; /* for the record whose value starts with "flaky" */
};

static eoc_result_t test_handler(eoc_txn_t *txn, const eoc_record_t *rec, void *opaque)
{
    struct calls *c = opaque;
    size_t len, id_len;
    const char *v = eoc_record_value(rec, &len);
    const char *id = eoc_record_id(rec, &id_len);
    eoc_result_t res = EOC_HANDLER_OK;
    pthread_mutex_lock(&c->lock);
    if (len >= 6 && memcmp(v, "poison", 6) == 0) {
        eoc_txn_set_error(txn, "cannot digest poison");
        res = EOC_HANDLER_FAIL;
        c->failed++;
    } else if (len >= 5 && memcmp(v, "flaky", 5) == 0 && ++c->flaky_attempts < 2) {
        res = EOC_HANDLER_RETRY;
        c->retried++;
    }
    pthread_mutex_unlock(&c->lock);
    if (res != EOC_HANDLER_OK)
        return res;
    /* One state row and one output per applied input. */
    if (eoc_state_put(txn, id, id_len, v, len) != EOC_OK)
        return EOC_HANDLER_RETRY;
    eoc_msg_t out = {
        .partition = EOC_PARTITION_ANY, .key = id, .key_len = id_len, .value = v, .value_len = len};
    if (eoc_emit(txn, &out) != EOC_OK)
        return EOC_HANDLER_FAIL;
    pthread_mutex_lock(&c->lock);
    c->ok++;
    pthread_mutex_unlock(&c->lock);
    return EOC_HANDLER_OK;
}

struct run {
    tu_worker_t tw;
};

static void run_start(struct run *r, eoc_conf_t *conf, struct calls *c)
{
    tu_worker_start(&r->tw, conf, test_handler, c);
}

static void run_wait(struct run *r, uint64_t n)
{
    tu_worker_wait(&r->tw, n);
}

static eoc_err_t run_stop(struct run *r, eoc_stats_t *stats)
{
    return tu_worker_stop(&r->tw, stats);
}

/* Counts distinct message-ids in `out` and checks they are `<id>/0`. */
static size_t distinct_output_ids(const kmsgs_t *out)
{
    size_t distinct = 0;
    char a[600], b[600];
    for (size_t i = 0; i < out->n; i++) {
        const char *id = kc_header(&out->v[i], "message-id", a, sizeof(a));
        assert_non_null(id);
        size_t n = strlen(id);
        assert_true(n > 2 && strcmp(id + n - 2, "/0") == 0);
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++)
            seen = strcmp(id, kc_header(&out->v[j], "message-id", b, sizeof(b))) == 0;
        distinct += !seen;
    }
    return distinct;
}

struct count_ctx {
    size_t n;
};

static int count_row(void *opaque, const eoc_outbox_row_t *row)
{
    (void)row;
    ((struct count_ctx *)opaque)->n++;
    return 0;
}

static int count_state(void *opaque, const void *k, size_t kl, const void *v, size_t vl)
{
    (void)k, (void)kl, (void)v, (void)vl;
    ((struct count_ctx *)opaque)->n++;
    return 0;
}

/* ------------------------------------------------------------------ */

static void unique_ids_are_applied_once_and_duplicates_are_counted(void **state)
{
    tu_fixture_t *f = *state;
    produce_n(f, "id", 0, 30, "v");
    produce_n(f, "id", 5, 15, "v"); /* ten re-sent records: same ID, same payload */
    struct calls c = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, 0};
    struct run r;
    run_start(&r, conf_for(f, "g-unique", NULL), &c);
    run_wait(&r, 40);
    eoc_stats_t s;
    assert_int_equal(run_stop(&r, &s), EOC_OK);
    assert_int_equal(c.ok, 30);
    assert_int_equal(s.applied, 30);
    assert_int_equal(s.duplicates, 10);
    assert_int_equal(s.dead_letters, 0);

    kmsgs_t out = {0};
    kc_read_topic(f->bs, "out", 30, 20000, &out);
    assert_int_equal(out.n, 30); /* no relay crash here: no transport duplicates */
    assert_int_equal(distinct_output_ids(&out), 30);
    char buf[64], topic[16];
    int32_t sp;
    int64_t so;
    for (size_t i = 0; i < out.n; i++) {
        const char *src = kc_header(&out.v[i], EOC_HEADER_SOURCE, buf, sizeof(buf));
        assert_non_null(src);
        assert_int_equal(eoc_source_parse(src, strlen(src), topic, sizeof(topic), &sp, &so), 0);
        assert_string_equal(topic, "in");
    }
    kc_msgs_free(&out);
}

static void restart_resumes_from_lmdb_offsets_without_calling_the_handler_again(void **state)
{
    tu_fixture_t *f = *state;
    produce_n(f, "a", 0, 20, "v");
    struct calls c1 = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, 0};
    struct run r;
    run_start(&r, conf_for(f, "g-restart", NULL), &c1);
    run_wait(&r, 20);
    assert_int_equal(run_stop(&r, NULL), EOC_OK);
    assert_int_equal(c1.ok, 20);

    produce_n(f, "a", 20, 25, "v");
    struct calls c2 = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, 0};
    run_start(&r, conf_for(f, "g-restart", NULL), &c2);
    run_wait(&r, 5);
    eoc_stats_t s;
    assert_int_equal(run_stop(&r, &s), EOC_OK);
    assert_int_equal(c2.ok, 5); /* only the new records */
    assert_int_equal(s.consumed, 5);
    assert_int_equal(s.duplicates, 0);
}

static void
poison_record_is_dead_lettered_with_its_provenance_and_the_partition_goes_on(void **state)
{
    tu_fixture_t *f = *state;
    rd_kafka_t *p = kc_producer(f->bs);
    const char *vals[] = {"ok-1", "poison-pill", "flaky-once", "ok-2"};
    const char *ids[] = {"p1", "p2", "p3", "p4"};
    for (int i = 0; i < 4; i++)
        assert_int_equal(kc_produce(p, "in", 2, "k", vals[i], strlen(vals[i]), ids[i]), 0);
    assert_int_equal(kc_produce(p, "in", 2, "k", "no id", 5, NULL), 0);
    assert_int_equal(kc_flush(p), 0);
    kc_producer_destroy(p);

    struct calls c = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, 0};
    struct run r;
    run_start(&r, conf_for(f, "g-poison", NULL), &c);
    run_wait(&r, 5);
    eoc_stats_t s;
    assert_int_equal(run_stop(&r, &s), EOC_OK);
    assert_int_equal(s.applied, 3);      /* ok-1, flaky-once (after a retry), ok-2 */
    assert_int_equal(s.dead_letters, 2); /* poison-pill, the record without an ID */
    assert_int_equal(s.retries, 1);

    kmsgs_t dlq = {0};
    kc_read_topic(f->bs, "dlq", 2, 20000, &dlq);
    assert_int_equal(dlq.n, 2);
    char b[256];
    int poison = 0, missing = 0;
    for (size_t i = 0; i < dlq.n; i++) {
        const kmsg_t *m = &dlq.v[i];
        const char *reason = kc_header(m, "eoc-dlq-reason", b, sizeof(b));
        assert_non_null(reason);
        if (strcmp(reason, "handler_error") == 0) {
            poison++;
            assert_string_equal(m->value, "poison-pill");
            assert_string_equal(kc_header(m, "eoc-error", b, sizeof(b)), "cannot digest poison");
            assert_string_equal(kc_header(m, "eoc-source-id", b, sizeof(b)), "p2");
            assert_string_equal(kc_header(m, EOC_HEADER_SOURCE, b, sizeof(b)), "in/2/1");
            assert_string_equal(kc_header(m, "message-id", b, sizeof(b)), "p2/dlq");
        } else {
            missing++;
            assert_string_equal(reason, "missing_id");
            const char *src = kc_header(m, EOC_HEADER_SOURCE, b, sizeof(b));
            assert_non_null(src);
            assert_string_equal(strrchr(src, '/'), "/4");
        }
    }
    assert_int_equal(poison, 1);
    assert_int_equal(missing, 1);
    kc_msgs_free(&dlq);
}

static void a_failed_commit_rewinds_and_after_a_restart_nothing_is_lost_or_doubled(void **state)
{
    tu_fixture_t *f = *state;
    /* Ten 100 KiB records, a 256 KiB map: no batch can commit. */
    size_t big = 100 * 1024;
    char *v = malloc(big);
    memset(v, 'x', big);
    rd_kafka_t *p = kc_producer(f->bs);
    for (int i = 0; i < 10; i++) {
        char id[16];
        snprintf(id, sizeof(id), "big%d", i);
        assert_int_equal(kc_produce(p, "in", 0, "k", v, big, id), 0);
    }
    assert_int_equal(kc_flush(p), 0);
    kc_producer_destroy(p);
    free(v);

    struct calls c = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, 0};
    struct run r;
    char err[256];
    run_start(&r, conf_for(f, "g-mapfull", "store.map.size", "256KiB", NULL), &c);
    pthread_join(r.tw.t, NULL); /* stops by itself: map full is fatal after retries */
    eoc_stats_t s;
    eoc_worker_stats(r.tw.w, &s);
    assert_int_equal(r.tw.rc, EOC_ERR_MAP_FULL);
    assert_true(s.commit_failures >= 1);
    /* The reason, as the worker logged it. */
    char why[512];
    assert_int_equal(eoc_worker_fatal_error(r.tw.w, why, sizeof(why)), EOC_ERR_MAP_FULL);
    if (!strstr(why, "raise store.map.size"))
        fail_msg("fatal reason: '%s'", why);
    eoc_worker_destroy(r.tw.w);

    /* Nothing of the failed batches was committed. */
    eoc_store_t *st = eoc_store_open_readonly(f->dir, err, sizeof(err));
    assert_non_null(st);
    struct count_ctx rows = {0}, states = {0};
    assert_int_equal(eoc_store_outbox_foreach(st, count_row, &rows), EOC_OK);
    assert_int_equal(eoc_store_state_foreach(st, NULL, 0, count_state, &states), EOC_OK);
    assert_int_equal(rows.n, 0);
    assert_int_equal(states.n, 0);
    eoc_store_close(st);

    /* The fix: a bigger map. Every record is applied exactly once. */
    struct calls c2 = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, 0};
    run_start(&r, conf_for(f, "g-mapfull", "store.map.size", "64MiB", NULL), &c2);
    run_wait(&r, 10);
    assert_int_equal(run_stop(&r, &s), EOC_OK);
    assert_int_equal(s.applied, 10);
    assert_int_equal(c2.ok, 10);
    kmsgs_t out = {0};
    kc_read_topic(f->bs, "out", 10, 20000, &out);
    assert_int_equal(out.n, 10);
    assert_int_equal(distinct_output_ids(&out), 10);
    kc_msgs_free(&out);
}

static void stop_drains_the_outbox_before_returning(void **state)
{
    tu_fixture_t *f = *state;
    produce_n(f, "d", 0, 200, "v");
    struct calls c = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, 0};
    struct run r;
    run_start(&r, conf_for(f, "g-drain", NULL), &c);
    int64_t deadline = tu_now_ms() + DEADLINE_MS;
    eoc_stats_t s;
    do { /* stop as soon as everything is applied, without waiting for the relay */
        tu_sleep_ms(5);
        eoc_worker_stats(r.tw.w, &s);
    } while (s.applied < 200 && tu_now_ms() < deadline);
    assert_int_equal(run_stop(&r, &s), EOC_OK);
    assert_int_equal(s.applied, 200);

    char err[256];
    eoc_store_t *st = eoc_store_open_readonly(f->dir, err, sizeof(err));
    assert_non_null(st);
    struct count_ctx rows = {0};
    assert_int_equal(eoc_store_outbox_foreach(st, count_row, &rows), EOC_OK);
    assert_int_equal(rows.n, 0);
    eoc_store_close(st);
    kmsgs_t out = {0};
    kc_read_topic(f->bs, "out", 200, 20000, &out);
    assert_int_equal(distinct_output_ids(&out), 200);
    kc_msgs_free(&out);
}

/* ---- two worker processes, one group, one shared environment ---- */

static pid_t spawn_stateful(const tu_fixture_t *f)
{
    char exe[512];
    snprintf(exe, sizeof(exe), "%s/examples/eoc-example-stateful", getenv("EOC_BUILD_ROOT"));
    char *argv[] = {exe, (char *)f->bs, "in", "out", (char *)f->dir, NULL};
    pid_t pid;
    assert_int_equal(posix_spawn(&pid, exe, NULL, NULL, argv, environ), 0);
    return pid;
}

struct counter_ctx {
    uint64_t total;
};

static int sum_counters(void *opaque, const void *k, size_t kl, const void *v, size_t vl)
{
    (void)k, (void)kl;
    uint64_t n = 0;
    if (vl == sizeof(n))
        memcpy(&n, v, sizeof(n));
    ((struct counter_ctx *)opaque)->total += n;
    return 0;
}

static uint64_t stored_total(const tu_fixture_t *f)
{
    char err[256];
    eoc_store_t *st = eoc_store_open_readonly(f->dir, err, sizeof(err));
    if (!st)
        return 0;
    struct counter_ctx c = {0};
    eoc_store_state_foreach(st, NULL, 0, sum_counters, &c);
    eoc_store_close(st);
    return c.total;
}

static void two_workers_rebalancing_over_one_environment_apply_each_record_once(void **state)
{
    tu_fixture_t *f = *state;
    produce_n(f, "r", 0, 300, "v");
    pid_t a = spawn_stateful(f);
    tu_sleep_ms(1500);
    pid_t b = spawn_stateful(f); /* joins: partitions move between them */
    produce_n(f, "r", 300, 600, "v");
    produce_n(f, "r", 100, 200, "v"); /* re-sent duplicates */
    /* Let b's join settle first: the development Kafka loses a member's
     * leave that arrives while the group is still syncing the join. */
    tu_sleep_ms(4000);
    kill(a, SIGTERM); /* leaves: its partitions move to b */
    int st;
    assert_int_equal(waitpid(a, &st, 0), a);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    produce_n(f, "r", 600, 700, "v");

    int64_t deadline = tu_now_ms() + DEADLINE_MS;
    while (stored_total(f) < 700 && tu_now_ms() < deadline)
        tu_sleep_ms(200);
    kill(b, SIGTERM);
    assert_int_equal(waitpid(b, &st, 0), b);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_int_equal(stored_total(f), 700); /* every key's counter: its distinct records */

    kmsgs_t out = {0};
    kc_read_topic(f->bs, "out", 700, 30000, &out);
    assert_int_equal(distinct_output_ids(&out), 700);
    kc_msgs_free(&out);
}

int main(void)
{
    if (!devkafka_exe_from_env()) {
        fprintf(stderr, "EOC_KAFKA_DEV is not set (run through meson test)\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(unique_ids_are_applied_once_and_duplicates_are_counted,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(
            restart_resumes_from_lmdb_offsets_without_calling_the_handler_again, fx_setup,
            fx_teardown),
        cmocka_unit_test_setup_teardown(
            poison_record_is_dead_lettered_with_its_provenance_and_the_partition_goes_on, fx_setup,
            fx_teardown),
        cmocka_unit_test_setup_teardown(
            a_failed_commit_rewinds_and_after_a_restart_nothing_is_lost_or_doubled, fx_setup,
            fx_teardown),
        cmocka_unit_test_setup_teardown(stop_drains_the_outbox_before_returning, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(
            two_workers_rebalancing_over_one_environment_apply_each_record_once, fx_setup,
            fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
