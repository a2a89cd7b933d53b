/*
 * history.h - an in-memory history of one eoc run, for the invariant checks.
 *
 * A history holds everything the checker looked at, copied into plain
 * arrays: the input topic's records (position, message ID, payload digest,
 * the ledger view of the payload), the records of the output and
 * dead-letter topics (provenance headers, message ID, digest, ledger view),
 * the rows still pending in the stores' outboxes, the stores' positions
 * (read before and after the Kafka topics), the group's committed offsets,
 * the stores' ledger balances, and optionally the generator's ground truth.
 *
 * The loader (check.c) fills a history from Kafka and LMDB; the self-test
 * (test_checker.c) builds one by hand and mutates it. Nothing here talks to
 * Kafka or LMDB. Fields are public on purpose: the checks read them and the
 * self-test mutates them. Not thread-safe.
 */
#ifndef EOC_E2E_HISTORY_H
#define EOC_E2E_HISTORY_H

#include <stddef.h>
#include <stdint.h>

/** Where a record of the output side was seen. */
typedef enum hist_kind {
    HIST_OUTPUT = 0, /**< published to the output topic */
    HIST_DLQ,        /**< published to the dead-letter topic */
    HIST_PENDING     /**< an outbox row not yet removed from a store */
} hist_kind_t;

/** The ledger view of a JSON payload (valid when `ok`). */
typedef struct hist_ledger {
    int ok;        /**< id, account and amount (and balance for outputs) parsed */
    char *id;      /**< owned */
    char *account; /**< owned */
    int64_t amount;
    int64_t balance; /**< outputs only */
} hist_ledger_t;

/** One record of the input topic. */
typedef struct hist_input {
    int32_t partition;
    int64_t offset;
    char *id; /**< owned; NULL when the record has no valid message ID */
    uint64_t digest;
    hist_ledger_t ledger;
} hist_input_t;

/** One record of the output or dead-letter topic, or one pending outbox row. */
typedef struct hist_output {
    hist_kind_t kind;
    int32_t partition;     /**< in its topic; for pending rows: the row's partition */
    int64_t offset;        /**< in its topic; for pending rows: the outbox sequence */
    char *msg_id;          /**< `message-id` (pending: the outbox ID); owned, may be NULL */
    char *src_topic;       /**< from `eoc-source`; owned, may be NULL */
    int32_t src_partition; /**< from `eoc-source`, -1 when absent */
    int64_t src_offset;    /**< from `eoc-source`, -1 when absent */
    char *reason;          /**< `eoc-dlq-reason`; owned, may be NULL */
    char *src_id;          /**< `eoc-source-id`; owned, may be NULL */
    uint64_t digest;       /**< of the value */
    hist_ledger_t ledger;
} hist_output_t;

/** A name with a signed 64-bit value (ledger balances). */
typedef struct hist_amount {
    char *name; /**< owned */
    int64_t value;
} hist_amount_t;

/** The generator's ground truth (`eoc-ledger-gen --expect`). */
typedef struct hist_expect {
    int64_t unique, duplicates, malformed, records;
    hist_amount_t *balances; /**< sorted by name after hist_expect_finish */
    size_t nbalances;
    char **malformed_ids; /**< owned strings */
    size_t nmalformed_ids;
} hist_expect_t;

/** A whole run. */
typedef struct hist {
    char *input_topic;   /**< owned */
    int32_t input_parts; /**< partitions of the input topic */

    hist_input_t *in; /**< sorted by (partition, offset) after hist_finish */
    size_t nin, capin;
    hist_output_t *out; /**< all kinds, sorted by (kind, partition, offset) after hist_finish */
    size_t nout, capout;

    /* Per input partition (arrays of input_parts entries; -1 = none). */
    int64_t *in_low;          /**< oldest offset still in the topic */
    int64_t *in_high;         /**< high watermark when the check began */
    int64_t *lmdb_before;     /**< max store position, read before the output topics */
    int64_t *lmdb_after;      /**< max store position, read after the output topics */
    int64_t *kafka_committed; /**< the group's committed offset */

    int64_t out_low_max; /**< largest oldest-offset of an output/DLQ partition (0: none lost) */

    hist_amount_t *state; /**< ledger balances in the stores, sorted after hist_finish */
    size_t nstate, capstate;
    size_t state_conflicts; /**< accounts whose stores disagree */
    int state_consistent;   /**< the balances are those at the positions lmdb_before
                                 (1 by default; 0 when the stores kept moving while read) */
} hist_t;

/** A new empty history; NULL on out of memory. Position arrays are -1, lows 0. */
hist_t *hist_new(const char *input_topic, int32_t input_parts);
/** Frees `h` and everything it owns (NULL is fine). */
void hist_free(hist_t *h);

/**
 * Appends an input record. `id`/`id_len` is its message ID (copied; NULL
 * for none); `value` is parsed for the ledger view when `ledger` is set.
 * 0 on success, -1 on out of memory or a partition out of range.
 */
int hist_add_input(hist_t *h, int32_t partition, int64_t offset, const char *id, size_t id_len,
                   const void *value, size_t len, int ledger);

/** The fields of an output-side record, as borrowed pointers (copied by hist_add_output). */
typedef struct hist_msg {
    hist_kind_t kind;
    int32_t partition;
    int64_t offset;
    const char *msg_id;    /**< NUL-terminated or NULL */
    const char *src_topic; /**< NUL-terminated or NULL */
    int32_t src_partition;
    int64_t src_offset;
    const char *reason; /**< NUL-terminated or NULL */
    const char *src_id; /**< NUL-terminated or NULL */
    const void *value;
    size_t len;
} hist_msg_t;

/** Appends an output-side record (copied). 0 or -1 on out of memory. */
int hist_add_output(hist_t *h, const hist_msg_t *m, int ledger);

/**
 * Records a store's balance of `account`. When another store already gave
 * a different value, the last one wins and `state_conflicts` counts it.
 * 0 or -1 on out of memory.
 */
int hist_add_state(hist_t *h, const char *account, size_t len, int64_t value);

/** Forgets every balance (to read them again). */
void hist_clear_state(hist_t *h);

/** Raises a per-partition position to at least `offset` (max over stores). */
void hist_pos_max(int64_t *positions, int32_t nparts, int32_t partition, int64_t offset);

/** Sorts the arrays; call once after loading and after mutating order. */
void hist_finish(hist_t *h);

/** Index range [*begin, *end) of partition `p` in h->in (after hist_finish). */
void hist_input_range(const hist_t *h, int32_t p, size_t *begin, size_t *end);
/** Index of the input at (p, offset), or SIZE_MAX (after hist_finish). */
size_t hist_input_find(const hist_t *h, int32_t p, int64_t offset);

/** Balance of `name` in a sorted amount array, 0 when absent; *found says which. */
int64_t hist_amount_get(const hist_amount_t *v, size_t n, const char *name, int *found);

/**
 * Parses the ledger view of a JSON payload: id (string), account
 * (non-empty string), amount (integer) and, when `with_balance`, balance.
 * Owned strings go into `out`; returns out->ok.
 */
int hist_ledger_parse(const void *value, size_t len, int with_balance, hist_ledger_t *out);
void hist_ledger_clear(hist_ledger_t *l);

/** 64-bit FNV-1a of `len` bytes. */
uint64_t hist_digest(const void *p, size_t len);

/**
 * Extracts a message ID by an eoc strategy (header:NAME is resolved by the
 * caller) from a JSON payload: `json:FIELD` with a dotted path. Returns the
 * ID's length and copies it into `buf` (EOC_ID_MAX + 1 bytes), or 0 when
 * the payload has no valid ID (missing, empty, too long, not JSON).
 */
size_t hist_json_id(const char *path, const void *value, size_t len, char *buf);

/** Loads the ground truth written by eoc-ledger-gen --expect. 0, or -1 with errstr. */
int hist_expect_load(const char *path, hist_expect_t *x, char *errstr, size_t errstr_size);
/** Adds an expected balance (name copied). 0 or -1. */
int hist_expect_add_balance(hist_expect_t *x, const char *name, int64_t value);
/** Adds a malformed record's ID (copied). 0 or -1. */
int hist_expect_add_malformed(hist_expect_t *x, const char *id);
/** Sorts the balances for lookup. */
void hist_expect_finish(hist_expect_t *x);
/** Frees what `x` owns and zeroes it. */
void hist_expect_clear(hist_expect_t *x);

/*
 * A string -> index map with borrowed keys (the strings must outlive it),
 * for the checks' lookups by message ID and account.
 */
typedef struct hist_map {
    const char **keys;
    size_t *vals;
    size_t cap, n;
} hist_map_t;

/** 0 or -1 on out of memory. `expected` sizes the table. */
int hist_map_init(hist_map_t *m, size_t expected);
void hist_map_free(hist_map_t *m);
/** The value of `key`, or SIZE_MAX. */
size_t hist_map_get(const hist_map_t *m, const char *key);
/**
 * Inserts `key` -> `val` unless present. Returns the value now stored
 * (the old one when present), or SIZE_MAX on out of memory.
 */
size_t hist_map_put(hist_map_t *m, const char *key, size_t val);

#endif
