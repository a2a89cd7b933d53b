/* codec.c - see codec.h. */
#include "codec.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

void eoc__buf_reset(eoc__buf_t *b)
{
    b->len = 0;
    b->oom = 0;
}

void eoc__buf_free(eoc__buf_t *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

int eoc__buf_grow(eoc__buf_t *b, size_t n)
{
    if (b->oom)
        return -1;
    if (b->len + n <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n)
        cap *= 2;
    unsigned char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = 1;
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

void eoc__buf_bytes(eoc__buf_t *b, const void *p, size_t n)
{
    eoc__buf_uv(b, p ? (uint64_t)n + 1 : 0);
    if (p)
        eoc__buf_put(b, p, n);
}

void eoc__rd_init(eoc__rd_t *r, const void *p, size_t n)
{
    r->p = p;
    r->end = r->p + n;
    r->bad = 0;
}

static const unsigned char *take(eoc__rd_t *r, size_t n)
{
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = 1;
        return NULL;
    }
    const unsigned char *p = r->p;
    r->p += n;
    return p;
}

uint32_t eoc__rd_u32(eoc__rd_t *r)
{
    const unsigned char *x = take(r, 4);
    if (!x)
        return 0;
    return (uint32_t)x[0] | (uint32_t)x[1] << 8 | (uint32_t)x[2] << 16 | (uint32_t)x[3] << 24;
}

uint64_t eoc__rd_u64(eoc__rd_t *r)
{
    uint64_t lo = eoc__rd_u32(r);
    return lo | (uint64_t)eoc__rd_u32(r) << 32;
}

uint64_t eoc__rd_uv_long(eoc__rd_t *r)
{
    uint64_t v = 0;
    for (unsigned shift = 0; !r->bad && r->p < r->end; shift += 7) {
        unsigned char c = *r->p++;
        if (shift == 63 && c > 1)
            break; /* more than 64 bits, or an 11th byte */
        v |= (uint64_t)(c & 0x7F) << shift;
        if (!(c & 0x80))
            return v;
    }
    r->bad = 1;
    return 0;
}

const void *eoc__rd_bytes_long(eoc__rd_t *r, size_t *n)
{
    uint64_t len = eoc__rd_uv(r);
    *n = 0;
    if (r->bad || len == 0)
        return NULL;
    if (len - 1 > (uint64_t)(r->end - r->p)) {
        r->bad = 1;
        return NULL;
    }
    const unsigned char *p = take(r, (size_t)(len - 1));
    if (p)
        *n = (size_t)(len - 1);
    return p;
}

size_t eoc__fmt_i64(char *out, int64_t v)
{
    char tmp[20];
    size_t n = 0, len = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        out[len++] = '-';
    while (n)
        out[len++] = tmp[--n];
    return len;
}

void eoc__be32_put(unsigned char out[4], uint32_t v)
{
    for (int i = 3; i >= 0; i--, v >>= 8)
        out[i] = (unsigned char)v;
}

uint32_t eoc__be32_get(const unsigned char in[4])
{
    return (uint32_t)in[0] << 24 | (uint32_t)in[1] << 16 | (uint32_t)in[2] << 8 | in[3];
}

/* Partitions may be -1 (unassigned): stored plus one. */
static void put_partition(eoc__buf_t *b, int32_t p)
{
    eoc__buf_uv(b, (uint64_t)((int64_t)p + 1));
}

static int32_t rd_partition(eoc__rd_t *r)
{
    uint64_t v = eoc__rd_uv(r);
    if (v > (uint64_t)INT32_MAX + 1)
        r->bad = 1;
    return (int32_t)((int64_t)v - 1);
}

void eoc__outrow_encode(eoc__buf_t *b, const eoc__outrow_t *row)
{
    eoc__buf_uv(b, (uint64_t)row->created_ms);
    put_partition(b, row->partition);
    eoc__buf_bytes(b, row->id, row->id_len);
    eoc__buf_bytes(b, row->topic, row->topic_len);
    eoc__buf_bytes(b, row->key, row->key_len);
    eoc__buf_bytes(b, row->value, row->value_len);
    eoc__buf_uv(b, row->header_count);
    for (size_t i = 0; i < row->header_count; i++) {
        const eoc_header_t *h = &row->headers[i];
        eoc__buf_bytes(b, h->name, strlen(h->name));
        eoc__buf_bytes(b, h->value, h->len);
    }
    /* Provenance: an encoded NULL topic when there is none. */
    eoc__buf_bytes(b, row->src_topic, row->src_topic ? row->src_topic_len : 0);
    put_partition(b, row->src_partition);
    eoc__buf_uv(b, (uint64_t)row->src_offset);
    /* Optional trailer: rows without a timestamp stay as schema 3 wrote them. */
    if (row->timestamp > 0)
        eoc__buf_uv(b, (uint64_t)row->timestamp);
}

int eoc__outrow_decode(const void *val, size_t len, eoc__outrow_t *row, eoc__buf_t *scratch)
{
    eoc__rd_t r;
    eoc__rd_init(&r, val, len);
    memset(row, 0, sizeof(*row));
    row->created_ms = (int64_t)eoc__rd_uv(&r);
    row->partition = rd_partition(&r);
    row->id = eoc__rd_bytes(&r, &row->id_len);
    row->topic = eoc__rd_bytes(&r, &row->topic_len);
    row->key = eoc__rd_bytes(&r, &row->key_len);
    row->value = eoc__rd_bytes(&r, &row->value_len);
    uint64_t count = eoc__rd_uv(&r);
    if (r.bad || !row->id || !row->topic || count > (size_t)(r.end - r.p) / 2)
        return -1; /* a header takes two bytes at least */
    size_t nh = (size_t)count;

    /* Scratch layout: the header array (room for the provenance header),
     * then the NUL-terminated names and the provenance text. Until the end
     * a header's name holds its name's offset in scratch, which may move. */
    eoc__buf_reset(scratch);
    size_t arr = (nh + 1) * sizeof(eoc_header_t);
    if (eoc__buf_grow(scratch, arr) != 0)
        return -1;
    scratch->len = arr;
    for (size_t i = 0; i < nh; i++) {
        size_t nlen, vlen;
        const void *name = eoc__rd_bytes(&r, &nlen);
        const void *v = eoc__rd_bytes(&r, &vlen);
        if (r.bad || !name)
            return -1; /* a NULL name is malformed too */
        size_t at = scratch->len;
        eoc__buf_put(scratch, name, nlen);
        eoc__buf_put(scratch, "", 1);
        eoc_header_t *h = (eoc_header_t *)(void *)scratch->p + i;
        h->name = (const char *)(uintptr_t)at;
        h->value = v;
        h->len = vlen;
    }
    size_t tlen, src_at = 0, src_len = 0;
    const char *topic = eoc__rd_bytes(&r, &tlen);
    int32_t part = rd_partition(&r);
    int64_t off = (int64_t)eoc__rd_uv(&r);
    if (!r.bad && r.p != r.end)
        row->timestamp = (int64_t)eoc__rd_uv(&r);
    if (r.bad || r.p != r.end || row->timestamp < 0)
        return -1;
    if (topic) {
        char tmp[48];
        size_t n = 0;
        tmp[n++] = '/';
        n += eoc__fmt_i64(tmp + n, part);
        tmp[n++] = '/';
        n += eoc__fmt_i64(tmp + n, off);
        src_at = scratch->len;
        eoc__buf_put(scratch, topic, tlen);
        eoc__buf_put(scratch, tmp, n);
        src_len = tlen + n;
        row->src_topic = topic;
        row->src_topic_len = tlen;
        row->src_partition = part;
        row->src_offset = off;
    }
    if (scratch->oom)
        return -1;
    eoc_header_t *hs = (eoc_header_t *)(void *)scratch->p;
    for (size_t i = 0; i < nh; i++)
        hs[i].name = (const char *)scratch->p + (uintptr_t)hs[i].name;
    if (topic)
        hs[nh++] = (eoc_header_t){EOC_HEADER_SOURCE, (const char *)scratch->p + src_at, src_len};
    row->headers = nh ? hs : NULL;
    row->header_count = nh;
    return 0;
}

/* Strict decimal in [0, max] of p[0..n); -1 otherwise. */
static int64_t source_num(const char *p, size_t n, int64_t max)
{
    if (n == 0 || n > 19)
        return -1;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9' || v > (max - (p[i] - '0')) / 10)
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

int eoc_source_parse(const void *value, size_t len, char *topic, size_t topic_size,
                     int32_t *partition, int64_t *offset)
{
    const char *s = value, *o = NULL, *p = NULL;
    if (!s)
        return -1;
    for (size_t i = len; i-- > 0 && !p;)
        if (s[i] == '/')
            *(o ? &p : &o) = s + i;
    if (!p || p == s || (size_t)(p - s) >= topic_size)
        return -1;
    int64_t part = source_num(p + 1, (size_t)(o - p - 1), INT32_MAX);
    int64_t off = source_num(o + 1, (size_t)(s + len - o - 1), INT64_MAX);
    if (part < 0 || off < 0)
        return -1;
    memcpy(topic, s, (size_t)(p - s));
    topic[p - s] = 0;
    *partition = (int32_t)part;
    *offset = off;
    return 0;
}

/* ---- small fixed-size values */

void eoc__le_encode(unsigned char *out, size_t n, uint64_t v)
{
    for (size_t i = 0; i < n; i++)
        out[i] = (unsigned char)(v >> (8 * i));
}

int eoc__le_decode(const void *val, size_t len, size_t n, uint64_t *v)
{
    const unsigned char *p = val;
    *v = 0;
    if (len < n)
        return -1;
    for (size_t i = 0; i < n; i++)
        *v |= (uint64_t)p[i] << (8 * i);
    return 0;
}

/* ---- offsets rows */

size_t eoc__tp_key(unsigned char *buf, size_t cap, const char *topic, int32_t partition)
{
    size_t n = strlen(topic);
    if (n + 5 > cap)
        n = cap - 5;
    memcpy(buf, topic, n);
    buf[n] = 0;
    eoc__be32_put(buf + n + 1, (uint32_t)partition);
    return n + 5;
}

int eoc__tp_key_decode(const void *key, size_t len, char *topic, size_t cap, int32_t *partition)
{
    if (len < 6 || len - 5 >= cap)
        return -1;
    size_t n = len - 5;
    memcpy(topic, key, n);
    topic[n] = 0;
    *partition = (int32_t)eoc__be32_get((const unsigned char *)key + n + 1);
    return 0;
}

void eoc__offset_encode(eoc__buf_t *b, int64_t next_offset, uint32_t tp_id)
{
    eoc__buf_u64(b, (uint64_t)next_offset);
    eoc__buf_u32(b, tp_id);
}

int eoc__offset_decode(const void *val, size_t len, int64_t *next_offset, uint32_t *tp_id)
{
    eoc__rd_t r;
    eoc__rd_init(&r, val, len);
    *next_offset = (int64_t)eoc__rd_u64(&r);
    uint32_t id = eoc__rd_u32(&r);
    if (tp_id)
        *tp_id = id;
    return r.bad ? -1 : 0;
}

/* ---- inbox rows */

void eoc__inrow_encode(eoc__buf_t *b, const eoc__inrow_t *row)
{
    eoc__buf_uv(b, (uint64_t)row->disposition);
    eoc__buf_uv(b, row->tp_id);
    eoc__buf_uv(b, (uint64_t)row->offset);
    eoc__buf_uv(b, (uint64_t)row->time_ms);
    eoc__buf_u64(b, row->digest);
    eoc__buf_bytes(b, row->id, row->id_len);
}

int eoc__inrow_decode(const void *val, size_t len, eoc__inrow_t *row)
{
    eoc__rd_t r;
    eoc__rd_init(&r, val, len);
    uint64_t disp = eoc__rd_uv(&r), tp = eoc__rd_uv(&r);
    row->offset = (int64_t)eoc__rd_uv(&r);
    row->time_ms = (int64_t)eoc__rd_uv(&r);
    row->digest = eoc__rd_u64(&r);
    row->id = eoc__rd_bytes(&r, &row->id_len);
    row->disposition = (int)disp;
    row->tp_id = (uint32_t)tp;
    return r.bad || !row->id || disp > INT_MAX || tp > UINT32_MAX ? -1 : 0;
}

/* ---- the inbox position index */

void eoc__pos_key(unsigned char out[EOC__POS_KEY_LEN], uint32_t tp_id, int64_t offset)
{
    eoc__be32_put(out, tp_id);
    eoc__be64_put(out + 4, (uint64_t)offset);
}

void eoc__pos_key_decode(const unsigned char in[EOC__POS_KEY_LEN], uint32_t *tp_id, int64_t *offset)
{
    *tp_id = eoc__be32_get(in);
    *offset = (int64_t)eoc__be64_get(in + 4);
}

void eoc__pos_val(unsigned char out[EOC__POS_VAL_LEN], uint64_t seq, int64_t time_ms)
{
    eoc__be64_put(out, seq);
    eoc__be64_put(out + 8, (uint64_t)time_ms);
}

void eoc__pos_val_decode(const unsigned char in[EOC__POS_VAL_LEN], uint64_t *seq, int64_t *time_ms)
{
    *seq = eoc__be64_get(in);
    *time_ms = (int64_t)eoc__be64_get(in + 8);
}

void eoc__outseg_begin(eoc__buf_t *b)
{
    static const unsigned char zero[EOC__OUTSEG_HEAD];
    eoc__buf_reset(b);
    eoc__buf_put(b, zero, sizeof(zero));
}

void eoc__outseg_add(eoc__buf_t *b, uint64_t delta, const void *row, size_t len)
{
    eoc__buf_uv(b, delta);
    eoc__buf_bytes(b, row, len);
}

void eoc__outseg_finish(eoc__buf_t *b, uint32_t count, uint64_t last)
{
    if (b->len < EOC__OUTSEG_HEAD)
        return; /* out of memory at _begin: b->oom is set */
    eoc__le_encode(b->p, 4, count);
    eoc__le_encode(b->p + 4, 8, last);
}

void eoc__outseg_single(eoc__buf_t *b, uint64_t seq, const void *row, size_t len)
{
    eoc__outseg_begin(b);
    eoc__outseg_add(b, 0, row, len);
    eoc__outseg_finish(b, 1, seq);
}

int eoc__outseg_open(eoc__outseg_rd_t *it, uint64_t key, const void *val, size_t len,
                     uint32_t *count, uint64_t *last)
{
    eoc__rd_init(&it->rd, val, len);
    it->key = key;
    it->left = eoc__rd_u32(&it->rd);
    uint64_t l = eoc__rd_u64(&it->rd);
    if (it->rd.bad || l < key)
        return -1;
    if (count)
        *count = it->left;
    if (last)
        *last = l;
    return 0;
}

int eoc__outseg_next(eoc__outseg_rd_t *it, uint64_t *seq, const void **row, size_t *len)
{
    if (!it->left)
        return it->rd.p == it->rd.end ? 0 : -1;
    uint64_t delta = eoc__rd_uv(&it->rd);
    *row = eoc__rd_bytes(&it->rd, len);
    if (it->rd.bad || !*row || delta > UINT64_MAX - it->key)
        return -1;
    *seq = it->key + delta;
    it->left--;
    return 1;
}
