/*
 * invariants.c - see invariants.h.
 *
 * chk_run() works in passes over the history:
 *   link     each output-side record to the input record its provenance
 *            headers name, and parse its message ID "<id>/<n>" or "<id>/dlq";
 *   ids      group Kafka records by message ID: transport duplicates (same
 *            source, same bytes) are counted, anything else is I2;
 *   inputs   group inputs by message ID: one disposition per record (I1),
 *            at most one effect per ID (I2);
 *   torn     every effect's outputs are <id>/0..<id>/n-1 (I4);
 *   commit   published records come from committed positions (I5);
 *   order    first appearances follow source order per partition (I6);
 *   offsets  Kafka committed <= LMDB, LMDB never backwards (I7);
 *   ledger   per-account balance sequences, store state, ground truth.
 */
#include "invariants.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

enum {
    IN_EFF = 1, /* an output (published or pending) points at it */
    IN_DLQ = 2, /* a dead letter (published or pending) points at it */
    IN_LOST = 4 /* no disposition: lost (I1) */
};

#define NIDX_DLQ (-1) /* message ID "<id>/dlq" */
#define NIDX_BAD (-2) /* no message ID, or not "<id>/<n>" */

struct ctx {
    const hist_t *h;
    const hist_expect_t *x;
    const chk_opts_t *o;
    chk_report_t *r;
    size_t *src;          /* per output: its input's index, SIZE_MAX when unresolved */
    int64_t *nidx;        /* per output: n of "<id>/<n>", NIDX_DLQ or NIDX_BAD */
    unsigned char *first; /* per output: first Kafka appearance of its message ID */
    unsigned char *flags; /* per input: IN_* */
    size_t *next_same;    /* per input: next input with the same ID, SIZE_MAX at the end */
    hist_map_t ids;       /* input ID -> first input with it */
};

/* ------------------------------------------------------------------ */
/* report                                                              */
/* ------------------------------------------------------------------ */

static const char *const names[CHK__COUNT] = {"I1", "I2", "I3", "I4",     "I5",
                                              "I6", "I7", "I8", "EXPECT", "RETENTION"};
static const char *const titles[CHK__COUNT] = {
    "no loss (one disposition per input record)",
    "no double effect",
    "transport duplicates (allowed)",
    "no torn effect",
    "nothing published that LMDB did not commit",
    "order per output partition",
    "Kafka committed offsets never ahead of LMDB",
    "finished: no pending outbox row",
    "ground truth of the generator",
    "broker retention (records dropped by the broker: nothing can be proved)"};

const char *chk_name(chk_inv_t inv)
{
    return inv < CHK__COUNT ? names[inv] : "?";
}

int chk_failed(const chk_report_t *r, chk_inv_t inv)
{
    return (inv != CHK_I3 || r->transport_fails) && r->violations[inv] > 0;
}

static void note(struct ctx *c, chk_inv_t inv, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void note(struct ctx *c, chk_inv_t inv, const char *fmt, ...)
{
    chk_report_t *r = c->r;
    r->violations[inv]++;
    if (r->nexamples[inv] >= r->max_examples)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->examples[inv][r->nexamples[inv]++], CHK_EXAMPLE_LEN, fmt, ap);
    va_end(ap);
}

static const char *str(const char *s)
{
    return s ? s : "(none)";
}

/* ------------------------------------------------------------------ */
/* link                                                                */
/* ------------------------------------------------------------------ */

static int is_dead_letter(const hist_output_t *o)
{
    return o->kind == HIST_DLQ || (o->kind == HIST_PENDING && o->reason);
}

/* n of "<prefix>/<n>"; *prefix_len is the prefix's length. */
static int64_t parse_msg_id(const char *id, size_t *prefix_len)
{
    const char *slash = id ? strrchr(id, '/') : NULL;
    if (!slash || slash == id)
        return NIDX_BAD;
    *prefix_len = (size_t)(slash - id);
    if (strcmp(slash + 1, "dlq") == 0)
        return NIDX_DLQ;
    char *end;
    if (!slash[1] || slash[1] == '-' || slash[1] == '+')
        return NIDX_BAD;
    long long n = strtoll(slash + 1, &end, 10);
    return *end ? NIDX_BAD : (int64_t)n;
}

/* The input `o` points at, or SIZE_MAX (reported, or counted as newer). */
static size_t resolve(struct ctx *c, const hist_output_t *o)
{
    const hist_t *h = c->h;
    int kafka = o->kind != HIST_PENDING;
    if (!o->src_topic || strcmp(o->src_topic, h->input_topic) != 0 || o->src_partition < 0 ||
        o->src_partition >= h->input_parts || o->src_offset < 0) {
        note(c, CHK_I5,
             "%s %s[%d]@%" PRId64 " message-id=%s has no usable provenance (%s[%d]@%" PRId64 ")",
             kafka ? "record" : "outbox row", o->kind == HIST_DLQ ? "dlq" : "out", o->partition,
             o->offset, str(o->msg_id), str(o->src_topic), o->src_partition, o->src_offset);
        return SIZE_MAX;
    }
    size_t i = hist_input_find(h, o->src_partition, o->src_offset);
    if (i != SIZE_MAX)
        return i;
    if (o->src_offset >= h->in_high[o->src_partition])
        c->r->n.beyond_snapshot++;
    else if (o->src_offset >= h->in_low[o->src_partition])
        note(c, CHK_I5, "message-id=%s names input [%d]@%" PRId64 ", which does not exist",
             str(o->msg_id), o->src_partition, o->src_offset);
    return SIZE_MAX;
}

/* The ID a record's outputs must carry: its message ID, or its position. */
static int attributed(const hist_t *h, const hist_input_t *in, const char *prefix, size_t len,
                      int dead)
{
    if (in->id)
        return strlen(in->id) == len && memcmp(in->id, prefix, len) == 0;
    if (!dead)
        return 0;
    char pos[600];
    int n = snprintf(pos, sizeof(pos), "%s/%d/%" PRId64, h->input_topic, in->partition, in->offset);
    return (size_t)n == len && memcmp(pos, prefix, len) == 0;
}

static void link_one(struct ctx *c, size_t k)
{
    const hist_output_t *o = &c->h->out[k];
    size_t plen = 0;
    c->nidx[k] = parse_msg_id(o->msg_id, &plen);
    c->src[k] = resolve(c, o);
    if (c->src[k] == SIZE_MAX)
        return;
    const hist_input_t *in = &c->h->in[c->src[k]];
    int dead = is_dead_letter(o);
    if (c->nidx[k] == NIDX_BAD || (c->nidx[k] == NIDX_DLQ) != dead) {
        note(c, CHK_I4, "%s message-id=%s of input [%d]@%" PRId64 " is not \"<id>/%s\"",
             dead ? "dead letter" : "output", str(o->msg_id), in->partition, in->offset,
             dead ? "dlq" : "<n>");
    } else if (!attributed(c->h, in, o->msg_id, plen, dead)) {
        note(c, CHK_I2, "message-id=%s is attributed to input [%d]@%" PRId64 " whose ID is %s",
             o->msg_id, in->partition, in->offset, str(in->id));
    }
    c->flags[c->src[k]] |= dead ? IN_DLQ : IN_EFF;
}

/* ------------------------------------------------------------------ */
/* message IDs on the output side                                      */
/* ------------------------------------------------------------------ */

static int same_source(const hist_output_t *a, const hist_output_t *b)
{
    return a->src_partition == b->src_partition && a->src_offset == b->src_offset &&
           strcmp(str(a->src_topic), str(b->src_topic)) == 0;
}

static int check_ids(struct ctx *c)
{
    const hist_t *h = c->h;
    hist_map_t seen;
    if (hist_map_init(&seen, h->nout))
        return -1;
    for (size_t k = 0; k < h->nout; k++) {
        const hist_output_t *o = &h->out[k];
        if (o->kind == HIST_PENDING) {
            c->r->n.pending++;
            continue;
        }
        if (o->kind == HIST_OUTPUT)
            c->r->n.outputs++;
        else
            c->r->n.dlq_records++;
        if (!o->msg_id) {
            c->first[k] = 1;
            continue;
        }
        size_t f = hist_map_put(&seen, o->msg_id, k);
        if (f == SIZE_MAX) {
            hist_map_free(&seen);
            return -1;
        }
        if (f == k) {
            c->first[k] = 1;
            c->r->n.outputs_unique += o->kind == HIST_OUTPUT;
            continue;
        }
        const hist_output_t *a = &h->out[f];
        if (same_source(a, o) && a->digest == o->digest)
            note(c, CHK_I3,
                 "message-id=%s re-published at [%d]@%" PRId64 " (first at [%d]@%" PRId64 ")",
                 o->msg_id, o->partition, o->offset, a->partition, a->offset);
        else if (same_source(a, o))
            note(c, CHK_I2,
                 "message-id=%s from input [%d]@%" PRId64
                 " published twice with different payloads ([%d]@%" PRId64 ", [%d]@%" PRId64 ")",
                 o->msg_id, o->src_partition, o->src_offset, a->partition, a->offset, o->partition,
                 o->offset);
        /* Different sources: the input pass reports the double effect. */
    }
    c->r->n.transport_dups = c->r->violations[CHK_I3];
    hist_map_free(&seen);
    return 0;
}

/* ------------------------------------------------------------------ */
/* inputs: dispositions and effects per ID                             */
/* ------------------------------------------------------------------ */

static int index_ids(struct ctx *c)
{
    const hist_t *h = c->h;
    if (hist_map_init(&c->ids, h->nin))
        return -1;
    size_t *last = malloc((h->nin ? h->nin : 1) * sizeof(*last));
    if (!last)
        return -1;
    for (size_t i = 0; i < h->nin; i++) {
        c->next_same[i] = SIZE_MAX;
        if (!h->in[i].id)
            continue;
        size_t f = hist_map_put(&c->ids, h->in[i].id, i);
        if (f == SIZE_MAX) {
            free(last);
            return -1;
        }
        if (f != i)
            c->next_same[last[f]] = i;
        last[f] = i;
    }
    free(last);
    return 0;
}

/* Some member of i's ID group with a disposition and the same payload came first. */
static int is_duplicate(const struct ctx *c, size_t head, size_t i)
{
    const hist_input_t *r = &c->h->in[i];
    for (size_t j = head; j != SIZE_MAX; j = c->next_same[j]) {
        const hist_input_t *d = &c->h->in[j];
        if (j != i && (c->flags[j] & (IN_EFF | IN_DLQ)) && d->digest == r->digest &&
            (d->partition != r->partition || d->offset < r->offset))
            return 1;
    }
    return 0;
}

/* A record without a disposition: duplicate, not yet processed, or lost. */
static void no_disposition(struct ctx *c, size_t head, size_t i)
{
    const hist_t *h = c->h;
    const hist_input_t *r = &h->in[i];
    if (r->id && is_duplicate(c, head, i)) {
        c->r->n.duplicates++;
        return;
    }
    int64_t pos = h->lmdb_before[r->partition];
    if (r->offset >= pos) {
        c->r->n.unprocessed++;
        if (c->o->finished)
            c->flags[i] |= IN_LOST;
        if (c->o->finished)
            note(c, CHK_I1,
                 "input [%d]@%" PRId64 " id=%s was never processed (LMDB position %" PRId64
                 ", run finished)",
                 r->partition, r->offset, str(r->id), pos);
        return;
    }
    c->r->n.lost++;
    c->flags[i] |= IN_LOST;
    note(c, CHK_I1,
         "input [%d]@%" PRId64 " id=%s has no disposition (no output, no dead letter, not a "
         "duplicate) below LMDB position %" PRId64,
         r->partition, r->offset, str(r->id), pos);
}

static void check_record(struct ctx *c, size_t head, size_t i)
{
    const hist_input_t *r = &c->h->in[i];
    unsigned f = c->flags[i];
    c->r->n.applied += (f & IN_EFF) != 0;
    c->r->n.dead_letters += (f & IN_DLQ) != 0;
    if (f == (IN_EFF | IN_DLQ))
        note(c, CHK_I1, "input [%d]@%" PRId64 " id=%s has both an effect and a dead letter",
             r->partition, r->offset, str(r->id));
    else if (!f)
        no_disposition(c, head, i);
}

static void check_group(struct ctx *c, size_t head)
{
    size_t effects = 0, first = SIZE_MAX;
    for (size_t i = head; i != SIZE_MAX; i = c->next_same[i]) {
        check_record(c, head, i);
        if (!(c->flags[i] & IN_EFF))
            continue;
        if (++effects == 1) {
            first = i;
            continue;
        }
        const hist_input_t *a = &c->h->in[first], *b = &c->h->in[i];
        note(c, CHK_I2, "id=%s applied twice: from [%d]@%" PRId64 " and from [%d]@%" PRId64, b->id,
             a->partition, a->offset, b->partition, b->offset);
    }
}

static void check_inputs(struct ctx *c)
{
    const hist_t *h = c->h;
    c->r->n.records = h->nin;
    for (size_t i = 0; i < h->nin; i++) {
        if (!h->in[i].id)
            check_record(c, SIZE_MAX, i);
        else if (hist_map_get(&c->ids, h->in[i].id) == i)
            check_group(c, i);
    }
}

/* ------------------------------------------------------------------ */
/* I4: torn effects                                                    */
/* ------------------------------------------------------------------ */

/* An output of an effect, for sorting by (input, n). */
struct src_n {
    size_t src;
    int64_t n;
    size_t k;
};

static int cmp_src_n(const void *a, const void *b)
{
    const struct src_n *x = a, *y = b;
    if (x->src != y->src)
        return x->src < y->src ? -1 : 1;
    return x->n < y->n ? -1 : x->n > y->n;
}

/* One input's outputs, v[0..n) sorted by index: 0..m-1 without gaps. */
static void check_torn_one(struct ctx *c, const struct src_n *v, size_t n)
{
    const hist_input_t *in = &c->h->in[v[0].src];
    int64_t distinct = 0, missing = -1;
    for (size_t j = 0; j < n; j++) {
        if (j && v[j].n == v[j - 1].n)
            continue;
        if (v[j].n != distinct && missing < 0)
            missing = distinct;
        distinct++;
    }
    int want = c->o->outputs_per_input;
    if (missing >= 0)
        note(c, CHK_I4, "input [%d]@%" PRId64 " id=%s: output %s/%" PRId64 " missing",
             in->partition, in->offset, str(in->id), str(in->id), missing);
    else if (want > 0 && distinct != want)
        note(c, CHK_I4, "input [%d]@%" PRId64 " id=%s: %" PRId64 " outputs, expected %d",
             in->partition, in->offset, str(in->id), distinct, want);
}

static int check_torn(struct ctx *c)
{
    const hist_t *h = c->h;
    struct src_n *v = malloc((h->nout ? h->nout : 1) * sizeof(*v));
    size_t n = 0;
    if (!v)
        return -1;
    for (size_t k = 0; k < h->nout; k++)
        if (c->src[k] != SIZE_MAX && c->nidx[k] >= 0)
            v[n++] = (struct src_n){c->src[k], c->nidx[k], k};
    qsort(v, n, sizeof(*v), cmp_src_n);
    for (size_t a = 0, b; a < n; a = b) {
        for (b = a + 1; b < n && v[b].src == v[a].src; b++)
            ;
        check_torn_one(c, v + a, b - a);
    }
    free(v);
    return 0;
}

/* ------------------------------------------------------------------ */
/* I5 commit, I6 order, I7 offsets, I8 finished, retention             */
/* ------------------------------------------------------------------ */

static void check_committed(struct ctx *c)
{
    const hist_t *h = c->h;
    for (size_t k = 0; k < h->nout; k++) {
        const hist_output_t *o = &h->out[k];
        if (o->kind == HIST_PENDING || c->src[k] == SIZE_MAX)
            continue;
        int64_t pos = h->lmdb_after[o->src_partition];
        if (o->src_offset >= pos)
            note(c, CHK_I5,
                 "message-id=%s published from input [%d]@%" PRId64
                 " but LMDB's position there is %" PRId64,
                 str(o->msg_id), o->src_partition, o->src_offset, pos);
    }
}

static int check_order(struct ctx *c)
{
    const hist_t *h = c->h;
    int32_t parts = h->input_parts;
    int64_t *last_off = malloc((size_t)(parts > 0 ? parts : 1) * sizeof(*last_off));
    int64_t *last_n = malloc((size_t)(parts > 0 ? parts : 1) * sizeof(*last_n));
    size_t *last_k = malloc((size_t)(parts > 0 ? parts : 1) * sizeof(*last_k));
    if (!last_off || !last_n || !last_k) {
        free(last_off);
        free(last_n);
        free(last_k);
        return -1;
    }
    for (size_t k = 0; k < h->nout; k++) {
        const hist_output_t *o = &h->out[k];
        if (o->kind == HIST_PENDING)
            break; /* sorted last */
        if (k == 0 || o->kind != h->out[k - 1].kind || o->partition != h->out[k - 1].partition)
            for (int32_t p = 0; p < parts; p++)
                last_off[p] = -1;
        if (!c->first[k] || c->src[k] == SIZE_MAX)
            continue;
        int32_t p = o->src_partition;
        int64_t n = c->nidx[k] > 0 ? c->nidx[k] : 0;
        if (last_off[p] >= 0 &&
            (o->src_offset < last_off[p] || (o->src_offset == last_off[p] && n <= last_n[p]))) {
            const hist_output_t *prev = &h->out[last_k[p]];
            note(c, CHK_I6,
                 "%s[%d]: message-id=%s (input [%d]@%" PRId64 ") at offset %" PRId64
                 " after message-id=%s (input [%d]@%" PRId64 ") at offset %" PRId64,
                 o->kind == HIST_DLQ ? "dlq" : "out", o->partition, str(o->msg_id), p,
                 o->src_offset, o->offset, str(prev->msg_id), p, prev->src_offset, prev->offset);
        }
        last_off[p] = o->src_offset;
        last_n[p] = n;
        last_k[p] = k;
    }
    free(last_off);
    free(last_n);
    free(last_k);
    return 0;
}

static void check_offsets(struct ctx *c)
{
    const hist_t *h = c->h;
    for (int32_t p = 0; p < h->input_parts; p++) {
        int64_t kc = h->kafka_committed[p], lm = h->lmdb_after[p];
        if (kc >= 0 && kc > lm)
            note(c, CHK_I7,
                 "%s[%d]: Kafka committed offset %" PRId64 " is ahead of LMDB's %" PRId64,
                 h->input_topic, p, kc, lm);
        if (lm < h->lmdb_before[p])
            note(c, CHK_I7, "%s[%d]: LMDB position went backwards (%" PRId64 " -> %" PRId64 ")",
                 h->input_topic, p, h->lmdb_before[p], lm);
    }
}

static void check_finished(struct ctx *c)
{
    const hist_t *h = c->h;
    if (!c->o->finished)
        return;
    for (size_t k = 0; k < h->nout; k++) {
        const hist_output_t *o = &h->out[k];
        if (o->kind == HIST_PENDING)
            note(c, CHK_I8, "outbox row %" PRId64 " message-id=%s still pending after the stop",
                 o->offset, str(o->msg_id));
    }
}

static void check_retention(struct ctx *c)
{
    const hist_t *h = c->h;
    for (int32_t p = 0; p < h->input_parts; p++)
        if (h->in_low[p] > 0)
            note(c, CHK_RETENTION, "%s[%d]: oldest offset is %" PRId64 ", not 0", h->input_topic, p,
                 h->in_low[p]);
    if (h->out_low_max > 0)
        note(c, CHK_RETENTION, "an output or dead-letter partition starts at offset %" PRId64,
             h->out_low_max);
}

/* ------------------------------------------------------------------ */
/* ledger: balance sequences, store state, ground truth                */
/* ------------------------------------------------------------------ */

struct acct {
    const char *name;
    int64_t out_balance; /* last balance of the output sequence */
    int64_t in_sum;      /* sum of applied inputs below LMDB's position */
    int in_outputs;
    size_t lost; /* inputs without a disposition (I1): discrepancies are theirs */
};

struct accounts {
    hist_map_t map;
    struct acct *v;
    size_t n, cap;
};

static struct acct *acct_get(struct accounts *a, const char *name)
{
    size_t i = hist_map_get(&a->map, name);
    if (i != SIZE_MAX)
        return &a->v[i];
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 1024;
        struct acct *v = realloc(a->v, cap * sizeof(*v));
        if (!v)
            return NULL;
        a->v = v;
        a->cap = cap;
    }
    if (hist_map_put(&a->map, name, a->n) == SIZE_MAX)
        return NULL;
    a->v[a->n] = (struct acct){name, 0, 0, 0, 0};
    return &a->v[a->n++];
}

/* One output of the balance sequence (first appearance, in partition order). */
static void ledger_step(struct ctx *c, struct acct *a, size_t k)
{
    const hist_output_t *o = &c->h->out[k];
    const hist_ledger_t *l = &o->ledger;
    int64_t want = a->out_balance + l->amount;
    if (l->balance != want && !a->lost)
        note(c, CHK_I2,
             "account %s: balance %" PRId64 " at out[%d]@%" PRId64 " (id=%s, amount %" PRId64
             ") but the previous balance was %" PRId64 " (expected %" PRId64 ")",
             a->name, l->balance, o->partition, o->offset, l->id, l->amount, a->out_balance, want);
    a->out_balance = l->balance; /* resynchronise: report each jump once */
    a->in_outputs = 1;
    if (c->src[k] == SIZE_MAX)
        return;
    const hist_ledger_t *in = &c->h->in[c->src[k]].ledger;
    if (!in->ok || strcmp(in->id, l->id) != 0 || strcmp(in->account, l->account) != 0 ||
        in->amount != l->amount)
        note(c, CHK_I2,
             "output out[%d]@%" PRId64 " (id=%s %s %" PRId64
             ") does not match its input [%d]@%" PRId64,
             o->partition, o->offset, l->id, l->account, l->amount, o->src_partition,
             o->src_offset);
}

static int ledger_outputs(struct ctx *c, struct accounts *a)
{
    const hist_t *h = c->h;
    for (size_t k = 0; k < h->nout; k++) {
        const hist_output_t *o = &h->out[k];
        if (o->kind != HIST_OUTPUT || !c->first[k])
            continue;
        if (!o->ledger.ok) {
            note(c, CHK_I2, "output out[%d]@%" PRId64 " message-id=%s is not a ledger record",
                 o->partition, o->offset, str(o->msg_id));
            continue;
        }
        struct acct *ac = acct_get(a, o->ledger.account);
        if (!ac)
            return -1;
        ledger_step(c, ac, k);
    }
    return 0;
}

static int ledger_inputs(struct ctx *c, struct accounts *a)
{
    const hist_t *h = c->h;
    for (size_t i = 0; i < h->nin; i++) {
        const hist_input_t *r = &h->in[i];
        if (!r->ledger.ok || !(c->flags[i] & (IN_EFF | IN_LOST)))
            continue;
        struct acct *ac = acct_get(a, r->ledger.account);
        if (!ac)
            return -1;
        ac->lost += (c->flags[i] & IN_LOST) != 0;
        if ((c->flags[i] & IN_EFF) && r->offset < h->lmdb_before[r->partition])
            ac->in_sum += r->ledger.amount;
    }
    for (size_t i = 0; i < h->nstate; i++)
        if (!acct_get(a, h->state[i].name))
            return -1;
    for (size_t i = 0; c->x && i < c->x->nbalances; i++)
        if (!acct_get(a, c->x->balances[i].name))
            return -1;
    return 0;
}

/* Compares the four views of one account's balance. */
static void ledger_compare(struct ctx *c, const struct acct *a)
{
    const hist_t *h = c->h;
    int in_state, in_expect = 0;
    int64_t state = hist_amount_get(h->state, h->nstate, a->name, &in_state);
    if (h->state_consistent && state != a->in_sum && !a->lost)
        note(c, CHK_I2,
             "account %s: store balance %" PRId64 " but the applied transfers sum to %" PRId64,
             a->name, state, a->in_sum);
    if (c->o->finished && state != a->out_balance && !a->lost)
        note(c, CHK_I2,
             "account %s: store balance %" PRId64 " but the last published balance is %" PRId64,
             a->name, state, a->out_balance);
    if (!c->x)
        return;
    int64_t want = hist_amount_get(c->x->balances, c->x->nbalances, a->name, &in_expect);
    if (state != want)
        note(c, CHK_EXPECT, "account %s: store balance %" PRId64 ", expected %" PRId64, a->name,
             state, want);
    if (a->out_balance != want)
        note(c, CHK_EXPECT, "account %s: last published balance %" PRId64 ", expected %" PRId64,
             a->name, a->out_balance, want);
}

static int check_ledger(struct ctx *c)
{
    struct accounts a = {0};
    if (hist_map_init(&a.map, 4096))
        return -1;
    int rc = ledger_inputs(c, &a);
    if (!rc)
        rc = ledger_outputs(c, &a);
    for (size_t i = 0; !rc && i < a.n; i++)
        ledger_compare(c, &a.v[i]);
    c->r->n.state_unchecked = !c->h->state_consistent;
    c->r->n.accounts = 0;
    for (size_t i = 0; i < a.n; i++)
        c->r->n.accounts += a.v[i].in_outputs;
    if (c->h->state_conflicts)
        note(c, CHK_I2, "%zu account(s) have different balances in different stores",
             c->h->state_conflicts);
    hist_map_free(&a.map);
    free(a.v);
    return rc;
}

static void check_expect_counts(struct ctx *c)
{
    const hist_expect_t *x = c->x;
    const chk_counts_t *n = &c->r->n;
    struct {
        const char *what;
        uint64_t got;
        int64_t want;
    } rows[] = {{"input records", n->records, x->records},
                {"unique transfers applied", n->applied, x->unique},
                {"duplicates skipped", n->duplicates, x->duplicates},
                {"dead letters", n->dead_letters, x->malformed}};
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        if ((int64_t)rows[i].got != rows[i].want)
            note(c, CHK_EXPECT, "%s: %" PRIu64 ", expected %" PRId64, rows[i].what, rows[i].got,
                 rows[i].want);
    for (size_t i = 0; i < x->nmalformed_ids; i++) {
        size_t j = hist_map_get(&c->ids, x->malformed_ids[i]);
        int dead = 0;
        for (; j != SIZE_MAX; j = c->next_same[j])
            dead |= (c->flags[j] & IN_DLQ) != 0;
        if (!dead)
            note(c, CHK_EXPECT, "malformed record id=%s was not dead-lettered",
                 x->malformed_ids[i]);
    }
}

/* ------------------------------------------------------------------ */
/* run                                                                 */
/* ------------------------------------------------------------------ */

static void ctx_free(struct ctx *c)
{
    free(c->src);
    free(c->nidx);
    free(c->first);
    free(c->flags);
    free(c->next_same);
    hist_map_free(&c->ids);
}

static int ctx_init(struct ctx *c, const hist_t *h)
{
    size_t no = h->nout ? h->nout : 1, ni = h->nin ? h->nin : 1;
    c->src = malloc(no * sizeof(*c->src));
    c->nidx = malloc(no * sizeof(*c->nidx));
    c->first = calloc(no, 1);
    c->flags = calloc(ni, 1);
    c->next_same = malloc(ni * sizeof(*c->next_same));
    return c->src && c->nidx && c->first && c->flags && c->next_same ? 0 : -1;
}

int chk_run(const hist_t *h, const hist_expect_t *x, const chk_opts_t *o, chk_report_t *r)
{
    memset(r, 0, sizeof(*r));
    r->max_examples = o->examples < CHK_MAX_EXAMPLES ? o->examples : CHK_MAX_EXAMPLES;
    r->transport_fails = o->transport_fails;
    struct ctx c = {h, x, o, r, NULL, NULL, NULL, NULL, NULL, {0}};
    int rc = ctx_init(&c, h);
    for (size_t k = 0; !rc && k < h->nout; k++)
        link_one(&c, k);
    if (!rc)
        rc = check_ids(&c);
    if (!rc)
        rc = index_ids(&c);
    if (!rc) {
        check_inputs(&c);
        rc = check_torn(&c);
    }
    if (!rc) {
        check_committed(&c);
        rc = check_order(&c);
    }
    if (!rc) {
        check_offsets(&c);
        check_finished(&c);
        check_retention(&c);
        if (o->ledger)
            rc = check_ledger(&c);
    }
    if (!rc && x)
        check_expect_counts(&c);
    ctx_free(&c);
    if (rc)
        return -1;
    int failed = 0;
    for (int i = 0; i < CHK__COUNT; i++)
        failed += chk_failed(r, (chk_inv_t)i);
    return failed;
}

/* ------------------------------------------------------------------ */
/* printing                                                            */
/* ------------------------------------------------------------------ */

static void print_counts(FILE *f, const chk_report_t *r)
{
    const chk_counts_t *n = &r->n;
    fprintf(f,
            "records %" PRIu64 ", applied %" PRIu64 ", duplicates %" PRIu64
            ", dead letters %" PRIu64 ", unprocessed %" PRIu64 ", outputs %" PRIu64 " (%" PRIu64
            " unique, %" PRIu64 " transport duplicates), dlq %" PRIu64 ", pending %" PRIu64
            ", accounts %" PRIu64,
            n->records, n->applied, n->duplicates, n->dead_letters, n->unprocessed, n->outputs,
            n->outputs_unique, n->transport_dups, n->dlq_records, n->pending, n->accounts);
}

/* "verdict: OK (records ...)" or "verdict: FAIL I2 I8 (records ...)", no newline. */
static void print_verdict(FILE *f, const chk_report_t *r, int failed)
{
    fprintf(f, "verdict: %s", failed ? "FAIL" : "OK (");
    if (failed) {
        for (int i = 0; i < CHK__COUNT; i++)
            if (chk_failed(r, (chk_inv_t)i))
                fprintf(f, " %s", names[i]);
        fprintf(f, " (");
    }
    print_counts(f, r);
    fprintf(f, ")");
}

void chk_print(FILE *f, const chk_report_t *r)
{
    int failed = 0;
    for (int i = 0; i < CHK__COUNT; i++) {
        if (!r->violations[i])
            continue;
        failed |= chk_failed(r, (chk_inv_t)i);
        fprintf(f, "%s %s: %" PRIu64 "%s\n", names[i], titles[i], r->violations[i],
                i == CHK_I3 ? "" : " violation(s)");
        for (size_t j = 0; j < r->nexamples[i]; j++)
            fprintf(f, "  - %s\n", r->examples[i][j]);
        if (r->violations[i] > r->nexamples[i])
            fprintf(f, "  ... and %" PRIu64 " more\n", r->violations[i] - r->nexamples[i]);
    }
    if (r->n.state_unchecked)
        fprintf(f, "note: the stores kept committing while their balances were read; the "
                   "store-versus-input balance check was skipped\n");
    if (r->n.beyond_snapshot)
        fprintf(f, "note: %" PRIu64 " output(s) of input newer than the snapshot ignored\n",
                r->n.beyond_snapshot);
    print_verdict(f, r, failed);
    fprintf(f, "\n");
}

static void json_counts(cJSON *o, const chk_counts_t *n)
{
    struct {
        const char *k;
        uint64_t v;
    } rows[] = {{"records", n->records},         {"applied", n->applied},
                {"duplicates", n->duplicates},   {"dead_letters", n->dead_letters},
                {"unprocessed", n->unprocessed}, {"lost", n->lost},
                {"outputs", n->outputs},         {"outputs_unique", n->outputs_unique},
                {"dlq_records", n->dlq_records}, {"transport_duplicates", n->transport_dups},
                {"pending", n->pending},         {"beyond_snapshot", n->beyond_snapshot},
                {"accounts", n->accounts}};
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        cJSON_AddNumberToObject(o, rows[i].k, (double)rows[i].v);
}

void chk_print_json(FILE *f, const chk_report_t *r)
{
    cJSON *root = cJSON_CreateObject(), *fails = cJSON_CreateArray();
    cJSON *counts = cJSON_CreateObject(), *sections = cJSON_CreateObject();
    json_counts(counts, &r->n);
    cJSON_AddBoolToObject(counts, "state_unchecked", r->n.state_unchecked);
    for (int i = 0; i < CHK__COUNT; i++) {
        if (chk_failed(r, (chk_inv_t)i))
            cJSON_AddItemToArray(fails, cJSON_CreateString(names[i]));
        cJSON *s = cJSON_CreateObject(), *ex = cJSON_CreateArray();
        cJSON_AddStringToObject(s, "title", titles[i]);
        cJSON_AddStringToObject(s, "result",
                                chk_failed(r, (chk_inv_t)i)       ? "FAIL"
                                : i == CHK_I3 && r->violations[i] ? "COUNTED"
                                                                  : "OK");
        cJSON_AddNumberToObject(s, "count", (double)r->violations[i]);
        for (size_t j = 0; j < r->nexamples[i]; j++)
            cJSON_AddItemToArray(ex, cJSON_CreateString(r->examples[i][j]));
        cJSON_AddItemToObject(s, "examples", ex);
        cJSON_AddItemToObject(sections, names[i], s);
    }
    int failed = cJSON_GetArraySize(fails);
    cJSON_AddStringToObject(root, "verdict", failed ? "FAIL" : "OK");
    cJSON_AddItemToObject(root, "failed", fails);
    char *line = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&line, &len);
    if (mem) {
        print_verdict(mem, r, failed);
        if (fclose(mem) == 0)
            cJSON_AddStringToObject(root, "line", line);
    }
    free(line);
    cJSON_AddItemToObject(root, "counts", counts);
    cJSON_AddItemToObject(root, "sections", sections);
    char *text = cJSON_PrintUnformatted(root);
    if (text)
        fprintf(f, "%s\n", text);
    free(text);
    cJSON_Delete(root);
}
