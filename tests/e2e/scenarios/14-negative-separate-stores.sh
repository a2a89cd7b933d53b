#!/bin/sh
# Scenario 14, NEGATIVE (documents the precondition): two workers of ONE
# group on SEPARATE data directories. w1 runs alone for a while, then w2
# joins and takes half of the partitions, starting from Kafka's committed
# offsets with an empty inbox; the input keeps arriving with re-sent
# transfers (same ID, same bytes) whose originals w1 applied. w2 applies
# them again: the checker MUST fail with processing duplicates (I2). This
# scenario passes only when it does: a checker that cannot fail proves
# nothing, and README's "one environment per group" is not decoration.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
e2e_begin "NEGATIVE: one group, separate stores, a rebalance: the checker must report I2"

kafka_start 1 "$IN:8" "$OUT:8" "$DLQ:1"
produce 5000
worker_start w1 "$RUN/data1"
wait_consumed 4000 40
producer_loop_start 500 500
sleep 2
fault_note "w2 joins the group on a separate store ($RUN/data2)"
worker_start w2 "$RUN/data2"
wait_for 40 "w2 to be assigned partitions" worker_assigned w2
sleep 6
producer_loop_stop
wait_progress 90
stop_all_workers 30
check_final
grep -A6 '^I2 ' "$RUN/check.out" | sed 's/^/  /'
if [ "$CHECK_RC" = 1 ] && check_failed I2; then
    say "as required, the checker found processing duplicates (I2) across separate stores"
    VERDICT="$VERDICT
(expected: FAIL I2, the precondition of one shared store per group is violated on purpose)"
    CHECK_RC=0
else
    say "the checker did NOT report I2 although two stores served one group"
    CHECK_RC=1
fi
e2e_end
