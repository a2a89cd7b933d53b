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
 * (1.5, 1e3, "10") or lies outside the int64 range. The amount is read from
 * the record's own text, not from cJSON's double, so every int64 is exact.
 *
 *     eoc-ledger --data DIR --balances
 *
 * prints "<account> <balance>" lines sorted by account (bytewise) from the
 * store, read-only and safe while a worker runs, and exits.
 */
#include "cli.h"

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

/* One parsed input record. Strings point into the cJSON document. */
typedef struct entry {
    const char *id; /* the record's message ID when the JSON has no "id" */
    size_t id_len;
    const char *account;
    size_t account_len;
    int64_t amount;
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
/* Raw member text                                                     */
/* ------------------------------------------------------------------ */

/* What cJSON skips as whitespace: every byte up to the space. */
static int is_ws(char c)
{
    return (unsigned char)c <= ' ';
}

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && is_ws(*p))
        p++;
    return p;
}

/* Past the string starting at the quote `p`. */
static const char *skip_string(const char *p, const char *end)
{
    for (p++; p < end && *p != '"'; p++) {
        if (*p == '\\')
            p++;
    }
    return p < end ? p + 1 : end;
}

/* Past the value starting at `p`: a string, an object or array, or a scalar. */
static const char *skip_value(const char *p, const char *end)
{
    int depth = 0;

    if (p < end && *p == '"')
        return skip_string(p, end);
    if (p < end && (*p == '{' || *p == '[')) {
        while (p < end) {
            if (*p == '"') {
                p = skip_string(p, end);
                continue;
            }
            if (*p == '{' || *p == '[')
                depth++;
            else if ((*p == '}' || *p == ']') && --depth == 0)
                return p + 1;
            p++;
        }
        return end;
    }
    while (p < end && *p != ',' && *p != '}' && *p != ']' && !is_ws(*p))
        p++; /* number, true, false, null */
    return p;
}

/*
 * The raw text of the `index`-th member value of the top-level object in
 * `doc`, which cJSON has already accepted as valid JSON (members in
 * document order, as cJSON keeps them). Returns 0 with *start and *len set,
 * or -1 when the text does not have that many members.
 */
static int member_raw(const char *doc, size_t doc_len, int index, const char **start, size_t *len)
{
    const char *end = doc + doc_len, *p = doc;

    if (doc_len >= 3 && memcmp(doc, "\xEF\xBB\xBF", 3) == 0)
        p += 3; /* a UTF-8 byte order mark, which cJSON skips too */
    p = skip_ws(p, end);
    if (p == end || *p != '{')
        return -1;
    p++;
    for (int i = 0;; i++) {
        p = skip_ws(p, end);
        if (p == end || *p != '"')
            return -1;
        p = skip_ws(skip_string(p, end), end); /* the name */
        if (p == end || *p != ':')
            return -1;
        p = skip_ws(p + 1, end);
        const char *v = p;
        p = skip_value(p, end);
        if (i == index) {
            *start = v;
            *len = (size_t)(p - v);
            return 0;
        }
        p = skip_ws(p, end);
        if (p == end || *p != ',')
            return -1;
        p++;
    }
}

/* ------------------------------------------------------------------ */
/* Parsing a record                                                    */
/* ------------------------------------------------------------------ */

/* The first member named `name` (NULL when absent), its position and how many have the name. */
static const cJSON *member(const cJSON *obj, const char *name, int *index, int *count)
{
    const cJSON *found = NULL;
    int i = 0;

    *count = 0;
    for (const cJSON *c = obj->child; c; c = c->next, i++) {
        if (c->string && strcmp(c->string, name) == 0) {
            if (!found) {
                found = c;
                *index = i;
            }
            (*count)++;
        }
    }
    return found;
}

/* "a string", "an object", ... for error texts. */
static const char *type_name(const cJSON *f)
{
    if (cJSON_IsString(f))
        return "a string";
    if (cJSON_IsBool(f))
        return "a boolean";
    if (cJSON_IsNull(f))
        return "null";
    if (cJSON_IsArray(f))
        return "an array";
    if (cJSON_IsObject(f))
        return "an object";
    return "a number";
}

/* Reads "amount" as an exact int64. EOC_HANDLER_OK or FAIL with the reason set. */
static eoc_result_t parse_amount(eoc_txn_t *txn, const cJSON *obj, const char *text, size_t len,
                                 int64_t *amount)
{
    int index = 0, count;
    const cJSON *f = member(obj, "amount", &index, &count);
    const char *raw;
    size_t raw_len;

    if (!f) {
        eoc_txn_set_error(txn, "field \"amount\" is missing");
        return EOC_HANDLER_FAIL;
    }
    if (count > 1) {
        eoc_txn_set_error(txn, "field \"amount\" appears %d times", count);
        return EOC_HANDLER_FAIL;
    }
    if (!cJSON_IsNumber(f)) {
        eoc_txn_set_error(txn, "field \"amount\" must be an integer, got %s", type_name(f));
        return EOC_HANDLER_FAIL;
    }
    if (member_raw(text, len, index, &raw, &raw_len) != 0) {
        eoc_txn_set_error(txn, "field \"amount\": cannot locate its text");
        return EOC_HANDLER_FAIL;
    }
    int rc = parse_int64(raw, raw_len, amount);
    if (rc == 0)
        return EOC_HANDLER_OK;
    eoc_txn_set_error(txn,
                      rc == ERANGE ? "field \"amount\" %.*s is outside the 64-bit integer range"
                                   : "field \"amount\" %.*s is not an integer",
                      (int)(raw_len > 40 ? 40 : raw_len), raw);
    return EOC_HANDLER_FAIL;
}

/* A string member: required ones must be present; all must be strings. */
static eoc_result_t parse_string(eoc_txn_t *txn, const cJSON *obj, const char *name, int required,
                                 const char **out, size_t *out_len)
{
    int index, count;
    const cJSON *f = member(obj, name, &index, &count);

    if (!f && !required)
        return EOC_HANDLER_OK;
    if (!f)
        eoc_txn_set_error(txn, "field \"%s\" is missing", name);
    else if (count > 1)
        eoc_txn_set_error(txn, "field \"%s\" appears %d times", name, count);
    else if (!cJSON_IsString(f))
        eoc_txn_set_error(txn, "field \"%s\" must be a string, got %s", name, type_name(f));
    if (!f || count > 1 || !cJSON_IsString(f))
        return EOC_HANDLER_FAIL;
    *out = f->valuestring;
    *out_len = strlen(f->valuestring);
    return EOC_HANDLER_OK;
}

/* Validates the document and fills *e. FAIL with the reason set on bad input. */
static eoc_result_t parse_entry(eoc_txn_t *txn, const cJSON *doc, const char *text, size_t len,
                                entry_t *e)
{
    eoc_result_t r;

    if (!cJSON_IsObject(doc)) {
        eoc_txn_set_error(txn, "value is not a JSON object");
        return EOC_HANDLER_FAIL;
    }
    if ((r = parse_string(txn, doc, "id", 0, &e->id, &e->id_len)) != EOC_HANDLER_OK ||
        (r = parse_string(txn, doc, "account", 1, &e->account, &e->account_len)) !=
            EOC_HANDLER_OK ||
        (r = parse_amount(txn, doc, text, len, &e->amount)) != EOC_HANDLER_OK)
        return r;
    if (e->account_len == 0) {
        eoc_txn_set_error(txn, "field \"account\" is empty");
        return EOC_HANDLER_FAIL;
    }
    if (e->account_len > ACCOUNT_MAX) {
        eoc_txn_set_error(txn, "field \"account\" is longer than %zu bytes", ACCOUNT_MAX);
        return EOC_HANDLER_FAIL;
    }
    return EOC_HANDLER_OK;
}

/* Parses the record's value; NULL (reason set) when it is not one JSON document. */
static cJSON *parse_json(eoc_txn_t *txn, const char *text, size_t len)
{
    const char *end = NULL;
    cJSON *doc = cJSON_ParseWithLengthOpts(text, len, &end, 0);

    if (doc && skip_ws(end, text + len) != text + len) {
        cJSON_Delete(doc);
        doc = NULL;
    }
    if (!doc)
        eoc_txn_set_error(txn, "value is not valid JSON");
    return doc;
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

/* Emits {"id", "account", "amount", "balance"} keyed by the account. */
static eoc_result_t emit_entry(eoc_txn_t *txn, const entry_t *e, int64_t balance)
{
    char amount[INT64_TEXT], bal[INT64_TEXT], id[EOC_ID_MAX + 1];
    cJSON *out = cJSON_CreateObject();
    char *text = NULL;

    snprintf(amount, sizeof(amount), "%" PRId64, e->amount);
    snprintf(bal, sizeof(bal), "%" PRId64, balance);
    snprintf(id, sizeof(id), "%.*s", (int)e->id_len, e->id);
    /* Raw members keep the integers exact (cJSON numbers are doubles). */
    if (out && cJSON_AddStringToObject(out, "id", id) &&
        cJSON_AddStringToObject(out, "account", e->account) &&
        cJSON_AddRawToObject(out, "amount", amount) && cJSON_AddRawToObject(out, "balance", bal))
        text = cJSON_PrintUnformatted(out);
    cJSON_Delete(out);
    if (!text) {
        eoc_txn_set_error(txn, "out of memory building the output");
        return EOC_HANDLER_RETRY;
    }
    eoc_msg_t msg = {.topic = NULL, /* output.topic */
                     .partition = EOC_PARTITION_ANY,
                     .key = e->account,
                     .key_len = e->account_len,
                     .value = text,
                     .value_len = strlen(text)};
    eoc_err_t err = eoc_emit(txn, &msg);
    cJSON_free(text);
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
    int key_len =
        snprintf(key, sizeof(key), BALANCE_PREFIX "%.*s", (int)e->account_len, e->account);
    int64_t balance;
    eoc_result_t r = balance_get(txn, key, (size_t)key_len, &balance);

    if (r != EOC_HANDLER_OK)
        return r;
    if (add_int64(balance, e->amount, &balance) != 0) {
        eoc_txn_set_error(txn, "balance overflow: account %s holds %" PRId64 ", amount %" PRId64,
                          e->account, balance, e->amount);
        return EOC_HANDLER_FAIL;
    }
    int len = snprintf(text, sizeof(text), "%" PRId64, balance);
    if (eoc_state_put(txn, key, (size_t)key_len, text, (size_t)len) != EOC_OK)
        return EOC_HANDLER_RETRY; /* the worker fails the batch on a store error */
    return emit_entry(txn, e, balance);
}

static eoc_result_t ledger_handle(eoc_txn_t *txn, const eoc_record_t *rec, void *opaque)
{
    size_t len;
    const char *text = eoc_record_value(rec, &len);
    entry_t e = {0};
    eoc_result_t r;
    cJSON *doc;

    (void)opaque;
    if (!text || !len) {
        eoc_txn_set_error(txn, "value is empty");
        return EOC_HANDLER_FAIL;
    }
    if (!(doc = parse_json(txn, text, len)))
        return EOC_HANDLER_FAIL;
    e.id = eoc_record_id(rec, &e.id_len);
    r = parse_entry(txn, doc, text, len, &e);
    if (r == EOC_HANDLER_OK)
        r = apply_entry(txn, &e);
    cJSON_Delete(doc);
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
