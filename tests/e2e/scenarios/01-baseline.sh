#!/bin/sh
# Scenario 1, baseline: no faults. Two eoc-ledger workers over one shared
# data directory consume 20 000 transfers (10% re-sent, a few malformed)
# from 8 partitions, stop with SIGTERM, and the checker proves I1-I8 and the
# generator's ground truth. Every other scenario is this plus faults.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
e2e_begin "baseline: 2 workers, one shared store, no faults"

kafka_start 1 "$IN:8" "$OUT:8" "$DLQ:1"
produce 20000
worker_start w1 "$RUN/data"
worker_start w2 "$RUN/data"
wait_progress 90
stop_all_workers 30
check_final
e2e_end
