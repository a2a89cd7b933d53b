#!/bin/sh
# Scenario 6, Produce errors on the relay: three brokers; the input is led
# by broker 1, the output by broker 2, the dead letters by broker 3, so that
# errors injected into broker 2's Produce handling hit the relay only (not
# the workload generator). First retriable errors (NOT_LEADER_FOR_PARTITION,
# REQUEST_TIMED_OUT: the request was not executed), then "applied but
# answered late" (error 0 with a 5 s round trip, above the relay producer's
# socket.timeout.ms of 2 s, so the producer retries a request the broker
# already applied; the development Kafka does not dedupe idempotent
# retries); last a non-retriable MSG_SIZE_TOO_LARGE, after which the relay
# re-creates its producer and resends from the oldest unacked row. The
# checker must count the re-published rows as transport duplicates (I3,
# allowed) and find no processing duplicate.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
e2e_begin "Produce errors on the relay: retriable, and applied-but-answered-late"

kafka_start 3 "$IN:8" "$OUT:8" "$DLQ:1"
p=0
while [ "$p" -lt 8 ]; do
    kafka_cmd leader "$IN" "$p" 1 >/dev/null || die "leader $IN $p"
    kafka_cmd leader "$OUT" "$p" 2 >/dev/null || die "leader $OUT $p"
    p=$((p + 1))
done
kafka_cmd leader "$DLQ" 0 3 >/dev/null || die "leader $DLQ 0"
produce 10000
# socket.timeout.ms is librdkafka's client-side request timeout (the
# request.timeout.ms alone does not time out an in-flight ProduceRequest).
RELAY_FLAGS="--set relay.kafka.socket.timeout.ms=2000"
worker_start w1 "$RUN/data" $RELAY_FLAGS
worker_start w2 "$RUN/data" $RELAY_FLAGS
wait_consumed 2000 40
fault broker-errors 2 Produce NOT_LEADER_FOR_PARTITION 0 6
fault broker-errors 2 Produce REQUEST_TIMED_OUT 0 6
fault broker-errors 3 Produce NOT_LEADER_FOR_PARTITION 0 2
produce 5000
wait_progress 60
fault broker-errors 2 Produce 0 5000 4
produce 5000
wait_progress 90
# A non-retriable error fails the delivery: the relay must re-create its
# producer and resend from the oldest row not yet acked.
fault broker-errors 2 Produce MSG_SIZE_TOO_LARGE 0 1
produce 3000
wait_progress 60
say "relay: $(cat "$RUN/w1.log" "$RUN/w2.log" | grep -c 'relay: delivery of outbox row') failed deliveries logged (resent from the oldest unacked row)"
stop_all_workers 30
check_final
tdups=$(check_count transport_duplicates)
say "relay: $(cat "$RUN/w1.log" "$RUN/w2.log" | grep -c 'Timed out ProduceRequest in flight') Produce requests timed out in flight and were retried"
if [ "$CHECK_RC" = 0 ] && [ "${tdups:-0}" -eq 0 ]; then
    VERDICT="$VERDICT
but: no transport duplicate: the late answers caused no re-publication, nothing was tested"
    CHECK_RC=1
fi
e2e_end
