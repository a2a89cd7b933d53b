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
 * once the commit is on disk) and wake the relay. A batch that fails
 * leaves nothing behind; pipeline.c rewinds it.
 *
 * Fast path: handlers run directly in the batch transaction. When one
 * returns anything but OK (or its store write fails), the batch is aborted
 * and applied again with that record isolated in a nested transaction,
 * where it can be retried and rolled back alone. Handlers before it run
 * again, which the contract allows (a handler may run more than once
 * before its effect commits). After MAX_RERUNS reruns every record of the
 * batch is isolated, which bounds the work of a batch full of failures.
 */
#include "worker_int.h"

#include "crash.h"
#include "handler.h"
#include "idindex.h"
#include "util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RERUNS 3

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
        if (w->km) { /* eos.mode=kafka: the inbox is per input partition */
            char sid[EOC__KM_SCOPE + EOC_ID_MAX];
            size_t n = eoc__km_inbox_id(sid, rd_kafka_topic_name(m->rkt), m->partition, *id, len);
            k->hash = eoc__store_id_hash(sid, n);
        } else {
            k->hash = eoc__store_id_hash(*id, len);
        }
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

/* Records the disposition of `rec` in the inbox (in the record
 * transaction when one is open) under its inbox ID; in eos.mode=kafka with
 * its changelog entry too. */
static eoc_err_t inbox_add(eoc_worker_t *w, const eoc_record_t *rec, uint64_t hash, uint64_t digest,
                           int disposition)
{
    const rd_kafka_message_t *m = rec->msg;
    eoc_err_t err =
        eoc__store_inbox_add_hashed(w->store, rec->inbox_id, rec->inbox_id_len, hash, rec->topic,
                                    m->partition, m->offset, digest, disposition);
    if (err == EOC_OK && w->km)
        err = eoc__km_stage_inbox(w->store, w->set.group_id, rec->topic, m->partition, rec->id,
                                  rec->id_len, m->offset, digest, disposition);
    return err;
}

/* ------------------------------------------------------------------ */
/* dead letters are logged once, when their batch commits              */
/* ------------------------------------------------------------------ */

void eoc__apply_notes_clear(eoc_worker_t *w)
{
    for (size_t i = 0; i < w->dl_n; i++) {
        free(w->dl_notes[i].id);
        free(w->dl_notes[i].error);
    }
    w->dl_n = 0;
}

/* Remembers a dead letter written by this pass (out of memory: logged now). */
static void note_dead(eoc_worker_t *w, const eoc_record_t *rec, const char *id, size_t id_len,
                      const char *reason, const char *error)
{
    if (w->dl_n == w->dl_cap) {
        size_t cap = w->dl_cap ? w->dl_cap * 2 : 8;
        eoc__dl_note_t *v = realloc(w->dl_notes, cap * sizeof(*v));
        if (v) {
            w->dl_notes = v;
            w->dl_cap = cap;
        }
    }
    char *idc = malloc(id_len + 1);
    char *errc = error && *error ? strdup(error) : NULL;
    if (w->dl_n == w->dl_cap || !idc || (error && *error && !errc)) {
        free(idc);
        free(errc);
        eoc__log(&w->log, EOC_LOG_WARNING, "dead letter (not yet committed) %s[%d]@%" PRId64 ": %s",
                 rec->topic, rec->msg->partition, rec->msg->offset, reason);
        return;
    }
    memcpy(idc, id, id_len);
    idc[id_len] = '\0';
    w->dl_notes[w->dl_n++] = (eoc__dl_note_t){rec->topic, rec->msg->partition, rec->msg->offset,
                                              idc,        id_len,              reason,
                                              errc};
}

/* Logs the committed batch's dead letters: one line each. */
static void log_notes(eoc_worker_t *w)
{
    for (size_t i = 0; i < w->dl_n; i++) {
        const eoc__dl_note_t *d = &w->dl_notes[i];
        eoc__kv_t kv[] = {EOC__KV_S("topic", d->topic),
                          EOC__KV_I("partition", d->partition),
                          EOC__KV_I("offset", d->offset),
                          EOC__KV_SN("message_id", d->id, d->id_len),
                          EOC__KV_S("reason", d->reason),
                          EOC__KV_S("error", d->error ? d->error : "")};
        eoc__log_kv(&w->log, EOC_LOG_WARNING, kv, COUNTOF(kv) - (d->error ? 0 : 1),
                    "dead letter");
    }
    eoc__apply_notes_clear(w);
}

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
        err = inbox_add(w, rec, eoc__store_id_hash(rec->inbox_id, rec->inbox_id_len),
                        eoc__hash64(m->payload, m->payload ? m->len : 0, EOC__DIGEST_SEED),
                        EOC__DISP_DEAD);
    if (err == EOC_OK) {
        p->pend.dead++;
        note_dead(w, rec, src_id, src_len, reason, error);
    }
    return err;
}

/* One handler call, timed (eoc_handler_seconds). */
static eoc_result_t call_handler(eoc_worker_t *w, eoc_txn_t *txn, const eoc_record_t *rec)
{
    double t0 = eoc__mono_s();
    eoc_result_t res = w->handler(txn, rec, w->opaque);
    eoc__histo_add(&w->stats.handler_latency, eoc__mono_s() - t0);
    return res;
}

/* Fast path: the handler writes straight into the batch transaction. Any
 * result but OK asks for a rerun with this record isolated. */
static eoc_err_t handle_fast(eoc_worker_t *w, eoc__part_t *p, eoc_txn_t *txn, eoc_record_t *rec,
                             const eoc__key_t *k, int *outcome)
{
    eoc__txn_reset(txn, rec);
    eoc_result_t res = call_handler(w, txn, rec);
    if (res != EOC_HANDLER_OK || txn->store_err) {
        *outcome =
            res == EOC_HANDLER_RETRY && !txn->store_err ? EOC__APPLY_RETRIED : EOC__APPLY_RERUN;
        return EOC_OK;
    }
    eoc_err_t err = inbox_add(w, rec, k->hash, k->digest, EOC__DISP_APPLIED);
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
            eoc__kv_t kv[] = {EOC__KV_S("topic", rec->topic),
                              EOC__KV_I("partition", rec->msg->partition),
                              EOC__KV_I("offset", rec->msg->offset),
                              EOC__KV_SN("message_id", rec->id, rec->id_len),
                              EOC__KV_S("error", txn->error)};
            eoc__log_kv(&w->log, EOC_LOG_INFO, kv, COUNTOF(kv) - !txn->error[0],
                        "retry %" PRId64 "/%" PRId64, attempt - 1, w->set.retry_max_attempts - 1);
            eoc__sleep_ms(w->set.retry_backoff_ms << (attempt - 2 < 10 ? attempt - 2 : 10));
        }
        eoc_err_t err = eoc__store_rec_begin(w->store);
        if (err)
            return err;
        eoc__txn_reset(txn, rec);
        eoc_result_t res = call_handler(w, txn, rec);
        if (txn->store_err) {
            eoc__store_rec_abort(w->store);
            return txn->store_err;
        }
        if (res == EOC_HANDLER_OK) {
            err = inbox_add(w, rec, k->hash, k->digest, EOC__DISP_APPLIED);
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
    eoc_err_t err =
        eoc__store_inbox_find_hashed(w->store, rec->inbox_id, rec->inbox_id_len, k->hash, &e);
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
    eoc__kv_t kv[] = {EOC__KV_S("topic", rec->topic), EOC__KV_I("partition", m->partition),
                      EOC__KV_I("offset", m->offset),
                      EOC__KV_SN("message_id", rec->id, rec->id_len),
                      EOC__KV_I("applied_offset", e.offset)};
    eoc__log_kv(&w->log, EOC_LOG_ERR, kv, COUNTOF(kv),
                "ID COLLISION: %.*s has a different payload than the record applied from "
                "offset %" PRId64 "; dead-lettered, original effect untouched",
                (int)rec->id_len, rec->id, e.offset);
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
    char sid[EOC__KM_SCOPE + EOC_ID_MAX];
    if (k->st == EOC__ID_FOUND) {
        rec.id = rec.inbox_id = eoc__batch_id(b, i);
        rec.id_len = rec.inbox_id_len = k->id_len;
        if (w->km) {
            rec.inbox_id = sid;
            rec.inbox_id_len = eoc__km_inbox_id(sid, rec.topic, m->partition, rec.id, rec.id_len);
        }
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
                     .max_bytes = eoc__emit_limit(w->conf, w->set.output_max_bytes),
                     .trace = w->set.trace_propagate,
                     .km_group = w->km ? w->set.group_id : NULL};
    *rerun = 0;
    eoc__apply_tallies_reset(b);
    eoc__apply_notes_clear(w);
    uint64_t t0 = eoc__stage_clock();
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
    eoc__stage_lap(&w->stages, EOC__STAGE_APPLY, &t0);
    uint64_t acked = w->relay ? eoc__relay_acked(w->relay) : 0;
    if (err == EOC_OK && acked > w->removed_below) {
        eoc__crash_point("relay.acked");
        err = eoc__store_outbox_remove_in_batch(w->store, acked);
        eoc__stage_lap(&w->stages, EOC__STAGE_REMOVE, &t0);
    }
    if (err != EOC_OK) {
        eoc__store_abort(w->store);
        return err;
    }
    eoc__crash_point("worker.handled");
    double t0s = eoc__mono_s();
    /* eos.mode=kafka: the Kafka transaction first, then LMDB (txn.h). */
    if ((err = w->km ? eoc__km_commit(w, b) : eoc__store_commit(w->store)) != EOC_OK)
        return err;
    if (acked > w->removed_below) {
        w->removed_below = acked;
        eoc__relay_removed(w->relay, acked);
    }
    eoc__histo_add(&w->stats.commit_latency, eoc__mono_s() - t0s);
    eoc__stage_lap(&w->stages, EOC__STAGE_COMMIT, &t0);
    return EOC_OK;
}

/* After the commit: publish tallies and positions, offsets towards Kafka,
 * wake the relay. */
static void after_commit(eoc_worker_t *w, eoc__batch_t *b)
{
    eoc__count(&w->stats.batches, 1);
    tallies_publish(w, b);
    log_notes(w);
    eoc__crash_point("worker.committed");
    for (size_t i = 0; i < b->npos; i++)
        atomic_store(&b->pos[i].part->st.committed, b->pos[i].next);
    /* End to end: from each record's timestamp to this commit. */
    int64_t now = eoc__now_ms();
    for (size_t i = 0; i < b->n; i++) {
        int64_t ts = rd_kafka_message_timestamp(b->msgs[i], NULL);
        if (ts > 0)
            eoc__histo_add_long(&w->stats.e2e_latency,
                                now > ts ? (double)(now - ts) / 1000.0 : 0.0);
    }
    if (!w->km) /* eos.mode=kafka: the offsets went with the transaction */
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
    } else {
        eoc__apply_notes_clear(w); /* nothing of it committed: nothing to log */
    }
    return err;
}
