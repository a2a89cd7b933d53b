/*
 * rebalance.c - partitions come and go.
 *
 * On assignment each partition starts where LMDB says it is (its stored
 * next offset; Kafka's committed offset or auto.offset.reset when LMDB has
 * none), and careful.c notes who owns it. On a clean revocation the open
 * batch is committed, the partitions' offsets go to Kafka and their live
 * markers are cleared: a clean hand-over. A lost assignment (the group
 * moved on without us) commits nothing. Both run on the polling thread,
 * inside rd_kafka_consumer_poll, after the apply thread idles.
 */
#include "worker_int.h"

#include "util.h"

#include <stdlib.h>
#include <string.h>

/* The positions from the store, then the careful-mode records, in one
 * small durable transaction. */
static void on_assign(eoc_worker_t *w, rd_kafka_topic_partition_list_t *parts)
{
    eoc__pipe_wait(w);
    eoc_err_t err = eoc__store_begin(w->store);
    if (err != EOC_OK) {
        eoc__log(&w->log, EOC_LOG_ERR, "assign: store unavailable (%s); positions from Kafka",
                 eoc_strerror(err));
        return;
    }
    for (int i = 0; i < parts->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &parts->elems[i];
        int64_t off;
        if (eoc__store_offset_get(w->store, tp->topic, tp->partition, &off) == EOC_OK)
            tp->offset = off;
        else
            tp->offset = RD_KAFKA_OFFSET_INVALID; /* Kafka committed / auto.offset.reset */
    }
    for (int i = 0; i < parts->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &parts->elems[i];
        eoc__part_t *p = eoc__parts_get(w, tp->topic, tp->partition);
        if (p && tp->offset >= 0) {
            atomic_store(&p->st.committed, tp->offset);
            p->polled = tp->offset;
        }
    }
    err = eoc__store_end(w->store, eoc__careful_assign_list(w, parts));
    if (err != EOC_OK)
        eoc__log(&w->log, EOC_LOG_ERR,
                 "assign: could not record live markers (%s): a crash loop on these partitions "
                 "goes unnoticed until the next assignment",
                 eoc_strerror(err));
}

/* Commits the open batch, clears the live markers, then sends the
 * partitions' offsets to Kafka once all of it is on disk. */
static void on_revoke(eoc_worker_t *w, rd_kafka_topic_partition_list_t *parts, int lost)
{
    if (lost) {
        eoc__pipe_wait(w);      /* a batch already handed off commits first */
        eoc__offsets_forget(w); /* the group moved on: commit nothing */
        if (w->fill->n) {
            eoc__log(&w->log, EOC_LOG_WARNING,
                     "assignment lost: dropping the unapplied batch of %zu records", w->fill->n);
            eoc__pipe_drop(w->fill);
        }
        return; /* another member may own them now: leave markers, commit nothing */
    }
    if (eoc__pipe_flush_now(w, 0) != EOC_OK)
        return;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(parts->cnt);
    eoc_err_t err = eoc__store_begin(w->store);
    if (err == EOC_OK)
        err = eoc__careful_revoke_list(w->store, parts);
    for (int i = 0; err == EOC_OK && i < parts->cnt; i++) {
        const char *topic = parts->elems[i].topic;
        int32_t partition = parts->elems[i].partition;
        int64_t off;
        if (eoc__store_offset_get(w->store, topic, partition, &off) == EOC_OK)
            rd_kafka_topic_partition_list_add(l, topic, partition)->offset = off;
    }
    if (eoc__store_in_batch(w->store))
        err = eoc__store_end(w->store, err);
    if (err != EOC_OK)
        eoc__log(&w->log, EOC_LOG_ERR,
                 "revoke: could not clear live markers (%s): the next owner counts an unclean "
                 "hand-over",
                 eoc_strerror(err));
    /* The offsets read are committed ones. Everything on disk before Kafka
     * hears of it. */
    if (eoc__store_sync(w->store) == EOC_OK)
        eoc__offsets_commit_now(w, l);
    rd_kafka_topic_partition_list_destroy(l);
}

/* "in[0,1,3] other[2]": the partitions of a list, by topic (in list order). */
static void name_parts(const rd_kafka_topic_partition_list_t *parts, char *buf, size_t size)
{
    size_t off = 0;
    buf[0] = '\0';
    for (int i = 0; i < parts->cnt && off + 1 < size; i++) {
        const char *t = parts->elems[i].topic;
        int first = 1;
        for (int j = 0; j < i && first; j++)
            first = strcmp(parts->elems[j].topic, t) != 0;
        if (!first)
            continue;
        int n = snprintf(buf + off, size - off, "%s%s[", off ? " " : "", t);
        for (int j = i; n > 0 && j < parts->cnt; j++) {
            if (strcmp(parts->elems[j].topic, t) != 0)
                continue;
            off += (size_t)n;
            if (off >= size)
                break;
            n = snprintf(buf + off, size - off, "%s%d", j == i ? "" : ",",
                         (int)parts->elems[j].partition);
        }
        if (n > 0)
            off += (size_t)n;
        if (off < size)
            off += (size_t)snprintf(buf + off, size - off, "]");
    }
    if (off >= size && size > 4)
        memcpy(buf + size - 4, "...", 4);
}

/* The user's rebalance listener (eoc_conf_set_rebalance_cb), after eoc's
 * own handling. */
static void tell_listener(eoc_worker_t *w, eoc_rebalance_event_t ev,
                          const rd_kafka_topic_partition_list_t *parts)
{
    if (!w->set.rebalance_cb)
        return;
    eoc_partition_t one[64] = {{0}};
    eoc_partition_t *v = parts->cnt <= 64 ? one : malloc((size_t)parts->cnt * sizeof(*v));
    if (!v)
        return;
    for (int i = 0; i < parts->cnt; i++)
        v[i] = (eoc_partition_t){parts->elems[i].topic, parts->elems[i].partition,
                                 ev == EOC_REBALANCE_ASSIGNED && parts->elems[i].offset >= 0
                                     ? parts->elems[i].offset
                                     : -1};
    w->set.rebalance_cb(w->set.rebalance_opaque, ev, v, (size_t)parts->cnt);
    if (v != one)
        free(v);
}

void eoc__rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                       rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    char names[512];
    eoc_worker_t *w = opaque;
    /* NULL once the group is terminating (an event served by
     * consumer_close after the leave): the last answer holds, and
     * librdkafka treats any assignment call then as an unassign. */
    const char *protocol = rd_kafka_rebalance_protocol(rk);
    if (protocol)
        w->coop = strcmp(protocol, "COOPERATIVE") == 0;
    int coop = w->coop;
    eoc__count(&w->stats.rebalances, 1);
    rd_kafka_error_t *e = NULL;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        w->assigned_once = 1;
        atomic_store(&w->stats.brokers_down, 0); /* the group coordinator answered */
        if (w->km)
            eoc__km_on_assign(w, parts);
        else
            on_assign(w, parts);
        name_parts(parts, names, sizeof(names));
        eoc__log(&w->log, EOC_LOG_INFO, "assigned %d partition(s): %s", parts->cnt, names);
        if (coop)
            e = rd_kafka_incremental_assign(rk, parts);
        else
            rd_kafka_assign(rk, parts);
        if (w->km)
            eoc__km_after_assign(w, parts); /* paused until restored */
        atomic_store(&w->stats.assigned, (coop ? atomic_load(&w->stats.assigned) : 0) +
                                             (int_fast64_t)parts->cnt);
        tell_listener(w, EOC_REBALANCE_ASSIGNED, parts);
    } else {
        int lost = rd_kafka_assignment_lost(rk);
        if (w->km)
            eoc__km_on_revoke(w, parts, lost);
        else
            on_revoke(w, parts, lost);
        name_parts(parts, names, sizeof(names));
        eoc__log(&w->log, EOC_LOG_INFO, "%s %d partition(s): %s", lost ? "lost" : "revoked",
                 parts->cnt, names);
        if (coop)
            e = rd_kafka_incremental_unassign(rk, parts);
        else
            rd_kafka_assign(rk, NULL);
        int_fast64_t left = coop ? atomic_load(&w->stats.assigned) - parts->cnt : 0;
        atomic_store(&w->stats.assigned, left > 0 ? left : 0);
        tell_listener(w, lost ? EOC_REBALANCE_LOST : EOC_REBALANCE_REVOKED, parts);
    }
    if (e) {
        eoc__log(&w->log, EOC_LOG_ERR, "rebalance: %s", rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    }
}
