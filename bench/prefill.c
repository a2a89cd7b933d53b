/* prefill.c - see prefill.h. */
#include "prefill.h"

#include "idindex.h"

#include <stdlib.h>

uint64_t bench_rand(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void bench_make_id(uint64_t *rng, char *out)
{
    static const char hex[] = "0123456789abcdef";
    uint64_t a = bench_rand(rng), b = bench_rand(rng);
    for (int i = 0; i < BENCH_ID_LEN; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            out[i] = '-';
            continue;
        }
        uint64_t *src = i < 18 ? &a : &b;
        out[i] = hex[*src & 15];
        *src >>= 4;
    }
}

/* One new record: nested transaction with the caller's work and the inbox
 * row. Sets *what on failure (the record transaction is then aborted). */
static eoc_err_t add_record(eoc__store_t *s, const bench_target_t *t, const char *id, int32_t p,
                            int64_t off, bench_rec_fn fn, void *opaque, const char **what)
{
    eoc_err_t err = eoc__store_rec_begin(s);
    if (err != EOC_OK) {
        *what = "record begin";
        return err;
    }
    if (fn && (err = fn(s, id, p, opaque)) != EOC_OK) {
        *what = "record work";
    } else if ((err = eoc__store_inbox_add(s, id, BENCH_ID_LEN, t->topic, p, off,
                                           eoc__hash64(id, BENCH_ID_LEN, 1), EOC__DISP_APPLIED)) !=
               EOC_OK) {
        *what = "inbox add";
    } else if ((err = eoc__store_rec_commit(s)) != EOC_OK) {
        *what = "record commit";
        return err;
    }
    if (err != EOC_OK)
        eoc__store_rec_abort(s);
    return err;
}

/* One record of the batch: lookup, then a new row unless it is a duplicate,
 * then the partition's next offset. */
static eoc_err_t batch_record(eoc__store_t *s, const bench_target_t *t, const char *id, size_t i,
                              bench_rec_fn fn, void *opaque, size_t *dups, const char **what)
{
    int32_t p = (int32_t)(i % (size_t)t->partitions);
    int64_t off = t->next_offset[p]++;
    eoc__inbox_entry_t e;
    eoc_err_t err = eoc__store_inbox_find_hashed(s, id, BENCH_ID_LEN,
                                                 eoc__store_id_hash(id, BENCH_ID_LEN), &e);
    if (err == EOC_OK) {
        (*dups)++;
    } else if (err != EOC_ERR_NOT_FOUND) {
        *what = "inbox lookup";
        return err;
    } else if ((err = add_record(s, t, id, p, off, fn, opaque, what)) != EOC_OK) {
        return err;
    }
    if ((err = eoc__store_offset_set(s, t->topic, p, off + 1)) != EOC_OK)
        *what = "offset";
    return err;
}

eoc_err_t bench_inbox_batch(eoc__store_t *s, const bench_target_t *t, const char *ids, size_t n,
                            bench_rec_fn fn, void *opaque, size_t *dups, const char **what)
{
    eoc_err_t err = eoc__store_begin(s);
    if (err != EOC_OK) {
        *what = "begin";
        return err;
    }
    for (size_t i = 0; i < n; i++) {
        err = batch_record(s, t, ids + i * BENCH_ID_LEN, i, fn, opaque, dups, what);
        if (err != EOC_OK) {
            eoc__store_abort(s);
            return err;
        }
    }
    if ((err = eoc__store_commit(s)) != EOC_OK)
        *what = "commit";
    return err;
}

eoc_err_t bench_prefill(eoc__store_t *s, const bench_target_t *t, size_t n, uint64_t *rng,
                        size_t *dups, const char **what)
{
    char *ids = malloc((size_t)BENCH_PREFILL_BATCH * BENCH_ID_LEN); /* owned here */
    if (!ids) {
        *what = "memory";
        return EOC_ERR_NOMEM;
    }
    eoc_err_t err = EOC_OK;
    for (size_t done = 0; done < n && err == EOC_OK; done += BENCH_PREFILL_BATCH) {
        size_t k = n - done < BENCH_PREFILL_BATCH ? n - done : BENCH_PREFILL_BATCH;
        for (size_t i = 0; i < k; i++)
            bench_make_id(rng, ids + i * BENCH_ID_LEN);
        err = bench_inbox_batch(s, t, ids, k, NULL, NULL, dups, what);
    }
    free(ids);
    return err;
}
