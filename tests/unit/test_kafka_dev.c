/*
 * Tests of eoc-kafka-dev, the in-memory development Kafka, driven through
 * tests/support/devkafka and plain librdkafka clients.
 *
 * Needs EOC_KAFKA_DEV (the program's path; meson sets it). No assertion
 * depends on timing: waits are bounded only so that a broken build fails
 * instead of hanging.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <librdkafka/rdkafka.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "devkafka.h"
#include "tu_clock.h"

#define TOPIC      "kd-test"
#define FLUSH_MS   10000
#define CONSUME_MS 15000
#define REPLY_SIZE 4096

/* Per-producer delivery report counts (the producer's opaque). */
struct deliveries {
    int ok;
    int failed;
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    struct deliveries *d = opaque;

    (void)rk;
    if (msg->err)
        d->failed++;
    else
        d->ok++;
}

/* A client of the dev cluster; `opaque` is the producer's deliveries. */
static rd_kafka_t *new_client(const devkafka_t *dk, rd_kafka_type_t type, void *opaque)
{
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk;

    assert_int_equal(rd_kafka_conf_set(conf, "bootstrap.servers", devkafka_bootstraps(dk), errstr,
                                       sizeof(errstr)),
                     RD_KAFKA_CONF_OK);
    if (type == RD_KAFKA_PRODUCER) {
        rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
        rd_kafka_conf_set_opaque(conf, opaque);
    } else {
        assert_int_equal(rd_kafka_conf_set(conf, "group.id", "kd-test", errstr, sizeof(errstr)),
                         RD_KAFKA_CONF_OK);
        assert_int_equal(
            rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, sizeof(errstr)),
            RD_KAFKA_CONF_OK);
    }
    rk = rd_kafka_new(type, conf, errstr, sizeof(errstr));
    if (!rk)
        fail_msg("rd_kafka_new: %s", errstr);
    return rk;
}

/* Produces `value` to topic:partition and waits for its delivery report. */
static void produce_sync(rd_kafka_t *producer, const char *topic, int32_t partition,
                         const char *value)
{
    struct deliveries *d = rd_kafka_opaque(producer);
    int before = d->ok;

    assert_int_equal(rd_kafka_producev(producer, RD_KAFKA_V_TOPIC(topic),
                                       RD_KAFKA_V_PARTITION(partition),
                                       RD_KAFKA_V_VALUE((void *)value, strlen(value)),
                                       RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(rd_kafka_flush(producer, FLUSH_MS), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(d->failed, 0);
    assert_int_equal(d->ok, before + 1);
}

/* Fails, showing the reply, unless `reply` contains `needle`. */
static void assert_reply_has(const char *reply, const char *needle)
{
    if (!strstr(reply, needle))
        fail_msg("reply \"%s\" lacks \"%s\"", reply, needle);
}

/*
 * Sends `cmd`; fails, showing the reply, unless the result is `want` (0 for
 * an "ok" reply, -1 otherwise). The reply stays in `reply` (REPLY_SIZE).
 */
static void cmd_expect(devkafka_t *dk, int want, char *reply, const char *cmd)
{
    int rc = devkafka_cmd(dk, reply, REPLY_SIZE, "%s", cmd);

    if (rc != want)
        fail_msg("\"%s\" replied \"%s\"", cmd, reply);
}

/* Consumes `count` values from topic:partition from its start; checks them. */
static void consume_expect(const devkafka_t *dk, const char *topic, int32_t partition,
                           const char *const *values, int count)
{
    rd_kafka_t *consumer = new_client(dk, RD_KAFKA_CONSUMER, NULL);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
    int64_t deadline = tu_now_ms() + CONSUME_MS;
    int got = 0;

    rd_kafka_topic_partition_list_add(parts, topic, partition)->offset = RD_KAFKA_OFFSET_BEGINNING;
    assert_int_equal(rd_kafka_assign(consumer, parts), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(parts);

    while (got < count && tu_now_ms() < deadline) {
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(consumer, 100);

        if (!msg)
            continue;
        if (!msg->err) {
            assert_int_equal(msg->offset, got);
            assert_int_equal(msg->len, strlen(values[got]));
            assert_memory_equal(msg->payload, values[got], msg->len);
            got++;
        }
        rd_kafka_message_destroy(msg);
    }
    assert_int_equal(got, count);
    rd_kafka_consumer_close(consumer);
    rd_kafka_destroy(consumer);
}

static int start_cluster(void **state)
{
    static const char *const topics[] = {TOPIC ":3", NULL};
    char errstr[512];
    devkafka_t *dk = devkafka_start(devkafka_exe_from_env(), 2, topics, errstr, sizeof(errstr));

    if (!dk) {
        print_error("devkafka_start: %s\n", errstr);
        return -1;
    }
    *state = dk;
    return 0;
}

static int stop_cluster(void **state)
{
    devkafka_stop(*state);
    return 0;
}

static void test_starts_on_loopback(void **state)
{
    const devkafka_t *dk = *state;
    const char *b = devkafka_bootstraps(dk);
    int brokers = 0;

    /* "127.0.0.1:PORT,127.0.0.1:PORT": both brokers on loopback only. */
    for (; b; b = strchr(b, ',') ? strchr(b, ',') + 1 : NULL) {
        assert_true(strncmp(b, "127.0.0.1:", 10) == 0);
        brokers++;
    }
    assert_int_equal(brokers, 2);
}

static void test_produce_consume_status(void **state)
{
    static const char *const p0[] = {"m0", "m1", "m2", "m3", "m4"};
    static const char *const p2[] = {"x0", "x1", "x2"};
    devkafka_t *dk = *state;
    struct deliveries d = {0};
    rd_kafka_t *producer = new_client(dk, RD_KAFKA_PRODUCER, &d);
    char reply[REPLY_SIZE];

    for (int i = 0; i < 5; i++)
        produce_sync(producer, TOPIC, 0, p0[i]);
    for (int i = 0; i < 3; i++)
        produce_sync(producer, TOPIC, 2, p2[i]);
    rd_kafka_destroy(producer);

    consume_expect(dk, TOPIC, 0, p0, 5);
    consume_expect(dk, TOPIC, 2, p2, 3);

    cmd_expect(dk, 0, reply, "status");
    assert_string_equal(reply, "ok " TOPIC ":0:0:5 " TOPIC ":1:0:0 " TOPIC ":2:0:3");
    cmd_expect(dk, 0, reply, "retention");
    assert_string_equal(reply, "ok");
}

static void test_create_topic(void **state)
{
    devkafka_t *dk = *state;
    char reply[REPLY_SIZE];

    cmd_expect(dk, 0, reply, "create kd-created 2");
    cmd_expect(dk, -1, reply, "create kd-created 2");
    assert_reply_has(reply, "err ");
    cmd_expect(dk, 0, reply, "status");
    assert_reply_has(reply, " kd-created:0:0:0 kd-created:1:0:0");
}

static void test_broker_down_up(void **state)
{
    devkafka_t *dk = *state;
    struct deliveries d = {0};
    rd_kafka_t *producer;
    char reply[REPLY_SIZE];

    cmd_expect(dk, 0, reply, "create kd-updown 1");
    cmd_expect(dk, 0, reply, "leader kd-updown 0 1");

    cmd_expect(dk, 0, reply, "broker down 1");
    assert_string_equal(reply, "ok");
    /* Broker 1 leads kd-updown:0, so its watermarks are unreachable now. */
    cmd_expect(dk, -1, reply, "status");
    assert_reply_has(reply, "its leader is down (leader 1)");
    cmd_expect(dk, 0, reply, "broker up 1");
    assert_string_equal(reply, "ok");

    /* The broker serves again. */
    producer = new_client(dk, RD_KAFKA_PRODUCER, &d);
    produce_sync(producer, "kd-updown", 0, "after-up");
    rd_kafka_destroy(producer);
    cmd_expect(dk, 0, reply, "status");
    assert_reply_has(reply, " kd-updown:0:0:1");
}

/* Runs `eoc-kafka-dev --send PATH COMMAND`; returns its exit status. */
static int run_send(const devkafka_t *dk, const char *command, char *out, size_t out_size)
{
    const char *exe = devkafka_exe_from_env();
    char shell[2048];
    FILE *f;
    int status;

    /* Single-quoted below: the paths must not contain quotes. */
    assert_null(strchr(exe, '\''));
    assert_null(strchr(devkafka_control_path(dk), '\''));
    snprintf(shell, sizeof(shell), "'%s' --send '%s' %s", exe, devkafka_control_path(dk), command);
    f = popen(shell, "r");
    assert_non_null(f);
    if (!fgets(out, (int)out_size, f))
        out[0] = '\0';
    status = pclose(f);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static void test_send_client(void **state)
{
    devkafka_t *dk = *state;
    char out[REPLY_SIZE];

    assert_int_equal(run_send(dk, "nodelay", out, sizeof(out)), 0);
    assert_true(strncmp(out, "ok ", 3) == 0);
    /* Words are joined with spaces; "-1" is an argument, not an option. */
    assert_int_equal(run_send(dk, "leader kd-test 1 -1", out, sizeof(out)), 0);
    assert_int_equal(run_send(dk, "leader kd-test 1 2", out, sizeof(out)), 0);
    assert_int_equal(run_send(dk, "frobnicate", out, sizeof(out)), 1);
    assert_true(strncmp(out, "err ", 4) == 0);
}

static void test_rejects_bad_commands(void **state)
{
    devkafka_t *dk = *state;
    char reply[REPLY_SIZE];

    cmd_expect(dk, -1, reply, "frobnicate");
    assert_string_equal(reply, "err unknown command 'frobnicate' (try: help)");
    cmd_expect(dk, -1, reply, "broker down 9");
    assert_reply_has(reply, "err ");
    cmd_expect(dk, -1, reply, "broker down");
    assert_string_equal(reply, "err usage: broker down ID");
    cmd_expect(dk, -1, reply, "errors Frob NO_ERROR 1");
    cmd_expect(dk, -1, reply, "errors Produce NO_SUCH_ERROR 1");
    cmd_expect(dk, -1, reply, "coordinator foo g 1");
    cmd_expect(dk, -1, reply, "");
    assert_string_equal(reply, "err empty command");
}

static void test_accepts_api_and_error_names(void **state)
{
    devkafka_t *dk = *state;
    char reply[REPLY_SIZE];

    /* APIs this test's clients never send, so the pushed errors stay unused. */
    cmd_expect(dk, 0, reply, "errors heartbeat not_coordinator 2");
    cmd_expect(dk, 0, reply, "errors 26 _TIMED_OUT 1");
    cmd_expect(dk, 0, reply, "errors EndTxn 7 1");
    cmd_expect(dk, 0, reply, "broker-errors 2 SyncGroup NO_ERROR 10 1");
    cmd_expect(dk, 0, reply, "broker rtt 2 0");
    cmd_expect(dk, 0, reply, "coordinator group kd-g 2");
}

static void test_nodelay_on_broker_connections(void **state)
{
    devkafka_t *dk = *state;
    char reply[REPLY_SIZE];
    unsigned n = 0;

    /* Earlier tests produced and consumed: connections were accepted. */
    cmd_expect(dk, 0, reply, "nodelay");
    assert_int_equal(sscanf(reply, "ok %u", &n), 1);
    assert_true(n > 0);
}

/* ------------------------------------------------------------------ */
/* --listen: a cluster of its own, on ports the test chooses           */
/* ------------------------------------------------------------------ */

/* 0 when a TCP socket can bind (or connect, when `connect_to`) 127.0.0.1:port. */
static int try_port(int port, int connect_to)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int fd = socket(AF_INET, SOCK_STREAM, 0), on = 1, rc;

    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    rc = connect_to ? connect(fd, (struct sockaddr *)&sin, sizeof(sin))
                    : bind(fd, (struct sockaddr *)&sin, sizeof(sin));
    close(fd);
    return rc;
}

/* A port P with P and P+1 free on loopback right now (others may race: rarely). */
static int free_port_pair(void)
{
    for (int i = 0; i < 50; i++) {
        struct sockaddr_in sin = {.sin_family = AF_INET};
        socklen_t len = sizeof(sin);
        int fd = socket(AF_INET, SOCK_STREAM, 0), port;

        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
        assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
        close(fd);
        port = ntohs(sin.sin_port);
        if (port < 65535 && try_port(port, 0) == 0 && try_port(port + 1, 0) == 0)
            return port;
    }
    fail_msg("no two consecutive free loopback ports");
    return -1;
}

/* Runs `eoc-kafka-dev --send CTL WORDS` and expects "ok". */
static void send_ok(const char *ctl, const char *words)
{
    char cmd[1024];

    snprintf(cmd, sizeof(cmd), "'%s' --send '%s' %s >/dev/null", devkafka_exe_from_env(), ctl,
             words);
    assert_int_equal(system(cmd), 0);
}

static void test_listen_puts_brokers_on_the_given_ports(void **state)
{
    char dir[] = "/tmp/kd-listen-XXXXXX", ctl[64], listen_arg[32], want[64], line[256] = "";
    int port = free_port_pair(), out[2], status = 0;
    const struct rd_kafka_metadata *md = NULL;
    char errstr[512];
    pid_t pid;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(ctl, sizeof(ctl), "%s/ctl", dir);
    snprintf(listen_arg, sizeof(listen_arg), "127.0.0.1:%d", port);
    assert_int_equal(pipe(out), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDONLY);

        dup2(devnull, STDIN_FILENO);
        dup2(out[1], STDOUT_FILENO);
        close(out[0]);
        execl(devkafka_exe_from_env(), "eoc-kafka-dev", "--brokers", "2", "--listen", listen_arg,
              "--topic", "kl:2", "--control", ctl, "--quiet", (char *)NULL);
        _exit(127);
    }
    close(out[1]);

    /* The bootstrap line names the chosen ports: broker 1 on P, broker 2 on P+1. */
    struct pollfd pfd = {.fd = out[0], .events = POLLIN};
    size_t len = 0;
    while (!strchr(line, '\n') && len < sizeof(line) - 1 && poll(&pfd, 1, 10000) == 1) {
        ssize_t n = read(out[0], line + len, sizeof(line) - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
        line[len] = '\0';
    }
    snprintf(want, sizeof(want), "127.0.0.1:%d,127.0.0.1:%d\n", port, port + 1);
    assert_string_equal(line, want);

    /* A client given only P learns both brokers at the addresses they listen on. */
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    assert_int_equal(
        rd_kafka_conf_set(conf, "bootstrap.servers", listen_arg, errstr, sizeof(errstr)),
        RD_KAFKA_CONF_OK);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    assert_non_null(rk);
    assert_int_equal(rd_kafka_metadata(rk, 1, NULL, &md, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(md->broker_cnt, 2);
    for (int i = 0; i < md->broker_cnt; i++) {
        assert_string_equal(md->brokers[i].host, "127.0.0.1");
        assert_int_equal(md->brokers[i].port, port + md->brokers[i].id - 1);
    }
    rd_kafka_metadata_destroy(md);
    rd_kafka_destroy(rk);

    /* A broker that goes down and comes back listens on its port again. */
    send_ok(ctl, "broker down 1");
    send_ok(ctl, "broker up 1");
    assert_int_equal(try_port(port, 1), 0);

    kill(pid, SIGTERM);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    close(out[0]);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_starts_on_loopback),
        cmocka_unit_test(test_produce_consume_status),
        cmocka_unit_test(test_create_topic),
        cmocka_unit_test(test_broker_down_up),
        cmocka_unit_test(test_rejects_bad_commands),
        cmocka_unit_test(test_accepts_api_and_error_names),
        cmocka_unit_test(test_nodelay_on_broker_connections),
        cmocka_unit_test(test_send_client),
    };

    const struct CMUnitTest own_cluster[] = {
        cmocka_unit_test(test_listen_puts_brokers_on_the_given_ports),
    };
    int failed = cmocka_run_group_tests(tests, start_cluster, stop_cluster);

    return failed + cmocka_run_group_tests(own_cluster, NULL, NULL);
}
