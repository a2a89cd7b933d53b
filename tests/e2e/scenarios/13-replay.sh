#!/bin/sh
# Scenario 13, replay to the beginning: two workers consume everything and
# stop; `eoc replay DIR --to-beginning` rewinds the group's Kafka offsets and
# the store's; the workers run again over the whole input. Zero new effects:
# every re-read record with an ID is a duplicate (applied=0 in the workers'
# final counters), no new output appears (outputs unchanged), and the checker
# is OK. Records without a usable message ID (the generator's not-JSON and
# no-id records) cannot be recognised again: they are dead-lettered again,
# with the same dead-letter ID (a transport duplicate in the DLQ).
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
e2e_begin "replay to the beginning: zero new effects"


kafka_start 1 "$IN:8" "$OUT:8" "$DLQ:1"
produce 20000
worker_start w1 "$RUN/data"
worker_start w2 "$RUN/data"
wait_progress 90
stop_all_workers 30
check_final
outputs0=$(check_count outputs)
[ -n "$outputs0" ] || die "the first verdict has no output count (see check.out)"
say "first pass: $VERDICT"

fault_note "eoc replay $RUN/data --group $GROUP --topic $IN --to-beginning --execute"
timeout -k 5 60 "$TOOL" replay "$RUN/data" --brokers "$BROKERS" --group "$GROUP" --topic "$IN" \
    --to-beginning --execute >"$RUN/replay.out" 2>&1 || die "eoc replay failed: $(cat "$RUN/replay.out")"
sed 's/^/  replay: /' "$RUN/replay.out" | head -n 20
c=$(store_consumed "$RUN/data")
[ "$c" -eq 0 ] || die "after the rewind the store still has $c consumed"
worker_start w1 "$RUN/data"
worker_start w2 "$RUN/data"
wait_progress 90
stop_all_workers 30
applied=$(stats_sum applied)
dups=$(stats_sum duplicates)
dead=$(stats_sum dead_letters)
consumed=$(stats_sum consumed)
say "replay pass: consumed $consumed, applied $applied, duplicates $dups, dead letters $dead"
check_final
outputs1=$(check_count outputs)
[ "$applied" -eq 0 ] || die "the replay applied $applied records again"
[ "$outputs1" = "$outputs0" ] || die "the output topic grew from $outputs0 to $outputs1 records"
[ $((dups + dead)) -eq 20000 ] || die "replayed records: $dups duplicates + $dead dead letters != 20000"
e2e_end
