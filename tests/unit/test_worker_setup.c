/*
 * test_worker_setup.c - eoc_worker_new's own failures, before it talks to
 * Kafka. strdup is wrapped (-Wl,--wrap=strdup) so that a test can make
 * the copy of one chosen string fail.
 */
#include "eoc/eoc.h"
#include "tu_rmtree.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static const char *fail_strdup_of; /* strdup of this text returns NULL */

char *__real_strdup(const char *s);
char *__wrap_strdup(const char *s);
char *__wrap_strdup(const char *s)
{
    if (fail_strdup_of && strcmp(s, fail_strdup_of) == 0)
        return NULL;
    return __real_strdup(s);
}

static eoc_result_t handler(eoc_txn_t *txn, const eoc_record_t *rec, void *opaque)
{
    (void)txn;
    (void)rec;
    (void)opaque;
    return EOC_HANDLER_OK;
}

static void a_per_topic_id_strategy_that_cannot_be_copied_fails_the_worker(void **state)
{
    (void)state;
    char dir[] = "/tmp/eoc-setup-XXXXXX", err[512] = "";
    assert_non_null(mkdtemp(dir));
    eoc_conf_t *conf = eoc_conf_new();
    static const char *const kv[][2] = {{"group.id", "g"},
                                        {"input.topics", "orders"},
                                        {"kafka.bootstrap.servers", "127.0.0.1:1"},
                                        {"id.strategy.orders", "key"},
                                        {"relay.enable", "false"}};
    assert_int_equal(eoc_conf_set(conf, "data.dir", dir, err, sizeof(err)), EOC_OK);
    for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++)
        assert_int_equal(eoc_conf_set(conf, kv[i][0], kv[i][1], err, sizeof(err)), EOC_OK);
    /* Without the copy of "orders" the override would silently become a
     * second default strategy. */
    fail_strdup_of = "orders";
    eoc_worker_t *w = eoc_worker_new(conf, handler, NULL, err, sizeof(err));
    fail_strdup_of = NULL;
    if (w) {
        eoc_worker_destroy(w);
        fail_msg("eoc_worker_new succeeded without its topic strategy");
    }
    assert_non_null(strstr(err, "out of memory"));
    eoc_conf_destroy(conf); /* still the caller's on failure */
    tu_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_per_topic_id_strategy_that_cannot_be_copied_fails_the_worker),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
