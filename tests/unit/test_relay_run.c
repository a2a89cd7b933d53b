/*
 * test_relay_run.c - what eoc_relay_run returns: EOC_ERR_LOCKED when
 * another relay held the store's outbox the whole time, EOC_OK when it
 * stopped with nothing left to publish. No Kafka: the outbox is empty.
 */
#include "eoc/eoc.h"
#include "store.h"
#include "tu_rmtree.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_relay_that_never_got_the_outbox_says_so),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
