/* testutil.c - see testutil.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WAIT_MS 60000

tu_fixture_t *tu_fixture_new(const char *const *topics)
{
    tu_fixture_t *f = calloc(1, sizeof(*f));
    char err[256];
    if (!f)
        return NULL;
    if (!(f->dk = devkafka_start(devkafka_exe_from_env(), 1, topics, err, sizeof(err)))) {
        fprintf(stderr, "devkafka: %s\n", err);
        free(f);
        return NULL;
    }
    f->bs = devkafka_bootstraps(f->dk);
    snprintf(f->dir, sizeof(f->dir), "/tmp/eoc-test-XXXXXX");
    if (!mkdtemp(f->dir)) {
        devkafka_stop(f->dk);
        free(f);
        return NULL;
    }
    return f;
}

int tu_fixture_free(tu_fixture_t *f)
{
    devkafka_stop(f->dk);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    int rc = system(cmd);
    free(f);
    return rc == 0 ? 0 : -1;
}

int tu_fixture_setup(void **state, const char *const *topics)
{
    return (*state = tu_fixture_new(topics)) ? 0 : -1;
}

int tu_fixture_teardown(void **state)
{
    return tu_fixture_free(*state);
}

static void *run_main(void *arg)
{
    tu_worker_t *r = arg;
    r->rc = eoc_worker_run(r->w);
    return NULL;
}

void tu_worker_start(tu_worker_t *r, eoc_conf_t *conf, eoc_handler_fn handler, void *opaque)
{
    char err[512];
    if (!(r->w = eoc_worker_new(conf, handler, opaque, err, sizeof(err))))
        fail_msg("eoc_worker_new: %s", err);
    assert_int_equal(pthread_create(&r->t, NULL, run_main, r), 0);
}

void tu_worker_wait(tu_worker_t *r, uint64_t n)
{
    int64_t deadline = tu_now_ms() + WAIT_MS;
    eoc_stats_t s;
    do {
        tu_sleep_ms(50);
        eoc_worker_stats(r->w, &s);
        if (s.applied + s.duplicates + s.dead_letters + s.skipped >= n && s.outbox_backlog == 0)
            return;
    } while (tu_now_ms() < deadline);
    fail_msg("worker did not finish: consumed %llu applied %llu dups %llu dead %llu backlog %llu",
             (unsigned long long)s.consumed, (unsigned long long)s.applied,
             (unsigned long long)s.duplicates, (unsigned long long)s.dead_letters,
             (unsigned long long)s.outbox_backlog);
}

eoc_err_t tu_worker_stop(tu_worker_t *r, eoc_stats_t *stats)
{
    eoc_worker_stop(r->w);
    pthread_join(r->t, NULL);
    if (stats)
        eoc_worker_stats(r->w, stats);
    eoc_worker_destroy(r->w);
    return r->rc;
}
