#!/bin/sh
# The Kafka Streams peer (KsDedupe.java): fetches its libraries once
# (Maven Central, pom.xml, into .cache/kstreams/<version>/libs), compiles
# it once, and runs it on a running cluster:
#
#   bench/peers/kstreams/run.sh BOOTSTRAP INPUT OUTPUT
#
# OUTPUT is created by the first write (the cluster's auto-creation) unless
# it exists. Prints KsDedupe's line: "KS records=N wall_s=S cpu_s=S
# rss_mib=M". Needs java, javac and mvn (Debian: default-jdk-headless,
# maven; scripts/setup.sh installs them). EOC_KSTREAMS_HEAP sets the JVM's
# heap (default 1g).
set -eu
cd "$(dirname "$0")/../../.."
[ $# -eq 3 ] || { echo "usage: bench/peers/kstreams/run.sh BOOTSTRAP INPUT OUTPUT" >&2; exit 2; }
for tool in java javac mvn; do
    command -v "$tool" >/dev/null ||
        { echo "kstreams: $tool not found (Debian: apt-get install default-jdk-headless maven)" >&2; exit 1; }
done
PEER=bench/peers/kstreams
VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$PEER/pom.xml")
CACHE=.cache/kstreams/$VERSION
if [ ! -f "$CACHE/libs/kafka-streams-$VERSION.jar" ]; then
    echo "kstreams: fetching Kafka Streams $VERSION with Maven into $CACHE/libs" >&2
    mvn -q -f "$PEER/pom.xml" dependency:copy-dependencies -DoutputDirectory="$PWD/$CACHE/libs" >&2
fi
if [ ! -f "$CACHE/classes/KsDedupe.class" ] || [ "$PEER/KsDedupe.java" -nt "$CACHE/classes/KsDedupe.class" ]; then
    mkdir -p "$CACHE/classes"
    javac -nowarn -d "$CACHE/classes" -cp "$CACHE/libs/*" "$PEER/KsDedupe.java"
fi
state=$(mktemp -d "${TMPDIR:-/tmp}/eoc-kstreams-XXXXXX")
trap 'rm -rf "$state"' EXIT
java -Xmx"${EOC_KSTREAMS_HEAP:-1g}" -cp "$CACHE/libs/*:$CACHE/classes" KsDedupe "$1" "$2" "$3" "$state"
