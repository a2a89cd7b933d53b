#!/bin/sh
# eos.mode=kafka, scenario 1: three workers on three separate data
# directories ("hosts"), transfers arriving, and a SIGKILL storm: every
# 1-3 s a random worker that holds partitions is killed and restarted on its
# own store, for STORM_S seconds. Partitions move between stores all the
# time, each move a restore from the changelog. Then the input stops, the
# workers catch up and stop with SIGTERM, and eoc-check --eos kafka proves
# the whole history: one disposition per record, no double effect, no
# transport duplicate (read_committed), balances as the generator's.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
e2e_begin "eos.mode=kafka: three hosts, separate stores, SIGKILL storm while producing"

STORM_S=${KM_STORM_S:-60} PARTS=6 CHUNK_N=300
kafka_start 1 "$IN:$PARTS" "$OUT:$PARTS" "$DLQ:1"
produce 3000
producer_loop_start "$CHUNK_N" 1000
for h in h1 h2 h3; do
    host_start "$h"
done

kills=0
end=$(($(date +%s) + STORM_S))
while [ "$(date +%s)" -lt "$end" ]; do
    rand 2001
    sleep_ms $((1000 + R))
    workers_alive
    victims=
    for w in $WORKERS; do
        ! worker_assigned "$w" || victims="$victims $w"
    done
    [ -n "$victims" ] || continue
    # shellcheck disable=SC2086
    set -- $victims
    rand $#
    shift "$R"
    victim=$1
    worker_kill "$victim" KILL
    kills=$((kills + 1))
    host_start "$victim"
    progress || true
    say "kill $kills: $victim restarted; consumed $CONSUMED of $TOTAL"
done
producer_loop_stop
wait_progress 240
stop_all_workers 60
restored=0 aborts=0
for h in h1 h2 h3; do
    n=$(grep -Eo 'restored [0-9]+ records' "$RUN/$h.log" | awk '{ s += $2 } END { print s + 0 }')
    restored=$((restored + n))
    aborts=$((aborts + $(log_count "$h" 'transaction .*(aborting)')))
done
say "$kills kills; changelog records restored: $restored; aborted transactions: $aborts"
check_final
e2e_end
