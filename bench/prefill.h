/*
 * prefill - what the benchmarks share: random UUID-like message IDs and
 * durable batches written to the eoc store the way the worker writes them
 * (an ID lookup, a nested record transaction holding the inbox row, the
 * partition's next offset; one fsync'ed LMDB commit per batch).
 *
 * eoc-store-bench measures such batches; eoc-bench uses them to pre-fill
 * an inbox with earlier IDs before a worker runs on it. Internal store API
 * (store.h): link eoc_internal_dep. Single-threaded, no global state.
 */
#ifndef EOC_BENCH_PREFILL_H
#define EOC_BENCH_PREFILL_H

#include "store.h"

#include <stddef.h>
#include <stdint.h>

/** Length of the generated IDs: 8-4-4-4-12 lowercase hex. */
#define BENCH_ID_LEN 36

/** IDs per durable batch when pre-filling. */
#define BENCH_PREFILL_BATCH 10000

/** The next value of a splitmix64 generator whose state is *state. */
uint64_t bench_rand(uint64_t *state);

/** Writes one random ID (BENCH_ID_LEN bytes, no NUL) to out. */
void bench_make_id(uint64_t *rng, char *out);

/**
 * Optional per-record work inside the record's nested transaction, before
 * its inbox row is added (eoc-store-bench adds an outbox row there).
 * Returns EOC_OK to go on.
 */
typedef eoc_err_t (*bench_rec_fn)(eoc__store_t *s, const char *id, int32_t partition, void *opaque);

/** Where a batch goes: topic, partition count and per-partition offsets. */
typedef struct bench_target {
    const char *topic;    /* borrowed */
    int partitions;       /* records go to partition i % partitions */
    int64_t *next_offset; /* [partitions], borrowed; advanced by each record */
} bench_target_t;

/**
 * Commits one durable batch of `n` records whose IDs are `ids` (n *
 * BENCH_ID_LEN bytes, borrowed). An ID already in the inbox is counted in
 * *dups and gets no new row. On failure the batch is aborted and *what
 * names the step that failed (a static string).
 */
eoc_err_t bench_inbox_batch(eoc__store_t *s, const bench_target_t *t, const char *ids, size_t n,
                            bench_rec_fn fn, void *opaque, size_t *dups, const char **what);

/**
 * Adds `n` random IDs from *rng to the inbox of `s` in durable batches of
 * BENCH_PREFILL_BATCH, with no per-record work. Same error contract as
 * bench_inbox_batch; *dups counts random collisions (expected 0).
 */
eoc_err_t bench_prefill(eoc__store_t *s, const bench_target_t *t, size_t n, uint64_t *rng,
                        size_t *dups, const char **what);

#endif
