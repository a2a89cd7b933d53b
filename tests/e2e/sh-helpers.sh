#!/bin/sh
# The shell helpers of scripts/lib/common.sh and tests/e2e/scenarios/lib.sh
# without Kafka: they leave the caller's variables alone (POSIX sh has no
# `local`), and the eoc-check helpers read its JSON. A fake eoc-check
# writes a report; --field goes to the real one.
# Usage: sh-helpers.sh path/to/eoc-check
set -u
REAL_CHECK=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fails=0

bad() {
    echo "FAIL: $*"
    fails=$((fails + 1))
}

# --- common.sh -----------------------------------------------------------------
# shellcheck source=../../scripts/lib/common.sh
. "$HERE/../../scripts/lib/common.sh"

# A fake eoc-check: --progress and the check write the JSON given in
# FAKE_JSON to --json-out and exit FAKE_RC; --field is the real one's.
cat >"$TMP/fake-check" <<EOF
#!/bin/sh
case " \$* " in *" --field "*) exec "$REAL_CHECK" "\$@" ;; esac
out=
while [ "\$#" -gt 0 ]; do
    [ "\$1" != --json-out ] || out=\$2
    shift
done
[ -z "\$out" ] || printf '%s\n' "\$FAKE_JSON" >"\$out"
echo "prose"
exit "\$FAKE_RC"
EOF
chmod +x "$TMP/fake-check"
CHECK=$TMP/fake-check
RUN=$TMP/run
mkdir -p "$RUN"

# The caller's variables, which no helper may change.
i=i0 n=n0 pid=pid0 name=name0 st=st0 deadline=d0 f=f0 t=t0 count=c0 exe=e0 data=data0
mine() {
    [ "$i $n $pid $name $st $deadline $f $t $count $exe $data" = \
        "i0 n0 pid0 name0 st0 d0 f0 t0 c0 e0 data0" ] ||
        bad "$1 changed the caller's variables: $i $n $pid $name $st $deadline $f $t $count $exe $data"
}

sleep 30 &
child=$!
kill_wait "$child" 2
alive "$child" && bad "kill_wait: $child still alive"
mine kill_wait

(exit 3) &
wait_child $!
[ "$WAIT_RC" -eq 3 ] || bad "wait_child: WAIT_RC=$WAIT_RC, want 3"
mine wait_child

FAKE_RC=3 FAKE_JSON='{"readable":true,"caught_up":false,"consumed":40,"total":100,"behind":2,"outbox":7,"line":"progress: consumed 40 of 100 (2 partition(s) behind), outbox 7"}'
export FAKE_RC FAKE_JSON
if check_progress --brokers x --input y --data z; then bad "check_progress: status 0 when behind"; fi
[ "$CONSUMED $TOTAL $OUTBOX" = "40 100 7" ] || bad "check_progress: $CONSUMED $TOTAL $OUTBOX"
mine check_progress
FAKE_RC=2 FAKE_JSON=
rm -f "$RUN/progress.json"
check_progress --brokers x --input y --data z
[ "$CONSUMED $TOTAL $OUTBOX" = "0 0 0" ] || bad "check_progress without JSON: $CONSUMED $TOTAL $OUTBOX"

FAKE_RC=1 FAKE_JSON='{"verdict":"FAIL","failed":["I2"],"line":"verdict: FAIL I2 (records 10, applied 9)","counts":{"records":10,"applied":9,"dead_letters":1},"sections":{"I1":{"result":"OK"},"I2":{"result":"FAIL"}}}'
check_run 30 --brokers x
[ "$CHECK_RC" -eq 1 ] || bad "check_run: CHECK_RC=$CHECK_RC, want 1"
[ "$CHECK_LINE" = "verdict: FAIL I2 (records 10, applied 9)" ] || bad "check_run: CHECK_LINE=$CHECK_LINE"
[ "$(check_count applied)" = 9 ] || bad "check_count applied: $(check_count applied)"
[ "$(check_count 'dead letters')" = 1 ] || bad "check_count 'dead letters': $(check_count 'dead letters')"
[ -z "$(check_count nothing)" ] || bad "check_count nothing: not empty"
check_failed I2 || bad "check_failed I2: no"
check_failed I1 && bad "check_failed I1: yes"
mine check_run
FAKE_RC=2 FAKE_JSON=
check_run 0 --brokers x
[ "$CHECK_RC" -eq 2 ] && [ -z "$CHECK_LINE" ] || bad "check_run without a verdict: $CHECK_RC '$CHECK_LINE'"

# --- lib.sh: workers (a fake eoc-ledger that sleeps) -------------------------------
cat >"$TMP/fake-ledger" <<'EOF'
#!/bin/sh
trap 'exit 0' TERM
echo "INFO assigned 1 partition(s)"
while :; do sleep 0.1; done
EOF
chmod +x "$TMP/fake-ledger"
(
    E2E_NAME=sh-helpers EOC_E2E_DIR=$TMP/e2e EOC_LEDGER=$TMP/fake-ledger EOC_CHECK=$TMP/fake-check
    EOC_SOURCE_ROOT=$HERE/../..
    export E2E_NAME EOC_E2E_DIR EOC_LEDGER EOC_CHECK EOC_SOURCE_ROOT
    # shellcheck source=scenarios/lib.sh
    . "$HERE/scenarios/lib.sh"
    mkdir -p "$RUN"
    i=i0 n=n0 pid=pid0 name=name0 st=st0 deadline=d0 f=f0 t=t0 count=c0 exe=e0 data=data0
    worker_start w1 "$RUN/data1"
    worker_start w2 "$RUN/data2"
    mine worker_start
    wait_for 10 "w1 assigned" worker_assigned w1
    wait_for 10 "w2 assigned" worker_assigned w2
    mine wait_for
    workers_alive
    mine workers_alive
    [ "$(data_dirs)" = " $RUN/data1 $RUN/data2" ] || bad "data_dirs: '$(data_dirs)'"
    mine data_dirs
    worker_kill w1 KILL
    mine worker_kill
    worker_stop_ok w2 10
    mine worker_stop_ok
    worker_start w1 "$RUN/data1"
    # (the fake exits 0 on SIGTERM once it has said "assigned")
    wait_for 10 "w1 assigned again" worker_assigned w1
    worker_owns w1 1 || bad "worker_owns: w1 does not own the 1 partition it logged"
    echo "t eoc[1] worker INFO assigned 3 partition(s): in[1,2,3]" >>"$RUN/w1.log"
    echo "t eoc[1] worker INFO lost 2 partition(s): in[1,2]" >>"$RUN/w1.log"
    worker_owns w1 2 || bad "worker_owns: w1 should own 1 + 3 - 2 partitions"
    worker_owns w1 4 && bad "worker_owns: a loss is not counted"
    mine worker_owns
    stop_all_workers 10
    mine stop_all_workers
    FAKE_RC=0 FAKE_JSON='{"readable":true,"caught_up":true,"consumed":5,"total":5,"behind":0,"outbox":0,"line":"progress: consumed 5 of 5"}'
    export FAKE_RC FAKE_JSON
    BROKERS=x
    wait_progress 10 --no-alive >/dev/null
    [ "$CONSUMED" = 5 ] || bad "wait_progress: CONSUMED=$CONSUMED"
    mine wait_progress
    trap - EXIT
    exit "$fails"
) || fails=$((fails + $?))

if [ "$fails" -ne 0 ]; then
    echo "sh-helpers: $fails FAILED"
    exit 1
fi
echo "sh-helpers: OK"
