#!/bin/sh
# eos.mode=kafka, partition leaders killed while transactions commit: three
# nodes (every topic with three replicas, min.insync.replicas 2, the
# transaction log likewise); two hosts commit a transaction per batch while
# input keeps arriving. The node leading the changelog's partition 0 (the
# transactions write it with every batch of input partition 0, and it
# leads a share of the output's partitions too) gets kill -9, and is
# started again once the hosts commit again. A transaction caught by the kill is retried, aborted and
# retried, or its producer re-created; whatever happens, the verdict
# (every input ID applied once, zero transport duplicates read
# read_committed, balances) must be OK.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
e2e_begin "eos.mode=kafka: a changelog partition's leader killed during transaction commits (3 nodes)"

kafka_start 3 "$IN:6" "$OUT:6" "$DLQ:1"
km_broker_faults
CHANGELOG=$GROUP.$IN.changelog
produce 6000
host_start h1
host_start h2
wait_consumed 2000 90
producer_loop_start 300 500

# kill_leader TOPIC: kill -9 of the node leading TOPIC[0] while the hosts
# commit; waits until the group's committed offsets move again (at most
# 60 s), then starts the node again.
kill_leader() {
    sleep 2
    victim=$(real_leader "$1" 0)
    [ -n "$victim" ] && [ "$victim" -gt 0 ] || die "no leader for $1[0]"
    out_led=$(timeout -k 5 60 "$REAL_KAFKA" leaders --dir "$REAL_DIR" "$OUT" 2>>"$RUN/kafka.log" |
        awk -v v="$victim" '$2 == v { n++ } END { print n + 0 }')
    say "node $victim leads $1[0] and $out_led of the output's 6 partitions"
    node_kill "$victim"
    t0=$(now_ms)
    sleep 1 # a transaction that committed before the kill is not a resumption
    progress || true
    c0=$CONSUMED
    resumed=
    while [ $(($(now_ms) - t0)) -lt 60000 ]; do
        workers_alive
        progress || true
        [ "$CONSUMED" -le "$c0" ] || { resumed=$(($(now_ms) - t0)); break; }
        sleep 0.5
    done
    [ -n "$resumed" ] || die "no transaction committed within 60 s of killing node $victim (leader of $1[0])"
    say "node $victim (leader of $1[0]) killed: transactions commit again after $resumed ms"
    node_start "$victim"
}

kill_leader "$CHANGELOG"
sleep 3
producer_loop_stop
wait_progress 180
stop_all_workers 60
say "transactions: h1 $(log_count h1 'transaction .*\(aborting\)') aborted, $(log_count h1 'fenced or failed') producer(s) re-created; h2 $(log_count h2 'transaction .*\(aborting\)') aborted, $(log_count h2 'fenced or failed') re-created"
check_final
e2e_end
