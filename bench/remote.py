#!/usr/bin/env python3
"""Benchmark: streaming rows from the Hub and https:// with 50 ms of added latency, against the
same files on local disk (issue 13: remote at least 70 % of local rows/s).

The input (a JSON Lines and a Parquet file of OpenThoughts3-shaped rows, ``--jsonl`` and
``--parquet``) is cut into ``--files`` files written to a scratch folder. The parent process
serves them three ways: from that folder (local), from the project's test Hub (``tests/servers/
hub_server.py``: LFS files, so every first read of a file is redirected to its CDN, as on the
real Hub) and from its static https-style server, each server behind a
``tests/servers/latency_proxy.py`` that holds every request 50 ms (``--delay``). A fresh
subprocess per run iterates ``cd.load(..., split="train", streaming=True)`` to the end and
reports rows, rows/s and its peak RSS; reps are the outer loop (medians of ``--reps``), the
variants the inner one, so local and remote runs share whatever else the machine does.

    .venv/bin/python bench/remote.py --jsonl /tmp/crucible-bench/ot_100k.jsonl \\
        --parquet /tmp/crucible-bench/ot_100k.parquet --reps 3
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)

WHERES = ("local", "hub", "https")


def cut_jsonl(path: str, folder: str, files: int) -> list[str]:
    """``path``'s lines cut into ``files`` files of about equal bytes."""
    size = os.path.getsize(path)
    names, out, written, index = [], None, 0, 0
    with open(path, "rb") as src:
        for line in src:
            if out is None or (written >= size * (index / files) and index < files):
                if out is not None:
                    out.close()
                names.append(os.path.join(folder, f"train-{index:05d}-of-{files:05d}.jsonl"))
                out, index = open(names[-1], "wb"), index + 1  # noqa: SIM115 - closed above
            out.write(line)
            written += len(line)
    out.close()
    return names


def cut_parquet(path: str, folder: str, files: int) -> list[str]:
    """``path``'s rows cut into ``files`` Parquet files (10k-row row groups)."""
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    step = -(-table.num_rows // files)
    names = []
    for i in range(files):
        names.append(os.path.join(folder, f"train-{i:05d}-of-{files:05d}.parquet"))
        pq.write_table(table.slice(i * step, step), names[-1], row_group_size=10_000)
    return names


def child(where: str, fmt: str, target: str) -> None:
    """Run in the subprocess: stream ``target`` to the end, print one JSON line. https targets
    are comma-separated URLs, read with the format's packaged builder (``load("json", ...)``)."""
    import crucible_datasets as cd

    started = time.perf_counter()
    if where == "https":
        builder = "json" if fmt == "jsonl" else fmt
        ds = cd.load(builder, data_files={"train": target.split(",")}, split="train", streaming=True)
    else:
        ds = cd.load(target, split="train", streaming=True)
    rows = 0
    for batch in ds.iter(batch_size=1024):
        rows += len(next(iter(batch.values())))
    wall = time.perf_counter() - started
    print(json.dumps({"rows": rows, "wall_s": wall, "rows_per_s": rows / wall, "peak_rss": _peak_rss()}))


def _peak_rss() -> int:
    """This process's peak RSS (``VmHWM``: since its exec, unlike ``ru_maxrss``, which a child
    inherits from the parent it was forked from, here one holding every served file)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def serve(names_by_fmt: dict[str, list[str]], delay: float):
    """Start the Hub and the static server, each behind a latency proxy; returns (targets, stop)."""
    from tests.servers.hub_server import HubServer
    from tests.servers.latency_proxy import LatencyProxy
    from tests.servers.static_server import StaticServer

    hub = HubServer()
    static = StaticServer({})
    targets: dict[tuple[str, str], str] = {}
    for fmt, names in names_by_fmt.items():
        files = {}
        for name in names:
            with open(name, "rb") as f:
                files[f"data/{os.path.basename(name)}"] = f.read()
        hub.add_repo(f"bench/{fmt}", files, lfs_everything=True)
        for rel, data in files.items():
            static.files[f"/{fmt}/{rel}"] = data
        targets[("local", fmt)] = os.path.dirname(names[0])
        targets[("hub", fmt)] = f"bench/{fmt}"
    hub.start()
    static.start()
    proxies = [LatencyProxy(url, delay).start() for url in (hub.url, hub.cdn_url, static.url)]
    hub.cdn_via = proxies[1].url
    for fmt, names in names_by_fmt.items():
        targets[("https", fmt)] = ",".join(
            f"{proxies[2].url}/{fmt}/data/{os.path.basename(n)}" for n in names
        )

    def stop() -> None:
        for proxy in proxies:
            proxy.stop()
        hub.stop()
        static.stop()

    return targets, proxies[0].url, stop


def run_once(where: str, fmt: str, target: str, endpoint: str) -> dict:
    env = {**os.environ, "HF_ENDPOINT": endpoint, "PYTHONPATH": REPO}
    code = f"from bench.remote import child; child({where!r}, {fmt!r}, {target!r})"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=REPO)
    if done.returncode != 0:
        raise SystemExit(f"{where} {fmt} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jsonl", help="a JSON Lines input")
    parser.add_argument("--parquet", help="a Parquet input")
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--delay", type=float, default=0.05, help="added round-trip latency (s)")
    parser.add_argument("--scratch", default=os.path.join(HERE, "out", "remote"))
    parser.add_argument("--results", default=os.path.join(HERE, "results", "remote.jsonl"))
    a = parser.parse_args()
    names_by_fmt = {}
    for fmt, path, cut in (("jsonl", a.jsonl, cut_jsonl), ("parquet", a.parquet, cut_parquet)):
        if path:
            folder = os.path.join(a.scratch, f"{fmt}-{os.path.basename(path)}-{a.files}")
            done = os.path.join(folder, ".done")
            if not os.path.exists(done):
                os.makedirs(folder, exist_ok=True)
                cut(path, folder, a.files)
                open(done, "w").close()
            names_by_fmt[fmt] = sorted(
                os.path.join(folder, n) for n in os.listdir(folder) if not n.startswith(".")
            )
    targets, endpoint, stop = serve(names_by_fmt, a.delay)
    runs: dict[tuple[str, str], list[dict]] = {}
    stamp = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    try:
        for rep in range(a.reps):
            for fmt in names_by_fmt:
                order = WHERES if rep % 2 == 0 else tuple(reversed(WHERES))
                for where in order:
                    result = run_once(where, fmt, targets[(where, fmt)], endpoint)
                    result.update(where=where, fmt=fmt, rep=rep, delay=a.delay, files=a.files, date=stamp)
                    runs.setdefault((where, fmt), []).append(result)
                    print(json.dumps(result), flush=True)
                    with open(a.results, "a") as out:
                        out.write(json.dumps(result) + "\n")
    finally:
        stop()
    print(f"\nmedians of {a.reps} reps, {a.delay * 1000:.0f} ms added round trip, {a.files} files")
    for fmt in names_by_fmt:
        local = statistics.median(r["rows_per_s"] for r in runs[("local", fmt)])
        for where in WHERES:
            rs = runs[(where, fmt)]
            rate = statistics.median(r["rows_per_s"] for r in rs)
            rows = {r["rows"] for r in rs}
            rss = statistics.median(r["peak_rss"] for r in rs) / 2**20
            ratio = rate / local
            print(f"  {fmt:8} {where:6} {rate:9.0f} rows/s {ratio:4.2f}x local, rows {rows}, rss {rss:.0f}M")
        counts = {r["rows"] for w in WHERES for r in runs[(w, fmt)]}
        if len(counts) != 1:
            raise SystemExit(f"{fmt}: the runs read different row counts: {counts}")


if __name__ == "__main__":
    main()
