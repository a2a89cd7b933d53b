#!/bin/sh
# eos.mode=kafka, the crash-loop guard: eoc-crashy abort()s in its handler
# on a record whose value is "crash", after committed records of its
# partition. The host is restarted each time it dies (same group, same
# data directory: the positions are the group's committed offsets), and
# dies on the record again until careful mode (this host owned the
# partition when it died twice at the same committed offset) applies the
# partition's records one at a time, each attempt counted in the store
# before its handler runs, and dead-letters the record as handler_crash
# after handler.max.crashes (2 here) attempts, without calling the
# handler. The records around it are applied exactly once, the dead
# letter is published once, and the verdict is OK.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
e2e_begin "eos.mode=kafka: a handler that crashes the process on one record is dead-lettered after restarts"

[ -x "$PRODUCE_RAW" ] && [ -x "$CRASHY" ] || die "eoc-produce-raw or eoc-crashy is not built"
kafka_start 1 "$IN:2" "$OUT:2" "$DLQ:1"
CRASHY_FLAGS="--set handler.max.crashes=2"

raw_records before 6
# shellcheck disable=SC2086 # a list of flags
W_EXE=$CRASHY host_start h1 $CRASHY_FLAGS
wait_progress 60
worker_stop_ok h1 30
raw_record --partition 0 --key k0 --header message-id=the-crash --value crash
crash_at=$(echo "$RAW" | tr ' ' :)
raw_records after 6
fault_note "value \"crash\" at ${IN}[${crash_at%:*}]@${crash_at#*:} after committed records: the handler abort()s (handler.max.crashes=2)"

# Restarts h1 until it gets past the record; with handler.max.crashes=2
# the guard needs 4 or 5 deaths (two to notice the loop, two attempts).
CRASHES=0
start=0
while :; do
    start=$((start + 1))
    [ "$CRASHES" -lt 7 ] || die "still crashing after $CRASHES crashes: the crash-loop guard never fired"
    # shellcheck disable=SC2086
    W_EXE=$CRASHY host_start h1 $CRASHY_FLAGS
    # The dead incarnation holds the partitions until its session times
    # out (6 s): then the new one is assigned them, dies, or catches up.
    deadline=$(($(date +%s) + 60))
    while worker_alive h1 && ! progress; do
        [ "$(date +%s)" -lt "$deadline" ] || die "start $start: neither crashed nor caught up in 60 s"
        sleep 0.3
    done
    if worker_alive h1; then
        say "start $start: caught up ($(cat "$RUN/progress.out"))"
        worker_stop_ok h1 30
        break
    fi
    wait_exit h1 5
    [ "$EXIT_RC" -eq 134 ] || die "start $start: h1 exited with $EXIT_RC, not by abort() (134)"
    CRASHES=$((CRASHES + 1))
    say "start $start: h1 died by abort() ($CRASHES crash(es)); unclean hand-overs noticed at assignment: $(since_start_count h1 'stopped uncleanly')"
done
[ "$CRASHES" -ge 2 ] || die "dead-lettered after $CRASHES crash(es): the guard must not fire before 2"

timeout -k 5 60 "$TOOL" dlq list --brokers "$BROKERS" --topic "$DLQ" --json \
    >"$RUN/dlq.json" 2>"$RUN/dlq.err" || die "eoc dlq list failed: $(cat "$RUN/dlq.err")"
sed 's/^/  dlq: /' "$RUN/dlq.json"
[ "$(wc -l <"$RUN/dlq.json")" -eq 1 ] &&
    grep -q "\"reason\":\"handler_crash\",\"source_topic\":\"$IN\",\"source_partition\":${crash_at%:*},\"source_offset\":${crash_at#*:}," \
        "$RUN/dlq.json" || die "the crashing record is not dead-lettered once as handler_crash"
NO_EXPECT=1 check_final --id header:message-id --app generic --outputs 1
e2e_end
