#!/bin/sh
# Installs the Debian 12 packages eoc needs to build, test and run its demo.
# Idempotent: does nothing (quietly) when everything is already installed.
set -eu

PACKAGES="build-essential meson ninja-build pkg-config \
librdkafka-dev liblmdb-dev libcjson-dev libxxhash-dev libcmocka-dev libmicrohttpd-dev \
lmdb-utils curl python3 python3-yaml spin"

missing=""
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
[ -z "$missing" ] && exit 0

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "setup: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
