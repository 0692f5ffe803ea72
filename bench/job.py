#!/usr/bin/env python3
"""The benchmark job written with crucible-datasets' public API, as a user would write it.

Keep ``score > 0.5 and difficulty >= 3``; map each row to ``id, source, difficulty, prompt``
(first human turn), ``response`` (first gpt turn), ``n_chars`` (code points of the response);
write 4 Parquet shards. Same contract as the peers in ``shared/bench/peers``::

    job.py INPUT OUTDIR [--runner local|direct] [--workers N] [--filter auto|lambda|where|sql|expr]

INPUT is JSONL or Parquet (the format comes from the extension). The shards land in
``OUTDIR/data/train-0000i-of-00004.parquet``; the last stdout line is ``ROWS_WRITTEN=N``,
counted from the written files' Parquet footers (not from the run summary).
``--runner direct --workers 1`` passes ``--direct_num_workers=1``; ``--workers 2`` passes
``--direct_num_workers=2 --direct_running_mode=multi_processing``.

``--filter auto`` (default) picks what measured faster for the input format: on JSONL the rows
are Python dicts already, and ``.filter(keep)`` costs ~0.1 µs a row where ``.where(...)``
evaluates its expression per row (~2 µs a row); on Parquet the batches are Arrow, ``.where``
filters them vectorised before any row becomes a dict, so 60 % of the rows never do.

``--filter sql`` writes the job declaratively, ``.where(...)`` then ``.sql(SQL)`` (the projection
in DuckDB, as ``duckdb_peer.py`` writes it): no row ever becomes a Python dict; JSONL is parsed
straight to Arrow and Parquet reads only the used columns (docs/PERFORMANCE.md). Its last lines
also give ``BYTES_READ=N``, the input bytes the run read (the summary's count).

``--filter expr`` is the same declarative job without DuckDB: ``.where(...)``, then
``.with_columns(...)`` (column expressions evaluated by pyarrow compute, ``PROJECT``), then
``.select_columns(...)``; it writes the same rows and types as ``--filter sql``.
"""

from __future__ import annotations

import argparse
import glob
import os

import pyarrow.parquet as pq

import crucible_datasets as cd

DROP = ["domain", "score", "conversations"]
WHERE = "score > 0.5 and difficulty >= 3"
SQL = """SELECT id, source, difficulty,
  list_filter(conversations, lambda t: t."from" = 'human')[1]."value" AS prompt,
  list_filter(conversations, lambda t: t."from" = 'gpt')[1]."value" AS response,
  length(response) AS n_chars
FROM batch"""
FIRST = '[t["value"] for t in conversations if t["from"] == {!r}][0]'
PROJECT = {"prompt": FIRST.format("human"), "response": FIRST.format("gpt")}
COLUMNS = ["id", "source", "difficulty", "prompt", "response", "n_chars"]


def first_value(conversations: list[dict], who: str) -> str | None:
    for turn in conversations:
        if turn["from"] == who:
            return turn["value"]
    return None


def project(row: dict) -> dict:
    conversations = row["conversations"]
    response = first_value(conversations, "gpt")
    return {
        "prompt": first_value(conversations, "human"),
        "response": response,
        "n_chars": len(response) if response is not None else None,
    }


def keep(row: dict) -> bool:
    return row["score"] > 0.5 and row["difficulty"] >= 3


def beam_options(runner: str, workers: int) -> list[str] | None:
    if runner == "local":
        return None
    if workers <= 1:
        return ["--direct_num_workers=1"]
    return [f"--direct_num_workers={workers}", "--direct_running_mode=multi_processing"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("input")
    ap.add_argument("outdir")
    ap.add_argument("--runner", choices=["local", "direct"], default="local")
    ap.add_argument("--workers", type=int, default=1, help="Beam workers (runner=direct only)")
    ap.add_argument(
        "--filter",
        choices=["auto", "where", "lambda", "sql", "expr"],
        default="auto",
        help="the filter as a Python function (.filter) or a column expression (.where); "
        "auto: lambda for JSONL, where for Parquet (the faster of the two for each); "
        "sql: the whole job declarative, .where() then .sql() for the projection; "
        "expr: declarative without DuckDB, .where() then .with_columns() and .select_columns()",
    )
    ap.add_argument("--shards", type=int, default=4)
    a = ap.parse_args()

    ds = cd.load(a.input, split="train", streaming=True)
    how = a.filter
    if how == "auto":
        how = "where" if a.input.endswith(".parquet") else "lambda"
    if how == "sql":
        ds = ds.where(WHERE).sql(SQL)
    elif how == "expr":
        ds = ds.where(WHERE).with_columns(PROJECT).with_columns({"n_chars": "len(response)"})
        ds = ds.select_columns(COLUMNS)
    elif how == "where":
        ds = ds.where(WHERE).map(project, remove_columns=DROP)
    else:
        ds = ds.filter(keep).map(project, remove_columns=DROP)
    summary = ds.write_parquet(
        a.outdir,
        num_shards=a.shards,
        runner=a.runner,
        options=beam_options(a.runner, a.workers),
        progress=False,
    )
    files = sorted(glob.glob(os.path.join(a.outdir, "**", "*.parquet"), recursive=True))
    files = [f for f in files if f"{os.sep}_errors{os.sep}" not in f]
    print(f"CRUCIBLE_FROM={os.path.dirname(os.path.abspath(cd.__file__))}")
    print(f"FILES={len(files)}")
    print(f"SUMMARY_ROWS_WRITTEN={summary.counts.rows_written}")
    print(f"BYTES_READ={summary.counts.bytes_read}")
    print(f"ROWS_WRITTEN={sum(pq.ParquetFile(f).metadata.num_rows for f in files)}")


if __name__ == "__main__":
    main()
