/* Unit tests of message ID extraction (msgid.c), json:FIELD above all:
 * exact numbers, strings with their length, and the reason of a refusal. */
#include "msgid.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

/* Extracts with `spec` from a value; returns the status, the ID in out. */
static eoc__id_status_t extract(const char *spec, const void *value, size_t len, char *out,
                                size_t *out_len)
{
    eoc__msgid_t st;
    char err[256], buf[EOC_ID_MAX + 1];
    assert_int_equal(eoc__msgid_parse(&st, spec, err, sizeof(err)), EOC_OK);
    rd_kafka_message_t m;
    memset(&m, 0, sizeof(m));
    m.payload = (void *)value;
    m.len = len;
    const char *id = NULL;
    *out_len = 0;
    eoc__id_status_t s = eoc__msgid_extract(&st, &m, buf, &id, out_len);
    if (s == EOC__ID_FOUND)
        memcpy(out, id, *out_len);
    eoc__msgid_clear(&st);
    return s;
}

#define JSON(s) s, sizeof(s) - 1

static void assert_id(const char *value, size_t len, const void *want, size_t want_len)
{
    char id[EOC_ID_MAX + 1];
    size_t n;
    assert_int_equal(extract("json:id", value, len, id, &n), EOC__ID_FOUND);
    assert_int_equal(n, want_len);
    assert_memory_equal(id, want, want_len);
}

static void assert_status(const char *value, size_t len, eoc__id_status_t want)
{
    char id[EOC_ID_MAX + 1];
    size_t n;
    assert_int_equal(extract("json:id", value, len, id, &n), want);
}

static void test_large_integers_are_exact(void **state)
{
    (void)state;
    assert_id(JSON("{\"id\": 1234567890123456789}"), JSON("1234567890123456789"));
    assert_id(JSON("{\"id\": 1234567890123456790}"), JSON("1234567890123456790"));
    /* beyond int64 and beyond a double's range of exact integers: still exact */
    assert_id(JSON("{\"id\": 123456789012345678901234567890}"),
              JSON("123456789012345678901234567890"));
    assert_id(JSON("{\"id\": -42}"), JSON("-42"));
    assert_id(JSON("{\"id\": 0}"), JSON("0"));
}

static void test_integer_and_its_string_are_one_id_other_numbers_are_refused(void **state)
{
    (void)state;
    assert_id(JSON("{\"id\": 100}"), JSON("100"));
    assert_id(JSON("{\"id\": \"100\"}"), JSON("100"));
    assert_status(JSON("{\"id\": 1e2}"), EOC__ID_NOT_INTEGER);
    assert_status(JSON("{\"id\": 100.0}"), EOC__ID_NOT_INTEGER);
    assert_status(JSON("{\"id\": 1.5}"), EOC__ID_NOT_INTEGER);
    assert_status(JSON("{\"id\": -0}"), EOC__ID_NOT_INTEGER);
    assert_non_null(strstr(eoc__msgid_status_text(EOC__ID_NOT_INTEGER), "integer"));
}

static void test_strings_keep_their_length(void **state)
{
    (void)state;
    assert_id(JSON("{\"id\": \"t3\\u0000a\"}"), "t3\0a", 4);
    assert_id(JSON("{\"id\": \"t3\\u0000b\"}"), "t3\0b", 4);
    assert_id(JSON("{\"id\": \"a\\\"b\\\\c\\u00e9\\ud83d\\ude00\"}"),
              JSON("a\"b\\c\xc3\xa9\xf0\x9f\x98\x80"));
    /* a name is compared decoded and whole */
    assert_id(JSON("{\"i\\u0064\": \"x\"}"), JSON("x"));
    assert_status(JSON("{\"id\\u0000z\": \"x\"}"), EOC__ID_MISSING);
    /* the first of two members of the same name, as before */
    assert_id(JSON("{\"id\": \"first\", \"id\": \"second\"}"), JSON("first"));
}

static void test_nested_paths(void **state)
{
    (void)state;
    char id[EOC_ID_MAX + 1];
    size_t n;
    const char v[] = "{\"a\": [1, {\"b\": 2}], \"m\": {\"x\": \"{\\\"\", \"id\": 7}}";
    assert_int_equal(extract("json:m.id", v, sizeof(v) - 1, id, &n), EOC__ID_FOUND);
    assert_int_equal(n, 1);
    assert_memory_equal(id, "7", 1);
    assert_int_equal(extract("json:a.b", v, sizeof(v) - 1, id, &n), EOC__ID_MISSING);
    assert_int_equal(extract("json:m.nope", v, sizeof(v) - 1, id, &n), EOC__ID_MISSING);
}

static void test_lengths_are_checked_after_decoding(void **state)
{
    (void)state;
    char v[2 * EOC_ID_MAX + 32], id[EOC_ID_MAX + 1];
    size_t n;
    /* 511 bytes written as 1022 escape characters: fits once decoded */
    int len = snprintf(v, sizeof(v), "{\"id\": \"");
    for (int i = 0; i < EOC_ID_MAX; i++)
        len += snprintf(v + len, sizeof(v) - (size_t)len, "\\n");
    len += snprintf(v + len, sizeof(v) - (size_t)len, "\"}");
    assert_int_equal(extract("json:id", v, (size_t)len, id, &n), EOC__ID_FOUND);
    assert_int_equal(n, EOC_ID_MAX);
    len = snprintf(v, sizeof(v), "{\"id\": \"%0*d\"}", EOC_ID_MAX + 1, 0);
    assert_int_equal(extract("json:id", v, (size_t)len, id, &n), EOC__ID_TOO_LONG);
    len = snprintf(v, sizeof(v), "{\"id\": 1%0*d}", EOC_ID_MAX, 0);
    assert_int_equal(extract("json:id", v, (size_t)len, id, &n), EOC__ID_TOO_LONG);
    assert_status(JSON("{\"id\": \"\"}"), EOC__ID_INVALID);
}

static void test_refusals_say_what_is_wrong(void **state)
{
    (void)state;
    assert_status(JSON("not json at all"), EOC__ID_NOT_JSON);
    assert_non_null(strstr(eoc__msgid_status_text(EOC__ID_NOT_JSON), "not JSON"));
    assert_status(JSON("[1, 2]"), EOC__ID_NOT_OBJECT);
    assert_status(JSON("{\"id\": null}"), EOC__ID_BAD_TYPE);
    assert_status(JSON("{\"id\": [1]}"), EOC__ID_BAD_TYPE);
    assert_status(JSON("{\"x\": 1}"), EOC__ID_MISSING);
    for (int s = EOC__ID_MISSING; s <= EOC__ID_BAD_TYPE; s++)
        assert_non_null(eoc__msgid_status_text((eoc__id_status_t)s));
}

static void test_derived_ids_stay_within_the_limit(void **state)
{
    (void)state;
    char a[EOC_ID_MAX + 1], b[EOC_ID_MAX + 1], base[EOC_ID_MAX + 1];
    size_t n;
    /* plain while it fits */
    assert_int_equal(eoc__id_derive(a, "t3", 2, "0", 1), 4);
    assert_memory_equal(a, "t3/0", 4);
    memset(base, 'x', sizeof(base));
    n = eoc__id_derive(a, base, EOC_ID_MAX - 2, "0", 1);
    assert_int_equal(n, EOC_ID_MAX);
    assert_memory_equal(a + EOC_ID_MAX - 2, "/0", 2);
    /* past it: bounded, deterministic, apart when only the last byte differs */
    for (size_t len = EOC_ID_MAX - 1; len <= EOC_ID_MAX; len++) {
        n = eoc__id_derive(a, base, len, "dlq", 3);
        assert_true(n <= EOC_ID_MAX);
        assert_memory_equal(a + n - 4, "/dlq", 4);
        assert_int_equal(a[n - 4 - 33], '~');
        assert_int_equal(eoc__id_derive(b, base, len, "dlq", 3), n);
        assert_memory_equal(a, b, n);
        base[len - 1] = 'y';
        assert_int_equal(eoc__id_derive(b, base, len, "dlq", 3), n);
        assert_memory_not_equal(a, b, n);
        base[len - 1] = 'x';
    }
    /* a chain of hops stays at the limit */
    memcpy(a, base, EOC_ID_MAX);
    n = EOC_ID_MAX;
    for (int hop = 0; hop < 10; hop++) {
        n = eoc__id_derive(b, a, n, "12345678901234567890", 20);
        assert_true(n <= EOC_ID_MAX);
        memcpy(a, b, n);
    }
    /* the head is not cut inside a UTF-8 sequence */
    for (size_t i = 0; i + 1 < EOC_ID_MAX; i += 2)
        memcpy(base + i, "\xc3\xa9", 2);
    n = eoc__id_derive(a, base, EOC_ID_MAX, "0", 1);
    assert_int_equal(a[n - 2 - 33] & 0xff, '~');
    assert_int_equal((n - 2 - 33) % 2, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_large_integers_are_exact),
        cmocka_unit_test(test_integer_and_its_string_are_one_id_other_numbers_are_refused),
        cmocka_unit_test(test_strings_keep_their_length),
        cmocka_unit_test(test_nested_paths),
        cmocka_unit_test(test_lengths_are_checked_after_decoding),
        cmocka_unit_test(test_refusals_say_what_is_wrong),
        cmocka_unit_test(test_derived_ids_stay_within_the_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
