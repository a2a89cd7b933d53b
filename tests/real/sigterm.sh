#!/bin/sh
# Real Kafka, SIGTERM: (a) under load, three times: the worker stops
# consuming, commits, lets the relay drain and exits 0 with an empty outbox
# (eoc inspect --json: backlog 0); (b) with the whole cluster down (every
# node kill -9) while input was arriving: it must exit 0 within
# relay.flush.timeout.ms (10 s by default) + 10 s, keeping whatever outbox
# rows are pending; after the cluster comes back a restarted worker
# publishes them and the checker finds everything in place. The e2e
# scenario 12 does the same on the development Kafka, with brokers marked
# down (which refuse connections at once) instead of processes killed.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
e2e_begin "SIGTERM: drain under load; and with the whole cluster killed (3 nodes)"

kafka_start 3 "$IN:6" "$OUT:6" "$DLQ:1"

# (a) batch.max.ms=1000: batches stay open for a second, so a SIGTERM
# usually finds records buffered while the relay sits idle.
produce 5000
producer_loop_start 500 300
k=1
while [ "$k" -le 3 ]; do
    worker_start w1 "$RUN/data" --batch 5000 --batch-ms 1000
    wait_for 60 "w1 to be assigned partitions" worker_assigned w1
    sleep 2
    progress || true
    fault_note "SIGTERM w1 under load ($CONSUMED of $TOTAL consumed, input arriving)"
    worker_stop w1 30
    [ "$STOP_RC" -eq 0 ] || die "w1 exited with $STOP_RC after SIGTERM under load"
    backlog=$(outbox_backlog "$RUN/data")
    say "(a$k) w1 exit 0 after $STOP_MS ms; outbox backlog $backlog"
    [ "$backlog" = 0 ] || die "cycle $k: $backlog outbox row(s) pending after exit 0 (I8)"
    k=$((k + 1))
done
producer_loop_stop

# (b) the whole cluster killed under load
produce 10000
worker_start w1 "$RUN/data" --batch 200
wait_consumed 9000 90
cluster_kill_all
sleep 1
before=$(outbox_backlog "$RUN/data")
fault_note "SIGTERM w1 with every node down ($before outbox rows pending)"
worker_stop w1 40
say "(b) w1 exit $STOP_RC after $STOP_MS ms (bound: relay.flush.timeout.ms 10000 + 10000)"
[ "$STOP_MS" -le 20000 ] || die "w1 took $STOP_MS ms to stop with the cluster down"
[ "$STOP_RC" -eq 0 ] || die "w1 exited with $STOP_RC after SIGTERM with the cluster down"
after=$(outbox_backlog "$RUN/data")
say "(b) outbox kept: $after rows pending after the stop ($before before)"
[ "$after" -ge "$before" ] || die "outbox rows went missing while no node was up ($before before, $after after)"
cluster_start_all
worker_start w1 "$RUN/data"
wait_progress 120
worker_stop_ok w1
say "after the restart: outbox backlog $(outbox_backlog "$RUN/data")"
check_final
e2e_end
