/*
 * changelog.c - eos.mode=kafka: the changelog topics, the per-partition
 * scope of state and inbox, and restore (txn.h has the protocol).
 *
 * One compacted topic per input topic and group,
 * "<group>.<topic>.changelog", with the input's partition count: the
 * changelog partition of input partition p is p. Keys are chosen so that
 * compaction keeps what a restore needs:
 *
 *   "i\0<id>"  -> digest (8 bytes BE), offset (8 bytes BE), disposition (1):
 *                 an inbox row of the partition; a tombstone when inbox
 *                 retention removed it (so compaction drops it, and a
 *                 restore that reads both forgets it)
 *   "s\0<key>" -> the state value; a tombstone (null value) for a delete
 *
 * Restore runs in steps (txn.c's restore queue drives them from the
 * polling loop, one partition at a time, while the apply thread idles):
 * the first step takes the end and the start, each later one reads up to
 * eos.restore.batch.records changelog records within a time slice and
 * commits them with the position after them. The partition stays paused
 * in the group's consumer meanwhile; the others go on, and so does the
 * polling. Each partition's restore must end within eos.restore.timeout.ms
 * (default 120000; keep it above transaction.timeout.ms, the longest a
 * zombie's open transaction can hold the LSO below the end). A restore
 * reads at most what was written since the store's recorded position: a
 * current store reads the last commit marker and nothing else.
 *
 * In the store, state keys and inbox IDs of the mode carry an 8-byte
 * prefix (the partition, big endian, and a hash of the topic), so a
 * handler sees only its record's partition and a partition's rows can
 * move to another host with its changelog.
 */
#include "worker_int.h"

#include "crash.h"
#include "idindex.h"
#include "kafka.h"
#include "txn.h"
#include "util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CL_HEADER "eoc-changelog" /* marks a staged changelog row: "1", or "t" (tombstone) */

void eoc__km_changelog_name(char *buf, size_t size, const char *group, const char *topic)
{
    snprintf(buf, size, "%s.%s.changelog", group, topic);
}

void eoc__km_scope(unsigned char *out, const char *topic, int32_t partition)
{
    uint64_t h = eoc__hash64(topic, strlen(topic), 0);
    eoc__be64_put(out, ((uint64_t)(uint32_t)partition << 32) | (h & 0xffffffffu));
}

size_t eoc__km_inbox_id(char *buf, const char *topic, int32_t partition, const char *id, size_t len)
{
    eoc__km_scope((unsigned char *)buf, topic, partition);
    memcpy(buf + EOC__KM_SCOPE, id, len);
    return EOC__KM_SCOPE + len;
}

static eoc_err_t stage(eoc__store_t *s, const char *group, const char *topic, int32_t partition,
                       char kind, const void *key, size_t klen, const void *v, size_t vlen,
                       int tombstone)
{
    char name[600], kb[EOC_ID_MAX + 2];
    if (klen > EOC_ID_MAX)
        return EOC_ERR_INVALID_ARG;
    eoc__km_changelog_name(name, sizeof(name), group, topic);
    kb[0] = kind;
    kb[1] = 0;
    memcpy(kb + 2, key, klen);
    eoc_header_t h = {CL_HEADER, tombstone ? "t" : "1", 1};
    eoc__outrow_t row = {.id = kb,
                         .id_len = klen + 2,
                         .topic = name,
                         .topic_len = strlen(name),
                         .partition = partition,
                         .key = kb,
                         .key_len = klen + 2,
                         .value = v,
                         .value_len = vlen,
                         .headers = &h,
                         .header_count = 1};
    return eoc__store_outbox_add(s, &row);
}

eoc_err_t eoc__km_stage_inbox(eoc__store_t *s, const char *group, const char *topic,
                              int32_t partition, const char *id, size_t id_len, int64_t offset,
                              uint64_t digest, int disposition)
{
    unsigned char v[17];
    eoc__be64_put(v, digest);
    eoc__be64_put(v + 8, (uint64_t)offset);
    v[16] = (unsigned char)disposition;
    return stage(s, group, topic, partition, 'i', id, id_len, v, sizeof(v), 0);
}

eoc_err_t eoc__km_stage_inbox_gone(eoc__store_t *s, const char *group, const char *topic,
                                   int32_t partition, const char *id, size_t id_len)
{
    if (id_len <= EOC__KM_SCOPE)
        return EOC_OK; /* not this mode's row (no scope): no changelog entry to delete */
    return stage(s, group, topic, partition, 'i', id + EOC__KM_SCOPE, id_len - EOC__KM_SCOPE, NULL,
                 0, 1);
}

eoc_err_t eoc__km_stage_state(eoc__store_t *s, const char *group, const char *topic,
                              int32_t partition, const void *key, size_t klen, const void *v,
                              size_t vlen, int del)
{
    return stage(s, group, topic, partition, 's', key, klen, del ? NULL : v, del ? 0 : vlen, del);
}

int eoc__km_row_is_changelog(const eoc__outrow_t *row, int *tombstone)
{
    for (size_t i = 0; i < row->header_count; i++)
        if (strcmp(row->headers[i].name, CL_HEADER) == 0) {
            *tombstone = row->headers[i].len == 1 && *(const char *)row->headers[i].value == 't';
            return 1;
        }
    return 0;
}

/* ------------------------------------------------------------------ */
/* the topics                                                          */
/* ------------------------------------------------------------------ */

static int partition_count(const rd_kafka_metadata_t *md, const char *topic)
{
    for (int i = 0; i < md->topic_cnt; i++)
        if (strcmp(md->topics[i].topic, topic) == 0)
            return md->topics[i].err ? -1 : md->topics[i].partition_cnt;
    return -1;
}

static eoc_err_t create_topic(rd_kafka_t *rk, const char *name, int partitions, char *errstr,
                              size_t errstr_size)
{
    char err[256];
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(name, partitions, -1, err, sizeof(err));
    if (!nt)
        return eoc__errf(errstr, errstr_size, EOC_ERR_KAFKA, "changelog %s: %s", name, err);
    rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "compact");
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opt = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_operation_timeout(opt, 30000, NULL, 0);
    rd_kafka_CreateTopics(rk, &nt, 1, opt, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 60000);
    eoc_err_t ret = EOC_OK;
    if (!ev) {
        ret = eoc__errf(errstr, errstr_size, EOC_ERR_KAFKA, "changelog %s: create timed out", name);
    } else if (rd_kafka_event_error(ev)) {
        ret = eoc__errf(errstr, errstr_size, EOC_ERR_KAFKA, "changelog %s: %s", name,
                        rd_kafka_event_error_string(ev));
    } else {
        size_t n;
        const rd_kafka_topic_result_t **r =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
        for (size_t i = 0; i < n; i++) {
            rd_kafka_resp_err_t e = rd_kafka_topic_result_error(r[i]);
            if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
                ret = eoc__errf(errstr, errstr_size, EOC_ERR_KAFKA, "changelog %s: %s", name,
                                rd_kafka_topic_result_error_string(r[i]));
        }
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(opt);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
    return ret;
}

eoc_err_t eoc__km_changelog_ensure(rd_kafka_t *rk, const char *group, const char *topics,
                                   const eoc_log_t *log, char *errstr, size_t errstr_size)
{
    char *copy = strdup(topics), *save = NULL;
    eoc_err_t ret = copy ? EOC_OK : EOC_ERR_NOMEM;
    for (char *t = copy ? strtok_r(copy, ",", &save) : NULL; t && ret == EOC_OK;
         t = strtok_r(NULL, ",", &save)) {
        char name[600];
        eoc__km_changelog_name(name, sizeof(name), group, t);
        for (int attempt = 0;; attempt++) {
            const rd_kafka_metadata_t *md;
            /* All topics: a request naming a missing topic could have the
             * broker auto-create it, uncompacted. */
            rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 1, NULL, &md, 10000);
            if (e) {
                ret = eoc__errf(errstr, errstr_size, EOC_ERR_KAFKA, "metadata: %s",
                                rd_kafka_err2str(e));
                break;
            }
            int in = partition_count(md, t), cl = partition_count(md, name);
            rd_kafka_metadata_destroy(md);
            if (in <= 0) {
                ret = eoc__errf(errstr, errstr_size, EOC_ERR_CONFIG,
                                "eos.mode=kafka: input topic %s not found (create it first: its "
                                "changelog gets its partition count)",
                                t);
                break;
            }
            if (cl > 0 && cl != in) {
                ret = eoc__errf(errstr, errstr_size, EOC_ERR_CONFIG,
                                "eos.mode=kafka: changelog %s has %d partition(s), input topic "
                                "%s has %d: they must match (state of input partition p lives "
                                "in changelog partition p); refusing to start",
                                name, cl, t, in);
                break;
            }
            if (cl > 0)
                break;
            if (attempt >= 5) {
                ret = eoc__errf(errstr, errstr_size, EOC_ERR_KAFKA,
                                "changelog %s: created but not in the metadata", name);
                break;
            }
            if (attempt == 0) {
                eoc__log(log, EOC_LOG_INFO,
                         "creating changelog topic %s (%d partitions, cleanup.policy=compact)",
                         name, in);
                if ((ret = create_topic(rk, name, in, errstr, errstr_size)) != EOC_OK)
                    break;
            }
            eoc__sleep_ms(500);
        }
    }
    free(copy);
    return ret;
}

/* ------------------------------------------------------------------ */
/* restore                                                             */
/* ------------------------------------------------------------------ */

/* Applies one changelog record of (topic, partition) to the open batch. */
static eoc_err_t restore_one(eoc_worker_t *w, const char *topic, int32_t partition,
                             const rd_kafka_message_t *m)
{
    const char *k = m->key;
    if (!k || m->key_len < 3 || k[1] != 0)
        return EOC_OK; /* not ours */
    size_t klen = m->key_len - 2;
    if (k[0] == 's') {
        unsigned char sk[EOC__KM_SCOPE + EOC_ID_MAX];
        if (klen > EOC_ID_MAX - EOC__KM_SCOPE)
            return EOC_OK;
        eoc__km_scope(sk, topic, partition);
        memcpy(sk + EOC__KM_SCOPE, k + 2, klen);
        return eoc__store_state_put_raw(w->store, sk, EOC__KM_SCOPE + klen, m->payload, m->len,
                                        m->payload == NULL);
    }
    if (k[0] == 'i' && !m->payload && klen <= EOC_ID_MAX) {
        /* retention removed it (eoc__km_stage_inbox_gone) */
        char id[EOC__KM_SCOPE + EOC_ID_MAX];
        return eoc__store_inbox_forget(w->store, id,
                                       eoc__km_inbox_id(id, topic, partition, k + 2, klen));
    }
    if (k[0] == 'i' && m->payload && m->len == 17 && klen <= EOC_ID_MAX) {
        char id[EOC__KM_SCOPE + EOC_ID_MAX];
        size_t n = eoc__km_inbox_id(id, topic, partition, k + 2, klen);
        const unsigned char *v = m->payload;
        uint64_t h = eoc__store_id_hash(id, n);
        eoc__inbox_entry_t e;
        eoc_err_t err = eoc__store_inbox_find_hashed(w->store, id, n, h, &e);
        if (err != EOC_ERR_NOT_FOUND)
            return err; /* already there (EOC_OK), or a store error */
        return eoc__store_inbox_add_hashed(w->store, id, n, h, topic, partition,
                                           (int64_t)eoc__be64_get(v + 8), eoc__be64_get(v), v[16]);
    }
    return EOC_OK;
}

static rd_kafka_t *restore_consumer(eoc_worker_t *w)
{
    char err[512];
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    char gid[300];
    snprintf(gid, sizeof(gid), "%s.restore", w->set.group_id);
    if (eoc__kafka_conf_apply(kc, w->conf, "kafka.", err, sizeof(err)) != 0) {
        rd_kafka_conf_destroy(kc);
        eoc__log(&w->log, EOC_LOG_ERR, "restore consumer: %s", err);
        return NULL;
    }
    /* assign() only: this group never joins or commits. */
    rd_kafka_conf_set(kc, "group.id", gid, NULL, 0);
    rd_kafka_conf_set(kc, "enable.auto.commit", "false", NULL, 0);
    rd_kafka_conf_set(kc, "enable.auto.offset.store", "false", NULL, 0);
    rd_kafka_conf_set(kc, "isolation.level", "read_committed", NULL, 0);
    rd_kafka_conf_set(kc, "auto.offset.reset", "earliest", NULL, 0);
    rd_kafka_conf_set(kc, "enable.partition.eof", "false", NULL, 0);
    rd_kafka_conf_set_opaque(kc, w);
    eoc__kafka_conf_log(kc);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, err, sizeof(err));
    if (!rk) {
        rd_kafka_conf_destroy(kc);
        eoc__log(&w->log, EOC_LOG_ERR, "restore consumer: %s", err);
        return NULL;
    }
    rd_kafka_poll_set_consumer(rk);
    return rk;
}

/* The restore's LMDB side: records and the position after them, committed
 * together. */
static eoc_err_t restore_commit(eoc_worker_t *w, const char *cl, int32_t partition, int64_t pos)
{
    return eoc__store_end(w->store, eoc__store_clpos_set(w->store, cl, partition, pos));
}

/* Whether a watermark query's error passes once the partition's leader
 * settles (a topic just created, a leader moving). */
static int watermarks_retriable(rd_kafka_resp_err_t e)
{
    switch (e) {
    case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
    case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR_REPLICA_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
        return 1;
    default:
        return 0;
    }
}

/* The first step: the end (the high watermark, read_uncommitted, as it
 * stands now), where to start, and the changelog reader on it. Sets
 * r->done when there is nothing to read. */
static eoc_err_t restore_begin(eoc_worker_t *w, eoc__km_rs_t *r)
{
    char cl[600];
    eoc__km_changelog_name(cl, sizeof(cl), w->set.group_id, r->topic);
    int64_t lo = 0, hi = 0, pos = -1;
    r->t0 = r->last_log = eoc__mono_ms();
    /* A changelog created a moment ago may not have a leader that answers
     * yet (NOT_LEADER_FOR_PARTITION, LEADER_NOT_AVAILABLE, ...): asked
     * again until eos.restore.timeout.ms. */
    rd_kafka_resp_err_t ke;
    while ((ke = rd_kafka_query_watermark_offsets(w->km->rk, cl, r->partition, &lo, &hi, 30000)) &&
           watermarks_retriable(ke) && eoc__mono_ms() - r->t0 < w->set.eos_restore_timeout_ms) {
        eoc__log(&w->log, EOC_LOG_WARNING, "restore %s[%d]: watermarks of %s: %s (asking again)",
                 r->topic, r->partition, cl, rd_kafka_err2str(ke));
        eoc__sleep_ms(500);
    }
    if (ke) {
        eoc__log(&w->log, EOC_LOG_ERR, "restore %s[%d]: watermarks of %s: %s", r->topic,
                 r->partition, cl, rd_kafka_err2str(ke));
        return EOC_ERR_KAFKA;
    }
    eoc_err_t err = eoc__store_begin(w->store);
    if (err != EOC_OK)
        return err;
    err = eoc__store_clpos_get(w->store, cl, r->partition, &pos);
    if (err != EOC_OK && err != EOC_ERR_NOT_FOUND) {
        eoc__store_abort(w->store);
        return err;
    }
    int have = err == EOC_OK, reset = 0;
    err = EOC_OK;
    int64_t from = pos;
    if (!have) {
        from = lo;
        eoc__log(&w->log, EOC_LOG_INFO,
                 "restore %s[%d]: no recorded changelog position: full restore of %s[%d] "
                 "from %" PRId64 " to %" PRId64,
                 r->topic, r->partition, cl, r->partition, lo, hi);
    } else if (pos < lo || pos > hi) {
        /* A position the changelog no longer has (below the log start) or
         * never had (above the high watermark: another cluster, a deleted
         * topic): start over. Inbox rows already in the store stay (they
         * name IDs Kafka committed); the state is rebuilt. */
        unsigned char scope[EOC__KM_SCOPE];
        uint64_t dropped = 0;
        eoc__km_scope(scope, r->topic, r->partition);
        err = eoc__store_state_drop_prefix(w->store, scope, sizeof(scope), &dropped);
        if (err != EOC_OK) {
            eoc__store_abort(w->store);
            return err;
        }
        eoc__log(&w->log, EOC_LOG_WARNING,
                 "restore %s[%d]: recorded changelog position %" PRId64 " is outside [%" PRId64
                 ", %" PRId64 "] of %s: full restore (%" PRIu64 " state keys dropped)",
                 r->topic, r->partition, pos, lo, hi, cl, dropped);
        from = lo;
        have = 0;
        reset = 1;
    }
    eoc__count(&w->stats.km_restores, 1);
    r->started = 1;
    r->hi = hi;
    r->at = r->from = from;
    if (from >= hi) {
        r->at = have ? pos : hi;
        err = restore_commit(w, cl, r->partition, r->at);
        if (err == EOC_OK) {
            r->done = 1;
            eoc__count(&w->stats.km_restores_empty, 1);
            eoc__log(&w->log, EOC_LOG_INFO,
                     "restore %s[%d]: restored 0 records (store current at changelog position "
                     "%" PRId64 ")",
                     r->topic, r->partition, r->at);
        }
        return err;
    }
    if (!w->km->restore_rk && !(w->km->restore_rk = restore_consumer(w))) {
        eoc__store_abort(w->store);
        return EOC_ERR_KAFKA;
    }
    if (reset && (err = eoc__store_end(w->store, EOC_OK)) != EOC_OK) /* the state dropped */
        return err;
    if (!reset)
        eoc__store_abort(w->store); /* read only */
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, cl, r->partition)->offset = from;
    rd_kafka_assign(w->km->restore_rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    eoc__log(&w->log, EOC_LOG_INFO, "restore %s[%d]: reading %s[%d] from %" PRId64 " to %" PRId64,
             r->topic, r->partition, cl, r->partition, from, hi);
    return EOC_OK;
}

/* Reads and applies changelog records for up to budget_ms (or
 * eos.restore.batch.records of them), then commits them with the position
 * after them in one LMDB transaction. */
static eoc_err_t restore_chunk(eoc_worker_t *w, eoc__km_rs_t *r, int64_t budget_ms)
{
    char cl[600];
    eoc__km_changelog_name(cl, sizeof(cl), w->set.group_id, r->topic);
    rd_kafka_t *rk = w->km->restore_rk;
    rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(rk);
    rd_kafka_message_t *ms[256];
    int64_t now = eoc__mono_ms(), end = now + budget_ms;
    size_t cap = (size_t)w->set.eos_restore_batch_records, n = 0;
    uint64_t bytes = 0;
    eoc_err_t err = eoc__store_begin(w->store);
    while (err == EOC_OK && n < cap) {
        if (now - r->t0 > w->set.eos_restore_timeout_ms) {
            eoc__log(&w->log, EOC_LOG_ERR,
                     "restore %s[%d]: position %" PRId64 " of %" PRId64
                     " after eos.restore.timeout.ms=%" PRId64 " (an open transaction below "
                     "the end waits for its producer or transaction.timeout.ms)",
                     r->topic, r->partition, r->at, r->hi, w->set.eos_restore_timeout_ms);
            err = EOC_ERR_KAFKA;
            break;
        }
        size_t want = cap - n < COUNTOF(ms) ? cap - n : COUNTOF(ms);
        int timeout = end > now ? (int)(end - now < 50 ? end - now : 50) : 0;
        ssize_t got = rd_kafka_consume_batch_queue(q, timeout, ms, want);
        for (ssize_t i = 0; i < got; i++) {
            rd_kafka_message_t *m = ms[i];
            if (m->err) {
                if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                    eoc__log(&w->log, EOC_LOG_WARNING, "restore %s[%d]: %s", r->topic,
                             r->partition, rd_kafka_message_errstr(m));
            } else if (err == EOC_OK) {
                err = restore_one(w, r->topic, r->partition, m);
                n++;
                bytes += m->key_len + m->len;
            }
            rd_kafka_message_destroy(m);
        }
        /* The position passes control records (commit and abort markers)
         * and aborted records too. */
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(l, cl, r->partition);
        rd_kafka_position(rk, l);
        if (l->elems[0].offset > r->at)
            r->at = l->elems[0].offset;
        rd_kafka_topic_partition_list_destroy(l);
        now = eoc__mono_ms();
        if (r->at >= r->hi || now >= end)
            break;
    }
    rd_kafka_queue_destroy(q);
    if (err != EOC_OK) {
        if (eoc__store_in_batch(w->store))
            eoc__store_abort(w->store);
        return err;
    }
    if ((err = restore_commit(w, cl, r->partition, r->at)) != EOC_OK)
        return err;
    eoc__count(&w->stats.km_restored_records, n);
    eoc__count(&w->stats.km_restored_bytes, bytes);
    r->total += n;
    r->bytes += bytes;
    uint64_t left = (uint64_t)(r->hi > r->at ? r->hi - r->at : 0);
    /* offsets read per second so far (control and aborted records too) */
    double rate = now > r->t0 ? (double)(r->at - r->from) * 1000.0 / (double)(now - r->t0) : 0.0;
    uint64_t eta = rate > 0 ? (uint64_t)((double)left / rate + 0.5) : 0;
    atomic_store(&w->stats.km_restore_lag, left);
    atomic_store(&w->stats.km_restore_eta_s, left ? eta : 0);
    if (r->at < r->hi) {
        eoc__crash_point("restore.step");
        if (now - r->last_log >= 5000) {
            r->last_log = now;
            eoc__log(&w->log, EOC_LOG_INFO,
                     "restore %s[%d]: %" PRIu64 " records (%.1f MiB), position %" PRId64
                     " of %" PRId64 ", %.0f offsets/s, about %" PRIu64 " s left",
                     r->topic, r->partition, r->total, (double)r->bytes / (1024.0 * 1024.0),
                     r->at, r->hi, rate, eta);
        }
        return EOC_OK;
    }
    r->done = 1;
    if (!r->total)
        eoc__count(&w->stats.km_restores_empty, 1);
    eoc__log(&w->log, EOC_LOG_INFO,
             "restore %s[%d]: restored %" PRIu64 " records (%.1f MiB) in %" PRId64
             " ms (changelog position %" PRId64 ")",
             r->topic, r->partition, r->total, (double)r->bytes / (1024.0 * 1024.0),
             eoc__mono_ms() - r->t0, r->at);
    rd_kafka_assign(rk, NULL);
    return EOC_OK;
}

eoc_err_t eoc__km_restore_step(eoc_worker_t *w, eoc__km_rs_t *r, int64_t budget_ms)
{
    if (!r->started)
        return restore_begin(w, r);
    return restore_chunk(w, r, budget_ms);
}

void eoc__km_restore_cancel(eoc_worker_t *w, eoc__km_rs_t *r)
{
    if (r->started && !r->done && w->km->restore_rk)
        rd_kafka_assign(w->km->restore_rk, NULL);
    atomic_store(&w->stats.km_restore_lag, 0);
    atomic_store(&w->stats.km_restore_eta_s, 0);
}
