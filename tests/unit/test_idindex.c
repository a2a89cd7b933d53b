/*
 * test_idindex.c - the in-memory hash of message-ID hashes to inbox
 * sequence numbers: insert/find/remove, chains of colliding hashes,
 * growth, tombstones, and a randomized comparison with a plain list.
 *
 * Randomized tests print their seed; EOC_TEST_SEED=<n> replays one.
 */
#include "idindex.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

static unsigned test_seed(const char *test)
{
    const char *env = getenv("EOC_TEST_SEED");
    unsigned seed = env && *env ? (unsigned)strtoul(env, NULL, 10) : (unsigned)time(NULL);
    printf("# %s: seed %u (EOC_TEST_SEED=%u to replay)\n", test, seed, seed);
    srand(seed);
    return seed;
}

static uint64_t rand64(void)
{
    uint64_t v = 0;
    for (int i = 0; i < 5; i++)
        v = v << 15 ^ (uint64_t)(rand() & 0x7fff);
    return v;
}

static int setup(void **state)
{
    *state = eoc__idindex_new();
    return *state ? 0 : -1;
}

static int teardown(void **state)
{
    eoc__idindex_free(*state);
    return 0;
}

/* How many times `seq` is listed under `hash`; also checks the total. */
static size_t occurrences(const eoc__idindex_t *ix, uint64_t hash, uint64_t seq, size_t *total)
{
    size_t cursor = 0, n = 0, all = 0;
    uint64_t got;
    while (eoc__idindex_next(ix, hash, &cursor, &got)) {
        all++;
        if (got == seq)
            n++;
    }
    /* Exhausted cursors stay exhausted. */
    assert_int_equal(eoc__idindex_next(ix, hash, &cursor, &got), 0);
    if (total)
        *total = all;
    return n;
}

static void an_inserted_pair_is_found_and_an_unknown_hash_is_not(void **state)
{
    eoc__idindex_t *ix = *state;
    assert_int_equal(eoc__idindex_count(ix), 0);
    assert_int_equal(eoc__idindex_insert(ix, 0x1234, 42), 0);
    assert_int_equal(eoc__idindex_count(ix), 1);
    size_t total;
    assert_int_equal(occurrences(ix, 0x1234, 42, &total), 1);
    assert_int_equal(total, 1);
    assert_int_equal(occurrences(ix, 0x1235, 42, &total), 0);
    assert_int_equal(total, 0);
}

static void a_removed_pair_is_gone_and_removing_an_absent_pair_changes_nothing(void **state)
{
    eoc__idindex_t *ix = *state;
    assert_int_equal(eoc__idindex_insert(ix, 77, 1), 0);
    assert_int_equal(eoc__idindex_insert(ix, 77, 2), 0);
    eoc__idindex_remove(ix, 77, 3); /* absent seq */
    eoc__idindex_remove(ix, 78, 1); /* absent hash */
    assert_int_equal(eoc__idindex_count(ix), 2);
    eoc__idindex_remove(ix, 77, 1);
    assert_int_equal(eoc__idindex_count(ix), 1);
    size_t total;
    assert_int_equal(occurrences(ix, 77, 1, &total), 0);
    assert_int_equal(occurrences(ix, 77, 2, NULL), 1);
    assert_int_equal(total, 1);
    eoc__idindex_remove(ix, 77, 1); /* twice: no-op */
    assert_int_equal(eoc__idindex_count(ix), 1);
    /* Re-inserting a removed pair brings it back. */
    assert_int_equal(eoc__idindex_insert(ix, 77, 1), 0);
    assert_int_equal(occurrences(ix, 77, 1, NULL), 1);
}

static void a_zero_hash_is_stored_and_found_like_any_other(void **state)
{
    eoc__idindex_t *ix = *state;
    assert_int_equal(eoc__idindex_insert(ix, 0, 5), 0);
    assert_int_equal(occurrences(ix, 0, 5, NULL), 1);
    eoc__idindex_remove(ix, 0, 5);
    assert_int_equal(occurrences(ix, 0, 5, NULL), 0);
    assert_int_equal(eoc__idindex_count(ix), 0);
}

static void many_seqs_under_one_hash_are_all_listed_once(void **state)
{
    eoc__idindex_t *ix = *state;
    const size_t n = 5000; /* one probe chain, across several growths */
    for (size_t i = 0; i < n; i++)
        assert_int_equal(eoc__idindex_insert(ix, 0xABCDEF, i), 0);
    unsigned char *seen = calloc(n, 1);
    assert_non_null(seen);
    size_t cursor = 0, count = 0;
    uint64_t seq;
    while (eoc__idindex_next(ix, 0xABCDEF, &cursor, &seq)) {
        assert_true(seq < n);
        assert_int_equal(seen[seq], 0);
        seen[seq] = 1;
        count++;
    }
    assert_int_equal(count, n);
    free(seen);
}

static void hashes_sharing_a_home_slot_only_list_their_own_seqs(void **state)
{
    eoc__idindex_t *ix = *state;
    /* Identical low bits: the same home slot at any table size below 2^40. */
    const uint64_t step = 1ull << 40;
    for (uint64_t h = 1; h <= 50; h++)
        for (uint64_t j = 0; j < 20; j++)
            assert_int_equal(eoc__idindex_insert(ix, h * step + 3, h * 1000 + j), 0);
    assert_int_equal(eoc__idindex_count(ix), 1000);
    for (uint64_t h = 1; h <= 50; h++) {
        size_t cursor = 0, count = 0;
        uint64_t seq;
        while (eoc__idindex_next(ix, h * step + 3, &cursor, &seq)) {
            assert_true(seq / 1000 == h);
            count++;
        }
        assert_int_equal(count, 20);
    }
}

static void removing_the_middle_of_a_probe_chain_keeps_the_entries_after_it(void **state)
{
    eoc__idindex_t *ix = *state;
    const uint64_t step = 1ull << 40;
    /* a, b, c share a home slot and sit one after the other. */
    uint64_t a = step + 9, b = 2 * step + 9, c = 3 * step + 9;
    assert_int_equal(eoc__idindex_insert(ix, a, 1), 0);
    assert_int_equal(eoc__idindex_insert(ix, b, 2), 0);
    assert_int_equal(eoc__idindex_insert(ix, c, 3), 0);
    eoc__idindex_remove(ix, b, 2);
    assert_int_equal(occurrences(ix, a, 1, NULL), 1);
    assert_int_equal(occurrences(ix, c, 3, NULL), 1);
    assert_int_equal(occurrences(ix, b, 2, NULL), 0);
    eoc__idindex_remove(ix, a, 1);
    assert_int_equal(occurrences(ix, c, 3, NULL), 1);
    /* Removal behind a tombstone works too. */
    eoc__idindex_remove(ix, c, 3);
    assert_int_equal(occurrences(ix, c, 3, NULL), 0);
    assert_int_equal(eoc__idindex_count(ix), 0);
    /* And the chain is usable again. */
    assert_int_equal(eoc__idindex_insert(ix, c, 4), 0);
    assert_int_equal(occurrences(ix, c, 4, NULL), 1);
}

static void growth_keeps_every_entry(void **state)
{
    eoc__idindex_t *ix = *state;
    unsigned seed = test_seed("growth_keeps_every_entry");
    const size_t n = 200000;
    for (size_t i = 0; i < n; i++)
        assert_int_equal(eoc__idindex_insert(ix, rand64(), i), 0);
    assert_int_equal(eoc__idindex_count(ix), n);
    srand(seed); /* replay the same hashes */
    for (size_t i = 0; i < n; i++) {
        uint64_t h = rand64();
        if (occurrences(ix, h, i, NULL) != 1)
            fail_msg("entry %zu (hash %016llx) lost", i, (unsigned long long)h);
    }
}

static void a_reserved_index_keeps_what_it_held_and_finds_everything_added_after(void **state)
{
    eoc__idindex_t *ix = *state;
    unsigned seed = test_seed("a_reserved_index_keeps_what_it_held");
    const size_t before = 100, n = 100000;
    for (size_t i = 0; i < before; i++)
        assert_int_equal(eoc__idindex_insert(ix, rand64(), i), 0);
    eoc__idindex_remove(ix, 7, 7); /* absent: nothing changes */
    assert_int_equal(eoc__idindex_reserve(ix, n), 0);
    assert_int_equal(eoc__idindex_reserve(ix, 10), 0); /* never shrinks */
    for (size_t i = before; i < n; i++)
        assert_int_equal(eoc__idindex_insert(ix, rand64(), i), 0);
    assert_int_equal(eoc__idindex_count(ix), n);
    srand(seed);
    for (size_t i = 0; i < n; i++) {
        uint64_t h = rand64();
        if (occurrences(ix, h, i, NULL) != 1)
            fail_msg("entry %zu (hash %016llx) lost", i, (unsigned long long)h);
    }
}

static void churn_of_inserts_and_removes_never_loses_a_live_entry(void **state)
{
    eoc__idindex_t *ix = *state;
    test_seed("churn_of_inserts_and_removes");
    /* A model: live (hash, seq) pairs in an array. Few distinct hashes
     * (about 15 live seqs each) leave chains full of tombstones. */
    const size_t cap = 30000;
    uint64_t *h = malloc(cap * sizeof(*h)), *q = malloc(cap * sizeof(*q));
    assert_non_null(h);
    assert_non_null(q);
    size_t live = 0;
    uint64_t next_seq = 0;
    for (int op = 0; op < 300000; op++) {
        int r = rand() % 100;
        if (live < cap && (r < 55 || live == 0)) {
            uint64_t hash = (uint64_t)(rand() % 2000 + 1) * 0x9E3779B97F4A7C15ull;
            assert_int_equal(eoc__idindex_insert(ix, hash, next_seq), 0);
            h[live] = hash;
            q[live++] = next_seq++;
        } else {
            size_t i = (size_t)rand() % live;
            eoc__idindex_remove(ix, h[i], q[i]);
            h[i] = h[live - 1];
            q[i] = q[--live];
        }
        assert_int_equal(eoc__idindex_count(ix), live);
        if (op % 50000 == 49999) {
            for (size_t i = 0; i < live; i++)
                if (occurrences(ix, h[i], q[i], NULL) != 1)
                    fail_msg("live entry (%016llx, %llu) lost at op %d", (unsigned long long)h[i],
                             (unsigned long long)q[i], op);
        }
    }
    for (size_t i = 0; i < live; i++)
        assert_int_equal(occurrences(ix, h[i], q[i], NULL), 1);
    free(h);
    free(q);
}

static void the_id_hash_is_deterministic_and_depends_on_bytes_and_seed(void **state)
{
    (void)state;
    assert_true(eoc__hash64("abc", 3, 0) == eoc__hash64("abc", 3, 0));
    assert_true(eoc__hash64("abc", 3, 0) != eoc__hash64("abd", 3, 0));
    assert_true(eoc__hash64("abc", 3, 0) != eoc__hash64("abc", 3, 1));
    assert_true(eoc__hash64("ab", 2, 0) != eoc__hash64("ab\0", 3, 0));
    /* No collisions among 100k sequential IDs (a 64-bit hash should have
     * none at this size); spreads over the low bits used for slots. */
    const size_t n = 100000;
    uint64_t *v = malloc(n * sizeof(*v));
    assert_non_null(v);
    size_t low[16] = {0};
    for (size_t i = 0; i < n; i++) {
        char id[32];
        int len = snprintf(id, sizeof(id), "order-%zu", i);
        v[i] = eoc__hash64(id, (size_t)len, 0);
        low[v[i] & 15]++;
    }
    for (int b = 0; b < 16; b++)
        assert_true(low[b] > n / 16 * 8 / 10 && low[b] < n / 16 * 12 / 10);
    /* sort and check for duplicates */
    for (size_t gap = n / 2; gap > 0; gap /= 2)
        for (size_t i = gap; i < n; i++)
            for (size_t j = i; j >= gap && v[j - gap] > v[j]; j -= gap) {
                uint64_t t = v[j];
                v[j] = v[j - gap];
                v[j - gap] = t;
            }
    for (size_t i = 1; i < n; i++)
        assert_true(v[i] != v[i - 1]);
    free(v);
}

#define IX_TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        IX_TEST(an_inserted_pair_is_found_and_an_unknown_hash_is_not),
        IX_TEST(a_removed_pair_is_gone_and_removing_an_absent_pair_changes_nothing),
        IX_TEST(a_zero_hash_is_stored_and_found_like_any_other),
        IX_TEST(many_seqs_under_one_hash_are_all_listed_once),
        IX_TEST(hashes_sharing_a_home_slot_only_list_their_own_seqs),
        IX_TEST(removing_the_middle_of_a_probe_chain_keeps_the_entries_after_it),
        IX_TEST(growth_keeps_every_entry),
        IX_TEST(a_reserved_index_keeps_what_it_held_and_finds_everything_added_after),
        IX_TEST(churn_of_inserts_and_removes_never_loses_a_live_entry),
        IX_TEST(the_id_hash_is_deterministic_and_depends_on_bytes_and_seed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
