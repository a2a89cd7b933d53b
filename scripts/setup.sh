#!/bin/sh
# Installs the Debian 12 packages eoc needs to build, test and run its demo,
# and fetches Apache Kafka for the 'real' test suite and bench/run.sh
# --broker real (scripts/real-kafka.sh fetch: Maven Central into
# .cache/kafka, once). Idempotent: does nothing (quietly) when everything is
# already there. A JDK (Debian: default-jdk-headless, with javac) and Maven
# (Debian: maven) run the real broker; iproute2 gives the cross-host
# scenarios their network namespaces.
set -eu
cd "$(dirname "$0")/.."

PACKAGES="build-essential meson ninja-build pkg-config \
librdkafka-dev liblmdb-dev libcjson-dev libxxhash-dev libcmocka-dev libmicrohttpd-dev \
lmdb-utils curl python3 python3-yaml default-jdk-headless maven \
clang libclang-rt-14-dev spin iproute2"

fetch_kafka() {
    scripts/real-kafka.sh fetch >/dev/null
}

missing=""
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
if [ -z "$missing" ]; then
    fetch_kafka
    exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "setup: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fetch_kafka
