/*
 * test_relay_run.c - what eoc_relay_run returns: EOC_ERR_LOCKED when
 * another relay held the store's outbox the whole time, EOC_OK when it
 * stopped with nothing left to publish (no Kafka: the outbox is empty);
 * and, on an in-process mock cluster, that a delivery the broker calls a
 * duplicate is not taken as delivered.
 */
#include "eoc/eoc.h"
#include "store.h"
#include "tu_rmtree.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

static void *stop_soon(void *arg)
{
    struct timespec ts = {0, 300 * 1000 * 1000};
    nanosleep(&ts, NULL);
    eoc_relay_stop(arg);
    return NULL;
}

/* Runs a standalone relay on `dir` for about 300 ms. */
static eoc_err_t run_briefly(const char *dir)
{
    char err[512] = "";
    eoc_conf_t *conf = eoc_conf_new();
    assert_int_equal(eoc_conf_set(conf, "data.dir", dir, err, sizeof(err)), EOC_OK);
    assert_int_equal(eoc_conf_set(conf, "kafka.bootstrap.servers", "127.0.0.1:1", err, sizeof(err)),
                     EOC_OK);
    assert_int_equal(eoc_conf_set(conf, "relay.flush.timeout.ms", "1000", err, sizeof(err)),
                     EOC_OK);
    assert_int_equal(eoc_conf_set(conf, "log.level", "err", err, sizeof(err)), EOC_OK);
    eoc_relay_t *r = eoc_relay_new(conf, err, sizeof(err));
    if (!r)
        fail_msg("eoc_relay_new: %s", err);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, stop_soon, r), 0);
    eoc_err_t rc = eoc_relay_run(r);
    pthread_join(t, NULL);
    eoc_relay_destroy(r);
    return rc;
}

static void a_relay_that_never_got_the_outbox_says_so(void **state)
{
    (void)state;
    char dir[] = "/tmp/eoc-relay-run-XXXXXX", path[64];
    assert_non_null(mkdtemp(dir));
    /* A worker's store: only a worker creates one, a relay refuses none. */
    char err[512];
    eoc__store_t *s = NULL;
    assert_int_equal(eoc__store_open(dir, 0, 0, NULL, &s, err, sizeof(err)), EOC_OK);
    eoc__store_close(s);
    snprintf(path, sizeof(path), "%s/relay.lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    assert_true(fd >= 0);
    assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0); /* another relay */
    assert_int_equal(run_briefly(dir), EOC_ERR_LOCKED);
    close(fd);
    assert_int_equal(run_briefly(dir), EOC_OK); /* the outbox is its own and empty */
    tu_rmtree(dir);
}

/* Stops the relay once its store's outbox is empty (or after 20 s). */
struct drain {
    eoc_relay_t *r;
    const char *dir;
};

static void *stop_when_drained(void *arg)
{
    struct drain *d = arg;
    char err[512];
    for (int i = 0; i < 400; i++) {
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
        eoc_store_t *s = eoc_store_open_readonly(d->dir, err, sizeof(err));
        eoc_store_info_t info;
        int empty = s && eoc_store_info(s, &info) == EOC_OK && info.outbox_rows == 0;
        eoc_store_close(s);
        if (empty)
            break;
    }
    eoc_relay_stop(d->r);
    return NULL;
}

/* librdkafka reports a batch the broker calls a duplicate of one it
 * already has (DUPLICATE_SEQUENCE_NUMBER) as delivered, without an offset.
 * The development Kafka can say so of a batch it never wrote; the relay
 * resends such rows instead of removing them, so every row reaches the
 * topic. */
static void a_delivery_the_broker_calls_a_duplicate_is_resent(void **state)
{
    (void)state;
    enum { ROWS = 5 };
    char dir[] = "/tmp/eoc-relay-dup-XXXXXX", err[512];
    assert_non_null(mkdtemp(dir));
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    rd_kafka_conf_set(kc, "log_level", "0", NULL, 0);
    rd_kafka_t *host = rd_kafka_new(RD_KAFKA_PRODUCER, kc, err, sizeof(err));
    assert_non_null(host);
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(host, 1);
    assert_non_null(mc);
    assert_int_equal(rd_kafka_mock_topic_create(mc, "out", 1, 1), 0);
    const char *bootstrap = rd_kafka_mock_cluster_bootstraps(mc);

    eoc__store_t *s = NULL;
    assert_int_equal(eoc__store_open(dir, 0, 0, NULL, &s, err, sizeof(err)), EOC_OK);
    assert_int_equal(eoc__store_begin(s), EOC_OK);
    for (int i = 0; i < ROWS; i++) {
        char id[16];
        snprintf(id, sizeof(id), "row-%d", i);
        eoc__outrow_t row = {.id = id, .id_len = strlen(id), .topic = "out", .topic_len = 3,
                             .partition = 0, .value = id, .value_len = strlen(id)};
        assert_int_equal(eoc__store_outbox_add(s, &row), EOC_OK);
    }
    assert_int_equal(eoc__store_commit(s), EOC_OK);
    assert_int_equal(eoc__store_sync(s), EOC_OK);
    eoc__store_close(s);

    /* The first Produce request is answered "duplicate": nothing written. */
    rd_kafka_mock_push_request_errors(mc, 0 /* Produce */, 1,
                                      RD_KAFKA_RESP_ERR_DUPLICATE_SEQUENCE_NUMBER);
    eoc_conf_t *conf = eoc_conf_new();
    const char *const kv[][2] = {{"data.dir", dir},
                                 {"kafka.bootstrap.servers", bootstrap},
                                 {"relay.flush.timeout.ms", "1000"},
                                 {"log.level", "err"}};
    for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++)
        assert_int_equal(eoc_conf_set(conf, kv[i][0], kv[i][1], err, sizeof(err)), EOC_OK);
    eoc_relay_t *r = eoc_relay_new(conf, err, sizeof(err));
    if (!r)
        fail_msg("eoc_relay_new: %s", err);
    struct drain d = {r, dir};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, stop_when_drained, &d), 0);
    assert_int_equal(eoc_relay_run(r), EOC_OK);
    pthread_join(t, NULL);
    eoc_relay_destroy(r);

    /* Every row is in the topic, whatever else is there twice. */
    kc = rd_kafka_conf_new();
    rd_kafka_conf_set(kc, "bootstrap.servers", bootstrap, NULL, 0);
    rd_kafka_conf_set(kc, "group.id", "check", NULL, 0);
    rd_kafka_conf_set(kc, "auto.offset.reset", "earliest", NULL, 0);
    rd_kafka_conf_set(kc, "log_level", "0", NULL, 0);
    rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, kc, err, sizeof(err));
    assert_non_null(c);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, "out", 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    assert_int_equal(rd_kafka_assign(c, parts), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(parts);
    int seen[ROWS] = {0}, distinct = 0;
    for (int idle = 0; idle < 20 && distinct < ROWS;) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
        if (!m) {
            idle++;
            continue;
        }
        int i;
        if (!m->err && m->len == 5 && sscanf((const char *)m->payload, "row-%d", &i) == 1 &&
            i >= 0 && i < ROWS && !seen[i]++)
            distinct++;
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    assert_int_equal(distinct, ROWS);
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(host);
    tu_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_relay_that_never_got_the_outbox_says_so),
        cmocka_unit_test(a_delivery_the_broker_calls_a_duplicate_is_resent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
