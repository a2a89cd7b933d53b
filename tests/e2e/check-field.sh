#!/bin/sh
# eoc-check --field: the JSON reader the scenarios use instead of scraping
# prose (no Kafka needed). Usage: check-field.sh path/to/eoc-check
set -u
CHECK=$1
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fails=0

# want "EXPECTED" ARGS...: eoc-check ARGS prints EXPECTED and exits 0.
want() {
    exp=$1
    shift
    if ! got=$("$CHECK" "$@" 2>&1) || [ "$got" != "$exp" ]; then
        echo "FAIL: eoc-check $*: got '$got', want '$exp'"
        fails=$((fails + 1))
    fi
}

# refuse ARGS...: eoc-check ARGS exits 2.
refuse() {
    st=0
    "$CHECK" "$@" >"$TMP/out" 2>&1 || st=$?
    [ "$st" -eq 2 ] || {
        echo "FAIL: eoc-check $*: exit $st, want 2: $(cat "$TMP/out")"
        fails=$((fails + 1))
    }
}

cat >"$TMP/report.json" <<'JSON'
{"verdict":"FAIL","failed":["I2","I8"],"line":"verdict: FAIL I2 I8 (records 10, applied 8)",
 "counts":{"records":10,"applied":8,"transport_duplicates":0,"big":12345678901},
 "sections":{"I2":{"title":"no double effect","result":"FAIL","count":1,"examples":["t5 twice"]}}}
JSON
want FAIL --field verdict "$TMP/report.json"
want "I2 I8" --field failed "$TMP/report.json"
want "verdict: FAIL I2 I8 (records 10, applied 8)" --field line "$TMP/report.json"
want "10
8
12345678901" --field counts.records --field counts.applied --field counts.big "$TMP/report.json"
want "FAIL
t5 twice" --field sections.I2.result --field sections.I2.examples "$TMP/report.json"
want I8 --field failed.1 "$TMP/report.json"
want 8 --field counts.applied - <"$TMP/report.json"
refuse --field counts.nothing "$TMP/report.json"
refuse --field verdict "$TMP/missing.json"
echo 'verdict: OK' >"$TMP/prose"
refuse --field verdict "$TMP/prose"
refuse --field verdict

# eoc inspect --json: the offsets of every partition.
cat >"$TMP/inspect.json" <<'JSON'
{"dir": "/d", "offsets": [{"topic": "in", "partition": 0, "next_offset": 5},
                          {"topic": "in", "partition": 1, "next_offset": 7}],
 "outbox": {"backlog": 3}}
JSON
want "5
7" --field 'offsets.*.next_offset' "$TMP/inspect.json"
want 3 --field outbox.backlog "$TMP/inspect.json"
echo '{"offsets": []}' >"$TMP/empty.json"
want "" --field 'offsets.*.next_offset' "$TMP/empty.json"

if [ "$fails" -ne 0 ]; then
    echo "check-field: $fails FAILED"
    exit 1
fi
echo "check-field: OK"
