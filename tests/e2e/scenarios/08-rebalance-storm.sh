#!/bin/sh
# Scenario 8, rebalance storm: three workers over one shared store; every
# 2-4 s a random one leaves (SIGTERM: it must drain, commit and exit 0) or,
# if it is stopped, joins again, for about 30 s while input keeps arriving.
# At least one worker always runs. Then the running ones catch up and stop.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
e2e_begin "rebalance storm: workers leaving (SIGTERM) and joining every few seconds"

kafka_start 1 "$IN:8" "$OUT:8" "$DLQ:1"
produce 5000
for w in w1 w2 w3; do
    worker_start "$w" "$RUN/data"
done
wait_consumed 2000 40
producer_loop_start 300 500
changes=0
end=$(($(date +%s) + 30))
while [ "$(date +%s)" -lt "$end" ]; do
    rand 2001
    sleep_ms $((2000 + R))
    workers_alive
    rand 3
    w=w$((R + 1))
    running=0
    for x in w1 w2 w3; do
        [ -z "$(worker_pid "$x")" ] || running=$((running + 1))
    done
    if [ -n "$(worker_pid "$w")" ] && [ "$running" -gt 1 ]; then
        fault_note "SIGTERM $w (leaves the group)"
        worker_stop_ok "$w" 30
    elif [ -z "$(worker_pid "$w")" ]; then
        fault_note "start $w (joins the group)"
        worker_start "$w" "$RUN/data"
    else
        continue
    fi
    changes=$((changes + 1))
done
producer_loop_stop
wait_progress 90
say "$changes membership changes; $(cat "$RUN"/w?.log | grep -Ec 'INFO (assigned|revoked|lost) ') assignment changes logged"
stop_all_workers 30
check_final
e2e_end
