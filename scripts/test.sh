#!/bin/sh
# The whole test suite: set-up (which also fetches Apache Kafka, once), build,
# then every meson suite (unit, integration, e2e on the development Kafka;
# real on Apache Kafka, scripts/real-kafka.sh). Exits non-zero when any test
# fails. Arguments go to meson test (e.g. --suite real, --no-suite real).
set -eu
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
exec meson test -C build --print-errorlogs --num-processes 2 "$@"
