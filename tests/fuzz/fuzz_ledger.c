/*
 * fuzz_ledger - libFuzzer target: eoc-ledger's handler on any record value,
 * against a stand-in of the library (this file defines the few eoc_* and
 * cli_* functions ledger.c calls; no store, no Kafka).
 *
 * Checks, besides the sanitizers: every emitted output is one JSON object
 * of valid UTF-8 whose "account" decodes to exactly the output's key, and
 * a failure always has its reason.
 */
#define main ledger_main
#include "../../consumers/ledger/ledger.c"
#undef main

#include <stdarg.h>

struct eoc_txn {
    char error[512];
    int emits;
};
struct eoc_record {
    const void *value;
    size_t len;
};

void eoc_txn_set_error(eoc_txn_t *txn, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(txn->error, sizeof(txn->error), fmt, ap);
    va_end(ap);
}

const void *eoc_record_value(const eoc_record_t *rec, size_t *len)
{
    *len = rec->len;
    return rec->value;
}

const char *eoc_record_id(const eoc_record_t *rec, size_t *len)
{
    (void)rec;
    *len = 5;
    return "rec-0";
}

eoc_err_t eoc_state_get(eoc_txn_t *txn, const void *key, size_t key_len, const void **value,
                        size_t *len)
{
    (void)txn;
    if (key_len == 0 || key_len > EOC_ID_MAX || memcmp(key, BALANCE_PREFIX, BALANCE_PREFIX_LEN))
        abort();
    *value = "9223372036854775000"; /* near the top: overflows get exercised */
    *len = strlen(*value);
    return EOC_OK;
}

eoc_err_t eoc_state_put(eoc_txn_t *txn, const void *key, size_t key_len, const void *value,
                        size_t len)
{
    (void)txn;
    (void)value;
    if (key_len == 0 || key_len > EOC_ID_MAX || len == 0 || len > 20 ||
        memcmp(key, BALANCE_PREFIX, BALANCE_PREFIX_LEN))
        abort();
    return EOC_OK;
}

eoc_err_t eoc_emit(eoc_txn_t *txn, const eoc_msg_t *msg)
{
    eoc__json_val_t doc, acc;
    int count;
    char *decoded = malloc(msg->value_len + 1);
    size_t n;
    if (!decoded || !eoc__utf8_valid(msg->value, msg->value_len) ||
        eoc__json_value(msg->value, msg->value_len, &doc) != 0 ||
        doc.type != EOC__JSON_OBJECT || doc.len != msg->value_len ||
        eoc__json_member(&doc, "account", 7, &acc, &count) != 1 || count != 1 ||
        eoc__json_string(&acc, decoded, msg->value_len, &n) != 0 || n != msg->key_len ||
        memcmp(decoded, msg->key, n) != 0)
        abort();
    cJSON *c = cJSON_ParseWithLength(msg->value, msg->value_len);
    if (!c)
        abort();
    cJSON_Delete(c);
    free(decoded);
    txn->emits++;
    return EOC_OK;
}

/* Not reached from the handler. */
const char *eoc_conf_get(const eoc_conf_t *conf, const char *key)
{
    (void)conf;
    (void)key;
    abort();
}
void eoc_conf_destroy(eoc_conf_t *conf)
{
    (void)conf;
    abort();
}
eoc_store_t *eoc_store_open_readonly(const char *dir, char *errstr, size_t errstr_size)
{
    (void)dir;
    (void)errstr;
    (void)errstr_size;
    abort();
}
void eoc_store_close(eoc_store_t *s)
{
    (void)s;
    abort();
}
eoc_err_t eoc_store_state_foreach(eoc_store_t *s, const void *prefix, size_t prefix_len,
                                  int (*cb)(void *, const void *, size_t, const void *, size_t),
                                  void *opaque)
{
    (void)s;
    (void)prefix;
    (void)prefix_len;
    (void)cb;
    (void)opaque;
    abort();
}
const char *eoc_strerror(eoc_err_t err)
{
    (void)err;
    return "stub";
}
int cli_parse(const cli_spec_t *spec, int argc, char **argv, eoc_conf_t **confp)
{
    (void)spec;
    (void)argc;
    (void)argv;
    (void)confp;
    abort();
}
int cli_run(eoc_conf_t *conf, eoc_handler_fn handler, void *opaque)
{
    (void)conf;
    (void)handler;
    (void)opaque;
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    eoc_txn_t txn = {{0}, 0};
    eoc_record_t rec = {data, size};
    eoc_result_t r = ledger_handle(&txn, &rec, NULL);
    if (r == EOC_HANDLER_OK ? txn.emits != 1 : (txn.emits != 0 || !txn.error[0]))
        abort();
    return 0;
}
