"""The Hub's naming conventions (crucible_datasets/naming.py), and that the package uses one copy."""

from __future__ import annotations

import ast
import pathlib

import pytest

from crucible_datasets import naming
from crucible_datasets.storage.discovery import infer_splits

PACKAGE = pathlib.Path(naming.__file__).parent


def test_shard_names_and_data_dirs():
    assert naming.shard_name(None, "train", 0, 4, ".parquet") == "data/train-00000-of-00004.parquet"
    named = naming.shard_name("extra", "test", 12, 100, ".jsonl.zst")
    assert named == "extra/test-00012-of-00100.jsonl.zst"
    assert [naming.data_dir(c) for c in (None, "default", "x")] == ["data", "data", "x"]


def test_written_shard_names_are_read_back_as_their_split():
    splits = ("test", "train.clean")
    written = [naming.shard_name(None, split, i, 2, ".parquet") for split in splits for i in range(2)]
    found = infer_splits(written)
    assert found == {"test": written[:2], "train.clean": written[2:]}
    assert all(naming.SHARD_NAME.match(name.split("/")[1])["split"] in found for name in written)


@pytest.mark.parametrize(
    ("name", "ok"), [("train", True), ("train.clean", True), ("a-b", False), ("", False)]
)
def test_split_name_rule(name, ok):
    assert bool(naming.SPLIT_NAME.match(name)) is ok


@pytest.mark.parametrize(
    ("name", "ok"), [("default", True), ("en-v1.2", True), ("-x", False), ("a/b", False)]
)
def test_config_name_rule(name, ok):
    assert bool(naming.CONFIG_NAME.match(name)) is ok


def test_split_keywords_are_the_hubs():
    assert naming.DEFAULT_SPLITS == ("train", "validation", "test")
    assert {"valid", "dev", "val"} <= set(naming.SPLIT_KEYWORDS["validation"])


def test_naming_imports_nothing_from_the_package():
    tree = ast.parse((PACKAGE / "naming.py").read_text())
    modules = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    modules += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert not [m for m in modules if m.startswith("crucible_datasets")]


def test_the_default_config_name_is_written_once():
    spelled = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
                if node.value.value == "default" and any(
                    isinstance(t, ast.Name) and t.id == "DEFAULT_CONFIG" for t in node.targets
                ):
                    spelled.append(str(path.relative_to(PACKAGE)))
    assert spelled == ["naming.py"]
