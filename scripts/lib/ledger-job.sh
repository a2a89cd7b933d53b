# shellcheck shell=sh
# shellcheck disable=SC2034 # the results are globals the callers read
# The ledger job, as shell functions: produce a workload with eoc-ledger-gen,
# run eoc-ledger workers, wait until they have consumed everything, stop
# them, and prove the run with eoc-check against the generator's ground
# truth. Sourced (". scripts/lib/ledger-job.sh", POSIX sh) by:
#
#   scripts/demo.sh          the development Kafka, one worker, a SIGKILL
#   scripts/e2e-against.sh   any bootstrap servers, two workers
#   the docker compose services (docker-compose.yml; the image installs this
#   file as /usr/local/share/eoc/ledger-job.sh, common.sh beside it):
#   supervise_worker, run_gen, compose_check, compose_progress
#
# The caller sets, before calling the functions that use them:
#   LJ_NAME   prefix of messages ("demo" prints "demo: ...")
#   RUN       working directory: expect.json, gen.out, progress.out,
#             check.out, balances.*, worker.log
#   DATA      the workers' store (default $RUN/data)
#   BROKERS IN OUT DLQ GROUP   bootstrap servers, topics, consumer group
#   GEN CHECK LEDGER KAFKA_DEV the programs (paths or names on PATH)
#   SEED      generator seed (optional), DUP_RATIO (0.10), MALFORMED (12)
#   EOS_MODE  local (the default: progress and proof read the store in DATA)
#             or kafka (eos.mode=kafka: workers on stores of their own, so
#             progress is the group's committed offsets and the proof reads
#             the outputs read_committed)
#
# Functions set these globals: KAFKA_PID, WORKER_PID, N and TOTAL
# (poll_progress), verdict and check_rc (final_check, compare_balances),
# balances (compare_balances), WAIT_RC (wait_child).
#
# The helpers it shares with the e2e scenarios (now_ms, alive, kill_wait,
# wait_child, kafka_dev_launch, and the eoc-check helpers, which read its
# JSON instead of its prose) are in common.sh, beside this file: a sourced
# file cannot tell where it is, so the caller names the directory in
# EOC_SHLIB (scripts/demo.sh: scripts/lib) unless it is the installed one,
# /usr/local/share/eoc. Variables a function uses for itself are named
# _<prefix>_<name> (POSIX sh has no `local`).

# shellcheck source-path=SCRIPTDIR source=common.sh
. "${EOC_SHLIB:-/usr/local/share/eoc}/common.sh"

LJ_NAME=${LJ_NAME:-ledger-job}
KAFKA_PID=
WORKER_PID=
N=0
TOTAL=0

say() {
    printf '%s: %s\n' "$LJ_NAME" "$*"
}

die() {
    printf '%s: FAILED: %s\n' "$LJ_NAME" "$*" >&2
    exit 1
}

# Stops a process we started: SIGTERM, then SIGKILL after $2 seconds.
stop_pid() {
    kill_wait "$1" "$2"
}

# Starts the development Kafka (in memory) with the topics given as
# NAME:PARTITIONS; sets KAFKA_PID and BROKERS. Files in $RUN, the control
# socket is $RUN/kafka.sock.
start_kafka_dev() {
    for _sk_t in "$@"; do
        set -- "$@" --topic "$_sk_t"
        shift
    done
    kafka_dev_launch "$RUN" "$RUN/kafka.sock" "$@" || die "$KAFKA_DEV_ERR"
}

# Produces $1 ledger records to $IN: about 10% re-sent duplicates and a
# handful of malformed records; the ground truth goes to $RUN/expect.json,
# the generator's summary line to $RUN/gen.out.
produce() {
    "$GEN" --brokers "$BROKERS" --topic "$IN" --count "$1" --dup-ratio "${DUP_RATIO:-0.10}" \
        --malformed "${MALFORMED:-12}" --expect "$RUN/expect.json" ${SEED:+--seed "$SEED"} \
        >"$RUN/gen.out" 2>"$RUN/gen.log" || die "eoc-ledger-gen failed: $(cat "$RUN/gen.log")"
}

# Replaces the (sub)shell with eoc-ledger, so that the caller's $! is
# eoc-ledger itself and a SIGKILL reaches it.
ledger_exec() {
    exec "$LEDGER" --brokers "$BROKERS" --group "$GROUP" --input "$IN" --output "$OUT" \
        --dlq "$DLQ" --data "${DATA:-$RUN/data}" \
        --set kafka.session.timeout.ms=6000 \
        --set kafka.heartbeat.interval.ms=500 \
        --set eos.mode="${EOS_MODE:-local}"
}

# Starts an eoc-ledger worker in the background, appending its output to $1
# (default $RUN/worker.log); sets WORKER_PID.
start_worker() {
    ledger_exec >>"${1:-$RUN/worker.log}" 2>&1 &
    WORKER_PID=$!
}

# Dies unless process $1 (default: $WORKER_PID) is alive.
worker_alive() {
    kill -0 "${1:-$WORKER_PID}" 2>/dev/null || die "eoc-ledger exited; see ${2:-$RUN/worker.log}"
}

# Polls the store: sets N (records consumed, i.e. committed in LMDB) and
# TOTAL (records in the input topic) and returns 0 when everything is
# consumed and the outbox is empty (eoc-check --progress; output in
# $RUN/progress.out). With EOS_MODE=kafka, the group's committed offsets
# instead: a Kafka transaction committed those records.
poll_progress() {
    _pp_st=0
    if [ "${EOS_MODE:-local}" = kafka ]; then
        set -- --eos kafka --group "$GROUP"
    else
        set -- --data "${DATA:-$RUN/data}"
    fi
    check_progress --brokers "$BROKERS" --input "$IN" "$@" || _pp_st=$?
    N=$CONSUMED
    return "$_pp_st"
}

# The proof: eoc-check over the topics, the group and the store (with
# EOS_MODE=kafka: the group's committed offsets), with the generator's
# ground truth; extra arguments (--finished) are passed on.
# Output in $RUN/check.out, the JSON report in $RUN/check.json; sets
# verdict (its verdict line) and check_rc.
final_check() {
    if [ "${EOS_MODE:-local}" = kafka ]; then
        set -- --eos kafka "$@"
    else
        set -- --data "${DATA:-$RUN/data}" "$@"
    fi
    check_run 0 --brokers "$BROKERS" --input "$IN" --output "$OUT" --dlq "$DLQ" --group "$GROUP" \
        --expect "$RUN/expect.json" "$@"
    # shellcheck disable=SC2153 # set by check_run
    check_rc=$CHECK_RC
    verdict=$CHECK_LINE
    [ -n "$verdict" ] || die "eoc-check failed: $(cat "$RUN/check.out")"
}

# A count of the last final_check (records, applied, duplicates, dead
# letters, ...: check_count).
count_of() {
    check_count "$1"
}

# A number of the generator's ground truth (records, unique, duplicates,
# malformed).
expect_of() {
    check_field "$RUN/expect.json" "$1" 2>/dev/null || true
}

# An independent second look: the worker's own balance listing against
# the generator's sums (both "account balance" lines, sorted). Sets
# balances (one line of text); sets check_rc=1 when they differ.
compare_balances() {
    sed -n 's/^  "\([^"]*\)": \(-\{0,1\}[0-9]*\),\{0,1\}$/\1 \2/p' "$RUN/expect.json" |
        LC_ALL=C sort >"$RUN/balances.expected"
    "$LEDGER" --data "${DATA:-$RUN/data}" --balances | LC_ALL=C sort >"$RUN/balances.actual"
    _cb_accounts=$(wc -l <"$RUN/balances.expected")
    if cmp -s "$RUN/balances.expected" "$RUN/balances.actual"; then
        balances="all $_cb_accounts account balances equal the generator's sums"
    else
        balances="BALANCES DIFFER from the generator's sums (diff $RUN/balances.expected $RUN/balances.actual)"
        check_rc=1
    fi
}

# The first lines of the report: counts from the verdict and the generator.
print_counts() {
    echo "records read              $(count_of records) (produced: $(expect_of records))"
    echo "unique transfers applied  $(count_of applied) (generator: $(expect_of unique))"
    echo "duplicates skipped        $(count_of duplicates) (generator: $(expect_of duplicates))"
    echo "dead letters              $(count_of 'dead letters') (generator: $(expect_of malformed) malformed)"
}

# --- docker compose services ---------------------------------------------------
# The services share two volumes: the store (/data; both workers and the
# checker open the same LMDB environment) and /shared (EOC_SHARED: the
# ground truth, the stop request, the workers' exit statuses).
#
# The checker cannot stop containers (no Docker socket inside), so stopping
# is cooperative: when everything is consumed and the outbox is empty the
# checker creates $EOC_SHARED/stop; each worker's supervisor then sends
# eoc-ledger SIGTERM (its normal, draining stop), writes the exit status to
# $EOC_SHARED/worker-<hostname>.rc and exits with it. The checker waits for
# EOC_WORKERS such files, all 0, and only then runs eoc-check --finished.

# Maps the EOC_* environment of the compose services onto the variables above.
compose_env() {
    BROKERS=${EOC_BROKERS:?EOC_BROKERS is not set}
    IN=${EOC_INPUT:?EOC_INPUT is not set}
    OUT=${EOC_OUTPUT:?EOC_OUTPUT is not set}
    DLQ=${EOC_DLQ:?EOC_DLQ is not set}
    GROUP=${EOC_GROUP:?EOC_GROUP is not set}
    DATA=${EOC_DATA:?EOC_DATA is not set}
    SHARED=${EOC_SHARED:?EOC_SHARED is not set}
    RUN=$SHARED
    CHECK=${EOC_CHECK_BIN:-eoc-check}
    LEDGER=${EOC_LEDGER_BIN:-eoc-ledger}
}

# supervise_worker CMD [ARG]...: the worker service. Runs CMD (eoc-ledger
# with its flags) until it exits or $EOC_SHARED/stop appears, then SIGTERM;
# records CMD's exit status and exits with it. SIGTERM/SIGINT (docker stop)
# are passed on to CMD.
supervise_worker() {
    LJ_NAME=worker
    _sw_shared=${EOC_SHARED:?EOC_SHARED is not set}
    # shellcheck disable=SC3028 # Docker sets HOSTNAME (the container ID)
    _sw_me=${HOSTNAME:-$(cat /proc/sys/kernel/hostname)}
    _sw_rc=$_sw_shared/worker-$_sw_me.rc
    if [ -e "$_sw_shared/stop" ]; then
        # (Re)started after the checker asked for the stop: not running is
        # stopped; the checker judges what the store and the topics hold.
        say "stop already requested ($_sw_shared/stop); not starting $1"
        echo 0 >"$_sw_rc.tmp" && mv "$_sw_rc.tmp" "$_sw_rc"
        exit 0
    fi
    "$@" &
    _sw_child=$!
    trap 'kill -TERM "$_sw_child" 2>/dev/null || true' TERM INT
    (
        while [ ! -e "$_sw_shared/stop" ]; do
            sleep 1
        done
        kill -TERM "$_sw_child" 2>/dev/null || true
    ) &
    _sw_watcher=$!
    say "$1 started (pid $_sw_child); stops on SIGTERM or when $_sw_shared/stop appears"
    wait_child "$_sw_child"
    kill "$_sw_watcher" 2>/dev/null || true
    echo "$WAIT_RC" >"$_sw_rc.tmp" && mv "$_sw_rc.tmp" "$_sw_rc"
    say "$1 exited with status $WAIT_RC"
    exit "$WAIT_RC"
}

# run_gen CMD [ARG]...: the workload service. Refuses to produce twice into
# the same volumes (the ground truth would then describe half of the input);
# adds --seed $EOC_SEED when set.
run_gen() {
    LJ_NAME=gen
    _rg_shared=${EOC_SHARED:?EOC_SHARED is not set}
    [ ! -e "$_rg_shared/expect.json" ] ||
        die "$_rg_shared/expect.json exists: these volumes hold an earlier run (docker compose down -v)"
    "$@" ${EOC_SEED:+--seed "$EOC_SEED"} || die "$1 exited with status $?"
}

# compose_progress: one progress line, for people and scripts (docker
# compose exec). Exit status as eoc-check --progress (0: caught up).
compose_progress() {
    LJ_NAME=progress
    compose_env
    RUN=$(mktemp -d)
    _cpr_st=0
    poll_progress || _cpr_st=$?
    cat "$RUN/progress.out"
    rm -rf "$RUN"
    return "$_cpr_st"
}

# compose_check: the checker service; its exit status is the run's verdict.
#   EOC_WORKERS        worker replicas to wait for (required)
#   EOC_CHECK_TIMEOUT  seconds for the whole wait (default 600)
#   EOC_CHECK_AFTER    a file name in EOC_SHARED to wait for before judging
#                      "caught up" (scripts/compose-chaos.sh creates it when
#                      its kills are over)
compose_check() {
    LJ_NAME=checker
    compose_env
    _cc_workers=${EOC_WORKERS:?EOC_WORKERS is not set}
    _cc_deadline=$(($(date +%s) + ${EOC_CHECK_TIMEOUT:-600}))
    [ -s "$RUN/expect.json" ] || die "no ground truth in $RUN/expect.json (did gen run?)"
    if [ -n "${EOC_CHECK_AFTER:-}" ]; then
        say "waiting for $SHARED/$EOC_CHECK_AFTER"
        while [ ! -e "$SHARED/$EOC_CHECK_AFTER" ]; do
            [ "$(date +%s)" -lt "$_cc_deadline" ] || die "$SHARED/$EOC_CHECK_AFTER did not appear"
            sleep 1
        done
    fi
    say "waiting until the $_cc_workers workers have consumed everything and published their outbox"
    _cc_last=
    while ! poll_progress; do
        [ "$(date +%s)" -lt "$_cc_deadline" ] ||
            die "not caught up within ${EOC_CHECK_TIMEOUT:-600} s: $(cat "$RUN/progress.out")"
        _cc_line=$(cat "$RUN/progress.out")
        if [ "$_cc_line" != "$_cc_last" ]; then
            say "$_cc_line"
            _cc_last=$_cc_line
        fi
        sleep 1
    done
    say "caught up: $(sed 's/^progress: //' "$RUN/progress.out")"

    # Statuses of earlier runs (a worker that crashed and was restarted)
    # say nothing about this stop.
    rm -f "$SHARED"/worker-*.rc
    : >"$SHARED/stop"
    say "asked the workers to stop ($SHARED/stop)"
    while :; do
        set -- "$SHARED"/worker-*.rc
        [ -e "$1" ] || set --
        [ "$#" -lt "$_cc_workers" ] || break
        [ "$(date +%s)" -lt "$_cc_deadline" ] ||
            die "only $# of $_cc_workers workers reported their exit status after the stop request"
        sleep 1
    done
    for _cc_f in "$@"; do
        _cc_rc=$(cat "$_cc_f")
        [ "$_cc_rc" = 0 ] || die "$(basename "$_cc_f" .rc) exited with status $_cc_rc after the stop request"
    done
    say "$# eoc-ledger workers stopped with SIGTERM (exit 0)"

    final_check --finished
    compare_balances
    echo
    print_counts
    echo "balances                  $balances"
    echo "$verdict"
    if [ "$check_rc" -ne 0 ]; then
        echo
        cat "$RUN/check.out"
        exit 1
    fi
    exit 0
}
