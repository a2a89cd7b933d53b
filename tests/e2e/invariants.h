/*
 * invariants.h - the checks of ../shared/FAULTS.md (I1-I8) over a history.
 *
 * Pure functions: chk_run() reads a finished history (history.h) and the
 * optional ground truth, and fills a report; nothing else is touched. The
 * report counts violations per invariant and keeps the first few examples
 * of each as text.
 */
#ifndef EOC_E2E_INVARIANTS_H
#define EOC_E2E_INVARIANTS_H

#include "history.h"

#include <stdint.h>
#include <stdio.h>

/** Report sections. I3 is informational (transport duplicates are allowed). */
typedef enum chk_inv {
    CHK_I1 = 0,    /**< no loss: one disposition per input record */
    CHK_I2,        /**< no double effect */
    CHK_I3,        /**< transport duplicates (counted, not a failure) */
    CHK_I4,        /**< no torn effect */
    CHK_I5,        /**< nothing published that LMDB did not commit */
    CHK_I6,        /**< per-partition order */
    CHK_I7,        /**< Kafka committed offset never ahead of LMDB */
    CHK_I8,        /**< finished: no pending outbox row */
    CHK_EXPECT,    /**< the generator's ground truth */
    CHK_RETENTION, /**< the broker dropped records: nothing can be proved */
    CHK__COUNT
} chk_inv_t;

#define CHK_MAX_EXAMPLES 10
#define CHK_EXAMPLE_LEN  240

typedef struct chk_opts {
    int finished;          /**< the run is over: unprocessed input is loss, I8 applies */
    int ledger;            /**< payloads are ledger JSON: balance sequence and state checks */
    int outputs_per_input; /**< outputs per applied input, 0: any contiguous 0..n-1 */
    size_t examples;       /**< examples kept per section (<= CHK_MAX_EXAMPLES) */
    int transport_fails;   /**< a transport duplicate (I3) fails the run (eos.mode=kafka:
                                outputs are exactly once for read_committed readers) */
} chk_opts_t;

typedef struct chk_counts {
    uint64_t records;         /**< input records in the snapshot */
    uint64_t applied;         /**< inputs with an effect */
    uint64_t duplicates;      /**< inputs skipped as a duplicate of an applied ID */
    uint64_t dead_letters;    /**< inputs dead-lettered */
    uint64_t unprocessed;     /**< at or beyond the stores' positions, no disposition */
    uint64_t lost;            /**< below the stores' positions, no disposition */
    uint64_t outputs;         /**< output-topic records read */
    uint64_t outputs_unique;  /**< distinct output message IDs */
    uint64_t dlq_records;     /**< dead-letter-topic records read */
    uint64_t transport_dups;  /**< re-published records (same ID, same source, same bytes) */
    uint64_t pending;         /**< outbox rows still in the stores */
    uint64_t beyond_snapshot; /**< outputs of input newer than the snapshot (ignored) */
    uint64_t accounts;        /**< ledger accounts seen in outputs */
    int state_unchecked;      /**< store balances not comparable with the inputs */
} chk_counts_t;

typedef struct chk_report {
    chk_counts_t n;
    uint64_t violations[CHK__COUNT];
    char examples[CHK__COUNT][CHK_MAX_EXAMPLES][CHK_EXAMPLE_LEN];
    size_t nexamples[CHK__COUNT];
    size_t max_examples;
    int transport_fails; /**< from chk_opts_t */
} chk_report_t;

/** "I1", "I2", ..., "EXPECT", "RETENTION". */
const char *chk_name(chk_inv_t inv);

/**
 * Runs every check over `h` (after hist_finish) and fills `r`. `x` is the
 * ground truth or NULL. Returns the number of failed sections (0 = OK), or
 * -1 on out of memory.
 */
int chk_run(const hist_t *h, const hist_expect_t *x, const chk_opts_t *o, chk_report_t *r);

/** Non-zero when section `inv` failed (I3 never fails). */
int chk_failed(const chk_report_t *r, chk_inv_t inv);

/** Prints the examples of each section, the counts, and the verdict line. */
void chk_print(FILE *f, const chk_report_t *r);

/**
 * Prints the report as one JSON object on one line:
 *   {"verdict": "OK"|"FAIL", "failed": ["I2", ...],
 *    "line": "verdict: ... (records N, ...)"  (chk_print's last line),
 *    "counts": {"records": N, "applied": N, ...},
 *    "sections": {"I1": {"title": "...", "result": "OK"|"FAIL"|"COUNTED",
 *                        "count": N, "examples": ["...", ...]}, ...}}
 * ("COUNTED": I3, transport duplicates, which never fail).
 */
void chk_print_json(FILE *f, const chk_report_t *r);

#endif
