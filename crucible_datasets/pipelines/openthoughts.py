"""``openthoughts``: OpenThoughts3-style reasoning rows to prompt/response pairs.

Input rows have ``difficulty``, ``source``, ``domain`` and ``conversations`` (a list of
``{"from": "human" | "gpt", "value": text}``), as published on the Hub in Parquet. Output rows:
``prompt`` (first human turn), ``response`` (first gpt turn), ``source``, ``domain``,
``difficulty``, ``n_chars`` (characters in the response), and ``id`` when the input has one.

>>> from crucible_datasets.batch import Batch
>>> row = {"difficulty": 5, "source": "s", "domain": "math",
...        "conversations": [{"from": "human", "value": "1+1?"}, {"from": "gpt", "value": "2"}]}
>>> ConversationPairs(min_difficulty=3).process(Batch.from_rows([row])).rows
[{'prompt': '1+1?', 'response': '2', 'source': 's', 'domain': 'math', 'difficulty': 5, 'n_chars': 1}]
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from importlib import resources

from crucible_datasets.batch import Batch
from crucible_datasets.iterable_dataset import IterableDataset
from crucible_datasets.pipelines.base import ReadyPipeline
from crucible_datasets.transforms.base import Stage

HUMAN = ("human", "user")
ASSISTANT = ("gpt", "assistant")


def sample_path() -> str:
    """The embedded sample: a few hundred synthetic rows in the OpenThoughts3 schema (Parquet)."""
    return str(resources.files("crucible_datasets") / "data" / "openthoughts_sample.parquet")


def first_turn(conversations: Sequence[dict] | None, speakers: tuple[str, ...]) -> str | None:
    for turn in conversations or ():
        if turn.get("from") in speakers:
            return turn.get("value")
    return None


class ConversationPairs(Stage):
    """Rows to prompt/response pairs, keeping those within the difficulty, domain and length bounds."""

    column_descriptions = {
        "id": "The row's id in the input.",
        "prompt": "The first human turn of the conversation.",
        "response": "The first assistant (gpt) turn of the conversation.",
        "source": "Where the input row came from, as the input names it.",
        "domain": "The subject area of the problem (math, code, science...).",
        "difficulty": "The difficulty the input gives the problem.",
        "n_chars": "Characters in the response.",
    }

    def __init__(
        self,
        min_difficulty: int | None = None,
        domains: Sequence[str] | None = None,
        min_response_chars: int = 1,
        max_response_chars: int | None = None,
        min_score: float | None = None,
    ) -> None:
        self.min_difficulty = min_difficulty
        self.domains = frozenset(domains) if domains else None
        self.min_response_chars = min_response_chars
        self.max_response_chars = max_response_chars
        self.min_score = min_score

    def process(self, batch: Batch) -> Batch | None:
        out = []
        for row in batch.rows:
            pair = self.pair(row)
            if pair is not None:
                out.append(pair)
        return Batch.from_rows(out) if out else None

    def pair(self, row: dict) -> dict | None:
        difficulty = row.get("difficulty")
        if self.min_difficulty is not None and (difficulty is None or difficulty < self.min_difficulty):
            return None
        if self.domains is not None and row.get("domain") not in self.domains:
            return None
        if self.min_score is not None and not (
            row.get("score") is not None and row["score"] > self.min_score
        ):
            return None
        conversations = row.get("conversations")
        prompt, response = first_turn(conversations, HUMAN), first_turn(conversations, ASSISTANT)
        if prompt is None or response is None:
            return None
        n_chars = len(response)
        if n_chars < self.min_response_chars:
            return None
        if self.max_response_chars is not None and n_chars > self.max_response_chars:
            return None
        pair = {"id": row["id"]} if "id" in row else {}
        pair.update(
            prompt=prompt,
            response=response,
            source=row.get("source"),
            domain=row.get("domain"),
            difficulty=difficulty,
            n_chars=n_chars,
        )
        return pair


class OpenThoughts(ReadyPipeline):
    name = "openthoughts"
    help = "OpenThoughts3-style reasoning rows to prompt/response pairs (Parquet shards)"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--min-difficulty", type=int, default=None, help="keep rows with difficulty >= N")
        parser.add_argument(
            "--domains", default=None, help="comma-separated domains to keep (e.g. math,code)"
        )
        parser.add_argument("--min-response-chars", type=int, default=1, help="shortest response kept")
        parser.add_argument("--max-response-chars", type=int, default=None, help="longest response kept")
        parser.add_argument("--min-score", type=float, default=None, help="keep rows with score > X")

    def build(self, dataset: IterableDataset, args: argparse.Namespace) -> IterableDataset:
        domains = [d.strip() for d in args.domains.split(",")] if args.domains else None
        stage = ConversationPairs(
            args.min_difficulty, domains, args.min_response_chars, args.max_response_chars, args.min_score
        )
        return dataset.apply(stage)
