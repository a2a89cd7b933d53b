#!/bin/sh
# eos.mode=kafka: a long restore stalls neither the host's other partitions
# nor the group. h1 applies the input of two partitions and goes for good;
# h2 starts on an empty store with restore steps of 1 changelog record
# (eos.restore.batch.records=1: an LMDB commit per record, a restore of
# seconds) and kafka.consumer.max.poll.interval.ms=6000, while new
# input keeps arriving in both partitions. h2 restores one partition at a
# time, the other paused. Sampled from its /metrics every 200 ms: records
# are applied while a restore still has changelog offsets left (the
# partition restored first is processed beside the second's restore), and
# h2 never loses or gives back its partitions (the consumer was polled
# throughout, whatever the restores took against max.poll.interval.ms).
# The verdict over the whole run is OK.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
e2e_begin "eos.mode=kafka: a long restore beside processing, the group never waits for it"

N=12000
rand 2000
MPORT=$((24000 + R))
kafka_start 1 "$IN:2" "$OUT:2" "$DLQ:1"
produce "$N"
host_start h1
wait_progress 120
worker_stop_ok h1 60

fault_note "h1 gone; h2 on an empty store restores both partitions in 1-record steps while input arrives"
host_start h2 --set eos.restore.batch.records=1 --set kafka.consumer.max.poll.interval.ms=6000 \
    --metrics "127.0.0.1:$MPORT"
producer_loop_start 100 200

# metric NAME: its value in the last sample, summed over its labels.
metric() {
    awk -v n="$1" '{ split($1, f, "{") } f[1] == n { s += $2; seen = 1 } END { if (seen) print s }' \
        "$RUN/sample.txt"
}
beside=0 samples=0 prev_applied='' eta_seen=0
t0=$(now_ms)
deadline=$(($(date +%s) + 180))
until host_restored h2; do
    workers_alive
    [ "$(date +%s)" -lt "$deadline" ] || die "h2 did not restore its partitions within 180 s"
    if curl -s "http://127.0.0.1:$MPORT/metrics" >"$RUN/sample.txt" 2>/dev/null; then
        remaining=$(metric eoc_restore_remaining)
        applied=$(metric eoc_records_applied_total)
        dups=$(metric eoc_records_duplicate_total)
        dead=$(metric eoc_records_dead_lettered_total)
        if [ -n "$remaining" ] && [ -n "$applied" ]; then
            applied=$((applied + ${dups:-0} + ${dead:-0})) # processed
            samples=$((samples + 1))
            eta=$(metric eoc_restore_seconds_left)
            [ "${eta:-0}" -eq 0 ] || eta_seen=$((eta_seen + 1))
            if [ "$remaining" -gt 0 ] && [ -n "$prev_applied" ] && [ "$applied" -gt "$prev_applied" ]; then
                beside=$((beside + 1))
            fi
            # only a sample taken during a restore counts as the base
            if [ "$remaining" -gt 0 ]; then prev_applied=$applied; else prev_applied=''; fi
        fi
    fi
    sleep 0.2
done
took=$(($(now_ms) - t0))
steps=$(worker_log_since_start h2 | grep -Eo 'restored [0-9]+ records \([0-9.]+ MiB\) in [0-9]+ ms' | sed 's/^/  /')
say "h2 restored its partitions in about $took ms (max.poll.interval.ms 6000):"
printf '%s\n' "$steps"
say "$beside of $samples samples: records processed while a restore had changelog offsets left"
[ "$beside" -gt 0 ] || die "no record was processed while a restore was in progress: the restore stalled processing"
curl -s "http://127.0.0.1:$MPORT/metrics" >"$RUN/sample.txt"
bytes=$(metric eoc_restored_bytes_total)
say "restore progress: eoc_restore_seconds_left above 0 in $eta_seen sample(s); eoc_restored_bytes_total ${bytes:-?}"
[ "$eta_seen" -gt 0 ] && [ "${bytes:-0}" -gt 0 ] || die "the restore's progress was not exported (seconds left, bytes)"
moved=$(since_start_count h2 'INFO (lost|revoked) [1-9]')
[ "$moved" -eq 0 ] || die "h2 lost or gave back partitions during its restores ($moved time(s)): the group waited on it"

producer_loop_stop
wait_progress 120
stop_all_workers 60
check_final
[ "$(check_count transport_duplicates)" = 0 ] || CHECK_RC=1
e2e_end
