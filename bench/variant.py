#!/usr/bin/env python3
"""``job.py`` with one internal knob changed, for A/B measurements behind bench/results/notes.md.

    python bench/variant.py [--batch-rows N] [--row-group-mib M] -- INPUT OUTDIR [job.py options]

``--batch-rows``: rows per batch the JSONL reader yields (the library default is
``formats.base.DEFAULT_BATCH_ROWS``); ``--row-group-mib``: the Parquet sink's row-group buffer
(``sinks.parquet.ROW_GROUP_BYTES``). Nothing in the package is edited: the knobs are patched in
this process only. Time it interleaved with the unpatched job, e.g.::

    for i in 1 2 3; do
      /usr/bin/time -f "default %e s" .venv/bin/python bench/job.py IN /tmp/o1
      /usr/bin/time -f "256 rows %e s" .venv/bin/python bench/variant.py --batch-rows 256 -- IN /tmp/o2
      rm -rf /tmp/o1 /tmp/o2
    done
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import runpy
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch-rows", type=int, default=None)
    ap.add_argument("--row-group-mib", type=int, default=None)
    ap.add_argument("job_args", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    args = a.job_args[1:] if a.job_args[:1] == ["--"] else a.job_args
    if a.batch_rows:
        import crucible_datasets.formats.jsonl as jsonl

        original = jsonl._PartReader.__init__

        def init(self, part, options, schema, errors):
            original(self, part, dataclasses.replace(options, batch_rows=a.batch_rows), schema, errors)

        jsonl._PartReader.__init__ = init
    if a.row_group_mib:
        import crucible_datasets.sinks.parquet as parquet

        parquet.ParquetSink.__init__.__kwdefaults__["row_group_bytes"] = a.row_group_mib << 20
    job = os.path.join(HERE, "job.py")
    sys.argv = [job, *args]
    runpy.run_path(job, run_name="__main__")


if __name__ == "__main__":
    main()
