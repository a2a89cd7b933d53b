# shellcheck shell=sh
# shellcheck disable=SC2034 # the results are globals the callers read
# common.sh - the shell helpers shared by the e2e scenarios
# (tests/e2e/scenarios/lib.sh) and the ledger job (scripts/lib/ledger-job.sh:
# scripts/demo.sh, scripts/e2e-against.sh, the docker compose services, where
# the image installs it as /usr/local/share/eoc/common.sh). POSIX sh,
# sourced; it only defines functions, which are safe under `set -e`.
#
# POSIX sh has no `local`: a variable a helper uses for itself is named
# _<prefix>_<name>, the prefix being the helper's own (_kw_ in kill_wait),
# so that no helper overwrites its caller's i, n, pid, name or st, nor
# another helper's. Results go to the globals each helper names.
#
# The eoc-check helpers run $CHECK (a path, or eoc-check on PATH) and keep
# their files in $RUN: progress.out and progress.json (check_progress),
# check.out and check.json (check_run). They read eoc-check's JSON with its
# own --field option, never its prose.

# now_ms: milliseconds since the epoch.
now_ms() {
    echo $(($(date +%s%N) / 1000000))
}

# proc_state PID: the process's state letter ("Z" for a zombie), "" when gone.
proc_state() {
    [ -r "/proc/$1/stat" ] || return 0
    sed 's/.*) \(.\).*/\1/' "/proc/$1/stat" 2>/dev/null
}

# alive PID: running (or stopped), not exited (a zombie is not alive).
alive() {
    case $(proc_state "$1") in
    '' | Z | X) return 1 ;;
    *) return 0 ;;
    esac
}

# kill_wait PID SECONDS: SIGTERM (and SIGCONT, for a stopped one), SIGKILL
# after SECONDS; reaps it when it is our child.
kill_wait() {
    kill -TERM "$1" 2>/dev/null || return 0
    kill -CONT "$1" 2>/dev/null || true
    _kw_i=0
    while alive "$1" && [ "$_kw_i" -lt $(($2 * 10)) ]; do
        sleep 0.1
        _kw_i=$((_kw_i + 1))
    done
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

# wait_child PID: waits for child PID and sets WAIT_RC to its exit status,
# even when trapped signals interrupt `wait` (which then returns 128+signal
# early).
wait_child() {
    while :; do
        WAIT_RC=0
        wait "$1" || WAIT_RC=$?
        [ "$WAIT_RC" -gt 128 ] || return 0
        kill -0 "$1" 2>/dev/null && continue # interrupted; still running
        # Either the child died of a signal (the status was collected: a
        # second wait says 127) or it exited just after the interruption.
        _wc_again=0
        wait "$1" 2>/dev/null || _wc_again=$?
        [ "$_wc_again" -eq 127 ] || WAIT_RC=$_wc_again
        return 0
    done
}

# kafka_dev_launch DIR CONTROL [eoc-kafka-dev flags...]: starts $KAFKA_DEV
# in the background (output in DIR/kafka.out, DIR/kafka.log; bootstrap
# address in DIR/bootstrap; control socket CONTROL) and waits up to 10 s for
# it; sets KAFKA_PID and BROKERS. Status 1 with KAFKA_DEV_ERR when it exited
# or did not start.
kafka_dev_launch() {
    _kd_dir=$1
    _kd_ctl=$2
    shift 2
    rm -f "$_kd_dir/bootstrap"
    "$KAFKA_DEV" "$@" --bootstrap-file "$_kd_dir/bootstrap" --control "$_kd_ctl" --quiet \
        </dev/null >"$_kd_dir/kafka.out" 2>"$_kd_dir/kafka.log" &
    KAFKA_PID=$!
    KAFKA_DEV_ERR=
    _kd_i=0
    while [ ! -s "$_kd_dir/bootstrap" ] || [ ! -S "$_kd_ctl" ]; do
        alive "$KAFKA_PID" || {
            KAFKA_DEV_ERR="eoc-kafka-dev exited; see $_kd_dir/kafka.log"
            return 1
        }
        [ "$_kd_i" -lt 100 ] || {
            KAFKA_DEV_ERR="eoc-kafka-dev did not start within 10 s"
            return 1
        }
        sleep 0.1
        _kd_i=$((_kd_i + 1))
    done
    BROKERS=$(cat "$_kd_dir/bootstrap")
}

# check_field FILE PATH...: the values at PATH (counts.applied, failed,
# offsets.*.next_offset, ...) of the JSON in FILE (- for stdin), one a line
# (eoc-check --field). Status 2 when one is missing or FILE is not JSON.
check_field() {
    _cf_file=$1
    shift
    for _cf_path in "$@"; do
        set -- "$@" --field "$_cf_path"
        shift
    done
    "$CHECK" "$@" "$_cf_file"
}

# check_progress [eoc-check flags: --brokers, --input, --data...]: one
# `eoc-check --progress` (at most 30 s); sets CONSUMED, TOTAL (input records
# consumed, in the topic) and OUTBOX (pending outbox rows), 0 when unknown.
# Status 0 when everything is consumed and the outbox drained.
check_progress() {
    rm -f "$RUN/progress.json"
    _cp_st=0
    timeout -k 5 30 "$CHECK" --progress --json-out "$RUN/progress.json" "$@" \
        >"$RUN/progress.out" 2>&1 || _cp_st=$?
    CONSUMED=0 TOTAL=0 OUTBOX=0
    if [ -s "$RUN/progress.json" ]; then
        # shellcheck disable=SC2046 # three numbers
        set -- $(check_field "$RUN/progress.json" consumed total outbox 2>/dev/null)
        [ "$#" -ne 3 ] || CONSUMED=$1 TOTAL=$2 OUTBOX=$3
    fi
    return "$_cp_st"
}

# check_run SECONDS [eoc-check flags...]: the verdict (at most SECONDS; 0:
# no limit). Sets CHECK_RC (its exit status) and CHECK_LINE (its verdict
# line, "verdict: OK (records N, ...)"; empty when it gave no verdict).
# Prose in $RUN/check.out, the JSON report in $RUN/check.json (check_count,
# check_failed).
check_run() {
    _cr_secs=$1
    shift
    rm -f "$RUN/check.json"
    CHECK_RC=0
    if [ "$_cr_secs" -gt 0 ]; then
        timeout -k 5 "$_cr_secs" "$CHECK" "$@" --json-out "$RUN/check.json" >"$RUN/check.out" 2>&1 ||
            CHECK_RC=$?
    else
        "$CHECK" "$@" --json-out "$RUN/check.json" >"$RUN/check.out" 2>&1 || CHECK_RC=$?
    fi
    CHECK_LINE=$(check_field "$RUN/check.json" line 2>/dev/null) || CHECK_LINE=
}

# check_count NAME [FILE]: a count of the last check_run (FILE: of another
# report): records, applied, duplicates, dead_letters ("dead letters" too),
# unprocessed, outputs, outputs_unique, transport_duplicates, dlq_records,
# pending, accounts. Empty when there is none.
check_count() {
    _cc_name=$(printf '%s' "$1" | tr ' ' _)
    check_field "${2:-$RUN/check.json}" "counts.$_cc_name" 2>/dev/null || true
}

# check_failed INVARIANT [FILE]: status 0 when the last check_run (or the
# report FILE) failed INVARIANT (I1 ... I8, EXPECT, RETENTION).
check_failed() {
    [ "$(check_field "${2:-$RUN/check.json}" "sections.$1.result" 2>/dev/null)" = FAIL ]
}
