#!/bin/sh
# Scenario 2, crash points: for each of worker.handled (after the handler,
# before the LMDB commit), store.commit (inside the write transaction),
# worker.committed (after the LMDB commit, before the Kafka offset commit)
# and relay.acked (after the broker's ack, before the outbox rows are
# removed), a worker SIGKILLs itself at the n-th pass (n random), is
# restarted without the crash point, catches up and stops; the checker
# proves each round on its own topics, group and store. The four rounds run
# side by side (a restarted member waits for its killed predecessor's
# session timeout: in parallel that wait is paid once). relay.acked may
# only ever cause transport duplicates (same outbox ID re-published).
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
e2e_begin "crash points: worker.handled, store.commit, worker.committed, relay.acked"

POINTS="worker.handled store.commit worker.committed relay.acked"

# use POINT: the topics, group and store of that round.
use() {
    tag=$(echo "$1" | tr . -)
    wn=w_$(echo "$1" | tr . _)
    IN=$tag.transfers OUT=$tag.balances DLQ=$tag.dlq GROUP=e2e-02-$tag DATA_DIRS=$RUN/data-$tag
}

kafka_start 1
for point in $POINTS; do
    use "$point"
    for t in "$IN:8" "$OUT:8" "$DLQ:1"; do
        kafka_cmd create "$(echo "$t" | tr : ' ')" >/dev/null || die "create $t"
    done
    produce 10000
    expect_reset "$tag"
    rand 12
    n=$((R + 3))
    # the relay removes acked rows every relay.commit.ms while it has acks;
    # a fast relay may remove everything at its first pass: crash there
    [ "$point" != relay.acked ] || n=1
    eval "N_$wn=$n"
    fault_note "EOC_CRASH_AT=$point:$n"
    W_ENV="EOC_CRASH_AT=$point:$n" worker_start "$wn" "$DATA_DIRS" --batch 200
done
for point in $POINTS; do
    use "$point"
    wait_exit "$wn" 60
    [ "$EXIT_RC" -eq 137 ] || die "$wn exited with $EXIT_RC, not by its crash point (SIGKILL)"
    progress || true
    say "$wn killed itself at $point with $CONSUMED of $TOTAL consumed, outbox $OUTBOX"
    worker_start "$wn" "$DATA_DIRS" --batch 200
done
for point in $POINTS; do
    use "$point"
    wait_progress 90
    worker_stop_ok "$wn"
done
for point in $POINTS; do
    use "$point"
    rm -rf "$RUN/expect"
    mv "$RUN/expect.$tag" "$RUN/expect"
    check_final
    eval "n=\$N_$wn"
    round_verdict "$point:$n"
    expect_reset "$tag"
done
e2e_end
