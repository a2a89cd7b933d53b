/* relay.c - see relay.h. */
#include "relay.h"

#include "conf.h"
#include "crash.h"
#include "kafka.h"
#include "msgid.h"
#include "stages.h"
#include "store.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <limits.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <unistd.h>

/* Rows in flight at most: bounds the re-publication after a relay crash
 * (transport duplicates) while keeping enough in flight for throughput:
 * rows become publishable a batch at a time (thousands under load), and a
 * window of a few batches keeps the producer busy while the reports of
 * the previous ones come back. A power of two: ring positions are masked,
 * not divided. */
#define WINDOW        32768
#define IDLE_POLL_MS  100
#define LOCK_RETRY_MS 500
/* How long new rows wait for a commit of the worker to put them on disk
 * before the relay syncs itself (see settle). */
#define SYNC_WAIT_MS 10

/* Topic handles kept by the producer, so a row names its topic without a
 * lookup by name under librdkafka's lock; outputs go to few topics. */
#define TOPICS 8

enum { SLOT_INFLIGHT, SLOT_OK, SLOT_FAILED };

struct topic {
    rd_kafka_topic_t *rkt; /* owned; NULL: free */
    size_t len;
    char name[256];
};

struct slot {
    uint64_t seq;
    int state;
};

struct eoc__relay {
    const eoc_log_t *_Atomic logp;       /* first member: see kafka.h */
    const eoc_log_t *log;                /* borrowed */
    eoc__store_t *store;                 /* borrowed */
    const eoc_conf_t *conf;              /* borrowed */
    int64_t commit_ms, flush_timeout_ms; /* relay.commit.ms, relay.flush.timeout.ms */
    int lock_fd;                         /* -1 until the relay lock is ours */
    int wake_fd;                         /* eventfd */
    atomic_int stop;
    atomic_uint_fast64_t published, errors;
    atomic_int owner;

    rd_kafka_t *rk;      /* NULL between resets */
    int reset;           /* a delivery failed: re-create the producer */
    uint64_t refused;    /* 1 + seq of a row refused for good (refused_err); 0: none */
    rd_kafka_resp_err_t refused_err;
    int replaced;        /* refuse_row replaced it */
    int refused_local;   /* the producer refused it before sending (deterministic) */
    uint64_t strike_seq; /* 1 + seq of the row the broker refused last; 0: none */
    int strikes;         /* how many times in a row */
    char dlq[256];       /* where a refused row's dead letter goes */
    unsigned backoff_ms; /* after a reset */
    /* In-flight rows, in produce (= seq) order: a ring of WINDOW slots. */
    struct slot *ring;
    size_t head, count;
    uint64_t next_seq;      /* next row to produce */
    uint64_t removed_below; /* rows below are removed from the store */
    uint64_t acked_below;   /* rows below are acked (or removed) */
    /* Publication waits for the disk (settle): rows below on_disk_end are
     * on disk; a mark is a newer snapshot waiting to be. */
    uint64_t on_disk_end;
    int marked;
    size_t mark_txn;
    uint64_t mark_end;
    int64_t mark_ms;
    /* Shared with the worker, which removes acked rows in its own batch
     * transactions while it is busy (eoc__relay_acked/_removed). */
    atomic_uint_fast64_t shared_acked;   /* rows below are acked */
    atomic_uint_fast64_t shared_removed; /* rows below are removed */
    atomic_int_fast64_t removed_ms;      /* when rows were last removed */
    eoc__stages_t stages;                /* where the time goes (stages.h) */
    unsigned produce_sample;             /* rows since the last timed produce */
    struct topic topics[TOPICS];         /* of rk; the oldest is replaced */
    unsigned topics_next;
};

eoc__relay_t *eoc__relay_create(eoc__store_t *store, const eoc_conf_t *conf,
                                const eoc__settings_t *st, const eoc_log_t *log, char *errstr,
                                size_t errstr_size)
{
    eoc__relay_t *r = calloc(1, sizeof(*r));
    if (!r || !(r->ring = calloc(WINDOW, sizeof(*r->ring)))) {
        free(r);
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    r->store = store;
    r->conf = conf;
    r->commit_ms = st->relay_commit_ms;
    r->flush_timeout_ms = st->relay_flush_timeout_ms;
    r->log = log;
    atomic_init(&r->logp, log);
    r->lock_fd = -1;
    if (*st->dlq_topic)
        snprintf(r->dlq, sizeof(r->dlq), "%s", st->dlq_topic);
    else
        snprintf(r->dlq, sizeof(r->dlq), "%s.dlq", st->group_id);
    if ((r->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
        snprintf(errstr, errstr_size, "eventfd: %s", strerror(errno));
        free(r->ring);
        free(r);
        return NULL;
    }
    return r;
}

static void topics_drop(eoc__relay_t *r);

void eoc__relay_destroy(eoc__relay_t *r)
{
    if (!r)
        return;
    topics_drop(r);
    if (r->rk)
        rd_kafka_destroy(r->rk);
    if (r->lock_fd >= 0)
        close(r->lock_fd);
    close(r->wake_fd);
    free(r->ring);
    free(r);
}

void eoc__relay_wake(eoc__relay_t *r)
{
    uint64_t one = 1;
    ssize_t n = write(r->wake_fd, &one, sizeof(one));
    (void)n; /* a full counter already means "wake up" */
}

void eoc__relay_stop(eoc__relay_t *r)
{
    atomic_store(&r->stop, 1);
    eoc__relay_wake(r);
}

void eoc__relay_stats(eoc__relay_t *r, eoc__relay_stats_t *out)
{
    out->published = atomic_load(&r->published);
    out->errors = atomic_load(&r->errors);
    out->owner = atomic_load(&r->owner);
}

const struct eoc__stages *eoc__relay_stages(const eoc__relay_t *r)
{
    return &r->stages;
}

/* Waits for a wake-up or the timeout. */
static void idle(eoc__relay_t *r, int ms)
{
    struct pollfd p = {r->wake_fd, POLLIN, 0};
    if (poll(&p, 1, ms) > 0) {
        uint64_t v;
        ssize_t n = read(r->wake_fd, &v, sizeof(v));
        (void)n;
    }
}

static int take_lock(eoc__relay_t *r)
{
    if (r->lock_fd >= 0)
        return 1;
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/relay.lock", eoc__store_dir(r->store));
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
        eoc__log(r->log, EOC_LOG_ERR, "relay: cannot open %s: %s", path, strerror(errno));
        return 0;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        close(fd);
        return 0;
    }
    r->lock_fd = fd;
    atomic_store(&r->owner, 1);
    eoc__log(r->log, EOC_LOG_INFO, "relay: owns the outbox of %s", eoc__store_dir(r->store));
    return 1;
}

/* ---- in-flight ring ---- */

static struct slot *ring_at(eoc__relay_t *r, size_t i)
{
    return &r->ring[(r->head + i) & (WINDOW - 1)];
}

static struct slot *ring_find(eoc__relay_t *r, uint64_t seq)
{
    if (!r->count)
        return NULL;
    /* Outbox seqs have no gaps, so a row sits seq - first slots in; the
     * search is for a ring that ever holds a gap. */
    uint64_t first = ring_at(r, 0)->seq;
    if (seq >= first && seq - first < r->count) {
        struct slot *s = ring_at(r, (size_t)(seq - first));
        if (s->seq == seq)
            return s;
    }
    size_t lo = 0, hi = r->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        struct slot *s = ring_at(r, mid);
        if (s->seq == seq)
            return s;
        if (s->seq < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* Pops the acked prefix; returns the number popped. */
static size_t ring_advance(eoc__relay_t *r)
{
    size_t n = 0;
    while (r->count && ring_at(r, 0)->state == SLOT_OK) {
        r->acked_below = ring_at(r, 0)->seq + 1;
        r->head = (r->head + 1) & (WINDOW - 1);
        r->count--;
        n++;
    }
    if (!r->count)
        r->acked_below = r->next_seq;
    atomic_store(&r->shared_acked, r->acked_below);
    return n;
}

/* ---- rows the broker refuses for good ---- */

/* Errors that no retry cures: the row is replaced by a dead letter of its
 * own instead of blocking every row behind it (refuse_row): at once when
 * the producer refuses it before sending, after REFUSED_STRIKES refusals
 * of the same row in a row by the broker (a one-off refusal is resent). */
#define REFUSED_STRIKES 3
static int refused_for_good(rd_kafka_resp_err_t err)
{
    switch (err) {
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_INVALID_TIMESTAMP:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
    case RD_KAFKA_RESP_ERR_POLICY_VIOLATION:
        return 1;
    default:
        return 0;
    }
}

static void note_refused(eoc__relay_t *r, uint64_t seq, rd_kafka_resp_err_t err, int local)
{
    if (refused_for_good(err) && (!r->refused || seq + 1 < r->refused)) {
        r->refused = seq + 1;
        r->refused_err = err;
        r->refused_local = local;
    }
}

static const eoc_header_t *row_header(const eoc__outrow_t *row, const char *name)
{
    for (size_t i = 0; i < row->header_count; i++)
        if (strcmp(row->headers[i].name, name) == 0)
            return &row->headers[i];
    return NULL;
}

/* Scan callback: replaces the refused row (the first one scanned) by its
 * dead letter: reason "refused", the broker's error, no payload, a
 * reference to the input record it came from. */
static int refuse_row(void *opaque, uint64_t seq, const eoc__outrow_t *row)
{
    eoc__relay_t *r = opaque;
    char err[400], ref[EOC_ID_MAX + 1], id[EOC_ID_MAX + 1], topic[256];
    snprintf(topic, sizeof(topic), "%.*s", (int)row->topic_len, row->topic);
    const eoc_header_t *reason = row_header(row, "eoc-dlq-reason");
    if (r->refused != seq + 1)
        return 1; /* gone meanwhile (removed or dropped) */
    if (strcmp(topic, r->dlq) == 0 && reason && reason->len == 7 &&
        memcmp(reason->value, "refused", 7) == 0) {
        eoc__log(r->log, EOC_LOG_ERR,
                 "relay: the dead letter %llu of a refused row is refused too (%s): it stays; "
                 "`eoc outbox %s --drop %llu --execute` drops it",
                 (unsigned long long)seq, rd_kafka_err2str(r->refused_err),
                 eoc__store_dir(r->store), (unsigned long long)seq);
        return 1;
    }
    /* The input record's position, as its EOC_HEADER_SOURCE says it. */
    int rl = snprintf(ref, sizeof(ref), "%.*s/%" PRId32 "/%" PRId64, (int)row->src_topic_len,
                      row->src_topic ? row->src_topic : "", row->src_partition, row->src_offset);
    if (rl < 0 || (size_t)rl >= sizeof(ref))
        rl = (int)sizeof(ref) - 1;
    snprintf(err, sizeof(err), "%s (outbox row %llu to %s, %zu value bytes)",
             rd_kafka_err2str(r->refused_err), (unsigned long long)seq, topic, row->value_len);
    size_t idl = eoc__id_derive(id, row->id, row->id_len, "refused", 7);
    eoc_header_t hs[] = {{"eoc-dlq-reason", "refused", 7},
                         {"eoc-source-id", row->id, row->id_len},
                         {"eoc-error", err, strlen(err)},
                         {"eoc-payload-ref", ref, (size_t)rl}};
    eoc__outrow_t dead = {.id = id,
                          .id_len = idl,
                          .topic = r->dlq,
                          .topic_len = strlen(r->dlq),
                          .partition = EOC_PARTITION_ANY,
                          .key = row->key,
                          .key_len = row->key_len,
                          .headers = hs,
                          .header_count = 4,
                          .src_topic = row->src_topic,
                          .src_topic_len = row->src_topic_len,
                          .src_partition = row->src_partition,
                          .src_offset = row->src_offset};
    if (eoc__store_outbox_replace(r->store, seq, &dead) == EOC_OK) {
        eoc__log(r->log, EOC_LOG_ERR,
                 "relay: outbox row %llu id=%.*s refused for good: %s; replaced by a dead "
                 "letter to %s",
                 (unsigned long long)seq, (int)row->id_len, row->id, err, r->dlq);
        atomic_fetch_add(&r->errors, 1);
        r->replaced = 1;
    }
    return 1;
}

/* ---- producer ---- */

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    eoc__relay_t *r = opaque;
    struct slot *s = ring_find(r, (uint64_t)(uintptr_t)m->_private);
    if (!s)
        return;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR && m->offset >= 0) {
        s->state = SLOT_OK;
        atomic_fetch_add(&r->published, 1);
        return;
    }
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        /* Acknowledged without an offset: librdkafka's answer when the
         * broker calls a retried batch a duplicate of one it already has.
         * A Kafka broker only says so of a batch it wrote; the development
         * Kafka, under injected Produce errors, also of batches it never
         * wrote. The row is not taken as delivered: it is resent, at worst
         * a transport duplicate. */
        s->state = SLOT_FAILED;
        if (!r->reset)
            eoc__log(r->log, EOC_LOG_NOTICE,
                     "relay: outbox row %llu to %s was acknowledged without an offset (a "
                     "duplicate, the broker says); resending from the oldest unsent row",
                     (unsigned long long)s->seq, rd_kafka_topic_name(m->rkt));
        r->reset = 1;
        return;
    }

    s->state = SLOT_FAILED;
    note_refused(r, s->seq, m->err, 0);
    if (!r->reset && m->err != RD_KAFKA_RESP_ERR__PURGE_QUEUE &&
        m->err != RD_KAFKA_RESP_ERR__PURGE_INFLIGHT) {
        atomic_fetch_add(&r->errors, 1);
        eoc__log(r->log, EOC_LOG_WARNING,
                 "relay: delivery of outbox row %llu to %s failed: %s; resending from the "
                 "oldest unsent row",
                 (unsigned long long)s->seq, rd_kafka_topic_name(m->rkt), rd_kafka_err2str(m->err));
    }
    r->reset = 1;
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    eoc__relay_t *r = opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char buf[512];
        rd_kafka_fatal_error(rk, buf, sizeof(buf));
        eoc__log(r->log, EOC_LOG_ERR, "relay: fatal producer error: %s; re-creating the producer",
                 buf);
        atomic_fetch_add(&r->errors, 1);
        r->reset = 1;
    } else {
        eoc__log(r->log, EOC_LOG_WARNING, "relay: %s: %s", rd_kafka_err2name(err), reason);
    }
}

/* librdkafka's statistics of the relay's producer, to the user's callback
 * (eoc_conf_set_kafka_stats_cb), on the relay's thread. */
static int on_stats(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
    (void)rk;
    eoc__relay_t *r = opaque;
    eoc__settings_t st;
    eoc__settings_read(r->conf, &st);
    if (st.kafka_stats_cb)
        st.kafka_stats_cb(st.kafka_stats_opaque, EOC_KAFKA_RELAY_PRODUCER, json, len);
    return 0; /* librdkafka frees json */
}

static int producer_create(eoc__relay_t *r)
{
    char errstr[512];
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    /* Defaults first; kafka.* (its producer properties) and relay.kafka.* override them. */
    static const char *const defaults[][2] = {
        {"enable.idempotence", "true"},    {"acks", "all"},    {"message.timeout.ms", "0"},
        {"partitioner", "murmur2_random"}, {"linger.ms", "5"},
        {"allow.auto.create.topics", "false"}, /* outputs go to topics that exist */
    };
    for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++)
        rd_kafka_conf_set(kc, defaults[i][0], defaults[i][1], NULL, 0);
    if (eoc__kafka_conf_build(kc, r->conf, EOC_KAFKA_RELAY_PRODUCER, errstr, sizeof(errstr))) {
        eoc__log(r->log, EOC_LOG_ERR, "relay: %s", errstr);
        rd_kafka_conf_destroy(kc);
        return -1;
    }
    rd_kafka_conf_set_opaque(kc, r);
    rd_kafka_conf_set_dr_msg_cb(kc, on_delivery);
    rd_kafka_conf_set_error_cb(kc, on_error);
    rd_kafka_conf_set_stats_cb(kc, on_stats);
    eoc__kafka_conf_log(kc);
    if (!(r->rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr, sizeof(errstr)))) {
        eoc__log(r->log, EOC_LOG_ERR, "relay: cannot create producer: %s", errstr);
        rd_kafka_conf_destroy(kc);
        return -1;
    }
    /* Everything not yet removed is resent, in order. */
    r->count = 0;
    r->head = 0;
    r->next_seq = r->removed_below;
    r->acked_below = r->removed_below;
    r->reset = 0;
    return 0;
}

/* The producer's handle of the topic a row names (its bytes, not
 * NUL-terminated); NULL when librdkafka has none (an invalid name). */
static rd_kafka_topic_t *topic_of(eoc__relay_t *r, const char *name, size_t len)
{
    for (size_t i = 0; i < TOPICS; i++) {
        struct topic *t = &r->topics[i];
        if (t->rkt && t->len == len && memcmp(t->name, name, len) == 0)
            return t->rkt;
    }
    struct topic *t = &r->topics[r->topics_next++ % TOPICS];
    if (t->rkt)
        rd_kafka_topic_destroy(t->rkt);
    t->rkt = NULL;
    if (len >= sizeof(t->name))
        return NULL; /* longer than Kafka allows (249) */
    memcpy(t->name, name, len);
    t->name[len] = 0;
    t->len = len;
    return t->rkt = rd_kafka_topic_new(r->rk, t->name, NULL);
}

static void topics_drop(eoc__relay_t *r)
{
    for (size_t i = 0; i < TOPICS; i++) {
        if (r->topics[i].rkt)
            rd_kafka_topic_destroy(r->topics[i].rkt);
        r->topics[i].rkt = NULL;
    }
}

/* Drops the producer and whatever it still holds. */
static void producer_drop(eoc__relay_t *r)
{
    if (!r->rk)
        return;
    r->reset = 1; /* purge reports are expected, not errors */
    rd_kafka_purge(r->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_poll(r->rk, 0);
    topics_drop(r);
    rd_kafka_destroy(r->rk);
    r->rk = NULL;
    r->count = 0;
}

/* Scan callback (opaque: the relay): produces one row; non-zero stops. */
static int produce_row(void *opaque, uint64_t seq, const eoc__outrow_t *row)
{
    eoc__relay_t *r = opaque;
    if (r->count == WINDOW)
        return 1;
    if (seq >= r->on_disk_end)
        return 1; /* not on disk yet (settle) */
    uint64_t t0 = ++r->produce_sample & (EOC__STAGE_SAMPLE - 1) ? 0 : eoc__stage_tick();
    rd_kafka_headers_t *hs = rd_kafka_headers_new(row->header_count + 1);
    rd_kafka_header_add(hs, "message-id", -1, row->id, (ssize_t)row->id_len);
    for (size_t i = 0; i < row->header_count; i++)
        rd_kafka_header_add(hs, row->headers[i].name, -1, row->headers[i].value,
                            (ssize_t)row->headers[i].len);
    rd_kafka_topic_t *rkt = topic_of(r, row->topic, row->topic_len);
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR__INVALID_ARG; /* no handle: a bad name */
    if (rkt)
        err = rd_kafka_producev(
            r->rk, RD_KAFKA_V_RKT(rkt),
            RD_KAFKA_V_PARTITION(row->partition < 0 ? RD_KAFKA_PARTITION_UA : row->partition),
            RD_KAFKA_V_KEY(row->key, row->key_len),
            RD_KAFKA_V_VALUE((void *)row->value, row->value_len),
            RD_KAFKA_V_TIMESTAMP(row->timestamp), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_HEADERS(hs), RD_KAFKA_V_OPAQUE((void *)(uintptr_t)seq), RD_KAFKA_V_END);
    if (t0)
        eoc__stage_sample(&r->stages, EOC__STAGE_PRODUCE, t0);
    if (err) {
        rd_kafka_headers_destroy(hs);
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            eoc__log(r->log, EOC_LOG_WARNING, "relay: produce of outbox row %llu: %s",
                     (unsigned long long)seq, rd_kafka_err2str(err));
            atomic_fetch_add(&r->errors, 1);
            note_refused(r, seq, err, 1);
            r->reset = 1;
        }
        return 1;
    }
    *ring_at(r, r->count) = (struct slot){seq, SLOT_INFLIGHT};
    r->count++;
    r->next_seq = seq + 1;
    return 0;
}

/* Removes the acked prefix from the store. */
static void remove_acked(eoc__relay_t *r)
{
    uint64_t shared = atomic_load(&r->shared_removed);
    if (shared > r->removed_below)
        r->removed_below = shared; /* the worker did it */
    if (r->acked_below <= r->removed_below)
        return;
    eoc__crash_point("relay.acked");
    uint64_t t0 = eoc__stage_clock();
    if (eoc__store_outbox_remove_below(r->store, r->acked_below) == EOC_OK)
        eoc__relay_removed(r, r->acked_below);
    eoc__stage_lap(&r->stages, EOC__STAGE_REMOVE, &t0);
}

uint64_t eoc__relay_acked(eoc__relay_t *r)
{
    return atomic_load(&r->shared_acked);
}

void eoc__relay_removed(eoc__relay_t *r, uint64_t below)
{
    uint64_t cur = atomic_load(&r->shared_removed);
    while (cur < below && !atomic_compare_exchange_weak(&r->shared_removed, &cur, below))
        ;
    atomic_store(&r->removed_ms, eoc__mono_ms());
}

/* The first row's seq (rows below it are gone), or next if empty. */
static int first_row(void *opaque, uint64_t seq, const eoc__outrow_t *row)
{
    (void)row;
    *(uint64_t *)opaque = seq;
    return 1;
}

static uint64_t oldest_seq(eoc__relay_t *r)
{
    uint64_t seq = UINT64_MAX;
    eoc__store_outbox_scan(r->store, 0, 1, first_row, &seq, NULL);
    return seq;
}

/*
 * A row leaves the machine only once its commit is on disk (store.h,
 * "Durability"). A snapshot's rows are on disk once a later commit through
 * this process's store, or a sync, carried the snapshot's transaction.
 * Under load the worker's next batch does that within milliseconds, so
 * the relay marks the newest snapshot and publishes it a commit later;
 * when nothing carries it for SYNC_WAIT_MS (an idle worker, a standalone
 * relay) or the relay is stopping, the relay syncs itself.
 */
static void settle(eoc__relay_t *r)
{
    if (r->marked && eoc__store_on_disk(r->store, r->mark_txn)) {
        if (r->mark_end > r->on_disk_end)
            r->on_disk_end = r->mark_end;
        r->marked = 0;
    }
    size_t txn;
    uint64_t end;
    if (eoc__store_outbox_end(r->store, &txn, &end) != EOC_OK || end <= r->on_disk_end)
        return;
    int64_t now = eoc__mono_ms();
    if (!eoc__store_on_disk(r->store, txn)) {
        if (!r->marked) { /* the oldest waiting snapshot is on disk first */
            r->marked = 1;
            r->mark_txn = txn;
            r->mark_end = end;
            r->mark_ms = now;
        }
        if (!atomic_load(&r->stop) && now - r->mark_ms < SYNC_WAIT_MS)
            return;
        if (eoc__store_sync(r->store) != EOC_OK)
            return; /* logged; tried again next pass */
    }
    r->on_disk_end = end; /* this snapshot is covered */
    r->marked = 0;
}

/* One pass: produce what is on disk and fits, serve delivery reports,
 * remove the acked prefix. Returns 1 when there was nothing to do. */
static int pass(eoc__relay_t *r, int64_t commit_ms)
{
    if (!r->rk) {
        uint64_t first = oldest_seq(r);
        if (first != UINT64_MAX && first > r->removed_below)
            r->removed_below = first;
        if (producer_create(r) != 0)
            return 1;
    }
    uint64_t t0 = eoc__stage_clock();
    uint64_t produce_ns = atomic_load(&r->stages.ns[EOC__STAGE_PRODUCE]);
    settle(r);
    uint64_t before = r->next_seq;
    eoc__store_outbox_scan(r->store, r->next_seq, WINDOW - r->count, produce_row, r, NULL);
    int produced = r->next_seq != before;
    eoc__stage_lap_outer(&r->stages, EOC__STAGE_RELAY_READ, &t0, EOC__STAGE_PRODUCE, &produce_ns);
    rd_kafka_poll(r->rk, r->count ? 5 : 0);
    ring_advance(r);
    eoc__stage_lap(&r->stages, EOC__STAGE_DELIVERY, &t0);
    if (r->reset) {
        remove_acked(r);
        producer_drop(r);
        if (r->refused) {
            r->strikes = r->strike_seq == r->refused ? r->strikes + 1 : 1;
            r->strike_seq = r->refused;
            if ((r->refused_local || r->strikes >= REFUSED_STRIKES) &&
                r->refused - 1 >= r->removed_below)
                eoc__store_outbox_scan(r->store, r->refused - 1, 1, refuse_row, r, NULL);
            r->refused = 0;
            if (r->replaced) {
                r->replaced = 0;
                return 0; /* resend what follows at once */
            }
        }
        r->backoff_ms = r->backoff_ms ? (r->backoff_ms * 2 > 5000 ? 5000 : r->backoff_ms * 2) : 100;
        idle(r, (int)r->backoff_ms);
        return 0;
    }
    /* The worker removes acked rows with its batches; the relay does it
     * itself only when nobody did for relay.commit.ms (an idle worker, a
     * standalone relay). A removal of its own is a second durable commit
     * that would queue behind the worker's for the writer lock and the
     * disk, so a relay that merely caught up waits for the worker's. */
    if (eoc__mono_ms() - atomic_load(&r->removed_ms) >= commit_ms) {
        if (r->acked_below > r->removed_below)
            r->backoff_ms = 0;
        remove_acked(r);
    }
    return !produced && !r->count;
}

eoc_err_t eoc__relay_run(eoc__relay_t *r)
{
    int64_t commit_ms = r->commit_ms;
    while (!atomic_load(&r->stop)) {
        if (!take_lock(r)) {
            idle(r, LOCK_RETRY_MS);
            continue;
        }
        if (pass(r, commit_ms))
            idle(r, r->marked ? SYNC_WAIT_MS : IDLE_POLL_MS);
    }
    /* Drain: publish what is committed, bounded in time. */
    if (r->lock_fd < 0)
        return EOC_ERR_LOCKED; /* another relay had the store throughout */
    eoc_err_t err = EOC_OK;
    int64_t deadline = eoc__mono_ms() + r->flush_timeout_ms;
    while (eoc__mono_ms() < deadline && !pass(r, commit_ms))
        ;
    remove_acked(r);
    if (r->count || (r->rk && oldest_seq(r) != UINT64_MAX)) {
        eoc__log(r->log, EOC_LOG_WARNING,
                 "relay: stopping with unpublished outbox rows; they are kept and sent by "
                 "the next relay");
        err = EOC_ERR_KAFKA;
    }
    producer_drop(r);
    return err;
}

/* ------------------------------------------------------------------ */
/* public standalone relay                                             */
/* ------------------------------------------------------------------ */

struct eoc_relay {
    eoc_log_t log;
    eoc_conf_t *conf;    /* owned */
    eoc__store_t *store; /* owned */
    eoc__relay_t *relay; /* owned */
};

eoc_relay_t *eoc_relay_new(eoc_conf_t *conf, char *errstr, size_t errstr_size)
{
    eoc__settings_t st;
    eoc__settings_read(conf, &st);
    const char *dir = st.data_dir;
    if (!conf || !*dir) {
        snprintf(errstr, errstr_size, "data.dir is required");
        return NULL;
    }
    eoc_relay_t *pr = calloc(1, sizeof(*pr));
    if (!pr) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    eoc__log_init(&pr->log, &st, "relay");
    if (eoc__store_open(dir, (uint64_t)st.store_map_size, EOC__STORE_NOINDEX, &pr->log, &pr->store,
                        errstr, errstr_size) != EOC_OK ||
        !(pr->relay = eoc__relay_create(pr->store, conf, &st, &pr->log, errstr, errstr_size))) {
        eoc__store_close(pr->store);
        free(pr);
        return NULL;
    }
    pr->conf = conf;
    return pr;
}

eoc_err_t eoc_relay_run(eoc_relay_t *pr)
{
    return eoc__relay_run(pr->relay);
}

void eoc_relay_stop(eoc_relay_t *pr)
{
    eoc__relay_stop(pr->relay);
}

void eoc_relay_destroy(eoc_relay_t *pr)
{
    if (!pr)
        return;
    eoc__relay_destroy(pr->relay);
    eoc__store_close(pr->store);
    eoc_conf_destroy(pr->conf);
    free(pr);
}
