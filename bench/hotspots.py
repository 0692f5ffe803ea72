#!/usr/bin/env python3
"""Where the time of one ``bench/job.py`` run goes: py-spy samples bucketed by pipeline step.

    python bench/hotspots.py INPUT [--runner local|direct] [--workers N] [--filter where|lambda]
                            [--rate 100] [--raw FILE] [--top 15]

Needs ``py-spy`` (``pip install py-spy``). Each sample is charged to the leaf-most frame that
matches a bucket (time in C code is charged to the nearest Python frame: orjson.loads to the
JSONL reader loop, Parquet encoding to ``ParquetWriter.write_table``). With ``--runner direct``
the Beam worker processes are sampled too (``--subprocesses``). Prints the buckets, then the
hottest leaf lines.
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))

# (bucket, substrings of a py-spy frame "function (file:line)"); first match from the leaf wins.
BUCKETS = [
    ("imports / startup", ["_find_and_load", "exec_module", "_call_with_frames_removed"]),
    ("JSONL read + orjson parse", ["formats/jsonl.py"]),
    ("Parquet input read", ["formats/parquet.py", "parquet/core.py:ParquetFile", "iter_batches"]),
    ("Arrow → rows (to_pylist)", ["schema.py:to_pylist", "to_pylist"]),
    ("where() expression", ["transforms/expression.py"]),
    ("user filter / map functions", ["keep (job.py", "project (job.py", "first_value (job.py"]),
    ("stage machinery (RowMap/RowFilter, column stages)", ["transforms/"]),
    ("rows → Arrow (schema.from_pylist)", ["schema.py", "batch.py"]),
    ("Parquet write (encode + compress)", ["write_table", "sinks/parquet.py"]),
    ("sink bookkeeping (temp files, manifest, card)", ["sinks/"]),
    ("runner (local)", ["runners/local.py", "pipeline.py"]),
    ("Beam runner machinery", ["apache_beam", "runners/beam.py", "grpc"]),
]


# A sample whose leaf frame is one of these is a thread blocked, not work (py-spy cannot always tell).
WAITING = ["Condition.wait", "Event.wait", "channel_spin", "_serve (grpc", "_try_wait", "select (", "sleep"]


def bucket_of(frames: list[str]) -> str:
    if any(w in frames[-1] for w in WAITING):
        return "(waiting: blocked threads, gRPC polling)"
    for frame in reversed(frames):
        for name, needles in BUCKETS:
            if any(n in frame for n in needles):
                return name
    return "other"


def summarize(raw_path: str, top: int) -> None:
    buckets: collections.Counter = collections.Counter()
    leaves: collections.Counter = collections.Counter()
    processes: collections.Counter = collections.Counter()
    total = 0
    with open(raw_path) as f:
        for line in f:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            if not stack:
                continue
            n = int(count)
            frames = stack.split(";")
            total += n
            buckets[bucket_of(frames)] += n
            leaves[frames[-1]] += n
            owners = [f for f in frames if f.startswith("process ")]  # py-spy --subprocesses: root first
            if owners:
                pid, _, command = owners[-1].partition(":")
                processes[f"{pid} {command.strip(chr(34))[:90]}"] += n
    if not total:
        sys.exit("no samples")
    waiting = sum(n for name, n in buckets.items() if name.startswith("(waiting"))
    busy = max(1, total - waiting)
    print(f"samples: {total} ({waiting} waiting)")
    print("\n| bucket | share of all samples | share of working samples |\n|---|---:|---:|")
    for name, n in buckets.most_common():
        working = "-" if name.startswith("(waiting") else f"{n / busy * 100:.1f}%"
        print(f"| {name} | {n / total * 100:.1f}% | {working} |")
    if processes:
        print("\nsamples per process:")
        for proc, n in processes.most_common():
            print(f"  {n / total * 100:5.1f}%  {proc}")
    print(f"\nhottest leaf frames (top {top}):")
    for frame, n in leaves.most_common(top):
        print(f"  {n / total * 100:5.1f}%  {frame}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("input", nargs="?")
    ap.add_argument("--runner", choices=["local", "direct"], default="local")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--filter", choices=["where", "lambda"], default=None)
    ap.add_argument("--rate", type=int, default=100, help="samples per second")
    ap.add_argument("--raw", default=None, help="keep py-spy's raw (collapsed) output here")
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--summarize", metavar="RAW", default=None, help="only summarize an existing raw file")
    a = ap.parse_args()
    if a.summarize:
        summarize(a.summarize, a.top)
        return
    pyspy = shutil.which("py-spy") or os.path.join(os.path.dirname(sys.executable), "py-spy")
    if not os.path.exists(pyspy):
        sys.exit("py-spy not found: pip install py-spy")
    out = tempfile.mkdtemp(prefix="crucible-profile-")
    raw = a.raw or os.path.join(out, "profile.txt")
    job = [sys.executable, os.path.join(HERE, "job.py"), a.input, os.path.join(out, "out")]
    job += ["--runner", a.runner, "--workers", str(a.workers)]
    if a.filter:
        job += ["--filter", a.filter]
    cmd = [pyspy, "record", "-r", str(a.rate), "-f", "raw", "-o", raw]
    if a.runner == "direct":
        cmd.append("--subprocesses")
    try:
        subprocess.run([*cmd, "--", *job], check=True)
        summarize(raw, a.top)
    finally:
        shutil.rmtree(os.path.join(out, "out"), ignore_errors=True)
        if not a.raw:
            shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
