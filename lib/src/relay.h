/*
 * relay - publishes committed outbox rows to Kafka, in sequence order, with
 * an idempotent producer, and removes rows only after their successful
 * delivery report. One relay per store (an exclusive flock on
 * <data.dir>/relay.lock): a second one waits for the lock, so a standby
 * takes over when the owner dies.
 *
 * At-least-once with stable IDs: a crash between the broker's ack and the
 * removal re-publishes the same rows with the same `message-id`. A failed
 * delivery report (never a timeout: message.timeout.ms is infinite by
 * default) re-creates the producer and resends from the oldest unremoved
 * row.
 *
 * Threads: eoc__relay_run() runs the loop on the calling thread (the
 * worker starts it on its own thread); eoc__relay_wake(), _stop() and
 * _stats() may be called from any thread.
 */
#ifndef EOC_RELAY_H
#define EOC_RELAY_H

#include "conf.h"
#include "eoc/eoc.h"
#include "log.h"
#include "store.h"

#include <stdint.h>

typedef struct eoc__relay eoc__relay_t;

/** Borrows store, conf (kafka.*, relay.kafka.*) and log, which must
 *  outlive the relay; reads its settings `st` during the call. */
eoc__relay_t *eoc__relay_create(eoc__store_t *store, const eoc_conf_t *conf,
                                const eoc__settings_t *st, const eoc_log_t *log, char *errstr,
                                size_t errstr_size);
void eoc__relay_destroy(eoc__relay_t *r);

/** Runs until stopped; then drains for at most relay.flush.timeout.ms.
 *  Returns as eoc_relay_run (eoc.h) says. */
eoc_err_t eoc__relay_run(eoc__relay_t *r);

/** New rows were committed: look now instead of at the next poll. */
void eoc__relay_wake(eoc__relay_t *r);

/** Asks the loop to drain and return. Async-signal-safe. */
void eoc__relay_stop(eoc__relay_t *r);

/** Rows below the returned seq are acked by the broker (0 when this relay
 *  does not own the outbox). Any thread. */
uint64_t eoc__relay_acked(eoc__relay_t *r);

/** Someone (the worker, in a committed batch) removed the rows below
 *  `below`. Any thread. */
void eoc__relay_removed(eoc__relay_t *r, uint64_t below);

typedef struct eoc__relay_stats {
    uint64_t published;
    uint64_t errors;
    int owner; /* holds the relay lock */
} eoc__relay_stats_t;

void eoc__relay_stats(eoc__relay_t *r, eoc__relay_stats_t *out);
/** The relay's stage sums (stages.h). */
const struct eoc__stages *eoc__relay_stages(const eoc__relay_t *r);

#endif
