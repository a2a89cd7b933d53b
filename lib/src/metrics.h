/*
 * metrics - what a worker publishes for readers on other threads (its
 * counters, the commit-latency histogram, the partitions it has seen), and
 * a small HTTP server that exposes it for one worker: GET /metrics
 * (Prometheus text exposition format 0.0.4) and GET /healthz (200 or 503
 * with a JSON reason). Built on libmicrohttpd; without it (EOC_HAVE_MHD
 * undefined) eoc__metrics_start() fails with "built without libmicrohttpd".
 *
 * Threads: the worker's threads write the counters (relaxed atomics) and
 * publish partitions (eoc__stats_add_part, polling thread only).
 * libmicrohttpd's one internal polling thread answers every request, one
 * at a time, and only reads: the counters, the published partition list
 * (no lock: a list is never changed but by appending behind its count),
 * the store through short read transactions and librdkafka's cached
 * watermarks (no network). eoc__metrics_start() and eoc__metrics_stop()
 * are called by the worker's owner thread.
 *
 * Ownership: the server borrows the worker, which must outlive it: stop the
 * server before eoc_worker_destroy().
 */
#ifndef EOC_METRICS_H
#define EOC_METRICS_H

#include "conf.h"
#include "eoc/eoc.h"
#include "relay.h"
#include "store.h"

#include <librdkafka/rdkafka.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* ---- what the worker publishes */

/** One partition's counters. topic and partition never change. */
typedef struct eoc__part_stats {
    char *topic; /* owned by the worker */
    int32_t partition;
    atomic_uint_fast64_t consumed, applied, duplicates, dead_letters, retries;
    atomic_int_fast64_t committed; /* next offset committed to LMDB by this worker, -1 */
} eoc__part_stats_t;

/** The partitions seen so far. A reader loads `n` (acquire) and reads
 *  v[0, n). When the list is full a larger copy replaces it; the older
 *  ones stay allocated until eoc__stats_free. */
typedef struct eoc__part_list {
    struct eoc__part_list *older;
    size_t cap;
    atomic_size_t n;
    eoc__part_stats_t *v[];
} eoc__part_list_t;

/** Fixed-bucket latency histogram (seconds), Prometheus style. */
#define EOC__HISTO_BUCKETS 12
typedef struct eoc__histo {
    atomic_uint_fast64_t bucket[EOC__HISTO_BUCKETS + 1]; /* last: +Inf */
    atomic_uint_fast64_t count;
    atomic_uint_fast64_t sum_us;
} eoc__histo_t;

void eoc__histo_add(eoc__histo_t *h, double seconds);
/** The same with the buckets of the end-to-end histogram (up to minutes). */
void eoc__histo_add_long(eoc__histo_t *h, double seconds);

typedef struct eoc__stats {
    atomic_uint_fast64_t consumed, applied, duplicates, dead_letters, skipped, retries, batches,
        commit_failures, rebalances, inbox_pruned;
    eoc__histo_t commit_latency;
    /* eos.mode=kafka (txn.c, changelog.c) */
    atomic_uint_fast64_t km_commits, km_aborts, km_fencings, km_restores, km_restores_empty,
        km_restored_records, km_restored_bytes, km_restore_lag, km_restore_eta_s;
    eoc__histo_t km_txn_latency;
    eoc__histo_t handler_latency; /* one handler call (apply.c) */
    eoc__histo_t e2e_latency;     /* record timestamp to its batch's commit */
    atomic_int_fast64_t assigned; /* partitions assigned now */
    atomic_int_fast64_t last_loop_ms; /* the poll loop's last turn (monotonic), 0 before */
    atomic_int brokers_down;          /* every broker unreachable (error callback, stats) */
    atomic_int failing;               /* batch commits are failing (consecutive failures) */
    /* librdkafka's statistics, in summary (0 until the first report) */
    atomic_int_fast64_t k_stats_seen, k_lag_sum, k_rtt_us, k_tx_bytes, k_rx_bytes, k_brokers_up;
    _Atomic(eoc__part_list_t *) parts; /* NULL until the first partition */
    _Atomic eoc_err_t fatal;           /* EOC_OK, or the error that stopped the worker */
    /* The health snapshot the worker publishes (eoc__stats_health_publish)
     * for /healthz, which never opens an LMDB transaction itself. */
    atomic_uint_fast64_t outbox_rows;
    atomic_int_fast64_t outbox_oldest_ms; /* wall clock of the oldest row; 0: none */
    atomic_int_fast64_t health_at_ms;     /* monotonic time of the snapshot; 0: none */
} eoc__stats_t;

struct eoc__store;
/** On the worker's thread, at most twice a second: the outbox's size and
 *  oldest row into `s` (an LMDB read transaction here, not on the HTTP
 *  thread). `now` is the monotonic clock. */
void eoc__stats_health_publish(eoc__stats_t *s, struct eoc__store *store, int64_t now);

/** Adds `p` to the published partitions (one thread only: the worker's
 *  polling thread). 0, or -1 out of memory. */
int eoc__stats_add_part(eoc__stats_t *s, eoc__part_stats_t *p);
/** Frees the partition lists (not the partitions). */
void eoc__stats_free(eoc__stats_t *s);

static inline void eoc__count(atomic_uint_fast64_t *a, uint64_t n)
{
    atomic_fetch_add_explicit(a, n, memory_order_relaxed);
}

/* ---- the server */

typedef struct eoc__metrics eoc__metrics_t;

/** The public counters (eoc_worker_stats): `s`, the relay's (NULL: none)
 *  and the outbox's backlog. Any thread. */
void eoc__stats_totals(const eoc__stats_t *s, eoc__relay_t *relay, eoc__store_t *store,
                       eoc_stats_t *out);

/** What the server reads of a worker (all borrowed from it). */
typedef struct eoc__metrics_src {
    const eoc__stats_t *stats;
    eoc__store_t *store;
    eoc__relay_t *relay; /* NULL: none */
    rd_kafka_t *rk;      /* thread-safe calls only (cached watermarks) */
    const eoc__settings_t *settings;
} eoc__metrics_src_t;

/** What `w` hands the server (worker.c; also for tests and the bench). */
void eoc__worker_metrics_src(eoc_worker_t *w, eoc__metrics_src_t *out);

/**
 * Starts serving a worker's metrics on its setting metrics.listen:
 * "host:port", "[ipv6]:port" or ":port" (all IPv4 interfaces); port 0 picks
 * a free one (see eoc__metrics_port). The sources are copied; what they
 * point to must outlive the server. Returns NULL with the reason in errstr
 * on a bad address, an address in use, or a build without libmicrohttpd.
 */
eoc__metrics_t *eoc__metrics_start(const eoc__metrics_src_t *src, char *errstr, size_t errstr_size);

/** The bound TCP port. */
int eoc__metrics_port(const eoc__metrics_t *m);

/** Stops the listener (waits for a request in progress) and frees `m`. NULL is fine. */
void eoc__metrics_stop(eoc__metrics_t *m);

#endif /* EOC_METRICS_H */
