"""Provenance in the manifest and the card: source, revision, package version, stages with
their rows, spec, history; the source card's licence, citation and column descriptions; never
a local absolute path or a token. Sources: a local folder, the test Hub (a private repo read
with a token), the GCS emulator."""

from __future__ import annotations

import os
from importlib import metadata

import orjson
import pytest

import crucible_datasets as cd
from crucible_datasets.sinks.manifest import HISTORY_RUNS
from tests.servers.repos import PRIVATE_TOKEN
from tests.sinks.helpers import card_front_matter, manifest

CITATION = "@article{test2024card,\n  title={A Card With A Citation},\n  year={2024}\n}"
SOURCE_CARD = f"""---
license: cc-by-4.0
pretty_name: Carded Rows
language:
- en
task_categories:
- text-generation
---
# Carded rows

## Data Fields

- `question`: The question asked by a person.
- `answer` (string): The answer, worked out.

## Citation

```bibtex
{CITATION}
```
"""
ROWS = b"".join(
    orjson.dumps({"question": f"q{i}", "answer": f"a{i}", "score": i / 10}) + b"\n" for i in range(10)
)


def split_entry(out) -> dict:
    return manifest(str(out))["configs"]["default"]["splits"]["train"]


def card_text(out) -> str:
    return (out / "README.md").read_text(encoding="utf-8")


def assert_nothing_private(out, *secrets: str) -> None:
    """No file a reader sees (card, manifest) holds a local absolute path or a secret."""
    for name in ("README.md", "manifest.json"):
        text = (out / name).read_text(encoding="utf-8")
        for secret in secrets:
            assert secret not in text, f"{name} contains {secret!r}"


def carded_folder(root) -> str:
    folder = root / "carded"
    (folder / "train").mkdir(parents=True)
    (folder / "README.md").write_text(SOURCE_CARD)
    (folder / "train" / "part-0.jsonl").write_bytes(ROWS)
    return str(folder)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("runner", ["local", "direct"])
def test_a_local_folder_with_a_card(tmp_path, runner):
    src, out = carded_folder(tmp_path), tmp_path / "out"
    ds = (
        cd.load(src, split="train", streaming=True)
        .filter(lambda r: r["score"] >= 0.3)
        .select_columns(["question", "answer"])
    )
    spec = {"source": {"path": src, "hf_token": "hf_secret123"}, "sink": {"path": str(out)}}
    ds.write_parquet(str(out), runner=runner, spec=spec)
    entry = split_entry(out)
    assert entry["source"] == "carded (config default, split train)"
    assert entry["revision"] is None  # local files have none
    assert entry["package_version"] == metadata.version("crucible-datasets") == cd.__version__
    assert entry["stages"] == [
        {"name": "read", "kind": "read", "rows_in": 10, "rows_out": 10, "bad": 0},
        {"name": "RowFilter", "kind": "per_batch", "rows_in": 10, "rows_out": 7, "bad": 0},
        {"name": "SelectColumns", "kind": "per_batch", "rows_in": 7, "rows_out": 7, "bad": 0},
        {"name": "write", "kind": "write", "rows_in": 7, "rows_out": 7, "bad": 0},
    ]
    assert entry["spec"] == {"source": {"path": "carded", "hf_token": "<redacted>"}, "sink": {"path": "out"}}
    assert entry["source_card"]["license"] == "cc-by-4.0" and entry["source_card"]["citation"] == CITATION
    assert [run["rows"] for run in entry["history"]] == [7]
    meta = card_front_matter(str(out))
    assert meta["license"] == "cc-by-4.0" and meta["pretty_name"] == "Carded Rows"
    assert meta["language"] == ["en"] and meta["task_categories"] == ["text-generation"]
    text = card_text(out)
    assert "| `question` | `string` | The question asked by a person. |" in text
    assert "| `answer` | `string` | The answer, worked out. |" in text
    assert "| RowFilter | per_batch | 10 | 7 | 0 |" in text
    assert f"```bibtex\n{CITATION}\n```" in text and "licence `cc-by-4.0`" in text
    assert 'cd.load("out", split="train")' in text and 'load_dataset("out", split="train")' in text
    assert_nothing_private(out, str(tmp_path), "hf_secret123")


@pytest.mark.timeout(300)
def test_a_private_hub_repo_read_with_a_token(tmp_path, hub_server):
    sha = hub_server.add_repo(
        "test/carded",
        {"README.md": SOURCE_CARD.encode(), "data/train.jsonl": ROWS},
        private=True,
        token=PRIVATE_TOKEN,
    ).refs["main"]
    out = tmp_path / "out"
    ds = cd.load("test/carded", split="train", streaming=True, token=PRIVATE_TOKEN)
    ds.write_jsonl(str(out), spec={"source": {"path": "test/carded", "token": PRIVATE_TOKEN}})
    entry = split_entry(out)
    assert entry["revision"] == sha
    assert entry["source"] == "test/carded (config default, split train)"
    assert entry["source_card"]["citation"] == CITATION
    assert entry["spec"]["source"]["token"] == "<redacted>"
    assert card_front_matter(str(out))["license"] == "cc-by-4.0"
    assert f"at revision `{sha}`" in card_text(out)
    assert_nothing_private(out, str(tmp_path), PRIVATE_TOKEN)


@pytest.mark.timeout(300)
def test_the_hub_commit_pinned_by_the_load_and_the_licence_of_gsm8k(tmp_path, hub_server):
    out = tmp_path / "out"
    cd.load("openai/gsm8k", config="main", split="test", streaming=True).take(5).write_parquet(str(out))
    entry = split_entry(out)
    assert entry["revision"] == hub_server.shas["gsm8k"]
    read, take, written = entry["stages"]
    assert (take["name"], take["kind"], take["rows_out"]) == ("Take", "whole_stream", 5)
    assert read["rows_out"] == take["rows_in"] == entry["counts"]["rows_read"]  # the batches read
    assert written["rows_in"] == 5
    assert card_front_matter(str(out))["license"] == "mit"  # from the source's card
    assert "citation" not in entry["source_card"] and "## Citation" not in card_text(out)


@pytest.mark.timeout(300)
def test_gcs_object_generations(tmp_path, gcs_emulator):
    from crucible_datasets.storage import filesystem, gcs

    url = gcs_emulator.path("src/train.jsonl")
    with filesystem.open_output(url) as f:
        f.write(ROWS)
    _, generation = gcs.read_generation(url)
    out = tmp_path / "out"
    cd.load(url, split="train", streaming=True).write_parquet(str(out))
    revision = split_entry(out)["revision"]
    assert revision["generations"] == {url: generation}
    assert revision["digest"].startswith("sha256:")
    assert split_entry(out)["source"] == f"{url} (config default, split train)"


@pytest.mark.timeout(300)
def test_the_history_keeps_the_last_runs(tmp_path):
    out = str(tmp_path / "out")
    for i in range(HISTORY_RUNS + 2):
        cd.Dataset.from_list([{"x": j} for j in range(i + 1)]).write_parquet(out)
    history = manifest(out)["configs"]["default"]["splits"]["train"]["history"]
    assert [run["rows"] for run in history] == list(range(3, HISTORY_RUNS + 3))
    keys = {"run_id", "created", "rows", "counts", "revision", "generation"}
    assert all(set(run) == keys for run in history)
    assert len({run["run_id"] for run in history}) == HISTORY_RUNS


@pytest.mark.timeout(600)
def test_the_card_loads_in_datasets_and_the_hub_card_reader(tmp_path, hf_python):
    src, out = carded_folder(tmp_path), tmp_path / "out"
    cd.load(src, split="train", streaming=True).write_parquet(str(out), spec={"stages": []})
    got = hf_python(
        "import datasets, json, os\n"
        "from huggingface_hub import DatasetCard\n"
        "d = datasets.load_dataset(ARGS['p'], split='train')\n"
        "card = DatasetCard.load(os.path.join(ARGS['p'], 'README.md')).data\n"
        "print(json.dumps([len(d), d.column_names, card.license, card.pretty_name]))",
        p=str(out),
    )
    assert got == [10, ["question", "answer", "score"], "cc-by-4.0", "Carded Rows"]
    assert os.path.isfile(out / "manifest.json")
