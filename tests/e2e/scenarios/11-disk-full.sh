#!/bin/sh
# Scenario 11, disk full / I/O error on commit: the worker runs under a
# file-size limit (ulimit -f, with SIGXFSZ ignored), so when its LMDB data
# file must grow past the limit, the commit's write fails with EFBIG, as on
# a full disk. The worker must fail-stop by itself with a clear error (exit
# status 1), leave a store that opens, and after a restart without the limit
# catch up with nothing lost and nothing applied twice.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
e2e_begin "disk full (EFBIG) on commit: fail-stop, then restart without the limit"

kafka_start 1 "$IN:8" "$OUT:8" "$DLQ:1"
produce 10000
# ulimit -f counts 512-byte blocks in dash (and in POSIX sh); 512 KiB, where
# the input needs about 1.4 MiB (inbox rows stay; the relay drains the outbox).
fault_note "ulimit -f 1024 (512 KiB) for w1, SIGXFSZ ignored: LMDB's file cannot grow past it"
W_FSIZE=1024 worker_start w1 "$RUN/data" --batch 200
wait_exit w1 90
say "w1 exited with status $EXIT_RC; data.mdb is $(wc -c <"$RUN/data/data.mdb") bytes"
[ "$EXIT_RC" -eq 1 ] || die "w1 should fail-stop with status 1 when its commits fail, got $EXIT_RC"
log_has w1 'ERR stopping:' || die "w1 did not say why it stopped"
say "w1's error: $(grep 'ERR stopping:' "$RUN/w1.log" | tail -n 1 | sed 's/.*ERR //')"
say "first failure: $(grep -E 'WARNING store: |ERR store: ' "$RUN/w1.log" | head -n 1 | sed 's/.*worker //')"
c=$(store_consumed "$RUN/data")
say "the store opens and kept $c consumed records, outbox $(outbox_backlog "$RUN/data")"
[ "$c" -gt 0 ] && [ "$c" -lt 10000 ] || die "the file limit should stop w1 part-way, not at $c of 10000"
worker_start w1 "$RUN/data"
wait_progress 90
worker_stop_ok w1
check_final
e2e_end
