/* metrics.c - see metrics.h. */
#include "metrics.h"
#include "store.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* what the worker publishes                                           */
/* ------------------------------------------------------------------ */

static const double histo_bounds[EOC__HISTO_BUCKETS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                        0.05,   0.1,   0.25,   0.5,   1.0,  2.5};

/* End to end (record timestamp to commit): up to minutes. */
static const double histo_long_bounds[EOC__HISTO_BUCKETS] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                             0.5,   1.0,  5.0,   30.0, 120.0, 600.0};

static void histo_add_b(eoc__histo_t *h, const double *bounds, double seconds)
{
    size_t i = 0;
    while (i < EOC__HISTO_BUCKETS && seconds > bounds[i])
        i++;
    eoc__count(&h->bucket[i], 1);
    eoc__count(&h->count, 1);
    eoc__count(&h->sum_us, (uint64_t)(seconds * 1e6));
}

void eoc__histo_add(eoc__histo_t *h, double seconds)
{
    histo_add_b(h, histo_bounds, seconds);
}

void eoc__histo_add_long(eoc__histo_t *h, double seconds)
{
    histo_add_b(h, histo_long_bounds, seconds);
}

int eoc__stats_add_part(eoc__stats_t *s, eoc__part_stats_t *p)
{
    eoc__part_list_t *l = atomic_load_explicit(&s->parts, memory_order_relaxed);
    size_t n = l ? atomic_load_explicit(&l->n, memory_order_relaxed) : 0;
    if (!l || n == l->cap) {
        size_t cap = l ? l->cap * 2 : 32;
        eoc__part_list_t *g = malloc(sizeof(*g) + cap * sizeof(g->v[0]));
        if (!g)
            return -1;
        g->older = l;
        g->cap = cap;
        if (n)
            memcpy(g->v, l->v, n * sizeof(g->v[0]));
        atomic_init(&g->n, n);
        atomic_store_explicit(&s->parts, g, memory_order_release);
        l = g;
    }
    l->v[n] = p;
    atomic_store_explicit(&l->n, n + 1, memory_order_release);
    return 0;
}

void eoc__stats_totals(const eoc__stats_t *s, eoc__relay_t *relay, eoc__store_t *store,
                       eoc_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    out->consumed = atomic_load(&s->consumed);
    out->applied = atomic_load(&s->applied);
    out->duplicates = atomic_load(&s->duplicates);
    out->dead_letters = atomic_load(&s->dead_letters);
    out->skipped = atomic_load(&s->skipped);
    out->retries = atomic_load(&s->retries);
    out->batches = atomic_load(&s->batches);
    out->commit_failures = atomic_load(&s->commit_failures);
    out->rebalances = atomic_load(&s->rebalances);
    out->inbox_pruned = atomic_load(&s->inbox_pruned);
    if (relay) {
        eoc__relay_stats_t rs;
        eoc__relay_stats(relay, &rs);
        out->published = rs.published;
        out->relay_errors = rs.errors;
    }
    eoc__store_outbox_info(store, &out->outbox_backlog, &out->outbox_oldest_ms);
}

void eoc__stats_health_publish(eoc__stats_t *s, struct eoc__store *store, int64_t now)
{
    if (now - atomic_load(&s->health_at_ms) < 500 && atomic_load(&s->health_at_ms))
        return;
    uint64_t rows = 0;
    int64_t age_ms = 0;
    if (eoc__store_outbox_info(store, &rows, &age_ms) != EOC_OK)
        return; /* the snapshot ages: /healthz says so */
    atomic_store(&s->outbox_rows, rows);
    atomic_store(&s->outbox_oldest_ms, rows ? eoc__now_ms() - age_ms : 0);
    atomic_store(&s->health_at_ms, now);
}

void eoc__stats_free(eoc__stats_t *s)
{
    eoc__part_list_t *l = atomic_load(&s->parts);
    while (l) {
        eoc__part_list_t *older = l->older;
        free(l);
        l = older;
    }
    atomic_store(&s->parts, NULL);
}

#ifdef EOC_HAVE_MHD

#include "codec.h"
#include "conf.h"
#include "log.h"
#include "store.h"
#include "util.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>

/* One slow or hostile client must not starve /healthz: every connection
 * has a thread of its own (MHD_USE_THREAD_PER_CONNECTION), connections are
 * bounded in total and per client address, an idle one is closed after
 * CONN_TIMEOUT_S, and ANY connection, however it trickles its bytes, is
 * shut down CONN_DEADLINE_S after it opened (the reaper). */
#define CONN_LIMIT      64 /* concurrent connections in total */
#define CONN_PER_IP     32 /* from one client address */
#define CONN_TIMEOUT_S  5  /* idle connections are closed after this */
#define CONN_DEADLINE_S 10 /* no connection lives longer */

#define PROM_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define JSON_TYPE "application/json"
#define TEXT_TYPE "text/plain; charset=utf-8"

#if MHD_VERSION < 0x00097002
typedef int mhd_result;
#else
typedef enum MHD_Result mhd_result;
#endif

struct eoc__metrics {
    eoc__metrics_src_t src; /* borrowed: the worker outlives the server */
    eoc_log_t log;          /* "metrics", set up from the worker's conf */
    struct MHD_Daemon *d;   /* owned */
    int port;
    int64_t stuck_ms; /* health.relay.stuck.ms */
    int64_t stall_ms; /* health.stall.ms */
    double map_limit; /* health.map.usage */
    /* The first libmicrohttpd message, kept as the reason of a failed
     * start: claimed once through `msg_taken`, read only after
     * MHD_start_daemon returned NULL (its threads are gone then). */
    atomic_int msg_taken;
    char msg[256];
    /* Open connections (fd, when opened) for the reaper. */
    pthread_mutex_t conn_mu;
    pthread_cond_t conn_cv;
    struct conn {
        struct MHD_Connection *c;
        int fd;
        int64_t opened_ms;
    } conns[CONN_LIMIT + 8];
    int reaper_on, reaper_stop;
    pthread_t reaper;
};

/* ------------------------------------------------------------------ */
/* text output                                                         */
/* ------------------------------------------------------------------ */

static void putf(eoc__buf_t *b, const char *fmt, ...) EOC__PRINTF(2, 3);
static void putf(eoc__buf_t *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof(tmp)) {
        eoc__buf_put(b, tmp, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        b->oom = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    eoc__buf_put(b, big, (size_t)n);
    free(big);
}

static void puts_(eoc__buf_t *b, const char *s)
{
    eoc__buf_put(b, s, strlen(s));
}

/* A label value, escaped as the exposition format wants (\\, \", \n). */
static void put_label_value(eoc__buf_t *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\')
            puts_(b, "\\\\");
        else if (*s == '"')
            puts_(b, "\\\"");
        else if (*s == '\n')
            puts_(b, "\\n");
        else
            eoc__buf_put(b, s, 1);
    }
}

static void put_family(eoc__buf_t *b, const char *name, const char *type, const char *help)
{
    putf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* "name{topic="t",partition="p"} " */
static void put_tp(eoc__buf_t *b, const char *name, const eoc__part_stats_t *p)
{
    putf(b, "%s{topic=\"", name);
    put_label_value(b, p->topic);
    putf(b, "\",partition=\"%" PRId32 "\"} ", p->partition);
}

/* ------------------------------------------------------------------ */
/* /metrics                                                            */
/* ------------------------------------------------------------------ */

/* The partitions the worker has published (metrics.h). Entries are never
 * freed before the worker, which outlives this server: counters are read
 * atomically, topic and partition never change. */
static eoc__part_stats_t *const *parts_snapshot(const eoc__stats_t *st, size_t *n)
{
    eoc__part_list_t *l = atomic_load_explicit(&((eoc__stats_t *)st)->parts, memory_order_acquire);
    *n = l ? atomic_load_explicit(&l->n, memory_order_acquire) : 0;
    return l ? l->v : NULL;
}

static const struct part_counter {
    const char *name, *help;
    size_t off; /* of an atomic_uint_fast64_t in eoc__part_stats_t */
} part_counters[] = {
    {"eoc_records_consumed_total", "Records polled from Kafka.",
     offsetof(eoc__part_stats_t, consumed)},
    {"eoc_records_applied_total", "Records whose handler effects were committed.",
     offsetof(eoc__part_stats_t, applied)},
    {"eoc_records_duplicate_total", "Records skipped because their ID was already in the inbox.",
     offsetof(eoc__part_stats_t, duplicates)},
    {"eoc_records_dead_lettered_total", "Records sent to the dead-letter topic.",
     offsetof(eoc__part_stats_t, dead_letters)},
    {"eoc_records_retried_total", "Handler retries.", offsetof(eoc__part_stats_t, retries)},
};

static void write_part_counters(eoc__buf_t *b, eoc__part_stats_t *const *v, size_t n)
{
    for (size_t i = 0; i < COUNTOF(part_counters); i++) {
        const struct part_counter *pc = &part_counters[i];
        put_family(b, pc->name, "counter", pc->help);
        for (size_t j = 0; j < n; j++) {
            atomic_uint_fast64_t *a = (atomic_uint_fast64_t *)((char *)v[j] + pc->off);
            put_tp(b, pc->name, v[j]);
            putf(b, "%" PRIu64 "\n", (uint64_t)atomic_load_explicit(a, memory_order_relaxed));
        }
    }
}

/* Lag: the consumer's cached high watermark (no network) minus the offset
 * this worker last committed; partitions where either is unknown are left
 * out. */
static void write_lag(eoc__buf_t *b, rd_kafka_t *rk, eoc__part_stats_t *const *v, size_t n)
{
    static const char name[] = "eoc_consumer_lag";
    put_family(b, name, "gauge",
               "High watermark minus the committed offset, per partition (cached watermark).");
    for (size_t i = 0; i < n && rk; i++) {
        int64_t low, high, committed = atomic_load(&v[i]->committed);
        if (committed < 0 ||
            rd_kafka_get_watermark_offsets(rk, v[i]->topic, v[i]->partition, &low, &high) ||
            high < 0)
            continue;
        put_tp(b, name, v[i]);
        putf(b, "%" PRId64 "\n", high > committed ? high - committed : 0);
    }
}

static const struct worker_counter {
    const char *name, *type, *help;
    size_t off; /* of a uint64_t in eoc_stats_t */
} worker_counters[] = {
    {"eoc_records_skipped_total", "counter", "Null or empty records skipped (empty.value=skip).",
     offsetof(eoc_stats_t, skipped)},
    {"eoc_batches_total", "counter", "Batches committed to the store.",
     offsetof(eoc_stats_t, batches)},
    {"eoc_batch_commit_failures_total", "counter", "Batches aborted and rewound.",
     offsetof(eoc_stats_t, commit_failures)},
    {"eoc_rebalances_total", "counter", "Partition assignments and revocations.",
     offsetof(eoc_stats_t, rebalances)},
    {"eoc_relay_published_total", "counter", "Outbox rows delivered by the relay.",
     offsetof(eoc_stats_t, published)},
    {"eoc_relay_errors_total", "counter", "Failed relay deliveries (retried).",
     offsetof(eoc_stats_t, relay_errors)},
    {"eoc_inbox_pruned_total", "counter", "Inbox entries removed by retention.",
     offsetof(eoc_stats_t, inbox_pruned)},
    {"eoc_outbox_backlog", "gauge", "Outbox rows committed but not yet published and removed.",
     offsetof(eoc_stats_t, outbox_backlog)},
};

static void write_worker_counters(eoc__buf_t *b, const eoc_stats_t *st)
{
    for (size_t i = 0; i < COUNTOF(worker_counters); i++) {
        const struct worker_counter *wc = &worker_counters[i];
        uint64_t v;
        memcpy(&v, (const char *)st + wc->off, sizeof(v));
        put_family(b, wc->name, wc->type, wc->help);
        putf(b, "%s %" PRIu64 "\n", wc->name, v);
    }
    put_family(b, "eoc_outbox_oldest_age_seconds", "gauge",
               "Age of the oldest pending outbox row (0 when none).");
    putf(b, "eoc_outbox_oldest_age_seconds %.3f\n", (double)st->outbox_oldest_ms / 1000.0);
}

/* Buckets are stored per interval; the exposition format wants them
 * cumulative, with +Inf equal to _count. */
static void write_histo(eoc__buf_t *b, const eoc__histo_t *h, const char *name,
                        const double *bounds, const char *help)
{
    put_family(b, name, "histogram", help);
    uint64_t cum = 0;
    for (size_t i = 0; i < EOC__HISTO_BUCKETS; i++) {
        cum += atomic_load_explicit(&h->bucket[i], memory_order_relaxed);
        putf(b, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", name, bounds[i], cum);
    }
    cum += atomic_load_explicit(&h->bucket[EOC__HISTO_BUCKETS], memory_order_relaxed);
    putf(b, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, cum);
    putf(b, "%s_sum %.6f\n", name,
         (double)atomic_load_explicit(&h->sum_us, memory_order_relaxed) / 1e6);
    putf(b, "%s_count %" PRIu64 "\n", name, cum);
}

/* eos.mode=kafka: transactions, aborts, fencings and restores (txn.c,
 * changelog.c); written only in that mode. */
static void write_eos_kafka(eoc__buf_t *b, const eoc__stats_t *s)
{
    static const struct {
        const char *name, *type, *help;
        size_t off;
    } c[] = {
        {"eoc_txn_commits_total", "counter", "Kafka transactions committed (eos.mode=kafka).",
         offsetof(eoc__stats_t, km_commits)},
        {"eoc_txn_aborts_total", "counter", "Kafka transactions aborted and retried.",
         offsetof(eoc__stats_t, km_aborts)},
        {"eoc_txn_fencings_total", "counter",
         "Transactional producer fenced or failed fatally, and re-created.",
         offsetof(eoc__stats_t, km_fencings)},
        {"eoc_restores_total", "counter", "Partition restores from the changelog.",
         offsetof(eoc__stats_t, km_restores)},
        {"eoc_restores_empty_total", "counter",
         "Restores that found the store current (restored 0 records).",
         offsetof(eoc__stats_t, km_restores_empty)},
        {"eoc_restored_records_total", "counter", "Changelog records applied by restores.",
         offsetof(eoc__stats_t, km_restored_records)},
        {"eoc_restored_bytes_total", "counter",
         "Bytes (keys and values) of the changelog records applied by restores.",
         offsetof(eoc__stats_t, km_restored_bytes)},
        {"eoc_restore_remaining", "gauge",
         "Changelog offsets left to read by the restore in progress (0 when none).",
         offsetof(eoc__stats_t, km_restore_lag)},
        {"eoc_restore_seconds_left", "gauge",
         "Estimated seconds left of the restore in progress, at its rate so far (0 when none).",
         offsetof(eoc__stats_t, km_restore_eta_s)},
    };
    for (size_t i = 0; i < COUNTOF(c); i++) {
        put_family(b, c[i].name, c[i].type, c[i].help);
        putf(b, "%s %" PRIu64 "\n", c[i].name,
             (uint64_t)atomic_load((const atomic_uint_fast64_t *)((const char *)s + c[i].off)));
    }
    write_histo(b, &s->km_txn_latency, "eoc_txn_commit_seconds", histo_bounds,
                "Duration of a batch's Kafka transaction: produce, send offsets, commit.");
}

static void write_map(eoc__buf_t *b, eoc__store_t *s)
{
    uint64_t used = 0, size = 0;
    eoc__store_map_usage(s, &used, &size);
    put_family(b, "eoc_store_map_used_ratio", "gauge",
               "Fraction of the LMDB map in use (see health.map.usage).");
    putf(b, "eoc_store_map_used_ratio %.6f\n", size ? (double)used / (double)size : 0.0);
    put_family(b, "eoc_store_map_used_bytes", "gauge", "Bytes of the LMDB map in use.");
    putf(b, "eoc_store_map_used_bytes %" PRIu64 "\n", used);
    put_family(b, "eoc_store_map_size_bytes", "gauge", "Size of the LMDB map (store.map.size).");
    putf(b, "eoc_store_map_size_bytes %" PRIu64 "\n", size);
}

static eoc_err_t worker_fatal(const eoc__metrics_t *m)
{
    return atomic_load(&((eoc__stats_t *)m->src.stats)->fatal);
}

static int ready_check(eoc__metrics_t *m, char *why, size_t n);

/* Assignment, readiness, build and librdkafka's statistics in summary. */
static void write_more(eoc__metrics_t *m, eoc__buf_t *b)
{
    eoc__stats_t *st = (eoc__stats_t *)m->src.stats;
    char why[384];
    put_family(b, "eoc_assigned_partitions", "gauge", "Partitions assigned to this worker now.");
    putf(b, "eoc_assigned_partitions %" PRId64 "\n", (int64_t)atomic_load(&st->assigned));
    put_family(b, "eoc_ready", "gauge", "1 when /readyz answers 200.");
    putf(b, "eoc_ready %d\n", ready_check(m, why, sizeof(why)) == 0);
    put_family(b, "eoc_build_info", "gauge", "The eoc and librdkafka versions; always 1.");
    puts_(b, "eoc_build_info{version=\"");
    put_label_value(b, eoc_version());
    puts_(b, "\",librdkafka=\"");
    put_label_value(b, rd_kafka_version_str());
    puts_(b, "\"} 1\n");
    if (!atomic_load(&st->k_stats_seen))
        return; /* kafka.statistics.interval.ms is off */
    put_family(b, "eoc_kafka_consumer_lag", "gauge",
               "Sum of the consumer lag of the assigned partitions, per librdkafka's statistics.");
    putf(b, "eoc_kafka_consumer_lag %" PRId64 "\n", (int64_t)atomic_load(&st->k_lag_sum));
    put_family(b, "eoc_kafka_broker_rtt_seconds", "gauge",
               "Largest average broker round-trip time, per librdkafka's statistics.");
    putf(b, "eoc_kafka_broker_rtt_seconds %.6f\n", (double)atomic_load(&st->k_rtt_us) / 1e6);
    put_family(b, "eoc_kafka_brokers_up", "gauge", "Brokers the consumer is connected to.");
    putf(b, "eoc_kafka_brokers_up %" PRId64 "\n", (int64_t)atomic_load(&st->k_brokers_up));
    put_family(b, "eoc_kafka_tx_bytes_total", "counter", "Bytes the consumer sent to brokers.");
    putf(b, "eoc_kafka_tx_bytes_total %" PRId64 "\n", (int64_t)atomic_load(&st->k_tx_bytes));
    put_family(b, "eoc_kafka_rx_bytes_total", "counter",
               "Bytes the consumer received from brokers.");
    putf(b, "eoc_kafka_rx_bytes_total %" PRId64 "\n", (int64_t)atomic_load(&st->k_rx_bytes));
}

static void write_metrics(eoc__metrics_t *m, eoc__buf_t *b)
{
    size_t n;
    eoc__part_stats_t *const *v = parts_snapshot(m->src.stats, &n);
    eoc_stats_t st;
    eoc__stats_totals(m->src.stats, m->src.relay, m->src.store, &st);
    write_part_counters(b, v, n);
    write_lag(b, m->src.rk, v, n);
    write_worker_counters(b, &st);
    write_histo(b, &m->src.stats->commit_latency, "eoc_batch_commit_seconds", histo_bounds,
                "Duration of the durable LMDB commit of a batch.");
    write_histo(b, &m->src.stats->handler_latency, "eoc_handler_seconds", histo_bounds,
                "Duration of one handler call (reruns and retries included).");
    write_histo(b, &m->src.stats->e2e_latency, "eoc_end_to_end_seconds", histo_long_bounds,
                "From a record's Kafka timestamp to the commit of its batch.");
    if (m->src.settings->eos_mode == EOC__EOS_KAFKA)
        write_eos_kafka(b, m->src.stats);
    write_map(b, m->src.store);
    put_family(b, "eoc_worker_fatal", "gauge", "1 when the worker stopped on a fatal error.");
    putf(b, "eoc_worker_fatal %d\n", worker_fatal(m) != EOC_OK);
    write_more(m, b);
}

/* ------------------------------------------------------------------ */
/* /healthz                                                            */
/* ------------------------------------------------------------------ */

/* Returns 0 when live, else 1 with the first failing check in `why`:
 * fatal error, map usage, a relay that does not publish, a poll loop that
 * does not turn (a hung handler or commit). No broker and no assignment
 * are not failures of liveness: a restart would not fix them. */
static int health_check(eoc__metrics_t *m, char *why, size_t n)
{
    eoc_err_t fatal = worker_fatal(m);
    if (fatal != EOC_OK) {
        snprintf(why, n, "worker stopped on a fatal error: %s", eoc_strerror(fatal));
        return 1;
    }
    int64_t turned = atomic_load(&((eoc__stats_t *)m->src.stats)->last_loop_ms);
    int64_t idle = turned ? eoc__mono_ms() - turned : 0;
    if (turned && idle > m->stall_ms) {
        snprintf(why, n,
                 "poll loop stalled for %" PRId64 "s (health.stall.ms=%" PRId64
                 "): a handler or a commit does not return",
                 idle / 1000, m->stall_ms);
        return 1;
    }
    eoc__store_t *s = m->src.store;
    uint64_t used = 0, size = 0;
    eoc__store_map_usage(s, &used, &size);
    double ratio = size ? (double)used / (double)size : 0.0;
    if (ratio > m->map_limit) {
        snprintf(why, n,
                 "store map usage %.1f%% (%" PRIu64 " of %" PRIu64
                 " bytes) over health.map.usage=%g: raise store.map.size",
                 ratio * 100.0, used, size, m->map_limit);
        return 1;
    }
    /* The worker's snapshot (eoc__stats_health_publish): no LMDB read
     * transaction on the HTTP thread. */
    int64_t at = atomic_load(&m->src.stats->health_at_ms);
    if (at && eoc__mono_ms() - at > m->stuck_ms) {
        snprintf(why, n, "worker unresponsive: no health snapshot for %" PRId64 "s",
                 (eoc__mono_ms() - at) / 1000);
        return 1;
    }
    uint64_t rows = atomic_load(&m->src.stats->outbox_rows);
    int64_t oldest = atomic_load(&m->src.stats->outbox_oldest_ms);
    int64_t age_ms = rows && oldest ? eoc__now_ms() - oldest : 0;
    if (rows && age_ms > m->stuck_ms) {
        snprintf(why, n,
                 "relay stuck: oldest outbox row %" PRId64 "s old (health.relay.stuck.ms=%" PRId64
                 ")",
                 age_ms / 1000, m->stuck_ms);
        return 1;
    }
    return 0;
}

/* Returns 0 when ready to be given work, else 1 with the reason: live,
 * a broker reachable, partitions assigned, batch commits succeeding. */
static int ready_check(eoc__metrics_t *m, char *why, size_t n)
{
    eoc__stats_t *st = (eoc__stats_t *)m->src.stats;
    if (health_check(m, why, n))
        return 1;
    if (atomic_load(&st->brokers_down)) {
        snprintf(why, n, "no broker reachable (kafka.bootstrap.servers)");
        return 1;
    }
    if (atomic_load(&st->failing)) {
        snprintf(why, n, "batch commits are failing (%d in a row): see the log",
                 atomic_load(&st->failing));
        return 1;
    }
    if (atomic_load(&st->assigned) <= 0) {
        snprintf(why, n, "no partition assigned (joining the group, or more members than "
                         "partitions)");
        return 1;
    }
    if (m->src.settings->eos_mode == EOC__EOS_KAFKA && atomic_load(&st->km_restore_lag) > 0) {
        snprintf(why, n, "restoring from the changelog (%" PRIu64 " offsets left)",
                 (uint64_t)atomic_load(&st->km_restore_lag));
        return 1;
    }
    return 0;
}

/* Writes {"status":..,"reason":..} and a newline; returns the HTTP status. */
static unsigned write_health(eoc__metrics_t *m, eoc__buf_t *b, int ready)
{
    char why[384];
    int bad = ready ? ready_check(m, why, sizeof(why)) : health_check(m, why, sizeof(why));
    cJSON *o = cJSON_CreateObject();
    char *text = NULL;
    if (o && cJSON_AddStringToObject(o, "status", bad ? "fail" : "ok") &&
        (!bad || cJSON_AddStringToObject(o, "reason", why)))
        text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!text) {
        b->oom = 1;
        return MHD_HTTP_INTERNAL_SERVER_ERROR;
    }
    puts_(b, text);
    puts_(b, "\n");
    cJSON_free(text);
    return bad ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_OK;
}

/* ------------------------------------------------------------------ */
/* HTTP                                                                */
/* ------------------------------------------------------------------ */

static mhd_result reply_static(struct MHD_Connection *c, unsigned status, const char *text,
                               const char *allow)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, TEXT_TYPE);
    if (allow)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    mhd_result ok = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ok;
}

/* Sends `b` (ownership of its memory moves to the response). */
static mhd_result reply_buf(struct MHD_Connection *c, unsigned status, const char *type,
                            eoc__buf_t *b)
{
    struct MHD_Response *r = NULL;
    if (!b->oom && b->len)
        r = MHD_create_response_from_buffer_with_free_callback(b->len, b->p, free);
    if (!r) {
        eoc__buf_free(b);
        return reply_static(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n", NULL);
    }
    b->p = NULL; /* the response frees it */
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    mhd_result ok = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ok;
}

/* The access handler, on libmicrohttpd's polling thread. The first call
 * (headers read) only marks the request; a body is discarded; the answer
 * goes out once the whole request is in. */
static mhd_result on_request(void *cls, struct MHD_Connection *c, const char *url,
                             const char *method, const char *version, const char *upload,
                             size_t *upload_size, void **req)
{
    eoc__metrics_t *m = cls;
    (void)version;
    (void)upload;
    if (!*req) {
        *req = m;
        return MHD_YES;
    }
    if (*upload_size) {
        *upload_size = 0;
        return MHD_YES;
    }
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return reply_static(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n", "GET, HEAD");
    eoc__buf_t b = {0};
    if (strcmp(url, "/metrics") == 0) {
        write_metrics(m, &b);
        return reply_buf(c, MHD_HTTP_OK, PROM_TYPE, &b);
    }
    if (strcmp(url, "/healthz") == 0 || strcmp(url, "/readyz") == 0) {
        unsigned status = write_health(m, &b, url[1] == 'r');
        return reply_buf(c, status, JSON_TYPE, &b);
    }
    return reply_static(c, MHD_HTTP_NOT_FOUND, "not found: try /metrics, /healthz or /readyz\n",
                        NULL);
}

/* libmicrohttpd's messages: logged, and the first one kept for errstr. */
static void on_mhd_log(void *cls, const char *fmt, va_list ap) EOC__PRINTF(2, 0);
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    eoc__metrics_t *m = cls;
    char line[256];
    vsnprintf(line, sizeof(line), fmt, ap);
    size_t len = strlen(line);
    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ' '))
        line[--len] = '\0';
    int expected = 0;
    if (atomic_compare_exchange_strong(&m->msg_taken, &expected, 1))
        memcpy(m->msg, line, len + 1);
    eoc__log(&m->log, EOC_LOG_INFO, "http: %s", line);
}

/* ------------------------------------------------------------------ */
/* start / stop                                                        */
/* ------------------------------------------------------------------ */

/* Tracks connections for the reaper (MHD_OPTION_NOTIFY_CONNECTION). */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    (void)socket_context;
    eoc__metrics_t *m = cls;
    pthread_mutex_lock(&m->conn_mu);
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        for (size_t i = 0; ci && i < sizeof(m->conns) / sizeof(m->conns[0]); i++) {
            if (!m->conns[i].c) {
                m->conns[i] = (struct conn){c, ci->connect_fd, eoc__mono_ms()};
                break;
            }
        }
    } else {
        for (size_t i = 0; i < sizeof(m->conns) / sizeof(m->conns[0]); i++)
            if (m->conns[i].c == c)
                m->conns[i].c = NULL;
    }
    pthread_mutex_unlock(&m->conn_mu);
}

/* Shuts down every connection older than CONN_DEADLINE_S (its thread then
 * sees the end of the stream and closes it), twice a second. */
static void *reaper_main(void *arg)
{
    eoc__metrics_t *m = arg;
    pthread_mutex_lock(&m->conn_mu);
    while (!m->reaper_stop) {
        int64_t now = eoc__mono_ms();
        for (size_t i = 0; i < sizeof(m->conns) / sizeof(m->conns[0]); i++) {
            if (m->conns[i].c && m->conns[i].fd >= 0 &&
                now - m->conns[i].opened_ms > CONN_DEADLINE_S * 1000) {
                shutdown(m->conns[i].fd, SHUT_RDWR);
                m->conns[i].fd = -1; /* once */
            }
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 500 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&m->conn_cv, &m->conn_mu, &ts);
    }
    pthread_mutex_unlock(&m->conn_mu);
    return NULL;
}

static void reaper_stop(eoc__metrics_t *m)
{
    if (!m->reaper_on)
        return;
    pthread_mutex_lock(&m->conn_mu);
    m->reaper_stop = 1;
    pthread_cond_signal(&m->conn_cv);
    pthread_mutex_unlock(&m->conn_mu);
    pthread_join(m->reaper, NULL);
    m->reaper_on = 0;
}

/* Splits `spec` into host (brackets removed; "" for any) and port text.
 * Returns 0, or -1 with errstr set. */
static int split_listen(const char *spec, char *host, size_t host_size, const char **port,
                        char *errstr, size_t errstr_size)
{
    const char *colon, *h = spec, *h_end;
    if (*spec == '[') {
        h = spec + 1;
        h_end = strchr(h, ']');
        colon = h_end && h_end[1] == ':' ? h_end + 1 : NULL;
    } else {
        colon = strrchr(spec, ':');
        h_end = colon;
        if (colon && memchr(spec, ':', (size_t)(colon - spec))) {
            snprintf(errstr, errstr_size,
                     "metrics.listen=%s: put an IPv6 address in brackets: [addr]:port", spec);
            return -1;
        }
    }
    if (!colon || !h_end) {
        snprintf(errstr, errstr_size, "metrics.listen=%s: expected host:port or [ipv6]:port", spec);
        return -1;
    }
    size_t hlen = (size_t)(h_end - h);
    const char *p = colon + 1;
    size_t plen = strlen(p);
    if (hlen >= host_size || plen == 0 || plen > 5 || strspn(p, "0123456789") != plen ||
        atoi(p) > 65535) {
        snprintf(errstr, errstr_size, "metrics.listen=%s: bad host or port (0..65535)", spec);
        return -1;
    }
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *port = p;
    return 0;
}

/* Resolves metrics.listen into one IPv4 or IPv6 socket address. */
static int resolve_listen(const char *spec, struct sockaddr_storage *ss, char *errstr,
                          size_t errstr_size)
{
    char host[256];
    const char *port;
    if (split_listen(spec, host, sizeof(host), &port, errstr, errstr_size) != 0)
        return -1;
    struct addrinfo hints, *res = NULL, *ai;
    memset(&hints, 0, sizeof(hints));
    /* No host (":PORT"): loopback only; every interface is asked for by
     * name ("0.0.0.0:PORT", "[::]:PORT"). */
    hints.ai_family = *host ? AF_UNSPEC : AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    int rc = getaddrinfo(*host ? host : "127.0.0.1", port, &hints, &res);
    if (rc) {
        snprintf(errstr, errstr_size, "metrics.listen=%s: %s", spec, gai_strerror(rc));
        return -1;
    }
    for (ai = res; ai; ai = ai->ai_next)
        if (ai->ai_family == AF_INET || ai->ai_family == AF_INET6)
            break;
    if (ai)
        memcpy(ss, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(res);
    if (!ai) {
        snprintf(errstr, errstr_size, "metrics.listen=%s: no IPv4 or IPv6 address", spec);
        return -1;
    }
    return 0;
}

/* The port the listening socket is bound to, or -1. */
static int bound_port(struct MHD_Daemon *d)
{
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_LISTEN_FD);
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (!info || getsockname(info->listen_fd, (struct sockaddr *)&ss, &len) != 0)
        return -1;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return -1;
}

eoc__metrics_t *eoc__metrics_start(const eoc__metrics_src_t *srcp, char *errstr, size_t errstr_size)
{
    eoc__metrics_src_t src = *srcp;
    const eoc__settings_t *st = src.settings;
    const char *spec = st->metrics_listen;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    if (resolve_listen(spec, &ss, errstr, errstr_size) != 0)
        return NULL;
    eoc__metrics_t *m = calloc(1, sizeof(*m));
    if (!m) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    m->src = src;
    eoc__log_init(&m->log, st, "metrics");
    m->stuck_ms = st->health_relay_stuck_ms;
    m->stall_ms = st->health_stall_ms;
    m->map_limit = st->health_map_usage;
    pthread_mutex_init(&m->conn_mu, NULL);
    pthread_cond_init(&m->conn_cv, NULL);
    if (pthread_create(&m->reaper, NULL, reaper_main, m) == 0)
        m->reaper_on = 1;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_POLL | MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    m->d =
        MHD_start_daemon(flags, 0, NULL, NULL, on_request, m, MHD_OPTION_EXTERNAL_LOGGER,
                         on_mhd_log, m, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                         MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONN_LIMIT,
                         MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)CONN_PER_IP,
                         MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONN_TIMEOUT_S,
                         MHD_OPTION_NOTIFY_CONNECTION, on_connection, m, MHD_OPTION_END);
    if (!m->d || (m->port = bound_port(m->d)) < 0) {
        snprintf(errstr, errstr_size, "metrics.listen=%s: cannot listen: %s", spec,
                 m->msg[0] ? m->msg : "address in use or not available");
        if (m->d)
            MHD_stop_daemon(m->d);
        reaper_stop(m);
        free(m);
        return NULL;
    }
    eoc__log(&m->log, EOC_LOG_INFO, "serving /metrics, /healthz and /readyz on %s (port %d)", spec, m->port);
    return m;
}

int eoc__metrics_port(const eoc__metrics_t *m)
{
    return m ? m->port : -1;
}

void eoc__metrics_stop(eoc__metrics_t *m)
{
    if (!m)
        return;
    MHD_stop_daemon(m->d);
    reaper_stop(m);
    pthread_mutex_destroy(&m->conn_mu);
    pthread_cond_destroy(&m->conn_cv);
    free(m);
}

#else /* !EOC_HAVE_MHD */

#include <stdio.h>

eoc__metrics_t *eoc__metrics_start(const eoc__metrics_src_t *src, char *errstr, size_t errstr_size)
{
    (void)src;
    if (errstr && errstr_size)
        snprintf(errstr, errstr_size, "built without libmicrohttpd");
    return NULL;
}

int eoc__metrics_port(const eoc__metrics_t *m)
{
    (void)m;
    return -1;
}

void eoc__metrics_stop(eoc__metrics_t *m)
{
    (void)m;
}

#endif /* EOC_HAVE_MHD */
