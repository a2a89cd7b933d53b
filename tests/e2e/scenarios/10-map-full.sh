#!/bin/sh
# Scenario 10, LMDB map full: a worker started with a tiny store.map.size
# fills its map part-way through the input. It must stop by itself with a
# clear error (exit status 1, a log line naming store.map.size), keep what
# it committed, and after a restart with the default (large) map size catch
# up with nothing lost and nothing applied twice.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
e2e_begin "LMDB map full: fail-stop with a clear error, then restart with a big map"

kafka_start 1 "$IN:8" "$OUT:8" "$DLQ:1"
produce 10000
fault_note "store.map.size=512KiB for w1 (about a tenth of what the input needs)"
worker_start w1 "$RUN/data" --set store.map.size=512KiB --batch 200
wait_exit w1 90
say "w1 exited with status $EXIT_RC"
[ "$EXIT_RC" -eq 1 ] || die "w1 should fail-stop with status 1 on a full map, got $EXIT_RC"
log_has w1 'store\.map\.size' || die "no log line of w1 names store.map.size"
say "w1's error: $(grep 'ERR stopping:' "$RUN/w1.log" | tail -n 1 | sed 's/.*ERR //')"
c=$(store_consumed "$RUN/data")
say "the store kept $c consumed records, outbox $(outbox_backlog "$RUN/data")"
[ "$c" -gt 0 ] && [ "$c" -lt 10000 ] || die "the map should fill part-way, not at $c of 10000"
worker_start w1 "$RUN/data"
wait_progress 90
worker_stop_ok w1
check_final
e2e_end
