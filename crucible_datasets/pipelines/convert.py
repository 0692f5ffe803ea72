"""``convert``: any supported input to Parquet or JSON Lines, with selection, filter and limit.

``--filter`` takes a safe column expression (``score > 0.5 and difficulty >= 3``), never code.
"""

from __future__ import annotations

import argparse

from crucible_datasets.iterable_dataset import IterableDataset
from crucible_datasets.pipelines.base import ReadyPipeline


class Convert(ReadyPipeline):
    name = "convert"
    help = "any input to Parquet or JSONL shards, with --select, --filter, --limit"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--to", dest="to_format", choices=["parquet", "jsonl"], default="parquet")
        parser.add_argument("--select", default=None, help="comma-separated columns to keep")
        parser.add_argument(
            "--filter", dest="expression", default=None, help='e.g. "score > 0.5 and difficulty >= 3"'
        )
        parser.add_argument("--limit", type=int, default=None, help="write at most N rows")

    def build(self, dataset: IterableDataset, args: argparse.Namespace) -> IterableDataset:
        if args.expression:
            dataset = dataset.where(args.expression)
        if args.select:
            dataset = dataset.select_columns([c.strip() for c in args.select.split(",")])
        if args.limit is not None:
            dataset = dataset.take(args.limit)
        return dataset
