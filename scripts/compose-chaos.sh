#!/bin/sh
# The docker compose run with faults, for machines with a Docker engine
# (see docs/compose.md):
#
#   scripts/compose-chaos.sh
#
# Starts docker-compose.yml with the docker-compose.chaos.yml override,
# detached, and once the workload is produced, while the two workers process
# it: SIGKILLs one worker container and starts it again, SIGKILLs the broker
# and starts it again, SIGKILLs both workers at once and starts them again
# (docker kill / docker compose kill, then start). Then it lets the checker
# judge (creates /shared/chaos.done through `docker compose exec`), waits for
# the checker's exit status, prints its report and removes the project,
# volumes included, unless EOC_CHAOS_KEEP is set. Exit status: the checker's.
#
# A fault that comes after the workers have caught up proves little; the
# script says so for each fault (raise EOC_COUNT then).
#
# Environment:
#   EOC_COUNT        records to produce (default 2000000 here)
#   EOC_SEED         generator seed
#   EOC_CHAOS_PAUSE  seconds a killed container stays down (default 5)
#   EOC_CHAOS_KEEP   set: leave the containers and volumes for inspection
# shellcheck disable=SC2317 # functions called indirectly (fault, trap)
set -eu
cd "$(dirname "$0")/.."

EOC_COUNT=${EOC_COUNT:-2000000}
export EOC_COUNT
PAUSE=${EOC_CHAOS_PAUSE:-5}

say() {
    printf 'chaos: %s\n' "$*"
}

die() {
    printf 'chaos: FAILED: %s\n' "$*" >&2
    exit 1
}

dc() {
    docker compose -f docker-compose.yml -f docker-compose.chaos.yml "$@"
}

# Compose v2.21 or later (attach: false; Debian 12's docker-compose package
# is Compose v1 and cannot read the files: install docker-compose-plugin).
cv=$(docker compose version 2>/dev/null |
    sed -n '1s/^[^0-9]*\([0-9][0-9]*\)\.\([0-9][0-9]*\).*/\1 \2/p')
[ -n "$cv" ] || die "needs Docker's compose plugin (docker compose)"
# shellcheck disable=SC2086 # two numbers
set -- $cv
[ "$1" -gt 2 ] || { [ "$1" -eq 2 ] && [ "$2" -ge 21 ]; } ||
    die "needs Compose v2.21 or later; 'docker compose' is $1.$2 (install docker-compose-plugin from Docker's apt repository)"
docker info >/dev/null 2>&1 || die "no Docker engine answers (docker info)"

# One progress line from the store (through the pidns service, which mounts
# the volumes and is never killed), printed unless $1 is "quiet". Sets LINE,
# DONE and TOTAL (records committed, records in the input) and CAUGHT_UP=1
# when everything is consumed and the outbox is empty.
progress() {
    st=0
    LINE=$(dc exec -T pidns sh -c '. /usr/local/share/eoc/ledger-job.sh && compose_progress' 2>&1) ||
        st=$?
    LINE=$(printf '%s\n' "$LINE" | tail -n 1)
    CAUGHT_UP=
    [ "$st" -ne 0 ] || CAUGHT_UP=1
    DONE=$(printf '%s\n' "$LINE" | sed -n 's/.*consumed \([0-9]*\) of [0-9]*.*/\1/p')
    TOTAL=$(printf '%s\n' "$LINE" | sed -n 's/.*consumed [0-9]* of \([0-9]*\).*/\1/p')
    [ "${1:-}" = quiet ] || say "  $LINE"
}

# Waits (at most 300 s) until a tenth of the input is committed, so that the
# first fault hits workers in the middle of their work.
wait_started() {
    i=0
    while :; do
        progress quiet
        [ -z "$DONE" ] || [ -z "$TOTAL" ] || [ "$DONE" -lt $((TOTAL / 10)) ] || break
        [ "$i" -lt 300 ] || die "the workers committed less than a tenth of the input in 300 s: $LINE"
        sleep 1
        i=$((i + 1))
    done
}

# fault WHAT DO UNDO: runs the function DO, waits $PAUSE seconds, runs UNDO;
# says first whether the fault hits a run in progress.
fault() {
    progress
    [ -z "$CAUGHT_UP" ] || say "  (the workers had already caught up: this fault proves little)"
    say "fault: $1"
    "$2" >/dev/null
    sleep "$PAUSE"
    "$3" >/dev/null
    say "restarted"
}

kill_first() { docker kill "$first"; }
start_first() { docker start "$first"; }
kill_kafka() { dc kill kafka; }
start_kafka() { dc start kafka; }
kill_workers() { dc kill worker; }
start_workers() { dc start worker; }

wait_kafka_healthy() {
    i=0
    while [ "$(docker inspect -f '{{.State.Health.Status}}' "$(dc ps -q kafka)" 2>/dev/null)" != healthy ]; do
        [ "$i" -lt 180 ] || die "kafka not healthy again within 180 s"
        sleep 1
        i=$((i + 1))
    done
}

cleanup() {
    [ -n "${EOC_CHAOS_KEEP:-}" ] || dc down -v --remove-orphans >/dev/null 2>&1 || true
}

dc down -v --remove-orphans >/dev/null 2>&1 || true # volumes of an earlier run
trap cleanup EXIT
trap 'exit 130' INT TERM

say "building and starting (EOC_COUNT=$EOC_COUNT); returns once the workload is produced"
if ! dc up --build -d; then
    dc logs --no-color | tail -n 40
    die "docker compose up failed"
fi
workers=$(dc ps -q worker)
first=$(printf '%s\n' "$workers" | head -n 1)
[ -n "$first" ] || die "no worker container runs"
wait_started

fault "SIGKILL of one worker container ($first)" kill_first start_first
fault "SIGKILL of the broker" kill_kafka start_kafka
wait_kafka_healthy
say "kafka healthy again"
fault "SIGKILL of both worker containers" kill_workers start_workers
progress

dc exec -T pidns touch /shared/chaos.done
say "faults over; the checker judges now"
checker=$(dc ps -a -q checker)
rc=$(docker wait "$checker")
dc logs --no-color --no-log-prefix checker
say "checker exited with status $rc"
exit "$rc"
