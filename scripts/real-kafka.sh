#!/bin/bash
# real-kafka.sh - a real Apache Kafka cluster (KRaft, combined
# broker+controller nodes) on loopback, for the 'real' test suite, the
# benchmark (bench/run.sh --broker real) and the demo (EOC_KAFKA=real).
#
#   real-kafka.sh up --brokers N --dir DIR [--owner PID] [--host ADDR]
#       formats DIR (once) and starts N nodes on ports it picks itself, waits
#       until every node is registered and the group and transaction
#       coordinators answer, and prints the bootstrap servers as the last
#       line of stdout. On a DIR that is already formatted it starts the
#       stopped nodes again, on their old ports. With --owner, the cluster
#       goes down by itself once process PID has exited. With --host, the
#       clients' listener binds and advertises ADDR (a local address other
#       than 127.0.0.1, e.g. one a network namespace reaches over a veth)
#       instead of 127.0.0.1; the controllers stay on 127.0.0.1.
#   real-kafka.sh down --dir DIR        stops every node (SIGTERM, then SIGKILL)
#   real-kafka.sh kill ID --dir DIR     kill -9 of node ID
#   real-kafka.sh start ID --dir DIR    starts node ID again, waits until it
#                                       is back in the cluster
#   real-kafka.sh pause ID --dir DIR    SIGSTOP of node ID
#   real-kafka.sh resume ID --dir DIR   SIGCONT of node ID
#   real-kafka.sh bootstrap --dir DIR   prints the bootstrap servers
#   real-kafka.sh topic --dir DIR NAME:PARTITIONS... [key=value...]
#       creates topics (replication factor min(N, 3), the topic configs
#       given); waits until every partition has a leader
#   real-kafka.sh leaders --dir DIR TOPIC      "partition leader" lines
#   real-kafka.sh offsets --dir DIR TOPIC      "partition earliest latest" lines
#   real-kafka.sh coordinator --dir DIR GROUP  the node coordinating GROUP
#   real-kafka.sh fetch                 fills the jar cache only (setup, CI)
#
# The broker is Kafka's own (org.apache.kafka:kafka_2.13, the version in
# tests/kafka/pom.xml), run as the tarball's kafka-server-start.sh does:
# java -cp 'libs/*' kafka.Kafka server.properties. Maven copies the jars
# once into EOC_KAFKA_CACHE (default <source>/.cache/kafka); later runs work
# offline. Node I logs to DIR/nodeI/server.log.
#
# Environment: EOC_KAFKA_CACHE (the jar cache), EOC_KAFKA_HEAP (default
# 512m per node), EOC_KAFKA_READY_S (how long up/start wait, default 90).
set -u

SRC=$(cd "$(dirname "$0")/.." && pwd)
POM=$SRC/tests/kafka/pom.xml
PROBE_SRC=$SRC/tests/kafka/KafkaProbe.java
CACHE=${EOC_KAFKA_CACHE:-$SRC/.cache/kafka}
HEAP=${EOC_KAFKA_HEAP:-512m}
READY_S=${EOC_KAFKA_READY_S:-90}

die() {
    echo "real-kafka: $*" >&2
    exit 1
}

# need_tools [mvn]: java and javac, and mvn when the cache is to be filled.
need_tools() {
    local missing=
    command -v java >/dev/null 2>&1 || missing="$missing java (Debian: default-jdk-headless)"
    command -v javac >/dev/null 2>&1 || missing="$missing javac (Debian: default-jdk-headless)"
    [ -z "${1:-}" ] || command -v mvn >/dev/null 2>&1 || missing="$missing mvn (Debian: maven)"
    [ -z "$missing" ] ||
        die "missing:$missing; scripts/setup.sh installs them (apt-get install default-jdk-headless maven)"
}

kafka_version() {
    sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM"
}

# Fills the cache (jars and the compiled probe) unless it is complete;
# sets LIBS and PROBE_CP.
fetch() {
    local v libs stamp log tmp
    need_tools
    v=$(kafka_version)
    [ -n "$v" ] || die "no kafka.version in $POM"
    libs=$CACHE/$v/libs
    stamp=$CACHE/$v/pom.sha
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$(sha1sum <"$POM")" ]; then
        need_tools mvn
        rm -rf "$libs"
        mkdir -p "$CACHE/$v" || die "cannot create $CACHE/$v"
        log=$CACHE/$v/mvn.log
        echo "real-kafka: fetching Apache Kafka $v with Maven into $libs" >&2
        # Offline first: a filled ~/.m2 needs no network.
        mvn -q -B -o -f "$POM" dependency:copy-dependencies -DoutputDirectory="$libs" >"$log" 2>&1 ||
            mvn -q -B -f "$POM" dependency:copy-dependencies -DoutputDirectory="$libs" >"$log" 2>&1 ||
            die "mvn could not fetch Kafka $v (see $log)"
        sha1sum <"$POM" >"$stamp"
    fi
    LIBS=$libs
    if [ ! -f "$CACHE/$v/probe/KafkaProbe.class" ] || [ "$PROBE_SRC" -nt "$CACHE/$v/probe/KafkaProbe.class" ]; then
        # Compiled aside and moved in: another launcher may be reading it.
        tmp=$(mktemp -d "$CACHE/$v/probe.XXXXXX") || die "cannot write to $CACHE/$v"
        javac -nowarn -cp "$libs/*" -d "$tmp" "$PROBE_SRC" >&2 || { rm -rf "$tmp"; die "cannot compile $PROBE_SRC"; }
        mkdir -p "$CACHE/$v/probe"
        mv -f "$tmp"/*.class "$CACHE/$v/probe/" && rmdir "$tmp"
    fi
    PROBE_CP="$CACHE/$v/probe:$libs/*"
}

probe() {
    java -Xmx128m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto \
        -Dlog4j2.configurationFile="$SRC/tests/kafka/log4j2-probe.properties" \
        -cp "$PROBE_CP" KafkaProbe "$@"
}

# Free loopback ports, one per line.
free_ports() {
    python3 -c '
import socket, sys
ss = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); ss.append(s)
for s in ss: print(s.getsockname()[1])
' "$1" || die "cannot pick free ports (python3)"
}

node_pid() {
    local f=$DIR/node$1/pid pid
    [ -f "$f" ] || return 1
    pid=$(cat "$f")
    [ -n "$pid" ] && [ -d "/proc/$pid" ] && [ "$(sed 's/.*) \(.\).*/\1/' "/proc/$pid/stat" 2>/dev/null)" != Z ] &&
        grep -q kafka.Kafka "/proc/$pid/cmdline" 2>/dev/null && echo "$pid"
}

nodes() {
    cat "$DIR/nodes" 2>/dev/null || die "$DIR holds no cluster (run up first)"
}

bootstrap() {
    cat "$DIR/bootstrap" 2>/dev/null || die "$DIR holds no cluster (run up first)"
}

write_config() {
    local n=$1 i=$2 bport=$3 cport=$4 voters=$5 host=$6 rf
    rf=$((n < 3 ? n : 3))
    mkdir -p "$DIR/node$i/data"
    cat >"$DIR/node$i/server.properties" <<EOF
# Node $i of a $n-node test cluster written by scripts/real-kafka.sh.
process.roles=broker,controller
node.id=$i
controller.quorum.voters=$voters
listeners=PLAINTEXT://$host:$bport,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://$host:$bport
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$DIR/node$i/data

# A new group starts its first rebalance at once: the default waits 3 s for
# more members, which every test start would pay.
group.initial.rebalance.delay.ms=0
# Tests run workers with session timeouts of a few seconds, under the
# default minimum (6 s) that the broker would refuse.
group.min.session.timeout.ms=1000
# The internal topics are replicated as a production cluster would have
# them, as far as N nodes allow: min(N, 3) copies, and with 3 nodes a
# write needs 2 of them in sync, so one node may die without losing a
# commit or a transaction (the leader-kill scenario relies on it).
offsets.topic.replication.factor=$rf
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$((rf > 1 ? 2 : 1))
default.replication.factor=$rf
min.insync.replicas=$((rf > 1 ? 2 : 1))
# Fewer partitions of the internal topics than the default 50: creating
# them is most of a cold start, and tests use a handful of groups.
offsets.topic.num.partitions=8
transaction.state.log.num.partitions=8
# Topics the tests name are created with their partition counts; a topic
# created by first use (a tool's metadata request) gets this many.
auto.create.topics.enable=true
num.partitions=4
# Small segments and a 1 s retention check, so that a topic's
# retention.bytes / retention.ms really delete records within a test
# (the active segment is never deleted).
log.segment.bytes=1048576
log.retention.check.interval.ms=1000
log.segment.delete.delay.ms=1000
# A killed node recovers its logs at restart; quick shutdowns and short
# replica lag bounds make leader changes happen within seconds.
controlled.shutdown.enable=true
replica.lag.time.max.ms=10000
# A node that stops heartbeating (kill -9, SIGSTOP) is fenced and its
# partitions move after 4 s instead of 9 s.
broker.session.timeout.ms=4000
broker.heartbeat.interval.ms=1000
# One loopback cluster on a small shared machine: few threads.
num.network.threads=2
num.io.threads=4
num.replica.fetchers=1
background.threads=4
num.recovery.threads.per.data.dir=1
log.flush.interval.messages=9223372036854775807
EOF
}

start_node() {
    local i=$1 pid
    pid=$(node_pid "$i") && return 0
    # The tarball's kafka-server-start.sh runs kafka.Kafka the same way
    # (its KAFKA_HEAP_OPTS and KAFKA_JVM_PERFORMANCE_OPTS, scaled down for
    # a 2-core machine).
    java -Xms64m -Xmx"$HEAP" -XX:+UseSerialGC -Xss512k -Djava.awt.headless=true \
        -Dlog4j2.configurationFile="$SRC/tests/kafka/log4j2.properties" \
        -Dkafka.logs.dir="$DIR/node$i" \
        -cp "$LIBS/*" kafka.Kafka "$DIR/node$i/server.properties" \
        </dev/null >>"$DIR/node$i/server.log" 2>&1 &
    echo $! >"$DIR/node$i/pid"
    disown $! # killing it later is no news to report
}

wait_ready() {
    local n=$1 i
    probe ready "$(bootstrap)" "$n" "$READY_S" || {
        for i in $(seq 1 "$(nodes)"); do
            node_pid "$i" >/dev/null || echo "real-kafka: node $i is not running; last lines of its log:" >&2
            node_pid "$i" >/dev/null || tail -n 20 "$DIR/node$i/server.log" >&2
        done
        die "the cluster in $DIR is not ready"
    }
}

watch_owner() {
    local owner=$1
    (
        trap '' HUP INT
        exec </dev/null >/dev/null 2>&1
        while kill -0 "$owner" 2>/dev/null && [ -f "$DIR/nodes" ]; do
            sleep 1
        done
        [ -f "$DIR/nodes" ] && "$0" down --dir "$DIR"
    ) &
}

cmd_up() {
    local n=$1 i ports voters cid fmt_out
    fetch
    mkdir -p "$DIR" || die "cannot create $DIR"
    DIR=$(cd "$DIR" && pwd)
    if [ ! -f "$DIR/nodes" ]; then
        [ "$n" -ge 1 ] 2>/dev/null || die "--brokers N (1 or more) is required"
        ports=$(free_ports $((2 * n)))
        # shellcheck disable=SC2086 # one port a word
        set -- $ports
        voters=
        for i in $(seq 1 "$n"); do
            eval "cport=\${$((n + i))}"
            voters="$voters${voters:+,}$i@127.0.0.1:$cport"
        done
        : >"$DIR/bootstrap.tmp"
        cid=$(java -cp "$LIBS/*" -Dlog4j2.configurationFile="$SRC/tests/kafka/log4j2.properties" \
            kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)
        [ -n "$cid" ] || die "kafka.tools.StorageTool random-uuid failed"
        for i in $(seq 1 "$n"); do
            eval "bport=\${$i} cport=\${$((n + i))}"
            write_config "$n" "$i" "$bport" "$cport" "$voters" "$HOST"
            printf '%s%s:%s' "$([ "$i" -eq 1 ] || echo ,)" "$HOST" "$bport" >>"$DIR/bootstrap.tmp"
            # kafka-storage.sh format (kafka.tools.StorageTool in 4.x)
            fmt_out=$(java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -cp "$LIBS/*" \
                -Dlog4j2.configurationFile="$SRC/tests/kafka/log4j2.properties" \
                kafka.tools.StorageTool format -t "$cid" -c "$DIR/node$i/server.properties" 2>&1) ||
                die "formatting node $i failed: $fmt_out"
        done
        echo >>"$DIR/bootstrap.tmp"
        mv "$DIR/bootstrap.tmp" "$DIR/bootstrap"
        echo "$n" >"$DIR/nodes"
    fi
    n=$(nodes)
    for i in $(seq 1 "$n"); do
        start_node "$i"
    done
    [ -z "$OWNER" ] || watch_owner "$OWNER"
    wait_ready "$n"
    echo "real-kafka: Apache Kafka $(kafka_version), $n node(s), logs in $DIR/node*/server.log" >&2
    bootstrap
}

stop_pids() {
    local secs=$1 pids=$2 pid t=0
    [ -n "$pids" ] || return 0
    kill -TERM $pids 2>/dev/null
    while :; do
        local left=
        for pid in $pids; do
            [ -d "/proc/$pid" ] && [ "$(sed 's/.*) \(.\).*/\1/' "/proc/$pid/stat" 2>/dev/null)" != Z ] &&
                left="$left $pid"
        done
        [ -n "$left" ] || return 0
        [ "$t" -lt $((secs * 10)) ] || { kill -KILL $left 2>/dev/null; return 0; }
        sleep 0.1
        t=$((t + 1))
    done
}

cmd_down() {
    local i pids="" pid
    [ -f "$DIR/nodes" ] || return 0
    for i in $(seq 1 "$(nodes)"); do
        pid=$(node_pid "$i") || continue
        kill -CONT "$pid" 2>/dev/null
        pids="$pids $pid"
    done
    # All nodes at once: a controlled shutdown needs a controller quorum
    # that is itself shutting down, so do not wait for long.
    stop_pids 10 "$pids"
    rm -f "$DIR"/node*/pid
}

cmd_kill() {
    local pid
    pid=$(node_pid "$1") || die "node $1 is not running"
    kill -KILL "$pid"
    while [ -d "/proc/$pid" ] && [ "$(sed 's/.*) \(.\).*/\1/' "/proc/$pid/stat" 2>/dev/null)" != Z ]; do
        sleep 0.05
    done
    rm -f "$DIR/node$1/pid"
}

cmd_start() {
    fetch
    [ -f "$DIR/node$1/server.properties" ] || die "no node $1 in $DIR"
    start_node "$1"
    wait_ready "$(nodes)"
}

cmd_signal() {
    local pid
    pid=$(node_pid "$2") || die "node $2 is not running"
    kill -"$1" "$pid"
}

# ------------------------------------------------------------------ #

[ $# -ge 1 ] || die "usage: real-kafka.sh up|down|kill|start|pause|resume|bootstrap|topic|leaders|offsets|fetch ... (see the script's header)"
CMD=$1
shift
DIR='' N='' OWNER='' HOST=127.0.0.1
ARGS=()
while [ $# -gt 0 ]; do
    case $1 in
    --dir) DIR=${2:?--dir DIR}; shift 2 ;;
    --host) HOST=${2:?--host ADDR}; shift 2 ;;
    --brokers) N=${2:?--brokers N}; shift 2 ;;
    --owner) OWNER=${2:?--owner PID}; shift 2 ;;
    *) ARGS+=("$1"); shift ;;
    esac
done
case $CMD in
fetch) fetch; echo "$LIBS"; exit 0 ;;
esac
[ -n "$DIR" ] || die "$CMD: --dir DIR is required"
case $CMD in
up | topic | leaders | offsets | coordinator | start) ;;
*) [ -d "$DIR" ] || die "no directory $DIR" ;;
esac
[ "$CMD" = up ] || DIR=$(cd "$DIR" 2>/dev/null && pwd) || die "no directory $DIR"
case $CMD in
up) cmd_up "${N:-0}" ;;
down) cmd_down ;;
kill) cmd_kill "${ARGS[0]:?kill ID}" ;;
start) cmd_start "${ARGS[0]:?start ID}" ;;
pause) cmd_signal STOP "${ARGS[0]:?pause ID}" ;;
resume) cmd_signal CONT "${ARGS[0]:?resume ID}" ;;
bootstrap) bootstrap ;;
topic)
    [ ${#ARGS[@]} -ge 1 ] || die "topic --dir DIR NAME:PARTITIONS... [key=value...]"
    fetch
    n=$(nodes)
    probe create "$(bootstrap)" $((n < 3 ? n : 3)) "${ARGS[@]}"
    ;;
leaders | offsets | coordinator)
    fetch
    probe "$CMD" "$(bootstrap)" "${ARGS[0]:?$CMD NAME}"
    ;;
*) die "unknown command $CMD" ;;
esac
