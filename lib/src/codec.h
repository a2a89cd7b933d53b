/*
 * codec - the byte layouts of eoc's LMDB values, in one place.
 *
 * Per-record rows (inbox, outbox) are mostly small numbers and short
 * strings, and a durable commit pays for every byte: their integers are
 * varints (LEB128: 7 bits a byte, low first) and a byte string is a varint
 * of its length + 1 (0 meaning NULL) followed by the bytes. Fixed-size
 * little-endian integers remain for random values (digests) and small
 * tables. Decoders check every bound and fail on a short or malformed value
 * instead of reading past it.
 */
#ifndef EOC_CODEC_H
#define EOC_CODEC_H

#include "eoc/eoc.h"

#include <stdint.h>
#include <string.h>

/* ---- growable output buffer (owned by its user, freed with eoc__buf_free) */
typedef struct eoc__buf {
    unsigned char *p;
    size_t len, cap;
    int oom; /* set on allocation failure; later writes are dropped */
} eoc__buf_t;

void eoc__buf_reset(eoc__buf_t *b);
void eoc__buf_free(eoc__buf_t *b);
/** Makes room for n more bytes; -1 (and b->oom) when out of memory. */
int eoc__buf_grow(eoc__buf_t *b, size_t n);

/* The writers are inline: they run several times per record. */
static inline void eoc__buf_put(eoc__buf_t *b, const void *p, size_t n)
{
    if (n == 0 || (b->len + n > b->cap && eoc__buf_grow(b, n) != 0))
        return;
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

static inline void eoc__buf_u32(eoc__buf_t *b, uint32_t v)
{
    unsigned char x[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    eoc__buf_put(b, x, 4);
}

static inline void eoc__buf_u64(eoc__buf_t *b, uint64_t v)
{
    eoc__buf_u32(b, (uint32_t)v);
    eoc__buf_u32(b, (uint32_t)(v >> 32));
}

/** A varint: 1 byte below 128, at most 10. */
static inline void eoc__buf_uv(eoc__buf_t *b, uint64_t v)
{
    unsigned char x[10];
    size_t n = 0;
    while (v >= 0x80) {
        x[n++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    x[n++] = (unsigned char)v;
    eoc__buf_put(b, x, n);
}
/** A length-prefixed byte string; p == NULL encodes NULL. */
void eoc__buf_bytes(eoc__buf_t *b, const void *p, size_t n);

/* ---- bounds-checked reader over a borrowed value */
typedef struct eoc__rd {
    const unsigned char *p, *end;
    int bad; /* set on the first out-of-bounds read; later reads return 0/NULL */
} eoc__rd_t;

void eoc__rd_init(eoc__rd_t *r, const void *p, size_t n);
uint32_t eoc__rd_u32(eoc__rd_t *r);
uint64_t eoc__rd_u64(eoc__rd_t *r);
uint64_t eoc__rd_uv_long(eoc__rd_t *r);
const void *eoc__rd_bytes_long(eoc__rd_t *r, size_t *n);

/* The readers below are inline for their common case (a one-byte varint):
 * they run several times per row. */

/** A varint; bad when cut short or longer than 64 bits. */
static inline uint64_t eoc__rd_uv(eoc__rd_t *r)
{
    if (!r->bad && r->p < r->end && !(*r->p & 0x80))
        return *r->p++;
    return eoc__rd_uv_long(r);
}

/** Returns a pointer into the value (NULL for an encoded NULL) and its length. */
static inline const void *eoc__rd_bytes(eoc__rd_t *r, size_t *n)
{
    if (!r->bad && r->p < r->end && *r->p && !(*r->p & 0x80) &&
        (size_t)(r->end - r->p) > (size_t)(*r->p - 1)) {
        const unsigned char *p = r->p + 1;
        *n = (size_t)(*r->p - 1);
        r->p = p + *n;
        return p;
    }
    return eoc__rd_bytes_long(r, n);
}

/* ---- big-endian keys (sort order = numeric order in LMDB) */
static inline void eoc__be64_put(unsigned char out[8], uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        out[i] = (unsigned char)v;
}

static inline uint64_t eoc__be64_get(const unsigned char in[8])
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | in[i];
    return v;
}
void eoc__be32_put(unsigned char out[4], uint32_t v);
uint32_t eoc__be32_get(const unsigned char in[4]);

/** Writes v in decimal (no NUL; at most 20 bytes) and returns its length.
 *  snprintf's cost shows at a few calls per record. */
size_t eoc__fmt_i64(char *out, int64_t v);

/* ---- small fixed-size values in meta: counters (8 bytes) and a
 * partition's compact id (4 bytes, meta "tp/<offsets key>"), little-endian */
void eoc__le_encode(unsigned char *out, size_t n, uint64_t v);
/** 0, or -1 when the value is shorter than n bytes. */
int eoc__le_decode(const void *val, size_t len, size_t n, uint64_t *v);

/* ---- offsets rows: key = topic bytes, NUL, partition (big-endian: the
 * keys sort by topic, then partition); value = the next offset (u64) and
 * the partition's compact id (u32, used by inbox position keys) */

#define EOC__TP_KEY_MAX 512 /* longer topics are cut (Kafka allows 249 bytes) */

/** Writes the key of (topic, partition) into buf (cap >= 6) and returns its length. */
size_t eoc__tp_key(unsigned char *buf, size_t cap, const char *topic, int32_t partition);
/** Reads a key written by eoc__tp_key: the topic NUL-terminated into `topic`
 *  (cap bytes). 0, or -1 when malformed or the topic does not fit. */
int eoc__tp_key_decode(const void *key, size_t len, char *topic, size_t cap, int32_t *partition);
void eoc__offset_encode(eoc__buf_t *b, int64_t next_offset, uint32_t tp_id);
/** 0, or -1 on a malformed value. tp_id may be NULL. */
int eoc__offset_decode(const void *val, size_t len, int64_t *next_offset, uint32_t *tp_id);

/* ---- inbox rows (keyed by a big-endian sequence number) */

typedef struct eoc__inrow {
    int disposition;
    uint32_t tp_id; /* the partition's compact id (offsets value) */
    int64_t offset;
    int64_t time_ms;
    uint64_t digest; /* of the payload; random, so fixed size */
    const char *id;  /* points into the value; not NUL-terminated */
    size_t id_len;
} eoc__inrow_t;

void eoc__inrow_encode(eoc__buf_t *b, const eoc__inrow_t *row);
/** 0, or -1 on a malformed value. */
int eoc__inrow_decode(const void *val, size_t len, eoc__inrow_t *row);

/* ---- the inbox position index: (tp id, offset) -> (inbox seq, time) */

#define EOC__POS_KEY_LEN 12
#define EOC__POS_VAL_LEN 16
void eoc__pos_key(unsigned char out[EOC__POS_KEY_LEN], uint32_t tp_id, int64_t offset);
void eoc__pos_key_decode(const unsigned char in[EOC__POS_KEY_LEN], uint32_t *tp_id,
                         int64_t *offset);
void eoc__pos_val(unsigned char out[EOC__POS_VAL_LEN], uint64_t seq, int64_t time_ms);
void eoc__pos_val_decode(const unsigned char in[EOC__POS_VAL_LEN], uint64_t *seq, int64_t *time_ms);

/* ---- outbox rows */

/**
 * An outbox row as the store holds it: `id` is the deterministic outbox ID,
 * `headers` the message's own. Provenance (the input record's position) is
 * kept as three fields, not as three named headers: a third of a typical
 * row's bytes, and bytes are what a durable commit pays for. Decoding hands
 * it back in those fields and as one header EOC_HEADER_SOURCE after the
 * row's own. Strings in a decoded row point into the LMDB value or into the
 * decoder's scratch.
 */
typedef struct eoc__outrow {
    int64_t created_ms;
    const char *id;
    size_t id_len;
    const char *topic;
    size_t topic_len;
    int32_t partition;
    const void *key;
    size_t key_len;
    const void *value;
    size_t value_len;
    const eoc_header_t *headers;
    size_t header_count;
    const char *src_topic; /* NULL: no provenance */
    size_t src_topic_len;
    int32_t src_partition;
    int64_t src_offset;
    int64_t timestamp; /* the message's Kafka timestamp; 0: none (the producer's) */
} eoc__outrow_t;

void eoc__outrow_encode(eoc__buf_t *b, const eoc__outrow_t *row);

/**
 * Decodes `val` into `row`. Header names are copied NUL-terminated into
 * `scratch` and the header array is kept there too, with the provenance
 * header last (scratch is reused by the next decode with the same
 * scratch). Returns 0, or -1 on a malformed value or out of memory.
 */
int eoc__outrow_decode(const void *val, size_t len, eoc__outrow_t *row, eoc__buf_t *scratch);

/* ---- outbox segments: the outbox rows one transaction wrote, as one LMDB
 * value keyed by a sequence number at or below its first row's (big-endian).
 * Writing a batch's rows as one value and dropping it whole once they are
 * delivered costs one B-tree operation per batch instead of two per row.
 *
 *   value = u32 row count, u64 seq of the last row,
 *           per row (ascending seq): varint (seq - key), byte string (an
 *           outbox row, eoc__outrow_encode)
 */

#define EOC__OUTSEG_HEAD 12

/** Starts an empty segment in b (its header is written by _finish). */
void eoc__outseg_begin(eoc__buf_t *b);
/** Appends a row: `delta` is its seq minus the segment's key. */
void eoc__outseg_add(eoc__buf_t *b, uint64_t delta, const void *row, size_t len);
/** Writes the header: the number of rows and the last row's seq. */
void eoc__outseg_finish(eoc__buf_t *b, uint32_t count, uint64_t last);
/** A segment of one row, to be stored under that row's seq. */
void eoc__outseg_single(eoc__buf_t *b, uint64_t seq, const void *row, size_t len);

/* A reader over one segment value (borrowed). */
typedef struct eoc__outseg_rd {
    eoc__rd_t rd;
    uint64_t key;  /* the segment's key */
    uint32_t left; /* rows not read yet */
} eoc__outseg_rd_t;

/** Opens the segment stored under `key`; count and last may be NULL.
 *  0, or -1 on a malformed header. */
int eoc__outseg_open(eoc__outseg_rd_t *it, uint64_t key, const void *val, size_t len,
                     uint32_t *count, uint64_t *last);
/** The next row: 1 with its seq and encoded row, 0 at the end, -1 on a
 *  malformed value. */
int eoc__outseg_next(eoc__outseg_rd_t *it, uint64_t *seq, const void **row, size_t *len);

#endif
