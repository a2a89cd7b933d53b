#!/bin/sh
# eos.mode=kafka, scenario 2: e2e scenario 14 turned positive. Two workers
# of one group on SEPARATE data directories ("hosts"), input arriving with
# re-sent transfers (same ID, same bytes): partitions move back and forth
# between the two stores (a host joins and takes half, leaves with SIGTERM
# and hands them back, the other does the same), ROUNDS times. Each move is
# a restore of the partition's inbox and state from the changelog on the
# receiving host, so a re-sent transfer whose original the other host
# applied is a duplicate there too: the verdict must be OK, with zero
# processing duplicates (I2) and zero transport duplicates.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
e2e_begin "eos.mode=kafka: two hosts, separate stores, rebalances back and forth under load"

ROUNDS=${KM_ROUNDS:-3}
kafka_start 1 "$IN:8" "$OUT:8" "$DLQ:1"
produce 4000
host_start h1
wait_for 60 "h1 to be assigned partitions" worker_assigned h1
wait_consumed 3000 60
producer_loop_start 300 500
r=1
while [ "$r" -le "$ROUNDS" ]; do
    for pair in "h2 h1" "h1 h2"; do
        # shellcheck disable=SC2086
        set -- $pair
        mover=$1 stayer=$2
        if [ -z "$(worker_pid "$mover")" ]; then
            fault_note "round $r: $mover joins on its own store: it takes partitions from $stayer"
            host_start "$mover"
            wait_for 60 "$mover to be assigned partitions" worker_assigned "$mover"
            sleep 3
        fi
        fault_note "round $r: $mover leaves (SIGTERM): $stayer takes its partitions back"
        worker_stop_ok "$mover" 60
        sleep 3
        fault_note "round $r: $mover rejoins"
        host_start "$mover"
        wait_for 60 "$mover to be assigned partitions" worker_assigned "$mover"
        sleep 3
    done
    r=$((r + 1))
done
producer_loop_stop
wait_progress 180
stop_all_workers 60
restored=0 moves=0
for h in h1 h2; do
    n=$(grep -Eo 'restored [0-9]+ records' "$RUN/$h.log" | awk '{ s += $2 } END { print s + 0 }')
    restored=$((restored + n))
    moves=$((moves + $(log_count "$h" 'restore .*: reading ')))
done
say "partition restores that read the changelog: $moves; changelog records restored: $restored"
check_final
[ "$(check_count transport_duplicates)" = 0 ] || CHECK_RC=1
if [ "$moves" -eq 0 ]; then
    say "no partition was restored from the changelog: the scenario proved nothing"
    CHECK_RC=1
fi
e2e_end
