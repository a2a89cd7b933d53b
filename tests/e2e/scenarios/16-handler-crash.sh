#!/bin/sh
# Scenario 16, a handler that crashes the process: eoc-crashy abort()s in
# its handler on a record whose value is "crash", in the middle of a
# partition. Every restart dies on it again, until eoc's crash-loop guard
# (a partition whose owner died twice at the same offset is processed one
# record at a time, each record's attempt count committed before its
# handler runs) dead-letters it as handler_crash, after handler.max.crashes
# (2 here) attempts, without calling the handler. The records around it
# must be applied exactly once, the dead letter published once.
# Two rounds: the crashing record after committed records of its partition,
# and the crashing record in the first batch of a partition the store has
# never committed (a fresh store), where crashes count at "the start" of
# the partition.
# Restarts use a new consumer group each time: the crash-loop state lives
# in the store, and a new group does not wait for the dead member's session
# timeout (the store, not the group, holds the positions).
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
e2e_begin "handler crashes the process on one record: handler_crash after restarts"

[ -x "$PRODUCE_RAW" ] && [ -x "$CRASHY" ] || die "eoc-produce-raw or eoc-crashy is not built"
kafka_start 1

# crash_loop NAME: restarts eoc-crashy (a new group each time) until it gets
# past the crashing record; sets CRASHES. Fails after 7 crashes (with
# handler.max.crashes=2 the guard needs 4 or 5).
crash_loop() {
    CRASHES=0
    start=0
    while :; do
        start=$((start + 1))
        [ "$CRASHES" -lt 7 ] || {
            ROUND_FAIL="still crashing after $CRASHES crashes: the crash-loop guard never fired"
            return 1
        }
        GROUP=e2e-16-$1-$start
        W_EXE=$CRASHY worker_start "$1" "$DATA_DIRS" --set handler.max.crashes=2
        # either it dies on the record, or it gets past it and catches up
        deadline=$(($(date +%s) + 40))
        while worker_alive "$1" && ! progress; do
            [ "$(date +%s)" -lt "$deadline" ] || die "start $start: neither crashed nor caught up in 40 s"
            sleep 0.3
        done
        if worker_alive "$1"; then
            say "start $start: caught up ($(cat "$RUN/progress.out"))"
            worker_stop_ok "$1"
            return 0
        fi
        wait_exit "$1" 5
        [ "$EXIT_RC" -eq 134 ] || die "start $start: $1 exited with $EXIT_RC, not by abort() (134)"
        CRASHES=$((CRASHES + 1))
        say "start $start: $1 died by abort() ($CRASHES crash(es)); noticed at assignment: $(worker_log_since_start "$1" | grep -c 'stopped uncleanly') unclean hand-over(s), store offsets: $(store_consumed "$DATA_DIRS") consumed"
    done
}

# round NAME BEFORE: BEFORE ordinary records committed first (0: none, the
# crashing record is in the partition's very first batch), then the
# crashing record and 6 more; restarts until it is dead-lettered.
round() {
    rname=$1
    IN=$rname.in OUT=$rname.out DLQ=$rname.dlq DATA_DIRS=$RUN/data-$rname
    for t in "$IN:2" "$OUT:2" "$DLQ:1"; do
        kafka_cmd create "$(echo "$t" | tr : ' ')" >/dev/null || die "create $t"
    done
    if [ "$2" -gt 0 ]; then
        raw_records before "$2"
        GROUP=e2e-16-$rname-0
        W_EXE=$CRASHY worker_start "$rname" "$DATA_DIRS"
        wait_progress 40
        worker_stop_ok "$rname"
    fi
    raw_record --partition 0 --key k0 --header message-id=the-crash --value crash
    crash_at=$(echo "$RAW" | tr ' ' :)
    raw_records after 6
    fault_note "$rname: value \"crash\" at ${IN}[${crash_at%:*}]@${crash_at#*:} after $2 committed records: the handler abort()s (handler.max.crashes=2)"
    ROUND_FAIL=
    if crash_loop "$rname"; then
        say "$rname: $CRASHES crash(es) before the record was dead-lettered"
        timeout -k 5 60 "$TOOL" dlq list --brokers "$BROKERS" --topic "$DLQ" --json \
            >"$RUN/dlq-$rname.json" 2>"$RUN/dlq.err" || die "eoc dlq list failed: $(cat "$RUN/dlq.err")"
        sed 's/^/  dlq: /' "$RUN/dlq-$rname.json"
        [ "$(wc -l <"$RUN/dlq-$rname.json")" -eq 1 ] &&
            grep -q "\"reason\":\"handler_crash\",\"source_topic\":\"$IN\",\"source_partition\":${crash_at%:*},\"source_offset\":${crash_at#*:}," \
                "$RUN/dlq-$rname.json" || ROUND_FAIL="the crashing record is not dead-lettered once as handler_crash"
        [ "$CRASHES" -ge 2 ] || ROUND_FAIL="dead-lettered after $CRASHES crash(es): the guard must not fire before 2"
    fi
    if [ -n "$ROUND_FAIL" ]; then
        say "$rname: FAILED: $ROUND_FAIL"
        VERDICT="verdict: not run ($ROUND_FAIL)"
        CHECK_RC=1
        round_verdict "$rname"
        return
    fi
    NO_EXPECT=1 check_final --id header:message-id --app generic --outputs 1
    round_verdict "$rname"
}

# The crashing record comes after committed offsets: the guard must fire.
round committed 6
# The crashing record is in the first batch of partitions the store has no
# offset for (a fresh store, a new partition): on_assign() counts those
# crashes at "the start" and the guard begins at the first record received.
round fresh 0
e2e_end
