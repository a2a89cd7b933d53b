/*
 * testutil - what the integration tests share: clocks, a fixture of one
 * development Kafka plus one data directory, and an eoc worker running on
 * its own thread. Tests only (failures abort the test through cmocka).
 */
#ifndef EOC_TEST_TESTUTIL_H
#define EOC_TEST_TESTUTIL_H

#include "devkafka.h"
#include "tu_clock.h"

#include <eoc/eoc.h>

#include <pthread.h>
#include <stdint.h>


/* A development Kafka with `topics` ("name:parts", NULL-terminated) and an
 * empty temporary directory. */
typedef struct tu_fixture {
    devkafka_t *dk;
    const char *bs; /* bootstrap servers, owned by dk */
    char dir[64];
} tu_fixture_t;

/** NULL (after printing why) when the development Kafka cannot start. */
tu_fixture_t *tu_fixture_new(const char *const *topics);
/** Stops the Kafka, removes the directory; 0 on success. */
int tu_fixture_free(tu_fixture_t *f);

/** cmocka setup/teardown bodies: *state becomes the tu_fixture_t. */
int tu_fixture_setup(void **state, const char *const *topics);
int tu_fixture_teardown(void **state);

/* A worker on its own thread. */
typedef struct tu_worker {
    eoc_worker_t *w;
    pthread_t t;
    eoc_err_t rc; /* eoc_worker_run's result once joined */
} tu_worker_t;

/** Creates the worker (conf is taken) and starts eoc_worker_run. */
void tu_worker_start(tu_worker_t *r, eoc_conf_t *conf, eoc_handler_fn handler, void *opaque);
/** Waits (at most 60 s) until `n` records got a disposition and the outbox
 *  is empty; fails the test otherwise. */
void tu_worker_wait(tu_worker_t *r, uint64_t n);
/** Stops, joins and destroys the worker; *stats (may be NULL) gets its
 *  last counters. Returns eoc_worker_run's result. */
eoc_err_t tu_worker_stop(tu_worker_t *r, eoc_stats_t *stats);

#endif
