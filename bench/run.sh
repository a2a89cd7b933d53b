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
#                                   a temporary directory, taken down after
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
build/bench/eoc-bench --bootstrap "$bootstrap" "$@"
