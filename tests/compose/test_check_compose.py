"""The compose validator (scripts/compose/check_compose.py) on the files as
they are, on an unchanged copy, and on deliberately broken copies: each must
be rejected, with the complaint its fault calls for.

    cd tests/compose && /usr/bin/python3 -m unittest -v test_check_compose

(meson test compose-validator runs this; the closing line is unittest's OK
or FAILED.) Needs python3-yaml.
"""
import copy
import os
import shutil
import sys
import tempfile
import unittest

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "scripts", "compose"))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import check_compose  # noqa: E402


def svc(d, n):
    return d["services"][n]


def drop(mapping, key, d):
    del mapping[key]
    return d


def set_cmd_token(d, n, old, new):
    c = svc(d, n)["command"]
    svc(d, n)["command"] = [new if t == old else t for t in c]
    return d


# (name, function(doc) -> doc or text, expected complaint) for docker-compose.yml.
MUTATIONS = [
    ("kafka image :latest", lambda d: svc(d, "kafka").update(image="apache/kafka:latest") or d,
     "is not pinned"),
    ("no kafka healthcheck", lambda d: drop(svc(d, "kafka"), "healthcheck", d), "healthcheck missing"),
    ("checker waits for gen to start only",
     lambda d: svc(d, "checker")["depends_on"]["gen"].update(condition="service_started") or d,
     "depends_on gen must be condition: service_completed_successfully"),
    ("worker store off the volume", lambda d: set_cmd_token(d, "worker", "/data/ledger", "/tmp/ledger"),
     "is not on a named volume"),
    ("gen runs a program the image lacks",
     lambda d: set_cmd_token(d, "gen", "eoc-ledger-gen", "eoc-ledgergen"),
     "which the Dockerfile does not install"),
    ("store volume not declared", lambda d: drop(d["volumes"], "ledger-store", d), "is not declared"),
    ("one worker replica", lambda d: svc(d, "worker")["deploy"].update(replicas=1) or d, "want 2 or more"),
    ("gen attached", lambda d: svc(d, "gen").update(attach=True) or d, "attach must be false"),
    ("checker waits for 3 workers", lambda d: svc(d, "checker")["environment"].update(EOC_WORKERS=3) or d,
     "EOC_WORKERS=3"),
    ("worker in its own PID namespace", lambda d: drop(svc(d, "worker"), "pid", d), "pid must be service:"),
    ("missing Dockerfile", lambda d: svc(d, "worker")["build"].update(dockerfile="Dockerfile.missing") or d,
     "does not exist"),
    ("dlq topic not created", lambda d: set_cmd_token(d, "worker", "ledger.dlq", "ledger.dead"),
     "the topics service does not create it"),
    ("not YAML", lambda d: "services:\n  kafka: [\n", "not YAML"),
]

# The same for docker-compose.chaos.yml.
CHAOS_MUTATIONS = [
    ("chaos override changes a command", lambda d: svc(d, "checker").update(command=["true"]) or d,
     "only environment may change"),
    ("chaos override without the checker's gate",
     lambda d: svc(d, "checker")["environment"].pop("EOC_CHECK_AFTER") and d,
     "the checker gets no EOC_CHECK_AFTER"),
]


class Copy:
    """A copy of the repository's top level: symbolic links, except the two
    compose files, which are real files to break."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="eoc-check-compose.")
        for name in os.listdir(ROOT):
            if name not in ("docker-compose.yml", "docker-compose.chaos.yml", ".git", "build"):
                os.symlink(os.path.join(ROOT, name), os.path.join(self.dir, name))
        self.file = os.path.join(self.dir, "docker-compose.yml")
        self.chaos = os.path.join(self.dir, "docker-compose.chaos.yml")
        shutil.copy(os.path.join(ROOT, "docker-compose.yml"), self.file)
        shutil.copy(os.path.join(ROOT, "docker-compose.chaos.yml"), self.chaos)

    def write(self, path, doc):
        with open(path, "w") as f:
            if isinstance(doc, str):
                f.write(doc)
            else:
                yaml.safe_dump(doc, f, sort_keys=False)

    def validate(self):
        return check_compose.validate(self.dir, self.file, self.chaos)

    def remove(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def original(name):
    with open(os.path.join(ROOT, name)) as f:
        return yaml.safe_load(f)


class Validator(unittest.TestCase):
    def setUp(self):
        self.copy = Copy()
        self.addCleanup(self.copy.remove)

    def test_files_as_they_are(self):
        self.assertEqual(check_compose.validate(ROOT, os.path.join(ROOT, "docker-compose.yml"),
                                                os.path.join(ROOT, "docker-compose.chaos.yml")), [])

    def test_unchanged_copy(self):
        self.assertEqual(self.copy.validate(), [])

    def test_rewritten_copy(self):
        # Broken copies are written by yaml.safe_dump: unbroken, that passes.
        self.copy.write(self.copy.file, original("docker-compose.yml"))
        self.assertEqual(self.copy.validate(), [])

    def broken(self, fname, fn, expect):
        self.copy.write(os.path.join(self.copy.dir, fname), fn(copy.deepcopy(original(fname))))
        errs = self.copy.validate()
        self.assertTrue(errs, "the broken copy is accepted")
        self.assertTrue(any(expect in e for e in errs),
                        f"rejected, but not with {expect!r}:\n" + "\n".join(errs))


def _add(fname, i, name, fn, expect):
    def test(self):
        self.broken(fname, fn, expect)
    test.__doc__ = f"rejects {fname}: {name}"
    setattr(Validator, f"test_broken_{'chaos_' if 'chaos' in fname else ''}{i:02d}", test)


for _i, (_name, _fn, _expect) in enumerate(MUTATIONS):
    _add("docker-compose.yml", _i, _name, _fn, _expect)
for _i, (_name, _fn, _expect) in enumerate(CHAOS_MUTATIONS):
    _add("docker-compose.chaos.yml", _i, _name, _fn, _expect)


class Helpers(unittest.TestCase):
    def test_compose_versions(self):
        p = check_compose.parse_compose_version
        self.assertEqual(p("docker-compose version 1.29.2, build unknown\ndocker-py version: 5.0.3\n"), (1, 29, 2))
        self.assertEqual(p("Docker Compose version v2.29.1\n"), (2, 29, 1))
        self.assertEqual(p("Docker Compose version 2.21.0-desktop.1\n"), (2, 21, 0))
        self.assertEqual(p("2.24\n"), (2, 24, 0))
        self.assertIsNone(p("docker: unknown command: docker compose\n"))
        self.assertIsNone(p(""))
        self.assertLess(p("docker-compose version 1.29.2")[:2], check_compose.COMPOSE_MIN)
        self.assertLess(p("Docker Compose version v2.20.3")[:2], check_compose.COMPOSE_MIN)
        self.assertGreaterEqual(p("Docker Compose version v2.21.0")[:2], check_compose.COMPOSE_MIN)

    def test_interpolation(self):
        os.environ["EOC_TEST_SET"] = "x"
        os.environ["EOC_TEST_EMPTY"] = ""
        os.environ.pop("EOC_TEST_UNSET", None)
        i = check_compose.interp
        self.assertEqual(i("${EOC_TEST_SET:-d}/${EOC_TEST_EMPTY:-d}/${EOC_TEST_EMPTY-d}/${EOC_TEST_UNSET-d}"),
                         "x/d//d")
        self.assertEqual(i("$EOC_TEST_SET $$HOME ${EOC_TEST_UNSET}"), "x $HOME ")
        self.assertEqual(i(3), 3)

    def test_flags(self):
        self.assertEqual(check_compose.flags(["eoc-ledger", "--data", "/d", "--x=1", "--quiet", "--n", "2"]),
                         {"data": "/d", "x": "1", "quiet": True, "n": "2"})


if __name__ == "__main__":
    unittest.main()
