#!/bin/sh
# Real Kafka, the whole cluster stopped and started with the workers
# running: three nodes, two workers on one store, input arriving. Every node
# gets kill -9 (no controlled shutdown, no flushed logs: recovery at
# restart), the cluster stays down 10 s, then all three start again on their
# old ports. Meanwhile the workers must not exit (librdkafka retries, the
# relay keeps its outbox); afterwards they must catch up and publish
# everything, with nothing lost or applied twice.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
e2e_begin "whole cluster kill -9 and restart, workers running (3 nodes)"

kafka_start 3 "$IN:6" "$OUT:6" "$DLQ:1"
produce 10000
worker_start w1 "$RUN/data"
worker_start w2 "$RUN/data"
wait_consumed 3000 60
producer_loop_start 300 500
sleep 2
cluster_kill_all
c0=$(store_consumed "$RUN/data")
sleep 10
workers_alive
say "cluster down 10 s: the store went from $c0 to $(store_consumed "$RUN/data") consumed, outbox $(outbox_backlog "$RUN/data")"
cluster_start_all
workers_alive
sleep 3
producer_loop_stop
wait_progress 180
stop_all_workers 30
check_final
e2e_end
