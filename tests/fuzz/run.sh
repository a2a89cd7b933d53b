#!/bin/sh
# Builds one libFuzzer target with clang and runs it for a bounded time over
# its checked-in corpus (tests/fuzz/corpus/NAME, read only: new inputs go to
# a scratch directory). Called by meson (suite fuzz):
#   run.sh SOURCE_ROOT BUILD_DIR NAME
# EOC_FUZZ_SECONDS (default 30) bounds the run. Exits 77 (meson: skipped)
# only when clang is absent; scripts/setup.sh installs it.
set -eu
src=$1 out=$2 name=$3
secs=${EOC_FUZZ_SECONDS:-30}
cc=""
for c in clang clang-14; do
    if command -v "$c" >/dev/null 2>&1; then cc=$c; break; fi
done
if [ -z "$cc" ]; then
    echo "fuzz-$name: SKIPPED: clang is not installed (scripts/setup.sh installs clang and libclang-rt-14-dev)" >&2
    exit 77
fi
mkdir -p "$out"
case $name in
msgid) extra="$src/lib/src/msgid.c" ;;
ledger) extra="-I$src/consumers/common" ;;
*) echo "fuzz: unknown target $name" >&2; exit 2 ;;
esac
# shellcheck disable=SC2086 # $extra is a list of words
"$cc" -g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
    -fno-sanitize-recover=undefined \
    -I"$src/lib/include" -I"$src/lib/src" -I"$src/lib/util" \
    "$src/tests/fuzz/fuzz_$name.c" "$src/lib/util/jsontext.c" $extra \
    -lcjson -lrdkafka -o "$out/fuzz_$name"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cd "$out" # crash-* files land here
"./fuzz_$name" -max_total_time="$secs" -timeout=10 -rss_limit_mb=1024 -print_final_stats=1 \
    "$scratch" "$src/tests/fuzz/corpus/$name"
