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
#   EOC_KAFKA=real   the same on Apache Kafka (one node started by
#                    scripts/real-kafka.sh in .run/demo/kafka) instead of the
#                    development Kafka
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

DATA=$RUN/data
SEED=${EOC_DEMO_SEED:-}
DUP_RATIO=0.10
MALFORMED=12

# say, die, now_ms, stop_pid, start_kafka_dev, produce, start_worker,
# worker_alive, poll_progress, final_check, compare_balances, print_counts
LJ_NAME=demo
EOC_SHLIB=scripts/lib
. scripts/lib/ledger-job.sh

BROKER=${EOC_KAFKA:-dev}
case $BROKER in dev | real) ;; *) die "EOC_KAFKA is dev or real, not '$BROKER'" ;; esac

cleanup() {
    [ -z "$WORKER_PID" ] || stop_pid "$WORKER_PID" 15
    [ -z "$KAFKA_PID" ] || stop_pid "$KAFKA_PID" 5
    [ "$BROKER" != real ] || scripts/real-kafka.sh down --dir "$RUN/kafka" >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- set-up and build --------------------------------------------------------
scripts/setup.sh
scripts/build.sh
for exe in "$KAFKA_DEV" "$GEN" "$CHECK" "$LEDGER"; do
    [ -x "$exe" ] || die "$exe was not built (is the tests option on? meson configure build)"
done
rm -rf "$RUN"
mkdir -p "$RUN"

# --- the development Kafka (or Apache Kafka) ----------------------------------
if [ "$BROKER" = real ]; then
    BROKERS=$(scripts/real-kafka.sh up --brokers 1 --dir "$RUN/kafka" --owner $$ 2>"$RUN/kafka.log" |
        tail -n 1)
    [ -n "$BROKERS" ] || die "Apache Kafka did not start: $(tail -n 5 "$RUN/kafka.log")"
    scripts/real-kafka.sh topic --dir "$RUN/kafka" "$IN:16" "$OUT:16" "$DLQ:1" 2>>"$RUN/kafka.log" ||
        die "cannot create the topics: $(tail -n 5 "$RUN/kafka.log")"
    say "Apache Kafka (1 node, scripts/real-kafka.sh) at $BROKERS (topics $IN:16, $OUT:16, $DLQ:1)"
else
    start_kafka_dev "$IN:16" "$OUT:16" "$DLQ:1"
    say "development Kafka at $BROKERS (topics $IN:16, $OUT:16, $DLQ:1)"
fi

# --- the workload ------------------------------------------------------------
produce "$COUNT"
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
if [ "$BROKER" = real ]; then
    retention=$(scripts/real-kafka.sh offsets --dir "$RUN/kafka" "$IN" |
        awk '$2 > 0 { d = d " " $1 "@" $2 } END { print d == "" ? "ok" : "input deleted below" d }')
else
    retention=$("$KAFKA_DEV" --send "$RUN/kafka.sock" retention) || true
fi
[ "$retention" = "ok" ] || die "the broker dropped records: $retention"

# --- the proof ---------------------------------------------------------------
final_check --finished
# An independent second look: the worker's own balance listing against
# the generator's sums.
compare_balances

echo
print_counts
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
