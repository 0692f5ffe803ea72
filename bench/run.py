#!/usr/bin/env python3
"""Benchmark: crucible-datasets next to its peers on one OpenThoughts3-shaped job.

The job (``bench/job.py``): keep ``score > 0.5 and difficulty >= 3``, map to ``id, source,
difficulty, prompt, response, n_chars``, write 4 Parquet shards. Every implementation runs as a
subprocess with the same input, in the same run, interleaved (the rep loop is outside the
implementation loop); the input is read once, untimed, before every run (warm page cache).

Per run: wall time, user+sys CPU and the largest single process' max RSS (``/usr/bin/time -v``
when it exists), and the peak summed RSS of the whole process tree (psutil, every 0.1 s).
Output checks: ``ROWS_WRITTEN`` must equal the expected count (computed from the input with
pyarrow, independently of every implementation); on the first rep of each implementation an
order-independent digest of the written files (rows, sum id, sum n_chars, sum prompt chars)
must equal every other implementation's.

Outputs (``--out-dir``, default ``bench/results``): ``results.jsonl`` (one JSON line per run),
``env.json`` (date, machine, versions), ``RESULTS.md`` (tables, targets, notes from
``notes.md`` if present), ``rows_per_s.png``; the headline table is also written into
``bench/README.md`` between its ``results`` markers.

    python bench/run.py                                     # everything, 3 reps (~20 min on 2 cores)
    python bench/run.py --sizes 100k --reps 1 --impls plain_orjson,local_where   # quick
    python bench/run.py --report-only                       # re-render from results.jsonl
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

import psutil

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
DEFAULT_SCRATCH = os.environ.get("BENCH_DATA", "/tmp/crucible-bench")
SHARED_BENCH = os.path.join(os.path.dirname(REPO), "shared", "bench")  # shared/ beside the repository
DEFAULT_PEERS = os.environ.get("BENCH_PEERS", os.path.join(SHARED_BENCH, "peers"))
HF_REQUIREMENTS = os.environ.get("BENCH_HF_REQUIREMENTS", os.path.join(SHARED_BENCH, "requirements-hf.txt"))
JOB = os.path.join(HERE, "job.py")
MP2 = ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]
README_START, README_END = "<!-- results:start -->", "<!-- results:end -->"


@dataclass(frozen=True)
class Impl:
    name: str
    label: str
    python: str  # "project": the project's venv; "hf": the separate HF venv
    argv: tuple[str, ...]  # after the interpreter; {in} {out} {peers} {tmp} are filled in
    fmt: str  # input format: "jsonl" | "parquet"
    group: str  # "crucible" | "peer"
    slow: bool = False


def _job(*extra: str) -> tuple[str, ...]:
    return ("{job}", "{in}", "{out}", *extra)


IMPLS = [
    Impl("plain_orjson", "plain loop (orjson+pyarrow, 1 proc)", "project",
         ("{peers}/plain_orjson.py", "{in}", "{out}"), "jsonl", "peer"),
    Impl("plain_orjson_mp2", "plain loop, 2 procs", "project",
         ("{peers}/plain_orjson_mp.py", "{in}", "{out}", "--procs", "2"), "jsonl", "peer"),
    Impl("naive_beam", "naive Beam (DirectRunner in_memory)", "project",
         ("{peers}/naive_beam.py", "{in}", "{out}", "--direct_running_mode=in_memory"), "jsonl", "peer",
         True),
    Impl("hf_streaming", "HF datasets streaming", "hf",
         ("{peers}/hf_datasets.py", "{in}", "{out}", "--mode", "streaming"), "jsonl", "peer", True),
    Impl("duckdb", "DuckDB (2 threads)", "project",
         ("{peers}/duckdb_peer.py", "{in}", "{out}", "--threads", "2"), "jsonl", "peer"),
    Impl("duckdb_parquet", "DuckDB (2 threads), Parquet input", "project",
         ("{peers}/duckdb_peer.py", "{in}", "{out}", "--threads", "2"), "parquet", "peer"),
    Impl("polars", "Polars streaming", "project",
         ("{peers}/polars_peer.py", "{in}", "{out}"), "jsonl", "peer"),
    Impl("polars_parquet", "Polars streaming, Parquet input", "project",
         ("{peers}/polars_peer.py", "{in}", "{out}"), "parquet", "peer"),
    Impl("datatrove", "datatrove (LocalPipelineExecutor, 1 task)", "hf",
         ("{peers}/datatrove_peer.py", "{in}", "{out}", "--logging-dir", "{tmp}/dt-logs"), "jsonl", "peer",
         True),
    Impl("local_sql", "crucible local, declarative: .where() + .sql()", "project",
         _job("--runner", "local", "--filter", "sql"), "jsonl", "crucible"),
    Impl("local_expr", "crucible local, declarative: .where() + .with_columns()", "project",
         _job("--runner", "local", "--filter", "expr"), "jsonl", "crucible"),
    Impl("direct2_sql", "crucible direct 2 workers, declarative: .where() + .sql()", "project",
         _job("--runner", "direct", "--workers", "2", "--filter", "sql"), "jsonl", "crucible"),
    Impl("local_where", "crucible local, .where()", "project",
         _job("--runner", "local", "--filter", "where"), "jsonl", "crucible"),
    Impl("local_lambda", "crucible local, .filter(lambda)", "project",
         _job("--runner", "local", "--filter", "lambda"), "jsonl", "crucible"),
    Impl("direct1", "crucible direct, 1 worker, .filter(lambda)", "project",
         _job("--runner", "direct", "--workers", "1", "--filter", "lambda"), "jsonl", "crucible"),
    Impl("direct2", "crucible direct, 2 workers (multi_processing), .filter(lambda)", "project",
         _job("--runner", "direct", "--workers", "2", "--filter", "lambda"), "jsonl", "crucible"),
    Impl("local_parquet_where", "crucible local, Parquet input, .where()", "project",
         _job("--runner", "local", "--filter", "where"), "parquet", "crucible"),
    Impl("local_parquet_lambda", "crucible local, Parquet input, .filter(lambda)", "project",
         _job("--runner", "local", "--filter", "lambda"), "parquet", "crucible"),
    Impl("direct2_parquet", "crucible direct 2 workers, Parquet input, .where()", "project",
         _job("--runner", "direct", "--workers", "2", "--filter", "where"), "parquet", "crucible"),
    Impl("local_parquet_sql", "crucible local, Parquet input, declarative: .where() + .sql()", "project",
         _job("--runner", "local", "--filter", "sql"), "parquet", "crucible"),
    Impl("local_parquet_expr", "crucible local, Parquet input, declarative: .where() + .with_columns()",
         "project", _job("--runner", "local", "--filter", "expr"), "parquet", "crucible"),
]  # fmt: skip
BY_NAME = {i.name: i for i in IMPLS}
REFERENCE = "plain_orjson"
# Targets of the issue at the largest size: (impl, max wall ratio vs the plain loop).
TARGET_LOCAL = "local_lambda"  # job.py's default; the report uses the faster of local_where / local_lambda
TARGETS = [(TARGET_LOCAL, 1.0), ("direct2", 0.6)]  # issue 13 (the Beam issue had 1.2 and 1.0)
# Targets against a peer (issue 13): (impl, peer, max wall ratio), at the largest size.
PEER_TARGETS = [
    ("local_sql", "duckdb", 1.0),
    ("local_expr", "duckdb", 1.0),
    ("local_parquet_sql", "duckdb_parquet", 1.0),
    ("local_parquet_expr", "duckdb_parquet", 1.0),
]
TARGET_MEMORY_RATIO = 1.25


# -- sizes and inputs --------------------------------------------------------------------------


def parse_size(text: str) -> int:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([kKmM]?)", text.strip())
    if not m:
        raise argparse.ArgumentTypeError(f"bad size {text!r} (e.g. 100k, 1.2M, 5000)")
    mult = {"": 1, "k": 1_000, "m": 1_000_000}[m.group(2).lower()]
    return int(round(float(m.group(1)) * mult))


def size_label(rows: int) -> str:
    """File-name label: 100000 -> "100k", 1200000 -> "1200k"."""
    return f"{rows // 1000}k" if rows % 1000 == 0 and rows >= 1000 else str(rows)


def size_title(rows: int) -> str:
    if rows >= 1_000_000:
        return f"{rows / 1e6:g}M"
    return f"{rows / 1e3:g}k" if rows >= 1000 else str(rows)


def input_path(data_dir: str, rows: int, fmt: str) -> str:
    return os.path.join(data_dir, f"ot_{size_label(rows)}.{fmt}")


def ensure_inputs(data_dir: str, rows: int, seed: int, python: str) -> dict:
    """Generate JSONL and Parquet with ``python -m crucible_datasets.synthetic`` unless present."""
    os.makedirs(data_dir, exist_ok=True)
    for fmt in ("jsonl", "parquet"):
        path = input_path(data_dir, rows, fmt)
        if os.path.exists(path):
            continue
        print(f"generating {path} ...", flush=True)
        t0 = time.perf_counter()
        tmp = path + ".tmp"
        subprocess.run(
            [python, "-m", "crucible_datasets.synthetic", "--rows", str(rows), "--out", tmp,
             "--format", fmt, "--seed", str(seed)],
            check=True, cwd=REPO,
        )  # fmt: skip
        os.replace(tmp, path)
        print(f"  {os.path.getsize(path) / 1e6:.0f} MB in {time.perf_counter() - t0:.0f} s", flush=True)
    meta_path = os.path.join(data_dir, f"ot_{size_label(rows)}.meta.json")
    if os.path.exists(meta_path):
        meta = json.load(open(meta_path))
        if meta.get("rows") == rows and meta.get("seed") == seed:
            return meta
    meta = describe_inputs(data_dir, rows, seed)
    with open(meta_path, "w") as f:
        json.dump(meta, f, indent=1)
    return meta


def describe_inputs(data_dir: str, rows: int, seed: int) -> dict:
    """Expected output rows, computed from the Parquet copy with pyarrow (no implementation's code)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    pq_path, jl_path = input_path(data_dir, rows, "parquet"), input_path(data_dir, rows, "jsonl")
    t = pq.read_table(pq_path, columns=["score", "difficulty"])
    keep = pc.and_(pc.greater(t["score"], 0.5), pc.greater_equal(t["difficulty"], 3))
    lines = 0
    with open(jl_path, "rb") as f:
        while chunk := f.read(16 << 20):
            lines += chunk.count(b"\n")
    if t.num_rows != rows or lines != rows:
        sys.exit(f"inputs for {rows} rows hold {t.num_rows} Parquet rows and {lines} JSONL lines")
    return {
        "rows": rows, "seed": seed, "expected_rows_out": pc.sum(keep).as_py(),
        "bytes": {"jsonl": os.path.getsize(jl_path), "parquet": os.path.getsize(pq_path)},
    }  # fmt: skip


# -- measuring one run -------------------------------------------------------------------------


class TreeRSS(threading.Thread):
    """Peak summed RSS of a process and all its descendants, sampled every ``period`` s."""

    def __init__(self, pid: int, period: float = 0.1, kill_above_mb: float | None = None) -> None:
        super().__init__(daemon=True)
        self.pid, self.period = pid, period
        self.peak = 0
        self.max_procs = 0
        self.cpu: dict[int, float] = {}  # pid -> user+sys CPU seconds last seen
        self.kill_above = kill_above_mb * 2**20 if kill_above_mb else None
        self.killed = False
        self.stop = threading.Event()

    def run(self) -> None:
        try:
            root = psutil.Process(self.pid)
        except psutil.Error:
            return
        while not self.stop.is_set():
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.Error:
                break
            total = n = 0
            for p in procs:
                try:
                    total += p.memory_info().rss
                    t = p.cpu_times()
                    self.cpu[p.pid] = t.user + t.system
                    n += 1
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)
            self.max_procs = max(self.max_procs, n)
            if self.kill_above and total > self.kill_above and not self.killed:
                self.killed = True
                try:
                    os.killpg(self.pid, 9)
                except OSError:
                    pass
            self.stop.wait(self.period)


TIME_FIELDS = {
    "User time (seconds)": "user_s",
    "System time (seconds)": "sys_s",
    "Maximum resident set size (kbytes)": "maxrss_kb",
}


def parse_time_v(text: str) -> dict:
    out = {}
    for line in text.splitlines():
        key, _, value = line.strip().rpartition(": ")
        if key in TIME_FIELDS:
            out[TIME_FIELDS[key]] = (
                float(value) if key != "Maximum resident set size (kbytes)" else int(value)
            )
    return out


def output_digest(outdir: str) -> dict:
    """Order-independent digest of the written rows (untimed)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    files = sorted(
        os.path.join(r, f)
        for r, _, fs in os.walk(outdir)
        for f in fs
        if f.endswith(".parquet") and "_errors" not in r
    )
    n = s_id = s_nchars = s_plen = 0
    for f in files:
        t = pq.read_table(f, columns=["id", "n_chars", "prompt"])
        n += t.num_rows
        s_id += pc.sum(t["id"]).as_py() or 0
        s_nchars += pc.sum(t["n_chars"]).as_py() or 0
        s_plen += pc.sum(pc.utf8_length(t["prompt"])).as_py() or 0
    return {
        "files": len(files),
        "rows": n,
        "sum_id": s_id,
        "sum_n_chars": s_nchars,
        "sum_prompt_chars": s_plen,
    }


def run_once(
    impl: Impl, cmd: list[str], work: str, timeout: float, max_rss_mb: float, extra_env: dict | None = None
) -> dict:
    tfile = os.path.join(work, "time.txt")
    if os.path.exists(tfile):
        os.remove(tfile)
    gnu_time = shutil.which("time") if os.path.exists("/usr/bin/time") else None
    full = (["/usr/bin/time", "-v", "-o", tfile] if gnu_time else []) + cmd
    env = dict(
        os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", PYTHONUNBUFFERED="1", **(extra_env or {})
    )
    cpu0 = psutil.cpu_times()
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        full,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
        start_new_session=True,
        cwd=work,  # not the repository: `python -m` workers would import the live tree from cwd
    )
    sampler = TreeRSS(proc.pid, kill_above_mb=max_rss_mb)
    sampler.start()
    try:
        so, se = proc.communicate(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        so, se = proc.communicate()
        timed_out = True
    wall = time.perf_counter() - t0
    cpu1 = psutil.cpu_times()
    sampler.stop.set()
    sampler.join()
    tv = parse_time_v(open(tfile).read()) if gnu_time and os.path.exists(tfile) else {}
    own = max(tv.get("user_s", 0) + tv.get("sys_s", 0), sum(sampler.cpu.values()))
    busy = _busy(cpu1) - _busy(cpu0)
    steal = getattr(cpu1, "steal", 0) - getattr(cpu0, "steal", 0)
    found = re.findall(r"ROWS_WRITTEN=(\d+)", so or "")
    origin = re.findall(r"CRUCIBLE_FROM=(.+)", so or "")
    bytes_read = re.findall(r"BYTES_READ=(\d+)", so or "")
    return {
        "bytes_read": int(bytes_read[-1]) if bytes_read else None,
        "wall_s": round(wall, 3), "rc": proc.returncode, "timed_out": timed_out,
        "rows_out": int(found[-1]) if found else None, "crucible_from": origin[-1] if origin else None,
        "tree_peak_rss_mb": round(sampler.peak / 2**20, 1), "max_procs": sampler.max_procs,
        "killed_for_memory": sampler.killed, **tv, "own_cpu_s": round(own, 2),
        "other_cores": round(max(0.0, busy - own) / wall, 2), "steal_cores": round(steal / wall, 2),
        "stderr_tail": (se or "")[-3000:],
    }  # fmt: skip


def _busy(t) -> float:
    """CPU seconds the whole machine spent busy (not idle, iowait or stolen by the hypervisor)."""
    not_busy = ("idle", "iowait", "steal", "guest", "guest_nice")  # guest time is already in user
    return sum(t) - sum(getattr(t, name, 0) for name in not_busy)


def wait_for_idle(max_wait: float, threshold_pct: float) -> tuple[float, float]:
    """Wait (up to ``max_wait`` s) until the machine's CPU use over 1 s is below ``threshold_pct``.

    The machine may be shared; this keeps other work out of the timed runs where it can, and
    the records say how busy the machine was before (``pre_cpu_pct``) and during each run.
    """
    t0 = time.perf_counter()
    pct = psutil.cpu_percent(interval=1.0)
    while pct > threshold_pct and time.perf_counter() - t0 < max_wait:
        pct = psutil.cpu_percent(interval=1.0)
    return round(time.perf_counter() - t0, 1), pct


# -- environment -------------------------------------------------------------------------------

VERSIONS = r"""
import sys, json, importlib.metadata as md
out = {"python": sys.version.split()[0]}
for d in sys.argv[1:]:
    try:
        out[d] = md.version(d)
    except Exception:
        out[d] = "n/a"
print(json.dumps(out))
"""


def versions(python: str, dists: list[str]) -> dict:
    try:
        r = subprocess.run([python, "-c", VERSIONS, *dists], capture_output=True, text=True, timeout=120)
        return json.loads(r.stdout.strip().splitlines()[-1])
    except Exception as exc:  # noqa: BLE001 - reported, not fatal
        return {"error": str(exc)}


def machine() -> dict:
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "nproc": os.cpu_count(), "cpu": cpu, "mem_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "kernel": f"{platform.system()} {platform.release()}",
    }  # fmt: skip


def source_fingerprint(root: str = REPO, job: str = JOB) -> str:
    """sha256 (12 hex) of every file of ``root/crucible_datasets`` and of job.py: the code measured."""
    import hashlib

    h = hashlib.sha256()
    pkg = os.path.join(root, "crucible_datasets")
    files = sorted(
        os.path.join(r, f)
        for r, _, fs in os.walk(pkg)
        if "__pycache__" not in r
        for f in fs
        if not f.endswith(".pyc")
    )
    for path in files:
        h.update(os.path.relpath(path, root).encode())
        with open(path, "rb") as f:
            h.update(f.read())
    with open(job, "rb") as f:
        h.update(b"job.py" + f.read())
    return h.hexdigest()[:12]


def snapshot_source(scratch: str) -> tuple[str, str]:
    """Copy the package and job.py to ``scratch/src/<fingerprint>``: every run measures that code.

    The project may be edited while the benchmark runs; the runs import the copy (PYTHONPATH,
    ahead of the editable install), so all of them measure one version of the code.
    """
    for _ in range(5):
        fingerprint = source_fingerprint()
        dest = os.path.join(scratch, "src", fingerprint)
        if not os.path.exists(dest):
            tmp = dest + ".tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.copytree(os.path.join(REPO, "crucible_datasets"), os.path.join(tmp, "crucible_datasets"),
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))  # fmt: skip
            shutil.copy2(JOB, os.path.join(tmp, "job.py"))
            if source_fingerprint(tmp, os.path.join(tmp, "job.py")) != fingerprint:
                shutil.rmtree(tmp)  # edited while copying: try again
                time.sleep(2)
                continue
            os.replace(tmp, dest)
        return dest, fingerprint
    sys.exit("the source kept changing while it was copied; pass --no-snapshot to run the live tree")


def git_head() -> str:
    r = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain"], capture_output=True, text=True)
    return r.stdout.strip() + (" + uncommitted changes" if dirty.stdout.strip() else "")


# -- report ------------------------------------------------------------------------------------


def median(xs: list) -> float | None:
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fnum(x: float | None, nd: int = 2) -> str:
    return "-" if x is None else f"{x:,.{nd}f}"


def load_results(path: str) -> list[dict]:
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def summarize(records: list[dict]) -> dict[tuple[int, str], dict]:
    """Per (rows, impl): medians over the successful reps."""
    groups: dict[tuple[int, str], list[dict]] = {}
    for r in records:
        groups.setdefault((r["rows_in"], r["impl"]), []).append(r)
    out = {}
    for key, recs in groups.items():
        ok = [r for r in recs if r["ok"]]
        walls = [r["wall_s"] for r in ok]
        cpu = [r["own_cpu_s"] / r["wall_s"] * 100 for r in ok if r.get("own_cpu_s") is not None]
        out[key] = {
            "impl": key[1], "rows": key[0], "format": recs[0]["format"], "n": len(recs), "n_ok": len(ok),
            "wall": median(walls), "wall_min": min(walls) if walls else None,
            "wall_max": max(walls) if walls else None,
            "tree_rss": median([r["tree_peak_rss_mb"] for r in ok]),
            "proc_rss": median([r["maxrss_kb"] / 1024 for r in ok if "maxrss_kb" in r]),
            "cpu_pct": median(cpu),
            "cpu_s": median([r.get("own_cpu_s") for r in ok]),
            "other": median([r.get("other_cores") for r in ok]),
            "rows_out": ok[0]["rows_out"] if ok else None,
            "digest": next((r["digest"] for r in recs if r.get("digest")), None),
            "error": None if ok else _error_line(recs[-1]),
        }  # fmt: skip
    return out


def _error_line(rec: dict) -> str:
    if rec.get("skipped"):
        return rec["skipped"]
    if rec.get("timed_out"):
        return "timed out"
    if rec.get("killed_for_memory"):
        return "killed by the memory guard"
    tail = [ln for ln in (rec.get("stderr_tail") or "").splitlines() if ln.strip()]
    return (tail[-1] if tail else f"exit code {rec.get('rc')}, rows {rec.get('rows_out')}")[:200]


def ordered_impls(summary: dict) -> list[str]:
    present = {k[1] for k in summary}
    return [i.name for i in IMPLS if i.name in present] + sorted(present - set(BY_NAME))


def size_table(summary: dict, rows: int) -> list[str]:
    ref = summary.get((rows, REFERENCE), {}).get("wall")
    lines = [
        "| implementation | input | rows out | wall s, median [min–max] | rows/s | CPU s | CPU % | "
        "peak RSS MB (tree) | max RSS MB (1 proc) | × plain loop | other load (cores) | ok |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in ordered_impls(summary):
        s = summary.get((rows, name))
        if s is None:
            continue
        label = BY_NAME[name].label if name in BY_NAME else name
        if s["wall"] is None:
            cells = ["-"] * 9
            lines.append(f"| {label} (`{name}`) | {s['format']} | failed: {s['error']} | "
                         f"{' | '.join(cells)} | {s['n_ok']}/{s['n']} |")  # fmt: skip
            continue
        rate = rows / s["wall"]
        ratio = s["wall"] / ref if ref else None
        lines.append(
            f"| {label} (`{name}`) | {s['format']} | {s['rows_out']:,} | {s['wall']:.2f} "
            f"[{s['wall_min']:.2f}–{s['wall_max']:.2f}] | {rate:,.0f} | {fnum(s['cpu_s'], 1)} | "
            f"{fnum(s['cpu_pct'], 0)} | "
            f"{fnum(s['tree_rss'], 0)} | {fnum(s['proc_rss'], 0)} | {fnum(ratio)} | {fnum(s['other'])} | "
            f"{s['n_ok']}/{s['n']} |"
        )
    return lines


def memory_table(summary: dict, small: int, large: int) -> list[str]:
    lines = [
        f"| implementation | peak RSS MB at {size_title(small)} | at {size_title(large)} | ratio |",
        "|---|---:|---:|---:|",
    ]
    for name in ordered_impls(summary):
        a, b = summary.get((small, name), {}), summary.get((large, name), {})
        if a.get("tree_rss") and b.get("tree_rss"):
            ratio = b["tree_rss"] / a["tree_rss"]
            lines.append(f"| `{name}` | {a['tree_rss']:,.0f} | {b['tree_rss']:,.0f} | {ratio:.2f} |")
    return lines


def digest_lines(summary: dict, rows: int, expected: int | None) -> list[str]:
    digests = {name: s["digest"] for (n, name), s in summary.items() if n == rows and s["digest"]}
    counts = {
        name: s["rows_out"] for (n, name), s in summary.items() if n == rows and s["rows_out"] is not None
    }
    if not digests:
        return []
    keyed: dict[str, list[str]] = {}
    for name, d in digests.items():
        k = json.dumps({k: v for k, v in d.items() if k != "files"}, sort_keys=True)
        keyed.setdefault(k, []).append(name)
    count_ok = expected is not None and all(c == expected for c in counts.values())
    if len(keyed) == 1:
        d = next(iter(digests.values()))
        return [
            f"- {size_title(rows)}: all {len(digests)} implementations wrote the same rows: "
            f"{d['rows']:,} rows, "
            f"Σid {d['sum_id']:,}, Σn_chars {d['sum_n_chars']:,}, Σprompt chars {d['sum_prompt_chars']:,}"
            + (f"; every run's ROWS_WRITTEN = expected {expected:,}" if count_ok else "")
        ]
    out = [f"- {size_title(rows)}: **digests differ**:"]
    out += [f"  - {', '.join(names)}: `{k}`" for k, names in keyed.items()]
    return out


def target_lines(summary: dict, sizes: list[int]) -> list[str]:
    if not sizes:
        return []
    large = max(sizes)
    small = min(sizes)
    ref = summary.get((large, REFERENCE), {}).get("wall")
    out = []
    local = [n for n in ("local_where", "local_lambda") if summary.get((large, n), {}).get("wall")]
    targets = list(TARGETS)
    if local:
        fastest = min(local, key=lambda n: summary[(large, n)]["wall"])
        targets = [(fastest if name == TARGET_LOCAL else name, limit) for name, limit in targets]
    for name, limit in targets:
        w = summary.get((large, name), {}).get("wall")
        if ref and w:
            r = w / ref
            verdict = "**met**" if r <= limit else "**not met**"
            out.append(f"- `{name}` wall ≤ {limit}× plain loop at {size_title(large)}: {r:.2f}× "
                       f"({w:.2f} s vs {ref:.2f} s) — {verdict}")  # fmt: skip
        else:
            out.append(f"- `{name}` wall ≤ {limit}× plain loop at {size_title(large)}: not measured")
    for name, peer, limit in PEER_TARGETS:
        w, p = (summary.get((large, n), {}).get("wall") for n in (name, peer))
        if w and p:
            verdict = "**met**" if w / p <= limit else "**not met**"
            out.append(f"- `{name}` wall ≤ {limit}× `{peer}` at {size_title(large)}: {w / p:.2f}× "
                       f"({w:.2f} s vs {p:.2f} s) — {verdict}")  # fmt: skip
        else:
            out.append(f"- `{name}` wall ≤ {limit}× `{peer}` at {size_title(large)}: not measured")
    if small != large:
        for name in [i.name for i in IMPLS if i.group == "crucible"]:
            a, b = summary.get((small, name), {}), summary.get((large, name), {})
            if a.get("tree_rss") and b.get("tree_rss"):
                r = b["tree_rss"] / a["tree_rss"]
                verdict = "**met**" if r <= TARGET_MEMORY_RATIO else "**not met**"
                out.append(
                    f"- `{name}` peak RSS {size_title(large)}/{size_title(small)} ≤ {TARGET_MEMORY_RATIO}: "
                    f"{r:.2f} "
                    f"({a['tree_rss']:,.0f} → {b['tree_rss']:,.0f} MB) — {verdict}"
                )
    return out


def render(out_dir: str) -> str:
    records = load_results(os.path.join(out_dir, "results.jsonl"))
    env = (
        json.load(open(os.path.join(out_dir, "env.json")))
        if os.path.exists(os.path.join(out_dir, "env.json"))
        else {}
    )
    summary = summarize(records)
    sizes = sorted({k[0] for k in summary})
    expected = {r["rows_in"]: r.get("expected_rows_out") for r in records}
    m = env.get("machine", {})
    ts = [r["ts"] for r in records]
    head = [
        "# crucible-datasets benchmark: OpenThoughts3-shaped JSONL/Parquet → filter → map → 4 Parquet shards",
        "",
        f"- date: {env.get('date', '?')}" + (f" (runs {min(ts)} to {max(ts)})" if ts else ""),
        f"- machine: {m.get('nproc', '?')} cores ({m.get('cpu', '?')}), {m.get('mem_gib', '?')} GiB RAM, "
        f"{m.get('kernel', '?')}",
        f"- project: crucible-datasets {env.get('git', '?')} "
        f"(source sha256 {env.get('source_sha256', '?')}); "
        f"venv {json.dumps(env.get('project_versions', {}))}",
        f"- HF venv: {json.dumps(env.get('hf_versions')) if env.get('hf_versions') else 'not used'}",
        f"- reps: {env.get('reps', '?')} (slow peers: {env.get('reps_slow', '?')}), interleaved; "
        "median wall, [min–max]; warm page cache; inputs from `python -m crucible_datasets.synthetic` (seed "
        f"{env.get('seed', 0)})",
        "- rows/s = input rows / median wall; CPU s = user+sys of the process tree (max of "
        "`/usr/bin/time` and the psutil samples); CPU % = CPU s / wall (200 % = both cores); "
        "peak RSS (tree) = peak of the summed RSS of the process tree (psutil, 0.1 s); "
        "max RSS (1 proc) = `/usr/bin/time -v` (largest single process); "
        "× plain loop = wall / `plain_orjson` wall at the same size; other load = CPU used by other "
        "processes on the machine during the run (busy CPU-s minus the run's own, / wall; median)",
        "",
        "## Targets (from the issue)",
        "",
        *target_lines(summary, sizes),
        "",
    ]
    body = []
    for rows in sizes:
        ex = expected.get(rows)
        body += [f"## {size_title(rows)} rows" + (f" (expected output rows: {ex:,})" if ex else ""), ""]
        body += size_table(summary, rows) + [""]
    if len(sizes) >= 2:
        body += [
            f"## Memory scaling ({size_title(sizes[-1])} / {size_title(sizes[0])}, peak RSS of the tree)",
            "",
        ]
        body += memory_table(summary, sizes[0], sizes[-1]) + [""]
    body += ["## Output agreement", ""]
    for rows in sizes:
        body += digest_lines(summary, rows, expected.get(rows))
    fingerprints = sorted({r.get("source_sha256") for r in records if r.get("source_sha256")})
    if len(fingerprints) > 1:
        body += ["", "**The project's source changed during the run** (fingerprints: "
                 f"{', '.join(fingerprints)}); see `source_sha256` in results.jsonl.", ""]  # fmt: skip
    elif fingerprints:
        body += ["", f"Every run measured the same source (sha256 {fingerprints[0]})."]
    failed = [s for s in summary.values() if s["n_ok"] < s["n"]]
    if failed:
        body += ["", "## Failed or skipped runs", ""]
        body += [f"- `{s['impl']}` at {size_title(s['rows'])}: {s['n'] - s['n_ok']}/{s['n']} — {s['error']}"
                 for s in failed]  # fmt: skip
    if env.get("notes"):
        body += ["", "## Notes", "", *env["notes"]]
    notes_path = os.path.join(out_dir, "notes.md")
    if os.path.exists(notes_path):
        body += ["", open(notes_path).read().rstrip()]
    body += ["", "![rows/s per implementation](rows_per_s.png)", ""]
    return "\n".join(head + body)


def headline(out_dir: str) -> str:
    """The tables and targets for bench/README.md, with date and machine."""
    records = load_results(os.path.join(out_dir, "results.jsonl"))
    env = (
        json.load(open(os.path.join(out_dir, "env.json")))
        if os.path.exists(os.path.join(out_dir, "env.json"))
        else {}
    )
    summary = summarize(records)
    sizes = sorted({k[0] for k in summary})
    if not sizes:
        return "(no results yet)"
    m = env.get("machine", {})
    rel = os.path.relpath(out_dir, HERE)
    lines = [
        f"Measured {env.get('date', '?')} on {m.get('nproc', '?')} cores ({m.get('cpu', '?')}), "
        f"{m.get('mem_gib', '?')} GiB RAM; {env.get('reps', '?')} reps, medians. Full tables: "
        f"[{rel}/RESULTS.md]({rel}/RESULTS.md); findings and hot spots: [{rel}/notes.md]({rel}/notes.md).",
        "",
    ]
    for rows in sizes:
        lines += [f"**{size_title(rows)} rows**", "", *size_table(summary, rows), ""]
    lines += [
        "Targets:",
        "",
        *target_lines(summary, sizes),
        "",
        f"![rows/s per implementation]({rel}/rows_per_s.png)",
    ]
    return "\n".join(lines)


def plot(out_dir: str) -> str | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no plot (pip install matplotlib)", file=sys.stderr)
        return None
    summary = summarize(load_results(os.path.join(out_dir, "results.jsonl")))
    sizes = sorted({k[0] for k in summary})
    names = [n for n in ordered_impls(summary) if any(summary.get((s, n), {}).get("wall") for s in sizes)]
    if not names:
        return None
    fig, ax = plt.subplots(figsize=(8, 0.42 * len(names) * max(1, len(sizes)) + 1.2), dpi=90)
    height = 0.8 / max(1, len(sizes))
    colors = ["#9ecae1", "#3182bd", "#08519c"]
    for j, rows in enumerate(sizes):
        ys, xs = [], []
        for i, n in enumerate(names):
            w = summary.get((rows, n), {}).get("wall")
            if w:
                ys.append(i + j * height)
                xs.append(rows / w)
        bars = ax.barh(ys, xs, height=height, color=colors[j % len(colors)], label=f"{size_title(rows)} rows")
        ax.bar_label(bars, labels=[f"{x / 1000:.0f}k" for x in xs], padding=2, fontsize=7)
    ax.set_yticks([i + height * (len(sizes) - 1) / 2 for i in range(len(names))])
    ax.set_yticklabels([n for n in names], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("input rows/s (median wall; higher is better)")
    env_path = os.path.join(out_dir, "env.json")
    env = json.load(open(env_path)) if os.path.exists(env_path) else {}
    m = env.get("machine", {})
    ax.set_title(f"filter → map → 4 Parquet shards, {m.get('nproc', '?')} cores, {env.get('date', '')[:10]}",
                 fontsize=9)  # fmt: skip
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    path = os.path.join(out_dir, "rows_per_s.png")
    fig.savefig(path)
    plt.close(fig)
    return path


def write_reports(out_dir: str) -> None:
    path = plot(out_dir)
    with open(os.path.join(out_dir, "RESULTS.md"), "w") as f:
        f.write(render(out_dir))
    readme = os.path.join(HERE, "README.md")
    if os.path.abspath(out_dir) == os.path.join(HERE, "results") and os.path.exists(readme):
        text = open(readme).read()
        if README_START in text and README_END in text:
            pre, rest = text.split(README_START, 1)
            _, post = rest.split(README_END, 1)
            with open(readme, "w") as f:
                f.write(f"{pre}{README_START}\n{headline(out_dir)}\n{README_END}{post}")
    print(f"wrote {os.path.join(out_dir, 'RESULTS.md')}" + (f" and {path}" if path else ""))


# -- main --------------------------------------------------------------------------------------


def default_hf_python(scratch: str) -> str | None:
    if os.environ.get("BENCH_HF_PYTHON"):
        return os.environ["BENCH_HF_PYTHON"]
    candidate = os.path.join(scratch, "hf-venv", "bin", "python")
    return candidate if os.path.exists(candidate) else None


def make_hf_venv(scratch: str) -> str:
    venv = os.path.join(scratch, "hf-venv")
    py = os.path.join(venv, "bin", "python")
    if not os.path.exists(py):
        base = shutil.which("python3.11") or sys.executable
        subprocess.run([base, "-m", "venv", venv], check=True)
    subprocess.run([py, "-m", "pip", "install", "--quiet", "-r", HF_REQUIREMENTS], check=True)
    return py


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="100k,1.2M", help="comma list of row counts (100k, 1.2M, 5000)")
    ap.add_argument("--impls", default="all", help=f"comma list or 'all': {', '.join(BY_NAME)}")
    ap.add_argument("--skip", default="", help="comma list of implementations to leave out")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--reps-slow", type=int, default=None, help="reps for naive_beam and hf_streaming")
    ap.add_argument("--skip-slow-above", type=parse_size, default=None,
                    help="leave naive_beam and hf_streaming out at sizes above this")  # fmt: skip
    ap.add_argument("--scratch", default=DEFAULT_SCRATCH, help="inputs and work files ($BENCH_DATA)")
    ap.add_argument("--out-dir", default=os.path.join(HERE, "results"))
    ap.add_argument("--append", action="store_true", help="add to results.jsonl instead of starting afresh")
    ap.add_argument("--report-only", action="store_true")
    ap.add_argument("--python", default=sys.executable, help="the project's interpreter (its venv)")
    ap.add_argument("--hf-python", default=None, help="interpreter with `datasets` (a venv outside the repo)")
    ap.add_argument("--make-hf-venv", action="store_true",
                    help="create SCRATCH/hf-venv from the peers' requirements-hf.txt")  # fmt: skip
    ap.add_argument("--peers", default=DEFAULT_PEERS, help="folder with the peer scripts ($BENCH_PEERS)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-snapshot", action="store_true",
                    help="run the live source tree instead of a copy taken at the start")  # fmt: skip
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument(
        "--wait-idle",
        type=float,
        default=60,
        help="before each run wait up to this many s for the machine to be idle (0: never)",
    )
    ap.add_argument("--idle-pct", type=float, default=15, help="'idle' = CPU use over 1 s below this %%")
    ap.add_argument("--max-rss-mb", type=float, default=psutil.virtual_memory().total / 2**20 * 0.7)
    a = ap.parse_args()

    os.makedirs(a.out_dir, exist_ok=True)
    if a.report_only:
        write_reports(a.out_dir)
        return
    sizes = [parse_size(s) for s in a.sizes.split(",") if s.strip()]
    names = list(BY_NAME) if a.impls == "all" else [n.strip() for n in a.impls.split(",") if n.strip()]
    names = [n for n in names if n not in set(a.skip.split(","))]
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        sys.exit(f"unknown implementation(s) {unknown}; known: {', '.join(BY_NAME)}")
    reps_slow = a.reps if a.reps_slow is None else a.reps_slow
    hf_python = make_hf_venv(a.scratch) if a.make_hf_venv else (a.hf_python or default_hf_python(a.scratch))
    notes = []
    if any(BY_NAME[n].python == "hf" for n in names) and not hf_python:
        notes.append("- HF datasets streaming skipped: no interpreter with `datasets` (pass --hf-python, set "
                     "BENCH_HF_PYTHON, or --make-hf-venv).")  # fmt: skip
        print(notes[-1], file=sys.stderr)
        names = [n for n in names if BY_NAME[n].python != "hf"]
    if not os.path.isdir(a.peers):
        notes.append(f"- peers skipped: no folder {a.peers} (pass --peers or set BENCH_PEERS).")
        print(notes[-1], file=sys.stderr)
        names = [n for n in names if BY_NAME[n].group != "peer"]
    if a.skip_slow_above:
        notes.append(
            f"- naive_beam and hf_streaming were not run above {size_title(a.skip_slow_above)} rows."
        )
    if reps_slow != a.reps:
        notes.append(f"- naive_beam and hf_streaming: {reps_slow} rep(s) per size (others: {a.reps}).")

    data_dir = a.scratch
    work = os.path.join(a.scratch, "work")
    os.makedirs(work, exist_ok=True)
    metas = {rows: ensure_inputs(data_dir, rows, a.seed, a.python) for rows in sizes}

    if a.no_snapshot:
        src_dir, fingerprint = None, source_fingerprint()
    else:
        src_dir, fingerprint = snapshot_source(a.scratch)
        print(f"measuring a snapshot of the source: {src_dir}", flush=True)
    job = os.path.join(src_dir, "job.py") if src_dir else JOB
    results_path = os.path.join(a.out_dir, "results.jsonl")
    if not a.append and os.path.exists(results_path):
        os.remove(results_path)
    env = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine(),
        "git": git_head(),
        "source_sha256": fingerprint, "source_snapshot": src_dir,
        "project_versions": versions(a.python, ["apache-beam", "pyarrow", "orjson", "psutil"]),
        "hf_versions": (
            versions(hf_python, ["datasets", "pyarrow"]) if hf_python and "hf_streaming" in names else None
        ),
        "reps": a.reps, "reps_slow": reps_slow, "seed": a.seed, "notes": notes,
        "command": " ".join(sys.argv),
    }  # fmt: skip
    with open(os.path.join(a.out_dir, "env.json"), "w") as f:
        json.dump(env, f, indent=1)

    pys = {"project": a.python, "hf": hf_python}
    for rows in sizes:
        meta = metas[rows]
        for rep in range(max(a.reps, reps_slow)):
            for name in names:
                impl = BY_NAME[name]
                if rep >= (reps_slow if impl.slow else a.reps):
                    continue
                if impl.slow and a.skip_slow_above and rows > a.skip_slow_above:
                    continue
                inp = input_path(data_dir, rows, impl.fmt)
                subprocess.run(["cat", inp], stdout=subprocess.DEVNULL, check=True)  # warm the page cache
                waited, pre_pct = wait_for_idle(a.wait_idle, a.idle_pct) if a.wait_idle > 0 else (0.0, None)
                out, tmp = os.path.join(work, "out"), os.path.join(work, "tmp")
                for d in (out, tmp):
                    shutil.rmtree(d, ignore_errors=True)
                os.makedirs(tmp)
                fill = {"in": inp, "out": out, "tmp": tmp, "peers": a.peers, "job": job}
                cmd = [pys[impl.python], *(c.format(**fill) for c in impl.argv)]
                rec = {
                    "ts": datetime.datetime.now().isoformat(timespec="seconds"),
                    "impl": name, "group": impl.group, "rows_in": rows, "rep": rep, "format": impl.fmt,
                    "bytes_in": os.path.getsize(inp), "expected_rows_out": meta["expected_rows_out"],
                    "cmd": cmd, "idle_wait_s": waited, "pre_cpu_pct": pre_pct,
                }  # fmt: skip
                crucible = impl.group == "crucible"
                rec["source_sha256"] = fingerprint if src_dir or not crucible else source_fingerprint()
                extra_env = {"PYTHONPATH": src_dir} if src_dir and crucible else None
                rec.update(run_once(impl, cmd, work, a.timeout, a.max_rss_mb, extra_env))
                rec["ok"] = (
                    rec["rc"] == 0 and not rec["timed_out"] and rec["rows_out"] == meta["expected_rows_out"]
                )
                if src_dir and crucible and not (rec["crucible_from"] or "").startswith(src_dir):
                    rec["ok"] = False  # it did not import the snapshot
                    rec["stderr_tail"] = (
                        f"imported crucible_datasets from {rec['crucible_from']}, not {src_dir}"
                    )
                if rep == 0 and rec["ok"]:
                    rec["digest"] = output_digest(out)
                if rec["ok"]:
                    rec.pop("stderr_tail")
                with open(results_path, "a") as f:
                    f.write(json.dumps(rec) + "\n")
                print(
                    f"{size_title(rows):>5} rep{rep} {name:16s} wall={rec['wall_s']:7.2f}s "
                    f"tree={rec['tree_peak_rss_mb']:7.0f}MB proc={rec.get('maxrss_kb', 0) / 1024:6.0f}MB "
                    f"rows={rec['rows_out']} other={rec['other_cores']:.2f} cores ok={rec['ok']}"
                    + ("" if rec["ok"] else f"  [{_error_line(rec)}]"),
                    flush=True,
                )
                shutil.rmtree(out, ignore_errors=True)
                shutil.rmtree(tmp, ignore_errors=True)
    write_reports(a.out_dir)


if __name__ == "__main__":
    main()
