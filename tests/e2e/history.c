/* history.c - see history.h. */
#include "history.h"

#include <eoc/eoc.h>

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* small helpers                                                       */
/* ------------------------------------------------------------------ */

static char *dup_n(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = 0;
    }
    return p;
}

/* Copies a NUL-terminated string; NULL stays NULL. *bad is set on OOM. */
static char *dup_opt(const char *s, int *bad)
{
    if (!s)
        return NULL;
    char *p = strdup(s);
    if (!p)
        *bad = 1;
    return p;
}

/* Grows an array of `size`-byte elements to hold one more. */
static int grow(void **v, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return 0;
    size_t c = *cap ? *cap * 2 : 256;
    void *p = realloc(*v, c * size);
    if (!p)
        return -1;
    *v = p;
    *cap = c;
    return 0;
}

uint64_t hist_digest(const void *p, size_t len)
{
    const unsigned char *b = p;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* ------------------------------------------------------------------ */
/* ledger payloads and message IDs                                     */
/* ------------------------------------------------------------------ */

void hist_ledger_clear(hist_ledger_t *l)
{
    free(l->id);
    free(l->account);
    memset(l, 0, sizeof(*l));
}

/* An integral JSON number that fits an int64 without rounding. */
static int json_int(const cJSON *n, int64_t *out)
{
    if (!cJSON_IsNumber(n))
        return 0;
    double d = n->valuedouble;
    if (d < -9007199254740992.0 || d > 9007199254740992.0 || d != (double)(int64_t)d)
        return 0;
    *out = (int64_t)d;
    return 1;
}

int hist_ledger_parse(const void *value, size_t len, int with_balance, hist_ledger_t *out)
{
    memset(out, 0, sizeof(*out));
    if (!value || !len)
        return 0;
    cJSON *doc = cJSON_ParseWithLength(value, len);
    if (!doc)
        return 0;
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(doc, "id");
    const cJSON *acct = cJSON_GetObjectItemCaseSensitive(doc, "account");
    const cJSON *amount = cJSON_GetObjectItemCaseSensitive(doc, "amount");
    const cJSON *balance = cJSON_GetObjectItemCaseSensitive(doc, "balance");
    int ok = cJSON_IsString(id) && *id->valuestring && cJSON_IsString(acct) && *acct->valuestring &&
             json_int(amount, &out->amount) && (!with_balance || json_int(balance, &out->balance));
    if (ok) {
        out->id = strdup(id->valuestring);
        out->account = strdup(acct->valuestring);
        ok = out->id && out->account;
    }
    cJSON_Delete(doc);
    if (!ok)
        hist_ledger_clear(out);
    out->ok = ok;
    return ok;
}

size_t hist_json_id(const char *path, const void *value, size_t len, char *buf)
{
    if (!value || !len)
        return 0;
    cJSON *doc = cJSON_ParseWithLength(value, len);
    const cJSON *node = doc;
    char name[256];
    while (node && *path) {
        const char *dot = strchr(path, '.');
        size_t n = dot ? (size_t)(dot - path) : strlen(path);
        if (n >= sizeof(name) || !cJSON_IsObject(node)) {
            node = NULL;
            break;
        }
        memcpy(name, path, n);
        name[n] = 0;
        node = cJSON_GetObjectItemCaseSensitive(node, name);
        path += n + (dot ? 1 : 0);
    }
    size_t n = 0;
    int64_t i;
    if (cJSON_IsString(node) && strlen(node->valuestring) <= EOC_ID_MAX) {
        n = strlen(node->valuestring);
        memcpy(buf, node->valuestring, n + 1);
    } else if (json_int(node, &i)) {
        n = (size_t)snprintf(buf, EOC_ID_MAX + 1, "%lld", (long long)i);
    }
    cJSON_Delete(doc);
    return n;
}

/* ------------------------------------------------------------------ */
/* the history                                                         */
/* ------------------------------------------------------------------ */

static int64_t *positions_new(int32_t n, int64_t init)
{
    int64_t *v = malloc((size_t)(n > 0 ? n : 1) * sizeof(*v));
    for (int32_t i = 0; v && i < n; i++)
        v[i] = init;
    return v;
}

hist_t *hist_new(const char *input_topic, int32_t input_parts)
{
    hist_t *h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    h->input_parts = input_parts;
    h->state_consistent = 1;
    h->input_topic = strdup(input_topic);
    h->in_low = positions_new(input_parts, 0);
    h->in_high = positions_new(input_parts, 0);
    h->lmdb_before = positions_new(input_parts, -1);
    h->lmdb_after = positions_new(input_parts, -1);
    h->kafka_committed = positions_new(input_parts, -1);
    if (!h->input_topic || !h->in_low || !h->in_high || !h->lmdb_before || !h->lmdb_after ||
        !h->kafka_committed) {
        hist_free(h);
        return NULL;
    }
    return h;
}

static void output_clear(hist_output_t *o)
{
    free(o->msg_id);
    free(o->src_topic);
    free(o->reason);
    free(o->src_id);
    hist_ledger_clear(&o->ledger);
}

void hist_free(hist_t *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->nin; i++) {
        free(h->in[i].id);
        hist_ledger_clear(&h->in[i].ledger);
    }
    for (size_t i = 0; i < h->nout; i++)
        output_clear(&h->out[i]);
    for (size_t i = 0; i < h->nstate; i++)
        free(h->state[i].name);
    free(h->in);
    free(h->out);
    free(h->state);
    free(h->input_topic);
    free(h->in_low);
    free(h->in_high);
    free(h->lmdb_before);
    free(h->lmdb_after);
    free(h->kafka_committed);
    free(h);
}

int hist_add_input(hist_t *h, int32_t partition, int64_t offset, const char *id, size_t id_len,
                   const void *value, size_t len, int ledger)
{
    if (partition < 0 || partition >= h->input_parts ||
        grow((void **)&h->in, &h->capin, h->nin, sizeof(*h->in)))
        return -1;
    hist_input_t *r = &h->in[h->nin];
    memset(r, 0, sizeof(*r));
    r->partition = partition;
    r->offset = offset;
    r->digest = hist_digest(value, value ? len : 0);
    if (id && !(r->id = dup_n(id, id_len)))
        return -1;
    if (ledger)
        hist_ledger_parse(value, len, 0, &r->ledger);
    h->nin++;
    return 0;
}

int hist_add_output(hist_t *h, const hist_msg_t *m, int ledger)
{
    if (grow((void **)&h->out, &h->capout, h->nout, sizeof(*h->out)))
        return -1;
    hist_output_t *o = &h->out[h->nout];
    memset(o, 0, sizeof(*o));
    int bad = 0;
    o->kind = m->kind;
    o->partition = m->partition;
    o->offset = m->offset;
    o->msg_id = dup_opt(m->msg_id, &bad);
    o->src_topic = dup_opt(m->src_topic, &bad);
    o->src_partition = m->src_partition;
    o->src_offset = m->src_offset;
    o->reason = dup_opt(m->reason, &bad);
    o->src_id = dup_opt(m->src_id, &bad);
    o->digest = hist_digest(m->value, m->value ? m->len : 0);
    if (ledger && m->kind != HIST_DLQ)
        hist_ledger_parse(m->value, m->len, 1, &o->ledger);
    if (bad) {
        output_clear(o);
        return -1;
    }
    h->nout++;
    return 0;
}

int hist_add_state(hist_t *h, const char *account, size_t len, int64_t value)
{
    for (size_t i = 0; i < h->nstate; i++) {
        if (strlen(h->state[i].name) == len && memcmp(h->state[i].name, account, len) == 0) {
            if (h->state[i].value != value)
                h->state_conflicts++;
            h->state[i].value = value;
            return 0;
        }
    }
    if (grow((void **)&h->state, &h->capstate, h->nstate, sizeof(*h->state)))
        return -1;
    if (!(h->state[h->nstate].name = dup_n(account, len)))
        return -1;
    h->state[h->nstate++].value = value;
    return 0;
}

void hist_clear_state(hist_t *h)
{
    for (size_t i = 0; i < h->nstate; i++)
        free(h->state[i].name);
    h->nstate = 0;
    h->state_conflicts = 0;
}

void hist_pos_max(int64_t *positions, int32_t nparts, int32_t partition, int64_t offset)
{
    if (partition >= 0 && partition < nparts && offset > positions[partition])
        positions[partition] = offset;
}

static int cmp_input(const void *a, const void *b)
{
    const hist_input_t *x = a, *y = b;
    if (x->partition != y->partition)
        return x->partition < y->partition ? -1 : 1;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static int cmp_output(const void *a, const void *b)
{
    const hist_output_t *x = a, *y = b;
    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    if (x->kind != HIST_PENDING && x->partition != y->partition)
        return x->partition < y->partition ? -1 : 1;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static int cmp_amount(const void *a, const void *b)
{
    return strcmp(((const hist_amount_t *)a)->name, ((const hist_amount_t *)b)->name);
}

void hist_finish(hist_t *h)
{
    if (h->nin)
        qsort(h->in, h->nin, sizeof(*h->in), cmp_input);
    if (h->nout)
        qsort(h->out, h->nout, sizeof(*h->out), cmp_output);
    if (h->nstate)
        qsort(h->state, h->nstate, sizeof(*h->state), cmp_amount);
}

/* First index in h->in at or after (p, offset). */
static size_t lower_bound(const hist_t *h, int32_t p, int64_t offset)
{
    size_t lo = 0, hi = h->nin;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const hist_input_t *r = &h->in[mid];
        if (r->partition < p || (r->partition == p && r->offset < offset))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

void hist_input_range(const hist_t *h, int32_t p, size_t *begin, size_t *end)
{
    *begin = lower_bound(h, p, INT64_MIN);
    *end = lower_bound(h, p + 1, INT64_MIN);
}

size_t hist_input_find(const hist_t *h, int32_t p, int64_t offset)
{
    size_t i = lower_bound(h, p, offset);
    return i < h->nin && h->in[i].partition == p && h->in[i].offset == offset ? i : SIZE_MAX;
}

int64_t hist_amount_get(const hist_amount_t *v, size_t n, const char *name, int *found)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(v[mid].name, name);
        if (c == 0) {
            *found = 1;
            return v[mid].value;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = 0;
    return 0;
}

/* ------------------------------------------------------------------ */
/* ground truth                                                        */
/* ------------------------------------------------------------------ */

int hist_expect_add_balance(hist_expect_t *x, const char *name, int64_t value)
{
    hist_amount_t *v = realloc(x->balances, (x->nbalances + 1) * sizeof(*v));
    if (!v)
        return -1;
    x->balances = v;
    if (!(v[x->nbalances].name = strdup(name)))
        return -1;
    v[x->nbalances++].value = value;
    return 0;
}

int hist_expect_add_malformed(hist_expect_t *x, const char *id)
{
    char **v = realloc(x->malformed_ids, (x->nmalformed_ids + 1) * sizeof(*v));
    if (!v)
        return -1;
    x->malformed_ids = v;
    if (!(v[x->nmalformed_ids] = strdup(id)))
        return -1;
    x->nmalformed_ids++;
    return 0;
}

void hist_expect_finish(hist_expect_t *x)
{
    if (x->nbalances)
        qsort(x->balances, x->nbalances, sizeof(*x->balances), cmp_amount);
}

void hist_expect_clear(hist_expect_t *x)
{
    for (size_t i = 0; i < x->nbalances; i++)
        free(x->balances[i].name);
    for (size_t i = 0; i < x->nmalformed_ids; i++)
        free(x->malformed_ids[i]);
    free(x->balances);
    free(x->malformed_ids);
    memset(x, 0, sizeof(*x));
}

/* Reads a whole file; NULL with errno set. Caller frees. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            char *p = realloc(buf, cap = cap ? cap * 2 : 65536);
            if (!p) {
                free(buf);
                fclose(f);
                errno = ENOMEM;
                return NULL;
            }
            buf = p;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        errno = EIO;
        return NULL;
    }
    *len = n;
    return buf;
}

static int expect_fail(char *errstr, size_t size, const char *path, const char *what)
{
    snprintf(errstr, size, "%s: %s", path, what);
    return -1;
}

static int expect_counts(const cJSON *doc, hist_expect_t *x)
{
    static const char *const names[] = {"unique", "duplicates", "malformed", "records"};
    int64_t *dst[] = {&x->unique, &x->duplicates, &x->malformed, &x->records};
    for (size_t i = 0; i < 4; i++)
        if (!json_int(cJSON_GetObjectItemCaseSensitive(doc, names[i]), dst[i]))
            return -1;
    return 0;
}

static int expect_lists(const cJSON *doc, hist_expect_t *x)
{
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(doc, "balances");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(doc, "malformed_ids");
    const cJSON *e;
    if (!cJSON_IsObject(b) || (m && !cJSON_IsArray(m)))
        return -1;
    cJSON_ArrayForEach(e, b)
    {
        int64_t v;
        if (!json_int(e, &v) || hist_expect_add_balance(x, e->string, v))
            return -1;
    }
    cJSON_ArrayForEach(e, m)
    {
        if (!cJSON_IsString(e) || hist_expect_add_malformed(x, e->valuestring))
            return -1;
    }
    return 0;
}

int hist_expect_load(const char *path, hist_expect_t *x, char *errstr, size_t errstr_size)
{
    memset(x, 0, sizeof(*x));
    size_t len;
    char *text = slurp(path, &len);
    if (!text)
        return expect_fail(errstr, errstr_size, path, strerror(errno));
    cJSON *doc = cJSON_ParseWithLength(text, len);
    free(text);
    if (!doc)
        return expect_fail(errstr, errstr_size, path, "not JSON");
    int rc = expect_counts(doc, x) || expect_lists(doc, x) ? -1 : 0;
    cJSON_Delete(doc);
    if (rc) {
        hist_expect_clear(x);
        return expect_fail(errstr, errstr_size, path,
                           "expected {unique, duplicates, malformed, records: integers, "
                           "balances: {name: integer}, malformed_ids: [string]}");
    }
    hist_expect_finish(x);
    return 0;
}

/* ------------------------------------------------------------------ */
/* string map                                                          */
/* ------------------------------------------------------------------ */

int hist_map_init(hist_map_t *m, size_t expected)
{
    size_t cap = 64;
    while (cap < expected * 2)
        cap *= 2;
    m->keys = calloc(cap, sizeof(*m->keys));
    m->vals = malloc(cap * sizeof(*m->vals));
    m->cap = cap;
    m->n = 0;
    if (!m->keys || !m->vals) {
        hist_map_free(m);
        return -1;
    }
    return 0;
}

void hist_map_free(hist_map_t *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof(*m));
}

static size_t slot(const hist_map_t *m, const char *key)
{
    size_t i = (size_t)hist_digest(key, strlen(key)) & (m->cap - 1);
    while (m->keys[i] && strcmp(m->keys[i], key) != 0)
        i = (i + 1) & (m->cap - 1);
    return i;
}

size_t hist_map_get(const hist_map_t *m, const char *key)
{
    if (!m->cap)
        return SIZE_MAX;
    size_t i = slot(m, key);
    return m->keys[i] ? m->vals[i] : SIZE_MAX;
}

static int rehash(hist_map_t *m)
{
    hist_map_t bigger;
    if (hist_map_init(&bigger, m->cap))
        return -1;
    for (size_t i = 0; i < m->cap; i++) {
        if (m->keys[i]) {
            size_t j = slot(&bigger, m->keys[i]);
            bigger.keys[j] = m->keys[i];
            bigger.vals[j] = m->vals[i];
            bigger.n++;
        }
    }
    hist_map_free(m);
    *m = bigger;
    return 0;
}

size_t hist_map_put(hist_map_t *m, const char *key, size_t val)
{
    if ((m->n + 1) * 2 > m->cap && rehash(m))
        return SIZE_MAX;
    size_t i = slot(m, key);
    if (m->keys[i])
        return m->vals[i];
    m->keys[i] = key;
    m->vals[i] = val;
    m->n++;
    return val;
}
