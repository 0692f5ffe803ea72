"""The formats against the real ``datasets`` 5.2: text (every sample_by), arrow, .bz2/.xz JSON Lines."""

from __future__ import annotations

import bz2
import lzma

import pytest

import crucible_datasets as cd

TEXT = b"first line\r\nsecond line\n\nafter a blank\n\n\n\nlast paragraph\nends here\n"

LOAD = """
import datasets, json
ds = datasets.load_dataset(ARGS["builder"], data_files=ARGS["files"], split="train", **ARGS["kwargs"])
print(json.dumps(ds.to_list()))
"""


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"keep_linebreaks": True},
        {"sample_by": "paragraph"},
        {"sample_by": "document"},
    ],
)
def test_text_matches_datasets(hf_python, tmp_path, kwargs):
    path = tmp_path / "corpus.txt"
    path.write_bytes(TEXT)
    expected = hf_python(LOAD, builder="text", files=[str(path)], kwargs=kwargs)
    assert cd.load(str(path), split="train", **kwargs).to_list() == expected
    assert list(cd.load(str(path), split="train", streaming=True, **kwargs)) == expected


def test_arrow_written_by_datasets_matches(hf_python, tmp_path):
    out = tmp_path / "saved"
    written = hf_python(
        """
import datasets, glob, json
ds = datasets.Dataset.from_dict({"id": list(range(2500)), "text": [f"row {i}" for i in range(2500)],
                                 "tags": [[i, i + 1] for i in range(2500)]})
ds.save_to_disk(ARGS["out"])
files = sorted(glob.glob(ARGS["out"] + "/*.arrow"))
again = datasets.load_dataset("arrow", data_files=files, split="train")
print(json.dumps({"files": files, "rows": again.to_list()}))
""",
        out=str(out),
    )
    files, expected = written["files"], written["rows"]
    assert len(files) == 1 and len(expected) == 2500
    path = files[0]
    with open(path, "rb") as f:
        assert f.read(6) != b"ARROW1"  # datasets writes the stream form
    assert cd.load(path, split="train").to_list() == expected
    fmt = cd.formats.get_format("arrow")
    assert fmt.num_rows(path) == 2500 and len(fmt.row_groups(path)) > 1  # splittable by batch


@pytest.mark.parametrize(("suffix", "compress"), [(".bz2", bz2.compress), (".xz", lzma.compress)])
def test_compressed_json_lines_match_datasets(hf_python, tmp_path, suffix, compress):
    path = tmp_path / f"train.jsonl{suffix}"
    path.write_bytes(compress(b'{"q": "1+1", "a": 2}\n{"q": "2+2", "a": 4}\n{"q": "x", "a": null}\n'))
    expected = hf_python(LOAD, builder="json", files=[str(path)], kwargs={})
    assert cd.load(str(path), split="train").to_list() == expected
