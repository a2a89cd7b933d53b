/* Unit tests of lib/util: the strict number parser every command line
 * uses, and the JSON text helpers (UTF-8, quoting, members). */
#include "jsontext.h"
#include "log.h"
#include "numparse.h"

#include <stdlib.h>

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

static void test_integers_are_whole_decimal_texts(void **state)
{
    (void)state;
    int64_t v = 7;
    assert_int_equal(eoc__num_i64("12", 0, 100, &v), 0);
    assert_int_equal(v, 12);
    assert_int_equal(eoc__num_i64("-1", -1, 100, &v), 0);
    assert_int_equal(v, -1);
    assert_int_equal(eoc__num_i64("9223372036854775807", INT64_MIN, INT64_MAX, &v), 0);
    assert_true(v == INT64_MAX);
    assert_int_equal(eoc__num_i64("-9223372036854775808", INT64_MIN, INT64_MAX, &v), 0);
    assert_true(v == INT64_MIN);
    v = 7;
    const char *bad[] = {"", "abc", "12abc", "0x1", "foo", " 1", "1 ", "+1", "-", "1.0", "1e3",
                         "--1", NULL};
    for (int i = 0; bad[i]; i++)
        assert_int_equal(eoc__num_i64(bad[i], INT64_MIN, INT64_MAX, &v), EINVAL);
    assert_int_equal(v, 7); /* untouched on failure */
    assert_int_equal(eoc__num_i64(NULL, 0, 1, &v), EINVAL);
    assert_int_equal(eoc__num_i64("-1", 0, 100, &v), ERANGE);
    assert_int_equal(eoc__num_i64("101", 0, 100, &v), ERANGE);
    assert_int_equal(eoc__num_i64("9223372036854775808", INT64_MIN, INT64_MAX, &v), ERANGE);
    assert_int_equal(eoc__num_i64("99999999999999999999999", INT64_MIN, INT64_MAX, &v), ERANGE);
}

static void test_durations(void **state)
{
    (void)state;
    int64_t v;
    assert_int_equal(eoc__num_duration_ms("1h30m", INT64_MAX, &v), 0);
    assert_int_equal(v, 5400000);
    assert_int_equal(eoc__num_duration_ms("500ms", INT64_MAX, &v), 0);
    assert_int_equal(v, 500);
    assert_int_equal(eoc__num_duration_ms("2d1s", INT64_MAX, &v), 0);
    assert_int_equal(v, 2 * 86400000 + 1000);
    const char *bad[] = {"", "1", "h", "1x", "-1h", "1h-", " 1h", "1.5h", "0x1h", NULL};
    for (int i = 0; bad[i]; i++)
        assert_int_equal(eoc__num_duration_ms(bad[i], INT64_MAX, &v), EINVAL);
    assert_int_equal(eoc__num_duration_ms("99999999999999999d", INT64_MAX, &v), ERANGE);
    assert_int_equal(eoc__num_duration_ms("99999999999999999999ms", INT64_MAX, &v), ERANGE);
    assert_int_equal(eoc__num_duration_ms("11d", 10 * 86400000LL, &v), ERANGE);
}

static void test_flag_errors_name_the_flag(void **state)
{
    (void)state;
    char buf[512] = {0};
    int64_t v;
    FILE *saved = stderr, *f = fmemopen(buf, sizeof(buf) - 1, "w");
    assert_non_null(f);
    stderr = f;
    int rc1 = eoc__num_flag_i64("eoc replay", "--to-offset", "abc", 0, INT64_MAX, &v);
    int rc2 = eoc__num_flag_i64("eoc replay", "--partition", "-1", 0, INT32_MAX, &v);
    int rc3 = eoc__num_flag_duration_ms("eoc replay", "--by-duration", "1y", INT64_MAX, &v);
    stderr = saved;
    fclose(f);
    assert_int_equal(rc1, -1);
    assert_int_equal(rc2, -1);
    assert_int_equal(rc3, -1);
    assert_non_null(strstr(buf, "eoc replay: --to-offset: 'abc' is not a decimal integer"));
    assert_non_null(strstr(buf, "eoc replay: --partition: -1 is outside 0..2147483647"));
    assert_non_null(strstr(buf, "eoc replay: --by-duration: '1y' is not a duration"));
}

static void test_utf8(void **state)
{
    (void)state;
    assert_true(eoc__utf8_valid("", 0));
    assert_true(eoc__utf8_valid("plain", 5));
    assert_true(eoc__utf8_valid("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9));
    assert_true(eoc__utf8_valid("a\0b", 3));
    assert_false(eoc__utf8_valid("\xff", 1));
    assert_false(eoc__utf8_valid("\xc3", 1));           /* cut short */
    assert_false(eoc__utf8_valid("\xc0\xaf", 2));       /* overlong */
    assert_false(eoc__utf8_valid("\xed\xa0\x80", 3));   /* surrogate */
    assert_false(eoc__utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
    assert_false(eoc__utf8_valid("\xe2\x28\xa1", 3));
}

static void test_quote_round_trips(void **state)
{
    (void)state;
    const char s[] = "a\"b\\c\n\t\x01\0z\xc3\xa9/";
    char out[EOC__JSON_QUOTED_MAX(sizeof(s) - 1)], back[64];
    size_t n = eoc__json_quote(out, s, sizeof(s) - 1);
    assert_string_equal(out, "\"a\\\"b\\\\c\\n\\t\\u0001\\u0000z\xc3\xa9/\"");
    assert_int_equal(n, strlen(out));
    eoc__json_val_t v;
    assert_int_equal(eoc__json_value(out, n, &v), 0);
    assert_int_equal(v.type, EOC__JSON_STRING);
    size_t m;
    assert_int_equal(eoc__json_string(&v, back, sizeof(back), &m), 0);
    assert_int_equal(m, sizeof(s) - 1);
    assert_memory_equal(back, s, m);
    assert_int_equal(eoc__json_string(&v, back, 3, &m), -2);
}

static void test_members(void **state)
{
    (void)state;
    const char doc[] = "\xEF\xBB\xBF { \"a\" : 1 , \"b\":\"x\",\"a\":[2,{\"a\":3}] } trailing";
    eoc__json_val_t root, v;
    int count;
    assert_int_equal(eoc__json_value(doc, sizeof(doc) - 1, &root), 0);
    assert_int_equal(root.type, EOC__JSON_OBJECT);
    assert_int_equal(eoc__json_member(&root, "a", 1, &v, &count), 1);
    assert_int_equal(count, 2);
    assert_int_equal(v.type, EOC__JSON_NUMBER);
    assert_int_equal(v.len, 1);
    assert_int_equal(eoc__json_member(&root, "c", 1, &v, &count), 0);
    assert_int_equal(eoc__json_value("{\"a\":", 5, &root), -1);
    assert_int_equal(eoc__json_value("\"abc", 4, &root), -1);
    root = (eoc__json_val_t){EOC__JSON_OBJECT, "{\"a\" 1}", 7};
    assert_int_equal(eoc__json_member(&root, "a", 1, &v, &count), -1);
}

static void test_invalid_utf8_is_escaped_for_json_text(void **state)
{
    (void)state;
    assert_null(eoc__utf8_escape_invalid("caf\xc3\xa9", 5)); /* valid: as is */
    char *e = eoc__utf8_escape_invalid("id=bad\xff\xc3(\xc3\xa9", 11);
    assert_string_equal(e, "id=bad\\xff\\xc3(\xc3\xa9");
    free(e);
}

static void test_json_log_lines_stay_utf8(void **state)
{
    (void)state;
    char buf[1024] = {0};
    eoc_log_t lg = {.level = EOC_LOG_DEBUG, .json = 1, .name = "worker"};
    FILE *saved = stderr, *f = fmemopen(buf, sizeof(buf) - 1, "w");
    assert_non_null(f);
    stderr = f;
    eoc__log(&lg, EOC_LOG_WARNING, "dead letter id=%s: invalid_id", "bad\xffid");
    stderr = saved;
    fclose(f);
    assert_true(eoc__utf8_valid(buf, strlen(buf)));
    assert_non_null(strstr(buf, "id=bad\\\\xffid")); /* \xff, JSON-escaped */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_integers_are_whole_decimal_texts),
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_flag_errors_name_the_flag),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_quote_round_trips),
        cmocka_unit_test(test_members),
        cmocka_unit_test(test_invalid_utf8_is_escaped_for_json_text),
        cmocka_unit_test(test_json_log_lines_stay_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
