/*
 * pipeline.c - the hand-off between the polling thread and the apply
 * thread.
 *
 * The thread that runs eoc_worker_run polls: it owns the consumer, the
 * rebalance callbacks and the filling batch. A full (or old enough) batch
 * is handed to the apply thread, which applies and durably commits it
 * (apply.c) while the next one fills, so polling and the durable commit
 * run in parallel. One batch is applied at a time, in order. Whenever the
 * polling thread needs the store itself (rebalances, careful mode,
 * retention, the final batch) it first waits until the apply thread idles
 * (eoc__pipe_wait), and owns the store until it hands a batch off again.
 *
 * A failed batch leaves its first offsets in w->rewind. The polling thread
 * then drops the batch it is filling (later records of those partitions),
 * and seeks everything back (eoc__pipe_rewind_run): nothing is skipped.
 * Batches that keep failing stop the worker (eoc__pipe_fatal).
 */
#include "worker_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define COMMIT_TRIES 5 /* failed batches in a row before the worker stops */

int eoc__pipe_add(eoc_worker_t *w, rd_kafka_message_t *m, eoc__part_t *p, int64_t now)
{
    if (!p)
        p = eoc__parts_get(w, rd_kafka_topic_name(m->rkt), m->partition);
    if (!p)
        return -1;
    eoc__key_t k;
    char idbuf[EOC_ID_MAX + 1];
    const char *id;
    if (++w->id_sample & (EOC__STAGE_SAMPLE - 1)) {
        eoc__apply_key(w, m, &k, idbuf, &id);
    } else {
        uint64_t t0 = eoc__stage_tick();
        eoc__apply_key(w, m, &k, idbuf, &id);
        eoc__stage_sample(&w->stages, EOC__STAGE_ID, t0);
    }
    if (eoc__batch_add(w->fill, m, p, &k, id, now) != 0)
        return -1;
    eoc__count(&p->st.consumed, 1);
    eoc__count(&w->stats.consumed, 1);
    return 0;
}

void eoc__pipe_drop(eoc__batch_t *b)
{
    eoc__apply_tallies_reset(b);
    eoc__batch_drop(b);
}

/* Merges a position into a seek list: the earliest offset of a partition
 * wins, so nothing between two rewound positions is skipped. */
static void seek_merge(rd_kafka_topic_partition_list_t *into, const char *topic, int32_t partition,
                       int64_t offset)
{
    rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_find(into, topic, partition);
    if (!tp)
        rd_kafka_topic_partition_list_add(into, topic, partition)->offset = offset;
    else if (offset < tp->offset)
        tp->offset = offset;
}

/* Queues positions to seek back to (eoc__pipe_rewind_run); takes l. */
static void rewind_add(eoc_worker_t *w, rd_kafka_topic_partition_list_t *l)
{
    pthread_mutex_lock(&w->mu);
    if (!w->rewind) {
        w->rewind = l;
        l = NULL;
    } else {
        for (int i = 0; i < l->cnt; i++)
            seek_merge(w->rewind, l->elems[i].topic, l->elems[i].partition, l->elems[i].offset);
    }
    atomic_store(&w->rewind_flag, 1);
    pthread_mutex_unlock(&w->mu);
    if (l)
        rd_kafka_topic_partition_list_destroy(l);
}

/* Its partitions must restart where it began (the client has moved past
 * it); the polling thread does that, as it owns the consumer and the newer
 * batch. */
void eoc__pipe_rewind_batch(eoc_worker_t *w, eoc__batch_t *b)
{
    rd_kafka_topic_partition_list_t *l = eoc__batch_list(b, 1);
    eoc__pipe_drop(b);
    rewind_add(w, l);
}

void eoc__pipe_rewind_message(eoc_worker_t *w, rd_kafka_message_t *m)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, rd_kafka_topic_name(m->rkt), m->partition)->offset =
        m->offset;
    rd_kafka_message_destroy(m);
    rewind_add(w, l);
}

void eoc__pipe_rewind_run(eoc_worker_t *w, rd_kafka_message_t **m)
{
    if (!atomic_load(&w->rewind_flag))
        return;
    pthread_mutex_lock(&w->mu);
    rd_kafka_topic_partition_list_t *l = w->rewind;
    w->rewind = NULL;
    atomic_store(&w->rewind_flag, 0);
    pthread_mutex_unlock(&w->mu);
    if (!l)
        return;
    eoc__batch_t *b = w->fill;
    for (size_t i = 0; i < b->npos; i++)
        seek_merge(l, b->pos[i].part->st.topic, b->pos[i].part->st.partition, b->pos[i].first);
    eoc__pipe_drop(b);
    if (m && *m && (*m)->rkt) { /* an error event may name no partition */
        rd_kafka_topic_partition_t *tp =
            rd_kafka_topic_partition_list_find(l, rd_kafka_topic_name((*m)->rkt), (*m)->partition);
        if (tp && (*m)->offset >= tp->offset) {
            rd_kafka_message_destroy(*m);
            *m = NULL;
        }
    }
    rd_kafka_error_t *e = rd_kafka_seek_partitions(w->rk, l, 10000);
    if (e) {
        eoc__log(&w->log, EOC_LOG_WARNING, "seek back after a failed batch: %s",
                 rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    }
    for (int i = 0; i < l->cnt; i++)
        if (l->elems[i].err)
            eoc__log(&w->log, EOC_LOG_WARNING, "seek back %s[%d]: %s", l->elems[i].topic,
                     l->elems[i].partition, rd_kafka_err2str(l->elems[i].err));
    rd_kafka_topic_partition_list_destroy(l);
}

void eoc__pipe_wait(eoc_worker_t *w)
{
    pthread_mutex_lock(&w->mu);
    while (w->pending)
        pthread_cond_wait(&w->cv, &w->mu);
    pthread_mutex_unlock(&w->mu);
    eoc__pipe_rewind_run(w, NULL);
}

int eoc__pipe_idle(eoc_worker_t *w)
{
    pthread_mutex_lock(&w->mu);
    int idle = !w->pending;
    pthread_mutex_unlock(&w->mu);
    return idle;
}

void eoc__pipe_fatal(eoc_worker_t *w, eoc_err_t err, const char *fmt, ...)
{
    if (atomic_exchange(&w->fatal_taken, 1))
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->fatal_reason, sizeof(w->fatal_reason), fmt, ap);
    va_end(ap);
    eoc__log(&w->log, EOC_LOG_ERR, "stopping: %s", w->fatal_reason);
    atomic_store(&w->stats.fatal, err); /* after the reason: see eoc_worker_fatal_error */
    atomic_store(&w->stop, 1);
}

eoc_err_t eoc__pipe_apply(eoc_worker_t *w, eoc__batch_t *b, int crashed)
{
    if (!b->n)
        return EOC_OK;
    eoc_err_t err = eoc__apply_batch(w, b, crashed);
    if (err == EOC_OK) {
        w->failures = 0;
        atomic_store(&w->stats.failing, 0);
        return EOC_OK;
    }
    eoc__count(&w->stats.commit_failures, 1);
    atomic_store(&w->stats.failing, w->failures + 1);
    eoc__log(&w->log, EOC_LOG_ERR,
             "batch of %zu records not committed (%s): rewinding to the last committed offsets",
             b->n, eoc_strerror(err));
    eoc__pipe_rewind_batch(w, b);
    /* A full map may clear (the relay frees outbox pages); a disk that
     * refuses writes (EIO, ENOSPC, EFBIG) is not retried: fail-stop.
     * An aborted Kafka transaction (eos.mode=kafka) is retried for as long
     * as it takes: a rebalance, a broker or a fencing passes. */
    if ((++w->failures >= COMMIT_TRIES && err != EOC_ERR_KAFKA) || err == EOC_ERR_IO)
        eoc__pipe_fatal(
            w, err,
            "%d failed batch commit(s) in a row (%s). Nothing was lost: fix the cause (%s) and "
            "restart; processing resumes from the last commit",
            w->failures, eoc_strerror(err),
            err == EOC_ERR_MAP_FULL ? "raise store.map.size" : "check disk space and I/O");
    else
        eoc__sleep_ms(200LL << (w->failures < 5 ? w->failures : 5));
    return err;
}

eoc_err_t eoc__pipe_apply_fill(eoc_worker_t *w, int crashed)
{
    if (w->km && w->fill->n)
        eoc__km_batch_meta(w, w->fill); /* its transaction's group metadata */
    return eoc__pipe_apply(w, w->fill, crashed);
}

eoc_err_t eoc__pipe_flush_now(eoc_worker_t *w, int crashed)
{
    eoc__pipe_wait(w);
    if (w->km && eoc__km_catch_up(w))
        return EOC_OK; /* the filling batch was dropped */
    eoc_err_t err = eoc__pipe_apply_fill(w, crashed);
    eoc__pipe_rewind_run(w, NULL);
    return err;
}

void eoc__pipe_hand_off(eoc_worker_t *w)
{
    if (!w->apply_started) {
        eoc__pipe_flush_now(w, 0);
        return;
    }
    eoc__pipe_wait(w);
    if (w->km && eoc__km_catch_up(w))
        return; /* the filling batch was dropped */
    eoc__batch_t *b = w->fill;
    if (!b->n)
        return; /* a rewind dropped it */
    if (w->km)
        eoc__km_batch_meta(w, b); /* the group metadata of this moment */
    pthread_mutex_lock(&w->mu);
    w->pending = b;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    w->fill = b == &w->bat[0] ? &w->bat[1] : &w->bat[0];
}

static void *apply_main(void *arg)
{
    eoc_worker_t *w = arg;
    pthread_setname_np(pthread_self(), "eoc-apply"); /* top -H, perf */
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->pending && !w->apply_quit)
            pthread_cond_wait(&w->cv, &w->mu);
        eoc__batch_t *b = w->pending;
        if (!b)
            break;
        pthread_mutex_unlock(&w->mu);
        eoc__pipe_apply(w, b, 0);
        pthread_mutex_lock(&w->mu);
        w->pending = NULL;
        pthread_cond_broadcast(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

int eoc__pipe_start(eoc_worker_t *w)
{
    if (pthread_create(&w->apply_thread, NULL, apply_main, w) != 0)
        return -1;
    w->apply_started = 1;
    return 0;
}

void eoc__pipe_stop(eoc_worker_t *w)
{
    if (!w->apply_started)
        return;
    eoc__pipe_wait(w);
    pthread_mutex_lock(&w->mu);
    w->apply_quit = 1;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->apply_thread, NULL);
    w->apply_started = 0;
}
