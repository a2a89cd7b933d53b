/*
 * apply.c - what happens to a record between the poll and the commit.
 *
 * When a record is buffered (polling thread) its message ID and payload
 * digest are worked out once (eoc__apply_key). A batch is then applied in
 * ONE LMDB write transaction (store.h), so the writer lock is held only
 * while applying, never while waiting on Kafka. For each record, in
 * partition order: drop it if the inbox has its ID (dedupe), run the
 * handler, record the disposition, set the partition's next offset.
 * Commit durably; then hand the offsets to offsets.c (Kafka hears of them
 * once the commit is on disk) and wake the relay. A failed commit aborts
 * the batch and seeks every partition it touched back to where the batch
 * began (pipeline.c), so nothing is skipped.
 *
 * Fast path: handlers run directly in the batch transaction. When one
 * returns anything but OK (or its store write fails), the batch is aborted
 * and applied again with that record isolated in a nested transaction,
 * where it can be retried and rolled back alone. Handlers before it run
 * again, which the contract allows (a handler may run more than once
 * before its effect commits). After MAX_RERUNS reruns every record of the
 * batch is isolated, which bounds the work of a batch full of failures.
 */
#include "worker.h"

#include "crash.h"
#include "handler.h"
#include "idindex.h"
#include "util.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define COMMIT_TRIES 5
#define MAX_RERUNS   3

/* ------------------------------------------------------------------ */
/* the record's ID                                                     */
/* ------------------------------------------------------------------ */

static const eoc__msgid_t *strat_for(const eoc_worker_t *w, const char *topic)
{
    const eoc__msgid_t *def = NULL;
    for (size_t i = 0; i < w->nstrats; i++) {
        if (!w->strats[i].topic)
            def = &w->strats[i].id;
        else if (strcmp(w->strats[i].topic, topic) == 0)
            return &w->strats[i].id;
    }
    return def;
}

void eoc__apply_key(const eoc_worker_t *w, const rd_kafka_message_t *m, eoc__key_t *k, char *idbuf,
                    const char **id)
{
    int too_large = (int64_t)m->len > w->set.record_max_bytes;
    int empty = !m->payload || !m->len;
    const eoc__msgid_t *strat = strat_for(w, rd_kafka_topic_name(m->rkt));
    size_t len = 0;
    eoc__id_status_t st = EOC__ID_MISSING;
    *id = NULL;
    if (!(too_large && strat->kind == EOC__MSGID_JSON))
        st = eoc__msgid_extract(strat, m, idbuf, id, &len);
    if (st == EOC__ID_MISSING && w->set.id_missing == EOC__ID_MISSING_POSITION) {
        len = eoc__msgid_position(m, idbuf);
        *id = idbuf;
        st = EOC__ID_FOUND;
    }
    memset(k, 0, sizeof(*k));
    k->st = (uint8_t)st;
    k->digest = eoc__hash64(m->payload, empty ? 0 : m->len, EOC__DIGEST_SEED);
    if (st == EOC__ID_FOUND) {
        k->id_len = (uint16_t)len;
        k->hash = eoc__store_id_hash(*id, len);
    }
}

/* ------------------------------------------------------------------ */
/* tallies: a batch's counts live in its partitions until it commits   */
/* ------------------------------------------------------------------ */

void eoc__apply_tallies_reset(eoc__batch_t *b)
{
    for (size_t i = 0; i < b->npos; i++)
        memset(&b->pos[i].part->pend, 0, sizeof(b->pos[i].part->pend));
}

static void tallies_publish(eoc_worker_t *w, eoc__batch_t *b)
{
    for (size_t i = 0; i < b->npos; i++) {
        eoc__part_t *p = b->pos[i].part;
        eoc__count(&p->st.applied, p->pend.applied);
        eoc__count(&w->stats.applied, p->pend.applied);
        eoc__count(&p->st.duplicates, p->pend.duplicates);
        eoc__count(&w->stats.duplicates, p->pend.duplicates);
        eoc__count(&p->st.dead_letters, p->pend.dead);
        eoc__count(&p->st.retries, p->pend.retries);
        eoc__count(&w->stats.dead_letters, p->pend.dead);
        eoc__count(&w->stats.retries, p->pend.retries);
        eoc__count(&w->stats.skipped, p->pend.skipped);
    }
    eoc__apply_tallies_reset(b);
}

/* ------------------------------------------------------------------ */
/* dispositions                                                        */
/* ------------------------------------------------------------------ */

/* Writes a dead-letter outbox row for `rec` into the batch transaction,
 * and, when `record` is set and the record has a valid ID, its inbox
 * disposition (so a redelivery is a duplicate). */
static eoc_err_t dead_letter(eoc_worker_t *w, eoc__part_t *p, const eoc_record_t *rec,
                             const char *reason, const char *error, int with_payload, int record)
{
    const rd_kafka_message_t *m = rec->msg;
    char idbuf[EOC_ID_MAX + 1], posbuf[EOC_ID_MAX + 1], ref[EOC_ID_MAX + 1];
    const char *src_id = rec->id;
    size_t src_len = rec->id_len;
    if (!src_id) {
        src_len = eoc__msgid_position(m, posbuf);
        src_id = posbuf;
    }
    size_t n = eoc__id_derive(idbuf, src_id, src_len, "dlq", 3);

    /* Every original header travels with the dead letter (handler.c), then eoc's. */
    eoc_header_t extra[5];
    size_t ne = 0;
    extra[ne++] = (eoc_header_t){"eoc-dlq-reason", reason, strlen(reason)};
    extra[ne++] = (eoc_header_t){"eoc-source-id", src_id, src_len};
    if (error && *error)
        extra[ne++] = (eoc_header_t){"eoc-error", error, strlen(error)};
    if (!with_payload) {
        size_t rl = eoc__msgid_position(m, ref);
        extra[ne++] = (eoc_header_t){"eoc-payload-ref", ref, rl};
    }
    eoc_msg_t out = {w->dlq,
                     EOC_PARTITION_ANY,
                     m->key,
                     m->key_len,
                     with_payload ? m->payload : NULL,
                     with_payload ? m->len : 0,
                     NULL,
                     0};
    /* Publishable before it commits: a payload that would not fit (with
     * the original headers and eoc's) becomes a reference to the record;
     * headers that still would not fit stay with the record too. */
    int64_t limit = eoc__emit_limit(w->conf, w->set.output_max_bytes);
    eoc_err_t err;
    if (with_payload && (int64_t)eoc__dead_wire_size(rec, &out, n, extra, ne) > limit) {
        size_t rl = eoc__msgid_position(m, ref);
        extra[ne++] = (eoc_header_t){"eoc-payload-ref", ref, rl};
        out.value = NULL;
        out.value_len = 0;
    }
    if ((int64_t)eoc__dead_wire_size(rec, &out, n, extra, ne) <= limit)
        err = eoc__outbox_append_dead(w->store, rec, idbuf, n, &out, extra, ne);
    else
        err = eoc__outbox_append(w->store, rec, idbuf, n, &out, extra, ne);
    if (err == EOC_OK && rec->id && record)
        err = eoc__store_inbox_add(
            w->store, rec->id, rec->id_len, rec->topic, m->partition, m->offset,
            eoc__hash64(m->payload, m->payload ? m->len : 0, EOC__DIGEST_SEED), EOC__DISP_DEAD);
    if (err == EOC_OK) {
        p->pend.dead++;
        eoc__log(&w->log, EOC_LOG_WARNING, "dead letter %s[%d]@%" PRId64 " id=%.*s: %s%s%s",
                 rec->topic, m->partition, m->offset, (int)src_len, src_id, reason,
                 error && *error ? ": " : "", error && *error ? error : "");
    }
    return err;
}

/* Fast path: the handler writes straight into the batch transaction. Any
 * result but OK asks for a rerun with this record isolated. */
static eoc_err_t handle_fast(eoc_worker_t *w, eoc__part_t *p, eoc_txn_t *txn, eoc_record_t *rec,
                             const eoc__key_t *k, int *outcome)
{
    eoc__txn_reset(txn, rec);
    eoc_result_t res = w->handler(txn, rec, w->opaque);
    if (res != EOC_HANDLER_OK || txn->store_err) {
        *outcome =
            res == EOC_HANDLER_RETRY && !txn->store_err ? EOC__APPLY_RETRIED : EOC__APPLY_RERUN;
        return EOC_OK;
    }
    eoc_err_t err = eoc__store_inbox_add_hashed(w->store, rec->id, rec->id_len, k->hash, rec->topic,
                                                rec->msg->partition, rec->msg->offset, k->digest,
                                                EOC__DISP_APPLIED);
    if (err == EOC_OK)
        p->pend.applied++;
    return err;
}

/* Isolated: the handler runs in a nested transaction, with bounded retries;
 * a failing record rolls back alone and is dead-lettered. */
static eoc_err_t handle_isolated(eoc_worker_t *w, eoc__part_t *p, eoc_txn_t *txn, eoc_record_t *rec,
                                 const eoc__key_t *k, int64_t first)
{
    for (int64_t attempt = first;; attempt++) {
        if (attempt > 1) {
            if (attempt > w->set.retry_max_attempts) {
                snprintf(txn->error, sizeof(txn->error),
                         "handler asked to retry %" PRId64 " time(s)", attempt - 1);
                return dead_letter(w, p, rec, "handler_error", txn->error, 1, 1);
            }
            p->pend.retries++;
            eoc__log(&w->log, EOC_LOG_INFO,
                     "retry %" PRId64 "/%" PRId64 " of %s[%d]@%" PRId64 "%s%s", attempt - 1,
                     w->set.retry_max_attempts - 1, rec->topic, rec->msg->partition,
                     rec->msg->offset, txn->error[0] ? ": " : "", txn->error);
            eoc__sleep_ms(w->set.retry_backoff_ms << (attempt - 2 < 10 ? attempt - 2 : 10));
        }
        eoc_err_t err = eoc__store_rec_begin(w->store);
        if (err)
            return err;
        eoc__txn_reset(txn, rec);
        eoc_result_t res = w->handler(txn, rec, w->opaque);
        if (txn->store_err) {
            eoc__store_rec_abort(w->store);
            return txn->store_err;
        }
        if (res == EOC_HANDLER_OK) {
            err = eoc__store_inbox_add_hashed(w->store, rec->id, rec->id_len, k->hash, rec->topic,
                                              rec->msg->partition, rec->msg->offset, k->digest,
                                              EOC__DISP_APPLIED);
            if (err == EOC_OK)
                err = eoc__store_rec_commit(w->store);
            else
                eoc__store_rec_abort(w->store);
            if (err == EOC_OK)
                p->pend.applied++;
            return err;
        }
        eoc__store_rec_abort(w->store);
        if (res == EOC_HANDLER_RETRY && attempt < w->set.retry_max_attempts)
            continue;
        if (!txn->error[0])
            snprintf(txn->error, sizeof(txn->error),
                     "handler returned %s after %" PRId64 " attempt(s)",
                     res == EOC_HANDLER_FAIL ? "FAIL" : "RETRY", attempt);
        return dead_letter(w, p, rec, "handler_error", txn->error, 1, 1);
    }
}

/* Dedupe: whether the inbox already holds the record's ID. Returns
 * EOC_ERR_NOT_FOUND to go on with the record, EOC_OK when it got its
 * disposition here (a duplicate, or a collision dead-lettered), or a store
 * error. */
static eoc_err_t dedupe(eoc_worker_t *w, eoc__part_t *p, const eoc_record_t *rec,
                        const eoc__key_t *k)
{
    const rd_kafka_message_t *m = rec->msg;
    eoc__inbox_entry_t e;
    eoc_err_t err = eoc__store_inbox_find_hashed(w->store, rec->id, rec->id_len, k->hash, &e);
    if (err != EOC_OK)
        return err;
    const void *rv;
    size_t rl;
    if (e.disposition == EOC__DISP_DEAD &&
        eoc_record_header(rec, "eoc-resubmitted", &rv, &rl) == EOC_OK)
        return EOC_ERR_NOT_FOUND; /* sent back by an operator: process it once more */
    if (e.digest == k->digest) {
        p->pend.duplicates++;
        return EOC_OK;
    }
    eoc__log(&w->log, EOC_LOG_ERR,
             "ID COLLISION: %.*s at %s[%d]@%" PRId64 " has a different payload "
             "than the record applied from offset %" PRId64
             "; dead-lettered, original effect untouched",
             (int)rec->id_len, rec->id, rec->topic, m->partition, m->offset, e.offset);
    char errtxt[80];
    snprintf(errtxt, sizeof(errtxt), "ID already applied from offset %" PRId64, e.offset);
    return dead_letter(w, p, rec, "id_collision", errtxt, 1, 0);
}

/* A record that is not a duplicate: the handler's effects or a dead
 * letter. isolate: 0 for the fast path, else EOC__APPLY_RERUN or
 * EOC__APPLY_RETRIED. */
static eoc_err_t dispose(eoc_worker_t *w, eoc__part_t *p, eoc_txn_t *txn, eoc_record_t *rec,
                         const eoc__key_t *k, int isolate, int crashed, int *outcome)
{
    const rd_kafka_message_t *m = rec->msg;
    eoc__id_status_t st = (eoc__id_status_t)k->st;
    int empty = !m->payload || !m->len;
    if ((int64_t)m->len > w->set.record_max_bytes)
        return dead_letter(w, p, rec, "too_large", "record larger than record.max.bytes", 0, 1);
    if (empty && w->set.empty_value == EOC__EMPTY_SKIP) {
        p->pend.skipped++;
        return EOC_OK;
    }
    if (empty)
        return dead_letter(w, p, rec, "empty_value", "null or empty value", 1, 1);
    if (st != EOC__ID_FOUND)
        return dead_letter(w, p, rec, st == EOC__ID_MISSING ? "missing_id" : "invalid_id",
                           st == EOC__ID_MISSING ? "no message ID" : eoc__msgid_status_text(st),
                           1, 0);
    if (crashed)
        return dead_letter(w, p, rec, "handler_crash",
                           "the process died while handling this record too many times", 1, 1);
    if (isolate)
        return handle_isolated(w, p, txn, rec, k, isolate == EOC__APPLY_RETRIED ? 2 : 1);
    return handle_fast(w, p, txn, rec, k, outcome);
}

/* Gives buffered record i its disposition inside the batch transaction,
 * then sets its partition's next offset (unless *outcome asks for a
 * rerun). */
static eoc_err_t apply_one(eoc_worker_t *w, eoc_txn_t *txn, const eoc__batch_t *b, size_t i,
                           int isolate, int crashed, int *outcome)
{
    const rd_kafka_message_t *m = b->msgs[i];
    const eoc__key_t *k = &b->keys[i];
    eoc__part_t *p = b->parts[i];
    eoc_record_t rec;
    eoc__record_init(&rec, m);
    *outcome = EOC__APPLY_DONE;
    if (k->st == EOC__ID_FOUND) {
        rec.id = eoc__batch_id(b, i);
        rec.id_len = k->id_len;
    }
    eoc_err_t err = rec.id ? dedupe(w, p, &rec, k) : EOC_ERR_NOT_FOUND;
    if (err == EOC_ERR_NOT_FOUND)
        err = dispose(w, p, txn, &rec, k, isolate, crashed, outcome);
    if (err == EOC_OK && *outcome == EOC__APPLY_DONE)
        err = eoc__store_offset_set(w->store, rec.topic, m->partition, m->offset + 1);
    return err;
}

/* ------------------------------------------------------------------ */
/* the batch                                                           */
/* ------------------------------------------------------------------ */

/* One pass over the buffer in one write transaction. On EOC_OK the batch
 * is committed, or *rerun is set when a record must be isolated (the
 * transaction was aborted). */
static eoc_err_t apply_pass(eoc_worker_t *w, eoc__batch_t *b, int crashed, int *rerun)
{
    eoc_txn_t txn = {.store = w->store,
                     .default_topic = w->set.output_topic,
                     .max_bytes = eoc__emit_limit(w->conf, w->set.output_max_bytes)};
    *rerun = 0;
    eoc__apply_tallies_reset(b);
    eoc_err_t err = eoc__store_begin(w->store);
    /* Start loading every index slot the batch will probe: the lookups
     * then overlap their cache misses instead of taking them one by one. */
    for (size_t i = 0; err == EOC_OK && i < b->n; i++)
        if (b->keys[i].st == EOC__ID_FOUND)
            eoc__store_inbox_prefetch(w->store, b->keys[i].hash);
    for (size_t i = 0; err == EOC_OK && i < b->n; i++) {
        int outcome;
        int mode = b->isolate[i] ? b->isolate[i] : b->isolate_all ? EOC__APPLY_RERUN : 0;
        err = apply_one(w, &txn, b, i, mode, crashed, &outcome);
        if (err == EOC_OK && outcome != EOC__APPLY_DONE) {
            b->isolate[i] = (unsigned char)outcome;
            *rerun = 1;
            eoc__store_abort(w->store);
            return EOC_OK;
        }
    }
    /* Rows the relay has delivered leave the outbox with this commit. */
    uint64_t acked = w->relay ? eoc__relay_acked(w->relay) : 0;
    if (err == EOC_OK && acked > w->removed_below) {
        eoc__crash_point("relay.acked");
        err = eoc__store_outbox_remove_in_batch(w->store, acked);
    }
    if (err != EOC_OK) {
        eoc__store_abort(w->store);
        return err;
    }
    eoc__crash_point("worker.handled");
    double t0 = eoc__mono_s();
    if ((err = eoc__store_commit(w->store)) != EOC_OK)
        return err;
    if (acked > w->removed_below) {
        w->removed_below = acked;
        eoc__relay_removed(w->relay, acked);
    }
    eoc__histo_add(&w->stats.commit_latency, eoc__mono_s() - t0);
    return EOC_OK;
}

/* After the commit: publish tallies and positions, offsets towards Kafka,
 * wake the relay. */
static void after_commit(eoc_worker_t *w, eoc__batch_t *b)
{
    eoc__count(&w->stats.batches, 1);
    tallies_publish(w, b);
    eoc__crash_point("worker.committed");
    for (size_t i = 0; i < b->npos; i++)
        atomic_store(&b->pos[i].part->st.committed, b->pos[i].next);
    eoc__offsets_committed(w, b);
    if (w->relay)
        eoc__relay_wake(w->relay);
}

eoc_err_t eoc__apply_batch(eoc_worker_t *w, eoc__batch_t *b, int crashed)
{
    if (!b->n)
        return EOC_OK;
    eoc_err_t err;
    int rerun, reruns = 0;
    while ((err = apply_pass(w, b, crashed, &rerun)) == EOC_OK && rerun)
        if (++reruns >= MAX_RERUNS)
            b->isolate_all = 1;
    if (err == EOC_OK) {
        after_commit(w, b);
        eoc__batch_done(b); /* the polling thread destroys the messages */
        w->failures = 0;
        return EOC_OK;
    }
    eoc__count(&w->stats.commit_failures, 1);
    eoc__log(&w->log, EOC_LOG_ERR,
             "batch of %zu records not committed (%s): rewinding to the last committed offsets",
             b->n, eoc_strerror(err));
    eoc__pipe_rewind_batch(w, b);
    /* A full map may clear (the relay frees outbox pages); a disk that
     * refuses writes (EIO, ENOSPC, EFBIG) is not retried: fail-stop. */
    if (++w->failures >= COMMIT_TRIES || err == EOC_ERR_IO) {
        atomic_store(&w->stats.fatal, err);
        eoc__log(
            &w->log, EOC_LOG_ERR,
            "stopping: %d failed batch commit(s) in a row (%s). Nothing was lost: fix the cause "
            "(%s) and restart; processing resumes from the last commit",
            w->failures, eoc_strerror(err),
            err == EOC_ERR_MAP_FULL ? "raise store.map.size" : "check disk space and I/O");
        atomic_store(&w->stop, 1);
    } else {
        eoc__sleep_ms(200LL << w->failures);
    }
    return err;
}
