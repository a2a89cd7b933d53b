#!/bin/sh
# The README's first command: exactly-once under a crash, end to end.
#
#   scripts/demo.sh
#
# Sets up and builds eoc, starts the development Kafka (in memory) with the
# topics ledger.transfers:16, ledger.balances:16 and ledger.dlq:1, produces
# about 200 000 ledger transfers (about 10% re-sent duplicates, a handful of
# malformed records), runs the eoc-ledger worker, kills it with SIGKILL
# part-way, restarts it, waits until it has consumed everything and its
# outbox is empty, stops it with SIGTERM, and checks the run with eoc-check
# against the generator's ground truth. Prints the counts, the worker's
# throughput and the verdict. Exit status 0 only when the verdict is OK.
#
# Working files (logs, store, ground truth) go to .run/demo. Environment:
#   EOC_DEMO_COUNT   records to produce (default 200000)
#   EOC_DEMO_SEED    generator seed (default: random, printed)
#   EOC_DEMO_KILL_AT share of the input consumed before the SIGKILL, in %
#                    (default 30)
set -eu
cd "$(dirname "$0")/.."

COUNT=${EOC_DEMO_COUNT:-200000}
KILL_AT=${EOC_DEMO_KILL_AT:-30}
RUN=.run/demo
GROUP=eoc-demo
IN=ledger.transfers
OUT=ledger.balances
DLQ=ledger.dlq

KAFKA_DEV=build/tools/kafka-dev/eoc-kafka-dev
GEN=build/tests/e2e/eoc-ledger-gen
CHECK=build/tests/e2e/eoc-check
LEDGER=build/consumers/eoc-ledger

KAFKA_PID=
WORKER_PID=

say() {
    printf 'demo: %s\n' "$*"
}

die() {
    printf 'demo: FAILED: %s\n' "$*" >&2
    exit 1
}

now_ms() {
    echo $(($(date +%s%N) / 1000000))
}

# Stops a process we started: SIGTERM, then SIGKILL after $2 seconds.
stop_pid() {
    pid=$1
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    i=0
    while kill -0 "$pid" 2>/dev/null && [ "$i" -lt $(($2 * 10)) ]; do
        sleep 0.1
        i=$((i + 1))
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    [ -z "$WORKER_PID" ] || stop_pid "$WORKER_PID" 15
    [ -z "$KAFKA_PID" ] || stop_pid "$KAFKA_PID" 5
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_worker() {
    "$LEDGER" --brokers "$BROKERS" --group "$GROUP" --input "$IN" --output "$OUT" \
        --dlq "$DLQ" --data "$RUN/data" \
        --set kafka.session.timeout.ms=6000 \
        --set kafka.heartbeat.interval.ms=500 >>"$RUN/worker.log" 2>&1 &
    WORKER_PID=$!
}

# Polls the store: sets N (records consumed, i.e. committed in LMDB) and
# returns 0 when everything is consumed and the outbox is empty.
poll_progress() {
    st=0
    "$CHECK" --progress --brokers "$BROKERS" --input "$IN" --data "$RUN/data" \
        >"$RUN/progress.out" 2>&1 || st=$?
    N=$(sed -n 's/^progress: consumed \([0-9]*\) .*/\1/p' "$RUN/progress.out")
    N=${N:-0}
    return "$st"
}

worker_alive() {
    kill -0 "$WORKER_PID" 2>/dev/null || die "eoc-ledger exited; see $RUN/worker.log"
}

# --- set-up and build --------------------------------------------------------
scripts/setup.sh
scripts/build.sh
for exe in "$KAFKA_DEV" "$GEN" "$CHECK" "$LEDGER"; do
    [ -x "$exe" ] || die "$exe was not built (is the tests option on? meson configure build)"
done
rm -rf "$RUN"
mkdir -p "$RUN"

# --- the development Kafka ---------------------------------------------------
"$KAFKA_DEV" --topic "$IN:16" --topic "$OUT:16" --topic "$DLQ:1" \
    --bootstrap-file "$RUN/bootstrap" --control "$RUN/kafka.sock" --quiet \
    </dev/null >"$RUN/kafka.out" 2>"$RUN/kafka.log" &
KAFKA_PID=$!
i=0
while [ ! -s "$RUN/bootstrap" ]; do
    kill -0 "$KAFKA_PID" 2>/dev/null || die "eoc-kafka-dev exited; see $RUN/kafka.log"
    [ "$i" -lt 100 ] || die "eoc-kafka-dev did not start"
    sleep 0.1
    i=$((i + 1))
done
BROKERS=$(cat "$RUN/bootstrap")
say "development Kafka at $BROKERS (topics $IN:16, $OUT:16, $DLQ:1)"

# --- the workload ------------------------------------------------------------
"$GEN" --brokers "$BROKERS" --topic "$IN" --count "$COUNT" --dup-ratio 0.10 --malformed 12 \
    --expect "$RUN/expect.json" ${EOC_DEMO_SEED:+--seed "$EOC_DEMO_SEED"} \
    >"$RUN/gen.out" 2>"$RUN/gen.log" || die "eoc-ledger-gen failed: $(cat "$RUN/gen.log")"
say "produced $(cat "$RUN/gen.out")"

# --- run, SIGKILL part-way, restart ------------------------------------------
# Busy time: from the first committed record to the kill, and from the first
# record committed after the restart to caught up (the rest is waiting for
# the consumer group: ~3 s per join, plus the killed member's session
# timeout before the restarted worker is assigned its partitions).
T0=$(now_ms)
start_worker
say "eoc-ledger started (pid $WORKER_PID)"
KILL_N=$((COUNT * KILL_AT / 100))
T_FIRST=
while :; do
    worker_alive
    poll_progress || true
    [ "$N" -eq 0 ] || T_FIRST=${T_FIRST:-$(now_ms)}
    [ "$N" -lt "$KILL_N" ] || break
    [ $(($(now_ms) - T0)) -lt 60000 ] || die "no progress within 60 s; see $RUN/worker.log"
    sleep 0.05
done
kill -KILL "$WORKER_PID"
wait "$WORKER_PID" 2>/dev/null || true
T_KILL=$(now_ms)
poll_progress || true
N_KILL=$N
say "SIGKILL after $((T_KILL - T0)) ms, with $N_KILL of $COUNT records committed in LMDB"

start_worker
say "eoc-ledger restarted (pid $WORKER_PID)"
T_RESUME=
while ! poll_progress; do
    worker_alive
    [ "$N" -le "$N_KILL" ] || T_RESUME=${T_RESUME:-$(now_ms)}
    [ $(($(now_ms) - T0)) -lt 90000 ] || die "not caught up within 90 s: $(cat "$RUN/progress.out")"
    sleep 0.05
done
T1=$(now_ms)
T_RESUME=${T_RESUME:-$T1}
ELAPSED=$((T1 - T0))
BUSY=$((T_KILL - T_FIRST + T1 - T_RESUME))
say "caught up $((T1 - T_KILL)) ms after the SIGKILL: $(sed 's/^progress: //' "$RUN/progress.out")"

kill -TERM "$WORKER_PID"
rc=0
wait "$WORKER_PID" || rc=$?
WORKER_PID=
[ "$rc" -eq 0 ] || die "eoc-ledger exited with status $rc after SIGTERM; see $RUN/worker.log"
say "eoc-ledger stopped with SIGTERM (exit 0)"
retention=$("$KAFKA_DEV" --send "$RUN/kafka.sock" retention) || true
[ "$retention" = "ok" ] || die "the development Kafka dropped records: $retention"

# --- the proof ---------------------------------------------------------------
set +e
"$CHECK" --brokers "$BROKERS" --input "$IN" --output "$OUT" --dlq "$DLQ" --group "$GROUP" \
    --data "$RUN/data" --expect "$RUN/expect.json" --finished >"$RUN/check.out" 2>&1
check_rc=$?
set -e
verdict=$(grep '^verdict:' "$RUN/check.out" || true)
[ -n "$verdict" ] || die "eoc-check failed: $(cat "$RUN/check.out")"

# Counts from the checker's verdict line: "... (records N, applied N, ...".
count_of() {
    printf '%s\n' "$verdict" | sed -n "s/.*[(,] *$1 \([0-9]*\).*/\1/p"
}
expect_of() {
    sed -n "s/.*\"$1\": \([0-9]*\).*/\1/p" "$RUN/expect.json" | head -n 1
}

# An independent second look: the worker's own balance listing against
# the generator's sums (both "account balance" lines, sorted).
sed -n 's/^  "\([^"]*\)": \(-\{0,1\}[0-9]*\),\{0,1\}$/\1 \2/p' "$RUN/expect.json" |
    LC_ALL=C sort >"$RUN/balances.expected"
"$LEDGER" --data "$RUN/data" --balances | LC_ALL=C sort >"$RUN/balances.actual"
accounts=$(wc -l <"$RUN/balances.expected")
if cmp -s "$RUN/balances.expected" "$RUN/balances.actual"; then
    balances="all $accounts account balances equal the generator's sums"
else
    balances="BALANCES DIFFER from the generator's sums (diff $RUN/balances.expected $RUN/balances.actual)"
    check_rc=1
fi

records=$(count_of records)
echo
echo "records read              $records (produced: $(expect_of records))"
echo "unique transfers applied  $(count_of applied) (generator: $(expect_of unique))"
echo "duplicates skipped        $(count_of duplicates) (generator: $(expect_of duplicates))"
echo "dead letters              $(count_of 'dead letters') (generator: $(expect_of malformed) malformed)"
secs() {
    printf '%d.%02d s' $(($1 / 1000)) $(($1 % 1000 / 10))
}
echo "throughput                $((COUNT * 1000 / (BUSY > 0 ? BUSY : 1))) records/s while processing ($(secs "$BUSY") busy)"
echo "                          $((COUNT * 1000 / (ELAPSED > 0 ? ELAPSED : 1))) records/s wall-clock from the first start to caught up"
echo "                          ($(secs "$ELAPSED"): includes the SIGKILL, two consumer-group joins"
echo "                          and the killed member's session timeout)"
echo "balances                  $balances"
echo "$verdict"
[ "$check_rc" -eq 0 ] || {
    echo
    cat "$RUN/check.out"
    exit 1
}
