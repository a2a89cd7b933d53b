#!/usr/bin/env python3
"""--help shows the defaults each program applies, in one style.

    check_help.py EOC_LEDGER EOC_FORWARD EOC EOC_KAFKA_DEV

For each consumer, every default its --help shows (configuration keys and
the flags that set them) must equal the value in `--print-config`, which
prints the configuration a run would start with (the library's defaults,
then the consumer's own, then the file and the flags). Known consumer
defaults are checked by name, so a table that loses one fails here too.
Every `eoc` subcommand's --help has the consumers' shape (a Usage line, a
summary, Options, Exit status), a usage error points at it, and `eoc relay`
takes DIR like its siblings.
"""
import re
import subprocess
import sys

FAILURES = []


def check(cond, msg):
    if not cond:
        FAILURES.append(msg)


def run(args):
    return subprocess.run(args, capture_output=True, text=True, timeout=30,
                          stdin=subprocess.DEVNULL)


KEY_LINE = re.compile(r"^  (\S+) \((\w+), default: (.*)\)$")
FLAG_LINE = re.compile(r"\((\S+), default: (.*?)\)$")


def shown_defaults(help_text):
    """key -> the default shown, from the key list and from the flags."""
    keys, flags = {}, {}
    for line in help_text.splitlines():
        m = KEY_LINE.match(line)
        if m:
            keys[m.group(1)] = m.group(3)
            continue
        m = FLAG_LINE.search(line)
        if m:
            flags[m.group(1)] = m.group(2)
    return keys, flags


def printed_config(exe, *extra):
    r = run([exe, "--print-config", *extra])
    check(r.returncode == 0, f"{exe} --print-config: status {r.returncode}: {r.stderr}")
    conf = {}
    for line in r.stdout.splitlines():
        key, _, value = line.partition("=")
        conf[key] = value
    return conf


def check_consumer(exe, name, expected):
    r = run([exe, "--help"])
    check(r.returncode == 0, f"{name} --help: status {r.returncode}")
    text = r.stdout
    check(text.startswith(f"Usage: {name} "), f"{name} --help: no Usage line")
    for part in ("\nOptions:\n", "\nConfiguration keys", "\nExit status:"):
        check(part in text, f"{name} --help: no '{part.strip()}'")
    keys, flags = shown_defaults(text)
    check(len(keys) > 20, f"{name} --help: only {len(keys)} configuration keys found")
    check(len(flags) >= 8, f"{name} --help: only {len(flags)} flags with a key found")
    conf = printed_config(exe)
    for source, table in (("key", keys), ("flag", flags)):
        for key, shown in table.items():
            if "*" in key:
                continue
            applied = conf.get(key)
            if shown == "none":
                check(applied is None, f"{name}: {source} {key} shows no default, applies '{applied}'")
            else:
                want = "" if shown == '""' else shown
                check(applied == want,
                      f"{name}: {source} {key} shows default '{shown}', applies '{applied}'")
    for key, value in expected.items():
        check(keys.get(key) == value, f"{name} --help: {key} default '{keys.get(key)}', not '{value}'")
        check(conf.get(key) == value, f"{name} applies {key}='{conf.get(key)}', not '{value}'")
    # --print-config shows the run's configuration: flags and --set count.
    conf = printed_config(exe, "--group", "g1", "--set", "batch.max.records=7")
    check(conf.get("group.id") == "g1" and conf.get("batch.max.records") == "7",
          f"{name} --print-config ignores the flags: {conf}")


def check_eoc(eoc):
    r = run([eoc, "--help"])
    check(r.returncode == 0 and r.stdout.startswith("Usage: eoc "), "eoc --help")
    commands = re.findall(r"^  eoc ([a-z]+) ", r.stdout, re.M)
    check({"inspect", "outbox", "state", "relay", "replay", "watch", "dlq"} <= set(commands),
          f"eoc --help lists {commands}")
    for c in commands:
        r = run([eoc, c, "--help"])
        text = r.stdout
        check(r.returncode == 0, f"eoc {c} --help: status {r.returncode}")
        check(text.startswith(f"Usage: eoc {c} "), f"eoc {c} --help: no Usage line")
        for part in ("\nOptions:\n", "  -h, --help ", "\nExit status:"):
            check(part in text, f"eoc {c} --help: no '{part.strip()}'")
    for c, default in (("outbox", "--limit N "), ("watch", "--interval-ms N ")):
        text = run([eoc, c, "--help"]).stdout
        line = next((l for l in text.splitlines() if default in l), "")
        check("(default: " in line, f"eoc {c} --help: '{default.strip()}' shows no default")
    r = run([eoc, "outbox"])
    check(r.returncode == 2 and r.stderr.startswith("Usage: eoc outbox ")
          and "eoc outbox --help" in r.stderr, f"eoc outbox without DIR: {r.returncode} {r.stderr!r}")
    # relay: DIR first, like inspect/outbox/state/replay/watch.
    r = run([eoc, "relay", "/nonexistent/eoc-help-test"])
    check(r.returncode == 2 and "kafka.bootstrap.servers is required" in r.stderr,
          f"eoc relay DIR (no brokers): {r.returncode} {r.stderr!r}")
    r = run([eoc, "relay", "--brokers", "127.0.0.1:1"])
    check(r.returncode == 2 and "data.dir is required (DIR)" in r.stderr,
          f"eoc relay without DIR: {r.returncode} {r.stderr!r}")


def main():
    if len(sys.argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    ledger, forward, eoc, kafka_dev = sys.argv[1:]
    check_consumer(ledger, "eoc-ledger", {"group.id": "eoc-ledger", "id.strategy": "json:id"})
    check_consumer(forward, "eoc-forward",
                   {"group.id": "eoc-forward", "id.strategy": "header:message-id"})
    check_eoc(eoc)
    r = run([kafka_dev, "--help"])
    check(r.returncode == 0 and r.stdout.startswith("Usage: eoc-kafka-dev ")
          and "--listen HOST:PORT" in r.stdout, "eoc-kafka-dev --help")
    for f in FAILURES:
        print("FAIL: " + f, file=sys.stderr)
    print(f"{len(FAILURES)} failure(s)")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
