#!/bin/sh
# Scenario 5, brokers down and back: three brokers, input partitions led
# round-robin by brokers 1-3; while two workers run and input keeps
# arriving, first the broker leading a third of the input (and of the
# output) goes down for 8 s and comes back, then all three go down for
# 8 s and come back. The workers must ride it out (no exit, no restart)
# and catch up; the relay's backlog must drain.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
e2e_begin "broker down and back: one input leader, then all brokers"

kafka_start 3 "$IN:9" "$OUT:9" "$DLQ:1"
p=0
while [ "$p" -lt 9 ]; do
    kafka_cmd leader "$IN" "$p" $((p % 3 + 1)) >/dev/null || die "leader $IN $p"
    kafka_cmd leader "$OUT" "$p" $((p % 3 + 1)) >/dev/null || die "leader $OUT $p"
    p=$((p + 1))
done
kafka_cmd leader "$DLQ" 0 1 >/dev/null || die "leader $DLQ 0"
produce 10000
worker_start w1 "$RUN/data"
worker_start w2 "$RUN/data"
wait_consumed 5000 40
producer_loop_start 300 500
sleep 2
rand 3
b=$((R + 1))
fault "broker down $b"
c0=$(store_consumed "$RUN/data")
sleep 8
say "broker $b down for 8 s: the store went from $c0 to $(store_consumed "$RUN/data") consumed, outbox $(outbox_backlog "$RUN/data")"
fault "broker up $b"
sleep 5
workers_alive
for b in 1 2 3; do
    fault "broker down $b"
done
c0=$(store_consumed "$RUN/data")
sleep 8
say "all brokers down for 8 s: the store went from $c0 to $(store_consumed "$RUN/data") consumed, outbox $(outbox_backlog "$RUN/data")"
for b in 1 2 3; do
    fault "broker up $b"
done
sleep 3
producer_loop_stop
wait_progress 120
stop_all_workers 30
check_final
e2e_end
