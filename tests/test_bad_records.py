"""The bad-record policy (crucible_datasets/bad_records.py): raise, skip, dead letters, pickling."""

from __future__ import annotations

import ast
import os
import pickle
import threading

import orjson
import pytest

from crucible_datasets import errors
from crucible_datasets.bad_records import ON_ERROR_CHOICES, BadRecord, ErrorPolicy, check_on_error
from crucible_datasets.errors import BadRecordError

RECORD = BadRecord("a.jsonl", 3, 17, "not valid JSON", b"{oops")


def test_raise_names_file_line_offset_and_reason():
    with pytest.raises(BadRecordError, match=r"a\.jsonl, line 3, byte offset 17: not valid JSON") as info:
        ErrorPolicy().handle(RECORD)
    assert info.value.record is RECORD


def test_skip_counts_and_writes_nothing(tmp_path):
    policy = ErrorPolicy("skip", str(tmp_path))
    for _ in range(3):
        policy.handle(RECORD)
    assert policy.bad == 3 and os.listdir(tmp_path) == []


def test_dead_letters_are_json_lines_with_a_bounded_raw_snippet(tmp_path):
    policy = ErrorPolicy("dead_letter", str(tmp_path / "errors"))
    policy.handle(RECORD)
    policy.handle(BadRecord("b.parquet", 5, None, "does not fit the schema", "x" * 2000))
    policy.close()
    [name] = os.listdir(tmp_path / "errors")
    assert name.startswith("errors-") and name.endswith(".jsonl")
    lines = [orjson.loads(line) for line in (tmp_path / "errors" / name).read_bytes().splitlines()]
    expected = {"file": "a.jsonl", "line": 3, "offset": 17, "reason": "not valid JSON", "raw": "{oops"}
    assert lines[0] == expected
    assert lines[1]["offset"] is None and len(lines[1]["raw"]) == 512
    assert policy.bad == 2


def test_each_policy_writes_its_own_file(tmp_path):
    policies = [ErrorPolicy("dead_letter", str(tmp_path)) for _ in range(2)]
    for policy in policies:
        policy.handle(RECORD)
        policy.close()
    assert len(os.listdir(tmp_path)) == 2


def test_a_pickled_policy_keeps_its_settings_and_opens_its_own_file(tmp_path):
    policy = ErrorPolicy("dead_letter", str(tmp_path))
    policy.handle(RECORD)
    copy = pickle.loads(pickle.dumps(policy))
    assert (copy.on_error, copy.errors_path, copy.bad) == ("dead_letter", str(tmp_path), 1)
    assert isinstance(copy._lock, type(threading.Lock()))
    copy.handle(RECORD)
    copy.close()
    policy.close()
    assert len(os.listdir(tmp_path)) == 2


def test_choices_are_checked():
    assert [check_on_error(c) for c in ON_ERROR_CHOICES] == list(ON_ERROR_CHOICES)
    with pytest.raises(ValueError, match="on_error='ignore' is not one of raise, skip, dead_letter"):
        ErrorPolicy("ignore")
    with pytest.raises(ValueError, match="needs errors_path="):
        ErrorPolicy("dead_letter")


def test_errors_module_holds_only_exceptions_and_imports_nothing_from_the_package():
    tree = ast.parse(open(errors.__file__).read())
    imported = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert not [m for m in imported if m.startswith("crucible_datasets")]
    classes = [getattr(errors, n.name) for n in tree.body if isinstance(n, ast.ClassDef)]
    assert classes and all(issubclass(c, Exception) for c in classes)
