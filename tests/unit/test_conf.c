/*
 * test_conf.c - the configuration table: defaults, parsing and range
 * errors per type, pattern and kafka.* keys, the internal getters, dup,
 * JSON files and eoc_conf_describe.
 *
 * Each test gets a fresh conf in *state (setup/teardown below).
 */
#include "conf.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

/* The typed settings of `conf`, as the worker reads them. */
static eoc__settings_t settings(const eoc_conf_t *conf)
{
    eoc__settings_t st;
    eoc__settings_read(conf, &st);
    return st;
}

static int conf_setup(void **state)
{
    *state = eoc_conf_new();
    return *state != NULL ? 0 : -1;
}

static int conf_teardown(void **state)
{
    eoc_conf_destroy(*state);
    return 0;
}

/* Sets key=value and checks that it fails with exactly `message`. */
static void set_fails(eoc_conf_t *conf, const char *key, const char *value, const char *message)
{
    char err[256] = "";

    assert_int_equal(eoc_conf_set(conf, key, value, err, sizeof(err)), EOC_ERR_CONFIG);
    assert_string_equal(err, message);
}

/* Sets key=value, which must succeed, and checks the stored text. */
static void set_reads_back(eoc_conf_t *conf, const char *key, const char *value, const char *stored)
{
    char err[256] = "";

    assert_int_equal(eoc_conf_set(conf, key, value, err, sizeof(err)), EOC_OK);
    assert_string_equal(eoc_conf_get(conf, key), stored);
}

/* ------------------------------------------------------------------ */
/* Defaults                                                            */
/* ------------------------------------------------------------------ */

static void new_conf_reads_the_table_defaults(void **state)
{
    eoc_conf_t *conf = *state;

    assert_string_equal(eoc_conf_get(conf, "batch.max.records"), "1000");
    assert_int_equal(settings(conf).batch_max_records, 1000);
    assert_int_equal(settings(conf).batch_max_ms, 100);
    assert_string_equal(eoc_conf_get(conf, "store.map.size"), "8GiB");
    assert_int_equal(settings(conf).store_map_size, INT64_C(8) << 30);
    assert_int_equal(settings(conf).record_max_bytes, 1 << 20);
    assert_int_equal(settings(conf).output_max_bytes, 1000000);
    assert_int_equal(settings(conf).inbox_retention_ms, 0);
    assert_int_equal(settings(conf).relay_enable, 1);
    assert_true(settings(conf).health_map_usage == 0.9);
    assert_int_equal(settings(conf).log_level, EOC_LOG_INFO);
    assert_string_equal(settings(conf).id_strategy, "header:message-id");
    assert_string_equal(settings(conf).output_topic, "");
}

static void keys_without_a_default_read_as_null_or_empty(void **state)
{
    eoc_conf_t *conf = *state;

    assert_null(eoc_conf_get(conf, "data.dir"));
    assert_null(eoc_conf_get(conf, "input.topics"));
    assert_string_equal(settings(conf).data_dir, "");
    assert_string_equal(settings(conf).group_id, "");
    assert_null(eoc_conf_get(conf, "no.such.key"));
    assert_null(eoc_conf_get(conf, "kafka.acks"));
}

/* Rows collected from eoc_conf_describe. */
typedef struct rows {
    int count;
    const char *key[64];
    const char *type[64];
    const char *defval[64];
    char *doc[64];
} rows_t;

static void collect_row(void *opaque, const char *key, const char *type, const char *defval,
                        const char *doc)
{
    rows_t *rows = opaque;

    assert_true(rows->count < 64);
    rows->key[rows->count] = key;
    rows->type[rows->count] = type;
    rows->defval[rows->count] = defval;
    rows->doc[rows->count] = strdup(doc);
    rows->count++;
}

static void rows_free(rows_t *rows)
{
    for (int i = 0; i < rows->count; i++)
        free(rows->doc[i]);
}

static void every_default_passes_its_own_validation(void **state)
{
    eoc_conf_t *conf = *state;
    rows_t rows = {0};
    char err[256];

    eoc_conf_describe(collect_row, &rows);
    for (int i = 0; i < rows.count; i++) {
        if (rows.defval[i] == NULL)
            continue;
        err[0] = '\0';
        if (eoc_conf_set(conf, rows.key[i], rows.defval[i], err, sizeof(err)) != EOC_OK)
            fail_msg("default of %s is invalid: %s", rows.key[i], err);
    }
    rows_free(&rows);
}

/* ------------------------------------------------------------------ */
/* Keys and errors                                                     */
/* ------------------------------------------------------------------ */

static void unknown_key_is_rejected_and_named(void **state)
{
    set_fails(*state, "foo.bar", "1", "unknown configuration key \"foo.bar\"");
    set_fails(*state, "batch.max", "1", "unknown configuration key \"batch.max\"");
}

static void null_arguments_are_invalid(void **state)
{
    eoc_conf_t *conf = *state;

    assert_int_equal(eoc_conf_set(conf, NULL, "x", NULL, 0), EOC_ERR_INVALID_ARG);
    assert_int_equal(eoc_conf_set(conf, "group.id", NULL, NULL, 0), EOC_ERR_INVALID_ARG);
    assert_int_equal(eoc_conf_set(NULL, "group.id", "g", NULL, 0), EOC_ERR_INVALID_ARG);
}

static void errstr_may_be_null_or_empty(void **state)
{
    eoc_conf_t *conf = *state;
    char err[8] = "keep";

    assert_int_equal(eoc_conf_set(conf, "foo", "1", NULL, 0), EOC_ERR_CONFIG);
    assert_int_equal(eoc_conf_set(conf, "foo", "1", err, 0), EOC_ERR_CONFIG);
    assert_string_equal(err, "keep");
    assert_int_equal(eoc_conf_set(conf, "foo", "1", err, sizeof(err)), EOC_ERR_CONFIG);
    assert_string_equal(err, "unknown"); /* truncated, still terminated */
}

static void failed_set_keeps_the_previous_value(void **state)
{
    eoc_conf_t *conf = *state;

    set_reads_back(conf, "batch.max.records", "10", "10");
    set_fails(conf, "batch.max.records", "x", "batch.max.records: expected an integer, got \"x\"");
    assert_string_equal(eoc_conf_get(conf, "batch.max.records"), "10");
}

static void setting_a_key_again_replaces_its_value(void **state)
{
    eoc_conf_t *conf = *state;

    set_reads_back(conf, "group.id", "first", "first");
    set_reads_back(conf, "group.id", "second", "second");
}

/* ------------------------------------------------------------------ */
/* Types                                                               */
/* ------------------------------------------------------------------ */

static void string_key_keeps_the_value_verbatim(void **state)
{
    set_reads_back(*state, "data.dir", " /var/lib/eoc dir ", " /var/lib/eoc dir ");
    set_reads_back(*state, "output.topic", "", "");
}

static void int_key_is_parsed_and_stored_in_decimal(void **state)
{
    eoc_conf_t *conf = *state;

    set_reads_back(conf, "batch.max.records", "0042", "42");
    assert_int_equal(settings(conf).batch_max_records, 42);
    set_reads_back(conf, "retry.backoff.ms", "0", "0");
    set_reads_back(conf, "inbox.retention.ms", "9223372036854775807", "9223372036854775807");
}

static void int_key_rejects_non_integers_naming_the_key(void **state)
{
    eoc_conf_t *conf = *state;

    set_fails(conf, "batch.max.records", "abc",
              "batch.max.records: expected an integer, got \"abc\"");
    set_fails(conf, "batch.max.records", "", "batch.max.records: expected an integer, got \"\"");
    set_fails(conf, "batch.max.records", "12x",
              "batch.max.records: expected an integer, got \"12x\"");
    set_fails(conf, "batch.max.records", " 5",
              "batch.max.records: expected an integer, got \" 5\"");
    set_fails(conf, "batch.max.records", "1.5",
              "batch.max.records: expected an integer, got \"1.5\"");
}

static void int_key_rejects_values_out_of_range(void **state)
{
    eoc_conf_t *conf = *state;

    set_fails(conf, "batch.max.records", "0", "batch.max.records: 0 is out of range 1..1000000");
    set_fails(conf, "batch.max.records", "1000001",
              "batch.max.records: 1000001 is out of range 1..1000000");
    set_fails(conf, "inbox.retention.ms", "-1", "inbox.retention.ms: -1 is out of range 0..");
    set_fails(conf, "inbox.retention.ms", "99999999999999999999",
              "inbox.retention.ms: 99999999999999999999 is out of range 0..");
    set_reads_back(conf, "batch.max.records", "1", "1");
    set_reads_back(conf, "batch.max.records", "1000000", "1000000");
}

static void size_key_accepts_binary_suffixes_and_stores_bytes(void **state)
{
    static const struct {
        const char *text;
        const char *bytes;
    } cases[] = {
        {"65536", "65536"},     {"64K", "65536"},        {"64KiB", "65536"},
        {"3M", "3145728"},      {"3MiB", "3145728"},     {"2G", "2147483648"},
        {"2GiB", "2147483648"}, {"1T", "1099511627776"}, {"1TiB", "1099511627776"},
    };
    eoc_conf_t *conf = *state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        set_reads_back(conf, "store.map.size", cases[i].text, cases[i].bytes);
    set_reads_back(conf, "record.max.bytes", "1", "1");
    assert_int_equal(settings(conf).record_max_bytes, 1);
    assert_int_equal(settings(conf).store_map_size, INT64_C(1) << 40);
}

static void size_key_rejects_bad_suffixes_and_values_out_of_range(void **state)
{
    eoc_conf_t *conf = *state;
    const char *expect_size = "store.map.size: expected a size in bytes (suffixes K, M, G, T, "
                              "KiB, MiB, GiB, TiB), got \"%s\"";
    const char *bad[] = {"8GB", "8 GiB", "1k", "-1", "", "GiB", "1.5G"};
    char msg[256];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(msg, sizeof(msg), expect_size, bad[i]);
        set_fails(conf, "store.map.size", bad[i], msg);
    }
    set_fails(conf, "store.map.size", "1024", "store.map.size: 1024 is out of range 64KiB..1TiB");
    set_fails(conf, "store.map.size", "2TiB", "store.map.size: 2TiB is out of range 64KiB..1TiB");
    set_fails(conf, "store.map.size", "99999999999TiB",
              "store.map.size: 99999999999TiB is out of range 64KiB..1TiB");
    set_fails(conf, "output.max.bytes", "0", "output.max.bytes: 0 is out of range 1..1GiB");
}

static void bool_key_accepts_true_false_yes_no_one_zero(void **state)
{
    eoc_conf_t *conf = *state;

    set_reads_back(conf, "relay.enable", "false", "false");
    assert_int_equal(settings(conf).relay_enable, 0);
    set_reads_back(conf, "relay.enable", "yes", "true");
    assert_int_equal(settings(conf).relay_enable, 1);
    set_reads_back(conf, "relay.enable", "0", "false");
    set_reads_back(conf, "relay.enable", "1", "true");
    set_reads_back(conf, "relay.enable", "no", "false");
    set_reads_back(conf, "relay.enable", "TRUE", "true");
}

static void bool_key_rejects_other_words(void **state)
{
    set_fails(*state, "relay.enable", "maybe",
              "relay.enable: expected true, false, yes, no, 1 or 0, got \"maybe\"");
    set_fails(*state, "relay.enable", "",
              "relay.enable: expected true, false, yes, no, 1 or 0, got \"\"");
}

static void double_key_is_parsed_and_range_checked(void **state)
{
    eoc_conf_t *conf = *state;

    set_reads_back(conf, "health.map.usage", "0.5", "0.5");
    assert_true(settings(conf).health_map_usage == 0.5);
    set_reads_back(conf, "health.map.usage", "1", "1");
    set_fails(conf, "health.map.usage", "1.5", "health.map.usage: 1.5 is out of range 0..1");
    set_fails(conf, "health.map.usage", "-0.1", "health.map.usage: -0.1 is out of range 0..1");
    set_fails(conf, "health.map.usage", "x", "health.map.usage: expected a number, got \"x\"");
    set_fails(conf, "health.map.usage", "nan", "health.map.usage: expected a number, got \"nan\"");
    set_fails(conf, "health.map.usage", "0.5%",
              "health.map.usage: expected a number, got \"0.5%\"");
}

static void enum_key_accepts_only_listed_values(void **state)
{
    eoc_conf_t *conf = *state;

    set_reads_back(conf, "log.level", "debug", "debug");
    assert_int_equal(settings(conf).log_level, EOC_LOG_DEBUG);
    set_reads_back(conf, "empty.value", "skip", "skip");
    set_fails(conf, "log.level", "loud",
              "log.level: \"loud\" is not one of err, warning, notice, info, debug");
    set_fails(conf, "log.level", "INFO",
              "log.level: \"INFO\" is not one of err, warning, notice, info, debug");
    set_fails(conf, "log.level", "",
              "log.level: \"\" is not one of err, warning, notice, info, debug");
    set_fails(conf, "id.missing", "drop", "id.missing: \"drop\" is not one of dlq, position");
}

static void list_key_trims_items_and_keeps_their_order(void **state)
{
    eoc_conf_t *conf = *state;

    set_reads_back(conf, "input.topics", " orders , payments,refunds\t", "orders,payments,refunds");
    assert_string_equal(settings(conf).input_topics, "orders,payments,refunds");
    set_reads_back(conf, "input.topics", "one", "one");
}

static void list_key_rejects_empty_items(void **state)
{
    eoc_conf_t *conf = *state;

    set_fails(conf, "input.topics", "a,,b", "input.topics: empty item in list \"a,,b\"");
    set_fails(conf, "input.topics", "a, ", "input.topics: empty item in list \"a, \"");
    set_fails(conf, "input.topics", "", "input.topics: empty item in list \"\"");
}

/* ------------------------------------------------------------------ */
/* Pattern and pass-through keys                                       */
/* ------------------------------------------------------------------ */

static void per_topic_id_strategy_is_a_pattern_key(void **state)
{
    eoc_conf_t *conf = *state;

    set_reads_back(conf, "id.strategy.orders", "json:order.id", "json:order.id");
    set_reads_back(conf, "id.strategy.my.dotted.topic", "key", "key");
    assert_string_equal(eoc_conf_get(conf, "id.strategy.orders"), "json:order.id");
    assert_null(eoc_conf_get(conf, "id.strategy.payments"));
    assert_null(eoc_conf_get(conf, "id.strategy.payments"));
    assert_string_equal(settings(conf).id_strategy, "header:message-id");
    set_fails(conf, "id.strategy.", "key", "unknown configuration key \"id.strategy.\"");
}

static void kafka_prefixes_accept_any_subkey_verbatim(void **state)
{
    eoc_conf_t *conf = *state;

    set_reads_back(conf, "kafka.bootstrap.servers", "localhost:9092", "localhost:9092");
    set_reads_back(conf, "kafka.anything.librdkafka.knows", " as is ", " as is ");
    set_reads_back(conf, "relay.kafka.acks", "all", "all");
    assert_string_equal(eoc_conf_get(conf, "relay.kafka.acks"), "all");
    assert_null(eoc_conf_get(conf, "relay.kafka.linger.ms"));
    set_fails(conf, "kafka.", "x", "unknown configuration key \"kafka.\"");
    set_fails(conf, "kafka", "x", "unknown configuration key \"kafka\"");
    set_fails(conf, "relay.kafka.", "x", "unknown configuration key \"relay.kafka.\"");
}

/* Appends "key=value;" to the buffer in opaque; stops (returns 7) after `stop_after` calls. */
typedef struct seen {
    char text[256];
    int calls;
    int stop_after;
} seen_t;

static int record_kv(void *opaque, const char *key, const char *value)
{
    seen_t *seen = opaque;
    size_t off = strlen(seen->text);

    snprintf(seen->text + off, sizeof(seen->text) - off, "%s=%s;", key, value);
    seen->calls++;
    return seen->calls == seen->stop_after ? 7 : 0;
}

static void foreach_prefix_passes_keys_without_the_prefix(void **state)
{
    eoc_conf_t *conf = *state;
    seen_t kafka = {0}, relay = {0};

    set_reads_back(conf, "kafka.acks", "all", "all");
    set_reads_back(conf, "relay.kafka.linger.ms", "5", "5");
    set_reads_back(conf, "group.id", "g", "g");
    set_reads_back(conf, "kafka.client.id", "c", "c");
    assert_int_equal(eoc__conf_foreach_prefix(conf, "kafka.", record_kv, &kafka), 0);
    assert_string_equal(kafka.text, "acks=all;client.id=c;");
    assert_int_equal(eoc__conf_foreach_prefix(conf, "relay.kafka.", record_kv, &relay), 0);
    assert_string_equal(relay.text, "linger.ms=5;");
}

static void foreach_prefix_stops_at_the_first_nonzero_return(void **state)
{
    eoc_conf_t *conf = *state;
    seen_t seen = {.stop_after = 1};

    set_reads_back(conf, "kafka.a", "1", "1");
    set_reads_back(conf, "kafka.b", "2", "2");
    assert_int_equal(eoc__conf_foreach_prefix(conf, "kafka.", record_kv, &seen), 7);
    assert_int_equal(seen.calls, 1);
    assert_string_equal(seen.text, "a=1;");
}

/* ------------------------------------------------------------------ */
/* Copies and the log callback                                         */
/* ------------------------------------------------------------------ */

static void test_log_cb(void *opaque, int level, const char *line)
{
    (void)opaque;
    (void)level;
    (void)line;
}

static void dup_copies_every_value_and_is_independent(void **state)
{
    eoc_conf_t *conf = *state, *copy;
    int token;

    set_reads_back(conf, "group.id", "g1", "g1");
    set_reads_back(conf, "kafka.acks", "all", "all");
    eoc_conf_set_log_cb(conf, test_log_cb, &token);
    copy = eoc_conf_dup(conf);
    assert_non_null(copy);
    set_reads_back(conf, "group.id", "g2", "g2");
    assert_string_equal(eoc_conf_get(copy, "group.id"), "g1");
    assert_string_equal(eoc_conf_get(copy, "kafka.acks"), "all");
    assert_string_equal(eoc_conf_get(copy, "batch.max.records"), "1000");
    assert_ptr_equal(settings(copy).log_cb, test_log_cb);
    assert_ptr_equal(settings(copy).log_opaque, &token);
    eoc_conf_destroy(copy);
}

static void log_callback_is_unset_until_set(void **state)
{
    assert_null(settings(*state).log_cb);
    assert_null(settings(*state).log_opaque);
}

static void many_keys_can_be_set(void **state)
{
    eoc_conf_t *conf = *state;
    char key[64], value[16];

    for (int i = 0; i < 200; i++) {
        snprintf(key, sizeof(key), "kafka.k%d", i);
        snprintf(value, sizeof(value), "%d", i);
        set_reads_back(conf, key, value, value);
    }
    assert_string_equal(eoc_conf_get(conf, "kafka.k0"), "0");
    assert_string_equal(eoc_conf_get(conf, "kafka.k199"), "199");
}

/* ------------------------------------------------------------------ */
/* JSON files                                                          */
/* ------------------------------------------------------------------ */

/* Writes `text` to a new temp file; its name is left in `path`. */
static void write_temp(char *path, size_t size, const char *text)
{
    size_t n = strlen(text);
    int fd;

    snprintf(path, size, "/tmp/eoc-test-conf-XXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, n), (ssize_t)n);
    close(fd);
}

/* Loads `json` from a temp file; returns the result, message in err. */
static eoc_err_t load(eoc_conf_t *conf, const char *json, char *err, size_t err_size, char *path,
                      size_t path_size)
{
    eoc_err_t rc;

    write_temp(path, path_size, json);
    err[0] = '\0';
    rc = eoc_conf_load_json(conf, path, err, err_size);
    unlink(path);
    return rc;
}

/* Loads `json`, expects EOC_ERR_CONFIG and the message "<path>: <message>". */
static void load_fails(eoc_conf_t *conf, const char *json, const char *message)
{
    char path[64], err[512], expect[512];

    assert_int_equal(load(conf, json, err, sizeof(err), path, sizeof(path)), EOC_ERR_CONFIG);
    snprintf(expect, sizeof(expect), "%s: %s", path, message);
    assert_string_equal(err, expect);
}

static void json_file_sets_keys_of_every_type(void **state)
{
    eoc_conf_t *conf = *state;
    char path[64], err[512];

    assert_int_equal(load(conf,
                          "{\"data.dir\": \"/var/lib/eoc\", \"batch.max.records\": 500,"
                          " \"store.map.size\": 1048576, \"record.max.bytes\": \"2MiB\","
                          " \"relay.enable\": false, \"health.map.usage\": 0.75,"
                          " \"log.level\": \"debug\", \"input.topics\": [\"a\", \" b \"],"
                          " \"retry.max.attempts\": \"5\", \"output.topic\": \"out\"}",
                          err, sizeof(err), path, sizeof(path)),
                     EOC_OK);
    assert_string_equal(err, "");
    assert_string_equal(eoc_conf_get(conf, "data.dir"), "/var/lib/eoc");
    assert_int_equal(settings(conf).batch_max_records, 500);
    assert_int_equal(settings(conf).store_map_size, 1048576);
    assert_int_equal(settings(conf).record_max_bytes, 2 << 20);
    assert_int_equal(settings(conf).relay_enable, 0);
    assert_true(settings(conf).health_map_usage == 0.75);
    assert_string_equal(eoc_conf_get(conf, "health.map.usage"), "0.75");
    assert_int_equal(settings(conf).log_level, EOC_LOG_DEBUG);
    assert_string_equal(settings(conf).input_topics, "a,b");
    assert_int_equal(settings(conf).retry_max_attempts, 5);
    assert_string_equal(settings(conf).output_topic, "out");
}

static void json_nested_objects_are_flattened_with_dots(void **state)
{
    eoc_conf_t *conf = *state;
    char path[64], err[512];

    assert_int_equal(load(conf,
                          "{\"kafka\": {\"bootstrap.servers\": \"h:9092\", \"linger.ms\": 5,"
                          "            \"enable.idempotence\": true, \"x\": 0.25},"
                          " \"relay\": {\"enable\": \"no\", \"kafka\": {\"acks\": \"all\"}},"
                          " \"id\": {\"strategy\": {\"orders\": \"key\"}},"
                          " \"batch\": {\"max\": {\"records\": 7}}, \"empty\": {}}",
                          err, sizeof(err), path, sizeof(path)),
                     EOC_OK);
    assert_string_equal(eoc_conf_get(conf, "kafka.bootstrap.servers"), "h:9092");
    assert_string_equal(eoc_conf_get(conf, "kafka.linger.ms"), "5");
    assert_string_equal(eoc_conf_get(conf, "kafka.enable.idempotence"), "true");
    assert_string_equal(eoc_conf_get(conf, "kafka.x"), "0.25");
    assert_string_equal(eoc_conf_get(conf, "relay.kafka.acks"), "all");
    assert_int_equal(settings(conf).relay_enable, 0);
    assert_string_equal(eoc_conf_get(conf, "id.strategy.orders"), "key");
    assert_int_equal(settings(conf).batch_max_records, 7);
}

static void json_value_of_the_wrong_type_names_the_key(void **state)
{
    eoc_conf_t *conf = *state;

    load_fails(conf, "{\"relay.enable\": 1}",
               "relay.enable: expected a boolean or a string, got a number");
    load_fails(conf, "{\"batch\": {\"max\": {\"records\": true}}}",
               "batch.max.records: expected an integer or a string, got a boolean");
    load_fails(conf, "{\"group.id\": null}", "group.id: expected a string, got null");
    load_fails(conf, "{\"log.level\": [\"info\"]}", "log.level: expected a string, got an array");
    load_fails(conf, "{\"input.topics\": [\"a\", 1]}",
               "input.topics: expected an array of strings, found a number in it");
    load_fails(conf, "{\"kafka\": {\"acks\": [1]}}",
               "kafka.acks: expected a string, a number or a boolean, got an array");
}

static void json_fraction_for_an_integer_key_is_rejected(void **state)
{
    load_fails(*state, "{\"batch.max.records\": 1.5}",
               "batch.max.records: expected an integer, got 1.5");
}

static void json_value_errors_name_the_file_and_the_key(void **state)
{
    load_fails(*state, "{\"batch.max.records\": 0}",
               "batch.max.records: 0 is out of range 1..1000000");
    load_fails(*state, "{\"log\": {\"level\": \"loud\"}}",
               "log.level: \"loud\" is not one of err, warning, notice, info, debug");
    load_fails(*state, "{\"input.topics\": []}", "input.topics: empty item in list \"\"");
}

static void json_unknown_key_names_the_file_and_the_key(void **state)
{
    load_fails(*state, "{\"batch\": {\"max\": {\"recs\": 1}}}",
               "unknown configuration key \"batch.max.recs\"");
}

static void json_syntax_error_reports_its_position(void **state)
{
    char path[64], err[512], expect[128];

    /* cJSON's position is approximate: check the line only. */
    assert_int_equal(
        load(*state, "{\n  \"group.id\": \"g\",\n  oops\n}", err, sizeof(err), path, sizeof(path)),
        EOC_ERR_CONFIG);
    snprintf(expect, sizeof(expect), "%s: invalid JSON near line 3, column ", path);
    assert_memory_equal(err, expect, strlen(expect));
    load_fails(*state, "", "invalid JSON near line 1, column 1");
}

static void json_top_level_must_be_an_object(void **state)
{
    load_fails(*state, "[1, 2]", "expected a JSON object at the top level, got an array");
    load_fails(*state, "\"x\"", "expected a JSON object at the top level, got a string");
}

static void missing_json_file_is_not_found_and_named(void **state)
{
    char err[256] = "";

    assert_int_equal(eoc_conf_load_json(*state, "/nonexistent/eoc.json", err, sizeof(err)),
                     EOC_ERR_NOT_FOUND);
    assert_string_equal(err, "/nonexistent/eoc.json: No such file or directory");
}

/* ------------------------------------------------------------------ */
/* Describe                                                            */
/* ------------------------------------------------------------------ */

static void describe_lists_every_row_in_table_order(void **state)
{
    static const char *const names[] = {
        "data.dir",
        "group.id",
        "input.topics",
        "output.topic",
        "dlq.topic",
        "id.strategy",
        "id.strategy.*",
        "id.missing",
        "empty.value",
        "batch.max.records",
        "batch.max.ms",
        "batch.backlog.max.records",
        "store.map.size",
        "retry.max.attempts",
        "retry.backoff.ms",
        "handler.max.crashes",
        "record.max.bytes",
        "output.max.bytes",
        "eos.mode",
        "eos.restore.timeout.ms",
        "eos.restore.batch.records",
        "relay.enable",
        "relay.commit.ms",
        "relay.flush.timeout.ms",
        "inbox.retention.ms",
        "inbox.retention.count",
        "inbox.prune.interval.ms",
        "metrics.listen",
        "health.stall.ms",
        "input.topics.wait.ms",
        "health.relay.stuck.ms",
        "health.map.usage",
        "log.progress.interval.ms",
        "trace.propagate",
        "log.level",
        "log.format",
        "kafka.consumer.*",
        "kafka.*",
        "relay.kafka.*",
    };
    static const char *const types[] = {"string", "int", "size", "bool", "double", "enum", "list"};
    rows_t rows = {0};
    int seen_type[7] = {0};

    (void)state;
    eoc_conf_describe(collect_row, &rows);
    assert_int_equal(rows.count, sizeof(names) / sizeof(names[0]));
    for (int i = 0; i < rows.count; i++) {
        assert_string_equal(rows.key[i], names[i]);
        assert_true(rows.doc[i][0] != '\0');
        for (int t = 0; t < 7; t++)
            seen_type[t] += strcmp(rows.type[i], types[t]) == 0;
    }
    for (int t = 0; t < 7; t++)
        assert_true(seen_type[t] > 0);
    assert_string_equal(rows.type[12], "size");
    assert_string_equal(rows.defval[12], "8GiB");
    assert_null(rows.defval[0]);
    assert_string_equal(rows.type[8], "enum");
    assert_string_equal(rows.doc[8],
                        "null or empty value: dead-letter (empty_value) or skip and count "
                        "(dlq|skip)");
    assert_non_null(strstr(rows.doc[34], "(err|warning|notice|info|debug)"));
    assert_string_equal(rows.key[18], "eos.mode");
    assert_string_equal(rows.defval[18], "local");
    rows_free(&rows);
}

/* Integers are read by the strict parser of the command lines (numparse.h). */
static void int_key_is_as_strict_as_the_command_line(void **state)
{
    eoc_conf_t *conf = *state;

    set_fails(conf, "batch.max.records", "+5", "batch.max.records: expected an integer, got \"+5\"");
    set_fails(conf, "batch.max.records", " 5", "batch.max.records: expected an integer, got \" 5\"");
    set_fails(conf, "batch.max.records", "-", "batch.max.records: expected an integer, got \"-\"");
}

/* cJSON would cut "a\u0000b" to "a": such a string is refused with its position. */
static void json_string_with_nul_is_refused(void **state)
{
    load_fails(*state, "{\"group.id\": \"a\\u0000b\"}",
               "a string holds \\u0000 near line 1, column 16 (no setting holds a NUL byte)");
    char path[64], err[512];
    assert_int_equal(load(*state, "{\"group.id\": \"a\\\\u0000b\"}", err, sizeof(err), path,
                          sizeof(path)),
                     EOC_OK); /* an escaped backslash, then the text u0000 */
}

#define CONF_TEST(fn) cmocka_unit_test_setup_teardown(fn, conf_setup, conf_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        CONF_TEST(new_conf_reads_the_table_defaults),
        CONF_TEST(keys_without_a_default_read_as_null_or_empty),
        CONF_TEST(every_default_passes_its_own_validation),
        CONF_TEST(unknown_key_is_rejected_and_named),
        CONF_TEST(null_arguments_are_invalid),
        CONF_TEST(errstr_may_be_null_or_empty),
        CONF_TEST(failed_set_keeps_the_previous_value),
        CONF_TEST(setting_a_key_again_replaces_its_value),
        CONF_TEST(string_key_keeps_the_value_verbatim),
        CONF_TEST(int_key_is_parsed_and_stored_in_decimal),
        CONF_TEST(int_key_rejects_non_integers_naming_the_key),
        CONF_TEST(int_key_rejects_values_out_of_range),
        CONF_TEST(size_key_accepts_binary_suffixes_and_stores_bytes),
        CONF_TEST(size_key_rejects_bad_suffixes_and_values_out_of_range),
        CONF_TEST(bool_key_accepts_true_false_yes_no_one_zero),
        CONF_TEST(bool_key_rejects_other_words),
        CONF_TEST(double_key_is_parsed_and_range_checked),
        CONF_TEST(enum_key_accepts_only_listed_values),
        CONF_TEST(list_key_trims_items_and_keeps_their_order),
        CONF_TEST(list_key_rejects_empty_items),
        CONF_TEST(per_topic_id_strategy_is_a_pattern_key),
        CONF_TEST(kafka_prefixes_accept_any_subkey_verbatim),
        CONF_TEST(foreach_prefix_passes_keys_without_the_prefix),
        CONF_TEST(foreach_prefix_stops_at_the_first_nonzero_return),
        CONF_TEST(dup_copies_every_value_and_is_independent),
        CONF_TEST(log_callback_is_unset_until_set),
        CONF_TEST(many_keys_can_be_set),
        CONF_TEST(json_file_sets_keys_of_every_type),
        CONF_TEST(json_nested_objects_are_flattened_with_dots),
        CONF_TEST(json_value_of_the_wrong_type_names_the_key),
        CONF_TEST(json_fraction_for_an_integer_key_is_rejected),
        CONF_TEST(json_value_errors_name_the_file_and_the_key),
        CONF_TEST(json_unknown_key_names_the_file_and_the_key),
        CONF_TEST(json_syntax_error_reports_its_position),
        CONF_TEST(json_top_level_must_be_an_object),
        CONF_TEST(missing_json_file_is_not_found_and_named),
        CONF_TEST(describe_lists_every_row_in_table_order),
        CONF_TEST(int_key_is_as_strict_as_the_command_line),
        CONF_TEST(json_string_with_nul_is_refused),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
