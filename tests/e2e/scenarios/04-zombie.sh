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
producer_loop_start 500 500
pid1=$(worker_pid w1)

# group_changes: assignment changes logged by both workers so far.
group_changes() {
    cat "$RUN/w1.log" "$RUN/w2.log" | grep -Ec 'INFO (assigned|revoked|lost) '
}
# wait_stable: both workers hold partitions and the group has not changed
# for 8 s (so that the next change can only be w1's eviction).
wait_stable() {
    deadline=$(($(date +%s) + 60))
    last=$(group_changes) quiet=0
    while [ "$quiet" -lt 8 ] || ! worker_assigned w1 || ! worker_assigned w2; do
        [ "$(date +%s)" -lt "$deadline" ] || die "the group did not settle within 60 s"
        workers_alive
        sleep 1
        now=$(group_changes)
        if [ "$now" = "$last" ]; then quiet=$((quiet + 1)); else quiet=0 last=$now; fi
    done
}

# A worker frozen inside its LMDB write transaction holds the writer lock:
# then w2 blocks too (its batches and its assignment write to the store)
# until SIGCONT. That is LMDB's nature, not the zombie case: when the store
# does not move for 10 s while input arrives, thaw w1 and try again.
try=1
while :; do
    wait_stable
    n2=$(assigned_lines w2)
    fault_note "kill -STOP w1 (pid $pid1), past session.timeout.ms=6000 (try $try)"
    kill -STOP "$pid1"
    at_stop=$(store_consumed "$RUN/data")
    t_stop=$(date +%s)
    blocked=0
    while [ "$(assigned_lines w2)" -le "$n2" ]; do
        workers_alive
        sleep 1
        el=$(($(date +%s) - t_stop))
        [ "$el" -lt 40 ] || die "w2 was not assigned w1's partitions within 40 s"
        if [ "$el" -ge 10 ] && [ "$(store_consumed "$RUN/data")" = "$at_stop" ]; then
            blocked=1
            break
        fi
    done
    [ "$blocked" = 1 ] || break
    say "the store has not moved for 10 s: w1 froze holding LMDB's writer lock; SIGCONT and retry"
    fault_note "kill -CONT w1 (pid $pid1)"
    kill -CONT "$pid1"
    try=$((try + 1))
    [ "$try" -le 3 ] || die "w1 froze inside a write transaction 3 times: no zombie case tested"
done
say "w2 was assigned w1's partitions $(($(date +%s) - t_stop)) s after the SIGSTOP: $(grep 'INFO assigned' "$RUN/w2.log" | tail -n 1 | sed 's/.*INFO //')"
sleep 3
producer_loop_stop
produce 5000
sleep 2
progress || true
say "while w1 was stopped, the store advanced from $at_stop to $CONSUMED of $TOTAL consumed"
fault_note "kill -CONT w1 (pid $pid1)"
kill -CONT "$pid1"
produce 5000
wait_progress 90
say "w1 after waking: $(worker_log_since_start w1 | grep -E 'INFO (lost|revoked|assigned)|dropping' | sed 's/.*INFO //; s/.*WARNING //' | tr '\n' ';')"
stop_all_workers 30
check_final
e2e_end
