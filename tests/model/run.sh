#!/bin/sh
# Checks the eos.mode=kafka protocol model (eoc_kafka.pml) with spin.
#
#   run.sh                 the CI bound: safety and liveness of the protocol,
#                          and a counterexample for each broken variant
#   run.sh --bound large   the larger bounds (a manual run; README.md has
#                          its state counts and times)
#   run.sh --only NAME     one check of the chosen bound (names: see --list)
#   run.sh --list          the checks of the chosen bound
#
# Work files (pan, pan.out, trails) go to ./model-<bound>/<check>/ under the
# current directory and stay there. Every trail is printed: first the
# model's own narrative (spin -t, the MODEL lines), then spin -t -p.
#
# Exit status: 0 every check as expected; 1 a check failed (the protocol
# broke a property, a broken variant found no counterexample, or a search
# was incomplete); 77 spin or a C compiler is missing.
set -u

here=$(cd "$(dirname "$0")" && pwd)
model=$here/eoc_kafka.pml
bound=ci
only=
list=0
while [ $# -gt 0 ]; do
    case $1 in
    --bound) bound=${2:-}; shift 2 ;;
    --bound=*) bound=${1#*=}; shift ;;
    --only) only=${2:-}; shift 2 ;;
    --list) list=1; shift ;;
    -h | --help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument: $1" >&2; exit 2 ;;
    esac
done

# Each check: name, expect (pass|fail), spin -D flags (comma-separated), pan
# compile flags, pan run flags (comma-separated). Safety runs check the
# assertions, and that a run that stops has processed every input (the
# watchdog). Liveness runs check the LTL claim "done" (<> [] every input
# processed): with -f under weak fairness, where the watchdog covers the runs
# that stop (pan's fairness search does not report a stuttering deadlock);
# the _unfair runs drop both fairness and the watchdog, so the claim alone
# must hold on every run, finite or not.
SAFE="-DSAFETY -DNOCLAIM -DCOLLAPSE -DMEMLIM=2048"
LIVE="-DCOLLAPSE -DMEMLIM=2048"
TRAIL="-DSAFETY -DNOCLAIM -DREACH -DMEMLIM=2048"
# The large safety bounds do not fit 2 GiB stored exactly: bitstate hashing
# (2^33 bits, 1 GiB, 3 hash functions). pan reports the hash factor
# (bits per state); above 100 or so the search misses hardly any state.
BITS="-DSAFETY -DNOCLAIM -DBITSTATE -DMEMLIM=2048"
checks() {
    case $bound in
    ci)
        echo "safety pass -DNW=2,-DNP=1,-DFAULTS=2 SAFE -m100000"
        echo "safety_workers3 pass -DNW=3,-DNP=1,-DFAULTS=1 SAFE -m100000"
        echo "liveness pass -DNW=2,-DNP=1,-DFAULTS=1 LIVE -a,-f,-m200000"
        echo "liveness_unfair pass -DNW=2,-DNP=1,-DFAULTS=1,-DNO_WATCHDOG LIVE -a,-m200000"
        for v in LMDB_FIRST NO_GROUP_METADATA LATE_METADATA UNSTABLE_FETCH RESTORE_TO_LSO \
            OFFSETS_FIRST IGNORE_LMDB_FAIL RESTORE_ONLY_NEW FENCED_NO_RESTORE; do
            echo "broken_$v fail -DNW=2,-DNP=1,-DFAULTS=2,-DBROKEN_$v TRAIL -i,-m100000"
        done
        echo "broken_NO_TXN_TIMEOUT fail -DNW=2,-DNP=1,-DFAULTS=1,-DBROKEN_NO_TXN_TIMEOUT,-DNO_WATCHDOG LIVE -a,-m200000"
        ;;
    large)
        echo "safety_faults3 pass -DNW=2,-DNP=1,-DFAULTS=3 BITS -w33,-m300000"
        echo "safety_partitions2_faults1 pass -DNW=2,-DNP=2,-DFAULTS=1 BITS -w33,-m300000"
        echo "liveness_faults2 pass -DNW=2,-DNP=1,-DFAULTS=2 LIVE -a,-f,-m200000"
        echo "liveness_unfair_faults2 pass -DNW=2,-DNP=1,-DFAULTS=2,-DNO_WATCHDOG LIVE -a,-m200000"
        ;;
    *)
        echo "run.sh: unknown bound: $bound (ci or large)" >&2
        exit 2
        ;;
    esac
}

if [ "$list" = 1 ]; then
    checks | cut -d' ' -f1
    exit 0
fi

if ! command -v spin >/dev/null 2>&1; then
    echo "model: SKIP: spin is not installed (scripts/setup.sh installs it: apt-get install spin)"
    exit 77
fi
CC=${CC:-cc}
if ! command -v "$CC" >/dev/null 2>&1; then
    echo "model: SKIP: no C compiler ($CC) to build spin's verifier"
    exit 77
fi

work=$PWD/model-$bound
mkdir -p "$work" || exit 1
echo "model: $(spin -V), bound $bound, work files in $work"

failed=0
ran=0
one() {
    name=$1 expect=$2
    ran=$((ran + 1))
    sdefs=$(echo "$3" | tr , ' ')
    eval "cdefs=\$$4"
    pargs=$(echo "$5" | tr , ' ')
    d=$work/$name
    rm -rf "$d" && mkdir -p "$d" && cp "$model" "$d/" || { failed=1; return; }
    echo
    echo "=== $name: spin $sdefs -a; $CC $cdefs; ./pan $pargs"
    if ! (cd "$d" && spin $sdefs -a eoc_kafka.pml >spin.log 2>&1 &&
        $CC -O2 -w $cdefs -o pan pan.c >cc.log 2>&1); then
        cat "$d/spin.log" "$d/cc.log" 2>/dev/null
        echo "model: $name: FAILED (spin -a or the compile)"
        failed=1
        return
    fi
    (cd "$d" && nice ./pan $pargs >pan.out 2>&1)
    # the summary of pan's report (not its list of unreached statements)
    grep -E 'Spin Version|search for:|never claim|assertion violations|acceptance|cycle checks|invalid end|State-vector|states, stored|states, matched|transitions \(|atomic steps|hash conflicts|hash factor|total actual memory|elapsed time|error:|out of memory|MEMLIM|^pan:[0-9]' \
        "$d/pan.out"
    errors=$(sed -n 's/.*errors: \([0-9][0-9]*\).*/\1/p' "$d/pan.out" | tail -n 1)
    states=$(sed -n 's/^ *\([0-9][0-9.e+]*\) states, stored.*/\1/p' "$d/pan.out" | tail -n 1)
    secs=$(sed -n 's/^pan: elapsed time \([0-9.e+]*\) seconds.*/\1/p' "$d/pan.out" | tail -n 1)
    incomplete=$(grep -E 'max search depth too small|out of memory|reached -DMEMLIM' "$d/pan.out" | head -n 1)
    verdict=ok
    case $expect in
    pass)
        if [ "${errors:-x}" != 0 ] || [ -n "$incomplete" ]; then
            verdict=FAILED
        fi
        ;;
    fail)
        if [ -z "$errors" ] || [ "$errors" -lt 1 ] || [ ! -f "$d/eoc_kafka.pml.trail" ]; then
            verdict="FAILED (no counterexample)"
        fi
        ;;
    esac
    if [ -f "$d/eoc_kafka.pml.trail" ]; then
        echo "--- $name: counterexample, the model's narrative (spin $sdefs -t)"
        (cd "$d" && spin $sdefs -t -B eoc_kafka.pml 2>&1 | grep -E 'MODEL|CYCLE|assert|Error|trail ends' |
            sed 's/^ *//') | tee "$d/narrative.txt"
        echo "--- $name: counterexample, every step (spin $sdefs -t -p)"
        (cd "$d" && spin $sdefs -t -p eoc_kafka.pml 2>&1) | tee "$d/trail.txt"
    fi
    steps=$(sed -n 's/.*trail ends after \([0-9][0-9]*\) steps.*/\1/p' "$d/narrative.txt" 2>/dev/null)
    factor=$(sed -n 's/^hash factor: \([0-9.e+]*\).*/\1/p' "$d/pan.out" | tail -n 1)
    if [ "$expect" = fail ]; then
        what="counterexample of ${steps:-?} steps"
    else
        what="errors ${errors:-?}${factor:+, bitstate hash factor $factor}"
    fi
    echo "model: $name ($expect expected): ${states:-?} states, ${secs:-?} s, $what: $verdict"
    [ "$verdict" = ok ] || failed=1
}

checks >"$work/checks" || exit 2
while read -r name expect sdefs cdefs pargs; do
    if [ -z "$only" ] || [ "$only" = "$name" ]; then
        one "$name" "$expect" "$sdefs" "$cdefs" "$pargs"
    fi
done <"$work/checks"

echo
if [ "$ran" = 0 ]; then
    echo "model: no check named ${only:-?} in bound $bound (run.sh --list)"
    exit 2
fi
if [ "$failed" != 0 ]; then
    echo "model: FAILED (see above)"
    exit 1
fi
echo "model: all $ran checks as expected"
exit 0
