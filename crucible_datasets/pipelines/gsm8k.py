"""``gsm8k``: GSM8K rows to question, solution and the final numeric answer.

GSM8K answers end with ``#### N``; the worked solution carries calculator annotations like
``<<48/2=24>>``. Output rows: ``question``, ``answer`` (as given), ``solution`` (the reasoning
without annotations or the final line) and ``final_answer`` (the number after ``####``).
Rows without a ``####`` line are dropped and counted as filtered.

>>> parse_answer("Natalia sold 48/2 = <<48/2=24>>24 clips.\\n#### 1,024")
('Natalia sold 48/2 = 24 clips.', 1024)
"""

from __future__ import annotations

import argparse
import re

from crucible_datasets.batch import Batch
from crucible_datasets.iterable_dataset import IterableDataset
from crucible_datasets.pipelines.base import ReadyPipeline
from crucible_datasets.transforms.base import Stage

_CALCULATOR = re.compile(r"<<[^>]*>>")
_FINAL = re.compile(r"\n?####\s*(.+?)\s*$", re.S)


def parse_answer(answer: str) -> tuple[str, int | float] | None:
    """(solution, final number) from a GSM8K answer; None when it has no ``####`` number."""
    match = _FINAL.search(answer)
    if match is None:
        return None
    text = match.group(1).replace(",", "").replace("$", "").strip()
    try:
        number: int | float = int(text)
    except ValueError:
        try:
            number = float(text)
        except ValueError:
            return None
    solution = _CALCULATOR.sub("", answer[: match.start()]).strip()
    return solution, number


class Gsm8kAnswers(Stage):
    """Adds ``solution`` and ``final_answer``; drops rows without a final number."""

    def spec_args(self) -> dict:
        return {}  # a spec makes it with ``op: apply`` (docs/examples/gsm8k.yaml)

    def process(self, batch: Batch) -> Batch | None:
        out = []
        for row in batch.rows:
            parsed = parse_answer(row.get("answer") or "")
            if parsed is not None:
                out.append(
                    {
                        "question": row.get("question"),
                        "answer": row["answer"],
                        "solution": parsed[0],
                        "final_answer": parsed[1],
                    }
                )
        return Batch.from_rows(out) if out else None


class Gsm8k(ReadyPipeline):
    name = "gsm8k"
    help = "GSM8K to question/solution/final_answer (the number after ####)"

    def build(self, dataset: IterableDataset, args: argparse.Namespace) -> IterableDataset:
        return dataset.apply(Gsm8kAnswers())
