"""Overhead of the canceltrace recorder on asyncio workloads, plain vs recorded, in one run.

Each workload runs in a fresh process, alternating plain and recorded, REPEATS times; the best time of
each is compared. (a) create + finish 100,000 tasks (target <= 1.5x); (b) create + cancel + drain
10,000 tasks (target <= 3x; every cancelled task becomes a span, encoded on the exporter thread:
its time after the workload is shown as "export backlog").

usage: python3 bench/python-overhead/run.py [--repeats N]
"""
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPEATS = 5
WORKLOADS = [
    ("a", "create + finish", "finish", 100_000, 1.5),
    ("b", "create + cancel + drain", "cancel", 10_000, 3.0),
]


def run_once(kind, n, mode):
    out = subprocess.run([sys.executable, os.path.join(HERE, "workload.py"), kind, str(n), mode],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    repeats = REPEATS
    if "--repeats" in sys.argv:
        repeats = int(sys.argv[sys.argv.index("--repeats") + 1])
    failed = False
    print(f"python {sys.version.split()[0]}, best of {repeats} runs each")
    for label, title, kind, n, limit in WORKLOADS:
        plain, recorded, backlog = [], [], []
        for _ in range(repeats):
            plain.append(run_once(kind, n, "plain")["elapsed"])
            r = run_once(kind, n, "recorded")
            recorded.append(r["elapsed"])
            backlog.append(r["flush"])
        p, r = min(plain), min(recorded)
        ratio = r / p
        added_us = (r - p) / n * 1e6
        ok = ratio <= limit
        failed |= not ok
        print(f"({label}) {title} {n:,} tasks: plain {p * 1000:.1f} ms ({p / n * 1e6:.2f} us/task), "
              f"recorded {r * 1000:.1f} ms ({r / n * 1e6:.2f} us/task), ratio {ratio:.2f}x (limit {limit}x) "
              f"{'OK' if ok else 'OVER'}; adds {added_us:.2f} us/task; export backlog {min(backlog) * 1000:.0f} ms")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
