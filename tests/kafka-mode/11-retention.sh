#!/bin/sh
# eos.mode=kafka, inbox retention by tombstones: host h1 keeps the inbox
# IDs of the last 300 offsets per partition (inbox.retention.count). Its
# batches prune inside their own LMDB transaction and put a tombstone per
# removed ID into the same Kafka transaction as their outputs, so the
# changelog forgets what the store forgot. Then h1's store is set aside
# and a new host h2 restores every partition from the changelog's
# beginning: it must end with exactly the IDs h1 kept (the tombstones
# undo the IDs they follow), not every ID ever applied. The verdict over
# the run is OK. The input has no re-sent records: a re-send older than
# the retention window is applied again, which is what retention means.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
e2e_begin "eos.mode=kafka: inbox retention writes changelog tombstones; a restore keeps only retained IDs"

N=6000
RET="--set inbox.retention.count=300 --set inbox.prune.interval.ms=100"
rand 2000
MPORT=$((23000 + R))
kafka_start 1 "$IN:3" "$OUT:3" "$DLQ:1"

# inbox_entries NAME: the inbox entries of host NAME's store (eoc inspect).
inbox_entries() {
    timeout -k 5 30 "$TOOL" inspect "$(host_data "$1")" --json >"$RUN/inspect-$1.json" 2>&1 ||
        die "eoc inspect $(host_data "$1") failed: $(cat "$RUN/inspect-$1.json")"
    check_field "$RUN/inspect-$1.json" inbox.entries
}

# shellcheck disable=SC2086 # a list of flags
host_start h1 $RET --metrics "127.0.0.1:$MPORT"
produce "$N" --dup-ratio 0
wait_progress 120
# Retention runs with the batches: the next ones prune what the first
# left behind.
produce 900 --dup-ratio 0
wait_progress 120
pruned=$(curl -s "http://127.0.0.1:$MPORT/metrics" | awk '$1 == "eoc_inbox_pruned_total" { print $2 }')
worker_stop_ok h1 60
kept=$(inbox_entries h1)
say "h1 pruned ${pruned:-?} inbox entries and kept $kept of $((N + 900))"
[ "${pruned:-0}" -gt 0 ] && [ "$kept" -lt $((N / 2)) ] || die "h1's inbox retention removed too little"

fault_note "h1 gone for good; h2 on an empty store restores every partition from the changelog"
# shellcheck disable=SC2086
host_start h2 $RET
wait_for 60 "h2 to restore its partitions" host_restored h2
wait_progress 120
worker_stop_ok h2 60
restored=$(inbox_entries h2)
say "h2 restored $restored inbox entries (h1 kept $kept)"
[ "$restored" -eq "$kept" ] ||
    die "the restore brought back $restored inbox entries, not the $kept h1 kept: tombstones missing"
check_final
e2e_end
