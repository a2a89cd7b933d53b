/*
 * worker - internal view of eoc_worker_t for the metrics module: the
 * per-partition table and the commit-latency histogram.
 *
 * Threads: the polling thread adds partitions (under ptab.lock) and bumps
 * counters (relaxed atomics); readers take ptab.lock to walk the table. The
 * apply thread reaches the partitions of the batch it applies through the
 * batch (batch.h), never through the table.
 */
#ifndef EOC_WORKER_H
#define EOC_WORKER_H

#include "eoc/eoc.h"
#include "store.h"

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

typedef struct eoc__part {
    char *topic; /* owned, immutable */
    int32_t partition;
    atomic_uint_fast64_t consumed, applied, duplicates, dead_letters, retries;
    atomic_int_fast64_t committed; /* next offset committed to LMDB by this worker, -1 */
    /* the batch threads only (see worker.c) */
    int bidx[2];           /* its entry in each batch's positions (batch.h), -1 */
    int64_t careful_until; /* careful mode below this offset, -1 when off */
    int careful_first;     /* careful mode from the first record received */
    int64_t polled;        /* polling thread: next offset after the last record it got, -1 */
    uint64_t pend_applied, pend_duplicates, pend_dead, pend_retries, pend_skipped;
    /* the batch's tallies, published when it commits */
} eoc__part_t;

typedef struct eoc__ptab {
    pthread_mutex_t lock; /* guards v/n/cap against the worker's growth */
    eoc__part_t **v;      /* owned; entries are never freed before the worker */
    size_t n, cap, last;
} eoc__ptab_t;

typedef struct eoc__worker_counters {
    atomic_uint_fast64_t consumed, applied, duplicates, dead_letters, skipped, retries, batches,
        commit_failures, rebalances, inbox_pruned;
} eoc__worker_counters_t;

/* Fixed-bucket latency histogram (seconds), Prometheus style. */
#define EOC__HISTO_BUCKETS 12
typedef struct eoc__histo {
    atomic_uint_fast64_t bucket[EOC__HISTO_BUCKETS + 1]; /* last: +Inf */
    atomic_uint_fast64_t count;
    atomic_uint_fast64_t sum_us;
} eoc__histo_t;

extern const double eoc__histo_bounds[EOC__HISTO_BUCKETS];
void eoc__histo_init(eoc__histo_t *h);
void eoc__histo_add(eoc__histo_t *h, double seconds);

eoc__ptab_t *eoc__worker_ptab(eoc_worker_t *w);
const eoc__histo_t *eoc__worker_commit_latency(eoc_worker_t *w);
eoc__store_t *eoc__worker_store(eoc_worker_t *w);
/** The consumer (thread-safe librdkafka calls only, e.g.
 *  rd_kafka_get_watermark_offsets for lag). */
rd_kafka_t *eoc__worker_consumer(eoc_worker_t *w);
/** EOC_OK, or the fatal error that stopped the worker. */
eoc_err_t eoc__worker_fatal(eoc_worker_t *w);
/** The worker's configuration and logger (valid for its lifetime). */
const eoc_conf_t *eoc__worker_conf(eoc_worker_t *w);
const eoc_log_t *eoc__worker_log(eoc_worker_t *w);

#endif
