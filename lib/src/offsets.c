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

/* A read_committed consumer never sees transaction markers and aborted
 * records, yet they take offsets: input that ends with them would leave
 * the stored position (the last applied record's next offset) below the
 * partition's end for good, a lag that never drains. librdkafka moves the
 * consumer's position past them; when the worker idles with every record
 * it got from a partition applied and committed (the store's position is
 * where polling left off: no rewind pending or under way), the store's
 * position follows the consumer's (one small commit, synced, then the
 * offsets go to Kafka). */
void eoc__offsets_skip_unseen(eoc_worker_t *w)
{
    rd_kafka_topic_partition_list_t *l = NULL;
    if (atomic_load(&w->rewind_flag) || rd_kafka_assignment(w->rk, &l) || !l)
        return;
    rd_kafka_position(w->rk, l);
    int began = 0, n = 0;
    for (int i = 0; i < l->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &l->elems[i];
        eoc__part_t *p = eoc__parts_get(w, tp->topic, tp->partition);
        int64_t c = p ? atomic_load(&p->st.committed) : -1;
        if (tp->err || tp->offset < 0 || c < 0 || !p || p->polled != c || tp->offset <= c) {
            tp->offset = RD_KAFKA_OFFSET_INVALID;
            continue;
        }
        if (!began && eoc__store_begin(w->store) != EOC_OK)
            break;
        began = 1;
        if (eoc__store_offset_set(w->store, tp->topic, tp->partition, tp->offset) != EOC_OK) {
            eoc__store_abort(w->store);
            began = 0;
            break;
        }
        n++;
    }
    if (began && eoc__store_commit(w->store) == EOC_OK && eoc__store_sync(w->store) == EOC_OK) {
        rd_kafka_topic_partition_list_t *k = rd_kafka_topic_partition_list_new(n);
        for (int i = 0; i < l->cnt; i++) {
            rd_kafka_topic_partition_t *tp = &l->elems[i];
            if (tp->offset < 0)
                continue;
            eoc__part_t *p = eoc__parts_get(w, tp->topic, tp->partition);
            if (p) {
                atomic_store(&p->st.committed, tp->offset);
                p->polled = tp->offset;
            }
            rd_kafka_topic_partition_list_add(k, tp->topic, tp->partition)->offset = tp->offset;
        }
        eoc__offsets_sync(w); /* the batches' offsets first */
        rd_kafka_commit(w->rk, k, 1);
        rd_kafka_topic_partition_list_destroy(k);
    }
    rd_kafka_topic_partition_list_destroy(l);
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
