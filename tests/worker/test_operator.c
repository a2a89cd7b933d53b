/*
 * test_operator - what an operator sees of a worker (issue #16): its log
 * lines (a dead letter once, no CONFWARN, partitions named, catch-up
 * progress), a missing input topic, the hooks into librdkafka (client
 * configuration, rebalance listener, statistics) and the trace context an
 * output carries. Against the development Kafka and a real LMDB store.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "kclient.h"
#include "testutil.h"

#include <eoc/eoc.h>
#include <librdkafka/rdkafka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int fx_setup(void **state)
{
    static const char *const topics[] = {"in:2", "out:1", "dlq:1", NULL};
    return tu_fixture_setup(state, topics);
}

static int fx_teardown(void **state)
{
    return tu_fixture_teardown(state);
}

/* ---- captured log lines and hook calls ---- */

#define MAXLINES 4096

struct seen {
    pthread_mutex_t mu;
    char *lines[MAXLINES];
    int n;
    int conf_kinds;   /* bit per eoc_kafka_client_t seen by the conf hook */
    int assigned;     /* partitions the listener was told of */
    int stats;        /* bit per eoc_kafka_client_t that reported statistics */
    int sleep_ms;     /* per handler call */
    const char *refuse; /* the conf hook fails with this reason */
};

static struct seen seen = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void seen_reset(void)
{
    pthread_mutex_lock(&seen.mu);
    for (int i = 0; i < seen.n; i++)
        free(seen.lines[i]);
    seen.n = 0;
    seen.conf_kinds = seen.assigned = seen.stats = seen.sleep_ms = 0;
    seen.refuse = NULL;
    pthread_mutex_unlock(&seen.mu);
}

static void on_log(void *opaque, int level, const char *line)
{
    (void)opaque;
    (void)level;
    pthread_mutex_lock(&seen.mu);
    if (seen.n < MAXLINES)
        seen.lines[seen.n++] = strdup(line);
    pthread_mutex_unlock(&seen.mu);
}

/* Lines containing every one of the NULL-terminated strings. */
static int lines_with(const char *s, ...)
{
    int count = 0;
    pthread_mutex_lock(&seen.mu);
    for (int i = 0; i < seen.n; i++) {
        int all = strstr(seen.lines[i], s) != NULL;
        va_list ap;
        va_start(ap, s);
        for (const char *t; all && (t = va_arg(ap, const char *));)
            all = strstr(seen.lines[i], t) != NULL;
        va_end(ap);
        count += all;
    }
    pthread_mutex_unlock(&seen.mu);
    return count;
}

static void dump_lines(void)
{
    pthread_mutex_lock(&seen.mu);
    for (int i = 0; i < seen.n; i++)
        fprintf(stderr, "  | %s\n", seen.lines[i]);
    pthread_mutex_unlock(&seen.mu);
}

static eoc_err_t on_kafka_conf(void *opaque, eoc_kafka_client_t client, struct rd_kafka_conf_s *kc,
                               char *errstr, size_t errstr_size)
{
    (void)opaque;
    char v[64];
    size_t len = sizeof(v);
    /* The hook sees the client's configuration, eoc's keys applied. */
    assert_int_equal(rd_kafka_conf_get(kc, "bootstrap.servers", v, &len), RD_KAFKA_CONF_OK);
    pthread_mutex_lock(&seen.mu);
    seen.conf_kinds |= 1 << client;
    const char *refuse = seen.refuse;
    pthread_mutex_unlock(&seen.mu);
    if (refuse) {
        snprintf(errstr, errstr_size, "%s", refuse);
        return EOC_ERR_CONFIG;
    }
    return EOC_OK;
}

static void on_rebalance(void *opaque, eoc_rebalance_event_t ev, const eoc_partition_t *parts,
                         size_t n)
{
    (void)opaque;
    pthread_mutex_lock(&seen.mu);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(parts[i].topic, "in");
    if (ev == EOC_REBALANCE_ASSIGNED)
        seen.assigned += (int)n;
    pthread_mutex_unlock(&seen.mu);
}

static void on_stats(void *opaque, eoc_kafka_client_t client, const char *json, size_t len)
{
    (void)opaque;
    assert_true(client == EOC_KAFKA_CONSUMER || client == EOC_KAFKA_RELAY_PRODUCER);
    assert_true(len > 0 && json[0] == '{');
    pthread_mutex_lock(&seen.mu);
    seen.stats |= 1 << client;
    pthread_mutex_unlock(&seen.mu);
}

static eoc_conf_t *conf_for(const tu_fixture_t *f, ...)
{
    eoc_conf_t *c = eoc_conf_new();
    char err[256];
    const char *kv[][2] = {{"kafka.bootstrap.servers", f->bs},
                           {"group.id", "operator"},
                           {"input.topics", "in"},
                           {"output.topic", "out"},
                           {"dlq.topic", "dlq"},
                           {"data.dir", f->dir},
                           {"batch.max.ms", "50"},
                           {"retry.backoff.ms", "1"},
                           {"retry.max.attempts", "1"},
                           /* a consumer property and a producer property in kafka.*:
                            * each client gets only its own (no CONFWARN) */
                           {"kafka.session.timeout.ms", "6000"},
                           {"kafka.linger.ms", "5"}};
    for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++)
        assert_int_equal(eoc_conf_set(c, kv[i][0], kv[i][1], err, sizeof(err)), EOC_OK);
    va_list ap;
    va_start(ap, f);
    for (const char *k; (k = va_arg(ap, const char *));) {
        const char *v = va_arg(ap, const char *);
        if (eoc_conf_set(c, k, v, err, sizeof(err)) != EOC_OK)
            fail_msg("%s", err);
    }
    va_end(ap);
    eoc_conf_set_log_cb(c, on_log, NULL);
    eoc_conf_set_kafka_conf_cb(c, on_kafka_conf, NULL);
    eoc_conf_set_rebalance_cb(c, on_rebalance, NULL);
    eoc_conf_set_kafka_stats_cb(c, on_stats, NULL);
    return c;
}

/* Fails records whose value starts with "poison"; emits one output for the others. */
static eoc_result_t handler(eoc_txn_t *txn, const eoc_record_t *rec, void *opaque)
{
    (void)opaque;
    size_t len;
    const char *v = eoc_record_value(rec, &len);
    if (seen.sleep_ms)
        usleep((useconds_t)seen.sleep_ms * 1000);
    if (len >= 6 && memcmp(v, "poison", 6) == 0) {
        eoc_txn_set_error(txn, "cannot digest poison");
        return EOC_HANDLER_FAIL;
    }
    eoc_msg_t out = {.partition = EOC_PARTITION_ANY, .value = v, .value_len = len};
    return eoc_emit(txn, &out) == EOC_OK ? EOC_HANDLER_OK : EOC_HANDLER_FAIL;
}

/* Produces value `v` with ID `id` to in[partition]; with a trace context
 * when traceparent is not NULL. */
static void produce(rd_kafka_t *p, int32_t partition, const char *id, const char *v,
                    const char *traceparent)
{
    rd_kafka_headers_t *hs = rd_kafka_headers_new(3);
    rd_kafka_header_add(hs, "message-id", -1, id, -1);
    if (traceparent) {
        rd_kafka_header_add(hs, "traceparent", -1, traceparent, -1);
        rd_kafka_header_add(hs, "tracestate", -1, "eoc=test", -1);
    }
    assert_int_equal(rd_kafka_producev(p, RD_KAFKA_V_TOPIC("in"), RD_KAFKA_V_PARTITION(partition),
                                       RD_KAFKA_V_VALUE((void *)v, strlen(v)),
                                       RD_KAFKA_V_HEADERS(hs),
                                       RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
}

/* ------------------------------------------------------------------ */

#define TRACEPARENT "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

static void a_dead_letter_is_logged_once_and_a_start_logs_no_confwarn(void **state)
{
    tu_fixture_t *f = *state;
    seen_reset();
    rd_kafka_t *p = kc_producer(f->bs);
    /* One partition, one batch: each poison record makes the batch rerun. */
    produce(p, 0, "a", "fine-a", TRACEPARENT);
    produce(p, 0, "p1", "poison-1", NULL);
    produce(p, 0, "b", "fine-b", NULL);
    produce(p, 0, "p2", "poison-2", NULL);
    produce(p, 0, "p3", "poison-3", NULL);
    produce(p, 0, "c", "fine-c", NULL);
    assert_int_equal(kc_flush(p), 0);
    kc_producer_destroy(p);

    tu_worker_t tw;
    tu_worker_start(&tw, conf_for(f, "batch.max.ms", "500", "kafka.statistics.interval.ms", "100",
                                  NULL),
                    handler, NULL);
    tu_worker_wait(&tw, 6);
    tu_sleep_ms(300); /* a statistics report or two */
    eoc_stats_t st;
    assert_int_equal(tu_worker_stop(&tw, &st), EOC_OK);
    assert_int_equal(st.dead_letters, 3);

    if (lines_with("dead letter", NULL) != 3 || lines_with("CONFWARN", NULL) != 0)
        dump_lines();
    assert_int_equal(lines_with("dead letter", NULL), 3);
    assert_int_equal(lines_with("dead letter", "topic=in", "partition=0", "message_id=p2",
                                "reason=handler_error", "error=\"cannot digest poison\"", NULL),
                     1);
    assert_int_equal(lines_with("CONFWARN", NULL), 0);
    /* An assignment names its partitions. */
    assert_true(lines_with("assigned 2 partition(s): in[0,1]", NULL) == 1 ||
                lines_with("assigned", "in[", NULL) >= 1);

    /* The hooks. */
    assert_true(seen.conf_kinds & (1 << EOC_KAFKA_CONSUMER));
    assert_true(seen.conf_kinds & (1 << EOC_KAFKA_RELAY_PRODUCER));
    assert_int_equal(seen.assigned, 2);
    assert_true(seen.stats & (1 << EOC_KAFKA_CONSUMER));
    assert_true(seen.stats & (1 << EOC_KAFKA_RELAY_PRODUCER));

    /* The trace context travelled from the input to its output. */
    kmsgs_t out = {0};
    kc_read_topic(f->bs, "out", 3, 30000, &out);
    assert_int_equal(out.n, 3);
    int traced = 0;
    char buf[128];
    for (size_t i = 0; i < out.n; i++) {
        const char *tp = kc_header(&out.v[i], "traceparent", buf, sizeof(buf));
        if (strcmp(out.v[i].value, "fine-a") == 0) {
            assert_non_null(tp);
            assert_string_equal(tp, TRACEPARENT);
            assert_string_equal(kc_header(&out.v[i], "tracestate", buf, sizeof(buf)), "eoc=test");
            traced++;
        } else {
            assert_null(tp);
        }
    }
    assert_int_equal(traced, 1);
    kc_msgs_free(&out);
    seen_reset();
}

static void trace_propagate_false_leaves_outputs_without_trace_context(void **state)
{
    tu_fixture_t *f = *state;
    seen_reset();
    rd_kafka_t *p = kc_producer(f->bs);
    produce(p, 1, "t", "fine-t", TRACEPARENT);
    assert_int_equal(kc_flush(p), 0);
    kc_producer_destroy(p);
    tu_worker_t tw;
    tu_worker_start(&tw, conf_for(f, "trace.propagate", "false", NULL), handler, NULL);
    tu_worker_wait(&tw, 1);
    assert_int_equal(tu_worker_stop(&tw, NULL), EOC_OK);
    kmsgs_t out = {0};
    char buf[128];
    kc_read_topic(f->bs, "out", 1, 30000, &out);
    assert_int_equal(out.n, 1);
    assert_null(kc_header(&out.v[0], "traceparent", buf, sizeof(buf)));
    kc_msgs_free(&out);
    seen_reset();
}

static void a_worker_catching_up_logs_its_progress(void **state)
{
    tu_fixture_t *f = *state;
    seen_reset();
    rd_kafka_t *p = kc_producer(f->bs);
    char id[32];
    for (int i = 0; i < 600; i++) {
        snprintf(id, sizeof(id), "r%d", i);
        produce(p, i % 2, id, "fine", NULL);
    }
    assert_int_equal(kc_flush(p), 0);
    kc_producer_destroy(p);
    seen.sleep_ms = 3; /* about two seconds of work */
    tu_worker_t tw;
    tu_worker_start(&tw,
                    conf_for(f, "log.progress.interval.ms", "300", "batch.max.records", "20", NULL),
                    handler, NULL);
    tu_worker_wait(&tw, 600);
    tu_sleep_ms(700);
    assert_int_equal(tu_worker_stop(&tw, NULL), EOC_OK);
    if (lines_with("catching up", NULL) == 0)
        dump_lines();
    assert_true(lines_with("catching up", "records_behind=", "rate_per_s=", "time_left=", NULL) >=
                1);
    assert_true(lines_with("caught up", NULL) >= 1);
    seen_reset();
}

static void a_missing_input_topic_fails_the_start_and_names_it(void **state)
{
    tu_fixture_t *f = *state;
    seen_reset();
    char err[512] = "";
    eoc_conf_t *c = conf_for(f, "input.topics", "inn", "input.topics.wait.ms", "10000", NULL);
    eoc_worker_t *w = eoc_worker_new(c, handler, NULL, err, sizeof(err));
    assert_null(w);
    eoc_conf_destroy(c);
    assert_non_null(strstr(err, "input topic \"inn\" does not exist"));
    assert_non_null(strstr(err, "did you mean \"in\"?"));

    /* ... and was not created by asking. */
    c = conf_for(f, "input.topics", "inn", NULL);
    assert_null(eoc_worker_new(c, handler, NULL, err, sizeof(err)));
    eoc_conf_destroy(c);
    assert_non_null(strstr(err, "\"inn\" does not exist"));

    /* A missing dead-letter topic does not stop the start: it is said. */
    c = conf_for(f, "dlq.topic", "dlqx", NULL);
    eoc_worker_t *ok = eoc_worker_new(c, handler, NULL, err, sizeof(err));
    assert_non_null(ok);
    eoc_worker_destroy(ok);
    assert_int_equal(lines_with("dead-letter topic \"dlqx\" does not exist", NULL), 1);
    seen_reset();
}

static void the_kafka_conf_hook_can_refuse_a_client(void **state)
{
    tu_fixture_t *f = *state;
    seen_reset();
    seen.refuse = "no certificate";
    char err[512] = "";
    eoc_conf_t *c = conf_for(f, NULL);
    assert_null(eoc_worker_new(c, handler, NULL, err, sizeof(err)));
    eoc_conf_destroy(c);
    assert_non_null(strstr(err, "no certificate"));
    seen_reset();
}

int main(void)
{
    if (!devkafka_exe_from_env()) {
        fprintf(stderr, "EOC_KAFKA_DEV is not set (run through meson test)\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(a_dead_letter_is_logged_once_and_a_start_logs_no_confwarn,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(trace_propagate_false_leaves_outputs_without_trace_context,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(a_worker_catching_up_logs_its_progress, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(a_missing_input_topic_fails_the_start_and_names_it,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(the_kafka_conf_hook_can_refuse_a_client, fx_setup,
                                        fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
