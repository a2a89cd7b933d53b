# lib.sh - what the eos.mode=kafka scenarios (tests/kafka-mode/*.sh) source:
# the e2e scenarios' lib.sh (workers, the ledger generator, waits, the
# eoc-check verdict) with workers in eos.mode=kafka, on Apache Kafka
# (scripts/real-kafka.sh): the development Kafka cannot show this mode's
# guarantees (it has no LSO, no aborted-transaction filtering, no fencing).
#
#     . "$(dirname "$0")/lib.sh"
#     e2e_begin "one line saying what this scenario proves"
#     kafka_start NODES TOPIC:PARTITIONS...
#
# Each worker is a "host": its own data directory (host_data NAME). The
# verdict is eoc-check --eos kafka: outputs read read_committed, positions
# from the group's committed offsets, a transport duplicate fails.
#
# Environment, besides lib.sh's:
#   EOC_REAL_KAFKA      the launcher (default <source>/scripts/real-kafka.sh)
#   EOC_KM_KAFKA_DIR    a cluster already up (real-kafka.sh up --dir DIR):
#                       reused instead of starting one per scenario; topics
#                       and groups are named after the scenario and its seed
EOC_SOURCE_ROOT=${EOC_SOURCE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
EOC_BUILD_ROOT=${EOC_BUILD_ROOT:-$EOC_SOURCE_ROOT/build}
EOC_E2E_DIR=${EOC_E2E_DIR:-$EOC_BUILD_ROOT/kafka-mode-runs}
export EOC_SOURCE_ROOT EOC_BUILD_ROOT EOC_E2E_DIR
# shellcheck source=../e2e/scenarios/lib.sh
. "$EOC_SOURCE_ROOT/tests/e2e/scenarios/lib.sh"

REAL_KAFKA=${EOC_REAL_KAFKA:-$E2E_SRC/scripts/real-kafka.sh}
KM_KDIR=
# Shorter than a restart's worth of waiting: a SIGKILLed member's partitions
# move after 6 s; a dead producer's open transaction is aborted after 10 s
# (a restart with the same transactional.id aborts it at once).
WORKER_FLAGS="--set eos.mode=kafka --set kafka.session.timeout.ms=6000 \
--set kafka.heartbeat.interval.ms=500 --set kafka.transaction.timeout.ms=10000"

# kafka_start NODES TOPIC:PARTS...: Apache Kafka (started here, or the one
# of EOC_KM_KAFKA_DIR), the topics created. Names topics and group after
# the scenario and seed, so that runs never share them.
kafka_start() {
    _ks_n=$1
    KM_NODES=$1
    shift
    [ -x "$REAL_KAFKA" ] || die "$REAL_KAFKA not found (set EOC_REAL_KAFKA)"
    if [ -n "${EOC_KM_KAFKA_DIR:-}" ]; then
        KM_KDIR=$EOC_KM_KAFKA_DIR
        BROKERS=$("$REAL_KAFKA" bootstrap --dir "$KM_KDIR" | tail -n 1) ||
            die "no cluster in $KM_KDIR"
    else
        KM_KDIR=$RUN/kafka
        # shellcheck disable=SC2086 # no flag, or --host ADDR
        BROKERS=$(nice "$REAL_KAFKA" up --brokers "$_ks_n" --dir "$KM_KDIR" --owner $$ \
            ${KM_KAFKA_HOST:+--host "$KM_KAFKA_HOST"} \
            2>>"$RUN/kafka.log" | tail -n 1) || die "real-kafka.sh up failed (see kafka.log)"
    fi
    _ks_sfx=$(echo "$E2E_NAME" | tr -cd 'a-z0-9')-$SEED
    _ks_specs=
    for _ks_t in "$@"; do
        _ks_name=${_ks_t%:*}
        _ks_parts=${_ks_t##*:}
        case $_ks_name in
        "$IN") _ks_name=km.$_ks_sfx.in ;;
        "$OUT") _ks_name=km.$_ks_sfx.out ;;
        "$DLQ") _ks_name=km.$_ks_sfx.dlq ;;
        esac
        _ks_specs="$_ks_specs $_ks_name:$_ks_parts"
    done
    IN=km.$_ks_sfx.in OUT=km.$_ks_sfx.out DLQ=km.$_ks_sfx.dlq GROUP=km-$_ks_sfx
    # shellcheck disable=SC2086 # a list of TOPIC:PARTS
    "$REAL_KAFKA" topic --dir "$KM_KDIR" $_ks_specs >>"$RUN/kafka.log" 2>&1 ||
        die "cannot create topics (see kafka.log)"
    say "Apache Kafka ($_ks_n node(s)) at $BROKERS; input $IN, group $GROUP"
}

kafka_cmd() {
    echo "kafka_cmd: no development Kafka here" >&2
    return 1
}

# ---- a host in a network namespace of its own ----------------------------
# netns_up NAME: a network namespace for host NAME, joined to this one by a
# veth pair (10.231.X.1 on this side, 10.231.X.2 in it). Sets
# KM_KAFKA_HOST to this side's address, which the cluster must listen on
# (call it before kafka_start) so that both sides reach it. The namespace
# goes when the scenario exits, whatever happens. Exits 77 (a skip) when
# this machine cannot make namespaces.
NETNS=
netns_up() {
    command -v ip >/dev/null || { say "SKIP: no ip (iproute2)"; exit 77; }
    NETNS=eoc$$-$1
    _nu_x=$(($$ % 250 + 1))
    NETNS_IF=vn$$
    ip netns add "$NETNS" 2>"$RUN/netns.err" || {
        say "SKIP: cannot create a network namespace: $(cat "$RUN/netns.err")"
        NETNS=
        exit 77
    }
    trap km_netns_cleanup EXIT
    ip link add "vh$$" type veth peer name "$NETNS_IF" netns "$NETNS" &&
        ip addr add "10.231.$_nu_x.1/30" dev "vh$$" && ip link set "vh$$" up &&
        ip -n "$NETNS" addr add "10.231.$_nu_x.2/30" dev "$NETNS_IF" &&
        ip -n "$NETNS" link set "$NETNS_IF" up && ip -n "$NETNS" link set lo up ||
        die "cannot set up the veth pair of $NETNS"
    KM_KAFKA_HOST=10.231.$_nu_x.1
    say "network namespace $NETNS (10.231.$_nu_x.2) for host $1"
}

# netns_exec: the W_PREFIX that starts a worker inside the namespace.
netns_exec() {
    echo "ip netns exec $NETNS"
}

# netns_cut / netns_heal: the namespace's side of the link down or up: its
# host's packets go nowhere (no reset, no refusal), as in a network split.
netns_cut() {
    ip -n "$NETNS" link set "$NETNS_IF" down || die "cannot cut $NETNS off"
}

netns_heal() {
    ip -n "$NETNS" link set "$NETNS_IF" up || die "cannot bring $NETNS back"
}

km_netns_cleanup() {
    _kn_st=$?
    [ -z "$NETNS" ] || ip netns del "$NETNS" 2>/dev/null
    (exit "$_kn_st")
    e2e_cleanup
}

# km_broker_faults: node_kill / node_start / real_leader (tests/real/broker.sh)
# on this scenario's own cluster; after kafka_start, which must have
# started it (not one of EOC_KM_KAFKA_DIR: its nodes are not ours to kill).
km_broker_faults() {
    [ -z "${EOC_KM_KAFKA_DIR:-}" ] || die "broker faults need a cluster of the scenario's own"
    # shellcheck source=../real/broker.sh
    . "$E2E_SRC/tests/real/broker.sh"
    REAL_DIR=$KM_KDIR
    REAL_NODES=$KM_NODES
}

# host_data NAME: the data directory of host NAME.
host_data() {
    echo "$RUN/data-$1"
}

# host_start NAME [flags...]: the worker of host NAME on its own store.
# KM_HOST_FLAGS (e.g. "--set eos.mode=local": the negative control, which
# must fail) come last.
host_start() {
    _hs_name=$1
    shift
    # shellcheck disable=SC2086
    worker_start "$_hs_name" "$(host_data "$_hs_name")" "$@" ${KM_HOST_FLAGS:-}
}

# progress: the group's committed offsets against the input's end.
progress() {
    check_progress --brokers "$BROKERS" --input "$IN" --group "$GROUP" --eos kafka
}

# check_final [eoc-check flags...]: the verdict of the eos.mode=kafka run.
check_final() {
    _cfi_exp=
    if [ "${NO_EXPECT:-0}" != 1 ]; then
        merge_expect
        _cfi_exp="--expect $RUN/expect.json"
    fi
    _cfi_fin=--finished
    [ "${NOT_FINISHED:-0}" != 1 ] || _cfi_fin=
    # shellcheck disable=SC2086
    check_run 180 --eos kafka --brokers "$BROKERS" --input "$IN" --output "$OUT" --dlq "$DLQ" \
        --group "$GROUP" $_cfi_exp $_cfi_fin "$@"
    VERDICT=$CHECK_LINE
    [ -n "$VERDICT" ] || VERDICT="verdict: none (eoc-check exit $CHECK_RC: $(tail -n 1 "$RUN/check.out"))"
    grep -v '^verdict:' "$RUN/check.out" | sed 's/^/  check: /' | head -n 40
    say "$VERDICT"
}

# log_count NAME PATTERN: lines of the worker's log matching PATTERN.
log_count() {
    grep -Ec "$2" "$RUN/$1.log" || true
}

# host_restored NAME: since its last start the host was assigned partitions
# and every one of them finished its restore (a partition is assigned first
# and restores afterwards, paused until then).
host_restored() {
    worker_log_since_start "$1" | awk '
        / INFO assigned [0-9]+ partition/ { for (i = 1; i < NF; i++) if ($i == "assigned") a += $(i + 1) }
        / restored [0-9]+ records/ { r++ }
        END { exit !(a > 0 && r >= a) }'
}

# since_start_count NAME PATTERN: the same, since its last start.
since_start_count() {
    worker_log_since_start "$1" | grep -Ec "$2" || true
}
