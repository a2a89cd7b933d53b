#!/bin/sh
# Scenario 9, coordinator and leader moves: three brokers; while two
# workers run and input keeps arriving, every 2 s the group coordinator
# moves to another broker and the leaders of two input partitions and two
# output partitions move, for about 30 s. Workers and relay must follow the
# moves (NOT_COORDINATOR, NOT_LEADER_FOR_PARTITION, metadata refreshes)
# without exiting, and catch up. Then Fetch errors and a slow broker.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
e2e_begin "coordinator and partition leader moves, Fetch errors, a slow broker; 3 brokers"

kafka_start 3 "$IN:8" "$OUT:8" "$DLQ:1"
produce 5000
worker_start w1 "$RUN/data"
worker_start w2 "$RUN/data"
wait_consumed 2000 40
producer_loop_start 400 500
end=$(($(date +%s) + 30))
while [ "$(date +%s)" -lt "$end" ]; do
    workers_alive
    rand 3
    fault coordinator group "$GROUP" $((R + 1))
    for t in "$IN" "$IN" "$OUT" "$OUT"; do
        rand 8
        p=$R
        rand 3
        fault leader "$t" "$p" $((R + 1))
    done
    sleep 2
done
# then Fetch errors and a slow broker (200 ms per request) for 6 s
fault errors Fetch NOT_LEADER_FOR_PARTITION 4
fault errors Fetch UNKNOWN_TOPIC_OR_PART 2
rand 3
slow=$((R + 1))
fault broker rtt "$slow" 200
sleep 6
fault broker rtt "$slow" 0
producer_loop_stop
wait_progress 90
stop_all_workers 30
check_final
e2e_end
