#!/bin/sh
# eos.mode=kafka, scenario 5: the crash points of the commit path and of
# restore (lib/src/crash.h), each followed by a restart and, at the end,
# one verdict over the whole history. Input keeps arriving.
#   txn.produced      the batch produced into the open transaction: the
#                     restart's init_transactions aborts it
#   txn.offsets_sent  offsets sent, not committed: aborted likewise
#   txn.committed     Kafka committed, LMDB not: the store is behind; the
#                     restart's restore reads the batch's changelog records
#   restore.step      in a restore from an empty store (the data directory
#                     deleted), after a chunk: the restart goes on from the
#                     recorded position
#   assign.restored   restored, not yet consuming
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
e2e_begin "eos.mode=kafka: crash points of the transaction and of restore, each with a restart"

kafka_start 1 "$IN:4" "$OUT:4" "$DLQ:1"
produce 4000
producer_loop_start 200 500

# crash_at POINT PASS [flags...]: h1 runs (with the flags) until the crash
# point kills it, then starts again normally and catches up with the input
# so far.
crash_at() {
    [ -z "$(worker_pid h1)" ] || worker_stop_ok h1 60
    _ca_point=$1
    _ca_pass=$2
    shift 2
    W_ENV="EOC_CRASH_AT=$_ca_point:$_ca_pass" host_start h1 "$@"
    set -- "$_ca_point" "$_ca_pass"
    wait_exit h1 180
    [ "$EXIT_RC" = 137 ] || die "h1 exited with $EXIT_RC instead of dying at $1"
    fault_note "h1 died at crash point $1 (pass $2)"
    host_start h1
    wait_for 90 "h1 to restore its partitions after $1" host_restored h1
}

rand 20
crash_at txn.produced $((R + 5))
rand 20
crash_at txn.offsets_sent $((R + 5))
rand 20
crash_at txn.committed $((R + 5))
behind=$(worker_log_since_start h1 | grep -Eo 'restored [0-9]+ records' | awk '$2 > 0' | wc -l)
say "after txn.committed: $behind partition(s) restored records the store missed"
[ "$behind" -gt 0 ] || die "the store was not behind after a crash between the Kafka and the LMDB commit"
wait_progress 120
worker_stop_ok h1 60
fault_note "h1's data directory deleted: the next start restores in full"
rm -rf "$(host_data h1)"
# Chunks of 300 changelog records: every partition's restore takes several.
crash_at restore.step 2 --set eos.restore.batch.records=300
resumed=$(worker_log_since_start h1 | grep -Ec 'reading .* from [1-9]')
say "after restore.step: $resumed partition restore(s) resumed from a recorded position"
[ "$resumed" -gt 0 ] || die "the restore did not resume where the killed one stopped"
rand 3
crash_at assign.restored 1
producer_loop_stop
wait_progress 180
stop_all_workers 60
check_final
[ "$(check_count transport_duplicates)" = 0 ] || CHECK_RC=1
e2e_end
