"""Runs small programs under `python -m canceltrace --output FILE` and reads back the spans."""

import json
import os
import subprocess
import sys
import tempfile
import textwrap

PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_TIMEOUT_S = 30


def env_with_package(extra=None):
    """The environment with canceltrace importable and no OTLP endpoint inherited."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_") and not k.startswith("CANCELTRACE_")}
    env["PYTHONPATH"] = PACKAGE_ROOT
    env.update(extra or {})
    return env


def write_program(source):
    """Writes a dedented program to a temporary file and returns its path."""
    fd, path = tempfile.mkstemp(suffix=".py", prefix="ct_prog_")
    with os.fdopen(fd, "w") as f:
        f.write(textwrap.dedent(source))
    return path


def line_of(path, marker):
    """The 1-based line number of the first line containing `marker`."""
    with open(path) as f:
        for i, line in enumerate(f, 1):
            if marker in line:
                return i
    raise AssertionError("marker %r not in %s" % (marker, path))


def run_recorded(path, args=(), extra_flags=(), env=None, timeout=DEFAULT_TIMEOUT_S):
    """Runs a program under the recorder; returns (CompletedProcess, Dump)."""
    out = path + ".jsonl"
    if os.path.exists(out):
        os.remove(out)
    proc = subprocess.run([sys.executable, "-m", "canceltrace", "--output", out, "--service", "unit", *extra_flags,
                           path, *args], capture_output=True, text=True, env=env_with_package(env),
                          timeout=timeout)
    return proc, Dump.load(out)


def run_plain(path, args=(), timeout=DEFAULT_TIMEOUT_S):
    """Runs a program with plain python."""
    return subprocess.run([sys.executable, path, *args], capture_output=True, text=True,
                          env=env_with_package(), timeout=timeout)


def attrs_of(items):
    """OTLP attribute list → dict of plain values (intValue strings kept as strings)."""
    result = {}
    for kv in items:
        (kind, value), = kv["value"].items()
        result[kv["key"]] = value
    return result


class Dump:
    """The spans of an OTLP JSON lines file, with the rule the collector uses: a final record beats a snapshot."""

    def __init__(self, requests):
        self.requests = requests
        self.records = []  # (resource attrs, scope, span) in file order
        for req in requests:
            for rs in req["resourceSpans"]:
                resource = attrs_of(rs["resource"]["attributes"])
                for ss in rs["scopeSpans"]:
                    for span in ss["spans"]:
                        self.records.append((resource, ss["scope"], span))

    @classmethod
    def load(cls, path):
        if not os.path.exists(path):
            return cls([])
        with open(path) as f:
            return cls([json.loads(line) for line in f if line.strip()])

    def latest(self):
        """span id → (span, attrs) of the record that wins."""
        best = {}
        for _, _, span in self.records:
            a = attrs_of(span["attributes"])
            snap = a.get("task.snapshot") is True
            prev = best.get(span["spanId"])
            if prev is None or (prev[2] and not snap) or (prev[2] == snap and
                                                           int(span["endTimeUnixNano"]) >= int(prev[0]["endTimeUnixNano"])):
                best[span["spanId"]] = (span, a, snap)
        return {k: (v[0], v[1]) for k, v in best.items()}

    def tasks(self, name=None):
        """Winning task spans (optionally by task name) as (span, attrs)."""
        out = [v for v in self.latest().values() if "task.kind" in v[1]]
        return [v for v in out if name is None or v[1].get("task.name") == name]

    def task(self, name):
        found = self.tasks(name)
        if len(found) != 1:
            raise AssertionError("expected one task %r, found %d: %r" % (
                name, len(found), sorted(a.get("task.name") for _, a in self.tasks())))
        return found[0]

    def shutdowns(self):
        return [v for v in self.latest().values() if "shutdown.reason" in v[1]]


def events(span, name=None):
    """(name, attrs) of a span's events, optionally only those named `name`."""
    return [(e["name"], attrs_of(e.get("attributes", []))) for e in span["events"]
            if name is None or e["name"] == name]
