#!/bin/sh
# eos.mode=kafka, scenario 4: a host's data directory is deleted while it
# is down, and a warm restart.
#   1. Two hosts on separate stores under load; h1 is stopped (SIGTERM),
#      its data directory deleted, more input arrives; h1 starts on an
#      empty directory: it restores its partitions from the changelog in
#      full (from the beginning) and carries on.
#   2. h2 leaves: h1 takes every partition (restoring h2's). Once caught
#      up, h1 is stopped and started again on its (current) store: every
#      partition restores nothing, counted from its log ("restored 0
#      records") and its /metrics (eoc_restores_empty_total), as
#      `eoc inspect --brokers` said before the restart (every changelog
#      copy current).
# The verdict over the whole history must be OK.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
e2e_begin "eos.mode=kafka: a deleted data directory restores; a warm restart restores nothing"

PARTS=6
rand 2000
MPORT=$((21000 + R))
kafka_start 1 "$IN:$PARTS" "$OUT:$PARTS" "$DLQ:1"
produce 4000
host_start h1
host_start h2
producer_loop_start 300 500
wait_for 60 "both hosts to be assigned partitions" sh -c \
    "grep -q 'INFO assigned [1-9]' '$RUN/h1.log' && grep -q 'INFO assigned [1-9]' '$RUN/h2.log'"
sleep 5
worker_stop_ok h1 60
fault_note "h1 down; its data directory $(host_data h1) deleted"
rm -rf "$(host_data h1)"
sleep 5
host_start h1
wait_for 60 "h1 to restore the partitions assigned to it again" host_restored h1
full=$(since_start_count h1 'no recorded changelog position: full restore')
n=$(worker_log_since_start h1 | grep -Eo 'restored [0-9]+ records' | awk '{ s += $2 } END { print s + 0 }')
say "h1 on an empty store: $full full restore(s), $n changelog records restored"
[ "$full" -gt 0 ] && [ "$n" -gt 0 ] || die "h1 did not restore its partitions in full"
sleep 5
fault_note "h2 leaves: h1 takes every partition"
worker_stop_ok h2 60
wait_for 60 "h1 to take all $PARTS partitions" worker_owns h1 "$PARTS"
# and to restore them: a partition is assigned first and restored after,
# and a stop in between leaves its copy behind (restored on assignment)
wait_for 60 "h1 to restore all $PARTS partitions" host_restored h1
producer_loop_stop
wait_progress 180
worker_stop_ok h1 60
# eoc inspect --brokers says the same before the restart: every changelog
# copy in h1's store is current.
timeout -k 5 60 "$TOOL" inspect "$(host_data h1)" --brokers "$BROKERS" >"$RUN/inspect.out" 2>&1 ||
    die "eoc inspect --brokers failed: $(cat "$RUN/inspect.out")"
current=$(grep -c ': current$' "$RUN/inspect.out" || true)
say "eoc inspect --brokers: $current of $PARTS changelog copies current"
[ "$current" -eq "$PARTS" ] || {
    sed 's/^/  inspect: /' "$RUN/inspect.out"
    die "eoc inspect: $current of $PARTS changelog copies current after a clean stop"
}
fault_note "warm restart of h1 on its current store"
host_start h1 --metrics "127.0.0.1:$MPORT"
wait_for 60 "h1 to restore the partitions assigned to it" host_restored h1
empty=$(since_start_count h1 'restored 0 records')
read_n=$(since_start_count h1 'restored [1-9][0-9]* records')
metric=$(curl -s "http://127.0.0.1:$MPORT/metrics" | awk '$1 == "eoc_restores_empty_total" { print $2 }')
say "warm restart: $empty of $PARTS partitions restored 0 records ($read_n restored some); eoc_restores_empty_total $metric"
produce 1000
wait_progress 120
stop_all_workers 60
# h2's copies stopped where it left: inspect must say they are behind.
timeout -k 5 60 "$TOOL" inspect "$(host_data h2)" --brokers "$BROKERS" >"$RUN/inspect-h2.out" 2>&1 ||
    die "eoc inspect --brokers failed: $(cat "$RUN/inspect-h2.out")"
behind=$(grep -c ': behind by at most' "$RUN/inspect-h2.out" || true)
say "eoc inspect --brokers on h2's store: $behind changelog copies behind"
[ "$behind" -gt 0 ] || die "eoc inspect: none of h2's changelog copies is behind, though h1 moved on"
check_final
if [ "$empty" != "$PARTS" ] || [ "$read_n" != 0 ] || [ "$metric" != "$PARTS" ]; then
    say "the warm restart restored something (or did not count it)"
    CHECK_RC=1
fi
e2e_end
