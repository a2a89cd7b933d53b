/*
 * careful.c - the crash-loop guard.
 *
 * A record whose handler kills the process would otherwise be polled,
 * handled and crash again forever. On assignment a partition whose
 * previous owner did not release it cleanly (its live marker is still set)
 * counts a crash at its stored offset. After CRASHES_FOR_CAREFUL crashes
 * at the same offset the first batch.max.records records of that partition
 * are applied one at a time, each with its attempt count committed before
 * the handler runs, and a record that already crashed the process
 * handler.max.crashes times is dead-lettered without calling the handler.
 * The markers and counts live in the store's meta keyspace (store.h).
 *
 * In eos.mode=kafka they are the host's own (no changelog carries them):
 * crashes count at the offset this host's store last committed, careful
 * mode starts at the first record received (txn.c), and a record that
 * kills the process is counted by each host that owned its partition when
 * it died and gets it back, so the guard fires after handler.max.crashes
 * deaths on one host.
 */
#include "careful.h"

#include "worker_int.h"

#include <inttypes.h>

#define CRASHES_FOR_CAREFUL 2

eoc_err_t eoc__careful_assign(eoc__store_t *s, const eoc_log_t *log, int64_t span, eoc__part_t *p,
                              const char *topic, int32_t partition, int64_t off)
{
    int live = 0;
    eoc_err_t err = eoc__store_live_get(s, topic, partition, &live);
    if (p) {
        p->careful_until = -1;
        p->careful_first = 0;
    }
    if (err == EOC_OK && live) {
        /* A partition with no stored offset crashed before its first
         * commit: its crashes count at "the start" (UINT64_MAX). */
        uint64_t here = off >= 0 ? (uint64_t)off : UINT64_MAX, at = 0, n = 0;
        err = eoc__store_crashes_get(s, topic, partition, &at, &n);
        n = at == here ? n + 1 : 1;
        if (err == EOC_OK)
            err = eoc__store_crashes_set(s, topic, partition, here, n);
        eoc__log(log, EOC_LOG_WARNING,
                 "%s[%d]: previous owner stopped uncleanly at offset %" PRId64 " (%" PRIu64
                 " time(s) there)",
                 topic, partition, off, n);
        if (n >= CRASHES_FOR_CAREFUL && p && off >= 0)
            p->careful_until = off + span;
        else if (n >= CRASHES_FOR_CAREFUL && p)
            p->careful_first = 1; /* from the first record it gets */
    }
    if (err == EOC_OK)
        err = eoc__store_live_set(s, topic, partition, 1);
    return err;
}

eoc_err_t eoc__careful_revoke(eoc__store_t *s, const char *topic, int32_t partition)
{
    return eoc__store_live_set(s, topic, partition, 0);
}

eoc_err_t eoc__careful_assign_list(eoc_worker_t *w, const rd_kafka_topic_partition_list_t *parts)
{
    eoc_err_t err = EOC_OK;
    for (int i = 0; err == EOC_OK && i < parts->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &parts->elems[i];
        int64_t off = tp->offset == RD_KAFKA_OFFSET_INVALID ? -1 : tp->offset;
        err = eoc__careful_assign(w->store, &w->log, w->set.batch_max_records,
                                  eoc__parts_get(w, tp->topic, tp->partition), tp->topic,
                                  tp->partition, off);
    }
    return err;
}

eoc_err_t eoc__careful_revoke_list(eoc__store_t *s, const rd_kafka_topic_partition_list_t *parts)
{
    eoc_err_t err = EOC_OK;
    for (int i = 0; err == EOC_OK && i < parts->cnt; i++)
        err = eoc__careful_revoke(s, parts->elems[i].topic, parts->elems[i].partition);
    return err;
}

int eoc__careful_wants(eoc_worker_t *w, const rd_kafka_message_t *m, eoc__part_t *p)
{
    if (p && p->careful_first) {
        p->careful_until = m->offset + w->set.batch_max_records;
        p->careful_first = 0;
    }
    return p && p->careful_until >= 0 && m->offset < p->careful_until;
}

int eoc__careful_attempt(eoc__store_t *s, const char *topic, int32_t partition, int64_t offset,
                         int64_t max_crashes)
{
    uint64_t n = 0;
    eoc_err_t err = eoc__store_begin(s);
    if (err != EOC_OK)
        return -1;
    err = eoc__store_attempts_get(s, topic, partition, offset, &n);
    if (err == EOC_OK && (int64_t)n >= max_crashes) {
        eoc__store_abort(s);
        return 1;
    }
    if (err == EOC_OK)
        err = eoc__store_attempts_set(s, topic, partition, offset, n + 1);
    if (err != EOC_OK) {
        eoc__store_abort(s); /* the batch transaction must not stay open */
        return -1;
    }
    return eoc__store_commit(s) == EOC_OK ? 0 : -1; /* a failed commit aborts */
}

void eoc__careful_apply(eoc_worker_t *w, rd_kafka_message_t *m, int64_t now)
{
    eoc__pipe_wait(w);
    if (eoc__pipe_apply_fill(w, 0) != EOC_OK) {
        eoc__pipe_rewind_message(w, m); /* merged with the failed batch's rewind */
        eoc__pipe_rewind_run(w, NULL);
        return;
    }
    if (eoc__pipe_add(w, m, NULL, now) != 0) {
        eoc__pipe_rewind_message(w, m);
        eoc__pipe_rewind_run(w, NULL);
        return;
    }
    int r = eoc__careful_attempt(w->store, rd_kafka_topic_name(m->rkt), m->partition, m->offset,
                                 w->set.handler_max_crashes);
    if (r < 0) {
        eoc__log(&w->log, EOC_LOG_ERR, "could not record a handler attempt");
        eoc__pipe_rewind_batch(w, w->fill);
        eoc__pipe_rewind_run(w, NULL);
        return;
    }
    w->fill->isolate[0] = EOC__APPLY_RERUN;
    eoc__pipe_flush_now(w, r > 0);
}
