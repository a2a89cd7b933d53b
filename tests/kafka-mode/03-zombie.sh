#!/bin/sh
# eos.mode=kafka, scenario 3, zombie: two hosts on separate stores under
# load. h1 freezes itself in the middle of a transaction (crash point
# txn.produced with EOC_CRASH_SIGNAL=STOP: its batch's outputs and
# changelog records are produced, the offsets not yet sent) and stays
# frozen past session.timeout.ms (6 s) and transaction.timeout.ms (10 s):
# the group gives its partitions to h2, whose restore waits below the LSO
# until the coordinator aborts h1's open transaction (and bumps its
# epoch), then carries on; more input arrives. Then h1 resumes with
# SIGCONT and goes on with its batch of records it no longer owns: its
# send_offsets/commit is fenced, its producer is re-created. Nothing it did
# after losing the partitions may be visible to a read_committed reader:
# the verdict must be OK, with no transport duplicate, and h1 must log the
# fencing (or the refused offsets) and the loss.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
e2e_begin "eos.mode=kafka: zombie frozen in mid-transaction past the session and transaction timeouts"

kafka_start 1 "$IN:8" "$OUT:8" "$DLQ:1"
produce 6000
W_ENV="EOC_CRASH_AT=txn.produced:${KM_FREEZE_AT:-40} EOC_CRASH_SIGNAL=STOP" host_start h1
wait_for 60 "h1 to be assigned partitions" worker_assigned h1
host_start h2
producer_loop_start 300 300
pid1=$(worker_pid h1)
wait_for 120 "h1 to freeze at txn.produced" sh -c "[ \"\$(sed 's/.*) \\(.\\).*/\\1/' /proc/$pid1/stat)\" = T ]"
fault_note "h1 (pid $pid1) froze itself in mid-transaction (txn.produced); kept stopped 20 s"
wait_for 60 "h2 to own partitions" worker_assigned h2
sleep 20
grep -E 'restore .*(reading|restored)' "$RUN/h2.log" | tail -n 4 | sed 's/^/  h2: /'
fault_note "kill -CONT h1: the zombie resumes its transaction"
kill -CONT "$pid1"
wait_for 60 "h1 to be fenced or refused" sh -c \
    "grep -Eq 'fenced|ILLEGAL_GENERATION|UNKNOWN_MEMBER|transaction (send_offsets|commit)' '$RUN/h1.log'"
sleep 8
grep -E 'lost [0-9]|fenced|transaction .*: |transactional producer' "$RUN/h1.log" | tail -n 8 |
    sed 's/^/  h1: /'
producer_loop_stop
wait_progress 180
stop_all_workers 60
check_final
[ "$(check_count transport_duplicates)" = 0 ] || CHECK_RC=1
e2e_end
