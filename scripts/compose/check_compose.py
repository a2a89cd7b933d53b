"""Validates the docker compose set-up without a Docker engine, and runs its
eoc services as local processes.

    check_compose.py                     validate
    check_compose.py --emulate [dev|BOOTSTRAP]
                                         run the eoc services of the compose
                                         file as local processes
    check_compose.py --emulate-chaos [dev|BOOTSTRAP]
                                         the same with the faults of
                                         scripts/compose-chaos.sh

scripts/check-compose.sh runs this with Debian's python3 (python3-yaml, from
scripts/setup.sh); tests/compose/test_check_compose.py proves that the
validator passes the files as they are and rejects deliberately broken
copies, each for its fault.

Validation: docker-compose.yml and docker-compose.chaos.yml parse; images
are pinned (a tag, never :latest); Kafka is one KRaft broker+controller with
a healthcheck; the topics service creates the topics the workers use; the
worker has >= 2 replicas sharing one named volume for the store and one PID
namespace with the checker; depends_on conditions (kafka healthy, one-shots
completed successfully); volumes declared and used; the checker is the only
attached service (so its exit ends `up --abort-on-container-exit`) and agrees
with the workers on brokers, topics, group, store and replica count; every
program a command runs is one the Dockerfile installs; every build context,
Dockerfile, script and file referenced exists; shell snippets and scripts
pass `sh -n`. Then `docker compose config -q` (or docker-compose) when such a
command is Compose v2.21 or later (config needs no Docker engine); skipped
otherwise, saying why: Debian 12's docker-compose package is Compose v1,
which cannot read these files. With EOC_BUILD_ROOT (a configured meson build
directory, as in meson test) also: `meson install` installs every program
and library the Dockerfile copies.

Emulation runs gen, the worker replicas and the checker with their commands
and environment from the compose file, as local processes from the build
directory (volumes become temporary directories; kafka:9092 becomes the
bootstrap). "dev" (the default) starts eoc-kafka-dev with the topics of the
topics service; BOOTSTRAP (the argument, or EOC_BOOTSTRAP=host:port when no
argument is given) uses a running Kafka, where the topics must exist, empty.
A worker replica is a process group (killing it kills the supervisor and
eoc-ledger, as killing a container does) and is restarted when it fails, as
`restart: on-failure` does. --emulate-chaos adds the chaos override and,
after gen, the faults of scripts/compose-chaos.sh: SIGKILL of one replica,
the broker down, SIGKILL of both replicas, each for EOC_CHAOS_PAUSE seconds
(default 5); then it opens the checker's gate. On eoc-kafka-dev the broker
goes down with its `broker down 1` (not a process kill: the development
Kafka keeps nothing across restarts); on a running Kafka with the shell
commands EOC_BROKER_DOWN and EOC_BROKER_UP, and without them that fault is
left out (said so). Exit status: the checker's. The files are kept
(EOC_COMPOSE_KEEP=1 keeps them on success too).

Environment: EOC_COMPOSE_FILE, EOC_COMPOSE_CHAOS_FILE (the files to check;
defaults at the top of the repository), EOC_BUILD_ROOT, EOC_BOOTSTRAP,
EOC_COMPOSE_SCHEMA (compose-spec.json of compose-spec/compose-go: also
validate against it, with python3-jsonschema), EOC_COMPOSE_DOCKER=0 (skip
docker compose config).
"""
import fnmatch
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# The first Compose that reads these files (attach, the top-level name).
COMPOSE_MIN = (2, 21)


def say(msg, **kw):
    print(f"check-compose: {msg}", flush=True, **kw)


def interp(value):
    """Compose interpolation: ${VAR:-default}, ${VAR-default}, ${VAR}, $VAR, $$."""
    if not isinstance(value, str):
        return value

    def sub(m):
        if m.group(0) == "$$":
            return "$"
        name = m.group(1) or m.group(4)
        op, default = m.group(2), m.group(3) or ""
        v = os.environ.get(name)
        if op == ":-":
            return v if v else default
        if op == "-":
            return v if v is not None else default
        return v or ""

    return re.sub(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)",
                  sub, value)


def load(path, errs):
    err = errs.append
    try:
        with open(path) as f:
            data = yaml.safe_load(f)
    except FileNotFoundError:
        err(f"{path}: missing")
        return None
    except yaml.YAMLError as e:
        err(f"{path}: not YAML: {str(e).splitlines()[0]}")
        return None
    if not isinstance(data, dict):
        err(f"{path}: not a mapping at the top")
        return None
    return data


def tokens(command):
    if command is None:
        return []
    if isinstance(command, str):
        return shlex.split(interp(command))
    return [str(interp(t)) for t in command]


def env_of(svc):
    e = svc.get("environment") or {}
    if isinstance(e, list):
        out = {}
        for item in e:
            k, _, v = str(item).partition("=")
            out[k] = v
        return out
    return {k: "" if v is None else str(interp(v)) for k, v in e.items()}


def mounts_of(svc):
    out = []  # (source, target)
    for v in svc.get("volumes") or []:
        if isinstance(v, dict):
            out.append((v.get("source"), v.get("target")))
        else:
            parts = str(v).split(":")
            if len(parts) >= 2:
                out.append((parts[0], parts[1]))
            else:
                out.append((None, parts[0]))
    return out


def depends_of(svc):
    d = svc.get("depends_on") or {}
    if isinstance(d, list):
        return {n: "service_started" for n in d}
    return {n: (c or {}).get("condition", "service_started") for n, c in d.items()}


def flags(argv):
    """--name value / --name=value pairs of a command line (last wins)."""
    out = {}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a.startswith("--"):
            name, eq, val = a[2:].partition("=")
            if eq:
                out[name] = val
            elif i + 1 < len(argv) and not argv[i + 1].startswith("--"):
                out[name] = argv[i + 1]
                i += 1
            else:
                out[name] = True
        i += 1
    return out


def sh_c(argv):
    """(script, positional args) of `sh -c SCRIPT NAME ARGS...`, else (None, argv)."""
    if len(argv) >= 3 and os.path.basename(argv[0]) in ("sh", "bash", "dash") and argv[1] in ("-c", "-ec", "-ce"):
        return argv[2], argv[4:]
    return None, argv


def volume_of(path, mounts, named):
    """The named volume whose mount target holds `path`, or None."""
    for src, tgt in mounts:
        if src in named and tgt and (path == tgt or path.startswith(tgt.rstrip("/") + "/")):
            return src, tgt
    return None


def pinned(image):
    if "@sha256:" in image:
        return True
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return False
    return last.rsplit(":", 1)[1] not in ("latest", "")


# --- Dockerfile ------------------------------------------------------------------

def parse_dockerfile(path):
    """Stages as lists of (INSTRUCTION, argument text), continuation lines joined."""
    with open(path) as f:
        text = f.read()
    lines, cur = [], ""
    for raw in text.splitlines():
        s = raw.strip()
        if not cur and (not s or s.startswith("#")):
            continue
        if cur and s.startswith("#"):
            continue
        if s.endswith("\\"):
            cur += s[:-1] + " "
            continue
        cur += s
        lines.append(cur)
        cur = ""
    stages = []
    for line in lines:
        instr, _, rest = line.partition(" ")
        instr = instr.upper()
        if instr == "FROM":
            stages.append([])
        if not stages:
            continue
        stages[-1].append((instr, rest.strip()))
    return stages


def dockerignore_excludes(ctx, rel):
    path = os.path.join(ctx, ".dockerignore")
    if not os.path.exists(path):
        return False
    excluded = False
    for line in open(path):
        p = line.strip()
        if not p or p.startswith("#"):
            continue
        neg = p.startswith("!")
        p = p.lstrip("!").rstrip("/")
        if fnmatch.fnmatch(rel, p) or fnmatch.fnmatch(rel, p + "/*") or rel.split("/")[0] == p:
            excluded = not neg
    return excluded


def check_dockerfile(ctx, dockerfile, required_bins, errs):
    """Checks the Dockerfile; returns (installed programs and libraries,
    {image path: context path} of the files copied from the context, the runtime RUN text)."""
    err = errs.append
    bins, copied = set(), {}
    if not os.path.isfile(dockerfile):
        err(f"build: Dockerfile {dockerfile} does not exist")
        return bins, copied, ""
    stages = parse_dockerfile(dockerfile)
    if len(stages) < 2:
        err(f"{dockerfile}: not multi-stage (a build stage and a runtime stage)")
        return bins, copied, ""
    for st in stages:
        image = st[0][1].split()[0]
        if image != "debian:bookworm-slim":
            err(f"{dockerfile}: FROM {image}: every stage must be debian:bookworm-slim")
    build, runtime = stages[0], stages[-1]
    name = build[0][1].split()
    bname = name[2] if len(name) >= 3 and name[1].upper() == "AS" else None
    runs = " ".join(a for i, a in build if i == "RUN")
    if "scripts/setup.sh" not in runs:
        err(f"{dockerfile}: the build stage does not run scripts/setup.sh")
    setup = re.search(r"meson setup [^&;]*", runs)
    if not setup:
        err(f"{dockerfile}: the build stage does not run meson setup")
    else:
        for opt in ("-Dtests=true", "-Dcrash_points=false"):
            if opt not in setup.group(0):
                err(f"{dockerfile}: meson setup lacks {opt} (eoc-ledger-gen and eoc-check are test programs; "
                    "crash points never ship)")
    if "meson install" not in runs:
        err(f"{dockerfile}: the build stage does not meson install")
    rruns = " ".join(a for i, a in runtime if i == "RUN")
    for pkg in ("librdkafka1", "liblmdb0", "libcjson1", "libmicrohttpd12"):
        if not re.search(r"\b%s\b" % re.escape(pkg), rruns):
            err(f"{dockerfile}: the runtime stage does not install {pkg}")
    for inst in re.findall(r"apt-get install([^&;]*)", rruns):
        dev = [w for w in inst.split() if w.endswith("-dev")]
        if dev:
            err(f"{dockerfile}: the runtime stage installs {' '.join(dev)}")
    libs = set()
    for instr, arg in runtime:
        if instr != "COPY":
            continue
        words = arg.split()
        frm = [w for w in words if w.startswith("--from=")]
        paths = [w for w in words if not w.startswith("--")]
        srcs, dest = paths[:-1], paths[-1]
        if frm:
            if bname and frm[0] != f"--from={bname}":
                err(f"{dockerfile}: COPY {frm[0]}: no such stage")
            for s in srcs:
                b = os.path.basename(s)
                if dest.rstrip("/").endswith("/bin"):
                    bins.add(b)
                if b.startswith("libeoc.so"):
                    libs.add(b)
        else:
            for s in srcs:
                if not os.path.exists(os.path.join(ctx, s)):
                    err(f"{dockerfile}: COPY {s}: not in the build context {ctx}")
                elif dockerignore_excludes(ctx, s):
                    err(f"{dockerfile}: COPY {s}: excluded by .dockerignore")
                target = dest if not dest.endswith("/") else dest + os.path.basename(s)
                copied[target] = os.path.join(ctx, s)
    for instr, arg in build:
        if instr == "COPY" and not arg.startswith("--from"):
            for s in arg.split()[:-1]:
                if s != "." and not os.path.exists(os.path.join(ctx, s)):
                    err(f"{dockerfile}: COPY {s}: not in the build context {ctx}")
    for b in sorted(required_bins - bins):
        err(f"{dockerfile}: the runtime stage does not install {b}")
    if "libeoc.so.0" not in libs:
        err(f"{dockerfile}: the runtime stage does not install libeoc.so.0")
    if not any(i == "USER" and a not in ("root", "0") for i, a in runtime):
        err(f"{dockerfile}: the runtime stage runs as root (set USER)")
    di = os.path.join(ctx, ".dockerignore")
    if not os.path.isfile(di):
        err(f"{ctx}/.dockerignore: missing")
    else:
        for p in ("build", ".run", ".git"):
            if not dockerignore_excludes(ctx, p):
                err(f"{di}: does not exclude {p}")
    return bins | libs, copied, rruns


def check_meson_install(build_root, installed, errs):
    err = errs.append
    try:
        out = subprocess.run(["meson", "introspect", "--installed", build_root], capture_output=True,
                             text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        say(f"skip: meson introspect: {e}")
        return
    if out.returncode != 0:
        say(f"skip: meson introspect --installed {build_root} failed")
        return
    names = {os.path.basename(p) for p in json.loads(out.stdout).values()}
    for b in sorted(installed):
        if b not in names:
            err(f"meson install (in {build_root}) does not install {b}, which the Dockerfile copies")
    say(f"meson install provides all {len(installed)} files the Dockerfile copies")


# --- the compose file ---------------------------------------------------------------

# Where the image installs the shell functions of the compose services.
SHLIB = "/usr/local/share/eoc"

REQUIRED_BINS = {"eoc", "eoc-ledger", "eoc-forward", "eoc-ledger-gen", "eoc-check", "eoc-kafka-dev"}


def lib_functions(path):
    try:
        return set(re.findall(r"^([a-z_][a-z0-9_]*)\(\)", open(path).read(), re.M))
    except OSError:
        return set()


def referenced_paths(text):
    return set(re.findall(r"(?<![\w/.-])((?:scripts|docs|tests)/[\w.-]+(?:/[\w.-]+)*\.(?:sh|md|yml|c|build))", text))


def shell_ok(script, what, errs):
    err = errs.append
    r = subprocess.run(["sh", "-n", "-c", script], capture_output=True, text=True)
    if r.returncode != 0:
        err(f"{what}: shell syntax: {r.stderr.strip()}")


def validate(root, path, chaos_path, build_root=None):
    """The complaints about the compose file PATH, its chaos override
    CHAOS_PATH and what they refer to (ROOT: the repository); BUILD_ROOT, a
    configured meson build directory, adds the meson install check."""
    errs = []
    _validate(errs, root, path, chaos_path, build_root)
    return errs


def _validate(errs, root, path, chaos_path, build_root):
    err = errs.append
    d = load(path, errs)
    if d is None:
        return
    base = os.path.dirname(os.path.abspath(path))
    services = d.get("services")
    if not isinstance(services, dict) or not services:
        err(f"{path}: no services")
        return
    named = set((d.get("volumes") or {}).keys())
    want = ("kafka", "topics", "pidns", "worker", "gen", "checker")
    for n in want:
        if n not in services:
            err(f"service {n}: missing")
    if any(n not in services for n in want):
        return
    kafka, topics, pidns, worker, gen, checker = (services[n] for n in want)

    # Every image pinned; built images have a tag of their own.
    for n, s in services.items():
        img = s.get("image")
        if img is None:
            err(f"service {n}: no image name (a built image would be tagged :latest)")
        elif not pinned(str(img)):
            err(f"service {n}: image {img} is not pinned (a version tag, never :latest)")

    # Files referenced anywhere (comments included) exist.
    text = open(path).read()
    for ref in sorted(referenced_paths(text)):
        if not os.path.exists(os.path.join(base, ref)):
            err(f"{path}: refers to {ref}, which does not exist")

    # Build context and Dockerfile.
    b = worker.get("build")
    if not b:
        err("service worker: no build section (the eoc image is built from this repository)")
        return
    if isinstance(b, str):
        b = {"context": b}
    ctx = os.path.normpath(os.path.join(base, b.get("context", ".")))
    if not os.path.isdir(ctx):
        err(f"service worker: build context {ctx} does not exist")
        return
    dockerfile = os.path.join(ctx, b.get("dockerfile", "Dockerfile"))
    if not os.path.isfile(dockerfile):
        err(f"build: Dockerfile {dockerfile} does not exist")
        return
    installed_bins, copied, rruns = check_dockerfile(ctx, dockerfile, REQUIRED_BINS, errs)
    if build_root:
        check_meson_install(build_root, installed_bins, errs)
    eoc_image = worker.get("image")
    for n, s in services.items():
        if s.get("build") and n != "worker":
            err(f"service {n}: builds an image too; only worker builds {eoc_image}")

    # Kafka: one KRaft node, broker and controller, healthcheck.
    kimg = str(kafka.get("image", ""))
    if not re.fullmatch(r"apache/kafka:\d+\.\d+\.\d+", kimg):
        err(f"service kafka: image {kimg}: want the official apache/kafka with a pinned version (X.Y.Z)")
    kenv = env_of(kafka)
    roles = set(kenv.get("KAFKA_PROCESS_ROLES", "").replace(" ", "").split(","))
    if roles != {"broker", "controller"}:
        err("service kafka: KAFKA_PROCESS_ROLES must be broker,controller (one combined KRaft node)")
    for k in ("KAFKA_NODE_ID", "KAFKA_CONTROLLER_QUORUM_VOTERS", "KAFKA_LISTENERS", "KAFKA_ADVERTISED_LISTENERS",
              "KAFKA_CONTROLLER_LISTENER_NAMES", "CLUSTER_ID"):
        if not kenv.get(k):
            err(f"service kafka: {k} is not set")
    if kenv.get("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR") != "1":
        err("service kafka: KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR must be 1 on one node")
    cid = kenv.get("CLUSTER_ID", "")
    if cid and not re.fullmatch(r"[A-Za-z0-9_-]{21}[AQgw]", cid):
        err(f"service kafka: CLUSTER_ID {cid} is not a base64url UUID (kafka-storage.sh random-uuid)")
    adv = re.search(r"PLAINTEXT://([^,:]+):(\d+)", kenv.get("KAFKA_ADVERTISED_LISTENERS", ""))
    bootstrap = f"{adv.group(1)}:{adv.group(2)}" if adv else None
    if adv and adv.group(1) not in ("kafka", kafka.get("hostname")):
        err(f"service kafka: advertises {adv.group(1)}, not a name the other containers resolve")
    hc = kafka.get("healthcheck") or {}
    test = hc.get("test")
    test = " ".join(test) if isinstance(test, list) else str(test or "")
    if hc.get("disable") or not re.search(r"/opt/kafka/bin/(kafka-broker-api-versions|kafka-topics)\.sh", test):
        err("service kafka: healthcheck missing (want /opt/kafka/bin/kafka-broker-api-versions.sh "
            "or kafka-topics.sh)")
    elif bootstrap and bootstrap not in test and "localhost:9092" not in test:
        err(f"service kafka: the healthcheck does not ask {bootstrap}")

    # Topics: created by the one-shot topics service with the Kafka image.
    if topics.get("image") != kafka.get("image"):
        err("service topics: must use the kafka service's image (its kafka-topics.sh)")
    if depends_of(topics).get("kafka") != "service_healthy":
        err("service topics: depends_on kafka must be condition: service_healthy")
    ttext = " ".join(tokens(topics.get("entrypoint")) + tokens(topics.get("command")))
    created = {}
    for line in re.split(r"\n|;|&&", ttext):
        if "kafka-topics.sh" in line and "--create" in line:
            f = flags(shlex.split(line))
            if bootstrap and f.get("bootstrap-server") != bootstrap:
                err(f"service topics: --bootstrap-server {f.get('bootstrap-server')} is not {bootstrap}")
            if not f.get("partitions"):
                err(f"service topics: topic {f.get('topic')} is created without --partitions")
            created[f.get("topic")] = f.get("partitions")
    shell_ok(ttext.split("-ec ", 1)[-1], "service topics", errs)

    # The PID namespace holder.
    if not pidns.get("init"):
        err("service pidns: init: true (PID 1 of the shared namespace must reap orphans)")
    if pidns.get("restart") not in (None, "no"):
        err("service pidns: must not restart (its death kills every process of the namespace)")

    lib_path = f"{SHLIB}/ledger-job.sh"
    lib_src = copied.get(lib_path)
    if not lib_src:
        err(f"Dockerfile: does not install scripts/lib/ledger-job.sh as {lib_path}")
    # ledger-job.sh sources common.sh from its installed directory.
    common_src = copied.get(f"{SHLIB}/common.sh")
    if not common_src or os.path.basename(common_src) != "common.sh":
        err(f"Dockerfile: does not install scripts/lib/common.sh as {SHLIB}/common.sh "
            "(ledger-job.sh sources it)")
    funcs = lib_functions(lib_src) if lib_src else set()

    def programs(name, svc):
        """Checks an eoc service's command; returns (positional argv after sh -c)."""
        argv = tokens(svc.get("entrypoint")) + tokens(svc.get("command"))
        script, args = sh_c(argv)
        if script is not None:
            shell_ok(script, f"service {name}", errs)
            m = re.search(r"\.\s+(\S+)", script)
            if m and m.group(1) != lib_path:
                err(f"service {name}: sources {m.group(1)}, not {lib_path}")
            for fn in ("supervise_worker", "run_gen", "compose_check", "compose_progress"):
                if re.search(r"\b%s\b" % fn, script) and fn not in funcs:
                    err(f"service {name}: calls {fn}, not defined in scripts/lib/ledger-job.sh")
            words = re.findall(r"(?<![\w/.-])(eoc(?:-[a-z-]+)?)(?![\w/.-])", script)
        else:
            words = []
        progs = [os.path.basename(a) for a in args if re.fullmatch(r"(/usr/local/bin/)?eoc(-[a-z-]+)?", a)]
        for p in progs + words:
            if p not in installed_bins:
                err(f"service {name}: runs {p}, which the Dockerfile does not install")
        return args

    def program_flags(args, prog):
        for i, a in enumerate(args):
            if os.path.basename(a) == prog:
                return flags(args[i + 1:])
        return None

    # Worker: replicas, one store volume, shared PID namespace, conditions.
    replicas = (worker.get("deploy") or {}).get("replicas", worker.get("scale", 1))
    if not isinstance(replicas, int) or replicas < 2:
        err(f"service worker: replicas {replicas}: want 2 or more (the group rebalances between them)")
    wpid = str(worker.get("pid", ""))
    if not wpid.startswith("service:") or wpid[8:] not in services:
        err("service worker: pid must be service:<holder> (LMDB needs one PID namespace for all its users)")
    dep = depends_of(worker)
    if dep.get("kafka") != "service_healthy":
        err("service worker: depends_on kafka must be condition: service_healthy")
    if dep.get("topics") != "service_completed_successfully":
        err("service worker: depends_on topics must be condition: service_completed_successfully")
    wargs = programs("worker", worker)
    wf = program_flags(wargs, "eoc-ledger")
    if wf is None:
        err("service worker: its command does not run eoc-ledger")
        wf = {}
    if "supervise_worker" not in " ".join(tokens(worker.get("command"))):
        err("service worker: not run under supervise_worker (the checker could not stop it)")
    wmounts = mounts_of(worker)
    store = volume_of(str(wf.get("data", "")), wmounts, named) if wf.get("data") else None
    if not store:
        err(f"service worker: --data {wf.get('data')} is not on a named volume")
    if bootstrap and wf.get("brokers") != bootstrap:
        err(f"service worker: --brokers {wf.get('brokers')} is not {bootstrap}")
    for t in ("input", "output", "dlq"):
        if wf.get(t) and wf.get(t) not in created:
            err(f"service worker: --{t} {wf.get(t)}: the topics service does not create it")
    if worker.get("restart") in ("always", "unless-stopped"):
        err("service worker: restart always would restart a worker the checker stopped")

    # The shared volume: ground truth, stop request, exit statuses.
    def shared_of(name, svc):
        sh = env_of(svc).get("EOC_SHARED")
        v = volume_of(sh, mounts_of(svc), named) if sh else None
        if not v:
            err(f"service {name}: EOC_SHARED {sh} is not on a named volume")
        return sh, v

    wshared, wsv = shared_of("worker", worker)

    # Generator.
    gdep = depends_of(gen)
    if gdep.get("topics") != "service_completed_successfully":
        err("service gen: depends_on topics must be condition: service_completed_successfully")
    gargs = programs("gen", gen)
    gf = program_flags(gargs, "eoc-ledger-gen")
    if gf is None:
        err("service gen: its command does not run eoc-ledger-gen")
        gf = {}
    gshared, gsv = shared_of("gen", gen)
    if bootstrap and gf.get("brokers") != bootstrap:
        err(f"service gen: --brokers {gf.get('brokers')} is not {bootstrap}")
    if wf.get("input") and gf.get("topic") != wf.get("input"):
        err(f"service gen: --topic {gf.get('topic')} is not the workers' input {wf.get('input')}")
    if gshared and gf.get("expect") != gshared.rstrip("/") + "/expect.json":
        err(f"service gen: --expect {gf.get('expect')} is not $EOC_SHARED/expect.json, where the checker reads it")
    if gf.get("count") and not str(gf.get("count")).isdigit():
        err(f"service gen: --count {gf.get('count')} is not a number")

    # Checker: conditions, agreement with the workers, the only attached service.
    cdep = depends_of(checker)
    if cdep.get("gen") != "service_completed_successfully":
        err("service checker: depends_on gen must be condition: service_completed_successfully")
    if cdep.get("worker") not in ("service_started", "service_healthy"):
        err("service checker: depends_on worker (service_started) missing")
    if str(checker.get("pid", "")) != wpid:
        err("service checker: pid must be the workers' (it opens their store)")
    programs("checker", checker)
    if "compose_check" not in " ".join(tokens(checker.get("command"))):
        err("service checker: does not run compose_check")
    cenv = env_of(checker)
    want_env = {"EOC_BROKERS": bootstrap, "EOC_INPUT": wf.get("input"), "EOC_OUTPUT": wf.get("output"),
                "EOC_DLQ": wf.get("dlq"), "EOC_GROUP": wf.get("group"), "EOC_DATA": wf.get("data"),
                "EOC_WORKERS": str(replicas)}
    for k, v in want_env.items():
        if v is not None and cenv.get(k) != str(v):
            err(f"service checker: {k}={cenv.get(k)} but the workers use {v}")
    cshared, csv = shared_of("checker", checker)
    if store and volume_of(str(wf.get("data")), mounts_of(checker), named) != store:
        err(f"service checker: does not mount volume {store[0]} at {store[1]} like the workers")
    if not (wsv == gsv == csv) or not (wshared == gshared == cshared):
        err("services worker, gen, checker: EOC_SHARED is not the same volume and path")
    if checker.get("restart") not in (None, "no"):
        err("service checker: must not restart (its exit status is the verdict)")
    for n, s in services.items():
        attached = s.get("attach", True) is not False
        if n == "checker" and not attached:
            err("service checker: attach: false (its exit must end docker compose up)")
        if n != "checker" and attached:
            err(f"service {n}: attach must be false: under --abort-on-container-exit the first attached "
                "container to exit ends the run, and only the checker's exit is the verdict")
        if n in ("topics", "gen") and s.get("restart") not in (None, "no"):
            err(f"service {n}: a one-shot service must not restart")

    # Named volumes: declared and used; mount points exist in the image.
    used = set()
    for n, s in services.items():
        for src, tgt in mounts_of(s):
            if src and not src.startswith((".", "/", "~")):
                used.add(src)
                if src not in named:
                    err(f"service {n}: volume {src} is not declared under the top-level volumes")
    for v in sorted(named - used):
        err(f"volume {v}: declared but not used")
    for n, s in services.items():
        if s.get("image") == eoc_image:
            for src, tgt in mounts_of(s):
                if tgt and not re.search(r"mkdir -p [^&;]*%s(\s|$)" % re.escape(tgt), rruns):
                    err(f"Dockerfile: does not create {tgt} (mount point of service {n}) for its user")

    # The chaos override: only environment changes, a gate the script opens.
    check_chaos(root, chaos_path, services, base, errs)
    check_schema((path, chaos_path), errs)


def check_schema(paths, errs):
    """Against the compose-spec JSON schema, when EOC_COMPOSE_SCHEMA names one."""
    err = errs.append
    schema_path = os.environ.get("EOC_COMPOSE_SCHEMA")
    if not schema_path:
        return
    try:
        import jsonschema
    except ImportError:
        say("skip: EOC_COMPOSE_SCHEMA is set but python3-jsonschema is missing")
        return
    with open(schema_path) as f:
        schema = json.load(f)
    for p in paths:
        with open(p) as f:
            doc = yaml.safe_load(f)
        for e in jsonschema.Draft7Validator(schema).iter_errors(doc):
            err(f"{p}: compose-spec schema: {'/'.join(map(str, e.path))}: {e.message}")
    say(f"{len(paths)} files checked against {schema_path}")


def check_chaos(root, chaos_path, services, base, errs):
    err = errs.append
    c = load(chaos_path, errs)
    if c is None:
        return
    cs = c.get("services") or {}
    for n, s in cs.items():
        if n not in services:
            err(f"{chaos_path}: service {n} is not in the compose file")
            continue
        extra = set(s) - {"environment"}
        if extra:
            err(f"{chaos_path}: service {n} overrides {', '.join(sorted(extra))}; only environment may change")
    gate = env_of(cs.get("checker") or {}).get("EOC_CHECK_AFTER")
    if not gate:
        err(f"{chaos_path}: the checker gets no EOC_CHECK_AFTER (it could judge before the chaos ends)")
    script = os.path.join(base, "scripts/compose-chaos.sh")
    if not os.path.isfile(script):
        err(f"{script}: missing")
        return
    stext = open(script).read()
    r = subprocess.run(["sh", "-n", script], capture_output=True, text=True)
    if r.returncode != 0:
        err(f"{script}: shell syntax: {r.stderr.strip()}")
    for needle in ("docker-compose.yml", os.path.basename(chaos_path)):
        if needle not in stext:
            err(f"{script}: does not use {needle}")
    if gate and gate not in stext:
        err(f"{script}: never creates the checker's gate {gate}")
    ctext = open(chaos_path).read()
    for ref in sorted(referenced_paths(ctext)):
        if not os.path.exists(os.path.join(base, ref)):
            err(f"{chaos_path}: refers to {ref}, which does not exist")


# --- emulation ----------------------------------------------------------------------------

def find_programs(build_root):
    progs = {}
    for dirpath, dirnames, files in os.walk(build_root):
        dirnames[:] = [x for x in dirnames if not x.endswith(".p") and not x.startswith("meson-")]
        for fn in files:
            p = os.path.join(dirpath, fn)
            if re.fullmatch(r"eoc(-[a-z-]+)?", fn) and os.access(p, os.X_OK):
                progs.setdefault(fn, p)
    return progs


def emulate(root, path, chaos_path, boot, build_root, chaos):
    """Runs the eoc services of the compose file PATH as local processes from
    BUILD_ROOT, on eoc-kafka-dev (BOOT "dev") or the Kafka at BOOT
    (host:port); CHAOS adds the chaos override and its faults. Returns the
    checker's exit status."""
    errs = []
    d = load(path, errs)
    if d is None:
        sys.exit(f"check-compose: {errs[0]}")
    base = os.path.dirname(os.path.abspath(path))
    services = d["services"]
    if chaos:
        # docker compose -f docker-compose.yml -f docker-compose.chaos.yml:
        # the override only adds environment (validate checks that).
        c = load(chaos_path, errs)
        if c is None:
            sys.exit(f"check-compose: {errs[0]}")
        for n, s in (c.get("services") or {}).items():
            merged = env_of(services[n])
            merged.update(env_of(s))
            services[n]["environment"] = merged
    kenv = env_of(services["kafka"])
    adv = re.search(r"PLAINTEXT://([^,]+)", kenv.get("KAFKA_ADVERTISED_LISTENERS", ""))
    kafka_addr = adv.group(1)
    progs = find_programs(build_root)
    dev = boot == "dev"
    need = ["eoc-ledger", "eoc-ledger-gen", "eoc-check"] + (["eoc-kafka-dev"] if dev else [])
    for p in need:
        if p not in progs:
            sys.exit(f"check-compose: {p} not found under {build_root} (build first)")
    tmp = tempfile.mkdtemp(prefix="eoc-compose-emulate.")
    bindir = os.path.join(tmp, "bin")
    os.mkdir(bindir)
    for n, p in progs.items():
        os.symlink(p, os.path.join(bindir, n))
    volumes = {}
    for v in d.get("volumes") or {}:
        volumes[v] = os.path.join(tmp, "volumes", v)
        os.makedirs(volumes[v])
    lib_src = os.path.join(base, "scripts/lib/ledger-job.sh")
    procs = []
    ctl = os.path.join(tmp, "kafka.sock")

    def cleanup():
        for p in procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for p in procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)

    def prepare(name, index):
        svc = services[name]
        mounts = [(volumes[s], t) for s, t in mounts_of(svc) if s in volumes]

        def rw(s):
            s = s.replace("/usr/local/share/eoc/ledger-job.sh", lib_src).replace(kafka_addr, boot)
            for host, tgt in sorted(mounts, key=lambda m: -len(m[1])):
                s = re.sub(r"(?<![\w/])%s(?=/|$|\s|\")" % re.escape(tgt), host, s)
            return s

        argv = [rw(t) for t in tokens(svc.get("entrypoint")) + tokens(svc.get("command"))]
        env = dict(os.environ)
        env.update({k: rw(v) for k, v in env_of(svc).items()})
        env["PATH"] = bindir + ":" + env.get("PATH", "/usr/bin:/bin")
        env["EOC_SHLIB"] = os.path.dirname(lib_src)  # common.sh, beside ledger-job.sh
        env["HOSTNAME"] = f"{name}-{index}"
        return argv, env

    try:
        text = " ".join(tokens(services["topics"].get("command")))
        specs = []
        for line in text.split("\n"):
            if "--create" in line:
                f = flags(shlex.split(line))
                specs += ["--topic", f"{f['topic']}:{f['partitions']}"]
        if dev:
            bs = os.path.join(tmp, "bootstrap")
            procs.append(subprocess.Popen(
                [progs["eoc-kafka-dev"], *specs, "--bootstrap-file", bs, "--control", ctl, "--quiet"],
                stdin=subprocess.DEVNULL, stdout=open(os.path.join(tmp, "kafka.out"), "w"),
                stderr=open(os.path.join(tmp, "kafka.log"), "w"), start_new_session=True))
            for _ in range(100):
                if os.path.exists(bs) and os.path.getsize(bs):
                    break
                time.sleep(0.1)
            boot = open(bs).read().strip()
            say(f"emulating with eoc-kafka-dev at {boot} ({' '.join(specs[1::2])}); files in {tmp}")
        else:
            say(f"emulating against {boot} (these topics must exist, empty: {' '.join(specs[1::2])}); "
                f"files in {tmp}")

        # Each worker replica is a process group, as a container is a cgroup:
        # killing the group kills the supervisor and eoc-ledger together.
        replicas = (services["worker"].get("deploy") or {}).get("replicas", 1)
        restart = services["worker"].get("restart") in ("on-failure", "always", "unless-stopped")
        workers = {}

        def start_worker(i):
            argv, env = prepare("worker", i)
            log = open(os.path.join(tmp, f"worker-{i}.log"), "a")
            workers[i] = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT,
                                          start_new_session=True)
            procs.append(workers[i])

        def kill_worker(i):
            os.killpg(workers[i].pid, signal.SIGKILL)
            workers[i].wait()

        for i in range(1, replicas + 1):
            start_worker(i)
        say(f"{replicas} worker replicas started")
        argv, env = prepare("gen", 1)
        g = subprocess.run(argv, env=env, capture_output=True, text=True)
        sys.stdout.write(g.stdout)
        if g.returncode != 0:
            sys.stdout.write(g.stderr)
            say(f"gen exited with status {g.returncode}")
            return 1
        argv, env = prepare("checker", 1)
        checker = subprocess.Popen(argv, env=env, start_new_session=True)
        procs.append(checker)

        def progress(quiet=False):
            argv, env = prepare("pidns", 1)
            r = subprocess.run(["sh", "-c", f". {lib_src} && compose_progress"], env=env,
                               capture_output=True, text=True)
            line = (r.stdout.strip().splitlines() or ["?"])[-1]
            if not quiet:
                say("  " + line)
                if r.returncode == 0:
                    say("  (the workers had already caught up: this fault proves little)")
            m = re.search(r"consumed (\d+) of (\d+)", line)
            return (int(m.group(1)), int(m.group(2))) if m else (0, 1)

        def broker(state):
            if dev:
                subprocess.run([progs["eoc-kafka-dev"], "--send", ctl, "broker", state, "1"], check=True,
                               capture_output=True)
            else:
                subprocess.run(["sh", "-c", os.environ[f"EOC_BROKER_{state.upper()}"]], check=True)

        if chaos:
            pause = float(os.environ.get("EOC_CHAOS_PAUSE", "5"))
            # As compose-chaos.sh: the first fault once a tenth is committed.
            deadline = time.time() + 300
            while True:
                done, total = progress(quiet=True)
                if done >= total // 10 or time.time() > deadline:
                    break
                time.sleep(0.2)
            faults = [("SIGKILL of worker replica 1", lambda: kill_worker(1), lambda: start_worker(1))]
            if dev:
                faults.append(("broker down (eoc-kafka-dev: broker down 1)",
                               lambda: broker("down"), lambda: broker("up")))
            elif os.environ.get("EOC_BROKER_DOWN") and os.environ.get("EOC_BROKER_UP"):
                faults.append(("broker down (EOC_BROKER_DOWN, then EOC_BROKER_UP)",
                               lambda: broker("down"), lambda: broker("up")))
            else:
                say("no broker fault: EOC_BROKER_DOWN and EOC_BROKER_UP are not set")
            faults.append(("SIGKILL of both worker replicas", lambda: [kill_worker(i) for i in workers],
                           lambda: [start_worker(i) for i in list(workers)]))
            for what, do, undo in faults:
                progress()
                say(f"fault: {what}")
                do()
                time.sleep(pause)
                undo()
                say("restored")
            progress()
            gate = env_of(services["checker"]).get("EOC_CHECK_AFTER")
            shared = prepare("checker", 1)[1]["EOC_SHARED"]
            open(os.path.join(shared, gate), "w").close()
            say(f"faults over; created {gate}: the checker judges now")

        # restart: on-failure, as Docker would while the checker runs.
        while checker.poll() is None:
            for i, p in list(workers.items()):
                if restart and p.poll() not in (None, 0):
                    say(f"worker replica {i} exited with status {p.returncode}; restarted (restart: on-failure)")
                    start_worker(i)
            time.sleep(0.5)
        if checker.returncode != 0:
            say(f"checker exited with status {checker.returncode}")
            return checker.returncode  # the rest is stopped, as --abort-on-container-exit does
        for p in workers.values():
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                say("a worker did not stop after the checker's request")
                return 1
        codes = [p.returncode for p in workers.values()]
        say(f"checker exited with status {checker.returncode}; worker replicas with {codes}")
        if checker.returncode == 0 and not os.environ.get("EOC_COMPOSE_KEEP"):
            shutil.rmtree(tmp, ignore_errors=True)
        return checker.returncode
    finally:
        cleanup()


# --- the command line ---------------------------------------------------------------------

def compose_version(cmd):
    """The version (major, minor, patch) of a compose command (a list: ["docker",
    "compose"]) from `CMD version`; None when it is missing or does not answer."""
    try:
        r = subprocess.run(cmd + ["version"], capture_output=True, text=True, timeout=60,
                           stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if r.returncode != 0:
        return None
    return parse_compose_version(r.stdout)


def parse_compose_version(text):
    """(major, minor, patch) from the first line of `docker compose version`
    ("Docker Compose version v2.29.1") or `docker-compose version`
    ("docker-compose version 1.29.2, build unknown"); None if it has none."""
    m = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", (text.splitlines() or [""])[0])
    if not m:
        return None
    return tuple(int(x or 0) for x in m.groups())


def compose_config(path, chaos_path):
    """`config -q` of both files with the first Compose of at least COMPOSE_MIN
    ("docker compose", then "docker-compose"); says once why it skipped when
    there is none. Returns False when that Compose rejects the files."""
    older = []
    for cmd in (["docker", "compose"], ["docker-compose"]):
        v = compose_version(cmd)
        if v is None:
            continue
        shown = ".".join(map(str, v))
        if v[:2] < COMPOSE_MIN:
            older.append(f"'{' '.join(cmd)}' is Compose {shown}")
            continue
        for files in ([path], [path, chaos_path]):
            args = [a for f in files for a in ("-f", f)]
            if subprocess.run(cmd + args + ["config", "-q"], stdin=subprocess.DEVNULL).returncode != 0:
                say(f"FAILED: {' '.join(cmd + args)} config -q", file=sys.stderr)
                return False
        say(f"{' '.join(cmd)} config -q: OK (both files, Compose {shown})")
        return True
    need = "v%d.%d" % COMPOSE_MIN
    if older:
        say(f"skip: docker compose config -q: {', '.join(older)}; these files need Compose {need} or later "
            "(Debian 12's docker-compose package is Compose v1: install the Compose v2 plugin, "
            "docker-compose-plugin from Docker's apt repository, or the docker-compose v2 binary)")
    else:
        say("skip: docker compose config -q (neither 'docker compose' nor 'docker-compose' works here)")
    return True


def check(root, path, chaos_path, build_root):
    """The validation of the command line; returns the exit status."""
    errs = validate(root, path, chaos_path, build_root)
    for e in errs:
        say(e, file=sys.stderr)
    if errs:
        return 1
    say(f"{os.path.basename(path)}, {os.path.basename(chaos_path)}, Dockerfile: structure OK")
    for s in ("scripts/lib/ledger-job.sh", "scripts/lib/common.sh", "scripts/e2e-against.sh",
              "scripts/demo.sh"):
        if subprocess.run(["sh", "-n", os.path.join(root, s)]).returncode != 0:
            say(f"FAILED: {s}: shell syntax", file=sys.stderr)
            return 1
    if os.environ.get("EOC_COMPOSE_DOCKER", "1") != "0" and not compose_config(path, chaos_path):
        return 1
    return 0


def main(argv):
    usage = f"usage: {os.environ.get('EOC_COMPOSE_PROG', argv[0])} [--emulate [dev|BOOTSTRAP] | " \
            "--emulate-chaos [dev|BOOTSTRAP]]"
    path = os.environ.get("EOC_COMPOSE_FILE") or os.path.join(ROOT, "docker-compose.yml")
    chaos_path = os.environ.get("EOC_COMPOSE_CHAOS_FILE") or \
        os.path.join(os.path.dirname(path), "docker-compose.chaos.yml")
    args = argv[1:]
    if not args:
        return check(ROOT, path, chaos_path, os.environ.get("EOC_BUILD_ROOT") or None)
    if args[0] not in ("--emulate", "--emulate-chaos") or len(args) > 2:
        print(usage, file=sys.stderr)
        return 2
    boot = args[1] if len(args) == 2 else os.environ.get("EOC_BOOTSTRAP") or "dev"
    build_root = os.environ.get("EOC_BUILD_ROOT") or os.path.join(ROOT, "build")
    return emulate(ROOT, path, chaos_path, boot, build_root, args[0] == "--emulate-chaos")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
