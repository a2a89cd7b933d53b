/* codec.c - see codec.h. */
#include "codec.h"

#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#define NULL_LEN 0xFFFFFFFFu

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
    if (!p) {
        eoc__buf_u32(b, NULL_LEN);
        return;
    }
    eoc__buf_u32(b, (uint32_t)n);
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

const void *eoc__rd_bytes(eoc__rd_t *r, size_t *n)
{
    uint32_t len = eoc__rd_u32(r);
    *n = 0;
    if (r->bad || len == NULL_LEN)
        return NULL;
    const unsigned char *p = take(r, len);
    if (p)
        *n = len;
    return p;
}

void eoc__be64_put(unsigned char out[8], uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        out[i] = (unsigned char)v;
}

uint64_t eoc__be64_get(const unsigned char in[8])
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | in[i];
    return v;
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

void eoc__outrow_encode(eoc__buf_t *b, const eoc__outrow_t *row)
{
    eoc__buf_u64(b, (uint64_t)row->created_ms);
    eoc__buf_u32(b, (uint32_t)row->partition);
    eoc__buf_bytes(b, row->id, row->id_len);
    eoc__buf_bytes(b, row->topic, row->topic_len);
    eoc__buf_bytes(b, row->key, row->key_len);
    eoc__buf_bytes(b, row->value, row->value_len);
    eoc__buf_u32(b, (uint32_t)row->header_count);
    for (size_t i = 0; i < row->header_count; i++) {
        const eoc_header_t *h = &row->headers[i];
        eoc__buf_bytes(b, h->name, strlen(h->name));
        eoc__buf_bytes(b, h->value, h->len);
    }
    /* Provenance: an encoded NULL topic when there is none. */
    eoc__buf_bytes(b, row->src_topic, row->src_topic ? row->src_topic_len : 0);
    eoc__buf_u32(b, (uint32_t)row->src_partition);
    eoc__buf_u64(b, (uint64_t)row->src_offset);
}

/* Appends the decimal form of v and a NUL to b; returns where it starts. */
static size_t put_decimal(eoc__buf_t *b, int64_t v, size_t *len)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof(tmp), "%lld", (long long)v);
    size_t at = b->len;
    eoc__buf_put(b, tmp, (size_t)n + 1);
    *len = (size_t)n;
    return at;
}

int eoc__outrow_decode(const void *val, size_t len, eoc__outrow_t *row, eoc__buf_t *scratch)
{
    eoc__rd_t r;
    eoc__rd_init(&r, val, len);
    memset(row, 0, sizeof(*row));
    row->created_ms = (int64_t)eoc__rd_u64(&r);
    row->partition = (int32_t)eoc__rd_u32(&r);
    row->id = eoc__rd_bytes(&r, &row->id_len);
    row->topic = eoc__rd_bytes(&r, &row->topic_len);
    row->key = eoc__rd_bytes(&r, &row->key_len);
    row->value = eoc__rd_bytes(&r, &row->value_len);
    uint32_t nh = eoc__rd_u32(&r);
    if (r.bad || !row->id || !row->topic || nh > (size_t)(r.end - r.p) / 8)
        return -1;

    /* Scratch layout: the header array (room for the provenance three),
     * then the NUL-terminated names and provenance numbers. Until the end
     * a header's name holds its name's offset in scratch, which may move. */
    enum { NPROV = 3 };
    eoc__buf_reset(scratch);
    size_t arr = (nh + NPROV) * sizeof(eoc_header_t);
    if (eoc__buf_grow(scratch, arr) != 0)
        return -1;
    scratch->len = arr;
    for (uint32_t i = 0; i < nh; i++) {
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
    size_t tlen, plen = 0, olen = 0, pat = 0, oat = 0;
    const char *topic = eoc__rd_bytes(&r, &tlen);
    int32_t part = (int32_t)eoc__rd_u32(&r);
    int64_t off = (int64_t)eoc__rd_u64(&r);
    if (r.bad || r.p != r.end)
        return -1;
    if (topic) {
        pat = put_decimal(scratch, part, &plen);
        oat = put_decimal(scratch, off, &olen);
    }
    if (scratch->oom)
        return -1;
    eoc_header_t *hs = (eoc_header_t *)(void *)scratch->p;
    for (uint32_t i = 0; i < nh; i++)
        hs[i].name = (const char *)scratch->p + (uintptr_t)hs[i].name;
    if (topic) {
        hs[nh++] = (eoc_header_t){EOC__HDR_SRC_TOPIC, topic, tlen};
        hs[nh++] = (eoc_header_t){EOC__HDR_SRC_PARTITION, (const char *)scratch->p + pat, plen};
        hs[nh++] = (eoc_header_t){EOC__HDR_SRC_OFFSET, (const char *)scratch->p + oat, olen};
    }
    row->headers = nh ? hs : NULL;
    row->header_count = nh;
    return 0;
}
