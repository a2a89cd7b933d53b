/*
 * test_ops - day-two operations against the development Kafka and a real
 * store: `eoc replay` (to the beginning, to an offset, to a time, dry run,
 * refused beside a running worker), `eoc dlq list/resubmit`, and inbox
 * retention bounds.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "kclient.h"
#include "testutil.h"

#include <eoc/eoc.h>

#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DEADLINE_MS 60000

static int fx_setup(void **state)
{
    static const char *const topics[] = {"in:2", "out:2", "dlq:1", NULL};
    return tu_fixture_setup(state, topics);
}

static int fx_teardown(void **state)
{
    return tu_fixture_teardown(state);
}

/* ---- a worker in a thread ---- */

struct app {
    int accept_bad; /* the handler fails records whose value starts with "bad" until set */
};

static eoc_result_t handler(eoc_txn_t *txn, const eoc_record_t *rec, void *opaque)
{
    const struct app *a = opaque;
    size_t len, id_len;
    const char *v = eoc_record_value(rec, &len);
    const char *id = eoc_record_id(rec, &id_len);
    if (len >= 3 && memcmp(v, "bad", 3) == 0 &&
        !__atomic_load_n(&a->accept_bad, __ATOMIC_SEQ_CST)) {
        eoc_txn_set_error(txn, "not accepted yet");
        return EOC_HANDLER_FAIL;
    }
    eoc_msg_t out = {
        .partition = EOC_PARTITION_ANY, .key = id, .key_len = id_len, .value = v, .value_len = len};
    return eoc_emit(txn, &out) == EOC_OK ? EOC_HANDLER_OK : EOC_HANDLER_FAIL;
}

static void run_start(tu_worker_t *r, const tu_fixture_t *f, struct app *a, const char *extra_key,
                      const char *extra_value)
{
    char err[512];
    eoc_conf_t *c = eoc_conf_new();
    const char *kv[][2] = {{"kafka.bootstrap.servers", f->bs},
                           {"group.id", "ops"},
                           {"input.topics", "in"},
                           {"output.topic", "out"},
                           {"dlq.topic", "dlq"},
                           {"data.dir", f->dir},
                           {"batch.max.ms", "20"},
                           {"log.level", "warning"},
                           {"kafka.session.timeout.ms", "6000"}};
    for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++)
        assert_int_equal(eoc_conf_set(c, kv[i][0], kv[i][1], err, sizeof(err)), EOC_OK);
    if (extra_key)
        assert_int_equal(eoc_conf_set(c, extra_key, extra_value, err, sizeof(err)), EOC_OK);
    tu_worker_start(r, c, handler, a);
}

static void run_stop(tu_worker_t *r, eoc_stats_t *s)
{
    assert_int_equal(tu_worker_stop(r, s), EOC_OK);
}

static void produce(const tu_fixture_t *f, int32_t partition, const char *prefix, int from, int to,
                    const char *value)
{
    rd_kafka_t *p = kc_producer(f->bs);
    for (int i = from; i < to; i++) {
        char id[64];
        snprintf(id, sizeof(id), "%s%d", prefix, i);
        assert_int_equal(kc_produce(p, "in", partition, id, value, strlen(value), id), 0);
    }
    assert_int_equal(kc_flush(p), 0);
    kc_producer_destroy(p);
}

/* Runs `eoc ARGS...` and returns its exit status; its stdout goes to `out`. */
static int eoc_tool(char *out, size_t out_size, const char *const *args)
{
    char exe[512];
    snprintf(exe, sizeof(exe), "%s/tools/eoc/eoc", getenv("EOC_BUILD_ROOT"));
    char *argv[32] = {exe};
    size_t n = 1;
    for (; args[n - 1] && n < 31; n++)
        argv[n] = (char *)args[n - 1];
    argv[n] = NULL;
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
    posix_spawn_file_actions_addclose(&fa, pipefd[0]);
    pid_t pid;
    extern char **environ;
    assert_int_equal(posix_spawn(&pid, exe, &fa, NULL, argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    close(pipefd[1]);
    size_t got = 0;
    ssize_t r;
    while ((r = read(pipefd[0], out + got, out_size - 1 - got)) > 0)
        got += (size_t)r;
    out[got] = 0;
    close(pipefd[0]);
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* ------------------------------------------------------------------ */

static void replay_to_the_beginning_reapplies_nothing_and_counts_duplicates(void **state)
{
    tu_fixture_t *f = *state;
    struct app a = {0};
    produce(f, 0, "a", 0, 30, "v");
    produce(f, 1, "b", 0, 20, "v");
    tu_worker_t r;
    eoc_stats_t s;
    run_start(&r, f, &a, NULL, NULL);
    tu_worker_wait(&r, 50);

    /* Refused while the worker runs. */
    char out[8192];
    const char *args[] = {"replay",         f->dir,      "--brokers", f->bs, "--group", "ops",
                          "--topic",        "in",        "--to-beginning",   "--execute",
                          NULL};
    assert_int_equal(eoc_tool(out, sizeof(out), args), 1);
    run_stop(&r, &s);
    assert_int_equal(s.applied, 50);

    const char *dry[] = {"replay",  f->dir, "--brokers",      f->bs,       "--group", "ops",
                         "--topic", "in",   "--to-beginning", "--dry-run", NULL};
    assert_int_equal(eoc_tool(out, sizeof(out), dry), 0);
    assert_non_null(strstr(out, "in[0]: store 30 -> 0: 30 record(s) to re-read"));
    assert_non_null(strstr(out, "in[1]: store 20 -> 0: 20 record(s) to re-read"));
    assert_non_null(strstr(out, "50 record(s) to re-read in 2 partition(s) (plan only"));
    /* Without --execute it plans and changes nothing, like --dry-run. */
    const char *plan[] = {"replay",  f->dir, "--brokers",      f->bs, "--group", "ops",
                          "--topic", "in",   "--to-beginning", NULL};
    assert_int_equal(eoc_tool(out, sizeof(out), plan), 0);
    assert_non_null(strstr(out, "in[0]: store 30 -> 0: 30 record(s) to re-read"));
    assert_non_null(strstr(out, "add --execute to apply it"));
    assert_int_equal(eoc_tool(out, sizeof(out), plan), 0);
    assert_non_null(strstr(out, "in[0]: store 30 -> 0")); /* still 30: nothing moved */
    assert_int_equal(eoc_tool(out, sizeof(out), args), 0);

    run_start(&r, f, &a, NULL, NULL);
    tu_worker_wait(&r, 50);
    const char *watch[] = {"watch",        f->dir,  "--brokers", f->bs, "--until-caught-up",
                           "--timeout-ms", "30000", NULL};
    assert_int_equal(eoc_tool(out, sizeof(out), watch), 0);
    assert_non_null(strstr(out, "total lag 0, outbox backlog 0"));
    run_stop(&r, &s);
    assert_int_equal(s.consumed, 50);
    assert_int_equal(s.duplicates, 50);
    assert_int_equal(s.applied, 0); /* zero new effects */

    kmsgs_t o = {0};
    kc_read_topic(f->bs, "out", 50, 20000, &o);
    assert_int_equal(o.n, 50); /* nothing published twice */
    kc_msgs_free(&o);
}

static void replay_to_an_offset_and_to_a_time_rereads_only_that_suffix(void **state)
{
    tu_fixture_t *f = *state;
    struct app a = {0};
    produce(f, 0, "c", 0, 10, "v");
    tu_sleep_ms(1200);
    char iso[64];
    time_t t = time(NULL);
    strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
    tu_sleep_ms(1200);
    produce(f, 0, "c", 10, 16, "v");
    tu_worker_t r;
    eoc_stats_t s;
    run_start(&r, f, &a, NULL, NULL);
    tu_worker_wait(&r, 16);
    run_stop(&r, &s);

    char out[8192];
    const char *to_off[] = {"replay",      f->dir,    "--brokers", f->bs,         "--group",
                            "ops",         "--topic", "in",        "--partition", "0",
                            "--to-offset", "12",      "--execute", NULL};
    assert_int_equal(eoc_tool(out, sizeof(out), to_off), 0);
    assert_non_null(strstr(out, "in[0]: store 16 -> 12: 4 record(s)"));
    run_start(&r, f, &a, NULL, NULL);
    tu_worker_wait(&r, 4);
    run_stop(&r, &s);
    assert_int_equal(s.duplicates, 4);
    assert_int_equal(s.applied, 0);

    const char *to_time[] = {"replay",    f->dir,    "--brokers", f->bs,         "--group",
                             "ops",       "--topic", "in",        "--partition", "0",
                             "--to-time", iso,       "--execute", NULL};
    assert_int_equal(eoc_tool(out, sizeof(out), to_time), 0);
    assert_non_null(strstr(out, "in[0]: store 16 -> 10: 6 record(s)"));
    run_start(&r, f, &a, NULL, NULL);
    tu_worker_wait(&r, 6);
    run_stop(&r, &s);
    assert_int_equal(s.duplicates, 6);
    assert_int_equal(s.applied, 0);
}

static void a_resubmitted_dead_letter_is_applied_exactly_once(void **state)
{
    tu_fixture_t *f = *state;
    struct app a = {0};
    produce(f, 0, "ok", 0, 3, "good");
    produce(f, 0, "bad", 0, 2, "bad value");
    tu_worker_t r;
    eoc_stats_t s;
    run_start(&r, f, &a, NULL, NULL);
    tu_worker_wait(&r, 5);
    run_stop(&r, &s);
    assert_int_equal(s.applied, 3);
    assert_int_equal(s.dead_letters, 2);

    char out[8192];
    const char *list[] = {"dlq", "list", "--brokers", f->bs, "--topic", "dlq", NULL};
    assert_int_equal(eoc_tool(out, sizeof(out), list), 0);
    assert_non_null(strstr(out, "handler_error"));
    assert_non_null(strstr(out, "id=bad0"));
    assert_non_null(strstr(out, "not accepted yet"));

    /* The fix is deployed; send one dead letter back, twice. */
    __atomic_store_n(&a.accept_bad, 1, __ATOMIC_SEQ_CST);
    const char *resub[] = {"dlq", "resubmit", "--brokers", f->bs, "--topic",
                           "dlq", "--id",     "bad1",      NULL};
    assert_int_equal(eoc_tool(out, sizeof(out), resub), 0);
    assert_int_equal(eoc_tool(out, sizeof(out), resub), 0);
    run_start(&r, f, &a, NULL, NULL);
    tu_worker_wait(&r, 2);
    run_stop(&r, &s);
    assert_int_equal(s.applied, 1);    /* bad1, once */
    assert_int_equal(s.duplicates, 1); /* its second resubmission */

    kmsgs_t o = {0};
    kc_read_topic(f->bs, "out", 4, 20000, &o);
    char b[64];
    int bad1 = 0;
    for (size_t i = 0; i < o.n; i++)
        bad1 += strcmp(kc_header(&o.v[i], "message-id", b, sizeof(b)), "bad1/0") == 0;
    assert_int_equal(bad1, 1);
    kc_msgs_free(&o);
}

/* Runs `eoc ARGS...` with stderr captured too (2>&1) through the shell. */
static int eoc_tool_all(char *out, size_t size, const char *args)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "'%s/tools/eoc/eoc' %s 2>&1", getenv("EOC_BUILD_ROOT"), args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t got = fread(out, 1, size - 1, p);
    out[got] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void tools_refuse_typos_and_never_create_topics(void **state)
{
    tu_fixture_t *f = *state;
    struct app a = {0};
    produce(f, 0, "t", 0, 5, "v");
    tu_worker_t r;
    eoc_stats_t s;
    run_start(&r, f, &a, NULL, NULL);
    tu_worker_wait(&r, 5);
    run_stop(&r, &s);

    char out[8192], args[1024];
    /* A misspelt topic: an error naming it, twice (the first did not create it). */
    snprintf(args, sizeof(args), "replay '%s' --brokers %s --group ops --topic inn --to-beginning",
             f->dir, f->bs);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(eoc_tool_all(out, sizeof(out), args), 1);
        assert_non_null(strstr(out, "topic \"inn\" does not exist (did you mean \"in\"?)"));
    }
    snprintf(args, sizeof(args), "dlq list --brokers %s --topic dlqq", f->bs);
    assert_int_equal(eoc_tool_all(out, sizeof(out), args), 1);
    assert_non_null(strstr(out, "topic \"dlqq\" does not exist (did you mean \"dlq\"?)"));
    /* A reason not in the documented set. */
    snprintf(args, sizeof(args), "dlq list --brokers %s --topic dlq --reason handler_eror", f->bs);
    assert_int_equal(eoc_tool_all(out, sizeof(out), args), 2);
    assert_non_null(strstr(out, "unknown reason \"handler_eror\" (did you mean \"handler_error\"?)"));
    /* A partition the topic does not have. */
    snprintf(args, sizeof(args),
             "replay '%s' --brokers %s --group ops --topic in --partition 7 --to-beginning",
             f->dir, f->bs);
    assert_int_equal(eoc_tool_all(out, sizeof(out), args), 1);
    assert_non_null(strstr(out, "no partition 7"));

    /* --timeout-ms bounds a watch with no broker reachable. */
    snprintf(args, sizeof(args),
             "watch '%s' --brokers 127.0.0.1:1 --until-caught-up --timeout-ms 3000", f->dir);
    int64_t t0 = tu_now_ms();
    assert_int_equal(eoc_tool_all(out, sizeof(out), args), 1);
    int64_t took = tu_now_ms() - t0;
    assert_true(took < 6000);
    assert_non_null(strstr(out, "not caught up after 3000 ms"));
}

struct count_ctx {
    uint64_t n;
};

static void retention_prunes_only_below_the_committed_offset_and_behind_the_horizon(void **state)
{
    tu_fixture_t *f = *state;
    struct app a = {0};
    produce(f, 0, "r", 0, 50, "v");
    tu_worker_t r;
    eoc_stats_t s;
    run_start(&r, f, &a, "inbox.retention.count", "5");
    tu_worker_wait(&r, 50);
    int64_t deadline = tu_now_ms() + DEADLINE_MS;
    do {
        tu_sleep_ms(50);
        eoc_worker_stats(r.w, &s);
    } while (s.inbox_pruned < 45 && tu_now_ms() < deadline);
    run_stop(&r, &s);
    assert_int_equal(s.inbox_pruned, 45); /* offsets 0..44: more than 5 behind 50 */

    char err[256];
    eoc_store_t *st = eoc_store_open_readonly(f->dir, err, sizeof(err));
    assert_non_null(st);
    eoc_store_info_t info;
    assert_int_equal(eoc_store_info(st, &info), EOC_OK);
    assert_int_equal(info.inbox_entries, 5);
    eoc_store_close(st);

    /* A recent ID is still a duplicate; a pruned one looks new again. */
    produce(f, 0, "r", 48, 49, "v");
    produce(f, 0, "r", 3, 4, "v");
    run_start(&r, f, &a, "inbox.retention.count", "5");
    tu_worker_wait(&r, 2);
    run_stop(&r, &s);
    assert_int_equal(s.duplicates, 1);
    assert_int_equal(s.applied, 1);
}

int main(void)
{
    if (!devkafka_exe_from_env() || !getenv("EOC_BUILD_ROOT")) {
        fprintf(stderr, "run through meson test (EOC_KAFKA_DEV, EOC_BUILD_ROOT)\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            replay_to_the_beginning_reapplies_nothing_and_counts_duplicates, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(replay_to_an_offset_and_to_a_time_rereads_only_that_suffix,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(tools_refuse_typos_and_never_create_topics, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(a_resubmitted_dead_letter_is_applied_exactly_once, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(
            retention_prunes_only_below_the_committed_offset_and_behind_the_horizon, fx_setup,
            fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
