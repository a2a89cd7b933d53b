#!/bin/sh
# scripts/check-compose.sh runs `docker compose config -q` only with a
# Compose v2.21 or later, and says once why it skipped anything older (issue
# #19: Debian 12's docker-compose is Compose v1 1.29.2, which rejects the
# file). Fake `docker` and `docker-compose` commands first on PATH play each
# case; the v2 fakes record their calls, the v1 fake fails its `config` as
# v1 does. Usage: compose-version.sh [path/to/check-compose.sh]
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
CHECK=${1:-$HERE/../../scripts/check-compose.sh}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fails=0
cases=0

# fake DIR NAME VERSION [config-status]: DIR/NAME answers `version` as
# Compose VERSION does (v1's first line for 1.x) and logs `config` calls to
# DIR/calls; `config` exits with config-status (default 0). NAME docker
# fakes the plugin (`docker compose ...`); VERSION "none" fakes a docker
# client without the plugin.
fake() {
    mkdir -p "$1"
    if [ "$2" = docker ]; then
        sub='[ "${1:-}" = compose ] || { echo "docker: unknown command: docker $1" >&2; exit 1; }; shift'
    else
        sub=:
    fi
    case $3 in
    none) line='echo "docker: unknown command: docker compose" >&2; exit 1' ;;
    1.*) line="echo 'docker-compose version $3, build unknown'; echo 'docker-py version: 5.0.3'" ;;
    *) line="echo 'Docker Compose version v$3'" ;;
    esac
    case $3 in
    1.*) cfg="echo \"ERROR: The Compose file './docker-compose.yml' is invalid because:\" >&2
        echo \"Unsupported config option for services.gen: 'attach'\" >&2; exit 1" ;;
    *) cfg="exit ${4:-0}" ;;
    esac
    cat >"$1/$2" <<EOF
#!/bin/sh
all="\$*"
if [ "\${1:-}" = compose ] && [ "$3" = none ]; then $line; fi
$sub
case " \$* " in
*" version "*) $line ;;
*" config "*) echo "$2 \$all" >>"$1/calls"; $cfg ;;
*) echo "$2: unexpected: \$*" >&2; exit 1 ;;
esac
EOF
    chmod +x "$1/$2"
}

# run NAME WANT-STATUS: check-compose.sh with the fakes of
# $TMP/NAME first on PATH; WANT-STATUS 0 or 1.
run() {
    cases=$((cases + 1))
    st=0
    PATH="$TMP/$1:$PATH" EOC_BUILD_ROOT='' sh "$CHECK" >"$TMP/$1.out" 2>&1 || st=$?
    if [ "$st" -ne "$2" ]; then
        echo "FAIL $1: exit $st, want $2:"
        sed 's/^/    /' "$TMP/$1.out"
        fails=$((fails + 1))
        return 1
    fi
    return 0
}

# expect NAME TEXT: the output of case NAME has TEXT (a fixed string), once.
expect() {
    n=$(grep -cF -- "$2" "$TMP/$1.out")
    [ "$n" -eq 1 ] || {
        echo "FAIL $1: \"$2\" appears $n times, want once:"
        sed 's/^/    /' "$TMP/$1.out"
        fails=$((fails + 1))
    }
}

# calls NAME WANT: the config calls the fakes of case NAME logged.
calls() {
    got=$(sed 's/ -f [^ ]*/ -f F/g' "$TMP/$1/calls" 2>/dev/null | tr '\n' ';')
    [ "$got" = "$2" ] || {
        echo "FAIL $1: config calls \"$got\", want \"$2\""
        fails=$((fails + 1))
    }
}

# Debian 12: docker-compose 1.29.2, a docker client without the plugin.
fake "$TMP/v1" docker-compose 1.29.2
fake "$TMP/v1" docker none
run v1 0 && expect v1 "skip: docker compose config -q: 'docker-compose' is Compose 1.29.2" &&
    expect v1 "need Compose v2.21 or later"
calls v1 ""

# A v2 plugin (no daemon needed for config) with the v1 docker-compose also
# on PATH: the plugin validates both files.
fake "$TMP/v2" docker-compose 1.29.2
fake "$TMP/v2" docker 2.29.1
run v2 0 && expect v2 "docker compose config -q: OK (both files, Compose 2.29.1)"
calls v2 "docker compose -f F config -q;docker compose -f F -f F config -q;"

# A plugin older than v2.21 and a standalone v2 binary: the binary.
fake "$TMP/old-plugin" docker 2.20.3
fake "$TMP/old-plugin" docker-compose 2.24.0
run old-plugin 0 && expect old-plugin "docker-compose config -q: OK (both files, Compose 2.24.0)"
calls old-plugin "docker-compose -f F config -q;docker-compose -f F -f F config -q;"

# Both too old: skipped, both named in one line.
fake "$TMP/both-old" docker 2.12.2
fake "$TMP/both-old" docker-compose 1.29.2
run both-old 0 &&
    expect both-old "'docker compose' is Compose 2.12.2, 'docker-compose' is Compose 1.29.2"
calls both-old ""

# A v2 that rejects the file: the check fails (a real complaint is not skipped).
fake "$TMP/v2-rejects" docker 2.29.1 1
fake "$TMP/v2-rejects" docker-compose 1.29.2
run v2-rejects 1
calls v2-rejects "docker compose -f F config -q;"

# Neither command.
fake "$TMP/none" docker none
mkdir -p "$TMP/none-path"
ln -s "$TMP/none/docker" "$TMP/none-path/docker"
cat >"$TMP/none-path/docker-compose" <<'EOF'
#!/bin/sh
echo "docker-compose: not installed" >&2
exit 127
EOF
chmod +x "$TMP/none-path/docker-compose"
run none-path 0 && expect none-path "skip: docker compose config -q (neither 'docker compose' nor 'docker-compose' works here)"

if [ "$fails" -ne 0 ]; then
    echo "compose-version: $fails of the checks in $cases cases FAILED"
    exit 1
fi
echo "compose-version: all $cases cases pass (v2.21+ used, older skipped with the reason, v1 never run)"
