#!/bin/sh
# Scenario 15, bad input through the real consumers: every row of the
# bad-input table of FAULTS.md, produced byte for byte with eoc-produce-raw
# between good transfers, consumed by eoc-ledger (message IDs from the
# `message-id` header, record.max.bytes=4096):
#   no message-id header                       -> missing_id
#   empty message-id, 512-byte message-id      -> invalid_id
#   an applied ID again with another payload   -> id_collision (loud log,
#                                                 original effect untouched)
#   an applied ID again with the same payload  -> duplicate (no dead letter)
#   null value, empty value                    -> empty_value
#   not JSON, JSON without "amount"            -> handler_error
#   a 10 KiB record                            -> too_large
# and, through eoc-crashy on its own topics,
#   a handler that always asks for a retry     -> handler_error after
#                                                 retry.max.attempts
#   an output over output.max.bytes            -> refused by eoc_emit inside
#                                                 the handler: handler_error
#                                                 naming output.max.bytes
# `eoc dlq list --json` must list every bad record exactly once with its
# reason (and nothing else); the checker proves the good records around
# them were applied exactly once, against a hand-written ground truth.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
e2e_begin "bad input: every row of the bad-input table, through eoc-ledger and eoc-crashy"

[ -x "$PRODUCE_RAW" ] && [ -x "$CRASHY" ] || die "eoc-produce-raw or eoc-crashy is not built"
kafka_start 1 "$IN:4" "$OUT:4" "$DLQ:1" crashy.in:2 crashy.out:2 crashy.dlq:1

# raw TOPIC ARGS...: produces one record; RAW is "PARTITION OFFSET".
raw() {
    t=$1
    shift
    RAW=$(timeout -k 5 40 "$PRODUCE_RAW" --brokers "$BROKERS" --topic "$t" "$@" 2>>"$RUN/raw.log") ||
        die "eoc-produce-raw failed: $(tail -n 1 "$RUN/raw.log")"
    NRAW=$((NRAW + 1))
}
NRAW=0
BAD=       # "partition:offset:reason" of every record that must be dead-lettered
GOOD=0     # good transfers (unique)
BAL_A=0 BAL_B=0

# good N ACCOUNT AMOUNT: a good transfer with ID good-N.
good() {
    raw "$IN" --key "$2" --header "message-id=good-$1" \
        --value "{\"id\":\"good-$1\",\"account\":\"$2\",\"amount\":$3}"
    GOOD=$((GOOD + 1))
    if [ "$2" = acct-a ]; then BAL_A=$((BAL_A + $3)); else BAL_B=$((BAL_B + $3)); fi
}

# bad REASON ID|- ARGS...: a record that must be dead-lettered with REASON.
bad() {
    reason=$1
    shift
    raw "$IN" "$@"
    set -- $RAW
    BAD="$BAD $1:$2:$reason"
}

long_id=$(printf '%0512d' 7)
printf '{"id":"big-1","account":"acct-a","amount":1,"pad":"%08192d"}' 0 >"$RUN/big.json"
good 1 acct-a 100
good 2 acct-b 250
bad missing_id --key acct-a --value '{"id":"nohdr-1","account":"acct-a","amount":5}'
good 3 acct-a -30
bad invalid_id --key acct-b --header message-id= --value '{"account":"acct-b","amount":5}'
bad invalid_id --key acct-b --header "message-id=$long_id" --value '{"account":"acct-b","amount":5}'
good 4 acct-b 40
bad id_collision --key acct-a --header message-id=good-1 \
    --value '{"id":"good-1","account":"acct-a","amount":999}'
# the same ID with the same bytes: a duplicate, skipped, no dead letter
raw "$IN" --key acct-b --header message-id=good-2 --value '{"id":"good-2","account":"acct-b","amount":250}'
good 5 acct-a 7
bad empty_value --key acct-a --header message-id=null-1 --null-value
bad empty_value --key acct-b --header message-id=empty-1 --value ''
good 6 acct-b -12
bad handler_error --key acct-a --header message-id=notjson-1 --value 'this is {not JSON'
bad handler_error --key acct-b --header message-id=noamount-1 --value '{"id":"noamount-1","account":"acct-b"}'
good 7 acct-a 1
bad too_large --key acct-b --header message-id=big-1 --value-file "$RUN/big.json"
good 8 acct-b 3
NBAD=$(echo $BAD | wc -w)
say "produced $NRAW records to $IN: $GOOD good, 1 exact re-send, $NBAD bad"
PRODUCED=$NRAW
fault_note "$NBAD bad records: $(for b in $BAD; do echo "${b##*:}"; done | sort | uniq -c | awk '{ printf "%s%s x%s", sep, $2, $1; sep = ", " }')"

# the ground truth, by hand (the format of eoc-ledger-gen --expect)
cat >"$RUN/expect/0000.json" <<EOT
{"seed": 0, "unique": $GOOD, "duplicates": 1, "malformed": $NBAD, "records": $NRAW,
 "balances": {
  "acct-a": $BAL_A,
  "acct-b": $BAL_B
 },
 "malformed_ids": ["null-1", "empty-1", "notjson-1", "noamount-1", "big-1"]}
EOT

worker_start w1 "$RUN/data" --id header:message-id --set record.max.bytes=4096
wait_progress 60
worker_stop_ok w1

# every bad record exactly once in the DLQ, with its reason, and nothing else
timeout -k 5 60 "$TOOL" dlq list --brokers "$BROKERS" --topic "$DLQ" --json >"$RUN/dlq.json" \
    2>"$RUN/dlq.err" || die "eoc dlq list failed: $(cat "$RUN/dlq.err")"
sed 's/^/  dlq: /; s/"error":"\(.\{60\}\)[^"]*"/"error":"\1..."/' "$RUN/dlq.json"
for b in $BAD; do
    p=${b%%:*} rest=${b#*:}
    o=${rest%%:*} reason=${rest#*:}
    n=$(grep -c "\"source_partition\":$p,\"source_offset\":$o," "$RUN/dlq.json")
    r=$(grep "\"source_partition\":$p,\"source_offset\":$o," "$RUN/dlq.json" | grep -c "\"reason\":\"$reason\"")
    [ "$n" -eq 1 ] && [ "$r" -eq 1 ] ||
        die "record ${IN}[$p]@$o: $n dead letter(s), $r with reason $reason (want exactly 1)"
done
[ "$(wc -l <"$RUN/dlq.json")" -eq "$NBAD" ] ||
    die "the DLQ holds $(wc -l <"$RUN/dlq.json") dead letters, expected $NBAD"
say "DLQ: each of the $NBAD bad records exactly once, with the expected reason"
log_has w1 'ERR ID COLLISION: good-1' || die "no loud log line for the ID collision"
say "w1 logged: $(grep 'ID COLLISION' "$RUN/w1.log" | head -n 1 | sed 's/.*ERR //' | cut -c1-150)"
balances=$(timeout 30 "$LEDGER" --data "$RUN/data" --balances | tr '\n' ' ')
say "balances: $balances(expected acct-a $BAL_A, acct-b $BAL_B)"
[ "$balances" = "acct-a $BAL_A acct-b $BAL_B " ] || die "balances differ"
check_final --id header:message-id
round_verdict eoc-ledger

# a handler that always fails: eoc-crashy, value "retry"
expect_reset ledger
IN=crashy.in OUT=crashy.out DLQ=crashy.dlq GROUP=e2e-15-crashy DATA_DIRS=$RUN/data-crashy
raw "$IN" --key k1 --header message-id=c-1 --value one
raw "$IN" --key k1 --header message-id=c-retry --value retry
set -- $RAW
retry_at="$1:$2"
raw "$IN" --key k1 --header message-id=c-2 --value two
# its output "<key> <count>" with a 40-byte key: over output.max.bytes=176,
# which counts eoc's own headers (message-id, eoc-source) and Kafka's record
# overhead too (about 130 bytes for the outputs of k1, 210 for this one)
raw "$IN" --key "$(printf '%040d' 1)" --header message-id=c-big-out --value three
set -- $RAW
bigout_at="$1:$2"
raw "$IN" --key k1 --header message-id=c-3 --value four
PRODUCED=$((PRODUCED + 5))
fault_note "a record whose handler always asks for a retry (retry.max.attempts=3)"
fault_note "a record whose output exceeds output.max.bytes=176"
W_EXE=$CRASHY worker_start w2 "$RUN/data-crashy" --set retry.max.attempts=3 \
    --set retry.backoff.ms=50 --set output.max.bytes=176
wait_progress 60
worker_stop_ok w2
timeout -k 5 60 "$TOOL" dlq list --brokers "$BROKERS" --topic "$DLQ" --json >"$RUN/dlq-crashy.json" \
    2>"$RUN/dlq.err" || die "eoc dlq list failed: $(cat "$RUN/dlq.err")"
sed 's/^/  dlq: /' "$RUN/dlq-crashy.json"
[ "$(wc -l <"$RUN/dlq-crashy.json")" -eq 2 ] || die "the crashy DLQ should hold exactly 2 dead letters"
grep -q "\"reason\":\"handler_error\",\"source_topic\":\"$IN\",\"source_partition\":${retry_at%:*},\"source_offset\":${retry_at#*:}," \
    "$RUN/dlq-crashy.json" || die "the always-failing record is not dead-lettered as handler_error"
grep "\"source_partition\":${bigout_at%:*},\"source_offset\":${bigout_at#*:}," "$RUN/dlq-crashy.json" |
    grep '"reason":"handler_error"' | grep -q 'exceeds 176 bytes (output.max.bytes' ||
    die "the record with the oversized output is not dead-lettered with an error naming output.max.bytes"
say "w2 logged $(grep -c 'INFO retry ' "$RUN/w2.log") retries before the dead letter"
NO_EXPECT=1 check_final --id header:message-id --app generic --outputs 1
round_verdict eoc-crashy
e2e_end
