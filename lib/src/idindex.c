/* idindex.c - see idindex.h. Linear probing; deletions leave tombstones
 * that are dropped when the table is rebuilt on growth. The slot array is
 * mapped on its own and, when large, backed by transparent huge pages: a
 * lookup is one random access into tens of MiB, and with 4 KiB pages most
 * of its cost would be the TLB miss, not the cache miss. */
#include "idindex.h"

#include <stdlib.h>
#include <sys/mman.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#define HUGE_PAGE ((size_t)2 << 20)

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
    return XXH3_64bits_withSeed(data, len, seed);
}

/* Zeroed slots from their own mapping (huge-page aligned when that large);
 * NULL on out of memory. */
static struct slot *slots_alloc(size_t cap)
{
    size_t size = cap * sizeof(struct slot);
    if (size < HUGE_PAGE)
        return calloc(cap, sizeof(struct slot));
    /* Over-map by one huge page and trim, so the array starts aligned. */
    char *p = mmap(NULL, size + HUGE_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                   -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    char *a = (char *)(((uintptr_t)p + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
    if (a > p)
        munmap(p, (size_t)(a - p));
    munmap(a + size, (size_t)(p + HUGE_PAGE - a));
    (void)madvise(a, size, MADV_HUGEPAGE); /* a hint: fine if refused */
    return (struct slot *)a;
}

static void slots_free(struct slot *slots, size_t cap)
{
    size_t size = cap * sizeof(struct slot);
    if (size < HUGE_PAGE)
        free(slots);
    else if (slots)
        munmap(slots, size);
}

eoc__idindex_t *eoc__idindex_new(void)
{
    eoc__idindex_t *ix = calloc(1, sizeof(*ix));
    if (!ix)
        return NULL;
    ix->cap = 1024;
    ix->slots = slots_alloc(ix->cap);
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
    slots_free(ix->slots, ix->cap);
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
    struct slot *slots = slots_alloc(cap);
    if (!slots)
        return -1;
    for (size_t i = 0; i < ix->cap; i++) {
        const struct slot *s = &ix->slots[i];
        if (s->hash != SLOT_EMPTY && s->seq != SEQ_TOMBSTONE)
            place(slots, cap, s->hash, s->seq);
    }
    slots_free(ix->slots, ix->cap);
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

void eoc__idindex_prefetch(const eoc__idindex_t *ix, uint64_t hash)
{
    __builtin_prefetch(&ix->slots[(size_t)fix_hash(hash) & (ix->cap - 1)]);
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
