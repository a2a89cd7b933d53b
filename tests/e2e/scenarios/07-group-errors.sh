#!/bin/sh
# Scenario 7, OffsetCommit and group protocol errors: two workers share one
# store while the development Kafka fails, one after the other,
#   OffsetCommit with NOT_COORDINATOR, REQUEST_TIMED_OUT, ILLEGAL_GENERATION
#     and UNKNOWN_MEMBER_ID (Kafka's offsets are advisory: LMDB keeps the
#     positions, and I7 checks Kafka's never get ahead of LMDB's);
#   Heartbeat with REBALANCE_IN_PROGRESS, ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID
#     and NOT_COORDINATOR, which make the members rejoin, while JoinGroup
#     (NOT_COORDINATOR, REBALANCE_IN_PROGRESS) and SyncGroup
#     (REBALANCE_IN_PROGRESS, NOT_COORDINATOR, ILLEGAL_GENERATION) fail too.
# Input keeps arriving; the workers must not exit and must catch up.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
e2e_begin "OffsetCommit errors; JoinGroup, SyncGroup, Heartbeat errors"

rebalances() {
    cat "$RUN/w1.log" "$RUN/w2.log" | grep -Ec 'INFO (assigned|revoked|lost) '
}

kafka_start 1 "$IN:8" "$OUT:8" "$DLQ:1"
produce 10000
worker_start w1 "$RUN/data"
worker_start w2 "$RUN/data"
wait_consumed 3000 40
r0=$(rebalances)
fault errors OffsetCommit NOT_COORDINATOR 4
fault errors OffsetCommit REQUEST_TIMED_OUT 4
fault errors OffsetCommit ILLEGAL_GENERATION 2
fault errors OffsetCommit UNKNOWN_MEMBER_ID 2
produce 5000
wait_progress 60
say "after the OffsetCommit errors: $(($(rebalances) - r0)) assignment changes"
r0=$(rebalances)
fault errors JoinGroup NOT_COORDINATOR 2
fault errors JoinGroup REBALANCE_IN_PROGRESS 2
fault errors SyncGroup REBALANCE_IN_PROGRESS 2
fault errors SyncGroup NOT_COORDINATOR 1
fault errors SyncGroup ILLEGAL_GENERATION 1
fault errors Heartbeat REBALANCE_IN_PROGRESS 3
fault errors Heartbeat ILLEGAL_GENERATION 2
fault errors Heartbeat UNKNOWN_MEMBER_ID 2
fault errors Heartbeat NOT_COORDINATOR 2
producer_loop_start 500 500
sleep 15
producer_loop_stop
wait_progress 90
say "after the group protocol errors: $(($(rebalances) - r0)) assignment changes"
stop_all_workers 30
check_final
e2e_end
