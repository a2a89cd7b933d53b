/* Unit tests of handler.c at its limits: derived output IDs, the header
 * limit of eoc_emit, and dead letters that keep every original header. */
#include "handler.h"
#include "msgid.h"
#include "store.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

typedef struct fx {
    char dir[64];
    eoc__store_t *s;
    rd_kafka_message_t msg;
    eoc_record_t rec;
    rd_kafka_headers_t *hs;
} fx_t;

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof(*f));
    char err[256];
    snprintf(f->dir, sizeof(f->dir), "/tmp/eoc-handler-XXXXXX");
    if (!mkdtemp(f->dir) || eoc__store_open(f->dir, 0, 0, NULL, &f->s, err, sizeof(err)))
        return -1;
    f->msg.partition = 2;
    f->msg.offset = 7;
    f->rec.msg = &f->msg;
    f->rec.topic = "in";
    f->rec.id = "rec-1";
    f->rec.id_len = 5;
    f->hs = rd_kafka_headers_new(8);
    f->rec.headers = f->hs;
    *state = f;
    return eoc__store_begin(f->s) == EOC_OK ? 0 : -1;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    char cmd[128];
    eoc__store_close(f->s);
    rd_kafka_headers_destroy(f->hs);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    int rc = system(cmd);
    free(f);
    return rc == 0 ? 0 : -1;
}

struct seen {
    size_t rows, headers[4];
    char id[4][EOC_ID_MAX + 1];
    size_t id_len[4];
};

static int collect(void *opaque, uint64_t seq, const eoc__outrow_t *row)
{
    struct seen *s = opaque;
    (void)seq;
    if (s->rows < 4) {
        s->headers[s->rows] = row->header_count;
        memcpy(s->id[s->rows], row->id, row->id_len);
        s->id_len[s->rows] = row->id_len;
    }
    s->rows++;
    return 0;
}

static struct seen commit_and_scan(fx_t *f)
{
    struct seen s = {0};
    uint64_t next;
    assert_int_equal(eoc__store_commit(f->s), EOC_OK);
    assert_int_equal(eoc__store_outbox_scan(f->s, 0, 100, collect, &s, &next), EOC_OK);
    return s;
}

static void test_a_dead_letter_keeps_every_original_header(void **state)
{
    fx_t *f = *state;
    char name[16];
    for (int i = 0; i < 100; i++) {
        snprintf(name, sizeof(name), "h%d", i);
        rd_kafka_header_add(f->hs, name, -1, "v", 1);
    }
    rd_kafka_header_add(f->hs, "message-id", -1, "rec-1", 5); /* the relay sets its own */
    eoc_header_t extra[] = {{"eoc-dlq-reason", "handler_error", 13}, {"eoc-source-id", "rec-1", 5}};
    eoc_msg_t out = {"dlq", EOC_PARTITION_ANY, NULL, 0, "v", 1, NULL, 0};
    assert_int_equal(eoc__outbox_append_dead(f->s, &f->rec, "rec-1/dlq", 9, &out, extra, 2),
                     EOC_OK);
    struct seen s = commit_and_scan(f);
    assert_int_equal(s.rows, 1);
    assert_int_equal(s.headers[0], 102 + 1); /* and eoc-source */
}

static void test_emit_takes_at_most_the_documented_headers_and_says_so(void **state)
{
    fx_t *f = *state;
    eoc_header_t hs[EOC_HEADERS_MAX + 1];
    for (int i = 0; i <= EOC_HEADERS_MAX; i++)
        hs[i] = (eoc_header_t){"h", "v", 1};
    eoc_txn_t txn = {.store = f->s, .default_topic = "out", .max_bytes = 1 << 20};
    eoc__txn_reset(&txn, &f->rec);
    eoc_msg_t m = {NULL, EOC_PARTITION_ANY, NULL, 0, "v", 1, hs, EOC_HEADERS_MAX + 1};
    assert_int_equal(eoc_emit(&txn, &m), EOC_ERR_INVALID_ARG);
    assert_non_null(strstr(txn.error, "more than EOC_HEADERS_MAX (64)"));
    m.header_count = EOC_HEADERS_MAX;
    assert_int_equal(eoc_emit(&txn, &m), EOC_OK);
    struct seen s = commit_and_scan(f);
    assert_int_equal(s.rows, 1);
    assert_int_equal(s.headers[0], EOC_HEADERS_MAX + 1); /* and eoc-source */
}

static void test_output_ids_of_a_maximal_input_id_stay_within_the_limit(void **state)
{
    fx_t *f = *state;
    static char id[EOC_ID_MAX];
    memset(id, 'x', sizeof(id));
    f->rec.id = id;
    f->rec.id_len = sizeof(id);
    eoc_txn_t txn = {.store = f->s, .default_topic = "out", .max_bytes = 1 << 20};
    eoc__txn_reset(&txn, &f->rec);
    eoc_msg_t m = {NULL, EOC_PARTITION_ANY, NULL, 0, "v", 1, NULL, 0};
    assert_int_equal(eoc_emit(&txn, &m), EOC_OK);
    assert_int_equal(eoc_emit(&txn, &m), EOC_OK);
    struct seen s = commit_and_scan(f);
    assert_int_equal(s.rows, 2);
    for (int i = 0; i < 2; i++) {
        char want[EOC_ID_MAX + 1], nth[2] = {(char)('0' + i), 0};
        size_t n = eoc__id_derive(want, id, sizeof(id), nth, 1);
        assert_true(s.id_len[i] <= EOC_ID_MAX);
        assert_int_equal(s.id_len[i], n);
        assert_memory_equal(s.id[i], want, n);
    }
    assert_memory_not_equal(s.id[0], s.id[1], s.id_len[0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_a_dead_letter_keeps_every_original_header, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_emit_takes_at_most_the_documented_headers_and_says_so,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_output_ids_of_a_maximal_input_id_stay_within_the_limit, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
