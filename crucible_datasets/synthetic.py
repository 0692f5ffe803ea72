"""Synthetic OpenThoughts3-shaped reasoning rows, deterministic, for the demo, tests and benchmarks.

Each row: ``id``, ``source``, ``domain``, ``difficulty`` (1-10), ``score`` (0-1) and
``conversations`` (a human prompt, a gpt response with ``<think>`` reasoning). Lengths follow
the peers' generator in ``shared/bench/gen_data.py`` draw for draw, so the same seed gives the
same rows (median response ~1.4 KB, a 0.5% tail of 10-50 KB; LaTeX backslashes, quotes,
newlines, non-ASCII).

>>> rows = list(rows_of(3, seed=0))
>>> [r["id"] for r in rows], sorted(rows[0])
([0, 1, 2], ['conversations', 'difficulty', 'domain', 'id', 'score', 'source'])
"""

from __future__ import annotations

import argparse
import itertools
import random
from collections.abc import Iterator

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

SOURCES = [
    ("ai2-adapt-dev/openmath-2-math", "math"),
    ("nvidia/OpenCodeReasoning", "code"),
    ("organic-chemistry-questions", "science"),
    ("stackexchange-physics", "science"),
    ("stackexchange_codegolf", "code"),
]
WORDS = (
    "the of and to a in is that for it as with was on be by this are or from at "
    "which an we can let so then therefore thus hence since because if not but "
    "number value function equation solve answer compute consider given find "
    "prime integer sum product term series root square triangle angle circle "
    "probability expected code array string loop index return input output "
    "energy force mass charge reaction molecule bond electron velocity "
    "wait maybe check again actually hmm okay alternatively suppose assume "
    "x y z n k m a b c p q r 0 1 2 3 4 5 6 7 8 9 10 12 16 100 = + - * / ( ) "
    "< > <= >= ^2 ^3 , . : ; ? !"
).split() + [
    "\\frac{a}{b}", "\\sqrt{2}", "\\sum_{i=1}^{n}", "\\pi", "\\cdot", "\\leq",
    "$x^2$", "$$", '"quoted"', "'s", "f(x)", "O(n\\log n)", "->",
    "π", "≤", "≥", "→", "∑", "é", "α", "β", "θ", "√", "×", "—",
]  # fmt: skip
CUM_WEIGHTS = list(itertools.accumulate(1.0 / (1 + (i % 40)) for i in range(len(WORDS))))
ANSWERS = ["42", "\\frac{3}{4}", "2\\sqrt{2}", "n(n+1)/2", "O(n)", "True"]
SCHEMA = pa.schema([
    ("id", pa.int64()), ("source", pa.string()), ("domain", pa.string()),
    ("difficulty", pa.int64()), ("score", pa.float64()),
    ("conversations", pa.list_(pa.struct([("from", pa.string()), ("value", pa.string())]))),
])  # fmt: skip


def _text(rng: random.Random, n_chars: int) -> str:
    n_words = max(1, n_chars // 6)
    words = rng.choices(WORDS, cum_weights=CUM_WEIGHTS, k=n_words)
    for i in range(60, n_words, 60 + rng.randrange(40)):
        words[i] = words[i] + "\n\n"
    return " ".join(words)


def rows_of(n: int, seed: int = 0) -> Iterator[dict]:
    """``n`` rows; the same ``seed`` always gives the same rows."""
    rng = random.Random(seed)
    for i in range(n):
        source, domain = SOURCES[rng.randrange(len(SOURCES))]
        difficulty = rng.randint(1, 10)
        score = round(rng.random(), 6)
        prompt_len = int(min(8000, max(40, rng.lognormvariate(5.6, 0.6))))
        if rng.random() < 0.005:
            response_len = rng.randint(10_000, 50_000)
        else:
            response_len = int(min(50_000, max(60, rng.lognormvariate(7.25, 0.9))))
        answer = rng.choice(ANSWERS)
        think = _text(rng, response_len)
        response = "<think>\n" + think + "\n</think>\n\n**Final Answer**\n\\boxed{" + answer + "}"
        prompt = _text(rng, prompt_len)
        yield {
            "id": i, "source": source, "domain": domain, "difficulty": difficulty, "score": score,
            "conversations": [{"from": "human", "value": prompt}, {"from": "gpt", "value": response}],
        }  # fmt: skip


def _chunks(rows: Iterator[dict], size: int) -> Iterator[list[dict]]:
    while chunk := list(itertools.islice(rows, size)):
        yield chunk


def write_jsonl(path: str, n: int, seed: int = 0) -> None:
    with open(path, "wb") as f:
        for chunk in _chunks(rows_of(n, seed), 2000):
            f.write(b"".join(orjson.dumps(r) + b"\n" for r in chunk))


def write_parquet(path: str, n: int, seed: int = 0, row_group_rows: int = 10_000) -> None:
    with pq.ParquetWriter(path, SCHEMA, compression="snappy") as writer:
        for chunk in _chunks(rows_of(n, seed), row_group_rows):
            writer.write_table(pa.Table.from_pylist(chunk, SCHEMA), row_group_size=row_group_rows)


def main() -> None:
    parser = argparse.ArgumentParser(description="Write synthetic OpenThoughts3-shaped rows.")
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--format", choices=["jsonl", "parquet"], default="jsonl")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--row-group-rows", type=int, default=10_000)
    args = parser.parse_args()
    if args.format == "jsonl":
        write_jsonl(args.out, args.rows, args.seed)
    else:
        write_parquet(args.out, args.rows, args.seed, args.row_group_rows)


if __name__ == "__main__":
    main()
