/*
 * test_log - structured log fields (eoc__log_kv): separate members of a
 * log.format=json line, ` key=value` after the message in text and for a
 * log callback.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "conf.h"
#include "log.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Runs `fn` with stderr going to a temporary file; returns what it wrote. */
static char *capture_stderr(void (*fn)(const eoc_log_t *), const eoc_log_t *lg)
{
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    fflush(stderr);
    int saved = dup(2);
    assert_true(saved >= 0);
    assert_true(dup2(fileno(tmp), 2) >= 0);
    fn(lg);
    fflush(stderr);
    assert_true(dup2(saved, 2) >= 0);
    close(saved);
    long n = ftell(tmp);
    assert_true(n > 0);
    char *text = calloc(1, (size_t)n + 1);
    rewind(tmp);
    assert_int_equal(fread(text, 1, (size_t)n, tmp), (size_t)n);
    fclose(tmp);
    return text;
}

static void log_a_dead_letter(const eoc_log_t *lg)
{
    eoc__kv_t kv[] = {EOC__KV_S("topic", "transfers"), EOC__KV_I("partition", 3),
                      EOC__KV_I("offset", 1234567890123LL), EOC__KV_SN("message_id", "m-1xyz", 3),
                      EOC__KV_S("reason", "handler_error"),
                      EOC__KV_S("error", "no such \"account\"")};
    eoc__log_kv(lg, EOC_LOG_WARNING, kv, 6, "dead letter");
}

static void json_lines_carry_the_fields_as_members(void **state)
{
    (void)state;
    eoc_conf_t *c = eoc_conf_new();
    char err[128];
    assert_int_equal(eoc_conf_set(c, "log.format", "json", err, sizeof(err)), EOC_OK);
    eoc__settings_t st;
    eoc__settings_read(c, &st);
    eoc_log_t lg;
    eoc__log_init(&lg, &st, "worker");
    char *text = capture_stderr(log_a_dead_letter, &lg);
    cJSON *o = cJSON_Parse(text);
    assert_non_null(o);
    assert_string_equal(cJSON_GetObjectItem(o, "msg")->valuestring, "dead letter");
    assert_string_equal(cJSON_GetObjectItem(o, "level")->valuestring, "warning");
    assert_string_equal(cJSON_GetObjectItem(o, "topic")->valuestring, "transfers");
    assert_true(cJSON_IsNumber(cJSON_GetObjectItem(o, "partition")));
    assert_int_equal(cJSON_GetObjectItem(o, "partition")->valuedouble, 3);
    assert_true(cJSON_GetObjectItem(o, "offset")->valuedouble == 1234567890123.0);
    assert_string_equal(cJSON_GetObjectItem(o, "message_id")->valuestring, "m-1");
    assert_string_equal(cJSON_GetObjectItem(o, "reason")->valuestring, "handler_error");
    assert_string_equal(cJSON_GetObjectItem(o, "error")->valuestring, "no such \"account\"");
    cJSON_Delete(o);
    free(text);
    eoc_conf_destroy(c);
}

static void text_lines_carry_the_fields_as_key_value(void **state)
{
    (void)state;
    eoc_log_t lg;
    eoc__log_init(&lg, NULL, "worker");
    char *text = capture_stderr(log_a_dead_letter, &lg);
    assert_non_null(strstr(text, " WARNING dead letter topic=transfers partition=3 "
                                 "offset=1234567890123 message_id=m-1 reason=handler_error "
                                 "error=\"no such \\\"account\\\"\"\n"));
    free(text);
}

static char cb_line[512];

static void on_line(void *opaque, int level, const char *line)
{
    (void)opaque;
    (void)level;
    snprintf(cb_line, sizeof(cb_line), "%s", line);
}

static void a_callback_gets_the_fields_as_key_value(void **state)
{
    (void)state;
    eoc_conf_t *c = eoc_conf_new();
    eoc_conf_set_log_cb(c, on_line, NULL);
    eoc__settings_t st;
    eoc__settings_read(c, &st);
    eoc_log_t lg;
    eoc__log_init(&lg, &st, "worker");
    eoc__kv_t kv[] = {EOC__KV_S("topic", "in"), EOC__KV_I("partition", 0)};
    eoc__log_kv(&lg, EOC_LOG_INFO, kv, 2, "hello %d", 7);
    assert_string_equal(cb_line, "hello 7 topic=in partition=0");
    eoc_conf_destroy(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(json_lines_carry_the_fields_as_members),
        cmocka_unit_test(text_lines_carry_the_fields_as_key_value),
        cmocka_unit_test(a_callback_gets_the_fields_as_key_value),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
