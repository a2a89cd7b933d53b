# broker.sh - Apache Kafka instead of the development Kafka under the e2e
# scenarios' lib.sh (tests/e2e/scenarios/lib.sh sources this file last when
# EOC_E2E_BROKER=real). It replaces the functions that talk to the
# development Kafka: kafka_start starts a real cluster with
# scripts/real-kafka.sh in the scenario's working directory ($RUN/kafka) and
# creates the topics, kafka_alive watches its nodes, check_final's
# "retention" question is answered from the input's log start offsets, and
# the development Kafka's fault commands fail (the mock's faults have no
# real counterpart here). Broker faults are node_kill / node_start /
# node_pause / node_resume / cluster_kill_all / cluster_start_all, listed
# in the summary like every fault.
#
# The cluster goes down when the scenario exits, whatever happens (and the
# launcher's --owner watch takes it down should the shell be SIGKILLed).
# Environment: EOC_REAL_KAFKA (the launcher, default
# <source>/scripts/real-kafka.sh).

REAL_KAFKA=${EOC_REAL_KAFKA:-$E2E_SRC/scripts/real-kafka.sh}
REAL_DIR=
REAL_NODES=0
REAL_STOPPED=    # nodes killed or paused on purpose, space separated

# The cluster goes down first (workers still running merely see errors),
# then the e2e lib's cleanup runs with the scenario's exit status.
real_cleanup() {
    rc_=$?
    trap - EXIT
    [ -z "$REAL_DIR" ] || "$REAL_KAFKA" down --dir "$REAL_DIR" >/dev/null 2>&1
    if [ -n "$REAL_DIR" ]; then
        if [ "$rc_" -ne 0 ]; then
            for f_ in "$REAL_DIR"/node*/server.log; do
                echo "---- last lines of $f_"
                tail -n 15 "$f_"
            done
        elif [ "${EOC_E2E_KEEP:-0}" != 1 ]; then
            rm -rf "$REAL_DIR"/node*/data
        fi
    fi
    (exit "$rc_")
    e2e_cleanup
}

# kafka_start NODES TOPIC:PARTITIONS...: overrides the e2e lib's (the
# development Kafka): a real cluster, the topics created with min(N, 3)
# replicas.
kafka_start() {
    REAL_NODES=$1
    shift
    REAL_DIR=$RUN/kafka
    trap real_cleanup EXIT # after e2e_begin's
    timeout -k 5 240 "$REAL_KAFKA" up --brokers "$REAL_NODES" --dir "$REAL_DIR" --owner $$ \
        >"$RUN/kafka.out" 2>"$RUN/kafka.log" || {
        cat "$RUN/kafka.log"
        die "real-kafka.sh up failed"
    }
    BROKERS=$(tail -n 1 "$RUN/kafka.out")
    [ $# -eq 0 ] || real_topics "$@"
    say "Apache Kafka $(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$E2E_SRC/tests/kafka/pom.xml") ($REAL_NODES node(s)) at $BROKERS"
}

# real_topics TOPIC:PARTITIONS... [key=value...]: creates topics.
real_topics() {
    timeout -k 5 120 "$REAL_KAFKA" topic --dir "$REAL_DIR" "$@" >>"$RUN/kafka.log" 2>&1 ||
        die "cannot create topics $*: $(tail -n 3 "$RUN/kafka.log")"
}

# real_offsets TOPIC: "partition earliest latest" lines.
real_offsets() {
    timeout -k 5 60 "$REAL_KAFKA" offsets --dir "$REAL_DIR" "$1" 2>>"$RUN/kafka.log"
}

# real_leader TOPIC PARTITION: the node leading it (-1 for none).
real_leader() {
    timeout -k 5 60 "$REAL_KAFKA" leaders --dir "$REAL_DIR" "$1" 2>>"$RUN/kafka.log" |
        awk -v p="$2" '$1 == p { print $2 }'
}

# real_coordinator GROUP: the node coordinating the group.
real_coordinator() {
    timeout -k 5 60 "$REAL_KAFKA" coordinator --dir "$REAL_DIR" "$1" 2>>"$RUN/kafka.log"
}

real_node_pid() {
    cat "$REAL_DIR/node$1/pid" 2>/dev/null
}

# kafka_alive: overrides the e2e lib's: every node not stopped on purpose
# must be running.
kafka_alive() {
    i_=1
    while [ "$i_" -le "$REAL_NODES" ]; do
        case " $REAL_STOPPED " in
        *" $i_ "*) ;;
        *)
            p_=$(real_node_pid "$i_")
            [ -n "$p_" ] && alive "$p_" || die "Kafka node $i_ exited unexpectedly (see $REAL_DIR/node$i_/server.log)"
            ;;
        esac
        i_=$((i_ + 1))
    done
}

# kafka_cmd: the development Kafka's control commands do not exist here.
# check_final asks "retention" (did the broker drop records?): the answer
# is whether any input partition's log starts after offset 0.
kafka_cmd() {
    case $1 in
    retention)
        real_offsets "$IN" | awk '$2 > 0 { d = d " " $1 "@" $2 } END {
            if (d == "") print "ok"; else print "input deleted below (partition@log start):" d }'
        ;;
    *)
        echo "no development Kafka command '$*' on a real cluster"
        return 1
        ;;
    esac
}

fault() {
    die "fault '$*': the development Kafka's faults do not exist on a real cluster"
}

# node_kill ID / node_start ID / node_pause ID / node_resume ID
node_kill() {
    fault_note "kafka: kill -9 node $1"
    "$REAL_KAFKA" kill "$1" --dir "$REAL_DIR" >>"$RUN/kafka.log" 2>&1 || die "cannot kill node $1"
    REAL_STOPPED="$REAL_STOPPED $1"
}

node_start() {
    fault_note "kafka: start node $1"
    timeout -k 5 180 "$REAL_KAFKA" start "$1" --dir "$REAL_DIR" >>"$RUN/kafka.log" 2>&1 ||
        die "node $1 did not come back: $(tail -n 3 "$RUN/kafka.log")"
    REAL_STOPPED=$(echo " $REAL_STOPPED " | sed "s/ $1 / /g")
}

node_pause() {
    fault_note "kafka: SIGSTOP node $1"
    "$REAL_KAFKA" pause "$1" --dir "$REAL_DIR" >>"$RUN/kafka.log" 2>&1 || die "cannot pause node $1"
    REAL_STOPPED="$REAL_STOPPED $1"
}

node_resume() {
    fault_note "kafka: SIGCONT node $1"
    "$REAL_KAFKA" resume "$1" --dir "$REAL_DIR" >>"$RUN/kafka.log" 2>&1 || die "cannot resume node $1"
    REAL_STOPPED=$(echo " $REAL_STOPPED " | sed "s/ $1 / /g")
}

# cluster_restart: every node kill -9, then all started again on their
# ports (the launcher's up on a formatted directory).
cluster_kill_all() {
    i_=1
    while [ "$i_" -le "$REAL_NODES" ]; do
        node_kill "$i_"
        i_=$((i_ + 1))
    done
}

cluster_start_all() {
    fault_note "kafka: start all $REAL_NODES node(s)"
    timeout -k 5 240 "$REAL_KAFKA" up --dir "$REAL_DIR" >>"$RUN/kafka.log" 2>&1 ||
        die "the cluster did not come back: $(tail -n 3 "$RUN/kafka.log")"
    REAL_STOPPED=
}
