#!/bin/sh
# Scenario 2, crash points: for each of worker.handled (after the handler,
# before the LMDB commit), store.commit (inside the write transaction),
# worker.committed (after the LMDB commit, before the Kafka offset commit)
# and relay.acked (after the broker's ack, before the outbox rows are
# removed), a worker SIGKILLs itself at the n-th pass (n random), is
# restarted without the crash point, catches up and stops; the checker
# proves the round (its own topics, group and store). relay.acked must only
# ever cause transport duplicates (same outbox ID re-published).
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
e2e_begin "crash points: worker.handled, store.commit, worker.committed, relay.acked"

kafka_start 1
for point in worker.handled store.commit worker.committed relay.acked; do
    tag=$(echo "$point" | tr . -)
    wn=$(echo "$point" | tr . _)
    IN=$tag.transfers OUT=$tag.balances DLQ=$tag.dlq GROUP=e2e-02-$tag
    for t in "$IN:8" "$OUT:8" "$DLQ:1"; do
        kafka_cmd create "$(echo "$t" | tr : ' ')" >/dev/null || die "create $t"
    done
    DATA_DIRS=$RUN/data-$tag
    produce 10000
    rand 12
    n=$((R + 3))
    # the relay removes acked rows every relay.commit.ms while it has acks;
    # a fast relay may remove everything at its first pass: crash there
    [ "$point" != relay.acked ] || n=1
    fault_note "EOC_CRASH_AT=$point:$n"
    W_ENV="EOC_CRASH_AT=$point:$n" worker_start "w_$wn" "$DATA_DIRS" --batch 200
    wait_exit "w_$wn" 60
    [ "$EXIT_RC" -eq 137 ] || die "w_$wn exited with $EXIT_RC, not by its crash point (SIGKILL)"
    progress || true
    say "w_$wn killed itself at $point:$n with $CONSUMED of $TOTAL consumed, outbox $OUTBOX"
    worker_start "w_$wn" "$DATA_DIRS" --batch 200
    wait_progress 90
    worker_stop_ok "w_$wn"
    check_final
    round_verdict "$point:$n"
    expect_reset "$tag"
done
e2e_end
