/*
 * test_checker.c - the invariant checker must pass a good history and fail
 * each broken one with the right invariant (a checker that cannot fail
 * proves nothing). No Kafka, no LMDB: histories are built in memory.
 *
 * The synthetic run: 40 records on a 2-partition input topic "in", keyed by
 * one of 5 accounts (partition = account % 2), with re-sends of earlier
 * transfers (steps 14, 24, 34 re-send 9, 19, 29: duplicates), one record that is not JSON and one
 * without an amount (dead letters). Processing is simulated in order: each unique transfer updates
 * its account's balance and emits one ledger output
 * "<id>/0" to output partition account % 2 (or two generic outputs "/0",
 * "/1"); malformed records get a dead letter "<id or position>/dlq".
 */
#include "history.h"
#include "invariants.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#define NACCT     5
#define STEPS     40
#define STEP_JUNK 7  /* not JSON: dead letter invalid_id */
#define STEP_BAD  13 /* no amount: dead letter handler_error */

#define BIT(inv) (1u << (inv))

struct world {
    hist_t *h;
    hist_expect_t x;
    int outputs_per_input; /* 1: ledger outputs; 2: generic outputs */
    int64_t bal[NACCT];
    int64_t in_next[2], out_next[2], dlq_next;
};

static int64_t amount_of(int step)
{
    int64_t a = (int64_t)(step * 7 % 19) - 9;
    return a ? a : 4;
}

static int transfer_json(char *buf, size_t n, int step)
{
    return snprintf(buf, n, "{\"id\":\"t%d\",\"account\":\"a%d\",\"amount\":%lld}", step,
                    step % NACCT, (long long)amount_of(step));
}

static void add_in(struct world *w, int32_t p, int64_t off, const char *id, const char *val)
{
    assert_int_equal(hist_add_input(w->h, p, off, id, id ? strlen(id) : 0, val, strlen(val),
                                    w->outputs_per_input == 1),
                     0);
}

static void add_out(struct world *w, hist_kind_t kind, int32_t part, int64_t off,
                    const char *msg_id, int32_t sp, int64_t so, const char *reason,
                    const char *src_id, const char *val)
{
    hist_msg_t m = {kind, part, off, msg_id, "in", sp, so, reason, src_id, val, strlen(val)};
    assert_int_equal(hist_add_output(w->h, &m, w->outputs_per_input == 1), 0);
}

/* The outputs of unique transfer `step` at input [p]@off. */
static void apply(struct world *w, int step, int32_t p, int64_t off)
{
    int a = step % NACCT;
    w->bal[a] += amount_of(step);
    for (int n = 0; n < w->outputs_per_input; n++) {
        char id[32], val[200];
        snprintf(id, sizeof(id), "t%d/%d", step, n);
        if (w->outputs_per_input == 1)
            snprintf(val, sizeof(val),
                     "{\"id\":\"t%d\",\"account\":\"a%d\",\"amount\":%lld,\"balance\":%lld}", step,
                     a, (long long)amount_of(step), (long long)w->bal[a]);
        else
            snprintf(val, sizeof(val), "output %d of t%d", n, step);
        add_out(w, HIST_OUTPUT, a % 2, w->out_next[a % 2]++, id, p, off, NULL, NULL, val);
    }
}

static void dead_letter(struct world *w, int32_t p, int64_t off, const char *src_id,
                        const char *reason, const char *payload)
{
    char id[64];
    snprintf(id, sizeof(id), "%s/dlq", src_id);
    add_out(w, HIST_DLQ, 0, w->dlq_next++, id, p, off, reason, src_id, payload);
}

static void step(struct world *w, int s)
{
    int32_t p = (s % NACCT) % 2;
    int64_t off = w->in_next[p]++;
    char id[32], val[200], pos[32];
    if (s == STEP_JUNK) {
        snprintf(pos, sizeof(pos), "in/%d/%lld", p, (long long)off);
        add_in(w, p, off, NULL, "not json");
        dead_letter(w, p, off, pos, "invalid_id", "not json");
        w->x.malformed++;
    } else if (s == STEP_BAD) {
        snprintf(val, sizeof(val), "{\"id\":\"bad%d\",\"account\":\"a%d\"}", s, s % NACCT);
        snprintf(id, sizeof(id), "bad%d", s);
        add_in(w, p, off, id, val);
        dead_letter(w, p, off, id, "handler_error", val);
        assert_int_equal(hist_expect_add_malformed(&w->x, id), 0);
        w->x.malformed++;
    } else if (s >= 10 && s % 10 == 4) { /* a re-send of step s-5: same account */
        transfer_json(val, sizeof(val), s - 5);
        snprintf(id, sizeof(id), "t%d", s - 5);
        add_in(w, p, off, id, val);
        w->x.duplicates++;
    } else {
        transfer_json(val, sizeof(val), s);
        snprintf(id, sizeof(id), "t%d", s);
        add_in(w, p, off, id, val);
        apply(w, s, p, off);
        w->x.unique++;
    }
    w->x.records++;
}

static struct world *build(int outputs_per_input)
{
    struct world *w = calloc(1, sizeof(*w));
    assert_non_null(w);
    w->outputs_per_input = outputs_per_input;
    assert_non_null(w->h = hist_new("in", 2));
    for (int s = 0; s < STEPS; s++)
        step(w, s);
    for (int32_t p = 0; p < 2; p++) {
        w->h->in_high[p] = w->h->lmdb_before[p] = w->h->lmdb_after[p] = w->in_next[p];
        w->h->kafka_committed[p] = w->in_next[p];
    }
    for (int a = 0; a < NACCT; a++) {
        char name[16];
        snprintf(name, sizeof(name), "a%d", a);
        assert_int_equal(hist_add_state(w->h, name, strlen(name), w->bal[a]), 0);
        assert_int_equal(hist_expect_add_balance(&w->x, name, w->bal[a]), 0);
    }
    hist_expect_finish(&w->x);
    hist_finish(w->h);
    return w;
}

static void destroy(struct world *w)
{
    hist_free(w->h);
    hist_expect_clear(&w->x);
    free(w);
}

/* Runs the checks; returns the set of failed sections (BIT(inv)). */
static int transport_fails; /* chk_opts_t.transport_fails of the next check */

static unsigned check(struct world *w, int finished, int with_expect, chk_report_t *r)
{
    chk_opts_t o = {finished, w->outputs_per_input == 1, w->outputs_per_input, 3, transport_fails};
    int failed = chk_run(w->h, with_expect ? &w->x : NULL, &o, r);
    assert_true(failed >= 0);
    chk_print(stdout, r);
    unsigned mask = 0;
    for (int i = 0; i < CHK__COUNT; i++)
        if (chk_failed(r, (chk_inv_t)i))
            mask |= BIT(i);
    assert_int_equal(__builtin_popcount(mask), failed);
    return mask;
}

static unsigned check_simple(struct world *w, int finished, int with_expect)
{
    chk_report_t *r = malloc(sizeof(*r));
    assert_non_null(r);
    unsigned mask = check(w, finished, with_expect, r);
    free(r);
    return mask;
}

/* Index of the output-side record with `msg_id` and `kind`, or fails. */
static size_t find_out(const hist_t *h, hist_kind_t kind, const char *msg_id)
{
    for (size_t k = 0; k < h->nout; k++)
        if (h->out[k].kind == kind && h->out[k].msg_id && strcmp(h->out[k].msg_id, msg_id) == 0)
            return k;
    fail_msg("no output %s", msg_id);
    return SIZE_MAX;
}

static void drop_out(hist_t *h, size_t k)
{
    hist_output_t *o = &h->out[k];
    free(o->msg_id);
    free(o->src_topic);
    free(o->reason);
    free(o->src_id);
    hist_ledger_clear(&o->ledger);
    memmove(o, o + 1, (h->nout - k - 1) * sizeof(*o));
    h->nout--;
}

static int64_t state_of(const hist_t *h, const char *account)
{
    int found;
    int64_t v = hist_amount_get(h->state, h->nstate, account, &found);
    assert_true(found);
    return v;
}

/* Changes one account's balance in the (single) store. */
static void set_state(hist_t *h, const char *account, int64_t value)
{
    for (size_t i = 0; i < h->nstate; i++) {
        if (strcmp(h->state[i].name, account) == 0) {
            h->state[i].value = value;
            return;
        }
    }
    fail_msg("no account %s", account);
}

/* Appends a ledger output for transfer `id` of `account`/`amount` taken
 * from input [p]@off, with the given balance, at the end of its partition. */
static void append_ledger_out(struct world *w, const char *id, int a, int64_t amount,
                              int64_t balance, int32_t p, int64_t off)
{
    char msg[64], val[200];
    snprintf(msg, sizeof(msg), "%s/0", id);
    snprintf(val, sizeof(val),
             "{\"id\":\"%s\",\"account\":\"a%d\",\"amount\":%lld,\"balance\":%lld}", id, a,
             (long long)amount, (long long)balance);
    add_out(w, HIST_OUTPUT, a % 2, w->out_next[a % 2]++, msg, p, off, NULL, NULL, val);
    hist_finish(w->h);
}

/* ------------------------------------------------------------------ */
/* tests                                                               */
/* ------------------------------------------------------------------ */

static void a_good_history_passes(void **state)
{
    (void)state;
    struct world *w = build(1);
    chk_report_t *r = malloc(sizeof(*r));
    assert_int_equal(check(w, 0, 0, r), 0);
    assert_int_equal(check(w, 1, 1, r), 0);
    assert_int_equal(r->n.records, STEPS);
    assert_int_equal(r->n.applied, w->x.unique);
    assert_int_equal(r->n.duplicates, w->x.duplicates);
    assert_int_equal(r->n.dead_letters, 2);
    assert_int_equal(r->n.transport_dups, 0);
    free(r);
    destroy(w);
}

static void a_good_generic_history_with_two_outputs_per_input_passes(void **state)
{
    (void)state;
    struct world *w = build(2);
    assert_int_equal(check_simple(w, 1, 0), 0);
    destroy(w);
}

static void a_dropped_output_is_loss(void **state)
{
    (void)state;
    struct world *w = build(1);
    drop_out(w->h, find_out(w->h, HIST_OUTPUT, "t8/0"));
    assert_int_equal(check_simple(w, 0, 0), BIT(CHK_I1));
    assert_int_equal(check_simple(w, 1, 1), BIT(CHK_I1) | BIT(CHK_EXPECT));
    destroy(w);
}

static void a_missing_second_output_is_a_torn_effect(void **state)
{
    (void)state;
    struct world *w = build(2);
    drop_out(w->h, find_out(w->h, HIST_OUTPUT, "t11/0"));
    assert_int_equal(check_simple(w, 1, 0), BIT(CHK_I4));
    destroy(w);
}

static void a_third_output_where_two_are_expected_is_a_torn_effect(void **state)
{
    (void)state;
    struct world *w = build(2);
    size_t k = find_out(w->h, HIST_OUTPUT, "t11/1");
    hist_output_t o = w->h->out[k];
    add_out(w, HIST_OUTPUT, o.partition, w->out_next[o.partition]++, "t11/2", o.src_partition,
            o.src_offset, NULL, NULL, "output 2 of t11");
    hist_finish(w->h);
    /* Appended at the end of its partition, it is also out of order. */
    assert_true(check_simple(w, 1, 0) & BIT(CHK_I4));
    destroy(w);
}

/* The last input record with message ID `id`. */
static const hist_input_t *last_input(const hist_t *h, const char *id)
{
    const hist_input_t *r = NULL;
    for (size_t i = 0; i < h->nin; i++)
        if (h->in[i].id && strcmp(h->in[i].id, id) == 0)
            r = &h->in[i];
    assert_non_null(r);
    return r;
}

/* t9 is re-sent at step 14; applying the re-send is a second effect. */
static void a_second_effect_for_an_input_id_is_a_double_effect(void **state)
{
    (void)state;
    struct world *w = build(1);
    const hist_input_t *d = last_input(w->h, "t9");
    int32_t p = d->partition;
    int64_t off = d->offset;
    assert_true(off > 0);
    int64_t bal = state_of(w->h, "a4");
    append_ledger_out(w, "t9", 4, amount_of(9), bal + amount_of(9), p, off);
    assert_int_equal(check_simple(w, 0, 0), BIT(CHK_I2));
    destroy(w);
}

/* A lost inbox row: the re-send is applied again, state and outputs
 * consistent with each other; only the ID's two effects give it away. */
static void a_lost_inbox_row_that_reapplies_a_duplicate_is_a_double_effect(void **state)
{
    (void)state;
    struct world *w = build(1);
    const hist_input_t *d = last_input(w->h, "t9");
    int32_t p = d->partition;
    int64_t off = d->offset;
    int64_t bal = state_of(w->h, "a4") + amount_of(9);
    append_ledger_out(w, "t9", 4, amount_of(9), bal, p, off);
    set_state(w->h, "a4", bal);
    assert_int_equal(check_simple(w, 0, 0), BIT(CHK_I2));
    assert_true(check_simple(w, 1, 1) & BIT(CHK_I2));
    destroy(w);
}

static void a_wrong_published_balance_is_a_double_effect(void **state)
{
    (void)state;
    struct world *w = build(1);
    size_t k = find_out(w->h, HIST_OUTPUT, "t10/0");
    w->h->out[k].ledger.balance += 3;
    assert_int_equal(check_simple(w, 0, 0), BIT(CHK_I2));
    destroy(w);
}

static void a_store_balance_off_by_one_is_flagged(void **state)
{
    (void)state;
    struct world *w = build(1);
    set_state(w->h, "a2", state_of(w->h, "a2") + 1);
    assert_int_equal(check_simple(w, 0, 0), BIT(CHK_I2));
    assert_int_equal(check_simple(w, 1, 1), BIT(CHK_I2) | BIT(CHK_EXPECT));
    destroy(w);
}

/* Two adjacent outputs of different accounts trade places. */
static void swapped_outputs_break_the_order(void **state)
{
    (void)state;
    struct world *w = build(1);
    hist_t *h = w->h;
    size_t k = find_out(h, HIST_OUTPUT, "t0/0");
    assert_true(k + 1 < h->nout && h->out[k + 1].kind == HIST_OUTPUT &&
                h->out[k + 1].partition == h->out[k].partition);
    assert_string_not_equal(h->out[k].ledger.account, h->out[k + 1].ledger.account);
    hist_output_t t = h->out[k];
    h->out[k] = h->out[k + 1];
    h->out[k + 1] = t;
    h->out[k + 1].offset = h->out[k].offset;
    h->out[k].offset = t.offset;
    assert_int_equal(check_simple(w, 1, 1), BIT(CHK_I6));
    destroy(w);
}

/* An input newer than LMDB's position already has a published output. */
static void an_output_beyond_the_lmdb_position_was_never_committed(void **state)
{
    (void)state;
    struct world *w = build(1);
    int64_t off = w->h->in_high[0]++;
    add_in(w, 0, off, "t99", "{\"id\":\"t99\",\"account\":\"a0\",\"amount\":5}");
    append_ledger_out(w, "t99", 0, 5, state_of(w->h, "a0") + 5, 0, off);
    assert_int_equal(check_simple(w, 0, 0), BIT(CHK_I5));
    destroy(w);
}

static void a_kafka_offset_ahead_of_lmdb_is_flagged(void **state)
{
    (void)state;
    struct world *w = build(1);
    w->h->kafka_committed[1] = w->h->lmdb_after[1] + 3;
    assert_int_equal(check_simple(w, 1, 1), BIT(CHK_I7));
    destroy(w);
}

static void an_lmdb_position_going_backwards_is_flagged(void **state)
{
    (void)state;
    struct world *w = build(1);
    w->h->lmdb_before[0] = w->h->lmdb_after[0] + 1;
    assert_int_equal(check_simple(w, 0, 0), BIT(CHK_I7));
    destroy(w);
}

static void a_pending_outbox_row_fails_only_a_finished_run(void **state)
{
    (void)state;
    struct world *w = build(1);
    size_t k = find_out(w->h, HIST_OUTPUT, "t3/0");
    hist_output_t o = w->h->out[k];
    add_out(w, HIST_PENDING, o.partition, 1, "t3/0", o.src_partition, o.src_offset, NULL, NULL,
            "{\"id\":\"t3\",\"account\":\"a3\",\"amount\":3,\"balance\":3}");
    hist_finish(w->h);
    chk_report_t *r = malloc(sizeof(*r));
    assert_int_equal(check(w, 0, 0, r), 0);
    assert_int_equal(r->n.pending, 1);
    assert_int_equal(check(w, 1, 0, r), BIT(CHK_I8));
    free(r);
    destroy(w);
}

static void unprocessed_input_is_loss_only_when_finished(void **state)
{
    (void)state;
    struct world *w = build(1);
    int64_t off = w->h->in_high[1]++;
    add_in(w, 1, off, "t98", "{\"id\":\"t98\",\"account\":\"a1\",\"amount\":5}");
    hist_finish(w->h);
    chk_report_t *r = malloc(sizeof(*r));
    assert_int_equal(check(w, 0, 0, r), 0);
    assert_int_equal(r->n.unprocessed, 1);
    assert_int_equal(check(w, 1, 0, r), BIT(CHK_I1));
    free(r);
    destroy(w);
}

static void a_republished_identical_output_is_a_transport_duplicate(void **state)
{
    (void)state;
    struct world *w = build(1);
    size_t k = find_out(w->h, HIST_OUTPUT, "t5/0");
    hist_output_t o = w->h->out[k];
    char val[200];
    snprintf(val, sizeof(val),
             "{\"id\":\"t5\",\"account\":\"a0\",\"amount\":%lld,\"balance\":%lld}",
             (long long)o.ledger.amount, (long long)o.ledger.balance);
    add_out(w, HIST_OUTPUT, o.partition, w->out_next[o.partition]++, "t5/0", o.src_partition,
            o.src_offset, NULL, NULL, val);
    hist_finish(w->h);
    chk_report_t *r = malloc(sizeof(*r));
    assert_int_equal(check(w, 1, 1, r), 0);
    assert_int_equal(r->n.transport_dups, 1);
    assert_int_equal(r->violations[CHK_I3], 1);
    /* eos.mode=kafka (eoc-check --eos kafka): the same history fails I3 */
    transport_fails = 1;
    assert_int_equal(check(w, 1, 1, r), BIT(CHK_I3));
    transport_fails = 0;
    free(r);
    destroy(w);
}

static void a_republished_output_with_other_bytes_is_a_double_effect(void **state)
{
    (void)state;
    struct world *w = build(1);
    size_t k = find_out(w->h, HIST_OUTPUT, "t5/0");
    hist_output_t o = w->h->out[k];
    add_out(w, HIST_OUTPUT, o.partition, w->out_next[o.partition]++, "t5/0", o.src_partition,
            o.src_offset, NULL, NULL,
            "{\"id\":\"t5\",\"account\":\"a0\",\"amount\":1,\"balance\":1}");
    hist_finish(w->h);
    assert_int_equal(check_simple(w, 0, 0), BIT(CHK_I2));
    destroy(w);
}

static void a_dropped_dead_letter_is_loss(void **state)
{
    (void)state;
    struct world *w = build(1);
    drop_out(w->h, find_out(w->h, HIST_DLQ, "bad13/dlq"));
    assert_int_equal(check_simple(w, 0, 0), BIT(CHK_I1));
    assert_int_equal(check_simple(w, 1, 1), BIT(CHK_I1) | BIT(CHK_EXPECT));
    destroy(w);
}

static void a_wrong_expected_balance_fails_the_ground_truth(void **state)
{
    (void)state;
    struct world *w = build(1);
    w->x.balances[1].value += 10;
    assert_int_equal(check_simple(w, 1, 1), BIT(CHK_EXPECT));
    destroy(w);
}

static void an_output_without_provenance_is_flagged(void **state)
{
    (void)state;
    struct world *w = build(1);
    size_t k = find_out(w->h, HIST_OUTPUT, "t1/0");
    free(w->h->out[k].src_topic);
    w->h->out[k].src_topic = NULL;
    assert_true(check_simple(w, 0, 0) & BIT(CHK_I5));
    destroy(w);
}

static void records_dropped_by_the_broker_void_the_proof(void **state)
{
    (void)state;
    struct world *w = build(1);
    w->h->in_low[0] = 1;
    assert_true(check_simple(w, 0, 0) & BIT(CHK_RETENTION));
    destroy(w);
}

/* chk_print_json of `r`, parsed. */
static cJSON *report_json(const chk_report_t *r)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    chk_print_json(f, r);
    assert_int_equal(fclose(f), 0);
    assert_non_null(strchr(text, '\n'));
    assert_ptr_equal(strchr(text, '\n'), text + len - 1); /* one line */
    cJSON *j = cJSON_Parse(text);
    free(text);
    assert_non_null(j);
    return j;
}

static const char *json_str(const cJSON *o, const char *a, const char *b)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, a);
    if (b)
        v = cJSON_GetObjectItemCaseSensitive(v, b);
    assert_true(cJSON_IsString(v));
    return v->valuestring;
}

static double json_num(const cJSON *o, const char *a, const char *b, const char *c)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, a), b);
    if (c)
        v = cJSON_GetObjectItemCaseSensitive(v, c);
    assert_true(cJSON_IsNumber(v));
    return v->valuedouble;
}

static const cJSON *section(const cJSON *j, const char *name)
{
    const cJSON *s =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "sections"), name);
    assert_non_null(s);
    return s;
}

/* The --json report: the verdict, what failed, the counts and each
 * invariant's result, for scripts; on a good and on a broken history. */
static void the_json_report_names_the_verdict_and_each_invariant(void **state)
{
    (void)state;
    struct world *w = build(1);
    chk_report_t *r = malloc(sizeof(*r));
    assert_non_null(r);
    assert_int_equal(check(w, 1, 1, r), 0);
    cJSON *j = report_json(r);
    assert_string_equal(json_str(j, "verdict", NULL), "OK");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "failed")), 0);
    assert_true(strncmp(json_str(j, "line", NULL), "verdict: OK (records ", 21) == 0);
    assert_int_equal((int)json_num(j, "counts", "records", NULL), STEPS);
    assert_int_equal((int)json_num(j, "counts", "applied", NULL), (int)w->x.unique);
    for (int i = 0; i < CHK__COUNT; i++) {
        const cJSON *s = section(j, chk_name((chk_inv_t)i));
        assert_string_equal(json_str(s, "result", NULL), "OK");
        assert_true(strlen(json_str(s, "title", NULL)) > 0);
    }
    cJSON_Delete(j);

    drop_out(w->h, find_out(w->h, HIST_DLQ, "bad13/dlq"));
    assert_int_equal(check(w, 1, 1, r), BIT(CHK_I1) | BIT(CHK_EXPECT));
    j = report_json(r);
    assert_string_equal(json_str(j, "verdict", NULL), "FAIL");
    const cJSON *failed = cJSON_GetObjectItemCaseSensitive(j, "failed");
    assert_int_equal(cJSON_GetArraySize(failed), 2);
    assert_string_equal(cJSON_GetArrayItem(failed, 0)->valuestring, "I1");
    assert_string_equal(cJSON_GetArrayItem(failed, 1)->valuestring, "EXPECT");
    assert_true(strncmp(json_str(j, "line", NULL), "verdict: FAIL I1 EXPECT (records ", 33) == 0);
    assert_string_equal(json_str(section(j, "I1"), "result", NULL), "FAIL");
    assert_true(json_num(j, "sections", "I1", "count") >= 1);
    assert_true(
        cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(section(j, "I1"), "examples")) >= 1);
    assert_string_equal(json_str(section(j, "I2"), "result", NULL), "OK");
    cJSON_Delete(j);
    free(r);
    destroy(w);
}

static void the_ground_truth_file_loads(void **state)
{
    (void)state;
    char path[] = "/tmp/eoc-test-checker-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs("{\"seed\": 1, \"unique\": 2, \"duplicates\": 1, \"malformed\": 1, \"records\": 4, "
          "\"balances\": {\"b\": -3, \"a\": 7}, \"malformed_ids\": [\"m1\"]}",
          f);
    fclose(f);
    hist_expect_t x;
    char err[256];
    assert_int_equal(hist_expect_load(path, &x, err, sizeof(err)), 0);
    remove(path);
    assert_int_equal(x.unique, 2);
    assert_int_equal(x.records, 4);
    assert_int_equal(x.nbalances, 2);
    assert_string_equal(x.balances[0].name, "a");
    assert_int_equal(x.balances[1].value, -3);
    assert_string_equal(x.malformed_ids[0], "m1");
    hist_expect_clear(&x);
    assert_int_equal(hist_expect_load("/nonexistent/x.json", &x, err, sizeof(err)), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_good_history_passes),
        cmocka_unit_test(a_good_generic_history_with_two_outputs_per_input_passes),
        cmocka_unit_test(a_dropped_output_is_loss),
        cmocka_unit_test(a_missing_second_output_is_a_torn_effect),
        cmocka_unit_test(a_third_output_where_two_are_expected_is_a_torn_effect),
        cmocka_unit_test(a_second_effect_for_an_input_id_is_a_double_effect),
        cmocka_unit_test(a_lost_inbox_row_that_reapplies_a_duplicate_is_a_double_effect),
        cmocka_unit_test(a_wrong_published_balance_is_a_double_effect),
        cmocka_unit_test(a_store_balance_off_by_one_is_flagged),
        cmocka_unit_test(swapped_outputs_break_the_order),
        cmocka_unit_test(an_output_beyond_the_lmdb_position_was_never_committed),
        cmocka_unit_test(a_kafka_offset_ahead_of_lmdb_is_flagged),
        cmocka_unit_test(an_lmdb_position_going_backwards_is_flagged),
        cmocka_unit_test(a_pending_outbox_row_fails_only_a_finished_run),
        cmocka_unit_test(unprocessed_input_is_loss_only_when_finished),
        cmocka_unit_test(a_republished_identical_output_is_a_transport_duplicate),
        cmocka_unit_test(a_republished_output_with_other_bytes_is_a_double_effect),
        cmocka_unit_test(a_dropped_dead_letter_is_loss),
        cmocka_unit_test(a_wrong_expected_balance_fails_the_ground_truth),
        cmocka_unit_test(an_output_without_provenance_is_flagged),
        cmocka_unit_test(records_dropped_by_the_broker_void_the_proof),
        cmocka_unit_test(the_ground_truth_file_loads),
        cmocka_unit_test(the_json_report_names_the_verdict_and_each_invariant),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
