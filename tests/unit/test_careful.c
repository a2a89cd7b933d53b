/*
 * test_careful.c - the crash-loop guard's store steps (careful.h): attempt
 * counts, unclean hand-overs, and what a store that refuses the writes
 * leaves behind (no open transaction, an error for the caller).
 *
 * Every test runs on real LMDB in a fresh directory under /tmp. A "full"
 * store is one whose map was filled until even a one-key commit failed.
 */
#include "careful.h"
#include "worker_int.h"
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

#define SMALL_MAP (256u << 10)

struct fx {
    char dir[64];
    eoc__store_t *s;
    eoc_log_t log;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/eoc-careful-XXXXXX");
    char err[512];
    if (!mkdtemp(f->dir) ||
        eoc__store_open(f->dir, SMALL_MAP, 0, NULL, &f->s, err, sizeof(err)) != EOC_OK) {
        free(f);
        return -1;
    }
    eoc__log_init(&f->log, NULL, "test");
    f->log.level = EOC_LOG_ERR; /* the unclean hand-overs are expected */
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

/* Fills the map: big state values while they fit, then smaller ones, then
 * one small meta key per commit until even that fails. */
static void fill(eoc__store_t *s)
{
    static char big[8192];
    char key[32];
    int n = 0;
    for (size_t size = sizeof(big); size >= 16; size /= 4) {
        for (;;) {
            assert_int_equal(eoc__store_begin(s), EOC_OK);
            snprintf(key, sizeof(key), "k%08d", n++);
            if (eoc__store_state_put(s, key, strlen(key), big, size) != EOC_OK) {
                eoc__store_abort(s);
                break;
            }
            if (eoc__store_commit(s) != EOC_OK)
                break;
        }
    }
    for (;;) {
        assert_int_equal(eoc__store_begin(s), EOC_OK);
        snprintf(key, sizeof(key), "fill/%08d", n++);
        if (eoc__store_meta_put(s, key, "x", 1) != EOC_OK) {
            eoc__store_abort(s);
            break;
        }
        if (eoc__store_commit(s) != EOC_OK)
            break;
    }
}

static void attempts_are_counted_per_record_up_to_max_crashes(void **state)
{
    struct fx *f = *state;
    for (int i = 0; i < 3; i++)
        assert_int_equal(eoc__careful_attempt(f->s, "in", 0, 5, 3), 0);
    assert_int_equal(eoc__careful_attempt(f->s, "in", 0, 5, 3), 1);
    assert_int_equal(eoc__careful_attempt(f->s, "in", 0, 6, 3), 0); /* another record */
    assert_int_equal(eoc__careful_attempt(f->s, "in", 1, 5, 3), 0); /* another partition */
    assert_false(eoc__store_in_batch(f->s));
}

static void a_failed_attempt_write_leaves_no_transaction_open(void **state)
{
    struct fx *f = *state;
    fill(f->s);
    assert_int_equal(eoc__careful_attempt(f->s, "in", 0, 5, 3), -1);
    /* The store is still usable: the next batch can begin. */
    assert_false(eoc__store_in_batch(f->s));
    assert_int_equal(eoc__store_begin(f->s), EOC_OK);
    eoc__store_abort(f->s);
}

static void an_unclean_hand_over_counts_and_two_at_one_offset_turn_careful_mode_on(void **state)
{
    struct fx *f = *state;
    eoc__part_t p = {.careful_until = -1};
    /* A clean assignment and revocation: nothing counted. */
    assert_int_equal(eoc__store_begin(f->s), EOC_OK);
    assert_int_equal(eoc__careful_assign(f->s, &f->log, 100, &p, "in", 0, 7), EOC_OK);
    assert_int_equal(eoc__store_commit(f->s), EOC_OK);
    assert_int_equal(eoc__store_begin(f->s), EOC_OK);
    assert_int_equal(eoc__careful_revoke(f->s, "in", 0), EOC_OK);
    assert_int_equal(eoc__store_commit(f->s), EOC_OK);
    uint64_t at, n;
    for (int crash = 1; crash <= 2; crash++) {
        /* Assigned and never revoked: the owner died. */
        assert_int_equal(eoc__store_begin(f->s), EOC_OK);
        assert_int_equal(eoc__careful_assign(f->s, &f->log, 100, &p, "in", 0, 7), EOC_OK);
        assert_int_equal(eoc__store_crashes_get(f->s, "in", 0, &at, &n), EOC_OK);
        assert_int_equal(eoc__store_commit(f->s), EOC_OK);
        assert_int_equal(n, crash - 1);
    }
    assert_int_equal(eoc__store_begin(f->s), EOC_OK);
    assert_int_equal(eoc__careful_assign(f->s, &f->log, 100, &p, "in", 0, 7), EOC_OK);
    assert_int_equal(eoc__store_crashes_get(f->s, "in", 0, &at, &n), EOC_OK);
    assert_int_equal(eoc__store_commit(f->s), EOC_OK);
    assert_int_equal(at, 7);
    assert_int_equal(n, 2);
    assert_int_equal(p.careful_until, 107);
}

static void an_assignment_the_store_refuses_reports_the_error(void **state)
{
    struct fx *f = *state;
    fill(f->s);
    eoc__part_t p = {.careful_until = -1};
    assert_int_equal(eoc__store_begin(f->s), EOC_OK);
    eoc_err_t err = eoc__careful_assign(f->s, &f->log, 100, &p, "in", 0, 7);
    if (err == EOC_OK)
        err = eoc__store_commit(f->s);
    else
        eoc__store_abort(f->s);
    assert_int_equal(err, EOC_ERR_MAP_FULL);
    assert_false(eoc__store_in_batch(f->s));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(attempts_are_counted_per_record_up_to_max_crashes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_failed_attempt_write_leaves_no_transaction_open, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            an_unclean_hand_over_counts_and_two_at_one_offset_turn_careful_mode_on, setup,
            teardown),
        cmocka_unit_test_setup_teardown(an_assignment_the_store_refuses_reports_the_error, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
