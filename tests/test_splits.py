"""Split expressions: parsing and row arithmetic (against ``datasets``' own), lazy planned reads."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import crucible_datasets as cd
from crucible_datasets.pipeline import Tally
from crucible_datasets.splits import SplitExpressionError, SubSplit, is_expression, parse_split

EXPRESSIONS = [
    "train",
    "train[:10%]",
    "train[10%:]",
    "train[33%:67%]",
    "train[-33%:]",
    "train[:-10%]",
    "train[100:200]",
    "train[-500:]",
    "train[:-3]",
    "train[5:2]",
    "train[1_000:]",
    "train[:50%](closest)",
    "train[:50%](pct1_dropremainder)",
    "train[-99%:](pct1_dropremainder)",
]
SIZES = [0, 1, 7, 99, 100, 101, 333, 1001]


def test_parse_sub_splits_joined_with_plus():
    assert parse_split("test[:50%] + train[10:-5]") == [
        SubSplit("test", None, 50, "%", "closest"),
        SubSplit("train", 10, -5, "abs", None),
    ]
    assert [s.split for s in parse_split("train.clean+validation")] == ["train.clean", "validation"]


@pytest.mark.parametrize(
    "bad",
    ["train[:10]x", "train[:101%]", "train[a:b]", "train[:10](closest)", "train[:10%](floor)", "", "+train"],
)
def test_bad_expressions_are_errors_naming_them(bad):
    with pytest.raises(SplitExpressionError):
        parse_split(bad)


def test_is_expression():
    assert not is_expression("validation") and is_expression("train[:1]") and is_expression("a+b")


def test_bounds_match_datasets_read_instruction(hf_python):
    """Every expression on every split size, through ``datasets.ReadInstruction.to_absolute``."""
    snippet = """
import json
from datasets.arrow_reader import ReadInstruction
out = []
for expression in ARGS["expressions"]:
    for n in ARGS["sizes"]:
        try:
            absolute = ReadInstruction.from_spec(expression).to_absolute({"train": n})
            out.append([[a.from_, a.to] for a in absolute])
        except ValueError:
            out.append("error")
print(json.dumps(out))
"""
    theirs = iter(hf_python(snippet, expressions=EXPRESSIONS, sizes=SIZES))
    for expression in EXPRESSIONS:
        for n in SIZES:
            expected = next(theirs)
            try:
                ours = [list(s.bounds(n)) for s in parse_split(expression)]
            except SplitExpressionError:
                ours = "error"
            assert ours == expected, (expression, n)


@pytest.fixture
def groups(tmp_path):
    """Two Parquet files of 10-row row groups: rows 0..49 and 50..99."""
    folder = tmp_path / "pq"
    folder.mkdir()
    for i in range(2):
        table = pa.table({"x": list(range(i * 50, i * 50 + 50)), "s": [f"r{j}" for j in range(50)]})
        pq.write_table(table, folder / f"train-{i}.parquet", row_group_size=10)
    return str(folder)


def test_streaming_parquet_slice_opens_only_the_row_groups_it_needs(groups):
    ds = cd.load(groups, split="train[52:58]", streaming=True)
    parts = ds.pipeline.source.parts()
    assert [(p.path.rsplit("/", 1)[1], p.start, p.end) for p in parts] == [("train-1.parquet", 0, 10)]  # rows
    tally = Tally()
    rows = [r["x"] for b in ds.pipeline.run_parts(parts, tally) for r in b.rows]
    assert rows == list(range(52, 58))
    group = pq.ParquetFile(parts[0].path).metadata.row_group(0)
    stored = sum(group.column(c).total_compressed_size for c in range(group.num_columns))
    assert tally.files == {parts[0].path} and tally.bytes_read == stored  # one row group of 10
    across = cd.load(groups, split="train[45:62]", streaming=True).pipeline.source.parts()
    assert [(p.path.rsplit("/", 1)[1], p.start) for p in across] == [
        ("train-0.parquet", 40),
        ("train-1.parquet", 0),
        ("train-1.parquet", 10),
    ]


def test_streaming_parquet_negative_and_percent_use_the_footers(groups):
    ds = cd.load(groups, split="train[-15:]+train[:5%]", streaming=True)
    parts = ds.pipeline.source.parts()
    assert len(parts) == 3  # row groups 3 and 4 of the second file, row group 0 of the first
    assert [r["x"] for r in ds] == list(range(85, 100)) + list(range(5))


def test_streaming_jsonl_slice_stops_reading_at_the_end_of_the_slice(tmp_path):
    path = tmp_path / "train.jsonl"
    rows = 3000  # more than one read batch (2048 rows) before the bad line
    path.write_text("".join(json.dumps({"x": i}) + "\n" for i in range(rows)) + "{not json\n")
    assert [r["x"] for r in cd.load(str(path), split="train[3:6]", streaming=True)] == [3, 4, 5]
    assert cd.load(str(path), split="train[:4]")["x"] == [0, 1, 2, 3]
    with pytest.raises(cd.BadRecordError):  # a negative bound counts every row first
        list(cd.load(str(path), split="train[-2:]", streaming=True))
    counted = cd.load(str(path), split="train[-2:]", streaming=True, on_error="skip")
    assert [r["x"] for r in counted] == [rows - 2, rows - 1]


def test_an_empty_slice_keeps_the_columns(groups):
    ds = cd.load(groups, split="train[5:2]")
    assert len(ds) == 0 and ds.column_names == ["x", "s"]


def test_a_shuffled_slice_holds_the_same_rows(groups):
    ds = cd.load(groups, split="train[15:45]", streaming=True).shuffle(seed=3, buffer_size=4)
    assert sorted(r["x"] for r in ds) == list(range(15, 45))


def test_an_unknown_split_in_an_expression_names_it_and_the_splits(groups):
    with pytest.raises(SplitExpressionError, match=r"split='train\[:5\]\+tset'.*'tset' not found.*: train"):
        cd.load(groups, split="train[:5]+tset")
    with pytest.raises(SplitExpressionError, match=r"'train\[:x\]' is not a split expression.*splits: train"):
        cd.load(groups, split="train[:x]")


def test_pct1_dropremainder_refuses_small_splits(groups):
    assert len(cd.load(groups, split="train[:50%](pct1_dropremainder)")) == 50
    small = cd.load(groups, split="train[:10]")
    assert len(small) == 10
    with pytest.raises(SplitExpressionError, match="fewer than 100 rows"):
        cd.load(groups, data_files="train-0.parquet", split="train[:50%](pct1_dropremainder)")
