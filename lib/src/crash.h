/*
 * crash - test-only self-kill points for the fault-injection suite.
 *
 * With the build option crash_points and EOC_CRASH_AT="<name>:<n>" in the
 * environment, the n-th pass through eoc__crash_point("<name>") kills the
 * process with SIGKILL (no cleanup, exactly like kill -9); with
 * EOC_CRASH_SIGNAL=STOP it stops there instead (SIGSTOP: a paused process,
 * resumed with SIGCONT). Without the build option the calls compile to
 * nothing. Names used:
 *   worker.handled      after a record's handler, before the LMDB commit
 *   store.commit        inside the write transaction, just before commit
 *   worker.committed    after the LMDB commit, before the Kafka commit
 *   relay.acked         in the relay after the broker's ack, before removal
 * eos.mode=kafka (txn.h), one per gap between the steps of the protocol:
 *   txn.produced        the batch's rows produced into the Kafka transaction
 *   txn.offsets_sent    after send_offsets_to_transaction, before the commit
 *   txn.committed       after the Kafka commit, before the LMDB commit
 *   restore.step        during a restore, after a chunk's LMDB commit
 *   assign.restored     after an assignment's restores, before consuming
 */
#ifndef EOC_CRASH_H
#define EOC_CRASH_H

#ifdef EOC_CRASH_POINTS
void eoc__crash_point(const char *name);
#else
#define eoc__crash_point(name) ((void)0)
#endif

#endif
