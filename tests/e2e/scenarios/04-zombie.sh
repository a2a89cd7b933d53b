#!/bin/sh
# Scenario 4, zombie: two workers share one store under load; w1 is frozen
# with SIGSTOP for longer than session.timeout.ms, so the group evicts it
# and w2 is assigned its partitions; more input arrives; then w1 resumes
# with SIGCONT, perhaps holding a polled batch for partitions it no longer
# owns (or LMDB's writer lock, which stalls w2 until SIGCONT: that is
# reported, not a failure). Whatever the zombie does after waking, no
# record may be lost or applied twice.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
e2e_begin "zombie: SIGSTOP a worker past session.timeout.ms, then SIGCONT"

assigned_lines() {
    grep -c 'INFO assigned [1-9]' "$RUN/$1.log"
}

kafka_start 1 "$IN:8" "$OUT:8" "$DLQ:1"
produce 10000
worker_start w1 "$RUN/data"
worker_start w2 "$RUN/data"
wait_for 30 "both workers assigned" sh -c "grep -q 'INFO assigned [1-9]' '$RUN/w1.log' &&
    grep -q 'INFO assigned [1-9]' '$RUN/w2.log'"
producer_loop_start 500 500
sleep 2
pid1=$(worker_pid w1)
# A worker frozen inside its LMDB write transaction holds the writer lock:
# then w2 blocks in its own assignment (which writes live markers) until
# SIGCONT. That is LMDB's nature, not the zombie case: thaw, and try again.
try=1
while :; do
    n2=$(assigned_lines w2)
    fault_note "kill -STOP w1 (pid $pid1), past session.timeout.ms=6000 (try $try)"
    kill -STOP "$pid1"
    progress || true
    at_stop=$CONSUMED
    deadline=$(($(date +%s) + 35))
    while [ "$(assigned_lines w2)" -le "$n2" ] && [ "$(date +%s)" -lt "$deadline" ]; do
        workers_alive
        sleep 0.5
    done
    [ "$(assigned_lines w2)" -le "$n2" ] || break
    say "w2 got no partitions in 35 s: w1 froze holding LMDB's writer lock; SIGCONT and retry"
    fault_note "kill -CONT w1 (pid $pid1)"
    kill -CONT "$pid1"
    try=$((try + 1))
    [ "$try" -le 3 ] || die "w1 froze inside a write transaction 3 times: no zombie case tested"
    wait_for 40 "w1 and w2 to settle" sh -c "[ \$(grep -c 'INFO assigned [1-9]' '$RUN/w1.log') -gt 0 ]"
    sleep 8
done
say "w2 was assigned w1's partitions: $(grep 'INFO assigned' "$RUN/w2.log" | tail -n 1 | sed 's/.*INFO //')"
sleep 3
producer_loop_stop
produce 5000
sleep 2
progress || true
say "while w1 was stopped, the store advanced from $at_stop to $CONSUMED of $TOTAL consumed"
[ "$CONSUMED" -gt "$at_stop" ] ||
    say "note: w2 made no progress while w1 was stopped (w1 froze holding LMDB's writer lock)"
fault_note "kill -CONT w1 (pid $pid1)"
kill -CONT "$pid1"
produce 5000
wait_progress 90
say "w1 after waking: $(worker_log_since_start w1 | grep -E 'INFO (lost|revoked|assigned)|dropping' | sed 's/.*INFO //; s/.*WARNING //' | tr '\n' ';')"
stop_all_workers 30
check_final
e2e_end
