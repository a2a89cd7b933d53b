#!/bin/sh
# eos.mode=kafka, a network partition: host h1 runs in a network namespace
# of its own, joined to the cluster by a veth pair; h2 runs beside the
# cluster. Under load, h1's link goes down for 20 s: its packets go nowhere
# (no reset, no refusal), past the session timeout (6 s) and the
# transaction timeout (10 s). The group gives h2 every partition and h2
# moves on; h1, cut off, loses its assignment. Then the link comes back:
# whatever h1 had in flight is refused (its generation and, after the
# transaction timeout, its producer epoch are gone) and aborted, and h1
# rejoins and takes partitions again, restoring what h2 did meanwhile.
# Nothing h1 did after it lost its partitions may be visible: the verdict
# (every input ID applied once, zero transport duplicates read
# read_committed, balances) must be OK.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
e2e_begin "eos.mode=kafka: a host cut off the network past its session and healed"

PARTS=6
netns_up h1 # before the cluster: it listens on the veth's address
kafka_start 1 "$IN:$PARTS" "$OUT:$PARTS" "$DLQ:1"
produce 4000
W_PREFIX=$(netns_exec) host_start h1
host_start h2
wait_for 60 "both hosts to be assigned partitions" sh -c \
    "grep -q 'INFO assigned [1-9]' '$RUN/h1.log' && grep -q 'INFO assigned [1-9]' '$RUN/h2.log'"
producer_loop_start 300 500
sleep 3

# assigned_since NAME N: NAME has had more than N assignments since its start.
assigned_since() {
    [ "$(since_start_count "$1" 'INFO assigned [1-9]')" -gt "$2" ]
}

netns_cut
fault_note "h1 cut off the network (its namespace's link down)"
wait_for 60 "h2 to own all $PARTS partitions" worker_owns h2 "$PARTS"
sleep 12 # 20 s in all: past the transaction timeout too
before=$(since_start_count h1 'INFO assigned [1-9]')
netns_heal
fault_note "h1's link up again"
wait_for 90 "h1 to be assigned partitions again" assigned_since h1 "$before"
sleep 3
producer_loop_stop
wait_progress 180
stop_all_workers 60
say "h1: $(log_count h1 'INFO lost [0-9]+ partition') lost assignment(s), $(log_count h1 'transaction .*\(aborting\)') aborted transaction(s), $(log_count h1 'fenced or failed') producer(s) re-created, $(log_count h1 'restored [0-9]+ records') restore(s)"
[ "$(log_count h1 'INFO (lost|revoked) [0-9]+ partition')" -gt 0 ] ||
    die "h1 never gave up a partition: the cut did not reach it"
check_final
e2e_end
