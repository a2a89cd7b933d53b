#!/bin/sh
# Validates the docker compose set-up without a Docker engine, and runs its
# eoc services as local processes:
#
#   scripts/check-compose.sh                  validate
#   scripts/check-compose.sh --emulate [dev|BOOTSTRAP]
#                                             run the eoc services of the
#                                             compose file as local processes
#                                             (default: $EOC_BOOTSTRAP, else
#                                             eoc-kafka-dev)
#   scripts/check-compose.sh --emulate-chaos [dev|BOOTSTRAP]
#                                             the same with the faults of
#                                             compose-chaos.sh
#
# The work is Python: scripts/compose/check_compose.py (what is checked, the
# emulation and the environment are described there), run with Debian's
# python3 and python3-yaml (scripts/setup.sh installs both).
# tests/compose/test_check_compose.py proves that the validator rejects
# deliberately broken copies of the files.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
PY=${EOC_PYTHON:-/usr/bin/python3}

say() {
    printf 'check-compose: %s\n' "$*"
}

[ -x "$PY" ] || {
    say "FAILED: $PY is missing (scripts/setup.sh installs python3)" >&2
    exit 1
}
"$PY" -c 'import yaml' 2>/dev/null || {
    say "FAILED: python3-yaml is missing (scripts/setup.sh installs it)" >&2
    exit 1
}
EOC_COMPOSE_PROG=$0 exec "$PY" "$HERE/compose/check_compose.py" "$@"
