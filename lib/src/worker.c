/*
 * worker.c - a worker's life: set-up, the poll loop, the drain at a stop.
 *
 * The poll loop buffers records into the filling batch and hands a full
 * (or old enough) batch to the apply thread (pipeline.c), which applies
 * and commits it (apply.c). Between batches an idle worker puts its last
 * commit's offsets in Kafka (offsets.c) and runs inbox retention.
 * Rebalances (rebalance.c) and careful mode (careful.c) interrupt the loop
 * on this thread. See worker_int.h for the map of the files and threads.
 */
#include "worker_int.h"

#include "conf.h"
#include "kafka.h"
#include "util.h"

#include <cjson/cJSON.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POLL_IDLE_MS     100
#define SKIP_EVERY_MS    500 /* eoc__offsets_skip_unseen at most this often */
#define CLOSE_TIMEOUT_MS 5000 /* bound on leaving the group during a stop */
#define BATCH_DEFAULT         1000  /* batch.max.records' default (conf.c) */
#define BATCH_BACKLOG_DEFAULT 10000 /* what such a batch grows to under backlog */

/* ------------------------------------------------------------------ */
/* set-up                                                              */
/* ------------------------------------------------------------------ */

struct strat_ctx {
    eoc_worker_t *w;
    char *errstr;
    size_t errstr_size;
};

static int add_strat(eoc_worker_t *w, const char *topic, const char *spec, char *errstr,
                     size_t errstr_size)
{
    struct eoc__strat *s = realloc(w->strats, (w->nstrats + 1) * sizeof(*s));
    if (!s) {
        eoc__errf(errstr, errstr_size, EOC_ERR_NOMEM, "out of memory");
        return -1;
    }
    w->strats = s;
    s = &w->strats[w->nstrats];
    s->topic = NULL;
    if (topic && !(s->topic = strdup(topic))) {
        eoc__errf(errstr, errstr_size, EOC_ERR_NOMEM, "out of memory");
        return -1;
    }
    if (eoc__msgid_parse(&s->id, spec, errstr, errstr_size) != EOC_OK) {
        free(s->topic);
        return -1;
    }
    w->nstrats++;
    return 0;
}

static int strat_one(void *opaque, const char *topic, const char *spec)
{
    struct strat_ctx *c = opaque;
    return add_strat(c->w, topic, spec, c->errstr, c->errstr_size);
}

/* ------------------------------------------------------------------ */
/* the consumer's error and statistics callbacks                      */
/* ------------------------------------------------------------------ */

static void on_consumer_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)rk;
    eoc_worker_t *w = opaque;
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
        atomic_store(&w->stats.brokers_down, 1);
    eoc__log(&w->log, err == RD_KAFKA_RESP_ERR__FATAL ? EOC_LOG_ERR : EOC_LOG_WARNING,
             "consumer: %s", reason);
    if (err == RD_KAFKA_RESP_ERR__FATAL) { /* as a fatal error polled as a message */
        atomic_store(&w->stats.fatal, EOC_ERR_FATAL);
        atomic_store(&w->stop, 1);
    }
}

static int64_t json_int(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : 0;
}

/* The summary of librdkafka's statistics that /metrics shows, then the
 * user's callback. */
static int on_consumer_stats(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
    (void)rk;
    eoc_worker_t *w = opaque;
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (root) {
        int64_t lag = 0, rtt = 0, up = 0;
        const cJSON *b, *t, *p;
        cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(root, "brokers"))
        {
            const cJSON *src = cJSON_GetObjectItemCaseSensitive(b, "source");
            if (json_int(b, "nodeid") < 0 || !cJSON_IsString(src) ||
                strcmp(src->valuestring, "logical") == 0 ||
                strcmp(src->valuestring, "internal") == 0)
                continue; /* unknown bootstrap, coordinator and internal entries */
            const cJSON *state = cJSON_GetObjectItemCaseSensitive(b, "state");
            up += cJSON_IsString(state) && strcmp(state->valuestring, "UP") == 0;
            int64_t avg = json_int(cJSON_GetObjectItemCaseSensitive(b, "rtt"), "avg");
            rtt = avg > rtt ? avg : rtt;
        }
        cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(root, "topics"))
        {
            cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(t, "partitions"))
            {
                int64_t l = json_int(p, "consumer_lag");
                if (json_int(p, "partition") >= 0 && l > 0)
                    lag += l;
            }
        }
        atomic_store(&w->stats.k_lag_sum, lag);
        atomic_store(&w->stats.k_rtt_us, rtt);
        atomic_store(&w->stats.k_tx_bytes, json_int(root, "tx_bytes"));
        atomic_store(&w->stats.k_rx_bytes, json_int(root, "rx_bytes"));
        atomic_store(&w->stats.k_brokers_up, up);
        atomic_store(&w->stats.k_stats_seen, 1);
        atomic_store(&w->stats.brokers_down, up == 0);
        cJSON_Delete(root);
    }
    if (w->set.kafka_stats_cb)
        w->set.kafka_stats_cb(w->set.kafka_stats_opaque, EOC_KAFKA_CONSUMER, json, len);
    return 0; /* librdkafka frees json */
}

/* ------------------------------------------------------------------ */
/* input topics must exist                                             */
/* ------------------------------------------------------------------ */

/* Edit distance of two short strings (for "did you mean"). */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 250 || lb > 250)
        return (size_t)-1;
    size_t row[256];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/*
 * Fails when an input topic does not exist: the brokers' metadata is
 * awaited for up to input.topics.wait.ms; when no broker answers in that
 * time the worker starts anyway (it is then not ready, see /readyz).
 * Topics are never created (allow.auto.create.topics=false).
 */
static eoc_err_t check_topics(eoc_worker_t *w, char *errstr, size_t errstr_size)
{
    if (w->set.input_topics_wait_ms <= 0)
        return EOC_OK;
    const struct rd_kafka_metadata *md = NULL;
    int64_t deadline = eoc__mono_ms() + w->set.input_topics_wait_ms;
    rd_kafka_resp_err_t e;
    do {
        int64_t left = deadline - eoc__mono_ms();
        e = rd_kafka_metadata(w->rk, 1, NULL, &md, (int)(left > 0 ? left : 1));
    } while (e && e != RD_KAFKA_RESP_ERR__TIMED_OUT && eoc__mono_ms() < deadline &&
             (eoc__sleep_ms(100), 1));
    if (e) {
        eoc__log(&w->log, EOC_LOG_WARNING,
                 "no broker answered within input.topics.wait.ms=%" PRId64
                 " (%s): starting without checking that the input topics exist",
                 w->set.input_topics_wait_ms, rd_kafka_err2str(e));
        return EOC_OK;
    }
    eoc_err_t rc = EOC_OK;
    char *copy = strdup(w->set.input_topics), *save = NULL;
    for (char *t = copy ? strtok_r(copy, ",", &save) : NULL; t && rc == EOC_OK;
         t = strtok_r(NULL, ",", &save)) {
        const char *near = NULL;
        size_t best = (size_t)-1;
        int found = 0;
        for (int i = 0; i < md->topic_cnt && !found; i++) {
            const struct rd_kafka_metadata_topic *mt = &md->topics[i];
            if (strcmp(mt->topic, t) == 0) {
                found = !mt->err || mt->err != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
                continue;
            }
            size_t d = edit_distance(t, mt->topic);
            if (d < best && mt->topic[0] != '_') {
                best = d;
                near = mt->topic;
            }
        }
        if (!found)
            rc = eoc__errf(errstr, errstr_size, EOC_ERR_CONFIG,
                           "input topic \"%s\" does not exist%s%s%s (topics are not created "
                           "automatically: create it, or fix input.topics)",
                           t, near && best <= 2 ? " (did you mean \"" : "",
                           near && best <= 2 ? near : "", near && best <= 2 ? "\"?)" : "");
    }
    free(copy);
    /* Outputs and dead letters wait in the outbox for a missing topic:
     * not a reason to refuse the start, but worth saying now. */
    const char *outs[2] = {w->set.output_topic, w->dlq};
    for (int k = 0; rc == EOC_OK && k < 2; k++) {
        int found = !*outs[k];
        for (int i = 0; i < md->topic_cnt && !found; i++)
            found = strcmp(md->topics[i].topic, outs[k]) == 0;
        if (!found)
            eoc__log(&w->log, EOC_LOG_WARNING,
                     "%s topic \"%s\" does not exist: %s wait in the outbox until it is created "
                     "(topics are not created automatically)",
                     k ? "dead-letter" : "output", outs[k], k ? "dead letters" : "outputs");
    }
    rd_kafka_metadata_destroy(md);
    return rc;
}

static eoc_err_t setup_consumer(eoc_worker_t *w, char *errstr, size_t errstr_size)
{
    char err[512];
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    static const char *const defaults[][2] = {
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"auto.offset.reset", "earliest"},
        {"partition.assignment.strategy", "cooperative-sticky"},
        {"enable.partition.eof", "false"},
        /* The worker pauses polling while it commits, so the prefetch queue
         * fills up. With the high-level consumer librdkafka 2.0 counts this
         * threshold over the whole consumer queue, and a partition that
         * finds it reached backs off fetching for up to a second: at the
         * default (100000) a busy worker stalls about once per 100000
         * records. queued.max.messages.kbytes (64 MiB) still bounds it. */
        {"queued.min.messages", "1000000"},
    };
    for (size_t i = 0; i < COUNTOF(defaults); i++)
        rd_kafka_conf_set(kc, defaults[i][0], defaults[i][1], NULL, 0);
    /* With /metrics on, statistics feed its eoc_kafka_* summary and tell
     * /readyz whether a broker is up (kafka.statistics.interval.ms wins). */
    if (*w->set.metrics_listen)
        rd_kafka_conf_set(kc, "statistics.interval.ms", "10000", NULL, 0);
    if (rd_kafka_conf_set(kc, "group.id", w->set.group_id, err, sizeof(err)) ||
        eoc__kafka_conf_build(kc, w->conf, EOC_KAFKA_CONSUMER, err, sizeof(err))) {
        rd_kafka_conf_destroy(kc);
        return eoc__errf(errstr, errstr_size, EOC_ERR_CONFIG, "%s", err);
    }
    /* These are the protocol: a user may not turn them back on. Reading
     * uncommitted transactional input would apply records of transactions
     * that abort later. */
    rd_kafka_conf_set(kc, "enable.auto.commit", "false", NULL, 0);
    rd_kafka_conf_set(kc, "enable.auto.offset.store", "false", NULL, 0);
    rd_kafka_conf_set(kc, "isolation.level", "read_committed", NULL, 0);
    /* A worker never creates a topic: a misspelt input fails the start. */
    rd_kafka_conf_set(kc, "allow.auto.create.topics", "false", NULL, 0);
    rd_kafka_conf_set_opaque(kc, w);
    rd_kafka_conf_set_error_cb(kc, on_consumer_error);
    rd_kafka_conf_set_stats_cb(kc, on_consumer_stats);
    rd_kafka_conf_set_rebalance_cb(kc, eoc__rebalance_cb);
    rd_kafka_conf_set_offset_commit_cb(kc, eoc__offsets_commit_cb);
    eoc__kafka_conf_log(kc);
    if (!(w->rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, err, sizeof(err)))) {
        rd_kafka_conf_destroy(kc);
        return eoc__errf(errstr, errstr_size, EOC_ERR_KAFKA, "cannot create consumer: %s", err);
    }
    rd_kafka_poll_set_consumer(w->rk);
    eoc_err_t terr = check_topics(w, errstr, errstr_size);
    if (terr != EOC_OK)
        return terr;

    const char *topics = w->set.input_topics;
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(4);
    char *copy = strdup(topics), *save = NULL;
    for (char *t = copy ? strtok_r(copy, ",", &save) : NULL; t; t = strtok_r(NULL, ",", &save))
        rd_kafka_topic_partition_list_add(sub, t, RD_KAFKA_PARTITION_UA);
    free(copy);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(w->rk, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    if (e)
        return eoc__errf(errstr, errstr_size, EOC_ERR_KAFKA, "subscribe: %s", rd_kafka_err2str(e));
    return EOC_OK;
}

eoc_worker_t *eoc_worker_new(eoc_conf_t *conf, eoc_handler_fn *handler, void *opaque, char *errstr,
                             size_t errstr_size)
{
    if (!conf || !handler) {
        eoc__errf(errstr, errstr_size, EOC_ERR_INVALID_ARG, "conf and handler are required");
        return NULL;
    }
    eoc__settings_t set;
    eoc__settings_read(conf, &set);
    const char *missing = !*set.data_dir       ? "data.dir"
                          : !*set.group_id     ? "group.id"
                          : !*set.input_topics ? "input.topics"
                                               : NULL;
    if (missing) {
        eoc__errf(errstr, errstr_size, EOC_ERR_CONFIG, "%s is required", missing);
        return NULL;
    }
    if (!eoc_conf_get(conf, "kafka.bootstrap.servers")) {
        eoc__errf(errstr, errstr_size, EOC_ERR_CONFIG,
                  "kafka.bootstrap.servers is required (for a local run start the development "
                  "Kafka: eoc-kafka-dev)");
        return NULL;
    }
    eoc_worker_t *w = calloc(1, sizeof(*w));
    if (!w) {
        eoc__errf(errstr, errstr_size, EOC_ERR_NOMEM, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->conf = conf;
    w->handler = handler;
    w->opaque = opaque;
    w->set = set;
    eoc__log_init(&w->log, &w->set, "worker");
    atomic_init(&w->logp, &w->log);
    w->fill = &w->bat[0];
    /* Growth under backlog (batch_due): by default only with the default
     * batch size; a batch size of one's own choosing is kept as it is. */
    eoc__settings_t *ws = &w->set;
    if (!ws->batch_backlog_max_records)
        ws->batch_backlog_max_records =
            ws->batch_max_records == BATCH_DEFAULT ? BATCH_BACKLOG_DEFAULT : ws->batch_max_records;
    if (ws->batch_backlog_max_records < ws->batch_max_records)
        ws->batch_backlog_max_records = ws->batch_max_records;
    size_t cap = (size_t)ws->batch_backlog_max_records;
    if (eoc__batch_init(&w->bat[0], 0, cap) != 0 || eoc__batch_init(&w->bat[1], 1, cap) != 0) {
        eoc__errf(errstr, errstr_size, EOC_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if (*set.dlq_topic)
        snprintf(w->dlq, sizeof(w->dlq), "%s", set.dlq_topic);
    else
        snprintf(w->dlq, sizeof(w->dlq), "%s.dlq", set.group_id);

    struct strat_ctx sc = {w, errstr, errstr_size};
    if (add_strat(w, NULL, set.id_strategy, errstr, errstr_size) != 0 ||
        eoc__conf_foreach_prefix(conf, "id.strategy.", strat_one, &sc) != 0)
        goto fail;
    if (eoc__store_open(set.data_dir, (uint64_t)set.store_map_size, 0, &w->log, &w->store, errstr,
                        errstr_size) != EOC_OK)
        goto fail;
    /* eos.mode=kafka: outputs go out in the batch's Kafka transaction; no relay. */
    if (set.eos_mode == EOC__EOS_KAFKA && !eoc__km_create(w, errstr, errstr_size))
        goto fail;
    if (set.relay_enable && set.eos_mode != EOC__EOS_KAFKA &&
        !(w->relay = eoc__relay_create(w->store, conf, &w->set, &w->log, errstr, errstr_size)))
        goto fail;
    if (setup_consumer(w, errstr, errstr_size) != EOC_OK)
        goto fail;
    eoc__metrics_src_t src;
    eoc__worker_metrics_src(w, &src);
    if (*set.metrics_listen && !(w->metrics = eoc__metrics_start(&src, errstr, errstr_size)))
        goto fail;
    return w;
fail:
    w->conf = NULL; /* ownership stays with the caller on failure */
    eoc_worker_destroy(w);
    return NULL;
}

void eoc_worker_stop(eoc_worker_t *w)
{
    /* Only the flag: eoc_worker_run stops the relay itself, after the last
     * batch committed, so the drain publishes that batch too. */
    atomic_store(&w->stop, 1);
}

static void *relay_main(void *arg)
{
    pthread_setname_np(pthread_self(), "eoc-relay");
    eoc__relay_run(arg);
    return NULL;
}

int eoc__prune_due(eoc_worker_t *w)
{
    int64_t now = eoc__mono_ms();
    if ((w->set.inbox_retention_ms <= 0 && w->set.inbox_retention_count <= 0) ||
        (w->last_prune && now - w->last_prune < w->set.inbox_prune_interval_ms))
        return 0;
    w->last_prune = now;
    return 1;
}

static void maybe_prune(eoc_worker_t *w)
{
    if (w->km || !eoc__prune_due(w)) /* eos.mode=kafka prunes inside its batches (txn.c) */
        return;
    uint64_t n = 0;
    if (eoc__store_prune(w->store, w->set.inbox_retention_ms, w->set.inbox_retention_count, 10000,
                         &n) == EOC_OK &&
        n) {
        eoc__count(&w->stats.inbox_pruned, n);
        eoc__log(&w->log, EOC_LOG_DEBUG, "inbox retention pruned %" PRIu64 " entries", n);
    }
}

/* Closes the consumer (revoke, offset commit, leave the group) through a
 * queue, so a stop with every broker down ends within CLOSE_TIMEOUT_MS
 * instead of waiting for them. */
static void consumer_close(eoc_worker_t *w)
{
    rd_kafka_queue_t *q = rd_kafka_queue_new(w->rk);
    rd_kafka_error_t *e = rd_kafka_consumer_close_queue(w->rk, q);
    if (e) {
        eoc__log(&w->log, EOC_LOG_WARNING, "consumer close: %s", rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    }
    int64_t deadline = eoc__mono_ms() + CLOSE_TIMEOUT_MS;
    while (!e && !rd_kafka_consumer_closed(w->rk) && eoc__mono_ms() < deadline) {
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 100);
        if (ev && rd_kafka_event_type(ev) == RD_KAFKA_EVENT_REBALANCE)
            eoc__rebalance_cb(w->rk, rd_kafka_event_error(ev),
                              rd_kafka_event_topic_partition_list(ev), w);
        if (ev)
            rd_kafka_event_destroy(ev);
    }
    w->closed = rd_kafka_consumer_closed(w->rk);
    if (!w->closed)
        eoc__log(&w->log, EOC_LOG_WARNING,
                 "left without a clean group leave (brokers unreachable); the group moves the "
                 "partitions after session.timeout.ms");
    rd_kafka_queue_destroy(q);
}

/* While behind, logs the catch-up progress every log.progress.interval.ms:
 * records behind (cached high watermarks minus committed offsets of the
 * assigned partitions), the rate since the last line and the time left. */
static void maybe_progress(eoc_worker_t *w, int64_t now)
{
    int64_t every = w->set.log_progress_interval_ms;
    if (every <= 0 || now - w->progress_at < every)
        return;
    uint64_t done = atomic_load(&w->stats.applied) + atomic_load(&w->stats.duplicates) +
                    atomic_load(&w->stats.dead_letters) + atomic_load(&w->stats.skipped);
    int64_t since = now - w->progress_at;
    int first = w->progress_at == 0;
    w->progress_at = now;
    rd_kafka_topic_partition_list_t *a = NULL;
    if (rd_kafka_assignment(w->rk, &a) || !a)
        return;
    int64_t behind = 0;
    int known = 0;
    for (int i = 0; i < a->cnt; i++) {
        int64_t lo, hi;
        eoc__part_t *p = eoc__parts_get(w, a->elems[i].topic, a->elems[i].partition);
        int64_t c = p ? atomic_load(&p->st.committed) : -1;
        if (c < 0 ||
            rd_kafka_get_watermark_offsets(w->rk, a->elems[i].topic, a->elems[i].partition, &lo,
                                           &hi) ||
            hi < 0)
            continue;
        known++;
        behind += hi > c ? hi - c : 0;
    }
    int parts = a->cnt;
    rd_kafka_topic_partition_list_destroy(a);
    double rate = !first && since > 0 ? (double)(done - w->progress_done) * 1000.0 / (double)since
                                      : 0.0;
    w->progress_done = done;
    if (!known)
        return;
    if (behind > 0) {
        char left[48] = "unknown";
        if (rate >= 1.0) {
            double s = (double)behind / rate;
            snprintf(left, sizeof(left), "%.0fs", s);
        }
        eoc__kv_t kv[] = {EOC__KV_I("records_behind", behind),
                          EOC__KV_I("rate_per_s", (int64_t)(rate + 0.5)),
                          EOC__KV_S("time_left", left), EOC__KV_I("partitions", parts)};
        eoc__log_kv(&w->log, EOC_LOG_INFO, kv, COUNTOF(kv), "catching up");
        w->progress_behind = 1;
    } else if (w->progress_behind) {
        eoc__log(&w->log, EOC_LOG_INFO, "caught up on %d partition(s)", parts);
        w->progress_behind = 0;
    }
}

/* Whether the filling batch is due: old enough, or full. Full is
 * batch.max.records while the apply thread idles; while it still commits
 * the previous batch, the batch grows (to batch.backlog.max.records)
 * instead of waiting, so a deeper queue makes larger commits and the
 * durable commit's cost is spread over more records. `polled`: a message
 * came with this poll (without one, nothing is gained by waiting). */
static int batch_due(eoc_worker_t *w, int64_t now, int polled)
{
    const eoc__batch_t *b = w->fill;
    if (!b->n)
        return 0;
    if (now - b->first_ms >= w->set.batch_max_ms || b->n >= b->cap)
        return 1;
    if ((int64_t)b->n < w->set.batch_max_records)
        return 0;
    /* The apply thread's state is asked every 64 records, not every one. */
    if (polled && ((b->n - (size_t)w->set.batch_max_records) & 63))
        return 0;
    return eoc__pipe_idle(w);
}

/* A record after a gap in its partition's offsets: transaction markers,
 * aborted or compacted records leave gaps, and so does the broker's
 * retention when it deleted records this group had not read yet (the
 * fetch failed out of range and auto.offset.reset moved on). Those are
 * lost to the application; the log says which. */
static void gap_note(eoc_worker_t *w, const rd_kafka_message_t *m, eoc__part_t *p)
{
    if (!p)
        return;
    int64_t expected = p->polled, lo = -1, hi = -1;
    p->polled = m->offset + 1;
    const char *topic = rd_kafka_topic_name(m->rkt);
    if (expected < 0 || m->offset <= expected ||
        rd_kafka_get_watermark_offsets(w->rk, topic, m->partition, &lo, &hi) || lo <= expected)
        return;
    eoc__log(&w->log, EOC_LOG_WARNING,
             "%s[%d]: offsets %" PRId64 "..%" PRId64 " were deleted by the broker (retention) "
             "before this group read them; went on at %" PRId64 " (auto.offset.reset)",
             topic, m->partition, expected, lo - 1, m->offset);
}

eoc_err_t eoc_worker_run(eoc_worker_t *w)
{
    if (w->relay && pthread_create(&w->relay_thread, NULL, relay_main, w->relay) == 0)
        w->relay_started = 1;
    eoc__pipe_start(w);           /* on failure batches are applied on this thread */
    int64_t now = eoc__mono_ms(); /* read once per record (and after waits) */
    int64_t last_skip = now;
    uint64_t t_fill = eoc__stage_clock(); /* consume stage: since the last hand-off */
    uint64_t id_ns = 0;                   /* the ID stage's sum at t_fill */
    while (!atomic_load(&w->stop)) {
        int timeout = POLL_IDLE_MS;
        /* eos.mode=kafka: newly assigned partitions restore in slices of
         * batch.max.ms, taken between batches (never inside a filling one),
         * so the other partitions and the group's polling go on. */
        if (w->km && !w->fill->n && eoc__km_restore_run(w, w->set.batch_max_ms)) {
            timeout = 0;
            now = eoc__mono_ms();
        }
        if (w->fill->n) {
            int64_t left = w->fill->first_ms + w->set.batch_max_ms - now;
            timeout = left > 0 ? (int)left : 0;
            if ((int64_t)w->fill->n >= w->set.batch_max_records && timeout > 1)
                timeout = 1; /* full, growing: hand off as soon as the apply thread idles */
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(w->rk, timeout);
        now = eoc__mono_ms(); /* the poll may have blocked */
        atomic_store_explicit(&w->stats.last_loop_ms, now, memory_order_relaxed);
        if (m && !m->err && atomic_load_explicit(&w->stats.brokers_down, memory_order_relaxed))
            atomic_store(&w->stats.brokers_down, 0);
        eoc__stats_health_publish(&w->stats, w->store, now); /* for /healthz */
        if (!m && !w->fill->n)
            eoc__stage_lap_outer(&w->stages, EOC__STAGE_IDLE, &t_fill, EOC__STAGE_ID, &id_ns);
        eoc__pipe_rewind_run(w, &m); /* a batch failed: drop what came after it */
        if (m && m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                eoc__log(&w->log, EOC_LOG_WARNING, "consumer: %s", rd_kafka_message_errstr(m));
            if (m->err == RD_KAFKA_RESP_ERR__FATAL) {
                char why[512];
                rd_kafka_fatal_error(w->rk, why, sizeof(why));
                eoc__pipe_fatal(w, EOC_ERR_FATAL, "consumer: %s", why);
            }
            rd_kafka_message_destroy(m);
            m = NULL;
        }
        if (m && w->km && eoc__km_restoring(w, m)) {
            rd_kafka_message_destroy(m); /* read again once its restore ends */
            m = NULL;
        }
        eoc__part_t *p = m ? eoc__parts_get(w, rd_kafka_topic_name(m->rkt), m->partition) : NULL;
        if (m)
            gap_note(w, m, p);
        if (m && eoc__careful_wants(w, m, p))
            eoc__careful_apply(w, m, now);
        else if (m && eoc__pipe_add(w, m, p, now) != 0)
            eoc__pipe_rewind_message(w, m); /* out of memory: read it again */
        if (w->km && eoc__pipe_idle(w) && eoc__km_catch_up(w))
            now = eoc__mono_ms();
        if (batch_due(w, now, m != NULL)) {
            eoc__stage_lap_outer(&w->stages, EOC__STAGE_CONSUME, &t_fill, EOC__STAGE_ID, &id_ns);
            eoc__pipe_hand_off(w); /* may wait for the apply thread */
            eoc__stage_lap(&w->stages, EOC__STAGE_HANDOFF, &t_fill);
            now = eoc__mono_ms();
        }
        if (!w->fill->n && eoc__pipe_idle(w)) {
            eoc__offsets_sync(w);
            if (now - last_skip >= SKIP_EVERY_MS) {
                eoc__offsets_skip_unseen(w);
                last_skip = now;
            }
            maybe_prune(w);
        }
        maybe_progress(w, now);
    }

    /* Drain: the batches, then the outbox, then offsets and the group. */
    eoc__pipe_wait(w);
    if (!atomic_load(&w->stats.fatal) && w->km)
        eoc__km_catch_up(w);
    if (!atomic_load(&w->stats.fatal))
        eoc__pipe_apply_fill(w, 0);
    eoc__pipe_drop(w->fill);
    eoc__pipe_stop(w);
    eoc__batch_drop(&w->bat[0]); /* messages go before the consumer */
    eoc__batch_drop(&w->bat[1]);
    eoc__offsets_sync(w);
    if (w->relay_started) {
        eoc__relay_stop(w->relay);
        pthread_join(w->relay_thread, NULL);
        w->relay_started = 0;
    }
    consumer_close(w); /* revoke: offset commit, leave group; bounded */
    eoc_err_t fatal = atomic_load(&w->stats.fatal);
    eoc__log(&w->log, fatal ? EOC_LOG_ERR : EOC_LOG_INFO, "worker stopped%s%s", fatal ? ": " : "",
             fatal ? eoc_strerror(fatal) : "");
    return fatal;
}

eoc_err_t eoc_worker_fatal_error(eoc_worker_t *w, char *errstr, size_t errstr_size)
{
    eoc_err_t err = atomic_load(&w->stats.fatal);
    if (errstr && errstr_size)
        snprintf(errstr, errstr_size, "%s", err ? w->fatal_reason : "");
    return err;
}

void eoc_worker_stats(eoc_worker_t *w, eoc_stats_t *out)
{
    eoc__stats_totals(&w->stats, w->relay, w->store, out);
}

const char *const eoc__stage_names[EOC__STAGE_N] = {
    [EOC__STAGE_CONSUME] = "consume",     [EOC__STAGE_ID] = "id+hash",
    [EOC__STAGE_HANDOFF] = "hand-off",    [EOC__STAGE_APPLY] = "apply",
    [EOC__STAGE_REMOVE] = "removal",      [EOC__STAGE_COMMIT] = "commit",
    [EOC__STAGE_RELAY_READ] = "relay-read", [EOC__STAGE_PRODUCE] = "produce",
    [EOC__STAGE_DELIVERY] = "delivery",
};

void eoc__worker_stages(eoc_worker_t *w, uint64_t ns[EOC__STAGE_N])
{
    const eoc__stages_t *rs = w->relay ? eoc__relay_stages(w->relay) : NULL;
    for (int i = 0; i < EOC__STAGE_N; i++)
        ns[i] = atomic_load(&w->stages.ns[i]) + (rs ? atomic_load(&rs->ns[i]) : 0);
}

void eoc_worker_destroy(eoc_worker_t *w)
{
    if (!w)
        return;
    eoc__metrics_stop(w->metrics); /* reads the consumer and the store */
    /* librdkafka before 2.3.0 asserts in the cooperative-sticky assignor
     * when a consumer that never got an assignment is destroyed
     * (librdkafka issue #4312). Such a consumer is closed but not
     * destroyed, and the worker struct it logs through stays allocated
     * (with logging off): a one-off leak instead of an abort. */
    int leak = w->rk && !w->assigned_once && rd_kafka_version() < 0x020300ff;
    if (w->rk && !leak)
        rd_kafka_destroy_flags(w->rk, w->closed ? 0 : RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    eoc__relay_destroy(w->relay);
    eoc__km_destroy(w->km);
    eoc__store_close(w->store);
    for (size_t i = 0; i < w->nstrats; i++) {
        free(w->strats[i].topic);
        eoc__msgid_clear(&w->strats[i].id);
    }
    free(w->strats);
    eoc__batch_free(&w->bat[0]); /* before the partitions they point to */
    eoc__batch_free(&w->bat[1]);
    if (w->rewind)
        rd_kafka_topic_partition_list_destroy(w->rewind);
    if (w->undurable)
        rd_kafka_topic_partition_list_destroy(w->undurable);
    eoc__apply_notes_clear(w);
    free(w->dl_notes);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    eoc__parts_free(w);
    if (leak) {
        atomic_store(&w->logp, NULL);
        return; /* w->conf and w stay: the consumer's threads still read them */
    }
    eoc_conf_destroy(w->conf);
    free(w);
}

void eoc__worker_metrics_src(eoc_worker_t *w, eoc__metrics_src_t *out)
{
    out->stats = &w->stats;
    out->store = w->store;
    out->relay = w->relay;
    out->rk = w->rk;
    out->settings = &w->set;
}
