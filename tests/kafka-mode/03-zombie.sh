#!/bin/sh
# eos.mode=kafka, scenario 3, zombie: two hosts on separate stores under
# load; h1 is frozen with SIGSTOP past session.timeout.ms (6 s) and
# transaction.timeout.ms (10 s): the group gives its partitions to h2, which
# restores them from the changelog (waiting, below the LSO, for h1's open
# transaction to be aborted by the coordinator) and carries on; more input
# arrives; then h1 resumes with SIGCONT, perhaps in the middle of a
# transaction, with a batch of records it no longer owns. Its transaction
# is fenced (the coordinator bumped its epoch) or its offsets are refused
# (an old generation): nothing it does after losing the partitions may be
# visible to a read_committed reader. The verdict must be OK, with no
# transport duplicate, and h1 must log the loss.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
e2e_begin "eos.mode=kafka: zombie: SIGSTOP past the session and transaction timeouts, SIGCONT"

kafka_start 1 "$IN:8" "$OUT:8" "$DLQ:1"
produce 6000
host_start h1
host_start h2
wait_for 60 "both hosts to be assigned partitions" sh -c \
    "grep -q 'INFO assigned [1-9]' '$RUN/h1.log' && grep -q 'INFO assigned [1-9]' '$RUN/h2.log'"
producer_loop_start 300 300
sleep 5
pid1=$(worker_pid h1)
n2=$(log_count h2 'INFO assigned [1-9]')
fault_note "kill -STOP h1 (pid $pid1) for 20 s: past session.timeout.ms=6000 and transaction.timeout.ms=10000"
kill -STOP "$pid1"
wait_for 60 "h2 to be assigned h1's partitions" sh -c \
    "[ \$(grep -c 'INFO assigned [1-9]' '$RUN/h2.log') -gt $n2 ]"
say "h2 took h1's partitions"
sleep 14
fault_note "kill -CONT h1: the zombie resumes"
kill -CONT "$pid1"
wait_for 60 "h1 to notice the loss" sh -c \
    "grep -Eq 'INFO lost [1-9]|fenced|ILLEGAL_GENERATION|UNKNOWN_MEMBER|transaction .*: ' '$RUN/h1.log'"
grep -E 'lost [0-9]|fenced|transaction .*: ' "$RUN/h1.log" | head -n 8 | sed 's/^/  h1: /'
sleep 8
producer_loop_stop
wait_progress 180
stop_all_workers 60
check_final
[ "$(check_count transport_duplicates)" = 0 ] || CHECK_RC=1
e2e_end
