/*
 * test_metrics - the worker's /metrics and /healthz endpoints, queried with
 * a real HTTP client (the curl command line tool) while a worker consumes
 * from the development Kafka (librdkafka's mock cluster in its own process)
 * into a real LMDB store on disk.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "testutil.h"
#include "metrics.h"

#include <eoc/eoc.h>
#include <librdkafka/rdkafka.h>

#include <netinet/in.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define DEADLINE_MS 30000

/* ---- fixture: a development Kafka and a data directory per test ---- */

/* The server on `w`'s sources, as the worker starts it. */
static eoc__metrics_t *metrics_start(eoc_worker_t *w, char *err, size_t err_size)
{
    eoc__metrics_src_t src;
    eoc__worker_metrics_src(w, &src);
    return eoc__metrics_start(&src, err, err_size);
}

static int fx_setup(void **state)
{
    static const char *const topics[] = {"in:2", "out:1", "dlq:1", NULL};
    return tu_fixture_setup(state, topics);
}

static int fx_teardown(void **state)
{
    return tu_fixture_teardown(state);
}

/* A conf for the fixture; extra key/value pairs follow, NULL-terminated. */
static eoc_conf_t *conf_for(const tu_fixture_t *f, ...)
{
    eoc_conf_t *c = eoc_conf_new();
    char err[256];
    const char *kv[][2] = {{"kafka.bootstrap.servers", f->bs},
                           {"group.id", "metrics"},
                           {"input.topics", "in"},
                           {"output.topic", "out"},
                           {"dlq.topic", "dlq"},
                           {"data.dir", f->dir},
                           {"batch.max.ms", "50"},
                           {"log.level", "notice"},
                           {"metrics.listen", "127.0.0.1:0"}};
    assert_non_null(c);
    for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++)
        assert_int_equal(eoc_conf_set(c, kv[i][0], kv[i][1], err, sizeof(err)), EOC_OK);
    va_list ap;
    va_start(ap, f);
    for (const char *k; (k = va_arg(ap, const char *));) {
        const char *v = va_arg(ap, const char *);
        assert_int_equal(eoc_conf_set(c, k, v, err, sizeof(err)), EOC_OK);
    }
    va_end(ap);
    return c;
}

/* Produces `value` with a `message-id` header to in[partition], and waits for it. */
static void produce(const tu_fixture_t *f, int32_t partition, const char *id, const char *value)
{
    char err[256];
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    assert_int_equal(rd_kafka_conf_set(kc, "bootstrap.servers", f->bs, err, sizeof(err)), 0);
    rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, kc, err, sizeof(err));
    assert_non_null(p);
    assert_int_equal(rd_kafka_producev(p, RD_KAFKA_V_TOPIC("in"), RD_KAFKA_V_PARTITION(partition),
                                       RD_KAFKA_V_VALUE((void *)value, strlen(value)),
                                       RD_KAFKA_V_HEADER("message-id", id, -1),
                                       RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(rd_kafka_flush(p, DEADLINE_MS), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(p);
}

/* ---- a worker on its own thread, with the metrics server ---- */

struct run {
    eoc_worker_t *w;
    eoc__metrics_t *m;
    pthread_t t;
    eoc_err_t rc;
};

static eoc_result_t handler(eoc_txn_t *txn, const eoc_record_t *rec, void *opaque)
{
    (void)txn;
    (void)rec;
    (void)opaque;
    return EOC_HANDLER_OK;
}

static void *run_main(void *arg)
{
    struct run *r = arg;
    r->rc = eoc_worker_run(r->w);
    return NULL;
}

static void run_start(struct run *r, eoc_conf_t *conf)
{
    char err[512];
    r->w = eoc_worker_new(conf, handler, NULL, err, sizeof(err));
    if (!r->w)
        fail_msg("eoc_worker_new: %s", err);
    /* The test serves the metrics itself, so that it does not depend on the
     * worker wiring metrics.listen (which would bind another port 0). */
    r->m = metrics_start(r->w, err, sizeof(err));
    if (!r->m)
        fail_msg("eoc__metrics_start: %s", err);
    assert_true(eoc__metrics_port(r->m) > 0);
    assert_int_equal(pthread_create(&r->t, NULL, run_main, r), 0);
}

static void run_stop(struct run *r)
{
    eoc_worker_stop(r->w);
    assert_int_equal(pthread_join(r->t, NULL), 0);
    assert_int_equal(r->rc, EOC_OK);
    eoc__metrics_stop(r->m);
    eoc_worker_destroy(r->w);
}

static void wait_for_records(eoc_worker_t *w, uint64_t n)
{
    int64_t deadline = tu_now_ms() + DEADLINE_MS;
    eoc_stats_t st;
    do {
        eoc_worker_stats(w, &st);
        if (st.applied + st.duplicates >= n && st.batches > 0)
            return;
        tu_sleep_ms(20);
    } while (tu_now_ms() < deadline);
    fail_msg("only %llu of %llu records handled in time",
             (unsigned long long)(st.applied + st.duplicates), (unsigned long long)n);
}

/* ---- HTTP through the curl command line tool ---- */

struct http {
    int status;
    char type[128];
    char *body; /* owned, NUL-terminated */
};

/* Runs curl; the body comes back followed by a last line
 * "<status> <content type>". */
static void http(const char *method, int port, const char *path, struct http *out)
{
    char cmd[256];
    snprintf(cmd, sizeof(cmd),
             "curl -s -S --max-time 10 -X %s -w '\\n%%{http_code} %%{content_type}' "
             "'http://127.0.0.1:%d%s'",
             method, port, path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    assert_non_null(buf);
    for (size_t n; (n = fread(buf + len, 1, cap - len - 1, p)) > 0;) {
        len += n;
        if (cap - len < 2048) {
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
    }
    buf[len] = '\0';
    assert_int_equal(pclose(p), 0);
    char *last = strrchr(buf, '\n');
    assert_non_null(last);
    *last++ = '\0';
    out->status = atoi(last);
    const char *sp = strchr(last, ' ');
    snprintf(out->type, sizeof(out->type), "%s", sp ? sp + 1 : "");
    out->body = buf;
}

/* The value of the sample `series` (full name with labels) in a /metrics
 * body, or -1 when absent. */
static double sample(const char *body, const char *series)
{
    size_t n = strlen(series);
    for (const char *l = body; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
        if (strncmp(l, series, n) == 0 && l[n] == ' ')
            return strtod(l + n + 1, NULL);
    }
    return -1;
}

/* Fetches /metrics until `series` has `want`, or fails at the deadline. */
static char *metrics_when(int port, const char *series, double want)
{
    int64_t deadline = tu_now_ms() + DEADLINE_MS;
    for (;;) {
        struct http h;
        http("GET", port, "/metrics", &h);
        assert_int_equal(h.status, 200);
        if (sample(h.body, series) == want)
            return h.body;
        if (tu_now_ms() > deadline) {
            fprintf(stderr, "last /metrics:\n%s", h.body);
            fail_msg("%s never became %g (last /metrics above)", series, want);
        }
        free(h.body);
        tu_sleep_ms(50);
    }
}

/* ---- tests ---- */

static void metrics_count_per_partition_and_health_is_ok(void **state)
{
    tu_fixture_t *f = *state;
    produce(f, 0, "a", "first");
    produce(f, 0, "b", "second");
    produce(f, 0, "a", "first"); /* a redelivery: same ID, same payload */
    struct run r;
    run_start(&r, conf_for(f, NULL));
    int port = eoc__metrics_port(r.m);
    wait_for_records(r.w, 3);

    /* Lag appears once the batch is committed and a fetch response has
     * cached the high watermark: 3 records, all committed. */
    char *body = metrics_when(port, "eoc_consumer_lag{topic=\"in\",partition=\"0\"}", 0);
    assert_true(sample(body, "eoc_records_consumed_total{topic=\"in\",partition=\"0\"}") == 3);
    assert_true(sample(body, "eoc_records_applied_total{topic=\"in\",partition=\"0\"}") == 2);
    assert_true(sample(body, "eoc_records_duplicate_total{topic=\"in\",partition=\"0\"}") == 1);
    assert_true(sample(body, "eoc_records_dead_lettered_total{topic=\"in\",partition=\"0\"}") == 0);
    assert_true(sample(body, "eoc_records_retried_total{topic=\"in\",partition=\"0\"}") == 0);
    assert_true(sample(body, "eoc_records_skipped_total") == 0);
    assert_true(sample(body, "eoc_batches_total") >= 1);
    assert_true(sample(body, "eoc_batch_commit_failures_total") == 0);
    assert_true(sample(body, "eoc_rebalances_total") >= 1);
    assert_true(sample(body, "eoc_outbox_backlog") >= 0);
    assert_true(sample(body, "eoc_outbox_oldest_age_seconds") >= 0);
    assert_true(sample(body, "eoc_relay_published_total") >= 0);
    assert_true(sample(body, "eoc_relay_errors_total") >= 0);
    assert_true(sample(body, "eoc_inbox_pruned_total") == 0);
    double ratio = sample(body, "eoc_store_map_used_ratio");
    assert_true(ratio > 0 && ratio < 1);

    /* The histogram: cumulative buckets ending in +Inf == _count. */
    double batches = sample(body, "eoc_batch_commit_seconds_count");
    assert_true(batches >= 1);
    assert_true(sample(body, "eoc_batch_commit_seconds_bucket{le=\"+Inf\"}") == batches);
    assert_true(sample(body, "eoc_batch_commit_seconds_bucket{le=\"0.0005\"}") >= 0);
    assert_true(sample(body, "eoc_batch_commit_seconds_bucket{le=\"2.5\"}") <= batches);
    assert_true(sample(body, "eoc_batch_commit_seconds_sum") >= 0);

    /* Every family has HELP and TYPE lines. */
    static const char *const families[] = {"eoc_records_consumed_total counter",
                                           "eoc_records_applied_total counter",
                                           "eoc_records_duplicate_total counter",
                                           "eoc_records_dead_lettered_total counter",
                                           "eoc_records_retried_total counter",
                                           "eoc_records_skipped_total counter",
                                           "eoc_batches_total counter",
                                           "eoc_batch_commit_failures_total counter",
                                           "eoc_batch_commit_seconds histogram",
                                           "eoc_consumer_lag gauge",
                                           "eoc_outbox_backlog gauge",
                                           "eoc_outbox_oldest_age_seconds gauge",
                                           "eoc_relay_published_total counter",
                                           "eoc_relay_errors_total counter",
                                           "eoc_inbox_pruned_total counter",
                                           "eoc_store_map_used_ratio gauge",
                                           "eoc_rebalances_total counter"};
    for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
        char type[128], help[128];
        snprintf(type, sizeof(type), "\n# TYPE %s\n", families[i]);
        snprintf(help, sizeof(help), "# HELP %.*s ", (int)strcspn(families[i], " "), families[i]);
        if (!strstr(body, type) || !strstr(body, help))
            fail_msg("no HELP/TYPE for %s in:\n%s", families[i], body);
    }
    free(body);

    struct http h;
    http("GET", port, "/metrics", &h);
    assert_string_equal(h.type, "text/plain; version=0.0.4; charset=utf-8");
    free(h.body);

    http("GET", port, "/healthz", &h);
    assert_int_equal(h.status, 200);
    assert_string_equal(h.body, "{\"status\":\"ok\"}\n");
    assert_string_equal(h.type, "application/json");
    free(h.body);

    http("GET", port, "/nope", &h);
    assert_int_equal(h.status, 404);
    free(h.body);

    http("POST", port, "/metrics", &h);
    assert_int_equal(h.status, 405);
    free(h.body);

    run_stop(&r);
}

static void healthz_fails_with_the_reason_when_map_usage_is_over_the_limit(void **state)
{
    tu_fixture_t *f = *state;
    produce(f, 1, "c", "third");
    struct run r;
    run_start(&r, conf_for(f, "health.map.usage", "0.0000001", NULL));
    wait_for_records(r.w, 1);

    struct http h;
    http("GET", eoc__metrics_port(r.m), "/healthz", &h);
    assert_int_equal(h.status, 503);
    assert_string_equal(h.type, "application/json");
    assert_non_null(strstr(h.body, "{\"status\":\"fail\",\"reason\":\"store map usage "));
    assert_non_null(strstr(h.body, "over health.map.usage=1e-07"));
    assert_ptr_equal(strchr(h.body, '\n'), h.body + strlen(h.body) - 1); /* one line */
    free(h.body);

    run_stop(&r);
}

static void retire(eoc_worker_t *w);

/* ---- the exposition format, checked line by line ---- */

static int is_name_char(char c, int first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
           (!first && c >= '0' && c <= '9');
}

/* Length of the metric or label name at s (0 when none). */
static size_t name_len(const char *s)
{
    size_t n = 0;
    while (is_name_char(s[n], n == 0))
        n++;
    return n;
}

/* The family a sample belongs to: a histogram's _bucket, _sum and _count
 * belong to the name declared by TYPE. */
static const char *family_type(char types[][2][128], int ntypes, const char *name, size_t len)
{
    static const char *const suffix[] = {"_bucket", "_sum", "_count"};
    for (int i = 0; i < ntypes; i++) {
        size_t fl = strlen(types[i][0]);
        if (fl == len && strncmp(types[i][0], name, len) == 0)
            return types[i][1];
        for (size_t k = 0; k < 3; k++)
            if (strcmp(types[i][1], "histogram") == 0 && fl + strlen(suffix[k]) == len &&
                strncmp(types[i][0], name, fl) == 0 && strncmp(name + fl, suffix[k], len - fl) == 0)
                return types[i][1];
    }
    return NULL;
}

/* Fails unless `body` is valid text exposition format 0.0.4 as Prometheus
 * parses it: HELP and TYPE once per family, before its samples; samples
 * `name{label="value",...} number`, escaped label values, a known type. */
static void check_exposition(const char *body)
{
    static char types[256][2][128];
    int ntypes = 0, lineno = 0;
    const char *l = body;
    assert_true(strlen(body) > 0 && body[strlen(body) - 1] == '\n');
    while (*l) {
        const char *end = strchr(l, '\n');
        assert_non_null(end);
        lineno++;
        char line[1024];
        size_t n = (size_t)(end - l);
        assert_true(n < sizeof(line));
        memcpy(line, l, n);
        line[n] = 0;
        l = end + 1;
        if (strncmp(line, "# HELP ", 7) == 0) {
            assert_true(name_len(line + 7) > 0);
            continue;
        }
        if (strncmp(line, "# TYPE ", 7) == 0) {
            size_t nl = name_len(line + 7);
            const char *t = line + 7 + nl;
            if (nl == 0 || *t != ' ' ||
                (strcmp(t + 1, "counter") && strcmp(t + 1, "gauge") &&
                 strcmp(t + 1, "histogram") && strcmp(t + 1, "summary") && strcmp(t + 1, "untyped")))
                fail_msg("line %d: bad TYPE: %s", lineno, line);
            for (int i = 0; i < ntypes; i++)
                if (strlen(types[i][0]) == nl && strncmp(types[i][0], line + 7, nl) == 0)
                    fail_msg("line %d: second TYPE for %s", lineno, types[i][0]);
            assert_true(ntypes < 256);
            snprintf(types[ntypes][0], sizeof(types[0][0]), "%.*s", (int)nl, line + 7);
            snprintf(types[ntypes][1], sizeof(types[0][1]), "%s", t + 1);
            ntypes++;
            continue;
        }
        if (line[0] == '#')
            continue;
        size_t nl = name_len(line);
        if (nl == 0)
            fail_msg("line %d: no metric name: %s", lineno, line);
        if (!family_type(types, ntypes, line, nl))
            fail_msg("line %d: sample before its TYPE: %s", lineno, line);
        const char *p = line + nl;
        if (*p == '{') {
            p++;
            while (*p != '}') {
                size_t ln = name_len(p);
                if (ln == 0 || p[ln] != '=' || p[ln + 1] != '"')
                    fail_msg("line %d: bad label: %s", lineno, line);
                p += ln + 2;
                while (*p && *p != '"') {
                    if (*p == '\\') {
                        p++;
                        if (*p != '\\' && *p != '"' && *p != 'n')
                            fail_msg("line %d: bad escape: %s", lineno, line);
                    }
                    p++;
                }
                if (*p != '"')
                    fail_msg("line %d: unterminated label value: %s", lineno, line);
                p++;
                if (*p == ',')
                    p++;
                else if (*p != '}')
                    fail_msg("line %d: bad label list: %s", lineno, line);
            }
            p++;
        }
        if (*p != ' ')
            fail_msg("line %d: no value: %s", lineno, line);
        p++;
        char *num_end;
        if (strcmp(p, "+Inf") && strcmp(p, "-Inf") && strcmp(p, "NaN")) {
            strtod(p, &num_end);
            if (num_end == p || *num_end)
                fail_msg("line %d: bad value: %s", lineno, line);
        }
    }
}

static int status_of(int port, const char *path, char *body, size_t size)
{
    struct http h;
    http("GET", port, path, &h);
    snprintf(body, size, "%s", h.body);
    free(h.body);
    return h.status;
}

/* Waits until `path` answers `status`; returns its last body in `body`. */
static void wait_status(int port, const char *path, int status, char *body, size_t size)
{
    int64_t deadline = tu_now_ms() + DEADLINE_MS;
    int got;
    while ((got = status_of(port, path, body, size)) != status && tu_now_ms() < deadline)
        tu_sleep_ms(50);
    if (got != status)
        fail_msg("%s: %d, not %d: %s", path, got, status, body);
}

static void readyz_says_ready_once_assigned_and_metrics_people_look_for_are_there(void **state)
{
    tu_fixture_t *f = *state;
    produce(f, 0, "a", "first");
    produce(f, 1, "b", "second");
    struct run r;
    run_start(&r, conf_for(f, "kafka.statistics.interval.ms", "100", NULL));
    int port = eoc__metrics_port(r.m);
    char body[512];
    wait_status(port, "/readyz", 200, body, sizeof(body));
    assert_string_equal(body, "{\"status\":\"ok\"}\n");
    wait_for_records(r.w, 2);

    char *m = metrics_when(port, "eoc_assigned_partitions", 2);
    free(m);
    m = metrics_when(port, "eoc_kafka_brokers_up", 1);
    check_exposition(m);
    assert_true(sample(m, "eoc_ready") == 1);
    char build[128];
    snprintf(build, sizeof(build), "eoc_build_info{version=\"%s\",librdkafka=\"%s\"}",
             eoc_version(), rd_kafka_version_str());
    assert_true(sample(m, build) == 1);
    assert_true(sample(m, "eoc_handler_seconds_count") >= 2);
    assert_true(sample(m, "eoc_handler_seconds_bucket{le=\"+Inf\"}") ==
                sample(m, "eoc_handler_seconds_count"));
    assert_true(sample(m, "eoc_end_to_end_seconds_count") == 2);
    assert_true(sample(m, "eoc_end_to_end_seconds_bucket{le=\"600\"}") == 2);
    assert_true(sample(m, "eoc_kafka_rx_bytes_total") > 0);
    assert_true(sample(m, "eoc_kafka_tx_bytes_total") > 0);
    assert_true(sample(m, "eoc_kafka_broker_rtt_seconds") >= 0);
    assert_true(sample(m, "eoc_kafka_consumer_lag") >= 0);
    static const char *const families[] = {
        "eoc_handler_seconds histogram", "eoc_end_to_end_seconds histogram",
        "eoc_assigned_partitions gauge", "eoc_build_info gauge", "eoc_ready gauge",
        "eoc_kafka_consumer_lag gauge",  "eoc_kafka_rx_bytes_total counter"};
    for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
        char type[128];
        snprintf(type, sizeof(type), "\n# TYPE %s\n", families[i]);
        if (!strstr(m, type))
            fail_msg("no TYPE %s in:\n%s", families[i], m);
    }
    free(m);
    assert_int_equal(status_of(port, "/healthz", body, sizeof(body)), 200);
    run_stop(&r);
}

static void without_a_broker_healthz_is_live_and_readyz_says_why_not_ready(void **state)
{
    tu_fixture_t *f = *state;
    struct run r;
    /* Nothing listens on port 1; no metadata: the start does not wait long. */
    run_start(&r, conf_for(f, "kafka.bootstrap.servers", "127.0.0.1:1", "input.topics.wait.ms",
                           "500", "group.id", "nobroker", NULL));
    int port = eoc__metrics_port(r.m);
    char body[512];
    wait_status(port, "/readyz", 503, body, sizeof(body));
    int64_t deadline = tu_now_ms() + DEADLINE_MS;
    while (!strstr(body, "no broker reachable") && tu_now_ms() < deadline) {
        tu_sleep_ms(50);
        status_of(port, "/readyz", body, sizeof(body));
    }
    assert_non_null(strstr(body, "{\"status\":\"fail\",\"reason\":\"no broker reachable"));
    assert_int_equal(status_of(port, "/healthz", body, sizeof(body)), 200);
    struct http h;
    http("GET", port, "/metrics", &h);
    check_exposition(h.body);
    assert_true(sample(h.body, "eoc_ready") == 0);
    assert_true(sample(h.body, "eoc_assigned_partitions") == 0);
    free(h.body);
    /* Never assigned: stop without the destroy librdkafka < 2.3 cannot do
     * (see retire). */
    eoc_worker_stop(r.w);
    assert_int_equal(pthread_join(r.t, NULL), 0);
    eoc__metrics_stop(r.m);
    eoc_worker_destroy(r.w);
}

static void readyz_waits_for_an_assignment_and_healthz_fails_on_a_stalled_loop(void **state)
{
    tu_fixture_t *f = *state;
    struct run r;
    /* Started but not run: connected, no partition assigned, no loop. */
    char err[512];
    r.w = eoc_worker_new(conf_for(f, "group.id", "idle", NULL), handler, NULL, err, sizeof(err));
    assert_non_null(r.w);
    r.m = metrics_start(r.w, err, sizeof(err));
    assert_non_null(r.m);
    int port = eoc__metrics_port(r.m);
    char body[512];
    assert_int_equal(status_of(port, "/readyz", body, sizeof(body)), 503);
    assert_non_null(strstr(body, "no partition assigned"));
    assert_int_equal(status_of(port, "/healthz", body, sizeof(body)), 200); /* not started yet */
    eoc__metrics_stop(r.m);
    retire(r.w);

    /* A poll loop that last turned long ago (a hung handler): not live. */
    run_start(&r, conf_for(f, "group.id", "stall", "health.stall.ms", "1000", NULL));
    port = eoc__metrics_port(r.m);
    wait_status(port, "/readyz", 200, body, sizeof(body));
    eoc__metrics_src_t src;
    eoc__worker_metrics_src(r.w, &src);
    eoc_worker_stop(r.w);
    assert_int_equal(pthread_join(r.t, NULL), 0);
    atomic_store(&((eoc__stats_t *)src.stats)->last_loop_ms, tu_now_ms() - 5000);
    assert_int_equal(status_of(port, "/healthz", body, sizeof(body)), 503);
    assert_non_null(strstr(body, "poll loop stalled"));
    assert_int_equal(status_of(port, "/readyz", body, sizeof(body)), 503);
    eoc__metrics_stop(r.m);
    eoc_worker_destroy(r.w);
}

/* Runs a worker that was never run until its first assignment, then stops
 * and frees it: librdkafka before 2.3.0 cannot destroy a consumer that never
 * had one, and eoc_worker_destroy leaks such a consumer (worker.c, #4312). */
static void retire(eoc_worker_t *w)
{
    struct run r = {.w = w};
    assert_int_equal(pthread_create(&r.t, NULL, run_main, &r), 0);
    int64_t deadline = tu_now_ms() + DEADLINE_MS;
    eoc_stats_t st;
    do {
        tu_sleep_ms(20);
        eoc_worker_stats(w, &st);
    } while (st.rebalances == 0 && tu_now_ms() < deadline);
    eoc_worker_stop(w);
    assert_int_equal(pthread_join(r.t, NULL), 0);
    assert_int_equal(r.rc, EOC_OK);
    eoc_worker_destroy(w);
}

/* Whether metrics.listen=`listen` fails with `reason`: in eoc_worker_new
 * when the worker starts the server itself, else in eoc__metrics_start.
 * Each worker gets a group of its own, so that retire() sees an assignment
 * without waiting for the previous member's departure. */
static void start_fails(const tu_fixture_t *f, const char *listen, const char *reason)
{
    char err[512] = "", group[64];
    snprintf(group, sizeof(group), "metrics-%s", listen);
    eoc_worker_t *w = eoc_worker_new(conf_for(f, "metrics.listen", listen, "group.id", group, NULL),
                                     handler, NULL, err, sizeof(err));
    if (w)
        assert_null(metrics_start(w, err, sizeof(err)));
    if (!strstr(err, reason) || !strstr(err, listen))
        fail_msg("metrics.listen=%s: errstr '%s' does not say '%s'", listen, err, reason);
    if (w)
        retire(w);
}

static void a_malformed_address_fails_with_the_reason(void **state)
{
    tu_fixture_t *f = *state;
    static const struct {
        const char *listen, *reason;
    } cases[] = {{"127.0.0.1", "expected host:port"},
                 {"::1:80", "brackets"},
                 {"[::1]", "expected host:port"},
                 {"127.0.0.1:99999", "bad host or port"},
                 {"127.0.0.1:http", "bad host or port"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        start_fails(f, cases[i].listen, cases[i].reason);
}

static void an_address_in_use_fails_and_serves_once_it_is_free(void **state)
{
    tu_fixture_t *f = *state;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    assert_true(s >= 0);
    assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(s, 1), 0);
    assert_int_equal(getsockname(s, (struct sockaddr *)&sa, &len), 0);
    int port = ntohs(sa.sin_port);
    char taken[32];
    snprintf(taken, sizeof(taken), "127.0.0.1:%d", port);

    start_fails(f, taken, "cannot listen");
    close(s);
    char err[512];
    eoc_worker_t *w =
        eoc_worker_new(conf_for(f, "metrics.listen", taken, NULL), handler, NULL, err, sizeof(err));
    if (!w)
        fail_msg("eoc_worker_new after the port was freed: %s", err);
    /* Serves on `port`: started here, or already by the worker itself. */
    eoc__metrics_t *m = metrics_start(w, err, sizeof(err));
    if (m)
        assert_int_equal(eoc__metrics_port(m), port);
    else if (!strstr(err, "cannot listen"))
        fail_msg("eoc__metrics_start after the port was freed: %s", err);
    struct http h;
    http("GET", port, "/healthz", &h);
    assert_int_equal(h.status, 200);
    free(h.body);
    eoc__metrics_stop(m);
    retire(w);
}


/* ---- slow clients ---- */

struct trickle {
    int port;
    atomic_int stop;
};

/* 16 clients that each send one header byte a second. */
static void *trickle_main(void *arg)
{
    struct trickle *t = arg;
    int fds[16];
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)t->port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int i = 0; i < 16; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        if (fds[i] >= 0 && connect(fds[i], (struct sockaddr *)&sa, sizeof(sa)) != 0) {
            close(fds[i]);
            fds[i] = -1;
        }
    }
    static const char req[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaa";
    for (size_t at = 0; !atomic_load(&t->stop); at = (at + 1) % (sizeof(req) - 1)) {
        for (int i = 0; i < 16; i++)
            if (fds[i] >= 0 && send(fds[i], req + at, 1, MSG_NOSIGNAL) != 1) {
                close(fds[i]);
                fds[i] = -1;
            }
        for (int k = 0; k < 10 && !atomic_load(&t->stop); k++)
            tu_sleep_ms(100);
    }
    for (int i = 0; i < 16; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    return NULL;
}

static void healthz_answers_beside_sixteen_trickling_clients(void **state)
{
    tu_fixture_t *f = *state;
    produce(f, 0, "t1", "one");
    struct run r;
    run_start(&r, conf_for(f, NULL));
    wait_for_records(r.w, 1);
    struct trickle t = {.port = eoc__metrics_port(r.m)};
    atomic_init(&t.stop, 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, trickle_main, &t), 0);
    tu_sleep_ms(1500); /* every slow client connected and trickling */
    for (int i = 0; i < 3; i++) {
        int64_t t0 = tu_now_ms();
        struct http h;
        http("GET", t.port, i == 1 ? "/metrics" : "/healthz", &h);
        int64_t took = tu_now_ms() - t0;
        assert_int_equal(h.status, 200);
        free(h.body);
        if (took > 1000)
            fail_msg("answered after %lld ms beside 16 trickling clients", (long long)took);
        tu_sleep_ms(2000);
    }
    atomic_store(&t.stop, 1);
    pthread_join(th, NULL);
    run_stop(&r);
}

int main(void)
{
    if (!devkafka_exe_from_env()) {
        fprintf(stderr, "EOC_KAFKA_DEV is not set (run through meson test)\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(healthz_answers_beside_sixteen_trickling_clients, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(metrics_count_per_partition_and_health_is_ok, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(
            healthz_fails_with_the_reason_when_map_usage_is_over_the_limit, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(
            readyz_says_ready_once_assigned_and_metrics_people_look_for_are_there, fx_setup,
            fx_teardown),
        cmocka_unit_test_setup_teardown(
            without_a_broker_healthz_is_live_and_readyz_says_why_not_ready, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(
            readyz_waits_for_an_assignment_and_healthz_fails_on_a_stalled_loop, fx_setup,
            fx_teardown),
        cmocka_unit_test_setup_teardown(a_malformed_address_fails_with_the_reason, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(an_address_in_use_fails_and_serves_once_it_is_free,
                                        fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
