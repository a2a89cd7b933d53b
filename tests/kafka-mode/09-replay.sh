#!/bin/sh
# eos.mode=kafka, replay: two hosts on separate stores consume everything
# and stop; `eoc replay DIR --to-beginning --execute` (on one host's
# directory) rewinds the group's committed offsets, which are this mode's
# positions; both hosts run again over the whole input. Zero new effects:
# every re-read record is a duplicate by its ID in the inbox its partition
# restored from the changelog (applied=0 in the hosts' final counters), the
# output and dead-letter topics do not grow, and the verdict is OK.
#
# The first pass ends with h2 killed (SIGKILL, a session of 20 s): its
# member stays in the group until the session expires, so `eoc replay`
# must refuse at once ("live member(s)", nothing changed), and with
# `--wait 60s` wait for the member to expire and then rewind.
#
# The input has no record without a message ID: such a record cannot be
# recognised again and is dead-lettered again on a replay (in both modes;
# this mode's checker counts the second dead letter as a transport
# duplicate, so the scenario leaves them out).
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
e2e_begin "eos.mode=kafka: replay to the beginning applies nothing twice"


N=6000
kafka_start 1 "$IN:6" "$OUT:6" "$DLQ:1"
produce "$N" --malformed 0
host_start h1
host_start h2 --set kafka.session.timeout.ms=20000
wait_progress 120
worker_stop h1 60
worker_kill h2
check_final
outputs0=$(check_count outputs)
dlq0=$(check_count dlq_records)
[ -n "$outputs0" ] || die "the first verdict has no output count (see check.out)"
say "first pass: $VERDICT"

# h2's member lives on for its session (20 s): a replay now is refused.
rc=0
timeout -k 5 60 "$TOOL" replay "$(host_data h1)" --brokers "$BROKERS" --group "$GROUP" \
    --topic "$IN" --to-beginning --execute >"$RUN/replay-refused.out" 2>&1 || rc=$?
[ "$rc" -eq 1 ] && grep -q "live member(s)" "$RUN/replay-refused.out" ||
    die "eoc replay beside the killed host's member: exit $rc, not a refusal: $(cat "$RUN/replay-refused.out")"
say "beside the killed host's member: $(grep "live member" "$RUN/replay-refused.out")"
progress || true
[ "$CONSUMED" -eq "$N" ] || die "the refused replay moved the group's offsets ($CONSUMED committed)"

fault_note "eoc replay $(host_data h1) --group $GROUP --topic $IN --to-beginning --execute --wait 60s"
timeout -k 5 120 "$TOOL" replay "$(host_data h1)" --brokers "$BROKERS" --group "$GROUP" \
    --topic "$IN" --to-beginning --execute --wait 60s >"$RUN/replay.out" 2>&1 ||
    die "eoc replay failed: $(cat "$RUN/replay.out")"
sed 's/^/  replay: /' "$RUN/replay.out" | head -n 20
progress || true
[ "$CONSUMED" -eq 0 ] || die "after the rewind the group has $CONSUMED records committed"

host_start h1
host_start h2
wait_progress 120
stop_all_workers 60
applied=$(stats_sum applied)
dups=$(stats_sum duplicates)
consumed=$(stats_sum consumed)
say "replay pass: consumed $consumed, applied $applied, duplicates $dups"
check_final
outputs1=$(check_count outputs)
dlq1=$(check_count dlq_records)
[ "$applied" -eq 0 ] || die "the replay applied $applied records again"
[ "$outputs1" = "$outputs0" ] || die "the output topic grew from $outputs0 to $outputs1 records"
[ "$dlq1" = "$dlq0" ] || die "the dead-letter topic grew from $dlq0 to $dlq1 records"
[ "$dups" -eq "$N" ] || die "replayed records: $dups duplicates != $N"
e2e_end
