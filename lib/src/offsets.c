/*
 * offsets.c - committed offsets go to Kafka, once they are on disk.
 *
 * LMDB holds the positions; Kafka's committed offsets are advisory (tools
 * and lag monitors read them) but must never be ahead of what is on disk:
 * after a power loss the worker would otherwise appear further along than
 * it is. A batch's commit is on disk once the next commit returns or the
 * store syncs (store.h, "Durability"), so each batch's offsets wait in
 * w->undurable for one of the two. Whichever thread owns the store calls
 * these functions (pipeline.c).
 */
#include "worker_int.h"

/* Commits the offsets in w->undurable to Kafka (asynchronous) and forgets
 * them. The caller knows they are on disk in LMDB. */
static void to_kafka(eoc_worker_t *w)
{
    if (!w->undurable)
        return;
    rd_kafka_commit(w->rk, w->undurable, 1);
    rd_kafka_topic_partition_list_destroy(w->undurable);
    w->undurable = NULL;
}

void eoc__offsets_committed(eoc_worker_t *w, const eoc__batch_t *b)
{
    to_kafka(w);
    rd_kafka_topic_partition_list_t *l = eoc__batch_list(b, 0);
    if (l->cnt)
        w->undurable = l;
    else
        rd_kafka_topic_partition_list_destroy(l);
}

void eoc__offsets_sync(eoc_worker_t *w)
{
    if (w->undurable && eoc__store_sync(w->store) == EOC_OK)
        to_kafka(w);
}

void eoc__offsets_forget(eoc_worker_t *w)
{
    if (w->undurable) {
        rd_kafka_topic_partition_list_destroy(w->undurable);
        w->undurable = NULL;
    }
}

void eoc__offsets_commit_now(eoc_worker_t *w, rd_kafka_topic_partition_list_t *l)
{
    to_kafka(w);
    if (!l->cnt)
        return;
    /* Synchronous for a clean hand-over; during a stop it must not block on
     * brokers that are down. */
    rd_kafka_resp_err_t e = rd_kafka_commit(w->rk, l, atomic_load(&w->stop));
    if (e)
        eoc__log(&w->log, EOC_LOG_INFO, "offset commit on revoke: %s (advisory)",
                 rd_kafka_err2str(e));
}

void eoc__offsets_commit_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                            rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
    (void)rk;
    (void)offsets;
    eoc_worker_t *w = opaque;
    if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
        eoc__log(&w->log, EOC_LOG_INFO,
                 "Kafka offset commit: %s (advisory; LMDB holds the positions)",
                 rd_kafka_err2str(err));
}
