/*
 * test_error.c - error texts, LMDB code mapping, and the
 * per-instance logger (callback delivery, level filtering, stderr formats).
 */
#include "conf.h"
#include "error.h"
#include "log.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <cmocka.h>
#include <lmdb.h>

/* ------------------------------------------------------------------ */
/* Error texts                                                         */
/* ------------------------------------------------------------------ */

static void every_error_code_has_its_own_text(void **state)
{
    (void)state;
    for (int i = 0; i < EOC_ERR__COUNT; i++) {
        const char *text = eoc_strerror((eoc_err_t)i);

        assert_non_null(text);
        assert_true(text[0] != '\0');
        assert_string_not_equal(text, "unknown error");
        for (int j = 0; j < i; j++)
            assert_string_not_equal(text, eoc_strerror((eoc_err_t)j));
    }
}

static void codes_out_of_range_read_unknown_error(void **state)
{
    (void)state;
    assert_string_equal(eoc_strerror(EOC_ERR__COUNT), "unknown error");
    assert_string_equal(eoc_strerror((eoc_err_t)(EOC_ERR__COUNT + 100)), "unknown error");
    assert_string_equal(eoc_strerror((eoc_err_t)-1), "unknown error");
}

static void version_string_matches_the_header(void **state)
{
    (void)state;
    assert_string_equal(eoc_version(), EOC_VERSION_STR);
}

/* ------------------------------------------------------------------ */
/* LMDB codes                                                          */
/* ------------------------------------------------------------------ */

static void lmdb_success_and_not_found_map_to_ok_and_not_found(void **state)
{
    (void)state;
    assert_int_equal(eoc__err_from_mdb(MDB_SUCCESS), EOC_OK);
    assert_int_equal(eoc__err_from_mdb(MDB_NOTFOUND), EOC_ERR_NOT_FOUND);
}

static void lmdb_map_full_maps_to_map_full(void **state)
{
    (void)state;
    assert_int_equal(eoc__err_from_mdb(MDB_MAP_FULL), EOC_ERR_MAP_FULL);
}

static void lmdb_version_mismatch_and_invalid_file_map_to_version(void **state)
{
    (void)state;
    assert_int_equal(eoc__err_from_mdb(MDB_VERSION_MISMATCH), EOC_ERR_VERSION);
    assert_int_equal(eoc__err_from_mdb(MDB_INVALID), EOC_ERR_VERSION);
}

static void errno_values_from_lmdb_map_to_nomem_read_only_or_io(void **state)
{
    (void)state;
    assert_int_equal(eoc__err_from_mdb(ENOMEM), EOC_ERR_NOMEM);
    assert_int_equal(eoc__err_from_mdb(EACCES), EOC_ERR_READ_ONLY);
    assert_int_equal(eoc__err_from_mdb(EROFS), EOC_ERR_READ_ONLY);
    assert_int_equal(eoc__err_from_mdb(EIO), EOC_ERR_IO);
    assert_int_equal(eoc__err_from_mdb(ENOSPC), EOC_ERR_IO);
}

static void other_lmdb_codes_map_to_store(void **state)
{
    (void)state;
    assert_int_equal(eoc__err_from_mdb(MDB_CORRUPTED), EOC_ERR_STORE);
    assert_int_equal(eoc__err_from_mdb(MDB_PANIC), EOC_ERR_STORE);
    assert_int_equal(eoc__err_from_mdb(MDB_READERS_FULL), EOC_ERR_STORE);
    assert_int_equal(eoc__err_from_mdb(MDB_BAD_TXN), EOC_ERR_STORE);
}

/* ------------------------------------------------------------------ */
/* Logging                                                             */
/* ------------------------------------------------------------------ */

#define CAPTURE_MAX 8

/* Lines received by capture_cb (test-local, one per test). */
typedef struct capture {
    int count;
    int level[CAPTURE_MAX];
    char *line[CAPTURE_MAX];
} capture_t;

static void capture_cb(void *opaque, int level, const char *line)
{
    capture_t *cap = opaque;

    assert_true(cap->count < CAPTURE_MAX);
    cap->level[cap->count] = level;
    cap->line[cap->count] = strdup(line);
    assert_non_null(cap->line[cap->count]);
    cap->count++;
}

static void capture_free(capture_t *cap)
{
    for (int i = 0; i < cap->count; i++)
        free(cap->line[i]);
}

/* A logger for `name` whose conf sets log.level (and a capture callback when cap != NULL). */
static void log_setup(eoc_log_t *lg, const char *level, const char *format, capture_t *cap)
{
    eoc_conf_t *conf = eoc_conf_new();

    assert_non_null(conf);
    assert_int_equal(eoc_conf_set(conf, "log.level", level, NULL, 0), EOC_OK);
    assert_int_equal(eoc_conf_set(conf, "log.format", format, NULL, 0), EOC_OK);
    if (cap != NULL)
        eoc_conf_set_log_cb(conf, capture_cb, cap);
    eoc__settings_t st;
    eoc__settings_read(conf, &st);
    eoc__log_init(lg, &st, "worker");
    eoc_conf_destroy(conf); /* the logger keeps no pointer into the conf */
}

static void log_drops_lines_more_verbose_than_log_level(void **state)
{
    capture_t cap = {0};
    eoc_log_t lg;

    (void)state;
    log_setup(&lg, "warning", "text", &cap);
    eoc__log(&lg, EOC_LOG_ERR, "e");
    eoc__log(&lg, EOC_LOG_WARNING, "w");
    eoc__log(&lg, EOC_LOG_NOTICE, "n");
    eoc__log(&lg, EOC_LOG_INFO, "i");
    eoc__log(&lg, EOC_LOG_DEBUG, "d");
    assert_int_equal(cap.count, 2);
    assert_int_equal(cap.level[0], EOC_LOG_ERR);
    assert_string_equal(cap.line[0], "e");
    assert_int_equal(cap.level[1], EOC_LOG_WARNING);
    assert_string_equal(cap.line[1], "w");
    capture_free(&cap);
}

static void log_level_debug_lets_every_line_through(void **state)
{
    capture_t cap = {0};
    eoc_log_t lg;

    (void)state;
    log_setup(&lg, "debug", "text", &cap);
    for (int level = EOC_LOG_ERR; level <= EOC_LOG_DEBUG; level++)
        eoc__log(&lg, level, "level %d", level);
    assert_int_equal(cap.count, 5);
    assert_string_equal(cap.line[4], "level 7");
    capture_free(&cap);
}

static void log_callback_gets_the_formatted_message(void **state)
{
    capture_t cap = {0};
    eoc_log_t lg;

    (void)state;
    log_setup(&lg, "info", "json", &cap);
    eoc__log(&lg, EOC_LOG_INFO, "committed %d records to %s", 42, "orders");
    assert_int_equal(cap.count, 1);
    assert_int_equal(cap.level[0], EOC_LOG_INFO);
    assert_string_equal(cap.line[0], "committed 42 records to orders");
    capture_free(&cap);
}

static void long_log_messages_are_not_truncated(void **state)
{
    capture_t cap = {0};
    eoc_log_t lg;
    char big[5000];

    (void)state;
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    log_setup(&lg, "info", "text", &cap);
    eoc__log(&lg, EOC_LOG_ERR, "<%s>", big);
    assert_int_equal(cap.count, 1);
    assert_int_equal(strlen(cap.line[0]), sizeof(big) + 1);
    capture_free(&cap);
}

static void log_lines_with_line_breaks_become_one_line(void **state)
{
    capture_t cap = {0};
    eoc_log_t lg;

    (void)state;
    log_setup(&lg, "info", "text", &cap);
    eoc__log(&lg, EOC_LOG_INFO, "first\nsecond\r\n");
    assert_int_equal(cap.count, 1);
    assert_string_equal(cap.line[0], "first second");
    capture_free(&cap);
}

static void log_init_without_conf_uses_info_text_and_stderr(void **state)
{
    eoc_log_t lg;

    (void)state;
    eoc__log_init(&lg, NULL, "a-component-name-longer-than-31-bytes");
    assert_null(lg.cb);
    assert_int_equal(lg.level, EOC_LOG_INFO);
    assert_int_equal(lg.json, 0);
    assert_int_equal(strlen(lg.name), sizeof(lg.name) - 1);
}

/*
 * Runs `emit` with stderr redirected to a temp file and returns what was
 * written (malloc'd).
 */
static char *stderr_of(void (*emit)(const eoc_log_t *), const eoc_log_t *lg)
{
    char path[] = "/tmp/eoc-test-log-XXXXXX";
    int fd = mkstemp(path);
    int saved = dup(STDERR_FILENO);
    char *out = calloc(1, 65536);
    ssize_t n;

    assert_true(fd >= 0);
    assert_true(saved >= 0);
    assert_non_null(out);
    unlink(path);
    fflush(stderr);
    assert_true(dup2(fd, STDERR_FILENO) >= 0);
    emit(lg);
    fflush(stderr);
    assert_true(dup2(saved, STDERR_FILENO) >= 0);
    close(saved);
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    n = read(fd, out, 65535);
    assert_true(n >= 0);
    close(fd);
    return out;
}

static void emit_two_lines(const eoc_log_t *lg)
{
    eoc__log(lg, EOC_LOG_WARNING, "quote \" backslash \\ tab \t done");
    eoc__log(lg, EOC_LOG_INFO, "second");
    eoc__log(lg, EOC_LOG_DEBUG, "dropped");
}

static void json_log_lines_on_stderr_are_valid_json(void **state)
{
    eoc_log_t lg;
    char *out, *nl, *line;
    int lines = 0;

    (void)state;
    log_setup(&lg, "info", "json", NULL);
    out = stderr_of(emit_two_lines, &lg);
    for (line = out; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
        cJSON *obj;

        *nl = '\0';
        obj = cJSON_Parse(line);
        assert_non_null(obj);
        assert_string_equal(cJSON_GetObjectItem(obj, "component")->valuestring, "worker");
        assert_int_equal(cJSON_GetObjectItem(obj, "pid")->valueint, getpid());
        assert_int_equal(strlen(cJSON_GetObjectItem(obj, "ts")->valuestring),
                         strlen("2026-11-29T07:50:01.123Z"));
        if (lines == 0) {
            assert_string_equal(cJSON_GetObjectItem(obj, "level")->valuestring, "warning");
            assert_string_equal(cJSON_GetObjectItem(obj, "msg")->valuestring,
                                "quote \" backslash \\ tab \t done");
        } else {
            assert_string_equal(cJSON_GetObjectItem(obj, "level")->valuestring, "info");
            assert_string_equal(cJSON_GetObjectItem(obj, "msg")->valuestring, "second");
        }
        cJSON_Delete(obj);
        lines++;
    }
    assert_int_equal(lines, 2);
    assert_string_equal(line, "");
    free(out);
}

static void text_log_lines_on_stderr_carry_time_pid_component_and_level(void **state)
{
    eoc_log_t lg;
    char *out, expect[64];
    int y, mo, d, h, mi, s, ms;
    char z;

    (void)state;
    log_setup(&lg, "info", "text", NULL);
    out = stderr_of(emit_two_lines, &lg);
    assert_int_equal(
        sscanf(out, "%4d-%2d-%2dT%2d:%2d:%2d.%3d%c", &y, &mo, &d, &h, &mi, &s, &ms, &z), 8);
    assert_int_equal(z, 'Z');
    snprintf(expect, sizeof(expect), " eoc[%ld] worker WARNING quote", (long)getpid());
    assert_non_null(strstr(out, expect));
    snprintf(expect, sizeof(expect), " eoc[%ld] worker INFO second\n", (long)getpid());
    assert_non_null(strstr(out, expect));
    assert_null(strstr(out, "dropped"));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_error_code_has_its_own_text),
        cmocka_unit_test(codes_out_of_range_read_unknown_error),
        cmocka_unit_test(version_string_matches_the_header),
        cmocka_unit_test(lmdb_success_and_not_found_map_to_ok_and_not_found),
        cmocka_unit_test(lmdb_map_full_maps_to_map_full),
        cmocka_unit_test(lmdb_version_mismatch_and_invalid_file_map_to_version),
        cmocka_unit_test(errno_values_from_lmdb_map_to_nomem_read_only_or_io),
        cmocka_unit_test(other_lmdb_codes_map_to_store),
        cmocka_unit_test(log_drops_lines_more_verbose_than_log_level),
        cmocka_unit_test(log_level_debug_lets_every_line_through),
        cmocka_unit_test(log_callback_gets_the_formatted_message),
        cmocka_unit_test(long_log_messages_are_not_truncated),
        cmocka_unit_test(log_lines_with_line_breaks_become_one_line),
        cmocka_unit_test(log_init_without_conf_uses_info_text_and_stderr),
        cmocka_unit_test(json_log_lines_on_stderr_are_valid_json),
        cmocka_unit_test(text_log_lines_on_stderr_carry_time_pid_component_and_level),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
