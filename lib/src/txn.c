/*
 * txn.c - eos.mode=kafka: the transactional producer, a batch's commit
 * path, aborts, fencing, the rebalance hooks and catch-up (txn.h).
 *
 * Errors of the transaction calls (librdkafka's examples/transactions.c,
 * KIP-447):
 *   - retriable (the outcome is unknown, e.g. a timeout): the same call
 *     again; a commit is never taken for aborted;
 *   - txn_requires_abort (a produce failed, ILLEGAL_GENERATION or
 *     UNKNOWN_MEMBER_ID on send_offsets, ...): abort_transaction, drop the
 *     LMDB transaction, rewind the batch to its first offsets (the
 *     committed ones) and apply it again;
 *   - fatal (PRODUCER_FENCED, INVALID_PRODUCER_EPOCH, ...): drop the batch,
 *     re-create the producer (init_transactions), and restore and
 *     reposition every assigned partition before the next batch (another
 *     process may have moved them on meanwhile).
 */
#include "txn.h"

#include "crash.h"
#include "kafka.h"
#include "util.h"
#include "worker_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#define TXN_TIMEOUT_MS 60000 /* per transaction call */
#define COMMIT_RETRIES 10    /* retriable commit/abort outcomes before re-creating */
#define INSTANCE_FILE  "eos.instance"
#define PRUNE_MAX      10000 /* inbox rows retention removes per batch */
#define REJOIN_WAIT_MS                                                                             \
    30000 /* no batch for this long after a generation error, unless a                             \
             rebalance callback comes first */

/* ------------------------------------------------------------------ */
/* the producer                                                        */
/* ------------------------------------------------------------------ */

/* <data.dir>/eos.instance holds the transactional.id, "<group>-<uuid>",
 * made once: stable across restarts of this data directory, and locked
 * while a worker runs, so two live processes never share it. */
static int instance_id(eoc_worker_t *w, eoc__km_t *km, char *errstr, size_t errstr_size)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", w->set.data_dir, INSTANCE_FILE);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return eoc__errf(errstr, errstr_size, EOC_ERR_IO, "%s: %s", path, strerror(errno)), -1;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        close(fd);
        return eoc__errf(errstr, errstr_size, EOC_ERR_LOCKED,
                         "%s is locked: another worker runs on this data.dir (eos.mode=kafka "
                         "needs one data.dir per worker process)",
                         path),
               -1;
    }
    char buf[300] = {0};
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
        buf[--n] = 0;
    if (n <= 0) {
        unsigned char r[16];
        int rfd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
        if (rfd < 0 || read(rfd, r, sizeof(r)) != (ssize_t)sizeof(r)) {
            if (rfd >= 0)
                close(rfd);
            close(fd);
            return eoc__errf(errstr, errstr_size, EOC_ERR_IO, "/dev/urandom: %s", strerror(errno)),
                   -1;
        }
        close(rfd);
        r[6] = (r[6] & 0x0f) | 0x40;
        r[8] = (r[8] & 0x3f) | 0x80;
        snprintf(buf, sizeof(buf),
                 "%s-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                 w->set.group_id, r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10],
                 r[11], r[12], r[13], r[14], r[15]);
        size_t len = strlen(buf);
        char line[310];
        snprintf(line, sizeof(line), "%s\n", buf);
        if (ftruncate(fd, 0) != 0 || pwrite(fd, line, len + 1, 0) != (ssize_t)(len + 1) ||
            fsync(fd) != 0) {
            close(fd);
            return eoc__errf(errstr, errstr_size, EOC_ERR_IO, "%s: %s", path, strerror(errno)), -1;
        }
    }
    snprintf(km->txid, sizeof(km->txid), "%s", buf);
    km->lock_fd = fd;
    return 0;
}

static eoc__km_t *km_of(rd_kafka_t *rk)
{
    eoc_worker_t *w = (eoc_worker_t *)rd_kafka_opaque(rk);
    return w ? w->km : NULL;
}

/* Delivery reports arrive on the apply thread (commit_transaction flushes
 * and serves them): the changelog positions of the batch. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)opaque;
    eoc__km_t *km = km_of(rk);
    if (!km)
        return;
    uintptr_t op = (uintptr_t)m->_private;
    if ((uint64_t)(op >> 1) != (km->txn_seq & (UINTPTR_MAX >> 1)))
        return; /* an earlier transaction's */
    if (m->err) {
        km->dr_failed = 1;
        return;
    }
    if (!(op & 1)) /* not a changelog record */
        return;
    const char *topic = rd_kafka_topic_name(m->rkt);
    for (size_t i = 0; i < km->npos; i++)
        if (km->pos[i].partition == m->partition && strcmp(km->pos[i].topic, topic) == 0) {
            if (m->offset + 1 > km->pos[i].next)
                km->pos[i].next = m->offset + 1;
            return;
        }
    if (km->npos == km->cappos) {
        size_t cap = km->cappos ? km->cappos * 2 : 16;
        struct eoc__km_pos *v = realloc(km->pos, cap * sizeof(*v));
        if (!v) {
            km->dr_failed = 1; /* cannot record the position: abort */
            return;
        }
        km->pos = v;
        km->cappos = cap;
    }
    struct eoc__km_pos *p = &km->pos[km->npos++];
    snprintf(p->topic, sizeof(p->topic), "%s", topic);
    p->partition = m->partition;
    p->next = m->offset + 1;
}

static rd_kafka_t *producer_new(eoc_worker_t *w, char *errstr, size_t errstr_size)
{
    char err[512];
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    rd_kafka_conf_set(kc, "acks", "all", NULL, 0);
    rd_kafka_conf_set(kc, "linger.ms", "5", NULL, 0);
    rd_kafka_conf_set(kc, "partitioner", "murmur2_random", NULL, 0);
    /* message.timeout.ms is left to librdkafka, which keeps it within
     * transaction.timeout.ms (the relay's 0 does not apply here). */
    if (eoc__kafka_conf_build(kc, w->conf, EOC_KAFKA_TX_PRODUCER, err, sizeof(err)) ||
        rd_kafka_conf_set(kc, "transactional.id", w->km->txid, err, sizeof(err))) {
        rd_kafka_conf_destroy(kc);
        eoc__errf(errstr, errstr_size, EOC_ERR_CONFIG, "%s", err);
        return NULL;
    }
    /* Its watermark queries serve restore: the high watermark, not the LSO. */
    rd_kafka_conf_set(kc, "isolation.level", "read_uncommitted", NULL, 0);
    /* A worker never creates a topic: an output or changelog topic that
     * does not exist fails the transaction instead. */
    rd_kafka_conf_set(kc, "allow.auto.create.topics", "false", NULL, 0);
    rd_kafka_conf_set_opaque(kc, w);
    rd_kafka_conf_set_dr_msg_cb(kc, on_delivery);
    eoc__kafka_conf_log(kc);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, err, sizeof(err));
    if (!rk) {
        rd_kafka_conf_destroy(kc);
        eoc__errf(errstr, errstr_size, EOC_ERR_KAFKA, "cannot create producer: %s", err);
        return NULL;
    }
    /* Fences a previous incarnation and aborts its open transaction. */
    rd_kafka_error_t *e = rd_kafka_init_transactions(rk, TXN_TIMEOUT_MS);
    if (e) {
        eoc__errf(errstr, errstr_size, EOC_ERR_KAFKA, "init_transactions (%s): %s", w->km->txid,
                  rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
        rd_kafka_destroy(rk);
        return NULL;
    }
    eoc__log(&w->log, EOC_LOG_INFO, "transactional producer ready (transactional.id=%s)",
             w->km->txid);
    return rk;
}

eoc__km_t *eoc__km_create(eoc_worker_t *w, char *errstr, size_t errstr_size)
{
    eoc__km_t *km = calloc(1, sizeof(*km));
    if (!km) {
        eoc__errf(errstr, errstr_size, EOC_ERR_NOMEM, "out of memory");
        return NULL;
    }
    km->lock_fd = -1;
    w->km = km;
    if (instance_id(w, km, errstr, errstr_size) != 0 ||
        !(km->rk = producer_new(w, errstr, errstr_size)) ||
        eoc__km_changelog_ensure(km->rk, w->set.group_id, w->set.input_topics, &w->log, errstr,
                                 errstr_size) != EOC_OK) {
        eoc__km_destroy(km);
        w->km = NULL;
        return NULL;
    }
    return km;
}

void eoc__km_destroy(eoc__km_t *km)
{
    if (!km)
        return;
    if (km->rk)
        rd_kafka_destroy(km->rk);
    if (km->restore_rk) {
        rd_kafka_consumer_close(km->restore_rk);
        rd_kafka_destroy(km->restore_rk);
    }
    for (int i = 0; i < 2; i++)
        if (km->meta[i])
            rd_kafka_consumer_group_metadata_destroy(km->meta[i]);
    if (km->lock_fd >= 0)
        close(km->lock_fd);
    free(km->pos);
    free(km->rq);
    free(km);
}

void eoc__km_batch_meta(eoc_worker_t *w, eoc__batch_t *b)
{
    eoc__km_t *km = w->km;
    if (km->meta[b->slot])
        rd_kafka_consumer_group_metadata_destroy(km->meta[b->slot]);
    km->meta[b->slot] = rd_kafka_consumer_group_metadata(w->rk);
}

/* ------------------------------------------------------------------ */
/* the commit path                                                     */
/* ------------------------------------------------------------------ */

enum { TXN_OK, TXN_ABORT, TXN_FATAL };

/* Classifies a transaction call's error (destroys it). */
static int txn_err(eoc_worker_t *w, const char *what, rd_kafka_error_t *e, int *retriable)
{
    if (retriable)
        *retriable = 0;
    if (!e)
        return TXN_OK;
    int r = TXN_ABORT;
    if (rd_kafka_error_is_fatal(e))
        r = TXN_FATAL;
    else if (rd_kafka_error_txn_requires_abort(e))
        r = TXN_ABORT;
    else if (rd_kafka_error_is_retriable(e) && retriable)
        *retriable = 1;
    else if (!rd_kafka_error_txn_requires_abort(e))
        r = TXN_FATAL; /* a state the producer cannot leave: start it over */
    rd_kafka_resp_err_t code = rd_kafka_error_code(e);
    if (code == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION ||
        code == RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID || code == RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID)
        atomic_store(&w->km->rejoin, eoc__mono_ms());
    eoc__log(&w->log, r == TXN_FATAL ? EOC_LOG_ERR : EOC_LOG_WARNING, "transaction %s: %s%s", what,
             rd_kafka_error_string(e),
             retriable && *retriable ? " (retrying)"
             : r == TXN_FATAL        ? " (fatal for the producer)"
                                     : " (aborting)");
    rd_kafka_error_destroy(e);
    return r;
}

/* ------------------------------------------------------------------ */
/* inbox retention                                                     */
/* ------------------------------------------------------------------ */

struct prune_ctx {
    eoc_worker_t *w;
    rd_kafka_topic_partition_list_t *parts; /* the batch's */
};

static int prune_wants(void *opaque, const char *topic, int32_t partition)
{
    struct prune_ctx *c = opaque;
    return rd_kafka_topic_partition_list_find(c->parts, topic, partition) != NULL;
}

static eoc_err_t prune_removed(void *opaque, const char *topic, int32_t partition, const char *id,
                               size_t id_len)
{
    struct prune_ctx *c = opaque;
    return eoc__km_stage_inbox_gone(c->w->store, c->w->set.group_id, topic, partition, id, id_len);
}

/* Inbox retention, when due, inside the batch's LMDB transaction: only the
 * batch's partitions (this worker owns them under the batch's generation),
 * each removed ID's tombstone staged into the batch's Kafka transaction.
 * The removals are in LMDB only if Kafka committed the tombstones. */
static eoc_err_t prune(eoc_worker_t *w, eoc__batch_t *b)
{
    if (!eoc__prune_due(w))
        return EOC_OK;
    struct prune_ctx c = {w, eoc__batch_list(b, 0)};
    eoc__prune_hooks_t h = {prune_wants, prune_removed, &c};
    uint64_t n = 0;
    eoc_err_t err = eoc__store_prune_batch(w->store, w->set.inbox_retention_ms,
                                           w->set.inbox_retention_count, PRUNE_MAX, &h, &n);
    rd_kafka_topic_partition_list_destroy(c.parts);
    if (err == EOC_OK && n) {
        eoc__count(&w->stats.inbox_pruned, n);
        eoc__log(&w->log, EOC_LOG_DEBUG,
                 "inbox retention pruned %" PRIu64 " entries (their changelog tombstones go "
                 "with this batch)",
                 n);
    }
    return err;
}

struct produce_ctx {
    eoc_worker_t *w;
    rd_kafka_resp_err_t err;
};

/* Produces one staged row into the open transaction. */
static int produce_row(void *opaque, const eoc__outrow_t *row)
{
    struct produce_ctx *c = opaque;
    eoc__km_t *km = c->w->km;
    int tomb = 0, cl = eoc__km_row_is_changelog(row, &tomb);
    char topic[512];
    size_t tl = row->topic_len < sizeof(topic) - 1 ? row->topic_len : sizeof(topic) - 1;
    memcpy(topic, row->topic, tl);
    topic[tl] = 0;
    rd_kafka_headers_t *hs = NULL;
    if (!cl) {
        hs = rd_kafka_headers_new(row->header_count + 1);
        rd_kafka_header_add(hs, "message-id", -1, row->id, (ssize_t)row->id_len);
        for (size_t i = 0; i < row->header_count; i++)
            rd_kafka_header_add(hs, row->headers[i].name, -1, row->headers[i].value,
                                (ssize_t)row->headers[i].len);
    }
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            km->rk, RD_KAFKA_V_TOPIC(topic),
            RD_KAFKA_V_PARTITION(row->partition < 0 ? RD_KAFKA_PARTITION_UA : row->partition),
            RD_KAFKA_V_KEY(row->key, row->key_len),
            RD_KAFKA_V_VALUE(tomb ? NULL : (void *)row->value, tomb ? 0 : row->value_len),
            RD_KAFKA_V_TIMESTAMP(cl ? 0 : row->timestamp), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_HEADERS(hs),
            RD_KAFKA_V_OPAQUE((void *)(((uintptr_t)km->txn_seq << 1) | (uintptr_t)cl)),
            RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_poll(km->rk, 50);
            continue;
        }
        if (err) {
            if (hs)
                rd_kafka_headers_destroy(hs);
            c->err = err;
            return 1;
        }
        return 0;
    }
}

/* Drops the producer (fenced or stuck) and makes a new one; every
 * assigned partition restores before its next batch. */
static void fenced(eoc_worker_t *w, eoc__km_t *km)
{
    eoc__count(&w->stats.km_fencings, 1);
    eoc__log(&w->log, EOC_LOG_ERR,
             "transactional producer fenced or failed: batch dropped, re-creating the producer; "
             "assigned partitions restore before their next batch");
    if (km->rk) {
        rd_kafka_purge(km->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_destroy(km->rk);
        km->rk = NULL;
    }
    char err[512];
    for (int i = 0; !km->rk && !atomic_load(&w->stop); i++) {
        if (!(km->rk = producer_new(w, err, sizeof(err)))) {
            eoc__log(&w->log, EOC_LOG_ERR, "%s", err);
            eoc__sleep_ms(1000);
        }
    }
    if (!km->rk) {
        atomic_store(&w->stats.fatal, EOC_ERR_KAFKA);
        atomic_store(&w->stop, 1);
    }
    atomic_store(&km->catch_up, 1);
}

/* Aborts the Kafka transaction; the LMDB one is already dropped. */
static void abort_txn(eoc_worker_t *w, eoc__km_t *km)
{
    eoc__count(&w->stats.km_aborts, 1);
    for (int i = 0; i < COMMIT_RETRIES; i++) {
        int retriable;
        int r = txn_err(w, "abort", rd_kafka_abort_transaction(km->rk, TXN_TIMEOUT_MS), &retriable);
        if (r == TXN_OK)
            return;
        if (!retriable)
            break;
    }
    fenced(w, km);
}

eoc_err_t eoc__km_commit(eoc_worker_t *w, eoc__batch_t *b)
{
    eoc__km_t *km = w->km;
    int r, retriable;
    double t0 = eoc__mono_s();
    km->npos = 0;
    km->dr_failed = 0;
    km->txn_seq++;
    int64_t since = atomic_load(&km->rejoin);
    if (since && eoc__mono_ms() - since < REJOIN_WAIT_MS) {
        /* Our generation is gone: a batch now would only be refused. The
         * rebalance callback (eoc__km_on_assign/_revoke) lifts this; after
         * REJOIN_WAIT_MS batches are tried again anyway. */
        eoc__store_abort(w->store);
        return EOC_ERR_KAFKA;
    }
    if (!km->rk || (r = txn_err(w, "begin", rd_kafka_begin_transaction(km->rk), NULL))) {
        eoc__store_abort(w->store);
        fenced(w, km);
        return EOC_ERR_KAFKA;
    }
    struct produce_ctx pc = {w, 0};
    eoc_err_t err = prune(w, b);
    if (err == EOC_OK)
        err = eoc__store_batch_rows_drain(w->store, produce_row, &pc);
    if (err != EOC_OK) {
        eoc__store_abort(w->store);
        if (pc.err)
            eoc__log(&w->log, EOC_LOG_WARNING, "transaction produce: %s", rd_kafka_err2str(pc.err));
        if (pc.err == RD_KAFKA_RESP_ERR__FATAL) {
            fenced(w, km);
        } else {
            abort_txn(w, km);
        }
        return err == EOC_ERR_KAFKA ? EOC_ERR_KAFKA : err;
    }
    eoc__crash_point("txn.produced");
    rd_kafka_topic_partition_list_t *offs = eoc__batch_list(b, 0);
    int tries = 0;
    do {
        r = txn_err(
            w, "send_offsets",
            rd_kafka_send_offsets_to_transaction(km->rk, offs, km->meta[b->slot], TXN_TIMEOUT_MS),
            &retriable);
    } while (r == TXN_ABORT && retriable && ++tries < COMMIT_RETRIES);
    rd_kafka_topic_partition_list_destroy(offs);
    if (r == TXN_OK) {
        eoc__crash_point("txn.offsets_sent");
        tries = 0;
        do {
            r = txn_err(w, "commit", rd_kafka_commit_transaction(km->rk, TXN_TIMEOUT_MS),
                        &retriable);
        } while (r == TXN_ABORT && retriable && ++tries < COMMIT_RETRIES);
        if (r == TXN_ABORT && retriable)
            r = TXN_FATAL; /* outcome unknown: a new producer resolves it, restore catches up */
    }
    if (r != TXN_OK) {
        eoc__store_abort(w->store);
        if (r == TXN_FATAL)
            fenced(w, km);
        else
            abort_txn(w, km);
        return EOC_ERR_KAFKA;
    }
    /* Committed in Kafka: the commit point. */
    eoc__count(&w->stats.km_commits, 1);
    eoc__histo_add(&w->stats.km_txn_latency, eoc__mono_s() - t0);
    eoc__crash_point("txn.committed");
    for (size_t i = 0; err == EOC_OK && i < km->npos; i++)
        err =
            eoc__store_clpos_set(w->store, km->pos[i].topic, km->pos[i].partition, km->pos[i].next);
    err = eoc__store_end(w->store, err);
    if (err != EOC_OK) {
        eoc__log(&w->log, EOC_LOG_ERR,
                 "LMDB commit after the Kafka commit failed (%s): the store is behind Kafka; "
                 "restoring before the next batch",
                 eoc_strerror(err));
        atomic_store(&km->catch_up, 1);
    }
    return EOC_OK;
}

/* ------------------------------------------------------------------ */
/* rebalances and catch-up (polling thread)                            */
/* ------------------------------------------------------------------ */

/* The restore queue: each assigned partition restores before it is
 * consumed, one at a time, in steps between polls. */

static ssize_t rq_find(const eoc__km_t *km, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < km->nrq; i++)
        if (km->rq[i].partition == partition && strcmp(km->rq[i].topic, topic) == 0)
            return (ssize_t)i;
    return -1;
}

/* Queues (topic, partition) unless it is queued already; -1 on no memory.
 * live: this process set its careful-mode markers already (a catch-up or
 * a retry: counting them again would count a crash that did not happen). */
static int rq_add(eoc__km_t *km, const char *topic, int32_t partition, int live)
{
    if (rq_find(km, topic, partition) >= 0)
        return 0;
    if (km->nrq == km->caprq) {
        size_t cap = km->caprq ? km->caprq * 2 : 16;
        eoc__km_rs_t *v = realloc(km->rq, cap * sizeof(*v));
        if (!v)
            return -1;
        km->rq = v;
        km->caprq = cap;
    }
    eoc__km_rs_t *r = &km->rq[km->nrq++];
    memset(r, 0, sizeof(*r));
    snprintf(r->topic, sizeof(r->topic), "%s", topic);
    r->partition = partition;
    r->live = live;
    return 0;
}

static void rq_remove(eoc_worker_t *w, size_t i)
{
    eoc__km_t *km = w->km;
    eoc__km_restore_cancel(w, &km->rq[i]);
    memmove(&km->rq[i], &km->rq[i + 1], (km->nrq - i - 1) * sizeof(km->rq[0]));
    km->nrq--;
}

static void pause_resume(eoc_worker_t *w, const rd_kafka_topic_partition_list_t *parts, int pause)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_copy(parts);
    rd_kafka_resp_err_t e =
        pause ? rd_kafka_pause_partitions(w->rk, l) : rd_kafka_resume_partitions(w->rk, l);
    for (int i = 0; !e && i < l->cnt; i++)
        e = l->elems[i].err;
    if (e)
        eoc__log(&w->log, EOC_LOG_ERR, "%s partitions: %s", pause ? "pause" : "resume",
                 rd_kafka_err2str(e));
    rd_kafka_topic_partition_list_destroy(l);
}

int eoc__km_restoring(eoc_worker_t *w, const rd_kafka_message_t *m)
{
    return w->km->nrq && rq_find(w->km, rd_kafka_topic_name(m->rkt), m->partition) >= 0;
}

static void careful_assign(eoc_worker_t *w, const rd_kafka_topic_partition_list_t *parts);

/* A partition whose restore ended: careful mode's records, then the group's
 * committed offset (fetched require_stable, as isolation.level is
 * read_committed: an open transaction's pending offsets are waited for),
 * then it is consumed again. */
static int restored(eoc_worker_t *w, eoc__km_rs_t *r)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, r->topic, r->partition);
    if (!r->live)
        careful_assign(w, l);
    r->live = 1;
    eoc__crash_point("assign.restored");
    rd_kafka_resp_err_t e = rd_kafka_committed(w->rk, l, TXN_TIMEOUT_MS);
    if (!e && l->elems[0].err)
        e = l->elems[0].err;
    if (!e) {
        if (l->elems[0].offset < 0)
            l->elems[0].offset = RD_KAFKA_OFFSET_BEGINNING; /* auto.offset.reset=earliest */
        rd_kafka_error_t *se = rd_kafka_seek_partitions(w->rk, l, 10000);
        if (se) {
            eoc__log(&w->log, EOC_LOG_ERR, "restore %s[%d]: seek: %s", r->topic, r->partition,
                     rd_kafka_error_string(se));
            rd_kafka_error_destroy(se);
            e = RD_KAFKA_RESP_ERR__FAIL;
        } else if (l->elems[0].err) {
            e = l->elems[0].err;
        }
    } else {
        eoc__log(&w->log, EOC_LOG_ERR, "restore %s[%d]: the group's committed offset: %s",
                 r->topic, r->partition, rd_kafka_err2str(e));
    }
    if (!e)
        pause_resume(w, l, 0);
    rd_kafka_topic_partition_list_destroy(l);
    return e ? -1 : 0;
}

int eoc__km_restore_run(eoc_worker_t *w, int64_t budget_ms)
{
    eoc__km_t *km = w->km;
    if (!km || !km->nrq)
        return 0;
    eoc__pipe_wait(w);
    if (!km->nrq)
        return 0; /* a rebalance inside the wait took them */
    eoc__km_rs_t *r = &km->rq[0];
    eoc_err_t err = eoc__km_restore_step(w, r, budget_ms);
    if (err != EOC_OK) {
        eoc__pipe_fatal(w, err, "restore of %s[%d] failed (%s); a restart restores again",
                        r->topic, r->partition, eoc_strerror(err));
        return 0;
    }
    if (r->done) {
        if (restored(w, r) != 0) {
            /* queued again: the next step starts it over (a current store
             * reads nothing) and positions it once more */
            eoc__km_rs_t again = *r;
            rq_remove(w, 0);
            if (rq_add(km, again.topic, again.partition, again.live) != 0)
                eoc__pipe_fatal(w, EOC_ERR_NOMEM, "restore queue: out of memory");
            eoc__sleep_ms(200);
        } else {
            rq_remove(w, 0);
        }
    }
    return km->nrq > 0;
}

/* Careful mode's records of a partition once it is restored (careful.c),
 * in one small durable LMDB transaction, once per assignment. Crashes
 * count at the offset this host's store last committed for the partition
 * (a host's own count: the markers are not in the changelog); that offset
 * lags when another host moved the partition on meanwhile, so careful
 * mode, once due, starts at the first record received, which is the
 * committed offset's. */
static void careful_assign(eoc_worker_t *w, const rd_kafka_topic_partition_list_t *parts)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_copy(parts);
    eoc_err_t err = eoc__store_begin(w->store);
    if (err == EOC_OK) {
        for (int i = 0; i < l->cnt; i++) {
            int64_t off;
            l->elems[i].offset = eoc__store_offset_get(w->store, l->elems[i].topic,
                                                       l->elems[i].partition, &off) == EOC_OK
                                     ? off
                                     : RD_KAFKA_OFFSET_INVALID;
        }
        err = eoc__store_end(w->store, eoc__careful_assign_list(w, l));
    }
    for (int i = 0; err == EOC_OK && i < l->cnt; i++) {
        eoc__part_t *p = eoc__parts_get(w, l->elems[i].topic, l->elems[i].partition);
        if (p && p->careful_until >= 0) {
            p->careful_until = -1;
            p->careful_first = 1;
        }
    }
    if (err != EOC_OK)
        eoc__log(&w->log, EOC_LOG_ERR,
                 "assign: could not record live markers (%s): a crash loop on these partitions "
                 "goes unnoticed until the next assignment",
                 eoc_strerror(err));
    rd_kafka_topic_partition_list_destroy(l);
}

void eoc__km_on_assign(eoc_worker_t *w, rd_kafka_topic_partition_list_t *parts)
{
    eoc__pipe_wait(w);
    atomic_store(&w->km->rejoin, 0); /* a generation of ours again */
    for (int i = 0; i < parts->cnt; i++)
        if (rq_add(w->km, parts->elems[i].topic, parts->elems[i].partition, 0) != 0) {
            eoc__pipe_fatal(w, EOC_ERR_NOMEM, "restore queue: out of memory");
            break;
        }
    /* Where consuming starts is set when each restore ends (restored). */
    for (int i = 0; i < parts->cnt; i++)
        parts->elems[i].offset = RD_KAFKA_OFFSET_INVALID;
}

void eoc__km_after_assign(eoc_worker_t *w, const rd_kafka_topic_partition_list_t *parts)
{
    if (parts->cnt)
        pause_resume(w, parts, 1);
}

void eoc__km_on_revoke(eoc_worker_t *w, rd_kafka_topic_partition_list_t *parts, int lost)
{
    /* The batch in flight ends first (with a fencing or a generation error
     * when the assignment was lost: aborted). */
    eoc__pipe_wait(w);
    atomic_store(&w->km->rejoin, 0); /* the group told us where we stand */
    for (int i = 0; i < parts->cnt; i++) {
        ssize_t q = rq_find(w->km, parts->elems[i].topic, parts->elems[i].partition);
        if (q >= 0)
            rq_remove(w, (size_t)q); /* what it restored so far is committed */
    }
    if (lost) {
        /* The filling batch is dropped. */
        if (w->fill->n) {
            eoc__log(&w->log, EOC_LOG_WARNING,
                     "assignment lost: dropping the unapplied batch of %zu records", w->fill->n);
            eoc__pipe_drop(w->fill);
        }
        return;
    }
    /* A clean revocation: the filling batch commits in its own
     * transaction before the partitions go, then their live markers are
     * cleared (the next owner counts no crash). */
    if (eoc__pipe_flush_now(w, 0) != EOC_OK)
        return;
    eoc_err_t err = eoc__store_begin(w->store);
    if (err == EOC_OK)
        err = eoc__store_end(w->store, eoc__careful_revoke_list(w->store, parts));
    if (err != EOC_OK)
        eoc__log(&w->log, EOC_LOG_ERR,
                 "revoke: could not clear live markers (%s): this host counts an unclean "
                 "hand-over when it gets them back",
                 eoc_strerror(err));
}

int eoc__km_catch_up(eoc_worker_t *w)
{
    eoc__km_t *km = w->km;
    if (!km || !atomic_load(&km->catch_up))
        return 0;
    atomic_store(&km->catch_up, 0);
    if (w->fill->n)
        eoc__pipe_drop(w->fill);
    rd_kafka_topic_partition_list_t *l = NULL;
    if (rd_kafka_assignment(w->rk, &l) || !l)
        return 1;
    /* Every assigned partition restores again and is then positioned at
     * the group's committed offset (restored): paused meanwhile. */
    eoc__log(&w->log, EOC_LOG_WARNING, "catch-up: restoring %d assigned partition(s)", l->cnt);
    for (int i = 0; i < l->cnt; i++) {
        ssize_t q = rq_find(km, l->elems[i].topic, l->elems[i].partition);
        int live = 1; /* restored once: its markers are set */
        if (q >= 0) {
            live = km->rq[q].live; /* still waiting for its first restore */
            rq_remove(w, (size_t)q); /* starts over: a new end */
        }
        if (rq_add(km, l->elems[i].topic, l->elems[i].partition, live) != 0) {
            eoc__pipe_fatal(w, EOC_ERR_NOMEM, "restore queue: out of memory");
            break;
        }
    }
    if (l->cnt)
        pause_resume(w, l, 1);
    rd_kafka_topic_partition_list_destroy(l);
    return 1;
}
