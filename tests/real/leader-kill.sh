#!/bin/sh
# Real Kafka, partition leader killed: three nodes, input and output with
# three replicas (min.insync.replicas 2); two workers share one store while
# input keeps arriving. The node leading input partition 0 gets kill -9:
# for 12 s the cluster runs on two nodes (the controller fences the dead one
# after broker.session.timeout.ms, 4 s, and elects new leaders; the group
# coordinator moves if it was there). The workers must keep consuming
# through the failover, without exiting; then the node is started again,
# catches up as a follower, and everything is checked.
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
c0=$(store_consumed "$RUN/data")
node_kill "$victim"
sleep 12
c1=$(store_consumed "$RUN/data")
workers_alive
new=$(real_leader "$IN" 0)
say "node $victim down 12 s: $IN[0] now led by node $new; the store went from $c0 to $c1 consumed, outbox $(outbox_backlog "$RUN/data")"
[ "$new" != "$victim" ] && [ "$new" -gt 0 ] || die "no new leader for $IN[0] within 12 s"
[ "$c1" -gt "$c0" ] || die "nothing consumed in 12 s with two of three nodes up"
node_start "$victim"
sleep 3
producer_loop_stop
wait_progress 180
stop_all_workers 30
check_final
e2e_end
