/*
 * test_codec.c - the byte layouts of LMDB values: little-endian integers,
 * length-prefixed byte strings with an encoded NULL, big-endian keys, and
 * the outbox row (round trips, NULL key/value, headers, and rejection of
 * truncated or malformed values without reading past them).
 *
 * Randomized tests print their seed; EOC_TEST_SEED=<n> replays one.
 */
#include "codec.h"

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

/* Copies the encoding into an exactly sized heap block, so that a read past
 * its end is a real out-of-bounds read (visible under valgrind/ASan). */
static unsigned char *exact_copy(const eoc__buf_t *b, size_t n)
{
    unsigned char *p = malloc(n ? n : 1);
    assert_non_null(p);
    if (n)
        memcpy(p, b->p, n);
    return p;
}

static void assert_bytes(const void *got, size_t got_len, const void *want, size_t want_len)
{
    if (!want) {
        assert_null(got);
        assert_int_equal(got_len, 0);
        return;
    }
    assert_non_null(got);
    assert_int_equal(got_len, want_len);
    if (want_len)
        assert_memory_equal(got, want, want_len);
}

static void assert_rows_equal(const eoc__outrow_t *got, const eoc__outrow_t *want)
{
    assert_int_equal(got->created_ms, want->created_ms);
    assert_int_equal(got->partition, want->partition);
    assert_bytes(got->id, got->id_len, want->id, want->id_len);
    assert_bytes(got->topic, got->topic_len, want->topic, want->topic_len);
    assert_bytes(got->key, got->key_len, want->key, want->key_len);
    assert_bytes(got->value, got->value_len, want->value, want->value_len);
    assert_int_equal(got->timestamp, want->timestamp);
    assert_int_equal(got->header_count, want->header_count);
    if (!want->header_count) {
        assert_null(got->headers);
        return;
    }
    for (size_t i = 0; i < want->header_count; i++) {
        assert_string_equal(got->headers[i].name, want->headers[i].name);
        assert_bytes(got->headers[i].value, got->headers[i].len, want->headers[i].value,
                     want->headers[i].len);
    }
}

/* ------------------------------------------------------------------ */
/* Primitives                                                          */
/* ------------------------------------------------------------------ */

static void integers_are_written_little_endian_and_read_back(void **state)
{
    (void)state;
    eoc__buf_t b = {0};
    eoc__buf_u32(&b, 0x01020304u);
    eoc__buf_u64(&b, 0x1122334455667788ull);
    assert_false(b.oom);
    assert_int_equal(b.len, 12);
    const unsigned char want[12] = {4, 3, 2, 1, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11};
    assert_memory_equal(b.p, want, 12);

    eoc__rd_t r;
    eoc__rd_init(&r, b.p, b.len);
    assert_int_equal(eoc__rd_u32(&r), 0x01020304u);
    assert_true(eoc__rd_u64(&r) == 0x1122334455667788ull);
    assert_false(r.bad);
    eoc__buf_free(&b);
}

static void reading_past_the_end_sets_bad_and_returns_zero(void **state)
{
    (void)state;
    const unsigned char three[3] = {1, 2, 3};
    eoc__rd_t r;
    eoc__rd_init(&r, three, sizeof(three));
    assert_int_equal(eoc__rd_u32(&r), 0);
    assert_true(r.bad);
    /* Sticky: a later read that would fit still fails. */
    eoc__rd_init(&r, three, 0);
    assert_true(eoc__rd_u64(&r) == 0);
    assert_true(r.bad);
    size_t n = 99;
    assert_null(eoc__rd_bytes(&r, &n));
    assert_int_equal(n, 0);
}

static void byte_strings_keep_null_apart_from_empty(void **state)
{
    (void)state;
    eoc__buf_t b = {0};
    eoc__buf_bytes(&b, NULL, 0);
    eoc__buf_bytes(&b, "", 0);
    eoc__buf_bytes(&b, "abc", 3);
    eoc__rd_t r;
    eoc__rd_init(&r, b.p, b.len);
    size_t n;
    assert_null(eoc__rd_bytes(&r, &n));
    assert_int_equal(n, 0);
    const void *empty = eoc__rd_bytes(&r, &n);
    assert_non_null(empty);
    assert_int_equal(n, 0);
    const void *abc = eoc__rd_bytes(&r, &n);
    assert_bytes(abc, n, "abc", 3);
    assert_false(r.bad);
    assert_true(r.p == r.end);
    eoc__buf_free(&b);
}

static void a_byte_string_longer_than_the_value_is_rejected(void **state)
{
    (void)state;
    eoc__buf_t b = {0};
    eoc__buf_uv(&b, 1001); /* claims 1000 bytes, has 2 */
    eoc__buf_put(&b, "xy", 2);
    eoc__rd_t r;
    eoc__rd_init(&r, b.p, b.len);
    size_t n = 7;
    assert_null(eoc__rd_bytes(&r, &n));
    assert_int_equal(n, 0);
    assert_true(r.bad);
    eoc__buf_free(&b);
}

static void varints_round_trip_at_every_length(void **state)
{
    (void)state;
    /* each boundary of the 7-bit groups, both sides, up to 64 bits */
    uint64_t v[2 * 10 + 1];
    size_t n = 0;
    v[n++] = 0;
    for (unsigned bits = 7; bits < 64; bits += 7) {
        v[n++] = (1ull << bits) - 1; /* the largest of (bits/7) bytes */
        v[n++] = 1ull << bits;       /* the smallest of one more */
    }
    v[n++] = UINT64_MAX;
    eoc__buf_t b = {0};
    for (size_t i = 0; i < n; i++) {
        eoc__buf_reset(&b);
        eoc__buf_uv(&b, v[i]);
        size_t want = 1;
        for (uint64_t x = v[i]; x >= 0x80; x >>= 7)
            want++;
        assert_int_equal(b.len, want);
        eoc__rd_t r;
        eoc__rd_init(&r, b.p, b.len);
        assert_true(eoc__rd_uv(&r) == v[i]);
        assert_false(r.bad);
        assert_true(r.p == r.end);
        /* every cut short of its end fails */
        for (size_t cut = 0; cut < b.len; cut++) {
            eoc__rd_init(&r, b.p, cut);
            assert_true(eoc__rd_uv(&r) == 0);
            assert_true(r.bad);
        }
    }
    eoc__buf_free(&b);
}

static void a_varint_longer_than_64_bits_is_rejected(void **state)
{
    (void)state;
    /* ten bytes whose last carries more than the 64th bit */
    unsigned char over[10];
    memset(over, 0xFF, 9);
    over[9] = 0x02;
    eoc__rd_t r;
    eoc__rd_init(&r, over, sizeof(over));
    assert_true(eoc__rd_uv(&r) == 0);
    assert_true(r.bad);
    /* an eleventh byte */
    unsigned char eleven[11];
    memset(eleven, 0x80, 10);
    eleven[10] = 0;
    eoc__rd_init(&r, eleven, sizeof(eleven));
    assert_true(eoc__rd_uv(&r) == 0);
    assert_true(r.bad);
    /* the same ten bytes ending in 1 are UINT64_MAX */
    over[9] = 0x01;
    eoc__rd_init(&r, over, sizeof(over));
    assert_true(eoc__rd_uv(&r) == UINT64_MAX);
    assert_false(r.bad);
}

static void big_endian_keys_sort_in_numeric_order(void **state)
{
    (void)state;
    const uint64_t v[] = {0, 1, 255, 256, 65535, 1ull << 32, (1ull << 56) + 3, UINT64_MAX};
    size_t n = sizeof(v) / sizeof(v[0]);
    for (size_t i = 0; i < n; i++) {
        unsigned char a[8], c[4];
        eoc__be64_put(a, v[i]);
        assert_true(eoc__be64_get(a) == v[i]);
        eoc__be32_put(c, (uint32_t)v[i]);
        assert_int_equal(eoc__be32_get(c), (uint32_t)v[i]);
        for (size_t j = 0; j < i; j++) {
            unsigned char b[8];
            eoc__be64_put(b, v[j]);
            assert_true(memcmp(b, a, 8) < 0);
        }
    }
    unsigned char k[4];
    eoc__be32_put(k, 0x0A0B0C0Du);
    assert_int_equal(k[0], 0x0A);
    assert_int_equal(k[3], 0x0D);
}

static void a_reset_buffer_is_reused_and_a_freed_one_is_empty(void **state)
{
    (void)state;
    eoc__buf_t b = {0};
    for (int i = 0; i < 1000; i++)
        eoc__buf_u64(&b, (uint64_t)i);
    assert_int_equal(b.len, 8000);
    unsigned char *p = b.p;
    eoc__buf_reset(&b);
    assert_int_equal(b.len, 0);
    eoc__buf_u32(&b, 7);
    assert_true(b.p == p);
    eoc__buf_free(&b);
    assert_null(b.p);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
}

/* ------------------------------------------------------------------ */
/* Outbox rows                                                         */
/* ------------------------------------------------------------------ */

static const eoc_header_t full_headers[] = {
    {"message-id", "in-1/0", 6}, {"", "empty name", 10},      {"null-value", NULL, 0},
    {"empty-value", "", 0},      {"binary", "\0\1\2\377", 4},
};

static eoc__outrow_t full_row(void)
{
    eoc__outrow_t row = {0};
    row.created_ms = 1700000000123;
    row.id = "in-1/0";
    row.id_len = 6;
    row.topic = "out";
    row.topic_len = 3;
    row.partition = -1;
    row.key = "k\0ey";
    row.key_len = 4;
    row.value = "{\"v\":1}";
    row.value_len = 7;
    row.headers = full_headers;
    row.header_count = sizeof(full_headers) / sizeof(full_headers[0]);
    return row;
}

static eoc__outrow_t bare_row(void)
{
    eoc__outrow_t row = {0};
    row.created_ms = 1;
    row.id = "x";
    row.id_len = 1;
    row.topic = "t";
    row.topic_len = 1;
    row.partition = 7;
    return row; /* NULL key, NULL value, no headers */
}

static void an_outbox_row_with_headers_survives_a_round_trip(void **state)
{
    (void)state;
    eoc__outrow_t row = full_row(), got;
    eoc__buf_t b = {0}, scratch = {0};
    eoc__outrow_encode(&b, &row);
    assert_false(b.oom);
    unsigned char *val = exact_copy(&b, b.len);
    assert_int_equal(eoc__outrow_decode(val, b.len, &got, &scratch), 0);
    assert_rows_equal(&got, &row);
    free(val);
    eoc__buf_free(&b);
    eoc__buf_free(&scratch);
}

static void a_timestamp_survives_a_round_trip_and_rows_without_one_are_unchanged(void **state)
{
    (void)state;
    eoc__outrow_t row = full_row(), got;
    eoc__buf_t without = {0}, with = {0}, scratch = {0};

    eoc__outrow_encode(&without, &row);
    row.timestamp = 1700000000999;
    eoc__outrow_encode(&with, &row);
    /* The timestamp is a trailer: a row without one is encoded as before
     * (schema 3), so rows written before it existed decode with 0. */
    assert_true(with.len > without.len);
    assert_memory_equal(with.p, without.p, without.len);
    assert_int_equal(eoc__outrow_decode(with.p, with.len, &got, &scratch), 0);
    assert_rows_equal(&got, &row);
    assert_int_equal(eoc__outrow_decode(without.p, without.len, &got, &scratch), 0);
    assert_int_equal(got.timestamp, 0);
    /* Anything after the trailer is malformed. */
    eoc__buf_put(&with, "\1", 1);
    assert_int_equal(eoc__outrow_decode(with.p, with.len, &got, &scratch), -1);
    eoc__buf_free(&without);
    eoc__buf_free(&with);
    eoc__buf_free(&scratch);
}

static void null_key_and_value_and_no_headers_decode_as_null(void **state)
{
    (void)state;
    eoc__outrow_t row = bare_row(), got;
    eoc__buf_t b = {0}, scratch = {0};
    eoc__outrow_encode(&b, &row);
    assert_int_equal(eoc__outrow_decode(b.p, b.len, &got, &scratch), 0);
    assert_null(got.key);
    assert_null(got.value);
    assert_null(got.headers);
    assert_rows_equal(&got, &row);
    eoc__buf_free(&b);
    eoc__buf_free(&scratch);
}

static void an_empty_key_and_value_stay_empty_rather_than_null(void **state)
{
    (void)state;
    eoc__outrow_t row = bare_row(), got;
    row.key = "";
    row.value = "";
    eoc__buf_t b = {0}, scratch = {0};
    eoc__outrow_encode(&b, &row);
    assert_int_equal(eoc__outrow_decode(b.p, b.len, &got, &scratch), 0);
    assert_non_null(got.key);
    assert_non_null(got.value);
    assert_int_equal(got.key_len, 0);
    assert_int_equal(got.value_len, 0);
    eoc__buf_free(&b);
    eoc__buf_free(&scratch);
}

static void decoding_reuses_the_scratch_buffer_for_the_next_row(void **state)
{
    (void)state;
    eoc__outrow_t a = full_row(), c = bare_row(), got;
    eoc_header_t one = {"only", "1", 1};
    c.headers = &one;
    c.header_count = 1;
    eoc__buf_t ba = {0}, bc = {0}, scratch = {0};
    eoc__outrow_encode(&ba, &a);
    eoc__outrow_encode(&bc, &c);
    assert_int_equal(eoc__outrow_decode(ba.p, ba.len, &got, &scratch), 0);
    assert_rows_equal(&got, &a);
    assert_int_equal(eoc__outrow_decode(bc.p, bc.len, &got, &scratch), 0);
    assert_rows_equal(&got, &c);
    assert_int_equal(eoc__outrow_decode(ba.p, ba.len, &got, &scratch), 0);
    assert_rows_equal(&got, &a);
    eoc__buf_free(&ba);
    eoc__buf_free(&bc);
    eoc__buf_free(&scratch);
}

/* Every proper prefix of `row`'s encoding must fail to decode. */
static void every_prefix_fails(const eoc__outrow_t *row)
{
    eoc__buf_t b = {0}, scratch = {0};
    eoc__outrow_encode(&b, row);
    assert_false(b.oom);
    for (size_t n = 0; n < b.len; n++) {
        unsigned char *val = exact_copy(&b, n);
        eoc__outrow_t got;
        if (eoc__outrow_decode(val, n, &got, &scratch) != -1)
            fail_msg("a %zu-byte prefix of a %zu-byte row decoded", n, b.len);
        free(val);
    }
    eoc__buf_free(&b);
    eoc__buf_free(&scratch);
}

static void a_source_header_parses_back_and_a_malformed_one_is_refused(void **state)
{
    (void)state;
    char topic[16];
    int32_t p = 7;
    int64_t o = 7;
#define PARSE(s) eoc_source_parse(s, strlen(s), topic, sizeof(topic), &p, &o)
    assert_int_equal(PARSE("in.v2_x-y/2147483647/9223372036854775807"), 0);
    assert_string_equal(topic, "in.v2_x-y");
    assert_int_equal(p, INT32_MAX);
    assert_true(o == INT64_MAX);
    assert_int_equal(PARSE("t/0/0"), 0);
    assert_string_equal(topic, "t");
    assert_int_equal(p, 0);
    assert_true(o == 0);
    /* Not NUL-terminated: only `len` bytes count. */
    assert_int_equal(eoc_source_parse("t/1/23trailing", 6, topic, sizeof(topic), &p, &o), 0);
    assert_true(p == 1 && o == 23);
    const char *bad[] = {"",          "t",          "t/1",          "/1/2",       "t//2",
                         "t/1/",      "t/-1/2",     "t/1/-2",       "t/1/2x",     "t/ 1/2",
                         "t/2147483648/0",          "t/0/9223372036854775808",
                         "t/0/00000000000000000001", "topic-of-16-byte/0/0"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (PARSE(bad[i]) != -1)
            fail_msg("\"%s\" parsed", bad[i]);
    assert_int_equal(eoc_source_parse(NULL, 0, topic, sizeof(topic), &p, &o), -1);
#undef PARSE
}

static void every_truncation_of_a_row_is_rejected_without_reading_past_it(void **state)
{
    (void)state;
    eoc__outrow_t full = full_row(), bare = bare_row(), long_value = bare_row();
    every_prefix_fails(&full);
    every_prefix_fails(&bare);
    static char big[3000];
    memset(big, 'v', sizeof(big));
    long_value.value = big;
    long_value.value_len = sizeof(big);
    every_prefix_fails(&long_value);
}

static void provenance_comes_back_as_one_last_header_and_in_the_row(void **state)
{
    (void)state;
    eoc__outrow_t row = full_row(), got;
    row.src_topic = "orders";
    row.src_topic_len = 6;
    row.src_partition = 12;
    row.src_offset = 9007199254740993; /* beyond a double's exact range */
    eoc__buf_t b = {0}, scratch = {0}, plain = {0};
    eoc__outrow_encode(&b, &row);
    assert_int_equal(eoc__outrow_decode(b.p, b.len, &got, &scratch), 0);
    size_t own = row.header_count;
    assert_int_equal(got.header_count, own + 1);
    for (size_t i = 0; i < own; i++) /* the row's own headers first, in order */
        assert_string_equal(got.headers[i].name, full_headers[i].name);
    const char *want = "orders/12/9007199254740993";
    assert_string_equal(got.headers[own].name, EOC_HEADER_SOURCE);
    assert_int_equal(got.headers[own].len, strlen(want));
    assert_memory_equal(got.headers[own].value, want, strlen(want));
    assert_int_equal(got.src_topic_len, 6);
    assert_memory_equal(got.src_topic, "orders", 6);
    assert_int_equal(got.src_partition, 12);
    assert_true(got.src_offset == 9007199254740993);
    /* Provenance costs fewer bytes than the header it stands for. */
    eoc__outrow_t as_headers = full_row();
    eoc_header_t hs[8];
    memcpy(hs, full_headers, sizeof(full_headers));
    hs[own] = got.headers[own];
    as_headers.headers = hs;
    as_headers.header_count = own + 1;
    eoc__outrow_encode(&plain, &as_headers);
    assert_true(b.len + 10 < plain.len);
    every_prefix_fails(&row);
    eoc__buf_free(&b);
    eoc__buf_free(&plain);
    eoc__buf_free(&scratch);
}

static void a_row_without_id_or_topic_is_rejected(void **state)
{
    (void)state;
    eoc__outrow_t row = bare_row(), got;
    eoc__buf_t b = {0}, scratch = {0};
    row.id = NULL;
    row.id_len = 0;
    eoc__outrow_encode(&b, &row);
    assert_int_equal(eoc__outrow_decode(b.p, b.len, &got, &scratch), -1);

    row = bare_row();
    row.topic = NULL;
    row.topic_len = 0;
    eoc__buf_reset(&b);
    eoc__outrow_encode(&b, &row);
    assert_int_equal(eoc__outrow_decode(b.p, b.len, &got, &scratch), -1);
    eoc__buf_free(&b);
    eoc__buf_free(&scratch);
}

/* A row without headers and provenance ends in its header count (varint
 * 0), then the provenance: an encoded NULL topic (0), partition 0 (stored
 * plus one: 1) and offset 0 (0), a byte each. Cuts `b` back to just before
 * the header count. */
static void cut_to_header_count(eoc__buf_t *b)
{
    static const unsigned char tail[4] = {0, 0, 1, 0};
    assert_true(b->len >= 4);
    assert_memory_equal(b->p + b->len - 4, tail, 4);
    b->len -= 4;
}

static void put_no_provenance(eoc__buf_t *b)
{
    eoc__buf_bytes(b, NULL, 0);
    eoc__buf_uv(b, 1);
    eoc__buf_uv(b, 0);
}

static void a_header_count_larger_than_the_value_is_rejected(void **state)
{
    (void)state;
    eoc__outrow_t row = bare_row(), got;
    eoc__buf_t b = {0}, scratch = {0};
    eoc__outrow_encode(&b, &row);
    cut_to_header_count(&b);
    eoc__buf_uv(&b, 0xFFFFFFF0u);
    put_no_provenance(&b);
    assert_int_equal(eoc__outrow_decode(b.p, b.len, &got, &scratch), -1);
    eoc__buf_reset(&b);
    eoc__outrow_encode(&b, &row);
    cut_to_header_count(&b);
    eoc__buf_uv(&b, 2); /* two headers announced, one present */
    eoc__buf_bytes(&b, "h", 1);
    eoc__buf_bytes(&b, "v", 1);
    put_no_provenance(&b);
    assert_int_equal(eoc__outrow_decode(b.p, b.len, &got, &scratch), -1);
    /* the same row with the count right decodes: the cut is where we think */
    eoc__buf_reset(&b);
    eoc__outrow_encode(&b, &row);
    cut_to_header_count(&b);
    eoc__buf_uv(&b, 1);
    eoc__buf_bytes(&b, "h", 1);
    eoc__buf_bytes(&b, "v", 1);
    put_no_provenance(&b);
    assert_int_equal(eoc__outrow_decode(b.p, b.len, &got, &scratch), 0);
    assert_int_equal(got.header_count, 1);
    eoc__buf_free(&b);
    eoc__buf_free(&scratch);
}

static void a_header_with_a_null_name_is_rejected(void **state)
{
    (void)state;
    eoc__outrow_t row = bare_row(), got;
    eoc__buf_t b = {0}, scratch = {0};
    eoc__outrow_encode(&b, &row);
    cut_to_header_count(&b);
    eoc__buf_uv(&b, 2);
    eoc__buf_bytes(&b, "ok", 2);
    eoc__buf_bytes(&b, "v", 1);
    eoc__buf_bytes(&b, NULL, 0); /* second header: NULL name */
    eoc__buf_bytes(&b, "v", 1);
    put_no_provenance(&b);
    assert_int_equal(eoc__outrow_decode(b.p, b.len, &got, &scratch), -1);
    eoc__buf_free(&b);
    eoc__buf_free(&scratch);
}

/* Checks that a successfully decoded row only points inside [p, p+n) or
 * into the scratch buffer. */
static void assert_inside(const void *x, size_t len, const unsigned char *p, size_t n)
{
    if (!x)
        return;
    const unsigned char *c = x;
    assert_true(c >= p && c + len <= p + n);
}

static void randomly_corrupted_rows_decode_or_fail_but_never_read_outside(void **state)
{
    (void)state;
    test_seed("randomly_corrupted_rows");
    eoc__outrow_t row = full_row(), got;
    eoc__buf_t b = {0}, scratch = {0};
    eoc__outrow_encode(&b, &row);
    size_t len = b.len;
    int decoded = 0;
    for (int round = 0; round < 20000; round++) {
        unsigned char *val = exact_copy(&b, len);
        int flips = 1 + rand() % 4;
        for (int f = 0; f < flips; f++)
            val[(size_t)rand() % len] = (unsigned char)rand();
        size_t n = len - (size_t)(rand() % 3 == 0 ? rand() % (int)len : 0);
        if (eoc__outrow_decode(val, n, &got, &scratch) == 0) {
            decoded++;
            assert_inside(got.id, got.id_len, val, n);
            assert_inside(got.topic, got.topic_len, val, n);
            assert_inside(got.key, got.key_len, val, n);
            assert_inside(got.value, got.value_len, val, n);
            for (size_t i = 0; i < got.header_count; i++) {
                assert_non_null(got.headers[i].name);
                (void)strlen(got.headers[i].name);
                /* provenance numbers are written into the scratch */
                const unsigned char *hv = got.headers[i].value;
                if (hv >= scratch.p && hv < scratch.p + scratch.len)
                    assert_inside(hv, got.headers[i].len, scratch.p, scratch.len);
                else
                    assert_inside(hv, got.headers[i].len, val, n);
            }
        }
        free(val);
    }
    printf("# %d of 20000 corrupted rows still decoded\n", decoded);
    eoc__buf_free(&b);
    eoc__buf_free(&scratch);
}

/* An outbox segment gives its rows back with their seqs, and every
 * truncation of it fails instead of reading past it. */
static void an_outbox_segment_round_trips_and_every_truncation_is_rejected(void **state)
{
    (void)state;
    eoc__buf_t b = {0};
    const char *rows[] = {"first", "", "third row"};
    const uint64_t seqs[] = {100, 101, 140};
    eoc__outseg_begin(&b);
    for (int i = 0; i < 3; i++)
        eoc__outseg_add(&b, seqs[i] - 100, rows[i], strlen(rows[i]));
    eoc__outseg_finish(&b, 3, 140);
    assert_false(b.oom);

    eoc__outseg_rd_t it;
    uint32_t count;
    uint64_t last, seq;
    const void *v;
    size_t len;
    assert_int_equal(eoc__outseg_open(&it, 100, b.p, b.len, &count, &last), 0);
    assert_int_equal(count, 3);
    assert_true(last == 140);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(eoc__outseg_next(&it, &seq, &v, &len), 1);
        assert_true(seq == seqs[i]);
        assert_int_equal(len, strlen(rows[i]));
        assert_memory_equal(v, rows[i], len);
    }
    assert_int_equal(eoc__outseg_next(&it, &seq, &v, &len), 0);

    /* Cut short anywhere: the header fails, or a row, or the end does. */
    for (size_t cut = 0; cut < b.len; cut++) {
        int n = eoc__outseg_open(&it, 100, b.p, cut, NULL, NULL);
        while (n == 0 && (n = eoc__outseg_next(&it, &seq, &v, &len)) == 1)
            n = 0;
        assert_int_equal(n, -1);
    }
    /* Trailing bytes after the last row, or a last seq below the key. */
    eoc__buf_u32(&b, 7);
    assert_int_equal(eoc__outseg_open(&it, 100, b.p, b.len, NULL, NULL), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(eoc__outseg_next(&it, &seq, &v, &len), 1);
    assert_int_equal(eoc__outseg_next(&it, &seq, &v, &len), -1);
    assert_int_equal(eoc__outseg_open(&it, 141, b.p, b.len, NULL, NULL), -1);
    eoc__buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(integers_are_written_little_endian_and_read_back),
        cmocka_unit_test(reading_past_the_end_sets_bad_and_returns_zero),
        cmocka_unit_test(byte_strings_keep_null_apart_from_empty),
        cmocka_unit_test(a_byte_string_longer_than_the_value_is_rejected),
        cmocka_unit_test(varints_round_trip_at_every_length),
        cmocka_unit_test(a_varint_longer_than_64_bits_is_rejected),
        cmocka_unit_test(big_endian_keys_sort_in_numeric_order),
        cmocka_unit_test(a_reset_buffer_is_reused_and_a_freed_one_is_empty),
        cmocka_unit_test(an_outbox_row_with_headers_survives_a_round_trip),
        cmocka_unit_test(null_key_and_value_and_no_headers_decode_as_null),
        cmocka_unit_test(an_empty_key_and_value_stay_empty_rather_than_null),
        cmocka_unit_test(decoding_reuses_the_scratch_buffer_for_the_next_row),
        cmocka_unit_test(every_truncation_of_a_row_is_rejected_without_reading_past_it),
        cmocka_unit_test(provenance_comes_back_as_one_last_header_and_in_the_row),
        cmocka_unit_test(a_source_header_parses_back_and_a_malformed_one_is_refused),
        cmocka_unit_test(a_row_without_id_or_topic_is_rejected),
        cmocka_unit_test(a_timestamp_survives_a_round_trip_and_rows_without_one_are_unchanged),
        cmocka_unit_test(a_header_count_larger_than_the_value_is_rejected),
        cmocka_unit_test(a_header_with_a_null_name_is_rejected),
        cmocka_unit_test(randomly_corrupted_rows_decode_or_fail_but_never_read_outside),
        cmocka_unit_test(an_outbox_segment_round_trips_and_every_truncation_is_rejected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
