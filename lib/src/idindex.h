/*
 * idindex - the in-memory half of the inbox: an open-addressing hash table
 * from a 64-bit hash of a message ID to the inbox log sequence numbers whose
 * IDs have that hash. It is a filter, never the truth: every hit is
 * confirmed against the LMDB inbox row (which holds the full ID), so hash
 * collisions and entries pruned by another process cost a lookup, not a
 * wrong answer. Rebuilt from the inbox log when a store opens for writing.
 *
 * Not thread-safe: owned by the store's writer thread.
 */
#ifndef EOC_IDINDEX_H
#define EOC_IDINDEX_H

#include <stddef.h>
#include <stdint.h>

typedef struct eoc__idindex eoc__idindex_t;

/** A new, empty index; NULL on out of memory. */
eoc__idindex_t *eoc__idindex_new(void);
void eoc__idindex_free(eoc__idindex_t *ix);

/** Grows the table to hold n entries without rehashing on the way;
 *  0, or -1 on out of memory (the index is unchanged). */
int eoc__idindex_reserve(eoc__idindex_t *ix, size_t n);

/** Adds (hash, seq). Returns 0, or -1 on out of memory (index unchanged). */
int eoc__idindex_insert(eoc__idindex_t *ix, uint64_t hash, uint64_t seq);

/** Removes (hash, seq) if present. */
void eoc__idindex_remove(eoc__idindex_t *ix, uint64_t hash, uint64_t seq);

/**
 * Iterates the sequence numbers stored under `hash`: start with *cursor = 0;
 * each call returns 1 and sets *seq, or 0 when there are no more.
 * The index must not change between calls.
 */
int eoc__idindex_next(const eoc__idindex_t *ix, uint64_t hash, size_t *cursor, uint64_t *seq);

/** Starts loading the slot where a lookup of `hash` begins (a hint). */
void eoc__idindex_prefetch(const eoc__idindex_t *ix, uint64_t hash);

/** Number of live entries. */
size_t eoc__idindex_count(const eoc__idindex_t *ix);

/** 64-bit hash of a byte string (XXH3); in memory and in inbox digests. */
uint64_t eoc__hash64(const void *data, size_t len, uint64_t seed);

#endif
