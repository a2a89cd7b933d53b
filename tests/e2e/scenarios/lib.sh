# lib.sh - what every e2e fault scenario shares. POSIX sh; sourced with
#
#     . "$(dirname "$0")/lib.sh"
#     e2e_begin "one line saying what this scenario proves"
#
# A scenario starts the development Kafka (kafka_start), produces ledger
# transfers with eoc-ledger-gen (produce: every call writes its ground truth,
# merged into one expect file), runs workers (worker_start / worker_kill /
# worker_stop, one log per worker), injects faults (fault: each one is
# listed in the summary), waits with deadlines (wait_progress, wait_exit,
# wait_for), and ends with check_final (`eoc-check --expect --finished`)
# and e2e_end, which prints the summary and exits 0 only on an OK verdict.
# Every process started here is killed by the EXIT trap, whatever happens,
# and every tool run in the foreground runs under timeout(1): a librdkafka
# call can outlive its own timeout while a partition leader is down (seen:
# rd_kafka_query_watermark_offsets in eoc-check --progress).
#
# The helpers it shares with the ledger job (now_ms, alive, kill_wait,
# wait_child, kafka_dev_launch, and check_field, check_progress, check_run,
# check_count, check_failed, which read eoc-check's JSON instead of its
# prose) are in scripts/lib/common.sh, sourced here. POSIX sh has no
# `local`: a variable a helper uses for itself is named _<prefix>_<name>, so
# that helpers never overwrite the scenario's variables (i, n, pid, name,
# st...) nor each other's.
#
# Environment:
#   EOC_SOURCE_ROOT    the source tree (default: the first directory above the
#                      sourcing script that has scripts/lib/common.sh)
#   EOC_BUILD_ROOT     the build directory (default: <source>/build); the
#                      executables are found there unless named by
#                      EOC_KAFKA_DEV, EOC_LEDGER, EOC_CHECK, EOC_LEDGER_GEN,
#                      EOC_TOOL, EOC_PRODUCE_RAW, EOC_CRASHY (meson sets them)
#   EOC_E2E_SEED       seed of all randomness (workload, kill targets, timings);
#                      printed at the start of every scenario
#   EOC_E2E_SOAK=1     soak mode: longer storms (scenario 03: 10 minutes)
#   EOC_E2E_DIR        where working directories go (default <build>/e2e-runs)
#   EOC_E2E_KEEP=1     keep the stores of a passing scenario (a failing one
#                      always keeps everything)

# Variables set here are used by the scenarios that source this file.
# shellcheck disable=SC2034,SC3045
set -u
umask 022
ulimit -c 0 2>/dev/null || true # handlers that abort() leave no core files

E2E_NAME=${E2E_NAME:-$(basename "$0" .sh)}
E2E_T0=$(date +%s)
E2E_HERE=$(cd "$(dirname "$0")" && pwd)
# The source tree: EOC_SOURCE_ROOT, else the first directory above the
# script that has scripts/lib/common.sh (tests/e2e/scenarios/x.sh is three
# levels down, tests/real/x.sh two).
if [ -n "${EOC_SOURCE_ROOT:-}" ]; then
    E2E_SRC=$EOC_SOURCE_ROOT
else
    E2E_SRC=$E2E_HERE
    while [ "$E2E_SRC" != / ] && [ ! -f "$E2E_SRC/scripts/lib/common.sh" ]; do
        E2E_SRC=$(dirname "$E2E_SRC")
    done
fi
[ -f "$E2E_SRC/scripts/lib/common.sh" ] || {
    echo "$E2E_NAME: scripts/lib/common.sh not found above $E2E_HERE (set EOC_SOURCE_ROOT)" >&2
    exit 1
}
# shellcheck source-path=SCRIPTDIR source=../../../scripts/lib/common.sh
. "$E2E_SRC/scripts/lib/common.sh"
E2E_BUILD=${EOC_BUILD_ROOT:-$E2E_SRC/build}
KAFKA_DEV=${EOC_KAFKA_DEV:-$E2E_BUILD/tools/kafka-dev/eoc-kafka-dev}
LEDGER=${EOC_LEDGER:-$E2E_BUILD/consumers/eoc-ledger}
CHECK=${EOC_CHECK:-$E2E_BUILD/tests/e2e/eoc-check}
GEN=${EOC_LEDGER_GEN:-$E2E_BUILD/tests/e2e/eoc-ledger-gen}
TOOL=${EOC_TOOL:-$E2E_BUILD/tools/eoc/eoc}
PRODUCE_RAW=${EOC_PRODUCE_RAW:-$E2E_BUILD/tests/e2e/eoc-produce-raw}
CRASHY=${EOC_CRASHY:-$E2E_BUILD/tests/e2e/eoc-crashy}
SOAK=${EOC_E2E_SOAK:-0}
RUN=${EOC_E2E_DIR:-$E2E_BUILD/e2e-runs}/$E2E_NAME

# Names every scenario uses unless it sets others before kafka_start.
IN=ledger.transfers
OUT=ledger.balances
DLQ=ledger.dlq
GROUP=e2e-$E2E_NAME
# Worker flags every start gets (a worker's own flags come after and win).
# The development Kafka keeps a departed member until its session times out
# and a new member's join waits for it: 6 s keeps restarts quick (shorter
# made the mock's JoinGroup hang).
WORKER_FLAGS="--set kafka.session.timeout.ms=6000 --set kafka.heartbeat.interval.ms=500"

KAFKA_PID=
BROKERS=
CTL=
WORKERS=         # names of workers started, space separated
BG_PIDS=         # other background processes (producer loops)
PRODUCED=0       # records produced by produce() and the producer loops
CHUNK=0          # produce() calls so far (names the expect files, seeds the generator)
VERDICT=         # the checker's verdict line
CHECK_RC=        # the checker's exit status
E2E_RESULT=      # PASS, FAIL, ...

# ------------------------------------------------------------------ #
# output, randomness                                                 #
# ------------------------------------------------------------------ #

e2e_elapsed() {
    echo $(($(date +%s) - E2E_T0))
}

say() {
    printf '[%s %3ss] %s\n' "$E2E_NAME" "$(e2e_elapsed)" "$*"
}

# Prints the tail of every log, then fails the scenario.
die() {
    say "FAILED: $*"
    E2E_RESULT=FAIL
    for f in "$RUN"/*.log; do
        [ -f "$f" ] || continue
        echo "---- last lines of $f"
        tail -n 25 "$f"
    done
    echo "---- working directory kept: $RUN"
    exit 1
}

# A small seeded generator (POSIX sh has no $RANDOM): rand N sets R to a
# number in [0, N).
rand() {
    E2E_RNG=$(((E2E_RNG * 1103515245 + 12345) % 2147483648))
    R=$(((E2E_RNG >> 8) % $1))
}

# sleep_ms N
sleep_ms() {
    sleep "$(($1 / 1000)).$(printf '%03d' $(($1 % 1000)))"
}

# fault_note TEXT: lists a fault injected for the summary.
fault_note() {
    printf '%s  %s\n' "$(e2e_elapsed)s" "$*" >>"$RUN/faults.txt"
    say "FAULT: $*"
}

# ------------------------------------------------------------------ #
# start and end                                                      #
# ------------------------------------------------------------------ #

e2e_begin() {
    for _eb_exe in "$KAFKA_DEV" "$LEDGER" "$CHECK" "$GEN" "$TOOL"; do
        [ -x "$_eb_exe" ] || {
            echo "$E2E_NAME: $_eb_exe is missing: build first (scripts/build.sh)" >&2
            exit 1
        }
    done
    rm -rf "$RUN"
    mkdir -p "$RUN/expect" || exit 1
    : >"$RUN/faults.txt"
    SEED=${EOC_E2E_SEED:-$((($(date +%s) % 100000) * 1000 + $$ % 1000))}
    E2E_RNG=$((SEED % 2147483648))
    trap e2e_cleanup EXIT
    trap 'E2E_RESULT=INTERRUPTED; exit 130' INT TERM HUP
    say "$*"
    say "seed $SEED (EOC_E2E_SEED=$SEED replays it); working directory $RUN"
}

e2e_cleanup() {
    _ec_st=$?
    trap - EXIT INT TERM HUP
    for _ec_pid in $BG_PIDS; do
        kill -TERM "$_ec_pid" 2>/dev/null
    done
    for _ec_name in $WORKERS; do
        _ec_pid=$(worker_pid "$_ec_name")
        [ -z "$_ec_pid" ] || { kill -KILL "$_ec_pid" 2>/dev/null; kill -CONT "$_ec_pid" 2>/dev/null; }
    done
    for _ec_pid in $BG_PIDS; do
        kill_wait "$_ec_pid" 3
    done
    for _ec_name in $WORKERS; do
        _ec_pid=$(worker_pid "$_ec_name")
        [ -z "$_ec_pid" ] || wait "$_ec_pid" 2>/dev/null
    done
    [ -z "$KAFKA_PID" ] || kill_wait "$KAFKA_PID" 5
    case $CTL in /tmp/eoc-e2e-*) rm -f "$CTL" ;; esac
    if [ "$_ec_st" -eq 0 ] && [ "${EOC_E2E_KEEP:-0}" != 1 ]; then
        rm -rf "$RUN"/data*
    fi
    exit "$_ec_st"
}

# e2e_end: the summary, and the exit status: 0 only when CHECK_RC is 0 (an
# OK verdict; the negative scenario sets it after checking the FAIL it needs).
e2e_end() {
    echo
    echo "== $E2E_NAME summary (seed $SEED)"
    echo "records produced: $PRODUCED"
    if [ -s "$RUN/faults.txt" ]; then
        echo "faults injected ($(wc -l <"$RUN/faults.txt")):"
        sed 's/^/  /' "$RUN/faults.txt"
    else
        echo "faults injected: none"
    fi
    echo "${VERDICT:-verdict: (no verdict)}"
    echo "wall time: $(e2e_elapsed) s"
    [ "$CHECK_RC" = 0 ] && E2E_RESULT=PASS || E2E_RESULT=FAIL
    echo "result: $E2E_RESULT"
    if [ "$E2E_RESULT" != PASS ]; then
        [ ! -f "$RUN/check.out" ] || cat "$RUN/check.out"
        die "verdict not as required"
    fi
    exit 0
}

# ------------------------------------------------------------------ #
# the development Kafka                                              #
# ------------------------------------------------------------------ #

# kafka_start NBROKERS TOPIC:PARTS...
kafka_start() {
    _ks_n=$1
    shift
    for _ks_t in "$@"; do
        set -- "$@" --topic "$_ks_t"
        shift
    done
    CTL=$RUN/kafka.sock
    [ ${#CTL} -lt 100 ] || CTL=/tmp/eoc-e2e-$$.sock
    kafka_dev_launch "$RUN" "$CTL" --brokers "$_ks_n" "$@" || die "$KAFKA_DEV_ERR"
    say "development Kafka ($_ks_n broker(s)) at $BROKERS"
}

# kafka_cmd COMMAND...: sends a command, prints the reply; status 0 on "ok".
kafka_cmd() {
    timeout -k 5 15 "$KAFKA_DEV" --send "$CTL" "$@"
}

# fault COMMAND...: a Kafka fault command, listed in the summary.
fault() {
    fault_note "kafka: $*"
    _fa_reply=$(kafka_cmd "$@") || die "fault command '$*' failed: $_fa_reply"
}

# ------------------------------------------------------------------ #
# input                                                              #
# ------------------------------------------------------------------ #

# raw_record [eoc-produce-raw flags...]: one record to $IN, as the flags
# make it (--partition, --key, --header, --value); RAW is what
# eoc-produce-raw printed (the record's partition and offset).
raw_record() {
    RAW=$(timeout -k 5 40 "$PRODUCE_RAW" --brokers "$BROKERS" --topic "$IN" "$@" 2>>"$RUN/raw.log") ||
        die "eoc-produce-raw failed: $(tail -n 1 "$RUN/raw.log")"
    PRODUCED=$((PRODUCED + 1))
}

# raw_records TAG N: N ordinary records over partitions 0 and 1, IDs
# TAG-1 ... TAG-N, values "TAG i", keys k0..k2.
raw_records() {
    _rr_i=1
    while [ "$_rr_i" -le "$2" ]; do
        raw_record --partition $((_rr_i % 2)) --key "k$((_rr_i % 3))" --header "message-id=$1-$_rr_i" \
            --value "$1 $_rr_i"
        _rr_i=$((_rr_i + 1))
    done
}

# produce COUNT [eoc-ledger-gen flags...]: COUNT transfers (10% re-sent,
# a few malformed unless --malformed is given) to $IN, with ground truth.
produce() {
    _pr_count=$1
    shift
    _pr_f=$RUN/expect/$(printf '%04d' "$CHUNK").json
    _pr_seed=$((SEED * 1000 + CHUNK))
    CHUNK=$((CHUNK + 1))
    timeout -k 5 180 "$GEN" --brokers "$BROKERS" --topic "$IN" --count "$_pr_count" --seed "$_pr_seed" \
        --malformed $((_pr_count / 2000 + 1)) --expect "$_pr_f" "$@" \
        >>"$RUN/gen.out" 2>>"$RUN/gen.log" || die "eoc-ledger-gen failed (see gen.log)"
    PRODUCED=$((PRODUCED + _pr_count))
}

# producer_loop_start CHUNK_COUNT PERIOD_MS: produces CHUNK_COUNT records every
# PERIOD_MS in the background until producer_loop_stop (input keeps arriving).
producer_loop_start() {
    : >"$RUN/loop.count"
    rm -f "$RUN/loop.stop"
    (
        trap 'kill -TERM $gp 2>/dev/null; exit 143' TERM
        k=500
        while [ ! -e "$RUN/loop.stop" ]; do
            f=$RUN/expect/$(printf '%04d' $k).json
            timeout -k 5 180 "$GEN" --brokers "$BROKERS" --topic "$IN" --count "$1" \
                --seed $((SEED * 1000 + k)) \
                --malformed 1 --expect "$f" >>"$RUN/gen.out" 2>>"$RUN/gen.log" &
            gp=$!
            wait $gp || {
                echo "eoc-ledger-gen failed in the producer loop" >>"$RUN/gen.log"
                exit 1
            }
            echo "$1" >>"$RUN/loop.count"
            k=$((k + 1))
            sleep_ms "$2"
        done
    ) &
    E2E_LOOP_PID=$!
    BG_PIDS="$BG_PIDS $E2E_LOOP_PID"
}

producer_loop_stop() {
    touch "$RUN/loop.stop"
    wait "$E2E_LOOP_PID" || die "the producer loop failed (see gen.log)"
    BG_PIDS=$(echo "$BG_PIDS" | sed "s/ $E2E_LOOP_PID\$\| $E2E_LOOP_PID / /")
    _pl_n=$(awk '{ s += $1 } END { print s + 0 }' "$RUN/loop.count")
    PRODUCED=$((PRODUCED + _pl_n))
    say "producer loop stopped: $_pl_n records in $(wc -l <"$RUN/loop.count") chunks"
}

# Merges the generator's ground-truth files into $RUN/expect.json (sums).
merge_expect() {
    awk '
    function num(line, key,   s) {
        if (match(line, "\"" key "\": -?[0-9]+")) {
            s = substr(line, RSTART, RLENGTH); sub(/.*: /, "", s); return s + 0
        }
        return 0
    }
    /^\{"seed"/ {
        u += num($0, "unique"); d += num($0, "duplicates")
        m += num($0, "malformed"); r += num($0, "records")
    }
    /^  "[^"]*": -?[0-9]+,?$/ {
        name = $0; sub(/^  "/, "", name); sub(/".*/, "", name)
        v = $0; sub(/^.*": /, "", v); sub(/,$/, "", v)
        if (!(name in bal)) order[++n] = name
        bal[name] += v
    }
    /"malformed_ids": \[/ {
        ids = $0; sub(/.*\[/, "", ids); sub(/\].*/, "", ids)
        if (ids != "") mids = mids (mids == "" ? "" : ", ") ids
    }
    END {
        printf "{\"seed\": 0, \"unique\": %d, \"duplicates\": %d, \"malformed\": %d, \"records\": %d,\n \"balances\": {", u, d, m, r
        for (i = 1; i <= n; i++)
            printf "%s\n  \"%s\": %.0f", (i > 1 ? "," : ""), order[i], bal[order[i]]
        printf "\n },\n \"malformed_ids\": [%s]}\n", mids
    }' "$RUN"/expect/*.json >"$RUN/expect.json" || die "cannot merge the ground truth"
}

# expect_reset LABEL: sets the ground truth so far aside (as expect.LABEL),
# for a scenario that checks several independent rounds.
expect_reset() {
    mv "$RUN/expect" "$RUN/expect.$1" && mkdir "$RUN/expect" || die "expect_reset"
}

# ------------------------------------------------------------------ #
# workers                                                            #
# ------------------------------------------------------------------ #
# A worker has a NAME (a shell word: w1, w2, ...) and a data directory.
# W_EXE (default eoc-ledger), W_ENV ("NAME=VALUE ..." for its environment,
# e.g. EOC_CRASH_AT), W_FSIZE (a file-size limit in 512-byte blocks, with
# SIGXFSZ ignored, so that growing the store fails with EFBIG) and W_PREFIX
# (a command that execs the worker in another setting, e.g. "ip netns exec
# NS": the worker keeps the pid) apply to the next worker_start only.

worker_pid() {
    eval "echo \${W_PID_$1:-}"
}

worker_data() {
    eval "echo \${W_DATA_$1:-}"
}

# worker_start NAME DATA [flags...]
worker_start() {
    _ws_name=$1
    _ws_data=$2
    shift 2
    _ws_log=$RUN/$_ws_name.log
    _ws_exe=${W_EXE:-$LEDGER}
    _ws_env=${W_ENV:-}
    _ws_fsize=${W_FSIZE:-}
    _ws_prefix=${W_PREFIX:-}
    W_EXE='' W_ENV='' W_FSIZE='' W_PREFIX=''
    touch "$_ws_log"
    eval "W_LOGPOS_$_ws_name=$(wc -l <"$_ws_log")"
    echo "=== $(date +%T.%N | cut -c1-12) start: $_ws_prefix $_ws_env ${_ws_fsize:+ulimit -f $_ws_fsize;} $(basename "$_ws_exe") --data $_ws_data $*" >>"$_ws_log"
    # shellcheck disable=SC2086 # WORKER_FLAGS, _ws_prefix and _ws_env are word lists
    (
        if [ -n "$_ws_fsize" ]; then
            ulimit -f "$_ws_fsize" || exit 99
            trap '' XFSZ
        fi
        exec $_ws_prefix env $_ws_env "$_ws_exe" --brokers "$BROKERS" --group "$GROUP" --input "$IN" \
            --output "$OUT" --dlq "$DLQ" --data "$_ws_data" $WORKER_FLAGS "$@"
    ) </dev/null >>"$_ws_log" 2>&1 &
    eval "W_PID_$_ws_name=$!"
    eval "W_DATA_$_ws_name=\$_ws_data"
    case " $WORKERS " in *" $_ws_name "*) ;; *) WORKERS="$WORKERS $_ws_name" ;; esac
}

# worker_log_since_start NAME: its log lines since its last start.
worker_log_since_start() {
    _wl_pos=0
    eval "_wl_pos=\${W_LOGPOS_$1:-0}"
    tail -n +$((_wl_pos + 1)) "$RUN/$1.log"
}

# worker_assigned NAME: it got partitions since its last start.
worker_assigned() {
    worker_log_since_start "$1" | grep -Eq 'INFO assigned [1-9]'
}

# stats_sum FIELD: the sum of FIELD (consumed, applied, duplicates,
# dead_letters, ...) over the workers' last "stopped:" lines since their
# last start.
stats_sum() {
    for _ss_w in $WORKERS; do
        worker_log_since_start "$_ss_w" | grep 'INFO stopped:' | tail -n 1
    done | sed -n "s/.* $1=\([0-9]*\).*/\1/p" | awk '{ s += $1 } END { print s + 0 }'
}

# worker_owns NAME N: it holds N partitions now, counted from its log since
# its last start (incremental assignments add, revokes and losses remove).
worker_owns() {
    [ "$(worker_log_since_start "$1" | awk '
        match($0, /INFO (assigned|revoked|lost) [0-9]+ partition/) {
            split(substr($0, RSTART, RLENGTH), f, " ")
            n += (f[2] == "assigned" ? f[3] : -f[3])
        }
        END { print n + 0 }')" = "$2" ]
}

# worker_alive NAME
worker_alive() {
    _wa_pid=$(worker_pid "$1")
    [ -n "$_wa_pid" ] && alive "$_wa_pid"
}

# worker_kill NAME [SIGNAL]: default SIGKILL; reaps it. Listed as a fault.
worker_kill() {
    _wk_sig=${2:-KILL}
    _wk_pid=$(worker_pid "$1")
    [ -n "$_wk_pid" ] || return 0
    fault_note "kill -$_wk_sig $1 (pid $_wk_pid)"
    kill -"$_wk_sig" "$_wk_pid" 2>/dev/null
    wait "$_wk_pid" 2>/dev/null
    eval "W_PID_$1="
}

# worker_stop NAME SECONDS: SIGTERM and wait at most SECONDS; sets
# STOP_RC (exit status) and STOP_MS (how long it took). Fails when the
# worker does not exit in time.
worker_stop() {
    worker_term "$1"
    worker_wait_stop "$1" "$2"
}

# worker_term NAME: one SIGTERM (a second one would kill it the default way).
worker_term() {
    _wt_pid=$(worker_pid "$1")
    [ -n "$_wt_pid" ] || die "worker_stop $1: not running"
    eval "W_T0_$1=$(now_ms)"
    kill -TERM "$_wt_pid" 2>/dev/null
}

# worker_wait_stop NAME SECONDS: after worker_term.
worker_wait_stop() {
    _wws_pid=$(worker_pid "$1")
    _wws_i=0
    while alive "$_wws_pid"; do
        [ "$_wws_i" -lt $(($2 * 10)) ] || {
            kill -KILL "$_wws_pid"
            wait "$_wws_pid" 2>/dev/null
            eval "W_PID_$1="
            die "$1 did not exit within $2 s of SIGTERM"
        }
        sleep 0.1
        _wws_i=$((_wws_i + 1))
    done
    STOP_RC=0
    wait "$_wws_pid" || STOP_RC=$?
    eval "STOP_MS=\$((\$(now_ms) - W_T0_$1))"
    eval "W_PID_$1="
    say "$1 stopped by SIGTERM: exit $STOP_RC after $STOP_MS ms"
}

# worker_stop_ok NAME [SECONDS]: SIGTERM; the exit status must be 0.
worker_stop_ok() {
    worker_stop "$1" "${2:-30}"
    [ "$STOP_RC" -eq 0 ] || die "$1 exited with status $STOP_RC after SIGTERM"
}

# stop_all_workers [SECONDS]: SIGTERM every running worker, each must exit 0.
stop_all_workers() {
    for _sa_name in $WORKERS; do
        [ -z "$(worker_pid "$_sa_name")" ] || worker_term "$_sa_name"
    done
    for _sa_name in $WORKERS; do
        [ -z "$(worker_pid "$_sa_name")" ] || {
            worker_wait_stop "$_sa_name" "${1:-30}"
            [ "$STOP_RC" -eq 0 ] || die "$_sa_name exited with status $STOP_RC after SIGTERM"
        }
    done
}

# wait_exit NAME SECONDS: waits for the worker to exit on its own (a crash
# point, a fatal error); sets EXIT_RC. Fails after SECONDS.
wait_exit() {
    _we_pid=$(worker_pid "$1")
    [ -n "$_we_pid" ] || die "wait_exit $1: not running"
    _we_i=0
    while alive "$_we_pid"; do
        [ "$_we_i" -lt $(($2 * 10)) ] || die "$1 did not exit within $2 s"
        kafka_alive
        sleep 0.1
        _we_i=$((_we_i + 1))
    done
    EXIT_RC=0
    wait "$_we_pid" || EXIT_RC=$?
    eval "W_PID_$1="
}

kafka_alive() {
    if [ -n "$KAFKA_PID" ] && ! alive "$KAFKA_PID"; then
        _ka_st=0
        wait "$KAFKA_PID" || _ka_st=$?
        KAFKA_PID=
        die "eoc-kafka-dev exited unexpectedly with status $_ka_st (killed from outside?)"
    fi
}

# Fails when the development Kafka or a worker that should be running has
# exited.
workers_alive() {
    kafka_alive
    for _wsa_name in $WORKERS; do
        _wsa_pid=$(worker_pid "$_wsa_name")
        [ -z "$_wsa_pid" ] || alive "$_wsa_pid" || {
            _wsa_st=0
            wait "$_wsa_pid" || _wsa_st=$?
            eval "W_PID_$_wsa_name="
            die "worker $_wsa_name (pid $_wsa_pid) exited unexpectedly with status $_wsa_st"
        }
    done
}

# ------------------------------------------------------------------ #
# waiting and checking                                               #
# ------------------------------------------------------------------ #

# The data directories to check: DATA_DIRS if set, else every worker's.
data_dirs() {
    if [ -n "${DATA_DIRS:-}" ]; then
        echo "$DATA_DIRS"
        return
    fi
    _dd_dirs=
    for _dd_name in $WORKERS; do
        _dd_d=$(worker_data "$_dd_name")
        case " $_dd_dirs " in *" $_dd_d "*) ;; *) _dd_dirs="$_dd_dirs $_dd_d" ;; esac
    done
    echo "$_dd_dirs"
}

data_args() {
    for _da_d in $(data_dirs); do
        printf ' --data %s' "$_da_d"
    done
}

# progress: one `eoc-check --progress` (check_progress); sets CONSUMED and
# TOTAL and OUTBOX; status 0 when caught up and drained.
progress() {
    # shellcheck disable=SC2046
    check_progress --brokers "$BROKERS" --input "$IN" $(data_args)
}

# wait_progress SECONDS [--no-alive]: until every input record is consumed
# and every outbox drained; checks that the running workers stay alive.
wait_progress() {
    _wp_deadline=$(($(date +%s) + $1))
    until progress; do
        [ "${2:-}" = --no-alive ] || workers_alive
        [ "$(date +%s)" -lt "$_wp_deadline" ] ||
            die "not caught up within $1 s: $(cat "$RUN/progress.out")"
        sleep 0.3
    done
    say "caught up: $(cat "$RUN/progress.out")"
}

# wait_consumed N SECONDS: until at least N input records are consumed.
wait_consumed() {
    _wcn_deadline=$(($(date +%s) + $2))
    while progress; [ "$CONSUMED" -lt "$1" ]; do
        workers_alive
        [ "$(date +%s)" -lt "$_wcn_deadline" ] ||
            die "fewer than $1 records consumed within $2 s: $(cat "$RUN/progress.out")"
        sleep 0.2
    done
}

# wait_for SECONDS DESCRIPTION COMMAND...: until COMMAND succeeds; checks
# that the running workers stay alive.
wait_for() {
    _wf_secs=$1
    _wf_what=$2
    shift 2
    _wf_deadline=$(($(date +%s) + _wf_secs))
    until "$@"; do
        workers_alive
        [ "$(date +%s)" -lt "$_wf_deadline" ] || die "timed out after $_wf_secs s waiting for $_wf_what"
        sleep 0.2
    done
}

# log_has NAME PATTERN: the worker's log has a line matching PATTERN (grep -E).
log_has() {
    grep -Eq "$2" "$RUN/$1.log"
}

# outbox_backlog DIR: the store's pending outbox rows (eoc inspect --json).
outbox_backlog() {
    timeout -k 5 30 "$TOOL" inspect "$1" --json 2>/dev/null | check_field - outbox.backlog 2>/dev/null
}

# store_consumed DIR: input records the store has consumed (the sum of its
# next offsets), from the store alone: safe while brokers are down.
store_consumed() {
    _sc_sum=0
    for _sc_n in $(timeout -k 5 30 "$TOOL" inspect "$1" --json 2>/dev/null |
        check_field - 'offsets.*.next_offset' 2>/dev/null); do
        _sc_sum=$((_sc_sum + _sc_n))
    done
    echo "$_sc_sum"
}

# check_final [eoc-check flags...]: the verdict over every data directory,
# with the merged ground truth (unless NO_EXPECT=1) and --finished (unless
# NOT_FINISHED=1). Sets VERDICT and CHECK_RC; prints the verdict. The JSON
# report is $RUN/check.json: check_count NAME and check_failed INVARIANT
# read it.
check_final() {
    _cfi_ret=$(kafka_cmd retention) || true
    [ "$_cfi_ret" = ok ] || say "WARNING: the development Kafka dropped records: $_cfi_ret"
    _cfi_exp=
    if [ "${NO_EXPECT:-0}" != 1 ]; then
        merge_expect
        _cfi_exp="--expect $RUN/expect.json"
    fi
    _cfi_fin=--finished
    [ "${NOT_FINISHED:-0}" != 1 ] || _cfi_fin=
    # shellcheck disable=SC2046,SC2086
    check_run 180 --brokers "$BROKERS" --input "$IN" --output "$OUT" --dlq "$DLQ" \
        --group "$GROUP" $(data_args) $_cfi_exp $_cfi_fin "$@"
    VERDICT=$CHECK_LINE
    [ -n "$VERDICT" ] || VERDICT="verdict: none (eoc-check exit $CHECK_RC: $(tail -n 1 "$RUN/check.out"))"
    grep -v '^verdict:' "$RUN/check.out" | sed 's/^/  check: /' | head -n 40
    say "$VERDICT"
}

# round_verdict LABEL: keeps this round's verdict for the summary; the
# scenario's status is the worst round's. Call e2e_end after the last one.
round_verdict() {
    ROUND_VERDICTS="${ROUND_VERDICTS:-}${ROUND_VERDICTS:+
}[$1] $VERDICT"
    [ "$CHECK_RC" = 0 ] || ROUND_RC=$CHECK_RC
    cp "$RUN/check.out" "$RUN/check.$1.out"
    [ ! -f "$RUN/check.json" ] || cp "$RUN/check.json" "$RUN/check.$1.json"
    VERDICT=$ROUND_VERDICTS
    CHECK_RC=${ROUND_RC:-0}
}

# The same scenarios on Apache Kafka (the 'real' suite): tests/real/broker.sh
# replaces the development Kafka's functions above.
# shellcheck source=../../real/broker.sh
[ "${EOC_E2E_BROKER:-dev}" != real ] || . "$E2E_SRC/tests/real/broker.sh"
