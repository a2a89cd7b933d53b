/*
 * careful - the crash-loop guard's store step, apart from the worker so
 * that it can be tested on a store alone (the rest is in worker.h).
 */
#ifndef EOC_CAREFUL_H
#define EOC_CAREFUL_H

#include "store.h"

#include <stdint.h>

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
