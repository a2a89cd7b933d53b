/*
 * test_forward - eoc-forward copies faithfully: key, value, headers, the
 * input's timestamp, and its partition when the output topic has as many;
 * the output's message ID is "<input-id>/0" and the input's ID travels as
 * eoc-source-id.
 *
 *   test_forward placement   everything but the timestamp
 *   test_forward timestamp   the copies' timestamps equal the inputs'
 *
 * Each run starts its own development Kafka (tests/support/devkafka) and
 * eoc-forward as a process (EOC_BUILD_ROOT/consumers/eoc-forward). Every
 * wait is bounded.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <librdkafka/rdkafka.h>

#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "devkafka.h"

#define N       24
#define T0      1600000000000LL /* input timestamps: T0 + i s, far from "now" */
#define WAIT_MS 60000
#define STOP_MS 30000

/* One output record, as read back. */
typedef struct out_rec {
    int32_t partition;
    int64_t timestamp;
    rd_kafka_timestamp_type_t ts_type;
    char key[32];
    char value[32];
    char message_id[64];
    char source_id[64];
    int source_ids; /* eoc-source-id headers */
    char trace[32];
} out_rec_t;

typedef struct fixture {
    devkafka_t *dk;
    char dir[64];
    pid_t forward;
} fixture_t;

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Copies header `name` (the last one) into buf; "" when absent. Returns how many there are. */
static int header(const rd_kafka_message_t *m, const char *name, char *buf, size_t size)
{
    rd_kafka_headers_t *hs = NULL;
    const void *v;
    size_t len;
    int count = 0;

    buf[0] = '\0';
    if (rd_kafka_message_headers(m, &hs) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return 0;
    for (size_t i = 0; rd_kafka_header_get(hs, i, name, &v, &len) == RD_KAFKA_RESP_ERR_NO_ERROR;
         i++) {
        count++;
        snprintf(buf, size, "%.*s", (int)len, v ? (const char *)v : "");
    }
    return count;
}

static rd_kafka_t *client(const fixture_t *f, rd_kafka_type_t type)
{
    char err[512];
    rd_kafka_conf_t *kc = rd_kafka_conf_new();

    assert_int_equal(
        rd_kafka_conf_set(kc, "bootstrap.servers", devkafka_bootstraps(f->dk), err, sizeof(err)),
        RD_KAFKA_CONF_OK);
    if (type == RD_KAFKA_CONSUMER) {
        assert_int_equal(rd_kafka_conf_set(kc, "group.id", "test-forward-reader", err, sizeof(err)),
                         RD_KAFKA_CONF_OK);
        assert_int_equal(rd_kafka_conf_set(kc, "enable.auto.commit", "false", err, sizeof(err)),
                         RD_KAFKA_CONF_OK);
    }
    rd_kafka_t *rk = rd_kafka_new(type, kc, err, sizeof(err));
    if (!rk)
        fail_msg("rd_kafka_new: %s", err);
    return rk;
}

/*
 * Input i: key "k-<i % 5>" in partition (i * 3 + 1) % 4 (not where the key
 * would put it), timestamp T0 + i s, headers message-id "fw-<i>", trace, and
 * for i == 0 a stale eoc-source-id that the copy must replace.
 */
static void produce_inputs(const fixture_t *f)
{
    rd_kafka_t *p = client(f, RD_KAFKA_PRODUCER);

    for (int i = 0; i < N; i++) {
        char key[16], value[16], id[16], trace[16];
        rd_kafka_headers_t *hs = rd_kafka_headers_new(3);

        snprintf(key, sizeof(key), "k-%d", i % 5);
        snprintf(value, sizeof(value), "v-%d", i);
        snprintf(id, sizeof(id), "fw-%d", i);
        snprintf(trace, sizeof(trace), "t-%d", i);
        rd_kafka_header_add(hs, "message-id", -1, id, -1);
        rd_kafka_header_add(hs, "trace", -1, trace, -1);
        if (i == 0)
            rd_kafka_header_add(hs, "eoc-source-id", -1, "stale", -1);
        assert_int_equal(rd_kafka_producev(p, RD_KAFKA_V_TOPIC("in"),
                                           RD_KAFKA_V_PARTITION((i * 3 + 1) % 4),
                                           RD_KAFKA_V_KEY(key, strlen(key)),
                                           RD_KAFKA_V_VALUE(value, strlen(value)),
                                           RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                           RD_KAFKA_V_TIMESTAMP(T0 + (int64_t)i * 1000),
                                           RD_KAFKA_V_HEADERS(hs), RD_KAFKA_V_END),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
    }
    assert_int_equal(rd_kafka_flush(p, WAIT_MS), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(p);
}

/* Reads `n` records of every partition of `topic` (bounded); returns how many were read. */
static int read_output(const fixture_t *f, const char *topic, int partitions, out_rec_t *out, int n)
{
    rd_kafka_t *c = client(f, RD_KAFKA_CONSUMER);
    rd_kafka_topic_partition_list_t *tp = rd_kafka_topic_partition_list_new(partitions);
    int got = 0;

    for (int p = 0; p < partitions; p++)
        rd_kafka_topic_partition_list_add(tp, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    assert_int_equal(rd_kafka_assign(c, tp), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(tp);
    for (int64_t end = now_ms() + WAIT_MS; got < n && now_ms() < end;) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 200);

        if (!m)
            continue;
        if (!m->err) {
            out_rec_t *r = &out[got++];

            memset(r, 0, sizeof(*r));
            r->partition = m->partition;
            r->timestamp = rd_kafka_message_timestamp(m, &r->ts_type);
            snprintf(r->key, sizeof(r->key), "%.*s", (int)m->key_len, (const char *)m->key);
            snprintf(r->value, sizeof(r->value), "%.*s", (int)m->len, (const char *)m->payload);
            header(m, "message-id", r->message_id, sizeof(r->message_id));
            r->source_ids = header(m, "eoc-source-id", r->source_id, sizeof(r->source_id));
            header(m, "trace", r->trace, sizeof(r->trace));
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    return got;
}

static void start_forward(fixture_t *f)
{
    const char *root = getenv("EOC_BUILD_ROOT");
    char exe[PATH_MAX], data[PATH_MAX], log[PATH_MAX];

    assert_non_null(root);
    snprintf(exe, sizeof(exe), "%s/consumers/eoc-forward", root);
    snprintf(data, sizeof(data), "%s/data", f->dir);
    snprintf(log, sizeof(log), "%s/forward.log", f->dir);
    f->forward = fork();
    assert_true(f->forward >= 0);
    if (f->forward == 0) {
        if (!freopen(log, "w", stderr))
            _exit(127);
        execl(exe, exe, "--brokers", devkafka_bootstraps(f->dk), "--input", "in", "--output", "out",
              "--data", data, "--batch-ms", "20", "--set", "kafka.session.timeout.ms=6000",
              (char *)NULL);
        _exit(127);
    }
}

/* SIGTERM, then the exit status (bounded). */
static int stop_forward(fixture_t *f)
{
    int status = 0;

    kill(f->forward, SIGTERM);
    for (int64_t end = now_ms() + STOP_MS; now_ms() < end;) {
        pid_t r = waitpid(f->forward, &status, WNOHANG);

        if (r == f->forward) {
            f->forward = 0;
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        struct timespec ts = {0, 50 * 1000000};
        nanosleep(&ts, NULL);
    }
    kill(f->forward, SIGKILL);
    waitpid(f->forward, &status, 0);
    f->forward = 0;
    fail_msg("eoc-forward did not stop on SIGTERM within %d ms", STOP_MS);
    return -1;
}

static int setup(void **state, const char *out_spec)
{
    fixture_t *f = calloc(1, sizeof(*f));
    const char *topics[] = {"in:4", out_spec, NULL};
    char err[512];

    if (!f)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/eoc-test-forward-XXXXXX");
    if (!mkdtemp(f->dir) ||
        !(f->dk = devkafka_start(devkafka_exe_from_env(), 1, topics, err, sizeof(err)))) {
        fprintf(stderr, "setup: %s\n", err);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int setup_same(void **state)
{
    return setup(state, "out:4");
}

static int setup_fewer(void **state)
{
    return setup(state, "out:3");
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    char cmd[128];

    if (f->forward > 0) {
        kill(f->forward, SIGKILL);
        waitpid(f->forward, NULL, 0);
    }
    devkafka_stop(f->dk);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "teardown: could not remove %s\n", f->dir);
    free(f);
    return 0;
}

/* Runs eoc-forward over the inputs and reads its N copies back into out. */
static void forward_all(fixture_t *f, int out_partitions, out_rec_t *out)
{
    produce_inputs(f);
    start_forward(f);
    int got = read_output(f, "out", out_partitions, out, N);
    assert_int_equal(stop_forward(f), 0);
    assert_int_equal(got, N);
}

/* The input index of a copy, from its message ID "fw-<i>/0". */
static int input_of(const out_rec_t *r)
{
    int i = -1, consumed = 0;

    if (sscanf(r->message_id, "fw-%d/0%n", &i, &consumed) != 1 ||
        (size_t)consumed != strlen(r->message_id) || i < 0 || i >= N)
        fail_msg("unexpected output message-id '%s'", r->message_id);
    return i;
}

static void test_same_partition_count_keeps_partition_key_value_headers_and_ids(void **state)
{
    fixture_t *f = *state;
    out_rec_t out[N];
    int seen[N] = {0};
    char want[64];

    forward_all(f, 4, out);
    for (int k = 0; k < N; k++) {
        const out_rec_t *r = &out[k];
        int i = input_of(r);

        assert_false(seen[i]);
        seen[i] = 1;
        assert_int_equal(r->partition, (i * 3 + 1) % 4);
        snprintf(want, sizeof(want), "k-%d", i % 5);
        assert_string_equal(r->key, want);
        snprintf(want, sizeof(want), "v-%d", i);
        assert_string_equal(r->value, want);
        snprintf(want, sizeof(want), "t-%d", i);
        assert_string_equal(r->trace, want);
        snprintf(want, sizeof(want), "fw-%d", i);
        assert_int_equal(r->source_ids, 1); /* input 0's stale one is replaced */
        assert_string_equal(r->source_id, want);
    }
}

static void test_fewer_output_partitions_place_copies_by_key(void **state)
{
    fixture_t *f = *state;
    out_rec_t out[N];
    int32_t partition_of_key[5] = {-1, -1, -1, -1, -1};

    forward_all(f, 3, out);
    for (int k = 0; k < N; k++) {
        const out_rec_t *r = &out[k];
        int i = input_of(r);

        assert_true(r->partition >= 0 && r->partition < 3);
        /* One key, one partition, although its inputs sat in several. */
        if (partition_of_key[i % 5] < 0)
            partition_of_key[i % 5] = r->partition;
        assert_int_equal(r->partition, partition_of_key[i % 5]);
    }
}

static void test_copies_keep_the_input_timestamp(void **state)
{
    fixture_t *f = *state;
    out_rec_t out[N];

    forward_all(f, 4, out);
    for (int k = 0; k < N; k++) {
        int i = input_of(&out[k]);

        assert_int_equal(out[k].ts_type, RD_KAFKA_TIMESTAMP_CREATE_TIME);
        assert_int_equal(out[k].timestamp, T0 + (int64_t)i * 1000);
    }
}

int main(int argc, char **argv)
{
    const struct CMUnitTest placement[] = {
        cmocka_unit_test_setup_teardown(
            test_same_partition_count_keeps_partition_key_value_headers_and_ids, setup_same,
            teardown),
        cmocka_unit_test_setup_teardown(test_fewer_output_partitions_place_copies_by_key,
                                        setup_fewer, teardown),
    };
    const struct CMUnitTest timestamp[] = {
        cmocka_unit_test_setup_teardown(test_copies_keep_the_input_timestamp, setup_same, teardown),
    };

    if (argc == 2 && strcmp(argv[1], "placement") == 0)
        return cmocka_run_group_tests_name("forward placement", placement, NULL, NULL);
    if (argc == 2 && strcmp(argv[1], "timestamp") == 0)
        return cmocka_run_group_tests_name("forward timestamp", timestamp, NULL, NULL);
    fprintf(stderr, "usage: %s placement|timestamp\n", argv[0]);
    return 2;
}
