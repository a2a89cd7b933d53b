#!/bin/sh
# The ledger job against any Kafka: produce, two workers, wait, stop, prove.
#
#   scripts/e2e-against.sh BOOTSTRAP        e.g. localhost:9092
#
# Produces a ledger workload (eoc-ledger-gen: about 10% re-sent duplicates,
# a handful of malformed records), runs TWO eoc-ledger workers in one
# consumer group on ONE store (the consumer group rebalances between them;
# both are processes of this host, which one LMDB environment needs), waits
# until they have consumed everything and their outbox is empty, stops them
# with SIGTERM, and checks the run with eoc-check --finished against the
# generator's ground truth, plus the workers' balance listing against the
# generator's sums. Exit status 0 only when the verdict is OK.
#
# The checker reads the three topics from their beginning: they must hold
# only this run's records. By default every run uses new topic names
# (eoc-e2e.<run>.transfers, .balances, .dlq) and a new group. The script
# creates the topics with kafka-topics.sh when it finds one ($KAFKA_TOPICS,
# or on PATH); otherwise the broker must create them on first use
# (auto.create.topics.enable, Kafka's default, with its num.partitions) or
# you name existing, empty topics.
#
# Environment:
#   EOC_E2E_COUNT       records to produce (default 50000)
#   EOC_E2E_SEED        generator seed (default: random, printed)
#   EOC_E2E_INPUT, EOC_E2E_OUTPUT, EOC_E2E_DLQ, EOC_E2E_GROUP
#                       topic and group names (defaults: new per run)
#   EOC_E2E_PARTITIONS  partitions of the input and output topics when this
#                       script creates them (default 16; the DLQ gets 1)
#   EOC_E2E_REPLICATION replication factor when creating (default 1)
#   EOC_E2E_KILL_AT     SIGKILL the first worker once this share (in %) of the
#                       input is committed, then restart it (default 0: off)
#   EOC_E2E_TIMEOUT     seconds to wait for catching up (default 300)
#   EOC_E2E_NO_BUILD    set: use ./build as it is (no setup.sh/build.sh)
#   KAFKA_TOPICS        path of kafka-topics.sh
# Working files (logs, store, ground truth, check report) go to .run/e2e-against.
set -eu
cd "$(dirname "$0")/.."

usage() {
    sed -n '2,/^set -eu/p' "$0" | sed -e 's/^# \{0,1\}//' -e '/^set -eu/d'
}
case "${1:-}" in
-h | --help)
    usage
    exit 0
    ;;
'' | -*)
    usage >&2
    exit 2
    ;;
esac
[ "$#" -eq 1 ] || {
    usage >&2
    exit 2
}
BROKERS=$1

RUNID=$(date +%Y%m%d%H%M%S)-$$
COUNT=${EOC_E2E_COUNT:-50000}
KILL_AT=${EOC_E2E_KILL_AT:-0}
TIMEOUT=${EOC_E2E_TIMEOUT:-300}
PARTITIONS=${EOC_E2E_PARTITIONS:-16}
REPLICATION=${EOC_E2E_REPLICATION:-1}
IN=${EOC_E2E_INPUT:-eoc-e2e.$RUNID.transfers}
OUT=${EOC_E2E_OUTPUT:-eoc-e2e.$RUNID.balances}
DLQ=${EOC_E2E_DLQ:-eoc-e2e.$RUNID.dlq}
GROUP=${EOC_E2E_GROUP:-eoc-e2e-$RUNID}
RUN=.run/e2e-against
DATA=$RUN/data
SEED=${EOC_E2E_SEED:-}
DUP_RATIO=0.10
MALFORMED=12

GEN=build/tests/e2e/eoc-ledger-gen
CHECK=build/tests/e2e/eoc-check
LEDGER=build/consumers/eoc-ledger

LJ_NAME=e2e
EOC_SHLIB=scripts/lib
. scripts/lib/ledger-job.sh

W1=
W2=
cleanup() {
    [ -z "$W1" ] || stop_pid "$W1" 15
    [ -z "$W2" ] || stop_pid "$W2" 15
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Starts worker $1 (1 or 2); sets W1 or W2.
start() {
    start_worker "$RUN/worker$1.log"
    eval "W$1=\$WORKER_PID"
    say "eoc-ledger #$1 started (pid $WORKER_PID)"
}

# Stops worker $1 with SIGTERM and dies unless it exits 0.
stop() {
    eval "pid=\$W$1"
    kill -TERM "$pid"
    rc=0
    wait "$pid" || rc=$?
    eval "W$1="
    [ "$rc" -eq 0 ] || die "eoc-ledger #$1 exited with status $rc after SIGTERM; see $RUN/worker$1.log"
}

# --- set-up and build --------------------------------------------------------
if [ -z "${EOC_E2E_NO_BUILD:-}" ]; then
    scripts/setup.sh
    scripts/build.sh
fi
for exe in "$GEN" "$CHECK" "$LEDGER"; do
    [ -x "$exe" ] || die "$exe was not built (is the tests option on? meson configure build)"
done
rm -rf "$RUN"
mkdir -p "$RUN"

# --- topics ------------------------------------------------------------------
topics_sh=${KAFKA_TOPICS:-$(command -v kafka-topics.sh || true)}
if [ -n "$topics_sh" ]; then
    for t in "$IN:$PARTITIONS" "$OUT:$PARTITIONS" "$DLQ:1"; do
        "$topics_sh" --bootstrap-server "$BROKERS" --create --if-not-exists --topic "${t%:*}" \
            --partitions "${t##*:}" --replication-factor "$REPLICATION" >>"$RUN/topics.log" 2>&1 ||
            die "$topics_sh could not create ${t%:*}: $(tail -n 3 "$RUN/topics.log")"
    done
    say "Kafka at $BROKERS; topics $IN:$PARTITIONS, $OUT:$PARTITIONS, $DLQ:1 (kafka-topics.sh)"
else
    say "Kafka at $BROKERS; topics $IN, $OUT, $DLQ (not created here: no kafka-topics.sh," \
        "so they must exist or the broker creates them)"
fi
say "group $GROUP, store $DATA"

# --- the workload ------------------------------------------------------------
produce "$COUNT"
say "produced $(cat "$RUN/gen.out")"

# --- two workers, one store ----------------------------------------------------
T0=$(now_ms)
start 1
start 2
KILL_N=$((COUNT * KILL_AT / 100))
killed=
deadline=$(($(date +%s) + TIMEOUT))
while ! poll_progress; do
    worker_alive "$W1" "$RUN/worker1.log"
    worker_alive "$W2" "$RUN/worker2.log"
    [ "$TOTAL" -le "$COUNT" ] ||
        die "$IN holds $TOTAL records, $COUNT produced now: use empty topics (see --help)"
    if [ "$KILL_AT" -gt 0 ] && [ -z "$killed" ] && [ "$N" -ge "$KILL_N" ]; then
        kill -KILL "$W1"
        wait "$W1" 2>/dev/null || true
        killed=$N
        say "SIGKILL of eoc-ledger #1 with $N of $COUNT records committed in LMDB"
        start 1
    fi
    [ "$(date +%s)" -lt "$deadline" ] ||
        die "not caught up within $TIMEOUT s: $(cat "$RUN/progress.out")"
    sleep 0.1
done
T1=$(now_ms)
[ "$TOTAL" -eq "$COUNT" ] || die "$IN holds $TOTAL records, $COUNT produced now: use empty topics"
say "caught up $((T1 - T0)) ms after the first start: $(sed 's/^progress: //' "$RUN/progress.out")"
stop 1
stop 2
say "both eoc-ledger workers stopped with SIGTERM (exit 0)"

# --- the proof ---------------------------------------------------------------
final_check --finished
compare_balances
echo
print_counts
echo "balances                  $balances"
echo "$verdict"
[ "$check_rc" -eq 0 ] || {
    echo
    cat "$RUN/check.out"
    exit 1
}
