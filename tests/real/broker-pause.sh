#!/bin/sh
# Real Kafka, a node paused past every session timeout: three nodes, two
# workers on one store, input arriving. The node coordinating the group is
# frozen with SIGSTOP for at least 15 s: longer than the workers' session
# timeout (6 s) and the broker's (4 s); consumption must resume on the two
# other nodes within 30 s (the time is printed), the node still frozen. Its connections stay open but answer
# nothing, which a dead node never does: the workers' heartbeats and
# commits time out instead of failing fast, the controller fences the node
# and moves its leaders and the coordinator. The workers must ride it out
# without exiting. Then SIGCONT: the node wakes up fenced, with stale
# state, and must rejoin without harm.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
e2e_begin "a node (the group coordinator) paused past the session timeouts (3 nodes)"

kafka_start 3 "$IN:6" "$OUT:6" "$DLQ:1"
produce 10000
worker_start w1 "$RUN/data"
worker_start w2 "$RUN/data"
wait_consumed 3000 60
producer_loop_start 300 500
sleep 2
victim=$(real_coordinator "$GROUP")
[ -n "$victim" ] && [ "$victim" -gt 0 ] || die "no coordinator for $GROUP"
node_pause "$victim"
t0=$(now_ms)
sleep 1 # a batch polled before the fault may still commit: not a resumption
c0=$(store_consumed "$RUN/data")
# Paused at least 15 s, and until consumption resumed (at most 30 s).
resumed=
while [ $(($(now_ms) - t0)) -lt 30000 ]; do
    workers_alive
    [ -n "$resumed" ] || [ "$(store_consumed "$RUN/data")" -le "$c0" ] || resumed=$(($(now_ms) - t0))
    [ -z "$resumed" ] || [ $(($(now_ms) - t0)) -lt 15000 ] || break
    sleep 0.5
done
c1=$(store_consumed "$RUN/data")
say "node $victim (the coordinator) paused $((($(now_ms) - t0) / 1000)) s: consumption resumed after ${resumed:-(never)} ms; the store went from $c0 to $c1 consumed, outbox $(outbox_backlog "$RUN/data")"
[ -n "$resumed" ] || die "nothing consumed within 30 s with two of three nodes up"
node_resume "$victim"
sleep 5
say "after SIGCONT: $GROUP coordinated by node $(real_coordinator "$GROUP")"
producer_loop_stop
wait_progress 180
stop_all_workers 30
check_final
e2e_end
