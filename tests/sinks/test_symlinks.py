"""A write never deletes or overwrites anything outside its output through a symlink (sinks/base.py)."""

from __future__ import annotations

import os

import pytest

import crucible_datasets as cd
from crucible_datasets.errors import OutputEscapeError


def _tree(folder) -> dict[str, bytes]:
    return {
        os.path.relpath(os.path.join(d, f), folder): open(os.path.join(d, f), "rb").read()
        for d, _, files in os.walk(folder)
        for f in files
    }


@pytest.mark.parametrize("linked", [".crucible-tmp", "data", ".crucible-tmp/default", "manifest.json"])
def test_a_symlink_inside_the_output_that_leads_outside_is_refused(tmp_path, linked):
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    (elsewhere / "default" / "train").mkdir(parents=True)
    (elsewhere / "default" / "train" / "keep.txt").write_text("precious")
    (elsewhere / "train-00000-of-00001.parquet").write_text("not ours")
    (elsewhere / "manifest.json").write_text("{}")
    link = out / linked
    link.parent.mkdir(parents=True, exist_ok=True)
    target = elsewhere / "manifest.json" if linked == "manifest.json" else elsewhere
    os.symlink(target, link)
    before = _tree(elsewhere)
    ds = cd.Dataset.from_list([{"x": 1}, {"x": 2}])
    with pytest.raises(OutputEscapeError, match="through a symlink, outside the output folder") as info:
        ds.write_parquet(str(out))
    assert str(link) in str(info.value)
    assert _tree(elsewhere) == before


def test_a_symlinked_output_folder_itself_is_fine(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    os.symlink(real, tmp_path / "link")
    cd.Dataset.from_list([{"x": 1}]).write_parquet(str(tmp_path / "link"))
    assert cd.load(str(real), split="train")["x"] == [1]
