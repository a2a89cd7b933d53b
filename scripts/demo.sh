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
#   EOC_DEMO_MODE=kafka  eos.mode=kafka across three hosts: three workers on
#                    three data directories (.run/demo/data-h1..h3) on Apache
#                    Kafka (implies EOC_KAFKA=real); the SIGKILL hits h2, and
#                    the proof reads the outputs read_committed
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

EOS_MODE=${EOC_DEMO_MODE:-local}
case $EOS_MODE in
local)
    BROKER=${EOC_KAFKA:-dev}
    HOSTS=h1
    ;;
kafka)
    # The development Kafka cannot show this mode's guarantees (no aborted
    # transactions filtered, no fencing): Apache Kafka only.
    BROKER=${EOC_KAFKA:-real}
    [ "$BROKER" = real ] || die "EOC_DEMO_MODE=kafka runs on Apache Kafka only (EOC_KAFKA=real)"
    HOSTS="h1 h2 h3"
    ;;
*) die "EOC_DEMO_MODE is local or kafka, not '$EOS_MODE'" ;;
esac
case $BROKER in dev | real) ;; *) die "EOC_KAFKA is dev or real, not '$BROKER'" ;; esac
VICTIM=h1
[ "$EOS_MODE" = local ] || VICTIM=h2

# Host NAME's worker: its pid in PID_<NAME>, its store (the local mode's
# single host keeps .run/demo/data), its log .run/demo/worker-NAME.log.
host_data() {
    if [ "$EOS_MODE" = local ]; then echo "$RUN/data"; else echo "$RUN/data-$1"; fi
}
host_pid() {
    eval "echo \${PID_$1:-}"
}
start_host() {
    DATA=$(host_data "$1")
    start_worker "$RUN/worker-$1.log"
    eval "PID_$1=\$WORKER_PID"
    WORKER_PID=
}
hosts_alive() {
    for _ha_h in $HOSTS; do
        worker_alive "$(host_pid "$_ha_h")" "$RUN/worker-$_ha_h.log"
    done
}
host_pids() {
    for _hp_h in $HOSTS; do printf '%s%s pid %s' "${_hp_sep:-}" "$_hp_h" "$(host_pid "$_hp_h")"; _hp_sep=', '; done
    _hp_sep=
}

cleanup() {
    for _c_h in $HOSTS; do
        _c_pid=$(host_pid "$_c_h")
        [ -z "$_c_pid" ] || stop_pid "$_c_pid" 15
    done
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
# eos.mode=kafka produces while its three hosts consume (below): they
# consume faster than the first progress poll comes, so the SIGKILL would
# otherwise find everything done.
if [ "$EOS_MODE" = local ]; then
    produce "$COUNT"
    say "produced $(cat "$RUN/gen.out")"
fi

# --- run, SIGKILL part-way, restart ------------------------------------------
# Busy time: from the first committed record to the kill, and from the first
# record committed after the restart to caught up (the rest is waiting for
# the consumer group: ~3 s per join, plus the killed member's session
# timeout before the restarted worker is assigned its partitions).
T0=$(now_ms)
for h in $HOSTS; do start_host "$h"; done
say "eoc-ledger started ($(host_pids)$([ "$EOS_MODE" = local ] || echo ', eos.mode=kafka'))"
GEN_PID=
if [ "$EOS_MODE" = kafka ]; then
    produce "$COUNT" &
    GEN_PID=$!
fi
KILL_N=$((COUNT * KILL_AT / 100))
T_FIRST=
while :; do
    hosts_alive
    poll_progress || true
    [ "$N" -eq 0 ] || T_FIRST=${T_FIRST:-$(now_ms)}
    [ "$N" -lt "$KILL_N" ] || break
    [ $(($(now_ms) - T0)) -lt 60000 ] || die "no progress within 60 s; see $RUN/worker-*.log"
    sleep 0.05
done
kill -KILL "$(host_pid "$VICTIM")"
wait "$(host_pid "$VICTIM")" 2>/dev/null || true
eval "PID_$VICTIM="
T_KILL=$(now_ms)
poll_progress || true
N_KILL=$N
say "SIGKILL of $VICTIM after $((T_KILL - T0)) ms, with $N_KILL of $COUNT records committed$([ "$EOS_MODE" = local ] && echo ' in LMDB' || echo ' in Kafka transactions')"

start_host "$VICTIM"
say "eoc-ledger $VICTIM restarted (pid $(host_pid "$VICTIM"))"
if [ -n "$GEN_PID" ]; then
    wait "$GEN_PID" || exit 1 # produce said why
    GEN_PID=
    say "produced $(cat "$RUN/gen.out")"
fi
# eos.mode=kafka: the survivors take the killed host's partitions after its
# session timeout, and hand some back when it rejoins (a restore each time).
CATCH_UP_MS=90000
[ "$EOS_MODE" = local ] || CATCH_UP_MS=180000
T_RESUME=
while ! poll_progress; do
    hosts_alive
    [ "$N" -le "$N_KILL" ] || T_RESUME=${T_RESUME:-$(now_ms)}
    [ $(($(now_ms) - T0)) -lt "$CATCH_UP_MS" ] ||
        die "not caught up within $((CATCH_UP_MS / 1000)) s: $(cat "$RUN/progress.out")"
    sleep 0.05
done
T1=$(now_ms)
T_RESUME=${T_RESUME:-$T1}
ELAPSED=$((T1 - T0))
BUSY=$((T_KILL - T_FIRST + T1 - T_RESUME))
say "caught up $((T1 - T_KILL)) ms after the SIGKILL: $(sed 's/^progress: //' "$RUN/progress.out")"

for h in $HOSTS; do kill -TERM "$(host_pid "$h")"; done
for h in $HOSTS; do
    rc=0
    wait "$(host_pid "$h")" || rc=$?
    eval "PID_$h="
    [ "$rc" -eq 0 ] || die "eoc-ledger $h exited with status $rc after SIGTERM; see $RUN/worker-$h.log"
done
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
if [ "$EOS_MODE" = local ]; then
    # An independent second look: the worker's own balance listing against
    # the generator's sums.
    compare_balances
else
    # Each host's store holds the state of the partitions it owned, some of
    # them no longer current: the balances are eoc-check's, from the
    # outputs read read_committed.
    balances="checked by eoc-check from the read_committed outputs (state is per partition, spread over $HOSTS)"
fi

echo
print_counts
secs() {
    printf '%d.%02d s' $(($1 / 1000)) $(($1 % 1000 / 10))
}
echo "throughput                $((COUNT * 1000 / (BUSY > 0 ? BUSY : 1))) records/s while processing ($(secs "$BUSY") busy)"
echo "                          $((COUNT * 1000 / (ELAPSED > 0 ? ELAPSED : 1))) records/s wall-clock from the first start to caught up"
echo "                          ($(secs "$ELAPSED"): includes the SIGKILL, the consumer-group joins"
echo "                          and the killed member's session timeout)"
echo "balances                  $balances"
echo "$verdict"
[ "$check_rc" -eq 0 ] || {
    echo
    cat "$RUN/check.out"
    exit 1
}
