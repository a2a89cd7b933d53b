/*
 * careful - the crash-loop guard's store steps, apart from the worker so
 * that they can be tested on a store alone (the rest is in worker_int.h).
 */
#ifndef EOC_CAREFUL_H
#define EOC_CAREFUL_H

#include "log.h"
#include "store.h"

#include <stdint.h>

struct eoc__part;

/**
 * On assignment, in the open store transaction: when the partition's live
 * marker is still set (its previous owner did not release it cleanly),
 * counts a crash at its stored next offset `off` (-1 when none) and, after
 * repeated crashes there, puts `p` (may be NULL) in careful mode for the
 * `span` records from there; then sets the live marker. EOC_OK or the
 * store's error (the caller aborts the transaction).
 */
eoc_err_t eoc__careful_assign(eoc__store_t *s, const eoc_log_t *log, int64_t span,
                              struct eoc__part *p, const char *topic, int32_t partition,
                              int64_t off);

/** On a clean revocation, in the open store transaction: clears the live
 *  marker. */
eoc_err_t eoc__careful_revoke(eoc__store_t *s, const char *topic, int32_t partition);

/**
 * Before a suspect record is applied alone: in one durable transaction of
 * its own, counts a handler attempt at (topic, partition, offset). Returns
 * 1 when the record already crashed the process max_crashes times (nothing
 * is written: dead-letter it unhandled), 0 to go on, or -1 when the store
 * failed (no transaction stays open).
 */
int eoc__careful_attempt(eoc__store_t *s, const char *topic, int32_t partition, int64_t offset,
                         int64_t max_crashes);

#endif
