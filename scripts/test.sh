#!/bin/sh
# The whole test suite: set-up, build, then every meson suite (unit,
# integration, e2e). Exits non-zero when any test fails.
set -eu
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
exec meson test -C build --print-errorlogs --num-processes 2 "$@"
