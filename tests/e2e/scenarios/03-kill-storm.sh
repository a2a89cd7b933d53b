#!/bin/sh
# Scenario 3, random kill storm: 1-3 eoc-ledger workers share one data
# directory (the supported topology) while transfers keep arriving; every
# 1-3 s a random worker gets kill -9 and is restarted at once, for about
# 60 s (EOC_E2E_SOAK=1: 10 minutes). Only a worker that holds partitions
# since its last start is a victim: a restarted member is assigned only after
# its killed predecessor's session timed out (6 s), and a storm that only
# ever kills joining workers would test nothing. Then the input stops, the workers
# catch up and stop with SIGTERM, and the checker proves the whole history.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
e2e_begin "random kill storm over one shared store, input arriving"

# Soak mode: 16 partitions and smaller chunks, so that 10 minutes of input,
# output and re-published output stay under the development Kafka's ~5 MiB
# per partition.
STORM_S=60 PARTS=8 CHUNK_N=500
[ "$SOAK" != 1 ] || STORM_S=600 PARTS=16 CHUNK_N=100
kafka_start 1 "$IN:$PARTS" "$OUT:$PARTS" "$DLQ:1"
rand 3
NW=$((R + 1))
say "$NW worker(s), storm of $STORM_S s"
produce 5000
producer_loop_start "$CHUNK_N" 1000
i=1
while [ "$i" -le "$NW" ]; do
    worker_start "w$i" "$RUN/data"
    i=$((i + 1))
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
    set -- $victims
    rand $#
    shift "$R"
    victim=$1
    worker_kill "$victim" KILL
    kills=$((kills + 1))
    worker_start "$victim" "$RUN/data"
    progress || true
    say "kill $kills: $victim restarted; consumed $CONSUMED of $TOTAL, outbox $OUTBOX"
done
producer_loop_stop
wait_progress 180
stop_all_workers 30
check_final
e2e_end
