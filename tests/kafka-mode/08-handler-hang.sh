#!/bin/sh
# eos.mode=kafka, a handler that hangs: eoc-crashy on host h1 sleeps 25 s in
# its handler on the record whose value is "hang", past both
# transaction.timeout.ms (10 s here) and max.poll.interval.ms (10 s here).
#
# eoc opens a batch's Kafka transaction only after its handlers returned,
# so a hang holds no transaction open that the coordinator could time out
# (Kafka Streams' transaction spans its processing). What a long hang does
# end is h1's membership: its polling thread waits for the stuck batch, so
# it stops polling, and librdkafka leaves the group after
# max.poll.interval.ms. Host h2, started during the hang, takes every
# partition and applies the record; when h1's handler returns, its batch is
# refused (its generation is gone) and aborted, and h1 rejoins. The record
# is applied once, its output published once, and the verdict is OK.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
e2e_begin "eos.mode=kafka: a handler hung past the transaction and poll timeouts: applied once"

[ -x "$PRODUCE_RAW" ] && [ -x "$CRASHY" ] || die "eoc-produce-raw or eoc-crashy is not built"
kafka_start 1 "$IN:2" "$OUT:2" "$DLQ:1"
POLL="--set kafka.max.poll.interval.ms=10000"

# shellcheck disable=SC2086 # lists of flags
W_EXE=$CRASHY host_start h1 --hang-value hang --hang-ms 25000 $POLL
wait_for 60 "h1 to own both partitions" worker_owns h1 2
raw_records before 20
raw_record --partition 0 --key k0 --header message-id=the-hang --value hang
hang_at=$(echo "$RAW" | tr ' ' :)
raw_records after 20
wait_for 30 "h1's handler to hang" sh -c "grep -q 'eoc-crashy: hanging' '$RUN/h1.log'"
fault_note "h1's handler hangs 25 s on ${IN}[${hang_at%:*}]@${hang_at#*:}: past transaction.timeout.ms (10 s) and max.poll.interval.ms (10 s); h2 starts"
# shellcheck disable=SC2086
W_EXE=$CRASHY host_start h2 $POLL
wait_for 60 "h1's hang to end" sh -c "grep -q 'eoc-crashy: the hang .* is over' '$RUN/h1.log'"
wait_progress 120
stop_all_workers 60
say "h1: $(log_count h1 'leaving group|max.poll.interval|MAXPOLL') poll-timeout line(s), $(log_count h1 'lost [0-9]+ partition') lost assignment(s), $(log_count h1 'transaction .*(aborting|fatal)') aborted or fenced transaction(s); h2: $(log_count h2 'INFO assigned [1-9]') assignment(s)"
[ "$(log_count h2 'INFO assigned [1-9]')" -gt 0 ] || die "h2 never got a partition: the hang did not cost h1 its membership"
NO_EXPECT=1 check_final --id header:message-id --app generic --outputs 1
e2e_end
