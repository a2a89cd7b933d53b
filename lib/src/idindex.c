/* idindex.c - see idindex.h. Linear probing; deletions leave tombstones
 * that are dropped when the table is rebuilt on growth. */
#include "idindex.h"

#include <stdlib.h>

#define SLOT_EMPTY    0u         /* hash value meaning "never used" */
#define SEQ_TOMBSTONE UINT64_MAX /* seq of a removed slot */

struct slot {
    uint64_t hash; /* never SLOT_EMPTY for a used slot */
    uint64_t seq;
};

struct eoc__idindex {
    struct slot *slots;
    size_t cap;  /* power of two */
    size_t used; /* live + tombstones */
    size_t live;
};

static uint64_t fix_hash(uint64_t h)
{
    return h == SLOT_EMPTY ? 1 : h;
}

uint64_t eoc__hash64(const void *data, size_t len, uint64_t seed)
{
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ull ^ seed;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    /* fmix64 finalizer: spreads FNV's weak high bits over the table index */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

eoc__idindex_t *eoc__idindex_new(void)
{
    eoc__idindex_t *ix = calloc(1, sizeof(*ix));
    if (!ix)
        return NULL;
    ix->cap = 1024;
    ix->slots = calloc(ix->cap, sizeof(*ix->slots));
    if (!ix->slots) {
        free(ix);
        return NULL;
    }
    return ix;
}

void eoc__idindex_free(eoc__idindex_t *ix)
{
    if (!ix)
        return;
    free(ix->slots);
    free(ix);
}

static void place(struct slot *slots, size_t cap, uint64_t hash, uint64_t seq)
{
    size_t i = (size_t)hash & (cap - 1);
    while (slots[i].hash != SLOT_EMPTY)
        i = (i + 1) & (cap - 1);
    slots[i].hash = hash;
    slots[i].seq = seq;
}

/* Rehashes into `cap` slots, dropping tombstones. */
static int rehash(eoc__idindex_t *ix, size_t cap)
{
    struct slot *slots = calloc(cap, sizeof(*slots));
    if (!slots)
        return -1;
    for (size_t i = 0; i < ix->cap; i++) {
        const struct slot *s = &ix->slots[i];
        if (s->hash != SLOT_EMPTY && s->seq != SEQ_TOMBSTONE)
            place(slots, cap, s->hash, s->seq);
    }
    free(ix->slots);
    ix->slots = slots;
    ix->cap = cap;
    ix->used = ix->live;
    return 0;
}

static int grow(eoc__idindex_t *ix)
{
    /* Only grow when live entries need it; otherwise rehash to drop tombstones. */
    return rehash(ix, ix->live * 2 >= ix->cap ? ix->cap * 2 : ix->cap);
}

int eoc__idindex_reserve(eoc__idindex_t *ix, size_t n)
{
    size_t cap = ix->cap;
    while ((n + 1) * 10 > cap * 7)
        cap *= 2;
    return cap == ix->cap ? 0 : rehash(ix, cap);
}

int eoc__idindex_insert(eoc__idindex_t *ix, uint64_t hash, uint64_t seq)
{
    hash = fix_hash(hash);
    if ((ix->used + 1) * 10 > ix->cap * 7 && grow(ix) != 0)
        return -1;
    place(ix->slots, ix->cap, hash, seq);
    ix->used++;
    ix->live++;
    return 0;
}

void eoc__idindex_remove(eoc__idindex_t *ix, uint64_t hash, uint64_t seq)
{
    hash = fix_hash(hash);
    for (size_t i = (size_t)hash & (ix->cap - 1); ix->slots[i].hash != SLOT_EMPTY;
         i = (i + 1) & (ix->cap - 1)) {
        struct slot *s = &ix->slots[i];
        if (s->hash == hash && s->seq == seq) {
            s->seq = SEQ_TOMBSTONE;
            ix->live--;
            return;
        }
    }
}

int eoc__idindex_next(const eoc__idindex_t *ix, uint64_t hash, size_t *cursor, uint64_t *seq)
{
    hash = fix_hash(hash);
    size_t mask = ix->cap - 1;
    /* *cursor counts probe steps already taken from the home slot. */
    for (size_t step = *cursor; step < ix->cap; step++) {
        const struct slot *s = &ix->slots[((size_t)hash + step) & mask];
        if (s->hash == SLOT_EMPTY)
            break;
        if (s->hash == hash && s->seq != SEQ_TOMBSTONE) {
            *cursor = step + 1;
            *seq = s->seq;
            return 1;
        }
    }
    *cursor = ix->cap;
    return 0;
}

size_t eoc__idindex_count(const eoc__idindex_t *ix)
{
    return ix->live;
}
