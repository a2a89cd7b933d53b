# lib.sh - what the 'real' suite's own scenarios (tests/real/*.sh) source:
# the e2e scenarios' lib.sh (workers, the ledger generator, waits, the
# eoc-check verdict) on Apache Kafka (broker.sh). POSIX sh:
#
#     . "$(dirname "$0")/lib.sh"
#     e2e_begin "one line saying what this scenario proves"
#     kafka_start NODES TOPIC:PARTITIONS...
#
# Working directories go to <build>/real-runs/<scenario> unless EOC_E2E_DIR
# says otherwise.
EOC_SOURCE_ROOT=${EOC_SOURCE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
EOC_BUILD_ROOT=${EOC_BUILD_ROOT:-$EOC_SOURCE_ROOT/build}
EOC_E2E_DIR=${EOC_E2E_DIR:-$EOC_BUILD_ROOT/real-runs}
EOC_E2E_BROKER=real
export EOC_SOURCE_ROOT EOC_BUILD_ROOT EOC_E2E_DIR EOC_E2E_BROKER
# shellcheck source=../e2e/scenarios/lib.sh
. "$EOC_SOURCE_ROOT/tests/e2e/scenarios/lib.sh"
