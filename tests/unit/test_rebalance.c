/*
 * test_rebalance.c - the worker's rebalance callback (rebalance.c) when
 * librdkafka no longer names the group's rebalance protocol.
 *
 * rd_kafka_rebalance_protocol() answers NULL once the consumer group has
 * terminated, which is when consumer_close can still serve a last revoke;
 * the callback compared that answer with strcmp and crashed. Here the
 * callback gets a client with no group at all (a producer), for which
 * librdkafka always answers NULL, beside a real worker on an in-process
 * mock cluster.
 */
#include "worker_int.h"
#include "tu_rmtree.h"

#include <librdkafka/rdkafka_mock.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

struct fx {
    char dir[64];
    rd_kafka_t *host; /* owns the mock cluster; has no consumer group */
    rd_kafka_mock_cluster_t *mc;
    eoc_worker_t *w;
};

static eoc_result_t handler(eoc_txn_t *txn, const eoc_record_t *rec, void *opaque)
{
    (void)txn;
    (void)rec;
    (void)opaque;
    return EOC_HANDLER_OK;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    char err[512];
    if (!f)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/eoc-rebalance-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    rd_kafka_conf_set(kc, "log_level", "3", NULL, 0);
    f->host = rd_kafka_new(RD_KAFKA_PRODUCER, kc, err, sizeof(err));
    if (!f->host)
        return -1;
    f->mc = rd_kafka_mock_cluster_new(f->host, 1);
    if (!f->mc || rd_kafka_mock_topic_create(f->mc, "orders", 2, 1))
        return -1;
    eoc_conf_t *conf = eoc_conf_new();
    const char *const kv[][2] = {{"data.dir", f->dir},
                                 {"group.id", "g"},
                                 {"input.topics", "orders"},
                                 {"kafka.bootstrap.servers", rd_kafka_mock_cluster_bootstraps(f->mc)},
                                 {"relay.enable", "false"},
                                 {"log.level", "err"}};
    for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++)
        if (eoc_conf_set(conf, kv[i][0], kv[i][1], err, sizeof(err)) != EOC_OK)
            return -1;
    f->w = eoc_worker_new(conf, handler, NULL, err, sizeof(err));
    if (!f->w) {
        fprintf(stderr, "eoc_worker_new: %s\n", err);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    eoc_worker_destroy(f->w);
    rd_kafka_mock_cluster_destroy(f->mc);
    rd_kafka_destroy(f->host);
    int rc = tu_rmtree(f->dir);
    free(f);
    return rc;
}

static void a_revoke_without_a_named_protocol_is_handled(void **state)
{
    struct fx *f = *state;
    assert_null(rd_kafka_rebalance_protocol(f->host)); /* the condition under test */
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(2);
    rd_kafka_topic_partition_list_add(parts, "orders", 0);
    rd_kafka_topic_partition_list_add(parts, "orders", 1);
    eoc_stats_t before, after;
    eoc_worker_stats(f->w, &before);
    eoc__rebalance_cb(f->host, RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS, parts, f->w);
    eoc_worker_stats(f->w, &after);
    assert_int_equal(after.rebalances, before.rebalances + 1);
    assert_int_equal(atomic_load(&f->w->stats.assigned), 0);
    rd_kafka_topic_partition_list_destroy(parts);
}

/* The protocol decides how a revoke is handed back (incremental or not)
 * and how the assigned-partitions gauge moves: a cooperative revoke of one
 * of two partitions leaves one, an eager one leaves none. */
static void the_last_named_protocol_holds_after_the_group_ends(void **state)
{
    struct fx *f = *state;
    rd_kafka_topic_partition_list_t *one = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(one, "orders", 1);
    f->w->coop = 1; /* what a cooperative group named while it was up */
    atomic_store(&f->w->stats.assigned, 2);
    eoc__rebalance_cb(f->host, RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS, one, f->w);
    assert_int_equal(f->w->coop, 1);
    assert_int_equal(atomic_load(&f->w->stats.assigned), 1);
    f->w->coop = 0; /* an eager group */
    atomic_store(&f->w->stats.assigned, 2);
    eoc__rebalance_cb(f->host, RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS, one, f->w);
    assert_int_equal(f->w->coop, 0);
    assert_int_equal(atomic_load(&f->w->stats.assigned), 0);
    rd_kafka_topic_partition_list_destroy(one);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(a_revoke_without_a_named_protocol_is_handled, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(the_last_named_protocol_holds_after_the_group_ends, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
