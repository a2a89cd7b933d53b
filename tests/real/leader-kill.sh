#!/bin/sh
# Real Kafka, partition leader killed: three nodes, input and output with
# three replicas (min.insync.replicas 2); two workers share one store while
# input keeps arriving. The node leading input partition 0 gets kill -9
# and the cluster runs on two nodes (the controller fences the dead one
# after broker.session.timeout.ms, 4 s, and elects new leaders; the group
# coordinator moves if it was there). The workers must resume consuming
# within 30 s (the time is printed), without exiting, and run 5 s more;
# then the node is started again, catches up as a follower, and everything
# is checked.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
e2e_begin "kill -9 of a partition leader mid-run, and its restart (3 nodes)"

kafka_start 3 "$IN:6" "$OUT:6" "$DLQ:1"
produce 10000
worker_start w1 "$RUN/data"
worker_start w2 "$RUN/data"
wait_consumed 3000 60
producer_loop_start 300 500
sleep 2
victim=$(real_leader "$IN" 0)
[ -n "$victim" ] && [ "$victim" -gt 0 ] || die "no leader for $IN[0]"
coord=$(real_coordinator "$GROUP")
say "node $victim leads $IN[0]; node $coord coordinates $GROUP"
node_kill "$victim"
t0=$(now_ms)
sleep 1 # a batch polled before the fault may still commit: not a resumption
c0=$(store_consumed "$RUN/data")
# Consumption must resume with two of three nodes: new leaders come after
# the controller fences the dead node (broker.session.timeout.ms, 4 s); if
# the node was the group's coordinator too, the members' sessions die with
# it (session.timeout.ms, 6 s) and the group rejoins at the new one.
resumed=
while [ $(($(now_ms) - t0)) -lt 30000 ]; do
    workers_alive
    [ "$(store_consumed "$RUN/data")" -le "$c0" ] || { resumed=$(($(now_ms) - t0)); break; }
    sleep 0.5
done
[ -n "$resumed" ] || die "nothing consumed within 30 s with two of three nodes up"
say "node $victim down: consumption resumed after $resumed ms"
sleep 5
workers_alive
new=$(real_leader "$IN" 0)
say "$IN[0] now led by node $new; the store went from $c0 to $(store_consumed "$RUN/data") consumed, outbox $(outbox_backlog "$RUN/data")"
[ "$new" != "$victim" ] && [ "$new" -gt 0 ] || die "no new leader for $IN[0]"
node_start "$victim"
sleep 3
producer_loop_stop
wait_progress 180
stop_all_workers 30
check_final
e2e_end
