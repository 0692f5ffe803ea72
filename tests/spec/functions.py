"""Functions and a stage that the test specs name by import path (``tests.spec.functions:...``)."""

import pyarrow as pa
import pyarrow.compute as pc

import crucible_datasets as cd

CALLS = []  # what ran; a spec that is only loaded must leave it empty


def add_length(row: dict, column: str = "question") -> dict:
    CALLS.append("add_length")
    return {"length": len(row[column])}


def long_enough(row: dict, minimum: int = 0) -> bool:
    CALLS.append("long_enough")
    return len(row["question"]) >= minimum


def batch_lengths(batch: dict) -> dict:
    return {"n": [len(q) for q in batch["question"]]}


def keep_even(batch: dict) -> list[bool]:
    return [len(q) % 2 == 0 for q in batch["question"]]


def twice(row: dict) -> list[dict]:
    return [row, row]


def upper_answers(batch: pa.RecordBatch) -> pa.RecordBatch:
    answers = pc.utf8_upper(batch.column("answer"))
    return pa.RecordBatch.from_arrays([batch.column("question"), answers], names=["question", "answer"])


class Prefix(cd.Stage):
    """A stage of one's own that a spec can name: it declares spec_args()."""

    def __init__(self, column: str, prefix: str) -> None:
        self.column, self.prefix = column, prefix

    def process(self, batch: cd.Batch) -> cd.Batch:
        return cd.Batch.from_rows([{**r, self.column: self.prefix + r[self.column]} for r in batch.rows])

    def spec_args(self) -> dict:
        return {"column": self.column, "prefix": self.prefix}


class Unnamed(cd.Stage):
    """A stage without spec_args(): to_spec must refuse it."""

    def process(self, batch: cd.Batch) -> cd.Batch:
        return batch
