#!/bin/sh
# Real Kafka, the compose set-up emulated: the eoc services of
# docker-compose.yml (gen, two worker replicas, the checker) run from their
# compose commands as local processes (scripts/check-compose.sh --emulate)
# against a one-node Apache Kafka with the topics of the compose file's
# topics service, as the apache/kafka container would serve them. Passes on
# the compose checker's own verdict (eoc-check, plus its balance listing
# against the generator's sums).
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
e2e_begin "the compose file's eoc services, emulated, on Apache Kafka"

kafka_start 1 ledger.transfers:16 ledger.balances:16 ledger.dlq:1
CHECK_RC=0
timeout -k 5 300 sh "$E2E_SRC/scripts/check-compose.sh" --emulate "$BROKERS" >"$RUN/compose.out" 2>&1 ||
    CHECK_RC=$?
grep -E '^(records|unique|duplicates|dead|balances|check-compose)' "$RUN/compose.out" | sed 's/^/  /'
VERDICT=$(grep '^verdict:' "$RUN/compose.out" | tail -n 1)
case $VERDICT in "verdict: OK"*) ;; *) [ "$CHECK_RC" -ne 0 ] || CHECK_RC=1 ;; esac
[ "$CHECK_RC" -eq 0 ] || tail -n 30 "$RUN/compose.out"
e2e_end
