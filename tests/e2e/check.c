/*
 * eoc-check - proves (or refutes) a run: the invariants of FAULTS.md.
 *
 *   eoc-check --brokers B --input T --output O --dlq D --group G --data DIR
 *             [--data DIR2 ...] [--expect FILE] [--finished] [--timeout-ms N]
 *             [--json] [--json-out FILE] [--id SPEC] [--app ledger|generic] [--outputs N]
 *   eoc-check --progress --brokers B --input T --data DIR [--data DIR2 ...] [--json]
 *   eoc-check --field PATH [--field PATH ...] FILE
 *
 * --eos kafka checks a run of eos.mode=kafka workers, where the Kafka
 * transaction is the commit point: topics are read read_committed; the
 * positions are the group's committed offsets (read before the output
 * topics, and again after them), not the stores' (a store is a warm copy,
 * possibly behind, possibly of another host); the balances are the last
 * published ones (compared with the applied transfers and the ground
 * truth); no outbox rows; and a transport duplicate fails the run (I3).
 * --data is optional then.
 *
 * Loads a history (history.h) and runs the checks (invariants.h) over it.
 * The order of the reads makes a check of a running worker sound:
 *   1. the input topic's watermarks (the snapshot: records below them);
 *   2. the stores: positions ("before"), pending outbox rows, balances;
 *   3. the group's committed offsets (read by a consumer in group G that
 *      never subscribes, so it never joins the group);
 *   4. the input topic up to the watermarks of 1;
 *   5. the output and dead-letter topics up to their current ends;
 *   6. the stores' positions again ("after").
 * Stores commit before the relay publishes and before Kafka offsets are
 * committed, and positions only grow, so: an input below the "before"
 * position has its disposition committed, hence visible in 2 or 5 (I1);
 * every output read in 5 comes from below the "after" position (I5); and
 * a committed offset read in 3 is at most the "after" position (I7).
 *
 * --progress only compares the stores' positions with the input's end and
 * counts pending outbox rows: exit 0 when caught up and drained, 3 if not.
 *
 * --json prints the report (or the progress) as one JSON object instead of
 * prose; --json-out FILE writes that object to FILE as well as the prose to
 * stdout. --field reads such a file (or any JSON: eoc inspect --json) for
 * shell scripts, one value per line: the scenarios use it instead of
 * scraping prose.
 *
 * Exit status: 0 verdict OK, 1 verdict FAIL, 2 the history could not be read,
 * 3 --progress: not caught up yet.
 */
#include "history.h"
#include "invariants.h"

#include <cjson/cJSON.h>
#include <eoc/eoc.h>
#include <librdkafka/rdkafka.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PROG         "eoc-check"
#define MAX_DATA     16
#define MAX_FIELDS   32
#define META_TIMEOUT 10000
#define BALANCE_PFX  "balance/"
#define STATE_READS  20 /* tries at reading balances and positions of one moment */
#define EXIT_OK      0
#define EXIT_FAIL    1
#define EXIT_ERROR   2
#define EXIT_BEHIND  3

typedef struct args {
    const char *brokers, *input, *output, *dlq, *group, *expect, *id, *app, *json_out;
    const char *data[MAX_DATA];
    int ndata;
    const char *fields[MAX_FIELDS];
    int nfields;
    int timeout_ms, json, finished, progress, examples, outputs;
    int eos_kafka; /* --eos kafka */
} args_t;

/* What the loader works with. */
typedef struct loader {
    const args_t *a;
    hist_t *h;
    int ledger;
    rd_kafka_t *rk; /* reader: assigns, never subscribes; owned */
    char err[1024];
} loader_t;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------ */
/* Kafka                                                               */
/* ------------------------------------------------------------------ */

/* A consumer in `group` that is only ever assigned partitions or asked for
 * committed offsets: it never joins the group. NULL with errstr. */
static rd_kafka_t *consumer_new(const char *brokers, const char *group, char *errstr, size_t size)
{
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    const char *kv[][2] = {{"bootstrap.servers", brokers},
                           {"group.id", group},
                           {"enable.auto.commit", "false"},
                           {"enable.auto.offset.store", "false"},
                           {"enable.partition.eof", "false"},
                           {"auto.offset.reset", "earliest"},
                           {"fetch.wait.max.ms", "50"},
                           {"queued.max.messages.kbytes", "262144"},
                           {"log_level", "3"},
                           /* what a worker reads: records of aborted or open
                            * transactions are never delivered */
                           {"isolation.level", "read_committed"}};
    for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++) {
        if (rd_kafka_conf_set(c, kv[i][0], kv[i][1], errstr, size) != RD_KAFKA_CONF_OK) {
            rd_kafka_conf_destroy(c);
            return NULL;
        }
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, errstr, size);
    if (!rk)
        rd_kafka_conf_destroy(c);
    return rk;
}

static void consumer_free(rd_kafka_t *rk)
{
    if (!rk)
        return;
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
}

/* Number of partitions of `topic`; -1 with errstr. */
static int32_t partition_count(rd_kafka_t *rk, const char *topic, char *errstr, size_t size)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, META_TIMEOUT);
    int32_t n = -1;
    if (err)
        snprintf(errstr, size, "metadata of %s: %s", topic, rd_kafka_err2str(err));
    else if (md->topic_cnt != 1 || md->topics[0].err)
        snprintf(errstr, size, "topic %s: %s", topic,
                 rd_kafka_err2str(md->topic_cnt ? md->topics[0].err
                                                : RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART));
    else
        n = md->topics[0].partition_cnt;
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    return n;
}

/* Low and high watermarks of every partition. 0 or -1 with errstr. */
static int watermarks(rd_kafka_t *rk, const char *topic, int32_t n, int64_t *low, int64_t *high,
                      char *errstr, size_t size)
{
    for (int32_t p = 0; p < n; p++) {
        rd_kafka_resp_err_t err =
            rd_kafka_query_watermark_offsets(rk, topic, p, &low[p], &high[p], META_TIMEOUT);
        if (err) {
            snprintf(errstr, size, "watermarks of %s[%d]: %s", topic, p, rd_kafka_err2str(err));
            return -1;
        }
    }
    return 0;
}

typedef int (*record_fn)(loader_t *l, const rd_kafka_message_t *m);

/* Number of partitions not yet read up to their high watermark. */
static int32_t remaining(int32_t n, const int64_t *next, const int64_t *high)
{
    int32_t r = 0;
    for (int32_t p = 0; p < n; p++)
        r += next[p] < high[p];
    return r;
}

/* Transaction markers and aborted records take offsets that a
 * read_committed reader never gets: the consumer's position moves past
 * them, and so does next[]. */
static void position_catch_up(rd_kafka_t *rk, const char *topic, int32_t n, int64_t *next)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n);
    for (int32_t p = 0; p < n; p++)
        rd_kafka_topic_partition_list_add(l, topic, p);
    if (!rd_kafka_position(rk, l))
        for (int i = 0; i < l->cnt; i++)
            if (!l->elems[i].err && l->elems[i].offset > next[l->elems[i].partition])
                next[l->elems[i].partition] = l->elems[i].offset;
    rd_kafka_topic_partition_list_destroy(l);
}

/* Reads [low, high) of every partition of `topic` through `fn`. */
static int read_topic(loader_t *l, const char *topic, int32_t n, const int64_t *low,
                      const int64_t *high, record_fn fn)
{
    int64_t *next = malloc((size_t)n * sizeof(*next));
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(n);
    for (int32_t p = 0; next && p < n; p++) {
        next[p] = low[p];
        rd_kafka_topic_partition_list_add(list, topic, p)->offset = low[p];
    }
    rd_kafka_resp_err_t err = next ? rd_kafka_assign(l->rk, list) : RD_KAFKA_RESP_ERR__FAIL;
    rd_kafka_topic_partition_list_destroy(list);
    int rc = err ? -1 : 0;
    if (err)
        snprintf(l->err, sizeof(l->err), "assign %s: %s", topic, rd_kafka_err2str(err));
    int64_t deadline = now_ms() + l->a->timeout_ms;
    /* read_committed: control records and aborted records are never
     * delivered, but the position passes them. */
    rd_kafka_topic_partition_list_t *at = rd_kafka_topic_partition_list_new(n);
    for (int32_t p = 0; p < n; p++)
        rd_kafka_topic_partition_list_add(at, topic, p);
    while (!rc && remaining(n, next, high) > 0) {
        if (now_ms() > deadline) {
            snprintf(l->err, sizeof(l->err), "%s: %d partition(s) not read to the end within %d ms",
                     topic, remaining(n, next, high), l->a->timeout_ms);
            rc = -1;
            break;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(l->rk, 200);
        if (next && !rd_kafka_position(l->rk, at))
            for (int i = 0; i < at->cnt; i++) {
                int32_t p = at->elems[i].partition;
                /* only once the message before the position is handled */
                if (at->elems[i].offset > next[p] &&
                    (!m || m->partition != p || m->offset + 1 < at->elems[i].offset))
                    next[p] = at->elems[i].offset;
            }
        if (!m) {
            position_catch_up(l->rk, topic, n, next);
            continue;
        }
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                fprintf(stderr, PROG ": %s: %s\n", topic, rd_kafka_message_errstr(m));
        } else if (m->partition >= 0 && m->partition < n && m->offset < high[m->partition] &&
                   m->offset >= next[m->partition]) {
            next[m->partition] = m->offset + 1;
            rc = fn(l, m);
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_assign(l->rk, NULL);
    rd_kafka_topic_partition_list_destroy(at);
    free(next);
    return rc;
}

/* The last header `name` copied NUL-terminated into buf; NULL when absent. */
static const char *header(const rd_kafka_message_t *m, const char *name, char *buf, size_t size)
{
    rd_kafka_headers_t *hs;
    const void *v;
    size_t len;
    if (rd_kafka_message_headers(m, &hs) || rd_kafka_header_get_last(hs, name, &v, &len) || !v)
        return NULL;
    len = len < size - 1 ? len : size - 1;
    memcpy(buf, v, len);
    buf[len] = 0;
    return buf;
}

static int64_t to_int(const char *s, int64_t missing)
{
    char *end;
    if (!s || !*s)
        return missing;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    return errno || *end ? missing : (int64_t)v;
}

/* The topic of an eoc-source value `v` (NUL-terminated, NULL when absent)
 * parsed into topic, and its partition and offset; NULL and -1, -1 when
 * absent or not of that form. */
static const char *source_of(const char *v, char *topic, size_t size, int32_t *partition,
                             int64_t *offset)
{
    if (v && eoc_source_parse(v, strlen(v), topic, size, partition, offset) == 0)
        return topic;
    *partition = -1;
    *offset = -1;
    return NULL;
}

/* ------------------------------------------------------------------ */
/* records into the history                                            */
/* ------------------------------------------------------------------ */

/* The input record's message ID by the --id strategy; its length, 0 for none. */
static size_t input_id(const loader_t *l, const rd_kafka_message_t *m, char *buf)
{
    const char *spec = l->a->id;
    if (strncmp(spec, "json:", 5) == 0)
        return hist_json_id(spec + 5, m->payload, m->len, buf);
    if (strncmp(spec, "header:", 7) == 0) {
        char big[EOC_ID_MAX + 2];
        const char *v = header(m, spec + 7, big, sizeof(big));
        size_t n = v ? strlen(v) : 0;
        if (n > EOC_ID_MAX)
            return 0;
        memcpy(buf, big, n + 1);
        return n;
    }
    if (strcmp(spec, "key") == 0) {
        if (!m->key || !m->key_len || m->key_len > EOC_ID_MAX)
            return 0;
        memcpy(buf, m->key, m->key_len);
        buf[m->key_len] = 0;
        return m->key_len;
    }
    int n = snprintf(buf, EOC_ID_MAX + 1, "%s/%" PRId32 "/%" PRId64, rd_kafka_topic_name(m->rkt),
                     m->partition, m->offset);
    return n > EOC_ID_MAX ? EOC_ID_MAX : (size_t)n;
}

static int on_input(loader_t *l, const rd_kafka_message_t *m)
{
    char id[EOC_ID_MAX + 1];
    size_t n = input_id(l, m, id);
    if (hist_add_input(l->h, m->partition, m->offset, n ? id : NULL, n, m->payload, m->len,
                       l->ledger)) {
        snprintf(l->err, sizeof(l->err), "out of memory");
        return -1;
    }
    return 0;
}

static int add_output(loader_t *l, const rd_kafka_message_t *m, hist_kind_t kind)
{
    char mid[EOC_ID_MAX + 16], src[600], st[512], reason[128], sid[EOC_ID_MAX + 1];
    int32_t sp;
    int64_t so;
    const char *topic =
        source_of(header(m, EOC_HEADER_SOURCE, src, sizeof(src)), st, sizeof(st), &sp, &so);
    hist_msg_t hm = {kind,
                     m->partition,
                     m->offset,
                     header(m, "message-id", mid, sizeof(mid)),
                     topic,
                     sp,
                     so,
                     header(m, "eoc-dlq-reason", reason, sizeof(reason)),
                     header(m, "eoc-source-id", sid, sizeof(sid)),
                     m->payload,
                     m->len};
    if (hist_add_output(l->h, &hm, l->ledger)) {
        snprintf(l->err, sizeof(l->err), "out of memory");
        return -1;
    }
    return 0;
}

static int on_output(loader_t *l, const rd_kafka_message_t *m)
{
    return add_output(l, m, HIST_OUTPUT);
}

static int on_dlq(loader_t *l, const rd_kafka_message_t *m)
{
    return add_output(l, m, HIST_DLQ);
}

/* Reads a whole output-side topic (up to its current end). */
static int read_output_topic(loader_t *l, const char *topic, record_fn fn)
{
    int32_t n = partition_count(l->rk, topic, l->err, sizeof(l->err));
    if (n < 0)
        return -1;
    int64_t *low = malloc((size_t)n * sizeof(*low)), *high = malloc((size_t)n * sizeof(*high));
    int rc = !low || !high ? -1 : watermarks(l->rk, topic, n, low, high, l->err, sizeof(l->err));
    for (int32_t p = 0; !rc && p < n; p++)
        if (low[p] > l->h->out_low_max)
            l->h->out_low_max = low[p];
    if (!rc)
        rc = read_topic(l, topic, n, low, high, fn);
    free(low);
    free(high);
    return rc;
}

/* ------------------------------------------------------------------ */
/* stores                                                              */
/* ------------------------------------------------------------------ */

typedef struct store_walk {
    loader_t *l;
    int64_t *positions;
    int bad;
} store_walk_t;

static int on_position(void *opaque, const eoc_position_t *pos)
{
    store_walk_t *w = opaque;
    if (strcmp(pos->topic, w->l->h->input_topic) == 0)
        hist_pos_max(w->positions, w->l->h->input_parts, pos->partition, pos->next_offset);
    return 0;
}

/* The header `name` of an outbox row, NUL-terminated into buf, or NULL. */
static const char *row_header(const eoc_outbox_row_t *row, const char *name, char *buf, size_t size)
{
    const char *found = NULL;
    for (size_t i = 0; i < row->header_count; i++) {
        const eoc_header_t *h = &row->headers[i];
        if (strcmp(h->name, name) != 0 || !h->value)
            continue;
        size_t len = h->len < size - 1 ? h->len : size - 1;
        memcpy(buf, h->value, len);
        buf[len] = 0;
        found = buf;
    }
    return found;
}

static int on_row(void *opaque, const eoc_outbox_row_t *row)
{
    store_walk_t *w = opaque;
    char src[600], st[512], reason[128], sid[EOC_ID_MAX + 1];
    int32_t sp;
    int64_t so;
    const char *topic = source_of(row_header(row, EOC_HEADER_SOURCE, src, sizeof(src)), st,
                                  sizeof(st), &sp, &so);
    hist_msg_t hm = {HIST_PENDING,
                     row->partition,
                     (int64_t)row->seq,
                     row->id,
                     topic,
                     sp,
                     so,
                     row_header(row, "eoc-dlq-reason", reason, sizeof(reason)),
                     row_header(row, "eoc-source-id", sid, sizeof(sid)),
                     row->value,
                     row->value_len};
    w->bad |= hist_add_output(w->l->h, &hm, w->l->ledger);
    return w->bad;
}

static int on_balance(void *opaque, const void *key, size_t key_len, const void *value, size_t len)
{
    store_walk_t *w = opaque;
    char text[32];
    size_t pfx = strlen(BALANCE_PFX);
    int64_t v = 0;
    if (len < sizeof(text)) {
        memcpy(text, value, len);
        text[len] = 0;
        v = to_int(text, INT64_MIN);
    }
    if (len >= sizeof(text) || v == INT64_MIN) {
        fprintf(stderr, PROG ": store balance of %.*s is not a decimal integer\n",
                (int)(key_len - pfx), (const char *)key + pfx);
        v = INT64_MIN; /* fails the state checks loudly */
    }
    w->bad |= hist_add_state(w->l->h, (const char *)key + pfx, key_len - pfx, v);
    return w->bad;
}

enum { READ_POSITIONS, READ_BALANCES, READ_PENDING };

/* One pass over every store: positions (max over stores) into `positions`,
 * or the balances, or the pending outbox rows. 0 or -1 with l->err. */
static int read_stores(loader_t *l, int what, int64_t *positions)
{
    for (int i = 0; i < l->a->ndata; i++) {
        char err[256];
        eoc_store_t *s = eoc_store_open_readonly(l->a->data[i], err, sizeof(err));
        if (!s) {
            snprintf(l->err, sizeof(l->err), "store %s: %s", l->a->data[i], err);
            return -1;
        }
        store_walk_t w = {l, positions, 0};
        eoc_err_t e;
        if (what == READ_POSITIONS)
            e = eoc_store_offsets_foreach(s, on_position, &w);
        else if (what == READ_BALANCES)
            e = eoc_store_state_foreach(s, BALANCE_PFX, strlen(BALANCE_PFX), on_balance, &w);
        else
            e = eoc_store_outbox_foreach(s, on_row, &w);
        eoc_store_close(s);
        if (e || w.bad) {
            snprintf(l->err, sizeof(l->err), "store %s: %s", l->a->data[i],
                     e ? eoc_strerror(e) : "out of memory");
            return -1;
        }
    }
    return 0;
}

/*
 * The "before" snapshot: positions, balances, pending outbox rows. Each
 * public store call reads its own snapshot, so the balances are read
 * between two reads of the positions, until both agree (a batch that
 * changes balances always moves a position): then the balances are the
 * ones at lmdb_before. Pending rows are read after the positions, which
 * is all I1 needs (a row removed meanwhile is in Kafka).
 */
static int read_before(loader_t *l)
{
    hist_t *h = l->h;
    size_t size = (size_t)h->input_parts * sizeof(int64_t);
    int64_t *again = malloc(size ? size : 1);
    int rc = again ? 0 : -1, stable = 0;
    if (!again)
        snprintf(l->err, sizeof(l->err), "out of memory");
    for (int attempt = 0; !rc && !stable && attempt < STATE_READS; attempt++) {
        for (int32_t p = 0; p < h->input_parts; p++)
            h->lmdb_before[p] = again[p] = -1;
        hist_clear_state(h);
        rc = read_stores(l, READ_POSITIONS, h->lmdb_before);
        if (!rc && l->ledger)
            rc = read_stores(l, READ_BALANCES, NULL);
        if (!rc && l->ledger)
            rc = read_stores(l, READ_POSITIONS, again);
        stable = !l->ledger || (!rc && memcmp(again, h->lmdb_before, size) == 0);
    }
    free(again);
    h->state_consistent = stable;
    if (!rc)
        rc = read_stores(l, READ_PENDING, NULL);
    return rc;
}

/* The group's committed offsets of the input partitions, without joining. */
static int read_committed(loader_t *l)
{
    char err[256];
    rd_kafka_t *rk = consumer_new(l->a->brokers, l->a->group, err, sizeof(err));
    if (!rk) {
        snprintf(l->err, sizeof(l->err), "consumer for group %s: %s", l->a->group, err);
        return -1;
    }
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(l->h->input_parts);
    for (int32_t p = 0; p < l->h->input_parts; p++)
        rd_kafka_topic_partition_list_add(list, l->h->input_topic, p);
    rd_kafka_resp_err_t e = rd_kafka_committed(rk, list, l->a->timeout_ms);
    for (int i = 0; !e && i < list->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &list->elems[i];
        if (tp->err)
            e = tp->err;
        else if (tp->offset >= 0 && tp->partition < l->h->input_parts)
            l->h->kafka_committed[tp->partition] = tp->offset;
    }
    if (e)
        snprintf(l->err, sizeof(l->err), "committed offsets of group %s: %s", l->a->group,
                 rd_kafka_err2str(e));
    rd_kafka_topic_partition_list_destroy(list);
    consumer_free(rk);
    return e ? -1 : 0;
}

/* ------------------------------------------------------------------ */
/* the two modes                                                       */
/* ------------------------------------------------------------------ */

/* Creates the reader and the history with the input topic's watermarks. */
static int load_begin(loader_t *l)
{
    char group[64];
    snprintf(group, sizeof(group), "eoc-check-reader-%ld", (long)getpid());
    if (!(l->rk = consumer_new(l->a->brokers, group, l->err, sizeof(l->err))))
        return -1;
    int32_t n = partition_count(l->rk, l->a->input, l->err, sizeof(l->err));
    if (n < 0)
        return -1;
    if (!(l->h = hist_new(l->a->input, n))) {
        snprintf(l->err, sizeof(l->err), "out of memory");
        return -1;
    }
    return watermarks(l->rk, l->a->input, n, l->h->in_low, l->h->in_high, l->err, sizeof(l->err));
}

/* --eos kafka: the balances are the last published ones per account. */
static int state_from_outputs(loader_t *l)
{
    hist_t *h = l->h;
    hist_map_t last;
    if (hist_map_init(&last, 4096))
        return -1;
    size_t *idx = malloc((h->nout ? h->nout : 1) * sizeof(*idx));
    size_t n = 0;
    int rc = idx ? 0 : -1;
    for (size_t i = 0; !rc && i < h->nout; i++) {
        const hist_output_t *o = &h->out[i];
        if (o->kind != HIST_OUTPUT || !o->ledger.ok)
            continue;
        size_t k = hist_map_get(&last, o->ledger.account);
        if (k == SIZE_MAX) {
            if (hist_map_put(&last, o->ledger.account, n) == SIZE_MAX)
                rc = -1;
            else
                idx[n++] = i;
        } else {
            idx[k] = i; /* sorted by (partition, offset): later wins */
        }
    }
    for (size_t k = 0; !rc && k < n; k++) {
        const hist_output_t *o = &h->out[idx[k]];
        rc = hist_add_state(h, o->ledger.account, strlen(o->ledger.account), o->ledger.balance);
    }
    free(idx);
    hist_map_free(&last);
    if (rc)
        snprintf(l->err, sizeof(l->err), "out of memory");
    return rc;
}

static int load_kafka(loader_t *l)
{
    hist_t *h = l->h;
    size_t size = (size_t)h->input_parts * sizeof(int64_t);
    if (read_committed(l))
        return -1;
    memcpy(h->lmdb_before, h->kafka_committed, size);
    if (read_topic(l, h->input_topic, h->input_parts, h->in_low, h->in_high, on_input) ||
        read_output_topic(l, l->a->output, on_output) || read_output_topic(l, l->a->dlq, on_dlq))
        return -1;
    int64_t *first = malloc(size ? size : 1);
    if (!first)
        return -1;
    memcpy(first, h->kafka_committed, size);
    int rc = read_committed(l);
    if (!rc)
        memcpy(h->lmdb_after, h->kafka_committed, size);
    memcpy(h->kafka_committed, first, size);
    free(first);
    if (rc)
        return -1;
    hist_finish(h);
    if (l->ledger && state_from_outputs(l))
        return -1;
    hist_finish(h);
    return 0;
}

static int load(loader_t *l)
{
    hist_t *h;
    if (load_begin(l))
        return -1;
    if (l->a->eos_kafka)
        return load_kafka(l);
    h = l->h;
    if (read_before(l) || read_committed(l) ||
        read_topic(l, h->input_topic, h->input_parts, h->in_low, h->in_high, on_input) ||
        read_output_topic(l, l->a->output, on_output) || read_output_topic(l, l->a->dlq, on_dlq) ||
        read_stores(l, READ_POSITIONS, h->lmdb_after))
        return -1;
    hist_finish(h);
    return 0;
}

static int run_check(loader_t *l, const hist_expect_t *x)
{
    int64_t t0 = now_ms();
    if (load(l)) {
        fprintf(stderr, PROG ": %s\n", l->err);
        return EXIT_ERROR;
    }
    const args_t *a = l->a;
    int outputs = a->outputs >= 0 ? a->outputs : l->ledger;
    chk_opts_t o = {a->finished, l->ledger, outputs, (size_t)a->examples, a->eos_kafka};
    chk_report_t *r = malloc(sizeof(*r));
    int failed = r ? chk_run(l->h, x, &o, r) : -1;
    if (failed < 0) {
        fprintf(stderr, PROG ": out of memory\n");
        free(r);
        return EXIT_ERROR;
    }
    int rc = failed ? EXIT_FAIL : EXIT_OK;
    if (!a->json)
        printf("read %zu input records (%d partitions), %zu output-side records, %d store(s) "
               "in %.1f s\n",
               l->h->nin, l->h->input_parts, l->h->nout, a->ndata, (double)(now_ms() - t0) / 1e3);
    if (a->json)
        chk_print_json(stdout, r);
    else
        chk_print(stdout, r);
    if (a->json_out) {
        FILE *f = fopen(a->json_out, "w");
        if (f)
            chk_print_json(f, r);
        if (!f || fclose(f)) {
            fprintf(stderr, PROG ": %s: %s\n", a->json_out, strerror(errno));
            rc = EXIT_ERROR;
        }
    }
    free(r);
    return rc;
}

/* The progress as JSON: {"readable", "caught_up", "consumed", "total",
 * "behind", "outbox", "line"} (and "error" when not readable). */
static int progress_json(const args_t *a, int readable, int64_t done, int64_t total, int32_t behind,
                         uint64_t rows, const char *line, const char *err)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "readable", readable);
    cJSON_AddBoolToObject(o, "caught_up", readable && !behind && !rows);
    cJSON_AddNumberToObject(o, "consumed", (double)done);
    cJSON_AddNumberToObject(o, "total", (double)total);
    cJSON_AddNumberToObject(o, "behind", behind);
    cJSON_AddNumberToObject(o, "outbox", (double)rows);
    cJSON_AddStringToObject(o, "line", line);
    if (err)
        cJSON_AddStringToObject(o, "error", err);
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    int rc = 0;
    if (!text) {
        fprintf(stderr, PROG ": out of memory\n");
        return -1;
    }
    if (a->json)
        printf("%s\n", text);
    else
        printf("%s\n", line);
    if (a->json_out) {
        FILE *f = fopen(a->json_out, "w");
        if (!f || fprintf(f, "%s\n", text) < 0 || fclose(f)) {
            fprintf(stderr, PROG ": %s: %s\n", a->json_out, strerror(errno));
            rc = -1;
        }
    }
    free(text);
    return rc;
}

static int run_progress(loader_t *l)
{
    char line[1400];
    int unreadable = load_begin(l);
    if (!unreadable && l->a->eos_kafka) {
        unreadable = read_committed(l);
        if (!unreadable)
            memcpy(l->h->lmdb_after, l->h->kafka_committed,
                   (size_t)l->h->input_parts * sizeof(int64_t));
    } else if (!unreadable) {
        unreadable = read_stores(l, READ_POSITIONS, l->h->lmdb_after);
    }
    if (unreadable) {
        snprintf(line, sizeof(line), "progress: not readable yet (%s)", l->err);
        return progress_json(l->a, 0, 0, 0, 0, 0, line, l->err) ? EXIT_ERROR : EXIT_BEHIND;
    }
    uint64_t rows = 0;
    for (int i = 0; i < l->a->ndata; i++) {
        char err[512];
        eoc_store_info_t info;
        eoc_store_t *s = eoc_store_open_readonly(l->a->data[i], err, sizeof(err));
        if (s && eoc_store_info(s, &info) == EOC_OK)
            rows += info.outbox_rows;
        eoc_store_close(s);
    }
    int64_t total = 0, done = 0;
    int32_t behind = 0;
    for (int32_t p = 0; p < l->h->input_parts; p++) {
        int64_t lo = l->h->in_low[p], hi = l->h->in_high[p], pos = l->h->lmdb_after[p];
        int64_t at = pos < lo ? lo : pos > hi ? hi : pos;
        total += hi - lo;
        done += at - lo;
        behind += at < hi;
    }
    snprintf(line, sizeof(line),
             "progress: consumed %" PRId64 " of %" PRId64
             " (%d partition(s) behind), outbox %" PRIu64,
             done, total, behind, rows);
    if (progress_json(l->a, 1, done, total, behind, rows, line, NULL))
        return EXIT_ERROR;
    return !behind && !rows ? EXIT_OK : EXIT_BEHIND;
}

/* ------------------------------------------------------------------ */
/* --field: values of a JSON file, for shell scripts                   */
/* ------------------------------------------------------------------ */

static char *read_all(const char *path)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (!f)
        return NULL;
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += got;
        if (cap - len <= 1) {
            char *bigger = realloc(buf, cap * 2);
            if (!bigger) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = bigger;
            cap *= 2;
        }
    }
    if (buf)
        buf[len] = 0;
    if (f != stdin)
        fclose(f);
    return buf;
}

/* Prints a value: a string as it is, a number as an integer when it is one,
 * true/false/null, an array's elements separated by spaces, an object as
 * compact JSON. */
static void print_value(const cJSON *v)
{
    if (cJSON_IsString(v)) {
        fputs(v->valuestring, stdout);
    } else if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (d == (double)(int64_t)d && d > -9e18 && d < 9e18)
            printf("%" PRId64, (int64_t)d);
        else
            printf("%.17g", d);
    } else if (cJSON_IsBool(v)) {
        fputs(cJSON_IsTrue(v) ? "true" : "false", stdout);
    } else if (cJSON_IsArray(v)) {
        const cJSON *e;
        int first = 1;
        cJSON_ArrayForEach(e, v)
        {
            if (!first)
                putchar(' ');
            first = 0;
            print_value(e);
        }
    } else if (cJSON_IsObject(v)) {
        char *text = cJSON_PrintUnformatted(v);
        fputs(text ? text : "{}", stdout);
        free(text);
    } else {
        fputs("null", stdout);
    }
}

/* Prints the values at `path` ("counts.applied", "sections.I2.result",
 * "offsets.0.next_offset"; "*" is every element of an array or object, one
 * per line) under `v`. Returns the number printed. */
static int print_path(const cJSON *v, const char *path)
{
    if (!*path) {
        print_value(v);
        putchar('\n');
        return 1;
    }
    const char *dot = strchr(path, '.');
    size_t len = dot ? (size_t)(dot - path) : strlen(path);
    const char *rest = dot ? dot + 1 : "";
    char key[256];
    if (len >= sizeof(key))
        return 0;
    memcpy(key, path, len);
    key[len] = 0;
    if (strcmp(key, "*") == 0) {
        const cJSON *e;
        int n = 0;
        cJSON_ArrayForEach(e, v) n += print_path(e, rest);
        return n;
    }
    const cJSON *next = NULL;
    if (cJSON_IsArray(v)) {
        char *end;
        long i = strtol(key, &end, 10);
        if (end != key && !*end && i >= 0)
            next = cJSON_GetArrayItem(v, (int)i);
    } else if (cJSON_IsObject(v)) {
        next = cJSON_GetObjectItemCaseSensitive(v, key);
    }
    return next ? print_path(next, rest) : 0;
}

static int run_field(const args_t *a, const char *path)
{
    char *text = read_all(path);
    if (!text) {
        fprintf(stderr, PROG ": %s: %s\n", path, strerror(errno ? errno : ENOMEM));
        return EXIT_ERROR;
    }
    cJSON *root = cJSON_Parse(text);
    free(text);
    if (!root) {
        fprintf(stderr, PROG ": %s: not JSON\n", path);
        return EXIT_ERROR;
    }
    int rc = EXIT_OK;
    for (int i = 0; i < a->nfields; i++) {
        if (!print_path(root, a->fields[i]) && !strchr(a->fields[i], '*')) {
            fprintf(stderr, PROG ": %s: no %s\n", path, a->fields[i]);
            rc = EXIT_ERROR;
        }
    }
    cJSON_Delete(root);
    return rc;
}

/* ------------------------------------------------------------------ */
/* command line                                                        */
/* ------------------------------------------------------------------ */

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: " PROG " --brokers B --input T --output O --dlq D --group G --data DIR\n"
            "                 [--data DIR2 ...] [--expect FILE] [--finished] [--json]\n"
            "                 [--json-out FILE]\n"
            "                 [--timeout-ms N] [--id SPEC] [--app ledger|generic] [--outputs N]\n"
            "       " PROG
            " --progress --brokers B --input T --data DIR [--data DIR2 ...] [--json]\n"
            "       " PROG " --field PATH [--field PATH ...] FILE\n\n"
            "Checks a run of an eoc worker against the invariants I1-I8: every input record\n"
            "has exactly one disposition, no input ID is applied twice, effects are whole,\n"
            "nothing is published that LMDB did not commit, order per partition, Kafka\n"
            "offsets never ahead of LMDB, nothing pending after a stop; with --expect, the\n"
            "stores' balances and dead-letter count against the generator's ground truth.\n"
            "Prints the first examples of each violation and a final line\n"
            "\"verdict: OK (...)\" or \"verdict: FAIL I2 ...\".\n\n"
            "  --brokers B        bootstrap servers\n"
            "  --input T          the input topic (read up to its end at start)\n"
            "  --output O         the output topic\n"
            "  --dlq D            the dead-letter topic\n"
            "  --group G          the workers' consumer group (committed offsets; not joined)\n"
            "  --data DIR         a worker's store (read-only); repeatable\n"
            "  --expect FILE      ground truth written by eoc-ledger-gen --expect\n"
            "  --finished         the workers were stopped gracefully: unprocessed input is\n"
            "                     loss and no outbox row may be pending (I8)\n"
            "  --json             print the report (or the progress) as one JSON object:\n"
            "                     verdict, failed, line, counts, sections (each invariant's\n"
            "                     title, result OK|FAIL|COUNTED, count, examples); progress:\n"
            "                     readable, caught_up, consumed, total, behind, outbox, line\n"
            "  --json-out FILE    also write that JSON object to FILE (prose on stdout)\n"
            "  --timeout-ms N     longest read of one topic (default 60000)\n"
            "  --id SPEC          input message IDs: json:FIELD, header:NAME, key, position\n"
            "                     (default json:id)\n"
            "  --app A            ledger (default: balance checks) or generic\n"
            "  --outputs N        outputs per applied input (default 1 for ledger, 0 = any)\n"
            "  --examples N       examples printed per violation kind (default 5, max %d)\n"
            "  --eos MODE         local (default) or kafka: the workers ran eos.mode=kafka;\n"
            "                     read_committed, positions from the group's committed\n"
            "                     offsets (--progress needs --group), transport duplicates\n"
            "                     fail, --data optional\n"
            "  --progress         print consumed/total and pending outbox rows; exit 0 when\n"
            "                     caught up and drained, 3 otherwise\n"
            "  --field PATH       print the value at PATH of the JSON in FILE (- for stdin),\n"
            "                     e.g. counts.applied, sections.I2.result, failed,\n"
            "                     offsets.*.next_offset; repeatable, one value per line;\n"
            "                     exit 2 when a PATH is missing\n\n"
            "Exit status: 0 OK, 1 FAIL, 2 the history could not be read, 3 (--progress)\n"
            "not caught up.\n",
            CHK_MAX_EXAMPLES);
}

static int parse_int(const char *s, int lo, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end || v < lo || v > 100000000)
        return -1;
    *out = (int)v;
    return 0;
}

static int parse_opt(args_t *a, int c, const char *arg)
{
    switch (c) {
    case 'b':
        a->brokers = arg;
        return 0;
    case 'i':
        a->input = arg;
        return 0;
    case 'o':
        a->output = arg;
        return 0;
    case 'q':
        a->dlq = arg;
        return 0;
    case 'g':
        a->group = arg;
        return 0;
    case 'e':
        a->expect = arg;
        return 0;
    case 'I':
        a->id = arg;
        return 0;
    case 'A':
        a->app = arg;
        return strcmp(arg, "ledger") == 0 || strcmp(arg, "generic") == 0 ? 0 : -1;
    case 'd':
        if (a->ndata == MAX_DATA)
            return -1;
        a->data[a->ndata++] = arg;
        return 0;
    case 't':
        return parse_int(arg, 1, &a->timeout_ms);
    case 'n':
        return parse_int(arg, 0, &a->outputs);
    case 'x':
        return parse_int(arg, 0, &a->examples);
    case 'j':
        a->json_out = arg;
        return 0;
    case 'E':
        if (strcmp(arg, "kafka") && strcmp(arg, "local"))
            return -1;
        a->eos_kafka = strcmp(arg, "kafka") == 0;
        return 0;
    case 'f':
        if (a->nfields == MAX_FIELDS)
            return -1;
        a->fields[a->nfields++] = arg;
        return 0;
    default:
        return -1;
    }
}

static int parse_args(int argc, char **argv, args_t *a)
{
    static const struct option lo[] = {{"brokers", required_argument, NULL, 'b'},
                                       {"input", required_argument, NULL, 'i'},
                                       {"output", required_argument, NULL, 'o'},
                                       {"dlq", required_argument, NULL, 'q'},
                                       {"group", required_argument, NULL, 'g'},
                                       {"data", required_argument, NULL, 'd'},
                                       {"expect", required_argument, NULL, 'e'},
                                       {"timeout-ms", required_argument, NULL, 't'},
                                       {"id", required_argument, NULL, 'I'},
                                       {"app", required_argument, NULL, 'A'},
                                       {"outputs", required_argument, NULL, 'n'},
                                       {"examples", required_argument, NULL, 'x'},
                                       {"json", no_argument, NULL, 'J'},
                                       {"json-out", required_argument, NULL, 'j'},
                                       {"field", required_argument, NULL, 'f'},
                                       {"eos", required_argument, NULL, 'E'},
                                       {"finished", no_argument, NULL, 'F'},
                                       {"progress", no_argument, NULL, 'P'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
    *a = (args_t){
        .id = "json:id", .app = "ledger", .timeout_ms = 60000, .outputs = -1, .examples = 5};
    int c, bad = 0;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        if (c == 'h') {
            usage(stdout);
            exit(EXIT_OK);
        }
        if (c == 'J' || c == 'F' || c == 'P')
            *(c == 'J' ? &a->json : c == 'F' ? &a->finished : &a->progress) = 1;
        else if (parse_opt(a, c, optarg))
            bad = 1;
    }
    if (a->nfields) {
        if (bad || optind != argc - 1) {
            fprintf(stderr, PROG ": --field needs one FILE\n");
            usage(stderr);
            return -1;
        }
        return 0;
    }
    int need_topics = !a->progress && (!a->output || !a->dlq || !a->group);
    if (a->eos_kafka && !a->group)
        need_topics = 1;
    if (bad || optind != argc || !a->brokers || !a->input || (!a->ndata && !a->eos_kafka) ||
        need_topics) {
        fprintf(stderr, PROG ": bad or missing arguments\n");
        usage(stderr);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    args_t a;
    if (parse_args(argc, argv, &a))
        return EXIT_ERROR;
    if (a.nfields)
        return run_field(&a, argv[argc - 1]);
    hist_expect_t x = {0};
    char err[512];
    if (a.expect && hist_expect_load(a.expect, &x, err, sizeof(err))) {
        fprintf(stderr, PROG ": %s\n", err);
        return EXIT_ERROR;
    }
    loader_t l = {.a = &a, .ledger = strcmp(a.app, "ledger") == 0};
    int rc = a.progress ? run_progress(&l) : run_check(&l, a.expect ? &x : NULL);
    consumer_free(l.rk);
    hist_free(l.h);
    hist_expect_clear(&x);
    return rc;
}
