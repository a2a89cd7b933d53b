/*
 * eoc-ledger - account balances, exactly once.
 *
 * Input records are JSON objects
 *
 *     {"id": "<string>", "account": "<string>", "amount": <integer>}
 *
 * deduplicated by their `id` field (--id json:id unless told otherwise).
 * For each new record the balance of `account` grows by `amount` and
 * {"id", "account", "amount", "balance": <new balance>} is emitted to the
 * output topic, keyed by the account. The balance, the output and the
 * consumed offset commit in one LMDB transaction.
 *
 * Balances are signed 64-bit integers kept in the worker's state under the
 * key "balance/<account>" as decimal ASCII text (no sign for positive
 * values, no padding), so `eoc state DIR balance/` shows them as they are.
 * A sum leaving the int64 range is a handler failure ("balance overflow"),
 * never a wraparound.
 *
 * Bad input is dead-lettered with a precise reason and the partition goes
 * on: not JSON or trailing garbage, not an object, a missing or wrongly
 * typed field, an empty account, an amount that is not an integer literal
 * (1.5, 1e3, "10") or lies outside the int64 range, an "id" or "account"
 * that is not valid UTF-8 (they are written back into the output's JSON).
 * Fields are read from the record's own text (lib/util/jsontext), not from
 * cJSON's values: the amount is exact for every int64, and strings keep
 * their length, so "alice\u0000mallory" is an account of its own (shown as
 * alice\x00mallory by --balances), never alice's.
 *
 *     eoc-ledger --data DIR --balances
 *
 * prints "<account> <balance>" lines sorted by account (bytewise) from the
 * store, read-only and safe while a worker runs, and exits.
 */
#include "cli.h"
#include "jsontext.h"

#include <eoc/eoc.h>

#include <cjson/cJSON.h>

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BALANCE_PREFIX     "balance/"
#define BALANCE_PREFIX_LEN (sizeof(BALANCE_PREFIX) - 1)
#define ACCOUNT_MAX        (EOC_ID_MAX - BALANCE_PREFIX_LEN) /* state keys are <= 511 bytes */
#define INT64_TEXT         24 /* "-9223372036854775808" and a NUL, rounded up */

/* One parsed input record. Strings are bytes with a length. */
typedef struct entry {
    const char *id; /* id_buf, or the record's message ID when the JSON has no "id" */
    size_t id_len;
    const char *account; /* account_buf */
    size_t account_len;
    int64_t amount;
    char *id_buf, *account_buf; /* decoded, owned */
} entry_t;

/* ------------------------------------------------------------------ */
/* Strict integers                                                     */
/* ------------------------------------------------------------------ */

/*
 * Parses `len` bytes as a JSON integer literal: -?(0|[1-9][0-9]*), nothing
 * else. Returns 0, EINVAL (not an integer literal) or ERANGE (outside int64).
 */
static int parse_int64(const char *s, size_t len, int64_t *out)
{
    char buf[INT64_TEXT + 8];
    size_t i = (len > 0 && s[0] == '-') ? 1 : 0;

    if (i == len || (s[i] == '0' && len > i + 1))
        return EINVAL;
    for (size_t j = i; j < len; j++) {
        if (!isdigit((unsigned char)s[j]))
            return EINVAL;
    }
    if (len >= sizeof(buf))
        return ERANGE; /* too many digits for any int64 */
    memcpy(buf, s, len);
    buf[len] = '\0';
    errno = 0;
    long long v = strtoll(buf, NULL, 10);
    if (errno == ERANGE)
        return ERANGE;
    *out = (int64_t)v;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Parsing a record                                                    */
/* ------------------------------------------------------------------ */

/*
 * cJSON decides whether the value is one JSON document; the fields are then
 * read from the document's own text (jsontext): strings with their length
 * (a "\u0000" inside is part of the string, never its end), the amount as
 * written. Member names are compared decoded and whole.
 */

/* The member `name` of the top-level object: FAIL (reason set) when it is
 * repeated or (required) missing; *found says whether it is there. */
static eoc_result_t field(eoc_txn_t *txn, const eoc__json_val_t *obj, const char *name,
                          int required, eoc__json_val_t *v, int *found)
{
    int count;
    int rc = eoc__json_member(obj, name, strlen(name), v, &count);

    *found = rc == 1;
    if (rc < 0) {
        eoc_txn_set_error(txn, "value is not valid JSON");
        return EOC_HANDLER_FAIL;
    }
    if (count > 1) {
        eoc_txn_set_error(txn, "field \"%s\" appears %d times", name, count);
        return EOC_HANDLER_FAIL;
    }
    if (!*found && required) {
        eoc_txn_set_error(txn, "field \"%s\" is missing", name);
        return EOC_HANDLER_FAIL;
    }
    return EOC_HANDLER_OK;
}

/* Reads "amount" as an exact int64 from its text. OK or FAIL with the reason set. */
static eoc_result_t parse_amount(eoc_txn_t *txn, const eoc__json_val_t *obj, int64_t *amount)
{
    eoc__json_val_t v;
    int found;
    eoc_result_t r = field(txn, obj, "amount", 1, &v, &found);

    if (r != EOC_HANDLER_OK)
        return r;
    if (v.type != EOC__JSON_NUMBER) {
        eoc_txn_set_error(txn, "field \"amount\" must be an integer, got %s",
                          eoc__json_type_name(v.type));
        return EOC_HANDLER_FAIL;
    }
    int rc = parse_int64(v.raw, v.len, amount);
    if (rc == 0)
        return EOC_HANDLER_OK;
    eoc_txn_set_error(txn,
                      rc == ERANGE ? "field \"amount\" %.*s is outside the 64-bit integer range"
                                   : "field \"amount\" %.*s is not an integer",
                      (int)(v.len > 40 ? 40 : v.len), v.raw);
    return EOC_HANDLER_FAIL;
}

/* A string member, decoded into *out (malloc'd, the caller frees) with its
 * length. Required ones must be present; all must be strings of UTF-8
 * (they are written back into the output's JSON). */
static eoc_result_t parse_string(eoc_txn_t *txn, const eoc__json_val_t *obj, const char *name,
                                 int required, char **out, size_t *out_len)
{
    eoc__json_val_t v;
    int found;
    eoc_result_t r = field(txn, obj, name, required, &v, &found);

    if (r != EOC_HANDLER_OK || !found)
        return r;
    if (v.type != EOC__JSON_STRING) {
        eoc_txn_set_error(txn, "field \"%s\" must be a string, got %s", name,
                          eoc__json_type_name(v.type));
        return EOC_HANDLER_FAIL;
    }
    if (!(*out = malloc(v.len ? v.len : 1))) { /* decoding never lengthens */
        eoc_txn_set_error(txn, "out of memory reading field \"%s\"", name);
        return EOC_HANDLER_RETRY;
    }
    if (eoc__json_string(&v, *out, v.len, out_len) != 0) {
        eoc_txn_set_error(txn, "field \"%s\" is not a valid JSON string", name);
        return EOC_HANDLER_FAIL;
    }
    if (!eoc__utf8_valid(*out, *out_len)) {
        eoc_txn_set_error(txn, "field \"%s\" is not valid UTF-8", name);
        return EOC_HANDLER_FAIL;
    }
    return EOC_HANDLER_OK;
}

/* Validates the document and fills *e. FAIL with the reason set on bad input. */
static eoc_result_t parse_entry(eoc_txn_t *txn, const char *text, size_t len, entry_t *e)
{
    eoc__json_val_t obj;
    eoc_result_t r;

    if (eoc__json_value(text, len, &obj) != 0 || obj.type != EOC__JSON_OBJECT) {
        eoc_txn_set_error(txn, "value is not a JSON object");
        return EOC_HANDLER_FAIL;
    }
    if ((r = parse_string(txn, &obj, "id", 0, &e->id_buf, &e->id_len)) != EOC_HANDLER_OK ||
        (r = parse_string(txn, &obj, "account", 1, &e->account_buf, &e->account_len)) !=
            EOC_HANDLER_OK ||
        (r = parse_amount(txn, &obj, &e->amount)) != EOC_HANDLER_OK)
        return r;
    if (e->id_buf)
        e->id = e->id_buf;
    e->account = e->account_buf;
    if (e->account_len == 0) {
        eoc_txn_set_error(txn, "field \"account\" is empty");
        return EOC_HANDLER_FAIL;
    }
    if (e->account_len > ACCOUNT_MAX) {
        eoc_txn_set_error(txn, "field \"account\" is longer than %zu bytes", ACCOUNT_MAX);
        return EOC_HANDLER_FAIL;
    }
    if (!eoc__utf8_valid(e->id, e->id_len)) {
        eoc_txn_set_error(txn, "the message ID is not valid UTF-8 (the output's \"id\" is JSON)");
        return EOC_HANDLER_FAIL;
    }
    return EOC_HANDLER_OK;
}

/* 0 when the record's value is one JSON document (whitespace around it);
 * -1 with the reason set. */
static int check_json(eoc_txn_t *txn, const char *text, size_t len)
{
    const char *end = NULL;
    cJSON *doc = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    int ok = doc != NULL;

    if (ok) {
        while (end < text + len && (unsigned char)*end <= ' ')
            end++;
        ok = end == text + len;
    }
    cJSON_Delete(doc);
    if (!ok)
        eoc_txn_set_error(txn, "value is not valid JSON");
    return ok ? 0 : -1;
}

/* ------------------------------------------------------------------ */
/* The balance                                                         */
/* ------------------------------------------------------------------ */

/* Reads the balance of `key` (0 when absent). FAIL on a corrupt value. */
static eoc_result_t balance_get(eoc_txn_t *txn, const char *key, size_t key_len, int64_t *balance)
{
    const void *v;
    size_t len;
    eoc_err_t err = eoc_state_get(txn, key, key_len, &v, &len);

    *balance = 0;
    if (err == EOC_ERR_NOT_FOUND)
        return EOC_HANDLER_OK;
    if (err != EOC_OK)
        return EOC_HANDLER_RETRY; /* the worker fails the batch on a store error */
    if (parse_int64(v, len, balance) != 0) {
        eoc_txn_set_error(txn, "stored balance of %.*s is not a decimal int64", (int)key_len, key);
        return EOC_HANDLER_FAIL;
    }
    return EOC_HANDLER_OK;
}

/* `a + b` into *sum, or -1 when it leaves the int64 range. */
static int add_int64(int64_t a, int64_t b, int64_t *sum)
{
    if ((b > 0 && a > INT64_MAX - b) || (b < 0 && a < INT64_MIN - b))
        return -1;
    *sum = a + b;
    return 0;
}

/* Emits {"id", "account", "amount", "balance"} keyed by the account, written
 * as cJSON_PrintUnformatted would, but with the strings' lengths ("\u0000"
 * stays in) and the integers exact. */
static eoc_result_t emit_entry(eoc_txn_t *txn, const entry_t *e, int64_t balance)
{
    size_t cap = EOC__JSON_QUOTED_MAX(e->id_len) + EOC__JSON_QUOTED_MAX(e->account_len) + 96;
    char *text = malloc(cap);

    if (!text) {
        eoc_txn_set_error(txn, "out of memory building the output");
        return EOC_HANDLER_RETRY;
    }
    size_t n = (size_t)snprintf(text, cap, "{\"id\":");
    n += eoc__json_quote(text + n, e->id, e->id_len);
    n += (size_t)snprintf(text + n, cap - n, ",\"account\":");
    n += eoc__json_quote(text + n, e->account, e->account_len);
    n += (size_t)snprintf(text + n, cap - n, ",\"amount\":%" PRId64 ",\"balance\":%" PRId64 "}",
                          e->amount, balance);
    eoc_msg_t msg = {.topic = NULL, /* output.topic */
                     .partition = EOC_PARTITION_ANY,
                     .key = e->account,
                     .key_len = e->account_len,
                     .value = text,
                     .value_len = n};
    eoc_err_t err = eoc_emit(txn, &msg);
    free(text);
    if (err == EOC_OK)
        return EOC_HANDLER_OK;
    if (err == EOC_ERR_TOO_LARGE || err == EOC_ERR_INVALID_ARG)
        return EOC_HANDLER_FAIL; /* eoc_emit has set the reason */
    return EOC_HANDLER_RETRY;    /* a store error: the worker fails the batch */
}

/* Applies a valid entry: balance += amount, then the output. */
static eoc_result_t apply_entry(eoc_txn_t *txn, const entry_t *e)
{
    char key[EOC_ID_MAX + 1], text[INT64_TEXT];
    size_t key_len = BALANCE_PREFIX_LEN + e->account_len; /* account: <= ACCOUNT_MAX bytes */
    int64_t balance;

    memcpy(key, BALANCE_PREFIX, BALANCE_PREFIX_LEN);
    memcpy(key + BALANCE_PREFIX_LEN, e->account, e->account_len);
    eoc_result_t r = balance_get(txn, key, key_len, &balance);

    if (r != EOC_HANDLER_OK)
        return r;
    if (add_int64(balance, e->amount, &balance) != 0) {
        eoc_txn_set_error(txn, "balance overflow: account %.*s holds %" PRId64 ", amount %" PRId64,
                          (int)e->account_len, e->account, balance, e->amount);
        return EOC_HANDLER_FAIL;
    }
    int len = snprintf(text, sizeof(text), "%" PRId64, balance);
    if (eoc_state_put(txn, key, key_len, text, (size_t)len) != EOC_OK)
        return EOC_HANDLER_RETRY; /* the worker fails the batch on a store error */
    return emit_entry(txn, e, balance);
}

static eoc_result_t ledger_handle(eoc_txn_t *txn, const eoc_record_t *rec, void *opaque)
{
    size_t len;
    const char *text = eoc_record_value(rec, &len);
    entry_t e = {0};
    eoc_result_t r;

    (void)opaque;
    if (!text || !len) {
        eoc_txn_set_error(txn, "value is empty");
        return EOC_HANDLER_FAIL;
    }
    if (check_json(txn, text, len) != 0)
        return EOC_HANDLER_FAIL;
    e.id = eoc_record_id(rec, &e.id_len);
    r = parse_entry(txn, text, len, &e);
    if (r == EOC_HANDLER_OK)
        r = apply_entry(txn, &e);
    free(e.id_buf);
    free(e.account_buf);
    return r;
}

/* ------------------------------------------------------------------ */
/* --balances                                                          */
/* ------------------------------------------------------------------ */

/* Writes bytes, escaping what would break a "<account> <balance>" line. */
static void print_escaped(const unsigned char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (s[i] < 0x20 || s[i] == 0x7f || s[i] == '\\')
            printf("\\x%02x", s[i]);
        else
            putchar(s[i]);
    }
}

static int print_balance(void *opaque, const void *key, size_t key_len, const void *value,
                         size_t len)
{
    (void)opaque;
    print_escaped((const unsigned char *)key + BALANCE_PREFIX_LEN, key_len - BALANCE_PREFIX_LEN);
    printf(" %.*s\n", (int)len, (const char *)value);
    return 0;
}

static int print_balances(const eoc_conf_t *conf)
{
    const char *dir = eoc_conf_get(conf, "data.dir");
    char err[512];
    eoc_store_t *s;

    if (!dir || !*dir) {
        fprintf(stderr, "%s: --balances needs --data DIR\n", program_invocation_short_name);
        return CLI_EXIT_USAGE;
    }
    if (!(s = eoc_store_open_readonly(dir, err, sizeof(err)))) {
        fprintf(stderr, "%s: %s\n", program_invocation_short_name, err);
        return CLI_EXIT_FATAL;
    }
    eoc_err_t rc =
        eoc_store_state_foreach(s, BALANCE_PREFIX, BALANCE_PREFIX_LEN, print_balance, NULL);
    eoc_store_close(s);
    if (rc != EOC_OK || fflush(stdout) != 0) {
        fprintf(stderr, "%s: reading balances: %s\n", program_invocation_short_name,
                rc != EOC_OK ? eoc_strerror(rc) : strerror(errno));
        return CLI_EXIT_FATAL;
    }
    return CLI_EXIT_OK;
}

int main(int argc, char **argv)
{
    int balances = 0;
    const cli_opt_t opts[] = {
        {.name = "balances",
         .on = &balances,
         .doc = "print \"<account> <balance>\" lines from --data DIR and exit"},
    };
    static const cli_default_t defaults[] = {{"id.strategy", "json:id"},
                                             {"group.id", "eoc-ledger"}};
    const cli_spec_t spec = {
        .summary = "Account balances from JSON entries, applied exactly once.",
        .description =
            "Input: {\"id\": \"<string>\", \"account\": \"<string>\", \"amount\": <int64>}.\n"
            "Output (keyed by account): the entry with \"balance\": <new balance>.\n"
            "Bad entries and balance overflows are dead-lettered with the reason.",
        .opts = opts,
        .nopts = sizeof(opts) / sizeof(opts[0]),
        .defaults = defaults,
        .ndefaults = sizeof(defaults) / sizeof(defaults[0]),
    };
    eoc_conf_t *conf;
    int rc = cli_parse(&spec, argc, argv, &conf);

    if (rc != CLI_CONTINUE)
        return rc;
    if (balances) {
        rc = print_balances(conf);
        eoc_conf_destroy(conf);
        return rc;
    }
    return cli_run(conf, ledger_handle, NULL);
}
