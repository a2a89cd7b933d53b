#!/bin/sh
# The performance run (README, "Performance"): builds eoc-bench and the
# development Kafka in ./build, then runs every mode (A, B1000, B100, C1M,
# C10M, D) 3 times on 1,000,000 records and prints medians, ratios and a
# final `summary:` line. About 4 minutes on 2 cores; needs ~4 GiB of
# free disk under /tmp for the pre-filled stores.
#
#   bench/run.sh                    the full run
#   bench/run.sh --quick            200,000 records, 1 repetition
#   bench/run.sh --modes A,C1M      a subset (see build/bench/eoc-bench --help)
#   bench/run.sh --set batch.max.records=5000   other eoc settings for C and D
#   bench/run.sh --broker real [--quick ...]     the same on Apache Kafka: one
#                                   node started by scripts/real-kafka.sh in
#                                   a temporary directory, taken down after;
#                                   then mode KS, the Kafka Streams peer
#                                   (bench/peers/kstreams), on the same input
#                                   (3 repetitions, 1 with --quick), and a
#                                   last line
#       summary-real: C/KS=<C1M rec/s over KS's> K/KS=<K's over KS's> rss KS=<MiB> C1M=<MiB> K=<MiB>
set -eu
cd "$(dirname "$0")/.."
broker=dev
if [ "${1:-}" = --broker ]; then
    broker=${2:?--broker dev|real}
    shift 2
fi
scripts/setup.sh
if [ ! -f build/build.ninja ]; then
    meson setup build -Dcrash_points=true >/dev/null # as scripts/build.sh
fi
ninja -C build bench/eoc-bench tools/kafka-dev/eoc-kafka-dev >/dev/null
case $broker in
dev) exec build/bench/eoc-bench --kafka-dev build/tools/kafka-dev/eoc-kafka-dev "$@" ;;
real) ;;
*) echo "bench/run.sh: --broker dev or real, not $broker" >&2; exit 2 ;;
esac
dir=$(mktemp -d "${TMPDIR:-/tmp}/eoc-bench-kafka-XXXXXX")
trap 'scripts/real-kafka.sh down --dir "$dir" >/dev/null 2>&1; rm -rf "$dir"' EXIT
trap 'exit 130' INT TERM HUP
bootstrap=$(scripts/real-kafka.sh up --brokers 1 --dir "$dir" --owner $$ | tail -n 1)
[ -n "$bootstrap" ] || exit 1
build/bench/eoc-bench --bootstrap "$bootstrap" "$@" | tee "$dir/eoc-bench.out"

# KS: Kafka Streams on eoc-bench's input topic (it keeps it), one fresh
# application and output topic per repetition; medians like eoc-bench's.
reps=3
case " $* " in *" --quick "*) reps=1 ;; esac
# Only beside a mode that fills bench-in (all of them but R).
modes=all
prev=
for a in "$@"; do
    [ "$prev" != --modes ] || modes=$a
    prev=$a
done
case $modes in
all | *A* | *B* | *C* | *D* | *K*) ;;
*)
    echo "bench/run.sh: KS skipped (modes $modes do not fill bench-in)"
    exit 0
    ;;
esac
for rep in $(seq 1 "$reps"); do
    bench/peers/kstreams/run.sh "$bootstrap" bench-in "ks-out-$rep" >"$dir/ks-$rep.out" || {
        echo "bench/run.sh: KS (Kafka Streams) repetition $rep failed; see above" >&2
        exit 1
    }
    sed 's/^/KS rep '"$rep"': /' "$dir/ks-$rep.out"
done
# The median rows of C1M and K in eoc-bench's table (rec/s, peak RSS MiB).
row() {
    awk -v m="$1" -v what="$2" '$1 == m && index($0, what) { print $2, $6; exit }' "$dir/eoc-bench.out"
}
cat "$dir"/ks-*.out | awk -v c1m="$(row C1M 'eoc worker')" -v k="$(row K 'eos.mode=kafka')" '
    function median(a, n,   i, j, t) {
        for (i = 2; i <= n; i++)
            for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
        return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    /^KS records=/ {
        for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
        n++; rate[n] = f["records"] / f["wall_s"]; us[n] = 1e6 * f["wall_s"] / f["records"]
        cpu[n] = f["cpu_s"]; cpuus[n] = 1e6 * f["cpu_s"] / f["records"]; rss[n] = f["rss_mib"]
    }
    END {
        if (!n) exit 1
        r = median(rate, n); m = median(rss, n)
        printf "\nKafka Streams, median of %d repetition(s):\n", n
        printf "%-6s %10.0f %9.2f %8.2f %11.2f %13.0f %7s %9s  %s\n", "KS", r, median(us, n),
            median(cpu, n), median(cpuus, n), m, "-", "-",
            "Kafka Streams 4.4.0, exactly_once_v2, IDs in a RocksDB store, 1 output/new record"
        split(c1m, c, " "); split(k, q, " ")
        line = "summary-real:"
        if (c[1] > 0) line = line sprintf(" C/KS=%.2f", c[1] / r)
        if (q[1] > 0) line = line sprintf(" K/KS=%.2f", q[1] / r)
        line = line sprintf(" rss KS=%.0f", m)
        if (c[1] > 0) line = line sprintf(" C1M=%.0f", c[2])
        if (q[1] > 0) line = line sprintf(" K=%.0f", q[1] > 0 ? q[2] : 0)
        print line
    }'

