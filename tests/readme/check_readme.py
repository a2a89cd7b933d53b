#!/usr/bin/env python3
"""The README's C code, compiled and run, so that the front door cannot rot.

    check_readme.py README CC INCLUDE_DIR LIB_DIR KAFKA_DEV EOC PRODUCE_RAW

CC is the C compiler's command line (split like a shell would: "ccache cc").

Every ```c block of README is compiled against the built library with
-Wall -Wextra -Werror. A block with main() is a program: it is linked and
compiled exactly as written. A block without one is a fragment of a
program: it is compiled as a translation unit after `#include <eoc/eoc.h>`
and `<string.h>`, with -Wno-unused-function (a fragment defines a handler
that nothing in it calls).

The tutorial (the program that counts clicks) then runs as the README says,
against eoc-kafka-dev started with --listen on a free loopback port (the
README's 127.0.0.1:9092 may be taken on a shared machine; the tutorial takes
the bootstrap servers as its first argument): five clicks, one of them
re-sent, must leave the counts alice=3 and bob=1 in its store, four outputs
in click-counts and an empty outbox, and SIGTERM must stop it with status 0.
Every wait is bounded.
"""
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time

DEADLINE_S = 60


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def c_blocks(readme):
    """(line number, code) of each ```c block."""
    blocks, cur, start = [], None, 0
    with open(readme, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if cur is None and re.match(r"^```c\s*$", line):
                cur, start = [], n + 1
            elif cur is not None and line.startswith("```"):
                blocks.append((start, "".join(cur)))
                cur = None
            elif cur is not None:
                cur.append(line)
    if cur is not None:
        fail(f"{readme}:{start}: unterminated ```c block")
    return blocks


def compile_block(cc, inc, libdir, line, code, work):
    is_program = re.search(r"\bint\s+main\s*\(", code) is not None
    src = os.path.join(work, f"readme_{line}.c")
    flags = ["-Wall", "-Wextra", "-Werror", "-I" + inc]
    with open(src, "w", encoding="utf-8") as f:
        if not is_program:
            f.write("#include <eoc/eoc.h>\n#include <string.h>\n#line %d \"README.md\"\n" % line)
            flags += ["-Wno-unused-function"]
        f.write(code)
    if is_program:
        out = os.path.join(work, f"readme_{line}")
        cmd = shlex.split(cc) + flags + ["-o", out, src, "-L" + libdir, "-Wl,-rpath," + libdir, "-leoc"]
    else:
        out = None
        cmd = shlex.split(cc) + flags + ["-c", "-o", os.devnull, src]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        fail(f"README.md:{line}: the C block does not compile:\n{' '.join(cmd)}\n{r.stderr}")
    print(f"README.md:{line}: {'program' if is_program else 'fragment'} compiles")
    return out


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what, check, proc=None):
    end = time.monotonic() + DEADLINE_S
    last = None
    while time.monotonic() < end:
        ok, last = check()
        if ok:
            return last
        if proc is not None and proc.poll() is not None:
            fail(f"{what}: the worker exited with {proc.returncode}")
        time.sleep(0.2)
    fail(f"{what}: not within {DEADLINE_S} s (last seen: {last!r})")


def run_tutorial(exe, kafka_dev, eoc, produce_raw, work):
    port = free_port()
    address = f"127.0.0.1:{port}"
    ctl = os.path.join(work, "kafka.ctl")
    kafka = subprocess.Popen([kafka_dev, "--listen", address, "--topic", "clicks:4",
                              "--topic", "click-counts:4", "--control", ctl, "--quiet"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
    worker = None
    try:
        line = kafka.stdout.readline().strip()
        if line != address:
            fail(f"eoc-kafka-dev --listen {address} printed bootstrap '{line}'")
        # A second one on the same port refuses with a one-line reason.
        r = subprocess.run([kafka_dev, "--listen", address], stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=DEADLINE_S)
        if r.returncode != 1 or "cannot listen on " + address not in r.stderr:
            fail(f"a second eoc-kafka-dev on {address}: status {r.returncode}, {r.stderr!r}")

        worker = subprocess.Popen([exe, address], cwd=work, stdin=subprocess.DEVNULL)
        for key, msg_id in [("alice", "c1"), ("alice", "c2"), ("alice", "c3"), ("alice", "c2"),
                            ("bob", "c4")]:
            subprocess.run([produce_raw, "--brokers", address, "--topic", "clicks", "--key", key,
                            "--header", "message-id=" + msg_id, "--value", "click"],
                           check=True, stdout=subprocess.DEVNULL, timeout=DEADLINE_S)
        store = os.path.join(work, "counter-data")

        def counts():
            if not os.path.exists(store):
                return False, None
            r = subprocess.run([eoc, "state", store], capture_output=True, text=True)
            return r.returncode == 0 and r.stdout == "alice 3\nbob 1\n", r.stdout

        wait_for("counts alice 3, bob 1 in the store", counts, worker)

        def outbox_empty():
            r = subprocess.run([eoc, "inspect", store, "--json"], capture_output=True, text=True)
            if r.returncode != 0:
                return False, r.stderr
            return json.loads(r.stdout)["outbox"]["backlog"] == 0, r.stdout

        wait_for("an empty outbox", outbox_empty, worker)

        def published():
            r = subprocess.run([kafka_dev, "--send", ctl, "status"], capture_output=True,
                               text=True)
            total = 0
            for part in r.stdout.split()[1:]:
                topic, _, low, high = part.rsplit(":", 3)
                if topic == "click-counts":
                    total += int(high) - int(low)
            return total == 4, r.stdout

        wait_for("four records in click-counts", published, worker)

        worker.send_signal(signal.SIGTERM)
        try:
            rc = worker.wait(timeout=DEADLINE_S)
        except subprocess.TimeoutExpired:
            fail("the tutorial did not stop on SIGTERM")
        if rc != 0:
            fail(f"the tutorial exited with {rc} after SIGTERM")
        print(f"README.md tutorial: ran against eoc-kafka-dev --listen {address}")
    finally:
        for p in (worker, kafka):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()


def main():
    if len(sys.argv) != 8:
        print(__doc__, file=sys.stderr)
        return 2
    readme, cc, inc, libdir, kafka_dev, eoc, produce_raw = sys.argv[1:]
    with tempfile.TemporaryDirectory(prefix="eoc-readme-") as work:
        programs = []
        for line, code in c_blocks(readme):
            exe = compile_block(cc, inc, libdir, line, code, work)
            if exe and '"click-counts"' in code:
                programs.append(exe)
        if len(programs) != 1:
            fail(f"expected one tutorial program (output topic click-counts), found {len(programs)}")
        run_tutorial(programs[0], kafka_dev, eoc, produce_raw, work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
