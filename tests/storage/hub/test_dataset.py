"""Hub datasets as layouts (storage/hub/dataset.py) against the test Hub."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from crucible_datasets.storage import filesystem as fs
from crucible_datasets.storage.discovery import LayoutError
from crucible_datasets.storage.hub import api, dataset, paths

GSM8K_TRAIN = "main/train-00000-of-00001.parquet"


def test_resolve_hub_gives_the_gsm8k_configs_pinned_to_a_commit(hub_server):
    sha = hub_server.shas["gsm8k"]
    layout = dataset.resolve_hub("openai/gsm8k")
    assert layout.root == f"hf://datasets/openai/gsm8k@{sha}"
    assert set(layout.configs) == {"main", "socratic"}
    assert layout.files("main", "train") == [f"hf://datasets/openai/gsm8k@{sha}/{GSM8K_TRAIN}"]
    assert list(layout.config("socratic").splits) == ["test"]
    with fs.open_input(layout.files("socratic", "test")[0]) as raw:
        assert pq.ParquetFile(raw).metadata.num_rows == 1319
    # hf:// URLs and owner/name@revision work too
    assert dataset.resolve_hub(f"hf://datasets/openai/gsm8k@{sha}").root == layout.root
    assert dataset.resolve_hub("openai/gsm8k@main").root == layout.root
    sub = dataset.resolve_hub("hf://datasets/openai/gsm8k/main")
    assert all(
        f.startswith(f"hf://datasets/openai/gsm8k@{sha}/main/")
        for c in sub.configs.values()
        for files in c.splits.values()
        for f in files
    )


def test_revisions_are_pinned(hub_server):
    v1, v2 = hub_server.shas["revs_v1"], hub_server.shas["revs_v2"]
    read = lambda rev: fs.open_input(paths.hf_url("test/revs", "data.jsonl", rev)).read()  # noqa: E731
    assert read("v1") == read(v1) == b'{"version": 1, "text": "first"}\n'
    assert read("main") == read(v2) != read(v1)
    assert dataset.resolve_hub("test/revs", revision="v1").root.endswith(f"@{v1}")
    assert api.resolve_revision("test/revs") == v2

    # a file opened on a branch keeps reading the commit it was opened at
    f = fs.open_input(paths.hf_url("test/revs", "data.jsonl", "main"))
    hub_server.repos[("dataset", "test/revs")].commit({"data.jsonl": b'{"version": 3}\n'})
    assert f.read() == read(v2)
    assert read("main") == b'{"version": 3}\n'


def test_is_hub_id(tmp_path, monkeypatch):
    assert dataset.is_hub_id("openai/gsm8k") and dataset.is_hub_id("open-thoughts/OpenThoughts3-1.2M")
    assert dataset.is_hub_id("openai/gsm8k@main")
    for not_hub in ("gsm8k", "a/b/c", "hf://datasets/a/b", "./a", "/a/b", "gs://a/b", "data/train.jsonl"):
        assert not dataset.is_hub_id(not_hub), not_hub
    (tmp_path / "owner" / "name").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert not dataset.is_hub_id("owner/name")


def test_is_hub_id_agrees_with_discovery_on_data_files():
    from crucible_datasets.formats import looks_like_data

    # a missing "data/x.<data extension>" is a missing local file, never a Hub repo to ask about
    for name in ("data/train.jsonl.bz2", "data/part.csv.xz", "out/x.feather", "d/data-00000-of-00001.arrow"):
        assert looks_like_data(name) and not dataset.is_hub_id(name), name
    assert dataset.is_hub_id("someone/data.v2")  # dots are fine in repo names


def test_hub_repo_of_two_formats_is_an_error_unless_format_picks_one(hub_server):
    hub_server.add_repo("test/mixed", {"data/train.jsonl": b'{"a": 1}\n', "data/extra.csv": b"a\n2\n"})
    with pytest.raises(LayoutError, match=r"test/mixed@[0-9a-f]{40} has data files of 2 formats"):
        dataset.resolve_hub("test/mixed").config(None)
    layout = dataset.resolve_hub("test/mixed", format="csv")
    assert [url.rsplit("/", 1)[1] for url in layout.files(None, "train")] == ["extra.csv"]
    sub = dataset.resolve_hub("hf://datasets/test/mixed/data", format="jsonl")  # a folder inside the repo
    assert [url.rsplit("/", 1)[1] for url in sub.files(None, "train")] == ["train.jsonl"]


@pytest.mark.parametrize(
    "outside",
    [
        "{local}",
        "file://{local}",
        "data/../../{name}",
        "hf://datasets/openai/gsm8k/main/train-00000-of-00001.parquet",
        "https://example.com/x.jsonl",
    ],
)
def test_a_hostile_hub_readme_cannot_make_a_read_leave_the_repo(hub_server, tmp_path, outside):
    import crucible_datasets as cd

    secret = tmp_path / "secret.jsonl"
    secret.write_text('{"secret": "local file"}\n')
    pattern = outside.format(local=secret, name=secret.name)
    card = "---\nconfigs:\n- config_name: default\n  data_files:\n  - split: train\n"
    card += f"    path: '{pattern}'\n---\n"
    hub_server.add_repo("evil/card", {"README.md": card.encode(), "data/train.jsonl": b'{"a": 1}\n'})
    with pytest.raises(LayoutError, match="leaves the dataset") as info:
        cd.load("evil/card", split="train")
    message = str(info.value)
    assert "README.md of hf://datasets/evil/card@" in message and f"path {pattern!r}" in message
