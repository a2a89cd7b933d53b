#!/bin/sh
# Configures (once) and builds eoc into ./build. The test build has the
# test-only crash points compiled in; they are inert unless EOC_CRASH_AT
# is set in a process's environment.
set -eu
cd "$(dirname "$0")/.."
if [ ! -f build/build.ninja ]; then
    meson setup build -Dcrash_points=true >/dev/null
fi
ninja -C build >/dev/null
