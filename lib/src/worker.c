/*
 * worker.c - the consume loop: poll, dedupe, handle, commit, then advance.
 *
 * Records are polled into a batch (bounded by batch.max.records and
 * batch.max.ms); then the whole batch is applied in ONE LMDB write
 * transaction (store.h), so the writer lock is held only while applying,
 * never while waiting on Kafka. Two threads share the work: the caller of
 * eoc_worker_run polls and fills the next batch while an apply thread
 * applies and durably commits the previous one (see "the pipeline"). For each record, in partition order: find
 * its message ID, drop it if the inbox has it, run the handler, record the
 * disposition, set the partition's next offset. Commit durably; only then
 * commit the same offsets to Kafka (advisory) and wake the relay. A failed
 * commit aborts the batch and seeks every partition it touched back to
 * where the batch began, so nothing is skipped.
 *
 * Fast path: handlers run directly in the batch transaction. When one
 * returns anything but OK (or its store write fails), the batch is aborted
 * and applied again with that record isolated in a nested transaction,
 * where it can be retried and rolled back alone. Handlers before it run
 * again, which the contract allows (a handler may run more than once
 * before its effect commits). After MAX_RERUNS reruns every record of the
 * batch is isolated, which bounds the work of a batch full of failures.
 *
 * Crash loops: on assignment a partition whose previous owner did not
 * release it cleanly (a live marker is still set) counts a crash at its
 * stored offset. After two crashes at the same offset the first
 * batch.max.records records of that partition are applied one at a time
 * with their attempt count committed before the handler runs, and a record
 * that already crashed the process handler.max.crashes times is
 * dead-lettered without calling the handler.
 */
#include "worker.h"

#include "conf.h"
#include "crash.h"
#include "batch.h"
#include "handler.h"
#include "idindex.h"
#include "kafka.h"
#include "metrics.h"
#include "msgid.h"
#include "relay.h"
#include "store.h"

#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DIGEST_SEED         0x5bd1e9955bd1e995ull
#define POLL_IDLE_MS        100
#define SKIP_EVERY_MS       500 /* skip_unseen at most this often */
#define COMMIT_TRIES        5
#define CLOSE_TIMEOUT_MS 5000 /* bound on leaving the group during a stop */
#define CRASHES_FOR_CAREFUL 2
#define MAX_RERUNS          3

/* A per-topic ID strategy. */
struct strat {
    char *topic; /* NULL: the default */
    eoc__msgid_t id;
};

struct eoc_worker {
    const eoc_log_t *_Atomic logp; /* first member: see kafka.h; NULL once destroyed */
    eoc_log_t log;
    eoc_conf_t *conf; /* owned */
    eoc_handler_fn handler;
    void *opaque;
    eoc__store_t *store; /* owned */
    eoc__relay_t *relay; /* owned, NULL when relay.enable=false */
    pthread_t relay_thread;
    int relay_started;
    rd_kafka_t *rk;          /* consumer, owned */
    int assigned_once;       /* received an assignment (see eoc_worker_destroy) */
    int closed;              /* the consumer closed cleanly */
    eoc__metrics_t *metrics; /* owned; NULL when metrics.listen is empty */

    atomic_int stop;
    _Atomic eoc_err_t fatal;

    struct strat *strats;
    size_t nstrats;
    char dlq[256];
    int64_t batch_max, batch_ms, retry_max, backoff_ms, max_crashes, record_max;
    int empty_skip, missing_position;
    int64_t prune_age, prune_count, prune_every, last_prune;

    /* Batches (see the pipeline section): `fill` is the polling thread's;
     * the other is handed to the apply thread through `pending`. */
    eoc__batch_t bat[2];
    eoc__batch_t *fill;
    pthread_t apply_thread;
    int apply_started;
    pthread_mutex_t mu;      /* guards pending, apply_quit, rewind */
    pthread_cond_t cv;       /* pending taken or finished, quit */
    eoc__batch_t *pending;   /* being applied; NULL when the apply thread idles */
    int apply_quit;
    rd_kafka_topic_partition_list_t *rewind; /* failed batches' first offsets, to seek */
    atomic_int rewind_flag;                  /* rewind is set */

    /* Touched by whichever thread applies (never both at once). */
    int failures;           /* consecutive failed batches */
    uint64_t removed_below; /* outbox rows below were removed by our batches */
    /* Offsets of the last committed batch, owned: they go to Kafka once
     * that commit is on disk (the next commit, or offsets_sync). */
    rd_kafka_topic_partition_list_t *undurable;

    eoc__ptab_t ptab; /* partitions seen, with per-partition counters */
    eoc__worker_counters_t c;
    eoc__histo_t commit_latency;
};

/* ------------------------------------------------------------------ */
/* partition table                                                     */
/* ------------------------------------------------------------------ */

static eoc__part_t *part_get(eoc_worker_t *w, const char *topic, int32_t partition)
{
    eoc__ptab_t *t = &w->ptab;
    if (t->last < t->n && t->v[t->last]->partition == partition &&
        strcmp(t->v[t->last]->topic, topic) == 0)
        return t->v[t->last];
    for (size_t i = 0; i < t->n; i++) {
        if (t->v[i]->partition == partition && strcmp(t->v[i]->topic, topic) == 0) {
            t->last = i;
            return t->v[i];
        }
    }
    eoc__part_t *p = calloc(1, sizeof(*p));
    if (!p || !(p->topic = strdup(topic))) {
        free(p);
        return NULL;
    }
    p->partition = partition;
    atomic_init(&p->committed, -1);
    p->polled = -1;
    p->bidx[0] = p->bidx[1] = -1;
    p->careful_until = -1;
    pthread_mutex_lock(&t->lock);
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 32;
        eoc__part_t **v = realloc(t->v, cap * sizeof(*v));
        if (!v) {
            pthread_mutex_unlock(&t->lock);
            free(p->topic);
            free(p);
            return NULL;
        }
        t->v = v;
        t->cap = cap;
    }
    t->v[t->n] = p;
    t->last = t->n++;
    pthread_mutex_unlock(&t->lock);
    return p;
}

static void count(atomic_uint_fast64_t *a, uint64_t n)
{
    atomic_fetch_add_explicit(a, n, memory_order_relaxed);
}

/* ------------------------------------------------------------------ */
/* helpers                                                             */
/* ------------------------------------------------------------------ */

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

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

/* A batch's tallies live in its partitions until it commits. */
static void tallies_reset(eoc__batch_t *b)
{
    for (size_t i = 0; i < b->npos; i++) {
        eoc__part_t *p = b->pos[i].part;
        p->pend_applied = p->pend_duplicates = p->pend_dead = p->pend_retries = 0;
        p->pend_skipped = 0;
    }
}

static void tallies_publish(eoc_worker_t *w, eoc__batch_t *b)
{
    for (size_t i = 0; i < b->npos; i++) {
        eoc__part_t *p = b->pos[i].part;
        count(&p->applied, p->pend_applied);
        count(&w->c.applied, p->pend_applied);
        count(&p->duplicates, p->pend_duplicates);
        count(&w->c.duplicates, p->pend_duplicates);
        count(&p->dead_letters, p->pend_dead);
        count(&p->retries, p->pend_retries);
        count(&w->c.dead_letters, p->pend_dead);
        count(&w->c.retries, p->pend_retries);
        count(&w->c.skipped, p->pend_skipped);
    }
    tallies_reset(b);
}

/* Works out m's ID and digest; *id points into m or into idbuf
 * (EOC_ID_MAX + 1 bytes). */
static void key_make(const eoc_worker_t *w, const rd_kafka_message_t *m, eoc__key_t *k,
                     char *idbuf, const char **id)
{
    int too_large = (int64_t)m->len > w->record_max;
    int empty = !m->payload || !m->len;
    const eoc__msgid_t *strat = strat_for(w, rd_kafka_topic_name(m->rkt));
    size_t len = 0;
    eoc__id_status_t st = EOC__ID_MISSING;
    *id = NULL;
    if (!(too_large && strat->kind == EOC__MSGID_JSON))
        st = eoc__msgid_extract(strat, m, idbuf, id, &len);
    if (st == EOC__ID_MISSING && w->missing_position) {
        len = eoc__msgid_position(m, idbuf);
        *id = idbuf;
        st = EOC__ID_FOUND;
    }
    memset(k, 0, sizeof(*k));
    k->st = (uint8_t)st;
    k->digest = eoc__hash64(m->payload, empty ? 0 : m->len, DIGEST_SEED);
    if (st == EOC__ID_FOUND) {
        k->id_len = (uint16_t)len;
        k->hash = eoc__store_id_hash(*id, len);
    }
}

/* Adds a polled message to the filling batch (ownership moves to it). */
static int buffer_add(eoc_worker_t *w, rd_kafka_message_t *m, int64_t now)
{
    eoc__part_t *p = part_get(w, rd_kafka_topic_name(m->rkt), m->partition);
    if (!p)
        return -1;
    eoc__key_t k;
    char idbuf[EOC_ID_MAX + 1];
    const char *id;
    key_make(w, m, &k, idbuf, &id);
    if (eoc__batch_add(w->fill, m, p, &k, id, now) != 0)
        return -1;
    count(&p->consumed, 1);
    count(&w->c.consumed, 1);
    return 0;
}

/* Drops a batch that will not be applied: nothing of it is committed. */
static void buffer_drop(eoc__batch_t *b)
{
    tallies_reset(b);
    eoc__batch_drop(b);
}

/* Merges a position into a seek list: the earliest offset of a partition
 * wins, so nothing between two rewound positions is skipped. */
static void seek_merge(rd_kafka_topic_partition_list_t *into, const char *topic,
                       int32_t partition, int64_t offset)
{
    rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_find(into, topic, partition);
    if (!tp)
        rd_kafka_topic_partition_list_add(into, topic, partition)->offset = offset;
    else if (offset < tp->offset)
        tp->offset = offset;
}

/* Queues positions to seek back to (rewind_run); takes l. */
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

/* The batch failed: nothing of it is applied. Its partitions must restart
 * where it began (the client has moved past it); the polling thread does
 * that (rewind_run), as it owns the consumer and the newer batch. */
static void buffer_rewind(eoc_worker_t *w, eoc__batch_t *b)
{
    rd_kafka_topic_partition_list_t *l = eoc__batch_list(b, 1);
    buffer_drop(b);
    rewind_add(w, l);
}

/* A polled message that could not be buffered is read again. */
static void message_rewind(eoc_worker_t *w, rd_kafka_message_t *m)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, rd_kafka_topic_name(m->rkt), m->partition)->offset =
        m->offset;
    rd_kafka_message_destroy(m);
    rewind_add(w, l);
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
    char idbuf[EOC_ID_MAX + 32], posbuf[EOC_ID_MAX + 1], ref[EOC_ID_MAX + 1];
    const char *src_id = rec->id;
    size_t src_len = rec->id_len;
    if (!src_id) {
        src_len = eoc__msgid_position(m, posbuf);
        src_id = posbuf;
    }
    int n = snprintf(idbuf, sizeof(idbuf), "%.*s/dlq", (int)src_len, src_id);

    /* The original headers travel with the dead letter, then eoc's. */
    enum { MAXH = 48 };
    eoc_header_t hs[MAXH];
    size_t nh = 0;
    for (size_t i = 0; i < eoc_record_header_count(rec) && nh < MAXH; i++) {
        const char *name;
        const void *v;
        size_t len;
        if (eoc_record_header_at(rec, i, &name, &v, &len) == EOC_OK)
            hs[nh++] = (eoc_header_t){name, v, len};
    }
    eoc_header_t extra[4];
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
                     hs,
                     nh};
    eoc_err_t err = eoc__outbox_append(w->store, rec, idbuf, (size_t)n, &out, extra, ne);
    if (err == EOC_OK && rec->id && record)
        err = eoc__store_inbox_add(
            w->store, rec->id, rec->id_len, rec->topic, m->partition, m->offset,
            eoc__hash64(m->payload, m->payload ? m->len : 0, DIGEST_SEED), EOC__DISP_DEAD);
    if (err == EOC_OK) {
        p->pend_dead++;
        eoc__log(&w->log, EOC_LOG_WARNING, "dead letter %s[%d]@%" PRId64 " id=%.*s: %s%s%s",
                 rec->topic, m->partition, m->offset, (int)src_len, src_id, reason,
                 error && *error ? ": " : "", error && *error ? error : "");
    }
    return err;
}

/* Outcome of applying one record; also the per-record isolation mode. */
enum {
    APPLY_DONE = 0,   /* disposition written (fast path) */
    APPLY_RERUN = 1,  /* rerun isolated: its first isolated attempt is attempt 1 */
    APPLY_RETRIED = 2 /* rerun isolated: the fast path was attempt 1 and asked to retry */
};

/* Fast path: the handler writes straight into the batch transaction. Any
 * result but OK asks for a rerun with this record isolated. */
static eoc_err_t handle_fast(eoc_worker_t *w, eoc__part_t *p, eoc_txn_t *txn, eoc_record_t *rec,
                             const eoc__key_t *k, int *outcome)
{
    eoc__txn_reset(txn, rec);
    eoc_result_t res = w->handler(txn, rec, w->opaque);
    if (res != EOC_HANDLER_OK || txn->store_err) {
        *outcome = res == EOC_HANDLER_RETRY && !txn->store_err ? APPLY_RETRIED : APPLY_RERUN;
        return EOC_OK;
    }
    eoc_err_t err = eoc__store_inbox_add_hashed(w->store, rec->id, rec->id_len, k->hash,
                                                rec->topic, rec->msg->partition,
                                                rec->msg->offset, k->digest, EOC__DISP_APPLIED);
    if (err == EOC_OK)
        p->pend_applied++;
    return err;
}

/* Isolated: the handler runs in a nested transaction, with bounded retries;
 * a failing record rolls back alone and is dead-lettered. */
static eoc_err_t handle_isolated(eoc_worker_t *w, eoc__part_t *p, eoc_txn_t *txn, eoc_record_t *rec,
                                 const eoc__key_t *k, int64_t first)
{
    for (int64_t attempt = first;; attempt++) {
        if (attempt > 1) {
            if (attempt > w->retry_max) {
                snprintf(txn->error, sizeof(txn->error),
                         "handler asked to retry %" PRId64 " time(s)", attempt - 1);
                return dead_letter(w, p, rec, "handler_error", txn->error, 1, 1);
            }
            p->pend_retries++;
            eoc__log(&w->log, EOC_LOG_INFO,
                     "retry %" PRId64 "/%" PRId64 " of %s[%d]@%" PRId64 "%s%s", attempt - 1,
                     w->retry_max - 1, rec->topic, rec->msg->partition, rec->msg->offset,
                     txn->error[0] ? ": " : "", txn->error);
            sleep_ms(w->backoff_ms << (attempt - 2 < 10 ? attempt - 2 : 10));
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
            err = eoc__store_inbox_add_hashed(w->store, rec->id, rec->id_len, k->hash,
                                              rec->topic, rec->msg->partition, rec->msg->offset,
                                              k->digest, EOC__DISP_APPLIED);
            if (err == EOC_OK)
                err = eoc__store_rec_commit(w->store);
            else
                eoc__store_rec_abort(w->store);
            if (err == EOC_OK)
                p->pend_applied++;
            return err;
        }
        eoc__store_rec_abort(w->store);
        if (res == EOC_HANDLER_RETRY && attempt < w->retry_max)
            continue;
        if (!txn->error[0])
            snprintf(txn->error, sizeof(txn->error),
                     "handler returned %s after %" PRId64 " attempt(s)",
                     res == EOC_HANDLER_FAIL ? "FAIL" : "RETRY", attempt);
        return dead_letter(w, p, rec, "handler_error", txn->error, 1, 1);
    }
}

/* Careful mode, before the (single-record) batch: commits the record's
 * attempt count. Returns 1 when the record crashed the process too often
 * and must be dead-lettered unhandled, 0 to go on, or a store error < 0. */
static int careful_attempt(eoc_worker_t *w, const rd_kafka_message_t *m)
{
    char name[600];
    snprintf(name, sizeof(name), "attempt/%s/%d/%" PRId64, rd_kafka_topic_name(m->rkt),
             m->partition, m->offset);
    unsigned char v[8] = {0};
    size_t len = sizeof(v);
    if (eoc__store_begin(w->store) != EOC_OK)
        return -1;
    if (eoc__store_meta_get(w->store, name, v, &len) != EOC_OK)
        len = 0;
    uint64_t n = len == 8 ? eoc__be64_get(v) : 0;
    if ((int64_t)n >= w->max_crashes) {
        eoc__store_abort(w->store);
        return 1;
    }
    eoc__be64_put(v, n + 1);
    if (eoc__store_meta_put(w->store, name, v, 8) != EOC_OK ||
        eoc__store_commit(w->store) != EOC_OK)
        return -1;
    return 0;
}

/* Gives one buffered record its disposition inside the batch transaction.
 * isolate: 0 for the fast path, else APPLY_RERUN or APPLY_RETRIED. */
static eoc_err_t apply_one(eoc_worker_t *w, eoc_txn_t *txn, const eoc__batch_t *b, size_t i,
                           int isolate, int crashed, int *outcome)
{
    const rd_kafka_message_t *m = b->msgs[i];
    const eoc__key_t *k = &b->keys[i];
    eoc__part_t *p = b->parts[i];
    eoc_record_t rec;
    eoc__record_init(&rec, m);
    *outcome = APPLY_DONE;

    int too_large = (int64_t)m->len > w->record_max;
    int empty = !m->payload || !m->len;
    eoc__id_status_t st = (eoc__id_status_t)k->st;
    if (st == EOC__ID_FOUND) {
        rec.id = eoc__batch_id(b, i);
        rec.id_len = k->id_len;
    }

    eoc_err_t err = EOC_OK;
    uint64_t digest = k->digest;
    if (rec.id) {
        eoc__inbox_entry_t e;
        err = eoc__store_inbox_find_hashed(w->store, rec.id, rec.id_len, k->hash, &e);
        if (err == EOC_OK) {
            const void *rv;
            size_t rl;
            int resubmit = eoc_record_header(&rec, "eoc-resubmitted", &rv, &rl) == EOC_OK;
            if (resubmit && e.disposition == EOC__DISP_DEAD) {
                err = EOC_OK; /* sent back by an operator: process it once more */
            } else if (e.digest != digest) {
                eoc__log(&w->log, EOC_LOG_ERR,
                         "ID COLLISION: %.*s at %s[%d]@%" PRId64 " has a different payload "
                         "than the record applied from offset %" PRId64
                         "; dead-lettered, original effect untouched",
                         (int)rec.id_len, rec.id, rec.topic, m->partition, m->offset, e.offset);
                char errtxt[80];
                snprintf(errtxt, sizeof(errtxt), "ID already applied from offset %" PRId64,
                         e.offset);
                err = dead_letter(w, p, &rec, "id_collision", errtxt, 1, 0);
                goto done;
            } else {
                p->pend_duplicates++;
                goto done;
            }
        } else if (err != EOC_ERR_NOT_FOUND) {
            return err;
        }
        err = EOC_OK;
    }

    if (too_large)
        err = dead_letter(w, p, &rec, "too_large", "record larger than record.max.bytes", 0, 1);
    else if (empty && w->empty_skip)
        p->pend_skipped++;
    else if (empty)
        err = dead_letter(w, p, &rec, "empty_value", "null or empty value", 1, 1);
    else if (st != EOC__ID_FOUND)
        err = dead_letter(w, p, &rec, st == EOC__ID_MISSING ? "missing_id" : "invalid_id",
                          st == EOC__ID_MISSING ? "no message ID"
                                                : "message ID empty, too long or unreadable",
                          1, 0);
    else if (crashed)
        err = dead_letter(w, p, &rec, "handler_crash",
                          "the process died while handling this record too many times", 1, 1);
    else if (isolate)
        err = handle_isolated(w, p, txn, &rec, k, isolate == APPLY_RETRIED ? 2 : 1);
    else
        err = handle_fast(w, p, txn, &rec, k, outcome);
done:
    if (err == EOC_OK && *outcome == APPLY_DONE)
        err = eoc__store_offset_set(w->store, rec.topic, m->partition, m->offset + 1);
    return err;
}

/* One pass over the buffer in one write transaction. On EOC_OK the batch
 * is committed, or *rerun is set when a record must be isolated (the
 * transaction was aborted). */
static eoc_err_t apply_pass(eoc_worker_t *w, eoc__batch_t *b, int crashed, int *rerun)
{
    eoc_txn_t txn = {.store = w->store,
                     .default_topic = eoc__conf_str(w->conf, "output.topic"),
                     .max_bytes = eoc__conf_int(w->conf, "output.max.bytes")};
    *rerun = 0;
    tallies_reset(b);
    eoc_err_t err = eoc__store_begin(w->store);
    /* Start loading every index slot the batch will probe: the lookups
     * then overlap their cache misses instead of taking them one by one. */
    for (size_t i = 0; err == EOC_OK && i < b->n; i++)
        if (b->keys[i].st == EOC__ID_FOUND)
            eoc__store_inbox_prefetch(w->store, b->keys[i].hash);
    for (size_t i = 0; err == EOC_OK && i < b->n; i++) {
        int outcome;
        int mode = b->isolate[i] ? b->isolate[i] : b->isolate_all ? APPLY_RERUN : 0;
        err = apply_one(w, &txn, b, i, mode, crashed, &outcome);
        if (err == EOC_OK && outcome != APPLY_DONE) {
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
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if ((err = eoc__store_commit(w->store)) != EOC_OK)
        return err;
    if (acked > w->removed_below) {
        w->removed_below = acked;
        eoc__relay_removed(w->relay, acked);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    eoc__histo_add(&w->commit_latency,
                   (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    return EOC_OK;
}

/* Commits the offsets in w->undurable to Kafka (advisory, asynchronous;
 * the caller knows they are on disk in LMDB) and forgets them. */
static void offsets_to_kafka(eoc_worker_t *w)
{
    if (!w->undurable)
        return;
    rd_kafka_commit(w->rk, w->undurable, 1);
    rd_kafka_topic_partition_list_destroy(w->undurable);
    w->undurable = NULL;
}

/* Puts the last commit on disk, then its offsets in Kafka: for an idle
 * worker, a hand-over and a stop. */
static void offsets_sync(eoc_worker_t *w)
{
    if (w->undurable && eoc__store_sync(w->store) == EOC_OK)
        offsets_to_kafka(w);
}

/* After the commit: publish tallies and positions, send the previous
 * batch's offsets to Kafka (this commit put them on disk; Kafka's offsets
 * are never ahead of LMDB's on disk), wake the relay. */
static void after_commit(eoc_worker_t *w, eoc__batch_t *b)
{
    count(&w->c.batches, 1);
    tallies_publish(w, b);
    eoc__crash_point("worker.committed");
    for (size_t i = 0; i < b->npos; i++)
        atomic_store(&b->pos[i].part->committed, b->pos[i].next);
    offsets_to_kafka(w);
    rd_kafka_topic_partition_list_t *l = eoc__batch_list(b, 0);
    if (l->cnt)
        w->undurable = l;
    else
        rd_kafka_topic_partition_list_destroy(l);
    if (w->relay)
        eoc__relay_wake(w->relay);
}

/* Applies and commits the buffered batch. On a failure the batch is
 * rewound (nothing applied, positions sought back); persistent failures
 * stop the worker. */
static eoc_err_t batch_flush(eoc_worker_t *w, eoc__batch_t *b, int crashed)
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
    count(&w->c.commit_failures, 1);
    eoc__log(&w->log, EOC_LOG_ERR,
             "batch of %zu records not committed (%s): rewinding to the last committed offsets",
             b->n, eoc_strerror(err));
    buffer_rewind(w, b);
    /* A full map may clear (the relay frees outbox pages); a disk that
     * refuses writes (EIO, ENOSPC, EFBIG) is not retried: fail-stop. */
    if (++w->failures >= COMMIT_TRIES || err == EOC_ERR_IO) {
        atomic_store(&w->fatal, err);
        eoc__log(&w->log, EOC_LOG_ERR,
                 "stopping: %d failed batch commit(s) in a row (%s). Nothing was lost: fix the cause "
                 "(%s) and restart; processing resumes from the last commit",
                 w->failures, eoc_strerror(err),
                 err == EOC_ERR_MAP_FULL ? "raise store.map.size" : "check disk space and I/O");
        atomic_store(&w->stop, 1);
    } else {
        sleep_ms(200LL << w->failures);
    }
    return err;
}

/* ------------------------------------------------------------------ */
/* the pipeline: polling thread and apply thread                       */
/* ------------------------------------------------------------------ */
/*
 * The thread that runs eoc_worker_run polls: it owns the consumer, the
 * rebalance callbacks and the filling batch. A full (or old enough) batch
 * is handed to the apply thread, which applies and durably commits it
 * while the next one fills, so polling and the durable commit run in
 * parallel. One batch is applied at a time, in order. Whenever the
 * polling thread needs the store itself (rebalances, careful mode,
 * retention, the final batch) it first waits until the apply thread idles
 * (pipeline_wait), and owns the store until it hands a batch off again.
 *
 * A failed batch leaves its first offsets in w->rewind. The polling thread
 * then drops the batch it is filling (later records of those partitions),
 * and seeks everything back (rewind_run): nothing is skipped.
 */

/* Seeks back after failed batches; drops the filling batch and, when it is
 * past a sought partition's position, *m. Polling thread. */
static void rewind_run(eoc_worker_t *w, rd_kafka_message_t **m)
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
        seek_merge(l, b->pos[i].part->topic, b->pos[i].part->partition, b->pos[i].first);
    buffer_drop(b);
    if (m && *m) {
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

/* Waits until the apply thread idles; the caller then owns the store. */
static void pipeline_wait(eoc_worker_t *w)
{
    pthread_mutex_lock(&w->mu);
    while (w->pending)
        pthread_cond_wait(&w->cv, &w->mu);
    pthread_mutex_unlock(&w->mu);
    rewind_run(w, NULL);
}

static int pipeline_idle(eoc_worker_t *w)
{
    pthread_mutex_lock(&w->mu);
    int idle = !w->pending;
    pthread_mutex_unlock(&w->mu);
    return idle;
}

/* A record after a gap in its partition's offsets: transaction markers,
 * aborted or compacted records leave gaps, and so does the broker's
 * retention when it deleted records this group had not read yet (the
 * fetch failed out of range and auto.offset.reset moved on). Those are
 * lost to the application; the log says which. */
static void gap_note(eoc_worker_t *w, const rd_kafka_message_t *m, int64_t expected)
{
    int64_t lo = -1, hi = -1;
    const char *topic = rd_kafka_topic_name(m->rkt);
    if (rd_kafka_get_watermark_offsets(w->rk, topic, m->partition, &lo, &hi) ||
        lo <= expected)
        return;
    eoc__log(&w->log, EOC_LOG_WARNING,
             "%s[%d]: offsets %" PRId64 "..%" PRId64 " were deleted by the broker (retention) "
             "before this group read them; went on at %" PRId64 " (auto.offset.reset)",
             topic, m->partition, expected, lo - 1, m->offset);
}

/* A read_committed consumer never sees transaction markers and aborted
 * records, yet they take offsets: input that ends with them would leave
 * the stored position (the last applied record's next offset) below the
 * partition's end for good, a lag that never drains. librdkafka moves the
 * consumer's position past them; when the worker idles with every record
 * it got from a partition applied and committed (the store's position is
 * where polling left off: no rewind pending or under way), the store's
 * position follows the consumer's (one small commit, synced, then the
 * offsets go to Kafka). Polling thread, the apply thread idle. */
static void skip_unseen(eoc_worker_t *w)
{
    rd_kafka_topic_partition_list_t *l = NULL;
    if (atomic_load(&w->rewind_flag) || rd_kafka_assignment(w->rk, &l) || !l)
        return;
    rd_kafka_position(w->rk, l);
    int began = 0, n = 0;
    for (int i = 0; i < l->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &l->elems[i];
        eoc__part_t *p = part_get(w, tp->topic, tp->partition);
        int64_t c = p ? atomic_load(&p->committed) : -1;
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
            eoc__part_t *p = part_get(w, tp->topic, tp->partition);
            if (p) {
                atomic_store(&p->committed, tp->offset);
                p->polled = tp->offset;
            }
            rd_kafka_topic_partition_list_add(k, tp->topic, tp->partition)->offset = tp->offset;
        }
        offsets_sync(w); /* the batches' offsets first */
        rd_kafka_commit(w->rk, k, 1);
        rd_kafka_topic_partition_list_destroy(k);
    }
    rd_kafka_topic_partition_list_destroy(l);
}

/* Applies the filling batch on this thread (the apply thread idles). */
static eoc_err_t flush_now(eoc_worker_t *w, int crashed)
{
    pipeline_wait(w);
    eoc_err_t err = batch_flush(w, w->fill, crashed);
    rewind_run(w, NULL);
    return err;
}

/* Hands the filling batch to the apply thread; the other one fills next. */
static void pipeline_hand_off(eoc_worker_t *w)
{
    if (!w->apply_started) {
        flush_now(w, 0);
        return;
    }
    pipeline_wait(w);
    eoc__batch_t *b = w->fill;
    if (!b->n)
        return; /* a rewind dropped it */
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
        batch_flush(w, b, 0);
        pthread_mutex_lock(&w->mu);
        w->pending = NULL;
        pthread_cond_broadcast(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

static void pipeline_stop(eoc_worker_t *w)
{
    if (!w->apply_started)
        return;
    pipeline_wait(w);
    pthread_mutex_lock(&w->mu);
    w->apply_quit = 1;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->apply_thread, NULL);
    w->apply_started = 0;
}

/* Careful mode: a suspect record is applied alone, after its attempt
 * count is committed. */
static void flush_careful(eoc_worker_t *w, rd_kafka_message_t *m, int64_t now)
{
    pipeline_wait(w);
    if (batch_flush(w, w->fill, 0) != EOC_OK) {
        message_rewind(w, m); /* merged with the failed batch's rewind */
        rewind_run(w, NULL);
        return;
    }
    if (buffer_add(w, m, now) != 0) {
        message_rewind(w, m);
        rewind_run(w, NULL);
        return;
    }
    int r = careful_attempt(w, m);
    if (r < 0) {
        eoc__log(&w->log, EOC_LOG_ERR, "could not record a handler attempt");
        buffer_rewind(w, w->fill);
        rewind_run(w, NULL);
        return;
    }
    w->fill->isolate[0] = APPLY_RERUN;
    flush_now(w, r > 0);
}

/* ------------------------------------------------------------------ */
/* rebalancing                                                         */
/* ------------------------------------------------------------------ */

static void live_name(char *buf, size_t n, const char *topic, int32_t partition)
{
    snprintf(buf, n, "live/%s/%d", topic, partition);
}

/* On assignment: seek positions from LMDB, count unclean hand-overs, set
 * live markers. All in one small durable transaction. */
static void on_assign(eoc_worker_t *w, rd_kafka_topic_partition_list_t *parts)
{
    pipeline_wait(w);
    if (eoc__store_begin(w->store) != EOC_OK) {
        eoc__log(&w->log, EOC_LOG_ERR, "assign: store unavailable; positions from Kafka");
        return;
    }
    for (int i = 0; i < parts->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &parts->elems[i];
        eoc__part_t *p = part_get(w, tp->topic, tp->partition);
        int64_t off;
        if (eoc__store_offset_get(w->store, tp->topic, tp->partition, &off) == EOC_OK) {
            tp->offset = off;
            if (p) {
                atomic_store(&p->committed, off);
                p->polled = off;
            }
        } else {
            tp->offset = RD_KAFKA_OFFSET_INVALID; /* Kafka committed / auto.offset.reset */
            off = -1;
        }
        char live[600], crash[600];
        unsigned char v[16];
        size_t len = sizeof(v);
        live_name(live, sizeof(live), tp->topic, tp->partition);
        snprintf(crash, sizeof(crash), "crash/%s/%d", tp->topic, tp->partition);
        if (p) {
            p->careful_until = -1;
            p->careful_first = 0;
        }
        if (eoc__store_meta_get(w->store, live, v, &len) == EOC_OK) {
            /* A partition with no stored offset crashed before its first
             * commit: its crashes count at "the start" (UINT64_MAX). */
            uint64_t here = off >= 0 ? (uint64_t)off : UINT64_MAX, at = 0, n = 0;
            len = sizeof(v);
            if (eoc__store_meta_get(w->store, crash, v, &len) == EOC_OK && len == 16) {
                at = eoc__be64_get(v);
                n = eoc__be64_get(v + 8);
            }
            n = at == here ? n + 1 : 1;
            eoc__be64_put(v, here);
            eoc__be64_put(v + 8, n);
            eoc__store_meta_put(w->store, crash, v, 16);
            eoc__log(&w->log, EOC_LOG_WARNING,
                     "%s[%d]: previous owner stopped uncleanly at offset %" PRId64 " (%" PRIu64
                     " time(s) there)",
                     tp->topic, tp->partition, off, n);
            if (n >= CRASHES_FOR_CAREFUL && p && off >= 0)
                p->careful_until = off + w->batch_max;
            else if (n >= CRASHES_FOR_CAREFUL && p)
                p->careful_first = 1; /* from the first record it gets */
        }
        eoc__store_meta_put(w->store, live, "1", 1);
    }
    if (eoc__store_commit(w->store) != EOC_OK)
        eoc__log(&w->log, EOC_LOG_ERR, "assign: could not record live markers");
}

/* On revocation: commit the open batch, commit Kafka offsets (sync),
 * clear live markers: a clean hand-over. */
static void on_revoke(eoc_worker_t *w, rd_kafka_topic_partition_list_t *parts, int lost)
{
    if (lost) {
        pipeline_wait(w); /* a batch already handed off commits first */
        if (w->undurable) { /* the group moved on: commit nothing */
            rd_kafka_topic_partition_list_destroy(w->undurable);
            w->undurable = NULL;
        }
        if (w->fill->n) {
            eoc__log(&w->log, EOC_LOG_WARNING,
                     "assignment lost: dropping the unapplied batch of %zu records", w->fill->n);
            buffer_drop(w->fill);
        }
        return; /* another member may own them now: leave markers, commit nothing */
    }
    if (flush_now(w, 0) != EOC_OK)
        return;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(parts->cnt);
    if (eoc__store_begin(w->store) == EOC_OK) {
        for (int i = 0; i < parts->cnt; i++) {
            int64_t off;
            char live[600];
            live_name(live, sizeof(live), parts->elems[i].topic, parts->elems[i].partition);
            eoc__store_meta_put(w->store, live, NULL, 0);
            if (eoc__store_offset_get(w->store, parts->elems[i].topic, parts->elems[i].partition,
                                      &off) == EOC_OK)
                rd_kafka_topic_partition_list_add(l, parts->elems[i].topic,
                                                  parts->elems[i].partition)
                    ->offset = off;
        }
        eoc__store_commit(w->store);
    }
    /* Everything above on disk before Kafka hears of it. */
    if (eoc__store_sync(w->store) != EOC_OK) {
        rd_kafka_topic_partition_list_destroy(l);
        return;
    }
    offsets_to_kafka(w);
    if (l->cnt) {
        /* Synchronous for a clean hand-over; during a stop it must not
         * block on brokers that are down (the commit is advisory). */
        rd_kafka_resp_err_t e = rd_kafka_commit(w->rk, l, atomic_load(&w->stop));
        if (e)
            eoc__log(&w->log, EOC_LOG_INFO, "offset commit on revoke: %s (advisory)",
                     rd_kafka_err2str(e));
    }
    rd_kafka_topic_partition_list_destroy(l);
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    eoc_worker_t *w = opaque;
    int coop = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    count(&w->c.rebalances, 1);
    rd_kafka_error_t *e = NULL;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        w->assigned_once = 1;
        on_assign(w, parts);
        eoc__log(&w->log, EOC_LOG_INFO, "assigned %d partition(s)", parts->cnt);
        if (coop)
            e = rd_kafka_incremental_assign(rk, parts);
        else
            rd_kafka_assign(rk, parts);
    } else {
        int lost = rd_kafka_assignment_lost(rk);
        on_revoke(w, parts, lost);
        eoc__log(&w->log, EOC_LOG_INFO, "%s %d partition(s)", lost ? "lost" : "revoked",
                 parts->cnt);
        if (coop)
            e = rd_kafka_incremental_unassign(rk, parts);
        else
            rd_kafka_assign(rk, NULL);
    }
    if (e) {
        eoc__log(&w->log, EOC_LOG_ERR, "rebalance: %s", rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    }
}

static void commit_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                      rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
    (void)rk;
    (void)offsets;
    eoc_worker_t *w = opaque;
    if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
        eoc__log(&w->log, EOC_LOG_INFO,
                 "Kafka offset commit: %s (advisory; LMDB holds the "
                 "positions)",
                 rd_kafka_err2str(err));
}

/* ------------------------------------------------------------------ */
/* create / run / stop                                                 */
/* ------------------------------------------------------------------ */

static eoc_err_t fail(char *errstr, size_t size, eoc_err_t err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static eoc_err_t fail(char *errstr, size_t size, eoc_err_t err, const char *fmt, ...)
{
    if (errstr && size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(errstr, size, fmt, ap);
        va_end(ap);
    }
    return err;
}

struct strat_ctx {
    eoc_worker_t *w;
    char *errstr;
    size_t errstr_size;
};

static int add_strat(eoc_worker_t *w, const char *topic, const char *spec, char *errstr,
                     size_t errstr_size)
{
    struct strat *s = realloc(w->strats, (w->nstrats + 1) * sizeof(*s));
    if (!s)
        return -1;
    w->strats = s;
    s = &w->strats[w->nstrats];
    if (eoc__msgid_parse(&s->id, spec, errstr, errstr_size) != EOC_OK)
        return -1;
    s->topic = topic ? strdup(topic) : NULL;
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
        {"enable.auto.commit", "false"},   {"enable.auto.offset.store", "false"},
        {"auto.offset.reset", "earliest"}, {"partition.assignment.strategy", "cooperative-sticky"},
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
    if (rd_kafka_conf_set(kc, "group.id", eoc__conf_str(w->conf, "group.id"), err, sizeof(err)) ||
        eoc__kafka_conf_apply(kc, w->conf, "kafka.", err, sizeof(err))) {
        rd_kafka_conf_destroy(kc);
        return fail(errstr, errstr_size, EOC_ERR_CONFIG, "%s", err);
    }
    /* These are the protocol: a user may not turn them back on. Reading
     * uncommitted transactional input would apply records of transactions
     * that abort later. */
    rd_kafka_conf_set(kc, "enable.auto.commit", "false", NULL, 0);
    rd_kafka_conf_set(kc, "enable.auto.offset.store", "false", NULL, 0);
    rd_kafka_conf_set(kc, "isolation.level", "read_committed", NULL, 0);
    rd_kafka_conf_set_opaque(kc, w);
    rd_kafka_conf_set_rebalance_cb(kc, rebalance_cb);
    rd_kafka_conf_set_offset_commit_cb(kc, commit_cb);
    eoc__kafka_conf_log(kc);
    if (!(w->rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, err, sizeof(err)))) {
        rd_kafka_conf_destroy(kc);
        return fail(errstr, errstr_size, EOC_ERR_KAFKA, "cannot create consumer: %s", err);
    }
    rd_kafka_poll_set_consumer(w->rk);

    const char *topics = eoc__conf_str(w->conf, "input.topics");
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(4);
    char *copy = strdup(topics), *save = NULL;
    for (char *t = copy ? strtok_r(copy, ",", &save) : NULL; t; t = strtok_r(NULL, ",", &save))
        rd_kafka_topic_partition_list_add(sub, t, RD_KAFKA_PARTITION_UA);
    free(copy);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(w->rk, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    if (e)
        return fail(errstr, errstr_size, EOC_ERR_KAFKA, "subscribe: %s", rd_kafka_err2str(e));
    return EOC_OK;
}

eoc_worker_t *eoc_worker_new(eoc_conf_t *conf, eoc_handler_fn handler, void *opaque, char *errstr,
                             size_t errstr_size)
{
    if (!conf || !handler) {
        fail(errstr, errstr_size, EOC_ERR_INVALID_ARG, "conf and handler are required");
        return NULL;
    }
    static const char *const required[] = {"data.dir", "group.id", "input.topics"};
    for (size_t i = 0; i < 3; i++) {
        if (!*eoc__conf_str(conf, required[i])) {
            fail(errstr, errstr_size, EOC_ERR_CONFIG, "%s is required", required[i]);
            return NULL;
        }
    }
    if (!eoc_conf_get(conf, "kafka.bootstrap.servers")) {
        fail(errstr, errstr_size, EOC_ERR_CONFIG,
             "kafka.bootstrap.servers is required (for a local run start the development "
             "Kafka: eoc-kafka-dev)");
        return NULL;
    }
    eoc_worker_t *w = calloc(1, sizeof(*w));
    if (!w) {
        fail(errstr, errstr_size, EOC_ERR_NOMEM, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&w->ptab.lock, NULL);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    eoc__histo_init(&w->commit_latency);
    w->conf = conf;
    w->handler = handler;
    w->opaque = opaque;
    eoc__log_init(&w->log, conf, "worker");
    atomic_init(&w->logp, &w->log);
    w->batch_max = eoc__conf_int(conf, "batch.max.records");
    w->fill = &w->bat[0];
    if (eoc__batch_init(&w->bat[0], 0, (size_t)w->batch_max) != 0 ||
        eoc__batch_init(&w->bat[1], 1, (size_t)w->batch_max) != 0) {
        fail(errstr, errstr_size, EOC_ERR_NOMEM, "out of memory");
        goto fail;
    }
    w->batch_ms = eoc__conf_int(conf, "batch.max.ms");
    w->retry_max = eoc__conf_int(conf, "retry.max.attempts");
    w->backoff_ms = eoc__conf_int(conf, "retry.backoff.ms");
    w->max_crashes = eoc__conf_int(conf, "handler.max.crashes");
    w->record_max = eoc__conf_int(conf, "record.max.bytes");
    w->empty_skip = strcmp(eoc__conf_str(conf, "empty.value"), "skip") == 0;
    w->missing_position = strcmp(eoc__conf_str(conf, "id.missing"), "position") == 0;
    w->prune_age = eoc__conf_int(conf, "inbox.retention.ms");
    w->prune_count = eoc__conf_int(conf, "inbox.retention.count");
    w->prune_every = eoc__conf_int(conf, "inbox.prune.interval.ms");
    const char *dlq = eoc__conf_str(conf, "dlq.topic");
    if (*dlq)
        snprintf(w->dlq, sizeof(w->dlq), "%s", dlq);
    else
        snprintf(w->dlq, sizeof(w->dlq), "%s.dlq", eoc__conf_str(conf, "group.id"));

    struct strat_ctx sc = {w, errstr, errstr_size};
    if (add_strat(w, NULL, eoc__conf_str(conf, "id.strategy"), errstr, errstr_size) != 0 ||
        eoc__conf_foreach_prefix(conf, "id.strategy.", strat_one, &sc) != 0)
        goto fail;
    if (eoc__store_open(eoc__conf_str(conf, "data.dir"),
                        (uint64_t)eoc__conf_int(conf, "store.map.size"), 0, &w->log, &w->store,
                        errstr, errstr_size) != EOC_OK)
        goto fail;
    if (eoc__conf_bool(conf, "relay.enable") &&
        !(w->relay = eoc__relay_create(w->store, conf, &w->log, errstr, errstr_size)))
        goto fail;
    if (setup_consumer(w, errstr, errstr_size) != EOC_OK)
        goto fail;
    if (*eoc__conf_str(conf, "metrics.listen") &&
        !(w->metrics = eoc__metrics_start(w, errstr, errstr_size)))
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
    if ((w->prune_age <= 0 && w->prune_count <= 0) ||
        (w->last_prune && now - w->last_prune < w->prune_every))
        return;
    w->last_prune = now;
    uint64_t n = 0;
    if (eoc__store_prune(w->store, w->prune_age, w->prune_count, 10000, &n) == EOC_OK && n) {
        count(&w->c.inbox_pruned, n);
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
            rebalance_cb(w->rk, rd_kafka_event_error(ev), rd_kafka_event_topic_partition_list(ev),
                         w);
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
    return b->n && ((int64_t)b->n >= w->batch_max || now - b->first_ms >= w->batch_ms);
}

static int is_careful(eoc_worker_t *w, const rd_kafka_message_t *m)
{
    eoc__part_t *p = part_get(w, rd_kafka_topic_name(m->rkt), m->partition);
    if (p && p->careful_first) {
        p->careful_until = m->offset + w->batch_max;
        p->careful_first = 0;
    }
    return p && p->careful_until >= 0 && m->offset < p->careful_until;
}

eoc_err_t eoc_worker_run(eoc_worker_t *w)
{
    if (w->relay && pthread_create(&w->relay_thread, NULL, relay_main, w->relay) == 0)
        w->relay_started = 1;
    if (pthread_create(&w->apply_thread, NULL, apply_main, w) == 0)
        w->apply_started = 1; /* else batches are applied on this thread */
    int64_t now = eoc__mono_ms(); /* read once per record (and after waits) */
    int64_t last_skip = now;
    while (!atomic_load(&w->stop)) {
        int timeout = POLL_IDLE_MS;
        if (w->fill->n) {
            int64_t left = w->fill->first_ms + w->batch_ms - now;
            timeout = left > 0 ? (int)left : 0;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(w->rk, timeout);
        now = eoc__mono_ms(); /* the poll may have blocked */
        rewind_run(w, &m);   /* a batch failed: drop what came after it */
        if (m && m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                eoc__log(&w->log, EOC_LOG_WARNING, "consumer: %s", rd_kafka_message_errstr(m));
            if (m->err == RD_KAFKA_RESP_ERR__FATAL) {
                atomic_store(&w->fatal, EOC_ERR_FATAL);
                atomic_store(&w->stop, 1);
            }
            rd_kafka_message_destroy(m);
            m = NULL;
        }
        if (m) {
            eoc__part_t *p = part_get(w, rd_kafka_topic_name(m->rkt), m->partition);
            if (p && p->polled >= 0 && m->offset > p->polled)
                gap_note(w, m, p->polled);
            if (p)
                p->polled = m->offset + 1;
        }
        if (m && is_careful(w, m))
            flush_careful(w, m, now);
        else if (m && buffer_add(w, m, now) != 0)
            message_rewind(w, m); /* out of memory: read it again */
        if (batch_due(w, now)) {
            pipeline_hand_off(w); /* may wait for the apply thread */
            now = eoc__mono_ms();
        }
        if (!w->fill->n && pipeline_idle(w)) {
            offsets_sync(w);
            if (now - last_skip >= SKIP_EVERY_MS) {
                skip_unseen(w);
                last_skip = now;
            }
            maybe_prune(w);
        }
    }

    /* Drain: the batches, then the outbox, then offsets and the group. */
    pipeline_wait(w);
    if (!atomic_load(&w->fatal))
        batch_flush(w, w->fill, 0);
    buffer_drop(w->fill);
    pipeline_stop(w);
    eoc__batch_drop(&w->bat[0]); /* messages go before the consumer */
    eoc__batch_drop(&w->bat[1]);
    offsets_sync(w);
    if (w->relay_started) {
        eoc__relay_stop(w->relay);
        pthread_join(w->relay_thread, NULL);
        w->relay_started = 0;
    }
    consumer_close(w); /* revoke: offset commit, leave group; bounded */
    eoc_err_t fatal = atomic_load(&w->fatal);
    eoc__log(&w->log, fatal ? EOC_LOG_ERR : EOC_LOG_INFO, "worker stopped%s%s", fatal ? ": " : "",
             fatal ? eoc_strerror(fatal) : "");
    return fatal;
}

void eoc_worker_stats(eoc_worker_t *w, eoc_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    out->consumed = atomic_load(&w->c.consumed);
    out->applied = atomic_load(&w->c.applied);
    out->duplicates = atomic_load(&w->c.duplicates);
    out->dead_letters = atomic_load(&w->c.dead_letters);
    out->skipped = atomic_load(&w->c.skipped);
    out->retries = atomic_load(&w->c.retries);
    out->batches = atomic_load(&w->c.batches);
    out->commit_failures = atomic_load(&w->c.commit_failures);
    out->rebalances = atomic_load(&w->c.rebalances);
    out->inbox_pruned = atomic_load(&w->c.inbox_pruned);
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
    eoc_store_close(w->store);
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
    for (size_t i = 0; i < w->ptab.n; i++) {
        free(w->ptab.v[i]->topic);
        free(w->ptab.v[i]);
    }
    free(w->ptab.v);
    pthread_mutex_destroy(&w->ptab.lock);
    if (leak) {
        atomic_store(&w->logp, NULL);
        return; /* w->conf and w stay: the consumer's threads still read them */
    }
    eoc_conf_destroy(w->conf);
    free(w);
}

/* Accessors for the metrics module. */
eoc__ptab_t *eoc__worker_ptab(eoc_worker_t *w)
{
    return &w->ptab;
}

const eoc__histo_t *eoc__worker_commit_latency(eoc_worker_t *w)
{
    return &w->commit_latency;
}

eoc__store_t *eoc__worker_store(eoc_worker_t *w)
{
    return w->store;
}

rd_kafka_t *eoc__worker_consumer(eoc_worker_t *w)
{
    return w->rk;
}

/* ------------------------------------------------------------------ */
/* commit latency histogram                                            */
/* ------------------------------------------------------------------ */

const double eoc__histo_bounds[EOC__HISTO_BUCKETS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                      0.05,   0.1,   0.25,   0.5,   1.0,  2.5};

void eoc__histo_init(eoc__histo_t *h)
{
    memset(h, 0, sizeof(*h));
}

void eoc__histo_add(eoc__histo_t *h, double seconds)
{
    size_t i = 0;
    while (i < EOC__HISTO_BUCKETS && seconds > eoc__histo_bounds[i])
        i++;
    count(&h->bucket[i], 1);
    count(&h->count, 1);
    count(&h->sum_us, (uint64_t)(seconds * 1e6));
}

eoc_err_t eoc__worker_fatal(eoc_worker_t *w)
{
    return atomic_load(&w->fatal);
}

const eoc_conf_t *eoc__worker_conf(eoc_worker_t *w)
{
    return w->conf;
}

const eoc_log_t *eoc__worker_log(eoc_worker_t *w)
{
    return &w->log;
}
