#!/bin/sh
# Scenario 17, the same IDs on different partitions at the same time: two
# workers share one store (each owns about half of the 8 partitions); every
# chunk of transfers is produced twice at once, to two different random
# partitions, so that the two copies of an ID are usually polled and applied
# concurrently by different processes. The shared inbox (an in-memory index
# per process, caught up under LMDB's writer lock with the rows other
# processes appended) must let exactly one copy through: the checker finds
# every ID applied once and the other copy counted as a duplicate.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
e2e_begin "the same IDs on two partitions at once, two processes, one store"

[ -x "$PRODUCE_RAW" ] || die "eoc-produce-raw is not built"
kafka_start 1 "$IN:8" "$OUT:8" "$DLQ:1"
worker_start w1 "$RUN/data"
worker_start w2 "$RUN/data"
wait_for 40 "both workers assigned" sh -c "grep -q 'INFO assigned [1-9]' '$RUN/w1.log' &&
    grep -q 'INFO assigned [1-9]' '$RUN/w2.log'"

CHUNKS=10 PER=1000
: >"$RUN/sums.txt"
c=1
while [ "$c" -le "$CHUNKS" ]; do
    # PER transfers of chunk c, 50 accounts, amounts in [-500, 500] (not 0)
    rand 1000000
    awk -v c="$c" -v n="$PER" -v seed="$R" 'BEGIN {
        srand(seed)
        for (i = 1; i <= n; i++) {
            a = int(rand() * 1000) - 500; if (a >= 0) a++
            printf "{\"id\":\"dup-%d-%d\",\"account\":\"acct-%03d\",\"amount\":%d}\n", c, i, int(rand() * 50), a
        }
    }' >"$RUN/chunk.txt"
    sed 's/.*"account":"\([^"]*\)","amount":\(-*[0-9]*\)}/\1 \2/' "$RUN/chunk.txt" >>"$RUN/sums.txt"
    rand 8
    p=$R
    rand 7
    q=$(((p + 1 + R) % 8))
    timeout -k 5 60 "$PRODUCE_RAW" --brokers "$BROKERS" --topic "$IN" --partition "$p" \
        --lines "$RUN/chunk.txt" >/dev/null 2>>"$RUN/raw.log" &
    a=$!
    timeout -k 5 60 "$PRODUCE_RAW" --brokers "$BROKERS" --topic "$IN" --partition "$q" \
        --lines "$RUN/chunk.txt" >/dev/null 2>>"$RUN/raw.log" &
    b=$!
    wait "$a" && wait "$b" || die "eoc-produce-raw failed: $(tail -n 1 "$RUN/raw.log")"
    echo "chunk $c: partitions $p and $q" >>"$RUN/chunks.txt"
    PRODUCED=$((PRODUCED + 2 * PER))
    c=$((c + 1))
done
fault_note "$CHUNKS chunks of $PER transfers, each produced to two partitions at once ($(tr '\n' ';' <"$RUN/chunks.txt"))"

# the ground truth (the format of eoc-ledger-gen --expect)
n=$((CHUNKS * PER))
awk -v n="$n" '
    { if (!($1 in s)) order[++k] = $1; s[$1] += $2 }
    END {
        printf "{\"seed\": 0, \"unique\": %d, \"duplicates\": %d, \"malformed\": 0, \"records\": %d,\n \"balances\": {", n, n, 2 * n
        for (i = 1; i <= k; i++) printf "%s\n  \"%s\": %d", (i > 1 ? "," : ""), order[i], s[order[i]]
        printf "\n },\n \"malformed_ids\": []}\n"
    }' "$RUN/sums.txt" >"$RUN/expect/0000.json"

wait_progress 90
stop_all_workers 30
check_final
e2e_end
