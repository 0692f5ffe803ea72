"""The dead-letter writer (crucible_datasets/sinks/dead_letters.py) on real folders."""

from __future__ import annotations

import os

import orjson

from crucible_datasets.sinks.dead_letters import DeadLetterFile


def test_the_file_is_created_on_the_first_record_and_flushed_per_line(tmp_path):
    letters = DeadLetterFile(str(tmp_path / "nested" / "errors"))
    assert letters.path is None and not (tmp_path / "nested").exists()
    letters.write({"line": 1})
    assert os.path.dirname(letters.path) == str(tmp_path / "nested" / "errors")
    assert open(letters.path, "rb").read() == b'{"line":1}\n'  # flushed before close
    letters.write({"line": 2})
    letters.close()
    letters.close()  # twice is fine
    assert [orjson.loads(x) for x in open(letters.path, "rb")] == [{"line": 1}, {"line": 2}]


def test_two_writers_never_share_a_file(tmp_path):
    first, second = DeadLetterFile(str(tmp_path)), DeadLetterFile(str(tmp_path))
    first.write({"a": 1})
    second.write({"a": 2})
    first.close()
    second.close()
    assert first.path != second.path and len(os.listdir(tmp_path)) == 2
