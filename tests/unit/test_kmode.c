/*
 * test_kmode.c - eos.mode=kafka's store side, without Kafka: changelog
 * positions commit and roll back with their batch, the batch's staged
 * rows (outputs and changelog entries) are handed over in order and
 * removed in the same transaction, a rolled-back record takes its staged
 * rows with it, a failed hand-over leaves the batch to be aborted, the
 * per-partition scope keeps one ID of two partitions apart, a full
 * restore drops exactly one partition's state, inbox retention inside a
 * batch removes only the partitions it is asked to, stages a tombstone
 * per removed ID and commits or aborts with the batch, and a changelog
 * tombstone makes a restore forget its ID. The Kafka side (the
 * transaction, restore, fencing) is proved by tests/kafka-mode on Apache
 * Kafka.
 */
#include "store.h"
#include "txn.h"
#include "tu_rmtree.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define TEST_MAP (64u << 20)

struct fx {
    char dir[64];
    eoc__store_t *s;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    strcpy(f->dir, "/tmp/eoc-test-kmode-XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    char err[256];
    if (eoc__store_open(f->dir, TEST_MAP, 0, NULL, &f->s, err, sizeof(err)) != EOC_OK) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    eoc__store_close(f->s);
    int rc = tu_rmtree(f->dir);
    free(f);
    return rc;
}

/* ---- changelog positions */

static void positions(void *opaque, const char *topic, int32_t partition, int64_t pos)
{
    char *out = opaque;
    size_t n = strlen(out);
    snprintf(out + n, 256 - n, "%s/%d=%lld;", topic, partition, (long long)pos);
}

static void position_commits_and_rolls_back_with_its_batch(void **state)
{
    struct fx *f = *state;
    int64_t pos = -1;
    assert_int_equal(eoc__store_begin(f->s), EOC_OK);
    assert_int_equal(eoc__store_clpos_get(f->s, "g.t.changelog", 3, &pos), EOC_ERR_NOT_FOUND);
    assert_int_equal(eoc__store_clpos_set(f->s, "g.t.changelog", 3, 42), EOC_OK);
    assert_int_equal(eoc__store_commit(f->s), EOC_OK);

    assert_int_equal(eoc__store_begin(f->s), EOC_OK);
    assert_int_equal(eoc__store_clpos_set(f->s, "g.t.changelog", 3, 99), EOC_OK);
    eoc__store_abort(f->s); /* the Kafka transaction failed: LMDB stays behind */

    assert_int_equal(eoc__store_begin(f->s), EOC_OK);
    assert_int_equal(eoc__store_clpos_get(f->s, "g.t.changelog", 3, &pos), EOC_OK);
    assert_int_equal(pos, 42);
    assert_int_equal(eoc__store_clpos_set(f->s, "g.t.changelog", 10, 7), EOC_OK);
    assert_int_equal(eoc__store_commit(f->s), EOC_OK);

    char seen[256] = "";
    assert_int_equal(eoc__store_clpos_list(f->s, positions, seen), EOC_OK);
    assert_string_equal(seen, "g.t.changelog/10=7;g.t.changelog/3=42;");

    assert_int_equal(eoc__store_begin(f->s), EOC_OK); /* forget one */
    assert_int_equal(eoc__store_clpos_set(f->s, "g.t.changelog", 10, -1), EOC_OK);
    assert_int_equal(eoc__store_commit(f->s), EOC_OK);
    seen[0] = 0;
    assert_int_equal(eoc__store_clpos_list(f->s, positions, seen), EOC_OK);
    assert_string_equal(seen, "g.t.changelog/3=42;");
}

/* ---- staged rows */

struct drained {
    int n, fail_at;
    char log[1024];
};

static int drain_cb(void *opaque, const eoc__outrow_t *row)
{
    struct drained *d = opaque;
    if (d->n == d->fail_at)
        return 1;
    d->n++;
    int tomb = 0, cl = eoc__km_row_is_changelog(row, &tomb);
    size_t n = strlen(d->log);
    char key[64] = "";
    for (size_t i = 0; i < row->key_len && i < sizeof(key) - 1; i++)
        key[i] = ((const char *)row->key)[i] ? ((const char *)row->key)[i] : '0';
    snprintf(d->log + n, sizeof(d->log) - n, "%.*s[%d] %s %s%s;", (int)row->topic_len, row->topic,
             row->partition, cl ? "changelog" : "output", key, tomb ? " tombstone" : "");
    return 0;
}

static void add_output(eoc__store_t *s, const char *topic, int32_t p, const char *id)
{
    eoc__outrow_t row = {.id = id,
                         .id_len = strlen(id),
                         .topic = topic,
                         .topic_len = strlen(topic),
                         .partition = p,
                         .value = "v",
                         .value_len = 1};
    assert_int_equal(eoc__store_outbox_add(s, &row), EOC_OK);
}

static void staged_rows_drain_in_order_and_leave_with_the_batch(void **state)
{
    struct fx *f = *state;
    assert_int_equal(eoc__store_begin(f->s), EOC_OK);
    add_output(f->s, "out", 1, "a/0");
    assert_int_equal(eoc__km_stage_inbox(f->s, "g", "in", 1, "a", 1, 17, 0xabc, 1), EOC_OK);
    assert_int_equal(eoc__km_stage_state(f->s, "g", "in", 1, "k", 1, "v1", 2, 0), EOC_OK);
    /* a record rolled back alone takes its staged rows with it */
    assert_int_equal(eoc__store_rec_begin(f->s), EOC_OK);
    add_output(f->s, "out", 2, "b/0");
    assert_int_equal(eoc__km_stage_inbox(f->s, "g", "in", 2, "b", 1, 18, 0xdef, 1), EOC_OK);
    eoc__store_rec_abort(f->s);
    assert_int_equal(eoc__km_stage_state(f->s, "g", "in", 1, "k", 1, NULL, 0, 1), EOC_OK);

    struct drained d = {0, -1, ""};
    assert_int_equal(eoc__store_batch_rows_drain(f->s, drain_cb, &d), EOC_OK);
    assert_int_equal(d.n, 4);
    assert_string_equal(d.log, "out[1] output ;g.in.changelog[1] changelog i0a;"
                               "g.in.changelog[1] changelog s0k;"
                               "g.in.changelog[1] changelog s0k tombstone;");
    assert_int_equal(eoc__store_commit(f->s), EOC_OK);
    uint64_t rows = 1;
    int64_t age = 0;
    assert_int_equal(eoc__store_outbox_info(f->s, &rows, &age), EOC_OK);
    assert_int_equal(rows, 0); /* nothing for a relay */
}

static void a_failed_hand_over_leaves_the_batch_to_abort(void **state)
{
    struct fx *f = *state;
    assert_int_equal(eoc__store_begin(f->s), EOC_OK);
    add_output(f->s, "out", 0, "a/0");
    add_output(f->s, "out", 0, "b/0");
    struct drained d = {0, 1, ""};
    assert_int_equal(eoc__store_batch_rows_drain(f->s, drain_cb, &d), EOC_ERR_KAFKA);
    eoc__store_abort(f->s);
    uint64_t rows = 1;
    int64_t age = 0;
    assert_int_equal(eoc__store_outbox_info(f->s, &rows, &age), EOC_OK);
    assert_int_equal(rows, 0);
}

/* ---- scope */

static void one_id_in_two_partitions_is_two_inbox_ids(void **state)
{
    struct fx *f = *state;
    char a[EOC__KM_SCOPE + EOC_ID_MAX], b[EOC__KM_SCOPE + EOC_ID_MAX];
    size_t na = eoc__km_inbox_id(a, "in", 0, "x1", 2), nb = eoc__km_inbox_id(b, "in", 1, "x1", 2);
    assert_int_equal(na, EOC__KM_SCOPE + 2);
    assert_int_equal(nb, na);
    assert_memory_not_equal(a, b, na);
    assert_int_equal(eoc__store_begin(f->s), EOC_OK);
    assert_int_equal(eoc__store_inbox_add(f->s, a, na, "in", 0, 5, 1, 1), EOC_OK);
    eoc__inbox_entry_t e;
    assert_int_equal(eoc__store_inbox_find_hashed(f->s, a, na, eoc__store_id_hash(a, na), &e),
                     EOC_OK);
    assert_int_equal(eoc__store_inbox_find_hashed(f->s, b, nb, eoc__store_id_hash(b, nb), &e),
                     EOC_ERR_NOT_FOUND);
    /* an ID of EOC_ID_MAX bytes still fits with its scope */
    char big[EOC_ID_MAX];
    memset(big, 'z', sizeof(big));
    char sb[EOC__KM_SCOPE + EOC_ID_MAX];
    size_t ns = eoc__km_inbox_id(sb, "in", 0, big, sizeof(big));
    assert_int_equal(eoc__store_inbox_add(f->s, sb, ns, "in", 0, 6, 1, 1), EOC_OK);
    assert_int_equal(eoc__store_commit(f->s), EOC_OK);
}

static void a_full_restore_drops_one_partitions_state(void **state)
{
    struct fx *f = *state;
    unsigned char p0[EOC__KM_SCOPE + 1], p1[EOC__KM_SCOPE + 1];
    eoc__km_scope(p0, "in", 0);
    eoc__km_scope(p1, "in", 1);
    assert_int_equal(eoc__store_begin(f->s), EOC_OK);
    for (int i = 0; i < 3; i++) {
        p0[EOC__KM_SCOPE] = p1[EOC__KM_SCOPE] = (unsigned char)('a' + i);
        assert_int_equal(eoc__store_state_put_raw(f->s, p0, sizeof(p0), "v", 1, 0), EOC_OK);
        assert_int_equal(eoc__store_state_put_raw(f->s, p1, sizeof(p1), "v", 1, 0), EOC_OK);
    }
    uint64_t dropped = 0;
    assert_int_equal(eoc__store_state_drop_prefix(f->s, p0, EOC__KM_SCOPE, &dropped), EOC_OK);
    assert_int_equal(dropped, 3);
    const void *v;
    size_t vl;
    p1[EOC__KM_SCOPE] = 'b';
    assert_int_equal(eoc__store_state_get(f->s, p1, sizeof(p1), &v, &vl), EOC_OK);
    p0[EOC__KM_SCOPE] = 'b';
    assert_int_equal(eoc__store_state_get(f->s, p0, sizeof(p0), &v, &vl), EOC_ERR_NOT_FOUND);
    /* a tombstone from the changelog deletes; a missing key is fine */
    assert_int_equal(eoc__store_state_put_raw(f->s, p1, sizeof(p1), NULL, 0, 1), EOC_OK);
    assert_int_equal(eoc__store_state_put_raw(f->s, p1, sizeof(p1), NULL, 0, 1), EOC_OK);
    assert_int_equal(eoc__store_commit(f->s), EOC_OK);
}

/* ---- retention */

/* Four scoped IDs per partition 0 and 1 of "in" at offsets 0..3, the
 * partitions' committed offsets at 4, committed. */
static void fill_two_partitions(eoc__store_t *s)
{
    assert_int_equal(eoc__store_begin(s), EOC_OK);
    for (int32_t p = 0; p < 2; p++)
        for (int i = 0; i < 4; i++) {
            char id[EOC__KM_SCOPE + 8], raw[8];
            snprintf(raw, sizeof(raw), "id%d", i);
            size_t n = eoc__km_inbox_id(id, "in", p, raw, strlen(raw));
            assert_int_equal(eoc__store_inbox_add(s, id, n, "in", p, i, 1, 1), EOC_OK);
            assert_int_equal(eoc__store_offset_set(s, "in", p, i + 1), EOC_OK);
        }
    assert_int_equal(eoc__store_commit(s), EOC_OK);
}

static int inbox_has(eoc__store_t *s, int32_t p, const char *raw)
{
    char id[EOC__KM_SCOPE + 8];
    size_t n = eoc__km_inbox_id(id, "in", p, raw, strlen(raw));
    eoc__inbox_entry_t e;
    assert_int_equal(eoc__store_begin(s), EOC_OK);
    eoc_err_t err = eoc__store_inbox_find_hashed(s, id, n, eoc__store_id_hash(id, n), &e);
    eoc__store_abort(s);
    assert_true(err == EOC_OK || err == EOC_ERR_NOT_FOUND);
    return err == EOC_OK;
}

static int only_partition_0(void *opaque, const char *topic, int32_t partition)
{
    (void)opaque;
    return strcmp(topic, "in") == 0 && partition == 0;
}

static eoc_err_t stage_gone(void *opaque, const char *topic, int32_t partition, const char *id,
                            size_t id_len)
{
    return eoc__km_stage_inbox_gone(opaque, "g", topic, partition, id, id_len);
}

static void retention_in_a_batch_stages_tombstones_and_goes_with_it(void **state)
{
    struct fx *f = *state;
    fill_two_partitions(f->s);
    eoc__prune_hooks_t h = {only_partition_0, stage_gone, f->s};
    uint64_t n = 0;

    /* count 2: IDs more than 2 offsets behind 4 (offsets 0 and 1) go */
    assert_int_equal(eoc__store_begin(f->s), EOC_OK);
    assert_int_equal(eoc__store_prune_batch(f->s, 0, 2, 100, &h, &n), EOC_OK);
    assert_int_equal(n, 2);
    struct drained d = {0, -1, ""};
    assert_int_equal(eoc__store_batch_rows_drain(f->s, drain_cb, &d), EOC_OK);
    assert_string_equal(d.log, "g.in.changelog[0] changelog i0id0 tombstone;"
                               "g.in.changelog[0] changelog i0id1 tombstone;");
    eoc__store_abort(f->s); /* the Kafka transaction failed: nothing removed */
    assert_true(inbox_has(f->s, 0, "id0"));
    assert_true(inbox_has(f->s, 0, "id1"));

    assert_int_equal(eoc__store_begin(f->s), EOC_OK);
    assert_int_equal(eoc__store_prune_batch(f->s, 0, 2, 100, &h, &n), EOC_OK);
    assert_int_equal(n, 2);
    assert_int_equal(eoc__store_commit(f->s), EOC_OK);
    assert_false(inbox_has(f->s, 0, "id0"));
    assert_false(inbox_has(f->s, 0, "id1"));
    assert_true(inbox_has(f->s, 0, "id2"));
    assert_true(inbox_has(f->s, 1, "id0")); /* not asked for */

    /* outside a batch it is refused */
    assert_int_equal(eoc__store_prune_batch(f->s, 0, 2, 100, &h, &n), EOC_ERR_STATE);
}

static void a_tombstone_makes_a_restore_forget_its_id(void **state)
{
    struct fx *f = *state;
    fill_two_partitions(f->s);
    char id[EOC__KM_SCOPE + 8];
    size_t n = eoc__km_inbox_id(id, "in", 1, "id3", 3);
    assert_int_equal(eoc__store_begin(f->s), EOC_OK);
    assert_int_equal(eoc__store_inbox_forget(f->s, id, n), EOC_OK);
    eoc__store_abort(f->s);
    assert_true(inbox_has(f->s, 1, "id3"));
    assert_int_equal(eoc__store_begin(f->s), EOC_OK);
    assert_int_equal(eoc__store_inbox_forget(f->s, id, n), EOC_OK);
    assert_int_equal(eoc__store_inbox_forget(f->s, id, n), EOC_OK); /* gone already: fine */
    assert_int_equal(eoc__store_commit(f->s), EOC_OK);
    assert_false(inbox_has(f->s, 1, "id3"));
    assert_true(inbox_has(f->s, 1, "id2"));
    assert_true(inbox_has(f->s, 0, "id3")); /* the same ID of another partition */
    /* an ID added and forgotten in one restore chunk is gone after it */
    assert_int_equal(eoc__store_begin(f->s), EOC_OK);
    assert_int_equal(eoc__store_inbox_add(f->s, id, n, "in", 1, 9, 1, 1), EOC_OK);
    assert_int_equal(eoc__store_inbox_forget(f->s, id, n), EOC_OK);
    assert_int_equal(eoc__store_commit(f->s), EOC_OK);
    assert_false(inbox_has(f->s, 1, "id3"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(position_commits_and_rolls_back_with_its_batch, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(staged_rows_drain_in_order_and_leave_with_the_batch, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_failed_hand_over_leaves_the_batch_to_abort, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(one_id_in_two_partitions_is_two_inbox_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(a_full_restore_drops_one_partitions_state, setup, teardown),
        cmocka_unit_test_setup_teardown(retention_in_a_batch_stages_tombstones_and_goes_with_it,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(a_tombstone_makes_a_restore_forget_its_id, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
