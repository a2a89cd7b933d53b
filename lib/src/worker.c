/*
 * worker.c - a worker's life: set-up, the poll loop, the drain at a stop.
 *
 * The poll loop buffers records into the filling batch and hands a full
 * (or old enough) batch to the apply thread (pipeline.c), which applies
 * and commits it (apply.c). Between batches an idle worker puts its last
 * commit's offsets in Kafka (offsets.c) and runs inbox retention.
 * Rebalances (rebalance.c) and careful mode (careful.c) interrupt the loop
 * on this thread. See worker.h for the map of the files and threads.
 */
#include "worker.h"

#include "conf.h"
#include "kafka.h"
#include "util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POLL_IDLE_MS     100
#define CLOSE_TIMEOUT_MS 5000 /* bound on leaving the group during a stop */

/* ------------------------------------------------------------------ */
/* partition table                                                     */
/* ------------------------------------------------------------------ */

static eoc__part_t *part_new(eoc_worker_t *w, const char *topic, int32_t partition)
{
    if (w->nparts == w->capparts) {
        size_t cap = w->capparts ? w->capparts * 2 : 32;
        eoc__part_t **v = realloc(w->parts, cap * sizeof(*v));
        if (!v)
            return NULL;
        w->parts = v;
        w->capparts = cap;
    }
    eoc__part_t *p = calloc(1, sizeof(*p));
    if (!p || !(p->st.topic = strdup(topic))) {
        free(p);
        return NULL;
    }
    p->st.partition = partition;
    atomic_init(&p->st.committed, -1);
    p->bidx[0] = p->bidx[1] = -1;
    p->careful_until = -1;
    if (eoc__stats_add_part(&w->stats, &p->st) != 0) {
        free(p->st.topic);
        free(p);
        return NULL;
    }
    w->parts[w->nparts] = p;
    w->lastpart = w->nparts++;
    return p;
}

eoc__part_t *eoc__worker_part(eoc_worker_t *w, const char *topic, int32_t partition)
{
    if (w->lastpart < w->nparts && w->parts[w->lastpart]->st.partition == partition &&
        strcmp(w->parts[w->lastpart]->st.topic, topic) == 0)
        return w->parts[w->lastpart];
    for (size_t i = 0; i < w->nparts; i++) {
        if (w->parts[i]->st.partition == partition && strcmp(w->parts[i]->st.topic, topic) == 0) {
            w->lastpart = i;
            return w->parts[i];
        }
    }
    return part_new(w, topic, partition);
}

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
    for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++)
        rd_kafka_conf_set(kc, defaults[i][0], defaults[i][1], NULL, 0);
    if (rd_kafka_conf_set(kc, "group.id", w->set.group_id, err, sizeof(err)) ||
        eoc__kafka_conf_apply(kc, w->conf, "kafka.", err, sizeof(err))) {
        rd_kafka_conf_destroy(kc);
        return eoc__errf(errstr, errstr_size, EOC_ERR_CONFIG, "%s", err);
    }
    /* These are the protocol: a user may not turn them back on. */
    rd_kafka_conf_set(kc, "enable.auto.commit", "false", NULL, 0);
    rd_kafka_conf_set(kc, "enable.auto.offset.store", "false", NULL, 0);
    rd_kafka_conf_set_opaque(kc, w);
    rd_kafka_conf_set_rebalance_cb(kc, eoc__rebalance_cb);
    rd_kafka_conf_set_offset_commit_cb(kc, eoc__offsets_commit_cb);
    eoc__kafka_conf_log(kc);
    if (!(w->rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, err, sizeof(err)))) {
        rd_kafka_conf_destroy(kc);
        return eoc__errf(errstr, errstr_size, EOC_ERR_KAFKA, "cannot create consumer: %s", err);
    }
    rd_kafka_poll_set_consumer(w->rk);

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

eoc_worker_t *eoc_worker_new(eoc_conf_t *conf, eoc_handler_fn handler, void *opaque, char *errstr,
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
    if (eoc__batch_init(&w->bat[0], 0, (size_t)set.batch_max_records) != 0 ||
        eoc__batch_init(&w->bat[1], 1, (size_t)set.batch_max_records) != 0) {
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
    if (set.relay_enable &&
        !(w->relay = eoc__relay_create(w->store, conf, &w->set, &w->log, errstr, errstr_size)))
        goto fail;
    if (setup_consumer(w, errstr, errstr_size) != EOC_OK)
        goto fail;
    if (*set.metrics_listen && !(w->metrics = eoc__metrics_start(w, errstr, errstr_size)))
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

static void maybe_prune(eoc_worker_t *w)
{
    int64_t now = eoc__mono_ms();
    if ((w->set.inbox_retention_ms <= 0 && w->set.inbox_retention_count <= 0) ||
        (w->last_prune && now - w->last_prune < w->set.inbox_prune_interval_ms))
        return;
    w->last_prune = now;
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

/* Whether the filling batch is due: full or old enough. */
static int batch_due(const eoc_worker_t *w, int64_t now)
{
    const eoc__batch_t *b = w->fill;
    return b->n &&
           ((int64_t)b->n >= w->set.batch_max_records || now - b->first_ms >= w->set.batch_max_ms);
}

eoc_err_t eoc_worker_run(eoc_worker_t *w)
{
    if (w->relay && pthread_create(&w->relay_thread, NULL, relay_main, w->relay) == 0)
        w->relay_started = 1;
    eoc__pipe_start(w);           /* on failure batches are applied on this thread */
    int64_t now = eoc__mono_ms(); /* read once per record (and after waits) */
    while (!atomic_load(&w->stop)) {
        int timeout = POLL_IDLE_MS;
        if (w->fill->n) {
            int64_t left = w->fill->first_ms + w->set.batch_max_ms - now;
            timeout = left > 0 ? (int)left : 0;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(w->rk, timeout);
        now = eoc__mono_ms();        /* the poll may have blocked */
        eoc__stats_health_publish(&w->stats, w->store, now); /* for /healthz */
        eoc__pipe_rewind_run(w, &m); /* a batch failed: drop what came after it */
        if (m && m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                eoc__log(&w->log, EOC_LOG_WARNING, "consumer: %s", rd_kafka_message_errstr(m));
            if (m->err == RD_KAFKA_RESP_ERR__FATAL) {
                atomic_store(&w->stats.fatal, EOC_ERR_FATAL);
                atomic_store(&w->stop, 1);
            }
            rd_kafka_message_destroy(m);
            m = NULL;
        }
        if (m && eoc__careful_wants(w, m))
            eoc__careful_apply(w, m, now);
        else if (m && eoc__pipe_add(w, m, now) != 0)
            eoc__pipe_rewind_message(w, m); /* out of memory: read it again */
        if (batch_due(w, now)) {
            eoc__pipe_hand_off(w); /* may wait for the apply thread */
            now = eoc__mono_ms();
        }
        if (!w->fill->n && eoc__pipe_idle(w)) {
            eoc__offsets_sync(w);
            maybe_prune(w);
        }
    }

    /* Drain: the batches, then the outbox, then offsets and the group. */
    eoc__pipe_wait(w);
    if (!atomic_load(&w->stats.fatal))
        eoc__apply_batch(w, w->fill, 0);
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

void eoc_worker_stats(eoc_worker_t *w, eoc_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    out->consumed = atomic_load(&w->stats.consumed);
    out->applied = atomic_load(&w->stats.applied);
    out->duplicates = atomic_load(&w->stats.duplicates);
    out->dead_letters = atomic_load(&w->stats.dead_letters);
    out->skipped = atomic_load(&w->stats.skipped);
    out->retries = atomic_load(&w->stats.retries);
    out->batches = atomic_load(&w->stats.batches);
    out->commit_failures = atomic_load(&w->stats.commit_failures);
    out->rebalances = atomic_load(&w->stats.rebalances);
    out->inbox_pruned = atomic_load(&w->stats.inbox_pruned);
    if (w->relay) {
        eoc__relay_stats_t rs;
        eoc__relay_stats(w->relay, &rs);
        out->published = rs.published;
        out->relay_errors = rs.errors;
    }
    eoc__store_outbox_info(w->store, &out->outbox_backlog, &out->outbox_oldest_ms);
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
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    for (size_t i = 0; i < w->nparts; i++) {
        free(w->parts[i]->st.topic);
        free(w->parts[i]);
    }
    free(w->parts);
    eoc__stats_free(&w->stats);
    if (leak) {
        atomic_store(&w->logp, NULL);
        return; /* w->conf and w stay: the consumer's threads still read them */
    }
    eoc_conf_destroy(w->conf);
    free(w);
}

void eoc__worker_metrics_src(eoc_worker_t *w, eoc__metrics_src_t *out)
{
    out->worker = w;
    out->stats = &w->stats;
    out->store = w->store;
    out->rk = w->rk;
    out->settings = &w->set;
}
