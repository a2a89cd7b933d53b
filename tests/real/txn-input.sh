#!/bin/sh
# Real Kafka, transactional input with aborted transactions: the generator's
# transfers (with their ground truth) go to a staging topic, and
# eoc-txn-copy copies them into the input topic in committed transactions
# of 500, with an aborted transaction of 20 poison transfers (account
# "aborted", +1000000 each) after every commit. The input then has a
# control record after every transaction and aborted records between the
# committed ones: offsets with gaps for a read_committed reader. Two
# workers: w1 with the defaults, w2 told kafka.isolation.level=
# read_uncommitted, which the library must override (reading uncommitted
# input would apply records that were never committed). Nothing of an
# aborted transaction may be applied: the checker (which reads the input
# read_committed) proves the ground truth, and no output and no store may
# know the account "aborted". The workers must also count the input as
# consumed up to its end though its last offsets are control records.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
e2e_begin "transactional input with aborted transactions (read_committed)"

TXN_COPY=${EOC_TXN_COPY:-$E2E_BUILD/tests/real/eoc-txn-copy}
STAGE=ledger.staging
kafka_start 1 "$IN:4" "$OUT:4" "$DLQ:1" "$STAGE:4"
in_=$IN
IN=$STAGE
produce 6000
IN=$in_
timeout -k 5 120 "$TXN_COPY" --brokers "$BROKERS" --from "$STAGE" --to "$IN" --count 6000 \
    --txn 500 --poison 20 >"$RUN/txn.out" 2>"$RUN/txn.log" || die "eoc-txn-copy failed: $(tail -n 3 "$RUN/txn.log")"
say "$(cat "$RUN/txn.out")"
fault_note "input written by a transactional producer: 240 records in 12 aborted transactions"
real_offsets "$IN" >"$RUN/offsets.txt"
ends=$(awk '{ s += $3 } END { print s + 0 }' "$RUN/offsets.txt")
say "input offsets (partition, first, end): $(tr '\n' ';' <"$RUN/offsets.txt") $ends in all"
# 6000 records, 240 aborted ones, and 24 transactions' markers in the
# partitions they touched: the aborted records must really be in the log.
[ "$ends" -ge $((6000 + 240 + 24)) ] || die "the input holds $ends offsets: the aborted records are not in the log"
worker_start w1 "$RUN/data"
worker_start w2 "$RUN/data" --set kafka.isolation.level=read_uncommitted
wait_progress 90
stop_all_workers 30
if grep -q '"aborted"' "$RUN"/w1.log "$RUN"/w2.log; then
    die "a worker logged a record of an aborted transaction"
fi
bal=$("$LEDGER" --balances --data "$RUN/data" 2>/dev/null | awk '$1 == "aborted" { print $2 }')
[ -z "$bal" ] || die "records of aborted transactions were applied: account 'aborted' has balance $bal"
check_final
e2e_end
