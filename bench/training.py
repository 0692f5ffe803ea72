#!/usr/bin/env python3
"""Benchmark: feeding a torch DataLoader from a stream — crucible-datasets next to HF `datasets`.

For each input format (a folder of JSONL parts, a folder of Parquet parts), each
``num_workers`` N in 0, 1, 2 and each library, one fresh subprocess builds a streaming dataset,
``.with_format("torch")``, wraps it in ``torch.utils.data.DataLoader(ds, batch_size=256,
num_workers=N)`` and iterates one epoch, marking every ``id`` seen; the run fails unless every
row came exactly once (count == expected and no id twice). Per run: rows/s over the epoch (from
building the dataset to the last batch, DataLoader worker start-up included), time to the first
batch, the subprocess' wall time, and the peak summed RSS of its process tree (the main
process plus the DataLoader workers, psutil, every 0.1 s).

  crucible: ``cd.load(folder, split="train", streaming=True).with_format("torch")``
            (project venv, ``.venv/bin/python``)
  datasets: ``datasets.load_dataset("json" | "parquet", data_files={"train": parts},
            split="train", streaming=True).with_format("torch")`` (``.venv-hf/bin/python``)

Rows: OpenThoughts3-shaped records from ``shared/bench/gen_data.py`` (its ``records()``, same
seed, same rows as the other benchmarks' inputs), projected to what a trainer reads: ``id,
source, difficulty, n_chars, prompt`` (first human turn), ``response`` (first gpt turn), split
into ``--parts`` files so workers have whole parts to share. Inputs are generated once under
``bench/out/training/`` (gitignored) and reused.

Reps are the outer loop and the variants the inner one, with the two libraries of a
(format, N) pair run back to back (their order alternating between reps), so both sides share
whatever else the machine is doing; the CPU other processes used during each run is recorded.

    .venv/bin/python bench/training.py                      # 300k rows, 3 reps
    .venv/bin/python bench/training.py --rows 1.2M --reps 3
    .venv/bin/python bench/training.py --report-only        # re-render training.md from the JSONL
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
GEN_DATA = os.path.join(os.path.dirname(REPO), "shared", "bench", "gen_data.py")
DEFAULT_SCRATCH = os.path.join(HERE, "out", "training")
DEFAULT_RESULTS = os.path.join(HERE, "results")
LIBS = ("crucible", "datasets")
FORMATS = ("jsonl", "parquet")
COLUMNS = ("id", "source", "difficulty", "n_chars", "prompt", "response")
BATCH_SIZE = 256


# -- the measured child (runs under either venv: stdlib + torch + the library only) ------------


def child(lib: str, fmt: str, folder: str, workers: int, expected: int, limit: int = 0) -> None:
    """One epoch (or, with ``limit``, its first ``limit`` rows, whole batches) through a DataLoader."""
    t_start = time.perf_counter()
    import torch
    from torch.utils.data import DataLoader

    t_imported = time.perf_counter()
    parts = sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.endswith("." + fmt))
    if lib == "crucible":
        sys.path.insert(0, REPO)  # the checkout this script is in, even beside another editable install
        import crucible_datasets as cd

        print(f"LIB_FROM={os.path.dirname(cd.__file__)}", flush=True)
        ds = cd.load(folder, split="train", streaming=True).with_format("torch")
    else:
        import datasets

        print(f"LIB_FROM={os.path.dirname(datasets.__file__)} {datasets.__version__}", flush=True)
        builder = "json" if fmt == "jsonl" else fmt
        ds = datasets.load_dataset(builder, data_files={"train": parts}, split="train", streaming=True)
        ds = ds.with_format("torch")
    seen = bytearray(expected)
    rows = dupes = out_of_range = batches = 0
    t_first = None
    for batch in DataLoader(ds, batch_size=BATCH_SIZE, num_workers=workers):
        if t_first is None:
            t_first = time.perf_counter()
        ids = batch["id"]
        assert isinstance(ids, torch.Tensor), type(ids)
        n = len(ids)
        # what a trainer touches: the numbers as tensors, the texts as lists of str
        assert len(batch["prompt"]) == n and len(batch["response"]) == n and len(batch["n_chars"]) == n
        assert isinstance(batch["prompt"][0], str), type(batch["prompt"][0])
        for i in ids.tolist():
            if 0 <= i < expected:
                dupes += seen[i]
                seen[i] = 1
            else:
                out_of_range += 1
        rows += n
        batches += 1
        if limit and rows >= limit:
            break
    t_end = time.perf_counter()
    missing = 0 if limit else expected - sum(seen)
    print(
        "RESULT="
        + json.dumps(
            {
                "rows": rows,
                "batches": batches,
                "dupes": dupes,
                "missing": missing,
                "out_of_range": out_of_range,
                "epoch_s": round(t_end - t_imported, 3),
                "first_batch_s": round((t_first or t_end) - t_imported, 3),
                "import_torch_s": round(t_imported - t_start, 3),
                "torch": torch.__version__,
                "parts": len(parts),
                "limit": limit,
            }
        ),
        flush=True,
    )
    wanted = (rows >= limit) if limit else (rows == expected)
    assert wanted and dupes == 0 and missing == 0 and out_of_range == 0, (
        f"{lib} {fmt} N={workers}: {rows} rows for {expected} expected, {dupes} twice, {missing} missing"
    )


# -- inputs ------------------------------------------------------------------------------------


def parse_size(text: str) -> int:
    t = text.strip().lower()
    mult = 1_000_000 if t.endswith("m") else 1_000 if t.endswith("k") else 1
    return int(round(float(t.rstrip("mk")) * mult))


def size_title(rows: int) -> str:
    return f"{rows / 1e6:g}M" if rows >= 1_000_000 else f"{rows / 1e3:g}k" if rows >= 1000 else str(rows)


def ensure_inputs(scratch: str, rows: int, parts: int, seed: int) -> dict:
    """``scratch/<rows>/{jsonl,parquet}/train-0000i-of-0000n.*`` from gen_data.records(), once."""
    import importlib.util

    import pyarrow as pa
    import pyarrow.parquet as pq

    base = os.path.join(scratch, f"ot_{rows}_p{parts}_s{seed}")
    meta_path = os.path.join(base, "meta.json")
    if os.path.exists(meta_path):
        return json.load(open(meta_path))
    print(f"generating {rows:,} rows in {parts} parts of JSONL and Parquet under {base} ...", flush=True)
    t0 = time.perf_counter()
    spec = importlib.util.spec_from_file_location("gen_data", GEN_DATA)
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    schema = pa.schema(
        [
            ("id", pa.int64()),
            ("source", pa.string()),
            ("difficulty", pa.int64()),
            ("n_chars", pa.int64()),
            ("prompt", pa.string()),
            ("response", pa.string()),
        ]
    )
    for fmt in FORMATS:
        os.makedirs(os.path.join(base, fmt), exist_ok=True)
    bounds = [rows * k // parts for k in range(parts + 1)]
    it = gen.records(rows, seed)
    sums = {"sum_id": 0, "sum_n_chars": 0}
    for k in range(parts):
        buf = []
        for _ in range(bounds[k + 1] - bounds[k]):
            r = next(it)
            conv = r["conversations"]
            prompt = next(t["value"] for t in conv if t["from"] == "human")
            response = next(t["value"] for t in conv if t["from"] == "gpt")
            buf.append(
                {
                    "id": r["id"],
                    "source": r["source"],
                    "difficulty": r["difficulty"],
                    "n_chars": len(response),
                    "prompt": prompt,
                    "response": response,
                }
            )
            sums["sum_id"] += r["id"]
            sums["sum_n_chars"] += len(response)
        name = f"train-{k:05d}-of-{parts:05d}"
        with open(os.path.join(base, "jsonl", name + ".jsonl"), "w", encoding="utf-8") as f:
            f.writelines(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n" for row in buf)
        pq.write_table(
            pa.Table.from_pylist(buf, schema),
            os.path.join(base, "parquet", name + ".parquet"),
            row_group_size=10_000,
            compression="snappy",
        )
    # the expected count, read back independently of both libraries
    n_pq = sum(
        pq.ParquetFile(os.path.join(base, "parquet", f)).metadata.num_rows
        for f in os.listdir(os.path.join(base, "parquet"))
    )
    n_jl = 0
    for f in os.listdir(os.path.join(base, "jsonl")):
        with open(os.path.join(base, "jsonl", f), "rb") as fh:
            n_jl += sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(16 << 20), b""))
    if not n_pq == n_jl == rows:
        sys.exit(f"generated {n_pq} Parquet rows and {n_jl} JSONL lines for {rows}")
    meta = {
        "rows": rows,
        "parts": parts,
        "seed": seed,
        "generator": GEN_DATA,
        "columns": list(COLUMNS),
        "bytes": {
            fmt: sum(os.path.getsize(os.path.join(base, fmt, f)) for f in os.listdir(os.path.join(base, fmt)))
            for fmt in FORMATS
        },
        "gen_s": round(time.perf_counter() - t0, 1),
        **sums,
    }
    with open(meta_path, "w") as f:
        json.dump(meta, f, indent=1)
    print(f"  done in {meta['gen_s']:.0f} s: {meta['bytes']}", flush=True)
    return meta


# -- the harness -------------------------------------------------------------------------------


def run_once(
    python: str, lib: str, fmt: str, folder: str, workers: int, expected: int, tmp: str, limit: int = 0
) -> dict:
    import psutil
    from run import TreeRSS, _busy  # bench/run.py: the one process-tree sampler and busy-CPU count

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update(
        PYTHONUNBUFFERED="1",
        HF_DATASETS_OFFLINE="1",
        HF_HUB_OFFLINE="1",
        HF_HUB_DISABLE_TELEMETRY="1",
        HF_HOME=os.path.join(tmp, "hf-home"),
        TOKENIZERS_PARALLELISM="false",
    )
    for f in sorted(os.listdir(folder)):  # warm the page cache, untimed
        with open(os.path.join(folder, f), "rb") as fh:
            while fh.read(16 << 20):
                pass
    cmd = [python, os.path.abspath(__file__), "--child", lib, fmt, folder, str(workers), str(expected)]
    cmd.append(str(limit))
    cpu0 = psutil.cpu_times()
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp,
        start_new_session=True,
    )
    sampler = TreeRSS(proc.pid)
    sampler.start()
    so, se = proc.communicate(timeout=1800)
    wall = time.perf_counter() - t0
    cpu1 = psutil.cpu_times()
    sampler.stop.set()
    sampler.join()
    res = {}
    lib_from = None
    for line in so.splitlines():
        if line.startswith("RESULT="):
            res = json.loads(line[len("RESULT=") :])
        elif line.startswith("LIB_FROM="):
            lib_from = line[len("LIB_FROM=") :]
    own = sum(sampler.cpu.values())
    ok = (
        proc.returncode == 0
        and ((res.get("rows") or 0) >= limit if limit else res.get("rows") == expected)
        and res.get("dupes") == 0
        and res.get("missing") == 0
    )
    rec = {
        "lib": lib,
        "format": fmt,
        "workers": workers,
        "rc": proc.returncode,
        "ok": ok,
        "wall_s": round(wall, 3),
        **res,
        "rows_per_s": round(res["rows"] / res["epoch_s"]) if res.get("epoch_s") else None,
        "tree_peak_rss_mb": round(sampler.peak / 2**20, 1),
        "max_procs": sampler.max_procs,
        "own_cpu_s": round(own, 2),
        "other_cores": round(max(0.0, _busy(cpu1) - _busy(cpu0) - own) / wall, 2),
        "lib_from": lib_from,
        "python": python,
    }
    if not ok:
        rec["stderr_tail"] = se[-3000:]
    return rec


def versions(python: str) -> dict:
    code = (
        "import sys, json, importlib.metadata as md; print(json.dumps({'python': sys.version.split()[0], "
        "**{d: md.version(d) for d in sys.argv[1:] if __import__('importlib.util').util.find_spec(d.replace('-', '_'))}}))"  # noqa: E501
    )
    r = subprocess.run(
        [python, "-c", code, "torch", "pyarrow", "datasets", "crucible-datasets"],
        capture_output=True,
        text=True,
    )
    try:
        return json.loads(r.stdout.strip().splitlines()[-1])
    except Exception:  # noqa: BLE001
        return {"error": r.stderr[-300:]}


def _med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def write_report(results_dir: str) -> str:
    path_jsonl = os.path.join(results_dir, "training.jsonl")
    env = json.load(open(os.path.join(results_dir, "training.env.json")))
    recs = [json.loads(line) for line in open(path_jsonl) if line.strip()]
    m = env["machine"]
    rows = env["rows"]
    lines = [
        "# Feeding a torch DataLoader: crucible-datasets vs HF `datasets` streaming",
        "",
        f"Measured {env['date']} on {m['nproc']} cores ({m['cpu']}), {m['mem_gib']} GiB RAM, {m['kernel']}. "
        f"**{rows:,} rows** ({size_title(rows)}), {env['parts']} parts per format "
        f"(JSONL {env['bytes']['jsonl'] / 1e6:.0f} MB, Parquet {env['bytes']['parquet'] / 1e6:.0f} MB), "
        f"columns {', '.join(env['columns'])}; `DataLoader(ds, batch_size={BATCH_SIZE}, num_workers=N)`, "
        f"one epoch per fresh subprocess; {env['reps']} interleaved reps, medians [min–max].",
        "",
        f"crucible: `{env['python']['crucible']}` ({', '.join(f'{k} {v}' for k, v in env['versions']['crucible'].items())}); "  # noqa: E501
        f"datasets: `{env['python']['datasets']}` ({', '.join(f'{k} {v}' for k, v in env['versions']['datasets'].items())}).",  # noqa: E501
        "",
        "rows/s: rows ÷ the epoch (building the stream, DataLoader worker start-up and every batch; not "
        "the interpreter's start nor `import torch`). Peak RSS: the summed RSS of the process tree (main "
        "process + DataLoader workers), sampled every 0.1 s — shared pages of forked workers count once per "
        "process, so this over-counts the same way for both. Every run asserts each of the rows came exactly "
        "once (count and a per-id check).",
        *(
            [
                "",
                f"**Windows.** {', '.join(f'{lib} is timed over the first {n:,} rows of the epoch' for lib, n in env['limits'].items() if n)}"  # noqa: E501
                " (whole batches; rows/s over that window, every id seen at most once); the others over the whole epoch.",  # noqa: E501
            ]
            if any(env.get("limits", {}).values())
            else []
        ),
        "",
        "| format | N workers | library | rows/s, median [min–max] | epoch s | first batch s | process wall s | peak RSS MB (tree) | procs | other load (cores) | ok |",  # noqa: E501
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    ratios = []
    for fmt in FORMATS:
        for n in sorted({r["workers"] for r in recs}):
            med = {}
            for lib in LIBS:
                rs = [r for r in recs if r["format"] == fmt and r["workers"] == n and r["lib"] == lib]
                if not rs:
                    continue
                good = [r for r in rs if r["ok"]]
                rps = [r["rows_per_s"] for r in good]
                med[lib] = {
                    k: _med([r.get(k) for r in good])
                    for k in (
                        "rows_per_s",
                        "epoch_s",
                        "first_batch_s",
                        "wall_s",
                        "tree_peak_rss_mb",
                        "max_procs",
                        "other_cores",
                    )
                }
                d = med[lib]
                span = f" [{min(rps):,}–{max(rps):,}]" if rps else ""
                fmt_num = lambda v, f: "—" if v is None else format(v, f)  # noqa: E731
                lines.append(
                    f"| {fmt} | {n} | {lib} | {fmt_num(d['rows_per_s'], ',.0f')}{span} | {fmt_num(d['epoch_s'], '.2f')} | "  # noqa: E501
                    f"{fmt_num(d['first_batch_s'], '.2f')} | {fmt_num(d['wall_s'], '.2f')} | {fmt_num(d['tree_peak_rss_mb'], ',.0f')} | "  # noqa: E501
                    f"{fmt_num(d['max_procs'], '.0f')} | {fmt_num(d['other_cores'], '.2f')} | {len(good)}/{len(rs)} |"  # noqa: E501
                )
            c, h = med.get("crucible"), med.get("datasets")
            if c and h and c["rows_per_s"] and h["rows_per_s"]:
                ratios.append(
                    (fmt, n, c["rows_per_s"] / h["rows_per_s"], c["tree_peak_rss_mb"] / h["tree_peak_rss_mb"])
                )
    lines += [
        "",
        "**Ratios crucible / datasets** (medians; rows/s > 1: crucible faster; RSS < 1: crucible smaller)",
        "",
        "| format | N workers | rows/s ratio | peak RSS ratio |",
        "|---|---:|---:|---:|",
    ]
    lines += [f"| {fmt} | {n} | {rr:.2f}× | {mr:.2f}× |" for fmt, n, rr, mr in ratios]
    notes = os.path.join(results_dir, "training.notes.md")
    if os.path.exists(notes):
        lines += ["", open(notes).read().strip()]
    lines += [
        "",
        f"Rerun: `{env['command']}` (raw runs: [training.jsonl](training.jsonl), environment: "
        "[training.env.json](training.env.json)).",
        "",
    ]
    out = os.path.join(results_dir, "training.md")
    with open(out, "w") as f:
        f.write("\n".join(lines))
    return out


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        lib, fmt, folder, workers, expected, limit = sys.argv[2:8]
        child(lib, fmt, folder, int(workers), int(expected), int(limit))
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", default="300k", help="row count (300k, 1.2M, ...)")
    ap.add_argument("--parts", type=int, default=8, help="files per format")
    ap.add_argument("--workers", default="0,1,2", help="DataLoader num_workers values")
    ap.add_argument("--formats", default="jsonl,parquet")
    ap.add_argument("--libs", default="crucible,datasets")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument(
        "--datasets-rows",
        default="0",
        help="time HF datasets over only the first N rows of the epoch (0: the whole epoch)",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--python", default=os.path.join(REPO, ".venv", "bin", "python"), help="crucible's interpreter"
    )
    ap.add_argument(
        "--hf-python",
        default=os.path.join(REPO, ".venv-hf", "bin", "python"),
        help="interpreter with datasets and torch",
    )
    ap.add_argument(
        "--scratch", default=DEFAULT_SCRATCH, help="generated inputs (default bench/out/training)"
    )
    ap.add_argument("--results", default=DEFAULT_RESULTS)
    ap.add_argument("--report-only", action="store_true")
    a = ap.parse_args()
    os.makedirs(a.results, exist_ok=True)
    if a.report_only:
        print(open(write_report(a.results)).read())
        return
    from run import machine  # bench/run.py: the one description of this machine (not needed by children)

    rows = parse_size(a.rows)
    workers = [int(w) for w in a.workers.split(",")]
    formats = [f for f in a.formats.split(",") if f]
    libs = [lib for lib in a.libs.split(",") if lib]
    pys = {"crucible": a.python, "datasets": a.hf_python}
    limits = {"crucible": 0, "datasets": parse_size(a.datasets_rows)}
    meta = ensure_inputs(a.scratch, rows, a.parts, a.seed)
    base = os.path.join(a.scratch, f"ot_{rows}_p{a.parts}_s{a.seed}")
    tmp = os.path.join(a.scratch, "tmp")
    os.makedirs(tmp, exist_ok=True)
    env = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine(),
        "rows": rows,
        "parts": a.parts,
        "seed": a.seed,
        "columns": meta["columns"],
        "bytes": meta["bytes"],
        "reps": a.reps,
        "limits": limits,
        "python": pys,
        "versions": {lib: versions(pys[lib]) for lib in libs},
        "command": " ".join(
            [
                os.path.relpath(sys.executable, REPO) if sys.executable.startswith(REPO) else sys.executable,
                os.path.relpath(os.path.abspath(__file__), REPO),
                *sys.argv[1:],
            ]
        ),
    }
    with open(os.path.join(a.results, "training.env.json"), "w") as f:
        json.dump(env, f, indent=1)
    out = os.path.join(a.results, "training.jsonl")
    open(out, "w").close()
    t_all = time.perf_counter()
    for rep in range(a.reps):
        for fmt in formats:
            for n in workers:
                order = libs if (rep + n) % 2 == 0 else libs[::-1]  # alternate who goes first
                for lib in order:
                    rec = run_once(pys[lib], lib, fmt, os.path.join(base, fmt), n, rows, tmp, limits[lib])
                    rec["rep"] = rep
                    with open(out, "a") as f:
                        f.write(json.dumps(rec) + "\n")
                    print(
                        f"rep{rep} {fmt:7s} N={n} {lib:8s} {rec['rows_per_s'] or 0:>9,} rows/s "
                        f"epoch={rec.get('epoch_s', 0):6.2f}s wall={rec['wall_s']:6.2f}s "
                        f"rss={rec['tree_peak_rss_mb']:6.0f}MB procs={rec['max_procs']} "
                        f"other={rec['other_cores']:.2f} ok={rec['ok']}"
                        + ("" if rec["ok"] else "\n" + rec.get("stderr_tail", "")),
                        flush=True,
                    )
    print(f"all runs: {time.perf_counter() - t_all:.0f} s", flush=True)
    print(open(write_report(a.results)).read())


if __name__ == "__main__":
    main()
