/*
 * fuzz_msgid - libFuzzer target: message ID extraction (msgid.c, json:FIELD)
 * and the JSON text helpers under it (lib/util/jsontext.c), on any bytes.
 *
 * Checks, besides the sanitizers: a found ID is 1..EOC_ID_MAX bytes; a
 * derived ID (eoc__id_derive) never exceeds EOC_ID_MAX; quoting any bytes
 * and decoding them again gives them back; a member the scanner finds lies
 * inside the document.
 */
#include "jsontext.h"
#include "msgid.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void id_of(const char *spec, const uint8_t *data, size_t size)
{
    eoc__msgid_t st;
    char err[128], buf[EOC_ID_MAX + 1], derived[EOC_ID_MAX + 1];
    if (eoc__msgid_parse(&st, spec, err, sizeof(err)) != EOC_OK)
        abort();
    rd_kafka_message_t m;
    memset(&m, 0, sizeof(m));
    m.payload = (void *)data;
    m.len = size;
    const char *id = NULL;
    size_t len = 0;
    eoc__id_status_t s = eoc__msgid_extract(&st, &m, buf, &id, &len);
    if (s == EOC__ID_FOUND) {
        if (len == 0 || len > EOC_ID_MAX || !id)
            abort();
        size_t n = eoc__id_derive(derived, id, len, "dlq", 3);
        if (n > EOC_ID_MAX || n < 4)
            abort();
    } else if (!eoc__msgid_status_text(s)) {
        abort();
    }
    eoc__msgid_clear(&st);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    id_of("json:id", data, size);
    id_of("json:a.id", data, size);

    eoc__json_val_t doc, v;
    if (eoc__json_value((const char *)data, size, &doc) == 0) {
        const char *end = (const char *)data + size;
        if (doc.raw < (const char *)data || doc.raw + doc.len > end)
            abort();
        int count;
        if (eoc__json_member(&doc, "id", 2, &v, &count) == 1 &&
            (v.raw < doc.raw || v.raw + v.len > doc.raw + doc.len || count < 1))
            abort();
        if (doc.type == EOC__JSON_STRING) {
            char out[256];
            size_t n;
            (void)eoc__json_string(&doc, out, sizeof(out), &n);
        }
        (void)eoc__json_is_integer(&doc);
    }

    /* quote and decode: the bytes come back */
    if (size <= 4096) {
        char *q = malloc(EOC__JSON_QUOTED_MAX(size)), *back = malloc(size + 1);
        size_t n = eoc__json_quote(q, data, size), m;
        eoc__json_val_t s;
        if (eoc__json_value(q, n, &s) != 0 || s.type != EOC__JSON_STRING || s.len != n ||
            eoc__json_string(&s, back, size, &m) != 0 || m != size || memcmp(back, data, size))
            abort();
        free(q);
        free(back);
    }
    (void)eoc__utf8_valid(data, size);
    return 0;
}
