"""Split/config discovery on real folders: the Hub's inference rules and README ``configs:``."""

from __future__ import annotations

import glob as globlib
import os
import shutil
import tempfile
import textwrap

import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crucible_datasets.storage.discovery import (
    ConfigLayout,
    DatasetNotFoundError,
    EmptyDatasetError,
    Layout,
    LayoutError,
    _glob_regex,
    infer_layout,
    resolve,
)
from tests.data_paths import GSM8K_DIR

GSM8K = GSM8K_DIR


def make(root, *paths: str, content: str = '{"a": 1}\n') -> None:
    for rel in paths:
        path = os.path.join(str(root), rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(content)


def readme(root, yaml_text: str, body: str = "# Card\n") -> None:
    with open(os.path.join(str(root), "README.md"), "w") as f:
        f.write("---\n" + textwrap.dedent(yaml_text).strip("\n") + "\n---\n\n" + body)


def rel_splits(layout: Layout, config: str | None = None) -> dict[str, list[str]]:
    root = layout.root
    return {s: [os.path.relpath(p, root) for p in files] for s, files in layout.config(config).splits.items()}


# --- split inference without a README: the cases of HF tests/test_data_files.py, as real files ---

HF_CASES = [
    # file named after split at the root
    {"train": "train.jsonl", "validation": "valid.jsonl", "test": "test.jsonl"},
    # file named after split in a directory
    {"train": "data/train.jsonl", "validation": "data/valid.jsonl", "test": "data/test.jsonl"},
    # directory named after split
    {"train": "train/split.jsonl", "validation": "valid/split.jsonl", "test": "test/split.jsonl"},
    # sharded splits {dir}/train_*
    {
        "train": [f"data/train_{i}.jsonl" for i in range(3)],
        "validation": [f"data/validation_{i}.jsonl" for i in range(3)],
        "test": [f"data/test_{i}.jsonl" for i in range(3)],
    },
    # sharded splits with the standard format, plus a custom split name
    {
        "train": [f"data/train-0000{i}-of-00003.parquet" for i in range(3)],
        "validation": [f"data/validation-0000{i}-of-00003.parquet" for i in range(3)],
        "test": [f"data/test-0000{i}-of-00003.parquet" for i in range(3)],
        "random": [f"data/random-0000{i}-of-00003.parquet" for i in range(3)],
    },
    # default to train
    {"train": "dataset.jsonl"},
    {"train": "data/dataset.jsonl"},
    {"train": ["data/image.jpg", "metadata.jsonl"]},
    # prefix or suffix in directory or file names
    {"train": "my_train_dir/dataset.jsonl"},
    {"train": "data/my_train_file.jsonl"},
    {"test": "my_test_dir/dataset.jsonl"},
    {"test": "data/my_test_file.jsonl"},
    {"validation": "my_validation_dir/dataset.jsonl"},
    {"validation": "data/my_validation_file.jsonl"},
    {"train": "train_dir/dataset.jsonl"},
    {"train": "data/train_file.jsonl"},
    {"test": "test_dir/dataset.jsonl"},
    {"test": "data/test_file.jsonl"},
    {"validation": "validation_dir/dataset.jsonl"},
    {"validation": "data/validation_file.jsonl"},
    {"train": "my_train/dataset.jsonl"},
    {"train": "data/my_train.jsonl"},
    {"test": "my_test/dataset.jsonl"},
    {"test": "data/my_test.jsonl"},
    {"validation": "my_validation/dataset.jsonl"},
    {"validation": "data/my_validation.jsonl"},
    # test <> testing/eval/evaluation, train <> training
    {"test": "eval.jsonl"},
    {"test": "data/eval.jsonl"},
    {"test": "eval/dataset.jsonl"},
    {"test": "testing.csv"},
    {"test": "evaluation/part.csv"},
    {"train": "training.tsv"},
    # valid <> dev/val
    {"validation": "dev.jsonl"},
    {"validation": "data/dev.jsonl"},
    {"validation": "dev/dataset.jsonl"},
    {"validation": "val.jsonl"},
    {"validation": "data/val.jsonl"},
    # other extensions
    {"train": "train.parquet", "validation": "valid.parquet", "test": "test.parquet"},
    {"train": "train.csv", "test": "test.tsv"},
    {"train": "train.ndjson", "test": "test.json"},
    # compressed
    {"train": "train.jsonl.gz", "validation": "dev.csv.zst", "test": "test.jsonl.zstd"},
    # "dev" or "eval" without separators
    {"train": "developers_list.jsonl"},
    {"train": "data/seqeval_results.jsonl"},
    {"train": "contest.jsonl"},
    {"train": "pretrain.jsonl"},
    # supported separators
    {"test": "my.test.file.jsonl"},
    {"test": "my-test-file.jsonl"},
    {"test": "my_test_file.jsonl"},
    {"test": "my test file.jsonl"},
    {"test": "my-test_file.jsonl"},
    {"test": "test00001.jsonl"},
    # <split>/<split> case: the folder decides
    {"test": "test/train.jsonl"},
]


@pytest.mark.parametrize("case", HF_CASES, ids=lambda c: "+".join(c.keys()) + ":" + str(c[next(iter(c))]))
def test_split_inference_matches_hf_cases(tmp_path, case):
    case = {split: [paths] if isinstance(paths, str) else paths for split, paths in case.items()}
    make(tmp_path, *(p for paths in case.values() for p in paths))
    layout = resolve(str(tmp_path))
    assert list(layout.configs) == ["default"]
    config = layout.configs["default"]  # the splits; reading mixed formats is another matter
    assert config.name == "default" and config.default
    expected = {
        split: sorted(str(tmp_path / p) for p in paths if not p.endswith(".jpg"))
        for split, paths in case.items()
    }
    assert list(config.splits) == list(expected)  # split order too
    assert config.splits == expected


def test_split_order_is_train_validation_test_then_others(tmp_path):
    make(tmp_path, "test.jsonl", "dev.jsonl", "train.jsonl")
    assert list(resolve(str(tmp_path)).config(None).splits) == ["train", "validation", "test"]
    shards = tmp_path / "sharded"
    make(shards, *(f"data/{s}-00000-of-00001.parquet" for s in ["zeta", "test", "alpha", "train"]))
    assert list(resolve(str(shards)).config(None).splits) == ["train", "test", "alpha", "zeta"]


def test_data_prefix_with_shards_and_compression(tmp_path):
    make(
        tmp_path,
        "data/train-00000-of-00002.jsonl.zst",
        "data/train-00001-of-00002.jsonl",
        "data/test-00000-of-00001.jsonl.gz",
    )
    assert rel_splits(resolve(str(tmp_path))) == {
        "train": ["data/train-00000-of-00002.jsonl.zst", "data/train-00001-of-00002.jsonl"],
        "test": ["data/test-00000-of-00001.jsonl.gz"],
    }


def test_sharded_names_are_kept_as_written_like_hf(tmp_path):
    # HF takes the split of data/{split}-NNNNN-of-NNNNN.* literally: "dev" stays "dev" there.
    make(tmp_path, "data/train-00000-of-00001.parquet", "data/dev-00000-of-00001.parquet")
    assert list(resolve(str(tmp_path)).config(None).splits) == ["train", "dev"]


def test_sharded_split_name_must_be_a_word(tmp_path):
    make(tmp_path, "data/my-split-00000-of-00001.parquet")
    with pytest.raises(LayoutError, match="my-split"):
        resolve(str(tmp_path))


def test_shard_without_split_name_is_an_error(tmp_path):
    make(tmp_path, "data/-00000-of-00001.parquet")
    with pytest.raises(LayoutError, match="no split name"):
        resolve(str(tmp_path))


def test_first_matching_rule_wins_like_hf(tmp_path):
    # sharded data/ files beat everything; split folders beat split file names; the rest is dropped
    make(tmp_path, "data/train-00000-of-00001.parquet", "extra/test.parquet", "other.parquet")
    assert rel_splits(resolve(str(tmp_path))) == {"train": ["data/train-00000-of-00001.parquet"]}
    folder = tmp_path / "dirs"
    make(folder, "train/a.jsonl", "test.jsonl", "notes.jsonl")
    assert rel_splits(resolve(str(folder))) == {"train": ["train/a.jsonl"]}


def test_no_keyword_means_every_data_file_is_train(tmp_path):
    make(tmp_path, "a.jsonl", "b/c.ndjson", "b/d/e.jsonl.gz")
    assert rel_splits(resolve(str(tmp_path))) == {"train": ["a.jsonl", "b/c.ndjson", "b/d/e.jsonl.gz"]}


def test_unsupported_hidden_and_metadata_files_are_ignored(tmp_path):
    make(
        tmp_path,
        "train.jsonl",
        "test.jsonl",
        "README.md",
        "LICENSE",
        "notes.txt",
        "test.txt",
        "images/test.png",
        "manifest.json",
        "dataset_info.json",
        "dataset_infos.json",
        "config.json",
        ".train.jsonl",
        ".git/test.jsonl",
        ".cache/test/part.jsonl",
        ".tmp-1234/train-00000.jsonl",
        "__pycache__/test.jsonl",
        "_errors/test-errors.jsonl",
        "sub/_errors/train.jsonl",
    )
    assert rel_splits(resolve(str(tmp_path))) == {"train": ["train.jsonl"], "test": ["test.jsonl"]}


def test_hidden_parts_of_the_root_itself_do_not_count(tmp_path):
    root = tmp_path / ".hidden_root"
    make(root, "train.jsonl")
    assert rel_splits(resolve(str(root))) == {"train": ["train.jsonl"]}


def test_folder_without_data_files_is_an_empty_dataset(tmp_path):
    make(tmp_path, "README.md", "notes.txt", ".git/x.jsonl")
    with pytest.raises(EmptyDatasetError, match="no data files") as info:
        resolve(str(tmp_path))
    assert str(tmp_path) in str(info.value)
    assert isinstance(info.value, FileNotFoundError)


def test_infer_layout_never_touches_storage_and_joins_urls():
    root = "hf://datasets/someone/thing"
    layout = infer_layout(root, ["README.md", "data/train-00000-of-00001.parquet", "data/.x.jsonl"], None)
    assert layout.root == root
    assert layout.config(None).splits == {"train": [root + "/data/train-00000-of-00001.parquet"]}


# --- README configs ---


def test_gsm8k_hub_style_repo(gsm8k_repo):
    layout = resolve(str(gsm8k_repo))
    assert list(layout.configs) == ["main", "socratic"]
    assert rel_splits(layout, "main") == {
        "train": ["main/train-00000-of-00001.parquet"],
        "test": ["main/test-00000-of-00001.parquet"],
    }
    assert rel_splits(layout, "socratic") == {"test": ["socratic/test-00000-of-00001.parquet"]}
    assert not any(c.default for c in layout.configs.values())
    assert layout.config("main").options == {}  # dataset_info is not a config option
    rows = {
        s: sum(pq.ParquetFile(f).metadata.num_rows for f in fs)
        for s, fs in layout.config("main").splits.items()
    }
    assert rows == {"train": 7473, "test": 1319}
    assert pq.ParquetFile(layout.files("socratic", "test")[0]).metadata.num_rows == 1319


def test_gsm8k_hub_style_repo_needs_a_config_name(gsm8k_repo):
    layout = resolve(str(gsm8k_repo))
    with pytest.raises(LayoutError, match="pick a config among: main, socratic"):
        layout.config(None)
    with pytest.raises(LayoutError) as info:
        layout.files("socratic", "train")
    assert str(info.value) == (
        f"split 'train' not found in config 'socratic' of {gsm8k_repo}; available splits: test"
    )
    with pytest.raises(LayoutError, match="config 'Main' not found .*available configs: main, socratic"):
        layout.files("Main", "train")


def test_gsm8k_hub_style_repo_without_readme_falls_back_to_file_names(gsm8k_repo, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(gsm8k_repo, copy)
    os.remove(copy / "README.md")
    assert rel_splits(resolve(str(copy))) == {
        "train": ["main/train-00000-of-00001.parquet"],
        "test": ["main/test-00000-of-00001.parquet", "socratic/test-00000-of-00001.parquet"],
    }


def test_real_gsm8k_folder_as_is():
    # HF rules: test_socratic.jsonl matches "**/test[-._ 0-9]*", so it joins the test split.
    layout = resolve(GSM8K)
    assert layout.root == GSM8K and list(layout.configs) == ["default"]
    assert layout.config(None).splits == {
        "train": [f"{GSM8K}/train.jsonl"],
        "test": [f"{GSM8K}/test.jsonl", f"{GSM8K}/test_socratic.jsonl"],
    }
    lines = {s: sum(sum(1 for _ in open(f)) for f in fs) for s, fs in layout.config(None).splits.items()}
    assert lines == {"train": 7473, "test": 2 * 1319}


def test_real_gsm8k_single_file_and_glob():
    single = resolve(f"{GSM8K}/test_socratic.jsonl")
    assert single.root == f"{GSM8K}/test_socratic.jsonl"
    assert single.config(None).splits == {"train": [f"{GSM8K}/test_socratic.jsonl"]}
    assert resolve(f"{GSM8K}/t*.jsonl").config(None).splits == resolve(GSM8K).config(None).splits
    assert resolve(f"{GSM8K}/test.json[l]").config(None).splits == {"test": [f"{GSM8K}/test.jsonl"]}


@pytest.mark.parametrize(
    ("data_files", "expected"),
    [
        ("a.jsonl", {"train": ["a.jsonl"]}),
        ("parts/*.jsonl", {"train": ["parts/p0.jsonl", "parts/p1.jsonl"]}),
        (["a.jsonl", "parts/p1.jsonl"], {"train": ["a.jsonl", "parts/p1.jsonl"]}),
        (
            [{"split": "train", "path": ["parts/*", "a.jsonl"]}, {"split": "test", "path": "b.ndjson"}],
            {"train": ["a.jsonl", "parts/p0.jsonl", "parts/p1.jsonl"], "test": ["b.ndjson"]},
        ),
        (
            {"test": "b.ndjson", "train": ["parts/p0.jsonl"]},
            {"test": ["b.ndjson"], "train": ["parts/p0.jsonl"]},
        ),
        ("**/*.jsonl", {"train": ["a.jsonl", "deep/x/y.jsonl", "parts/p0.jsonl", "parts/p1.jsonl"]}),
        ("**", {"train": ["a.jsonl", "b.ndjson", "deep/x/y.jsonl", "parts/p0.jsonl", "parts/p1.jsonl"]}),
        ("parts/p[!0].jsonl", {"train": ["parts/p1.jsonl"]}),
        ("./parts/p?.jsonl", {"train": ["parts/p0.jsonl", "parts/p1.jsonl"]}),
        ("parts/.*", {"train": ["parts/.h.jsonl"]}),  # hidden files only when asked for
    ],
)
def test_readme_data_files_shapes(tmp_path, data_files, expected):
    import yaml

    make(tmp_path, "a.jsonl", "b.ndjson", "parts/p0.jsonl", "parts/p1.jsonl", "deep/x/y.jsonl")
    make(tmp_path, "parts/.h.jsonl")
    make(tmp_path, "notes.txt", "_errors/a.jsonl", "manifest.json")
    readme(tmp_path, yaml.safe_dump({"configs": [{"config_name": "c", "data_files": data_files}]}))
    layout = resolve(str(tmp_path))
    assert list(layout.configs) == ["c"]
    assert layout.config(None).default  # the only config is the default one
    assert rel_splits(layout) == expected
    assert list(layout.config("c").splits) == list(expected)  # YAML order, as HF


def test_readme_hidden_folders_only_when_the_pattern_names_them():
    # (local listings skip hidden folders altogether; remote listings, e.g. of a Hub repo, do not)
    files = [".hidden/h.jsonl", ".hidden/.deeper/d.jsonl", "v.jsonl"]
    text = "---\nconfigs:\n- config_name: c\n  data_files: [.hidden/*, '**']\n---\n"
    layout = infer_layout("hf://datasets/a/b", files, text)
    assert layout.files("c", "train") == ["hf://datasets/a/b/.hidden/h.jsonl", "hf://datasets/a/b/v.jsonl"]


def test_readme_options_default_and_data_dir(tmp_path):
    make(tmp_path, "raw/records.json", "tables/train.tsv", "tables/test.tsv", "plain/x.jsonl")
    readme(
        tmp_path,
        """
        configs:
        - config_name: records
          data_files: raw/records.json
          field: data
        - config_name: tables
          data_dir: tables
          data_files:
            train: train.*
            test: test.*
          sep: "\\t"
          default: true
        - config_name: inferred
          data_dir: tables
        - config_name: everything
        """,
    )
    layout = resolve(str(tmp_path))
    assert list(layout.configs) == ["records", "tables", "inferred", "everything"]
    assert layout.config(None).name == "tables"
    assert [c.name for c in layout.configs.values() if c.default] == ["tables"]
    assert layout.config("records").options == {"field": "data"}
    assert layout.config("tables").options == {"sep": "\t"}
    assert rel_splits(layout, "tables") == {"train": ["tables/train.tsv"], "test": ["tables/test.tsv"]}
    assert rel_splits(layout, "inferred") == rel_splits(layout, "tables")
    # no data_files, no data_dir: the default patterns over the whole repo (HF), whose data files
    # are of three formats: an error naming them, unless format= picks one
    with pytest.raises(LayoutError, match="config 'everything' of .* has data files of 3 formats"):
        layout.config("everything")
    layout = resolve(str(tmp_path), format="csv")
    assert rel_splits(layout, "everything") == {"train": ["tables/train.tsv"], "test": ["tables/test.tsv"]}


def test_readme_config_named_default_is_the_default(tmp_path):
    make(tmp_path, "a.jsonl", "b.jsonl")
    readme(
        tmp_path,
        """
        configs:
        - config_name: other
          data_files: b.jsonl
        - config_name: default
          data_files: a.jsonl
        """,
    )
    assert resolve(str(tmp_path)).config(None).name == "default"


def test_readme_several_defaults_is_an_error(tmp_path):
    make(tmp_path, "a.jsonl")
    readme(
        tmp_path,
        """
        configs:
        - config_name: one
          data_files: a.jsonl
          default: true
        - config_name: two
          data_files: a.jsonl
          default: true
        """,
    )
    with pytest.raises(LayoutError, match="several default configs: one, two"):
        resolve(str(tmp_path))


def test_readme_pattern_matching_nothing_names_config_split_and_pattern(tmp_path):
    make(tmp_path, "main/train-00000-of-00001.parquet", "main/notes.txt")
    readme(
        tmp_path,
        """
        configs:
        - config_name: main
          data_files:
          - split: train
            path: main/train-*
          - split: test
            path: [main/test-*]
        """,
    )
    with pytest.raises(LayoutError) as info:
        resolve(str(tmp_path))
    message = str(info.value)
    assert "config 'main'" in message and "split 'test'" in message and "'main/test-*'" in message
    assert str(tmp_path) in message


def test_readme_pattern_matching_only_unsupported_files_is_an_error(tmp_path):
    make(tmp_path, "a.md")
    readme(tmp_path, "configs:\n- config_name: c\n  data_files: '*.md'\n")
    with pytest.raises(LayoutError, match=r"pattern '\*\.md' matches no data files .*\.jsonl"):
        resolve(str(tmp_path))


def test_readme_without_configs_block_falls_back_to_inference(tmp_path):
    make(tmp_path, "train.jsonl", "valid.jsonl")
    readme(tmp_path, "license: mit\npretty_name: X\n")
    assert rel_splits(resolve(str(tmp_path))) == {"train": ["train.jsonl"], "validation": ["valid.jsonl"]}
    with open(tmp_path / "README.md", "w") as f:
        f.write("# No header\n\nconfigs:\n- config_name: ignored\n")
    assert list(resolve(str(tmp_path)).configs) == ["default"]


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("configs: [", "not valid YAML"),
        ("configs:\n- config_name: a\n  data_files: a.jsonl\n  data_files: b.jsonl\n", "duplicate YAML keys"),
        ("configs:\n  config_name: a\n", "must be a list"),
        ("configs:\n- data_files: a.jsonl\n", "needs a 'config_name'"),
        ("configs:\n- config_name: a\n  data_files: 3\n", "'data_files' must be"),
        ("configs:\n- config_name: a\n  data_files: [{split: train}]\n", "'data_files' must be"),
        (
            "configs:\n- config_name: a\n  data_files: [a.jsonl, {split: x, path: a.jsonl}]\n",
            "'data_files' must be",
        ),
        (
            "configs:\n- config_name: a\n  data_files:\n"
            "  - {split: x, path: a.jsonl}\n  - {split: x, path: b.jsonl}\n",
            "listed twice",
        ),
        ("configs:\n- config_name: a\n  data_files: {bad-name: a.jsonl}\n", "split name 'bad-name'"),
        (
            "configs:\n- {config_name: a, data_files: a.jsonl}\n- {config_name: a, data_files: a.jsonl}\n",
            "twice",
        ),
        ("- just\n- a list\n", "must be a mapping"),
    ],
)
def test_readme_errors_name_the_dataset(tmp_path, yaml_text, message):
    make(tmp_path, "a.jsonl")
    readme(tmp_path, yaml_text)
    with pytest.raises(LayoutError, match=message) as info:
        resolve(str(tmp_path))
    assert str(tmp_path) in str(info.value)


def test_readme_absolute_paths_inside_and_outside_the_root(tmp_path):
    make(tmp_path, "repo/a.jsonl", "elsewhere/b.jsonl")
    root = tmp_path / "repo"
    readme(root, f"configs:\n- config_name: c\n  data_files: [{root}/a.jsonl]\n")
    assert resolve(str(root)).config(None).splits == {"train": [f"{root}/a.jsonl"]}
    for outside in (str(tmp_path / "elsewhere/b.jsonl"), f"{tmp_path}/elsewhere/*.jsonl"):
        readme(root, f"configs:\n- config_name: c\n  data_files: [a.jsonl, '{outside}']\n")
        with pytest.raises(LayoutError, match="leaves the dataset") as info:
            resolve(str(root))
        assert f"README.md of {root}, config 'c', split 'train': path {outside!r}" in str(info.value)


@pytest.mark.parametrize(
    "data_files",
    [
        "../elsewhere/b.jsonl",
        "sub/../../elsewhere/b.jsonl",
        '{"test": "../elsewhere/*.jsonl"}',
        "file://{tmp}/elsewhere/b.jsonl",
        "gs://bucket/b.jsonl",
        "https://example.com/b.jsonl",
        "hf://datasets/other/repo/b.jsonl",
        "~/b.jsonl",
        "C:/b.jsonl",
    ],
)
def test_a_readme_can_never_make_a_read_leave_the_folder(tmp_path, data_files):
    make(tmp_path, "repo/a.jsonl", "repo/sub/c.jsonl", "elsewhere/b.jsonl")
    root = tmp_path / "repo"
    readme(root, f"configs:\n- config_name: c\n  data_files: {data_files.replace('{tmp}', str(tmp_path))}\n")
    message = r"README.md of .*repo, config 'c', split '\w+': path .* leaves the dataset"
    with pytest.raises(LayoutError, match=message):
        resolve(str(root))


def test_a_readme_data_dir_may_not_leave_the_folder(tmp_path):
    make(tmp_path, "repo/a.jsonl", "elsewhere/train.jsonl")
    root = tmp_path / "repo"
    for data_dir in ("../elsewhere", str(tmp_path / "elsewhere")):
        readme(root, f"configs:\n- config_name: c\n  data_dir: '{data_dir}'\n")
        with pytest.raises(LayoutError, match=r"config 'c', data_dir: path .* leaves the dataset"):
            resolve(str(root))


# --- Layout.config / files on hand-built layouts ---


def test_layout_default_resolution_rules():
    a, b = ConfigLayout("a", {"train": ["x"]}), ConfigLayout("b", {"train": ["y"]})
    assert Layout("r", {"a": a}).config(None) is a
    assert Layout("r", {"a": a, "default": b}).config(None) is b
    marked = ConfigLayout("b", {"train": ["y"]}, default=True)
    assert Layout("r", {"a": a, "b": marked}).config(None) is marked
    with pytest.raises(LayoutError, match="pick a config among: a, b"):
        Layout("r", {"a": a, "b": b}).config(None)
    with pytest.raises(
        LayoutError, match="split 'dev' not found in config 'a' of r; available splits: train"
    ):
        Layout("r", {"a": a}).files(None, "dev")
    assert Layout("r", {"a": a}).files("a", "train") == ["x"]


# --- resolve: files, globs, missing paths ---


def test_resolve_single_file_any_extension(tmp_path):
    make(tmp_path, "data.csv.gz")
    layout = resolve(str(tmp_path / "data.csv.gz"))
    assert layout.configs == {
        "default": ConfigLayout("default", {"train": [str(tmp_path / "data.csv.gz")]}, True)
    }


def test_resolve_relative_path_is_made_absolute(tmp_path, monkeypatch):
    make(tmp_path, "ds/train.jsonl")
    monkeypatch.chdir(tmp_path)
    layout = resolve("ds")
    assert layout.root == str(tmp_path / "ds")
    assert layout.files(None, "train") == [str(tmp_path / "ds/train.jsonl")]


def test_resolve_glob_infers_splits_below_its_fixed_folder(tmp_path):
    make(tmp_path, "train/p0.jsonl", "train/p1.jsonl", "test/p0.jsonl", "test/notes.txt", "train/.x.jsonl")
    layout = resolve(str(tmp_path / "*" / "p*"))
    assert layout.root == str(tmp_path)
    assert rel_splits(layout) == {"train": ["train/p0.jsonl", "train/p1.jsonl"], "test": ["test/p0.jsonl"]}
    only_train = resolve(str(tmp_path / "train" / "*.jsonl"))
    assert only_train.root == str(tmp_path / "train")
    assert rel_splits(only_train) == {"train": ["p0.jsonl", "p1.jsonl"]}


def test_resolve_existing_path_with_glob_characters_is_taken_literally(tmp_path):
    make(tmp_path, "run[1]/train.jsonl", "run[1]/test.jsonl", "runs/other.jsonl")
    assert rel_splits(resolve(str(tmp_path / "run[1]"))) == {"train": ["train.jsonl"], "test": ["test.jsonl"]}
    assert resolve(str(tmp_path / "run[1]" / "test.jsonl")).files(None, "train") == [
        str(tmp_path / "run[1]" / "test.jsonl")
    ]


def test_resolve_glob_errors(tmp_path):
    make(tmp_path, "notes.txt")
    with pytest.raises(FileNotFoundError, match=r"no files match .*\*\.jsonl"):
        resolve(str(tmp_path / "*.jsonl"))
    with pytest.raises(EmptyDatasetError, match=r"\*\.txt matches no data files"):
        resolve(str(tmp_path / "*.txt"))


def test_resolve_missing_path_names_it(tmp_path):
    missing = str(tmp_path / "nope" / "train.jsonl")
    with pytest.raises(FileNotFoundError, match="nope/train.jsonl"):
        resolve(missing)


# --- the glob matcher agrees with Python's glob on real trees ---

_SEGMENTS = ["a", "b", "ab", "train", "x_test", ".h", "__p"]
_FILES = ["a.f", "b.f", "train.f", "x-1.f", ".h.f"]
_TOKENS = [
    "a",
    "b",
    "*",
    "**",
    "?",
    "[ab]",
    "[!a]",
    "a*",
    "*b",
    "a**",
    "train",
    "x",
    "[-._ 0-9]",
    "[!.-]",
    "[!-a]",
    ".h",
    "__p",
]


@st.composite
def _trees_and_patterns(draw):
    files = draw(
        st.lists(
            st.tuples(st.lists(st.sampled_from(_SEGMENTS), max_size=3), st.sampled_from(_FILES)).map(
                lambda t: "/".join([*t[0], t[1]])
            ),
            min_size=1,
            max_size=12,
            unique=True,
        )
    )
    if draw(st.booleans()):  # a pattern made from random tokens
        parts = draw(
            st.lists(st.lists(st.sampled_from(_TOKENS), min_size=1, max_size=3), min_size=1, max_size=4)
        )
        segments = ["".join(p) for p in parts]
        last = draw(st.sampled_from(["*.f", "**", "a.f", "*", "?.f", "[!.]*"]))
        return files, "/".join([*segments[:-1], last] if draw(st.booleans()) else segments)
    segments = []  # a pattern made from one of the files, so that it often matches something
    for segment in draw(st.sampled_from(files)).split("/"):
        choice = draw(st.sampled_from(["keep", "keep", "*", "**", "?", "class", "insert**", "prefix*"]))
        if choice == "keep":
            segments.append(segment)
        elif choice == "?":
            segments.append("?" + segment[1:])
        elif choice == "class":
            segments.append(f"[{segment[0]}b]" + segment[1:])
        elif choice == "insert**":
            segments += ["**", segment]
        elif choice == "prefix*":
            segments.append(segment[:1] + "*")
        else:
            segments.append(choice)
    return files, "/".join(segments)


@settings(max_examples=150, deadline=None)
@given(_trees_and_patterns())
def test_glob_regex_agrees_with_python_glob(tree_and_pattern):
    files, pattern = tree_and_pattern
    with tempfile.TemporaryDirectory() as root:
        make(root, *files)
        expected = sorted(  # a set: Python's glob lists a file twice for "**/**"
            {
                os.path.relpath(p, root)
                for p in globlib.glob(os.path.join(root, pattern), recursive=True, include_hidden=True)
                if os.path.isfile(p)
            }
        )
    regex = _glob_regex(pattern)
    assert sorted(f for f in files if regex.fullmatch(f)) == expected, pattern


# --- one format per config; data-looking files without a reader; missing paths ---


def test_a_folder_of_two_formats_is_an_error_naming_both(tmp_path):
    make(tmp_path, "train.jsonl", "extra.csv", "notes.txt")
    layout = resolve(str(tmp_path))
    with pytest.raises(LayoutError) as info:
        layout.config(None)
    message = str(info.value)
    assert str(tmp_path) in message and "2 formats" in message
    assert "jsonl: train.jsonl" in message and "csv: extra.csv" in message and "format=" in message
    with pytest.raises(LayoutError, match="2 formats"):
        layout.files(None, "train")
    # format= picks one; split inference then sees only that format's files
    assert rel_splits(resolve(str(tmp_path), format="csv")) == {"train": ["extra.csv"]}
    assert rel_splits(resolve(str(tmp_path), format="jsonl")) == {"train": ["train.jsonl"]}
    with pytest.raises(LayoutError, match="has no parquet files; it has csv: extra.csv; jsonl: train.jsonl"):
        resolve(str(tmp_path), format="parquet").config(None)


def test_one_format_under_another_name_is_read_with_format(tmp_path):
    make(tmp_path, "train.json", "test.json")
    layout = resolve(str(tmp_path), format="jsonl")  # one format: format= names the reader, keeps all
    assert rel_splits(layout) == {"train": ["train.json"], "test": ["test.json"]}


@pytest.mark.parametrize(
    "name", ["data-00000-of-00001.orc", "train.csv.lz4", "part.jsonl.zip", "x.feather", "rows.avro"]
)
def test_data_looking_files_without_a_reader_are_not_skipped(tmp_path, name):
    make(tmp_path, name, "notes.txt")  # notes.txt is no data (.txt has a reader, but not for notes)
    with pytest.raises(LayoutError, match=r"no reader for \.[a-z.0-9]+ files \(" + name.replace(".", r"\.")):
        resolve(str(tmp_path)).config(None)
    with pytest.raises(LayoutError, match="no reader"):
        resolve(str(tmp_path / name)).config(None)  # the file itself
    make(tmp_path, "train.jsonl")
    with pytest.raises(LayoutError, match=r"2 formats: .*files \(no reader\): " + name.replace(".", r"\.")):
        resolve(str(tmp_path)).config(None)
    assert rel_splits(resolve(str(tmp_path), format="jsonl")) == {"train": ["train.jsonl"]}


def test_a_glob_of_two_formats_is_an_error(tmp_path):
    make(tmp_path, "part-0.jsonl", "part-1.parquet")
    with pytest.raises(LayoutError, match="2 formats"):
        resolve(str(tmp_path / "part-*")).config(None)
    assert rel_splits(resolve(str(tmp_path / "part-*"), format="parquet")) == {"train": ["part-1.parquet"]}


def test_readme_config_of_two_formats_fails_only_when_picked(tmp_path):
    make(tmp_path, "a.jsonl", "b.csv")
    configs = "- {config_name: one, data_files: a.jsonl}\n- {config_name: all, data_files: '*'}"
    readme(tmp_path, "configs:\n" + configs)
    layout = resolve(str(tmp_path))
    assert rel_splits(layout, "one") == {"train": ["a.jsonl"]}
    with pytest.raises(LayoutError, match="config 'all' of .* has data files of 2 formats"):
        layout.config("all")
    assert rel_splits(resolve(str(tmp_path), format="csv"), "all") == {"train": ["b.csv"]}


def test_missing_path_says_what_is_there(tmp_path, monkeypatch):
    make(tmp_path, "data/train.jsonl", "data/test.jsonl")
    with pytest.raises(DatasetNotFoundError) as info:
        resolve(str(tmp_path / "data" / "trian.jsonl"))
    message = str(info.value)
    assert f"no file or folder '{tmp_path / 'data' / 'trian.jsonl'}'" in message
    assert f"{tmp_path / 'data'} holds: test.jsonl, train.jsonl" in message
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DatasetNotFoundError, match=rf"'nope/x' here \({tmp_path}\); {tmp_path} holds: data/"):
        resolve("nope/x")
    with pytest.raises(DatasetNotFoundError, match=r"no files match .*\*\.csv; .*data holds: test.jsonl"):
        resolve("data/*.csv")


# --- load(data_files=, data_dir=): a Selection in place of the README configs ---


def test_selection_data_files_forms(tmp_path):
    from crucible_datasets.storage.discovery import Selection

    make(tmp_path, "a/train.jsonl", "a/x.jsonl", "b/test.jsonl", "c.jsonl")
    root = str(tmp_path)
    globbed = resolve(root, selection=Selection("a/*.jsonl"))
    assert rel_splits(globbed) == {"train": ["a/train.jsonl", "a/x.jsonl"]}
    in_order = resolve(root, selection=Selection(["c.jsonl", "a/x.jsonl"]))
    assert rel_splits(in_order) == {"train": ["c.jsonl", "a/x.jsonl"]}  # pattern order, as datasets
    mapping = resolve(root, selection=Selection({"test": "b/*", "train": ["c.jsonl"]}))
    assert rel_splits(mapping) == {"test": ["b/test.jsonl"], "train": ["c.jsonl"]}
    below = resolve(root, selection=Selection(data_dir="a"))
    assert rel_splits(below) == {"train": ["a/train.jsonl"]}  # split keyword inference below data_dir
    both = resolve(root, selection=Selection("x.jsonl", data_dir="a"))
    assert rel_splits(both) == {"train": ["a/x.jsonl"]}


def test_selection_overrides_readme_configs_and_keeps_their_options(tmp_path):
    from crucible_datasets.storage.discovery import Selection

    make(tmp_path, "one.csv", "two.csv", content="a;b\n1;2\n")
    readme(tmp_path, "configs:\n- {config_name: semi, data_files: one.csv, sep: ';'}\n")
    layout = resolve(str(tmp_path), selection=Selection("two.csv", config="semi"))
    assert rel_splits(layout) == {"train": ["two.csv"]} and layout.config(None).options == {"sep": ";"}
    with pytest.raises(LayoutError, match="config 'nope' not found .*semi"):
        resolve(str(tmp_path), selection=Selection("two.csv", config="nope"))


def test_unmatched_data_files_name_the_pattern_and_what_exists(tmp_path):
    from crucible_datasets.storage.discovery import DataFilesNotFoundError, Selection

    make(tmp_path, "train.jsonl", "sub/test.jsonl")
    exists = r"split 'test': pattern 'tst/\*' .*: sub/test.jsonl, train.jsonl"
    with pytest.raises(DataFilesNotFoundError, match=exists):
        resolve(str(tmp_path), selection=Selection({"test": "tst/*"}))
    with pytest.raises(DataFilesNotFoundError, match=r"data_dir 'nope' .*no data files below.*train.jsonl"):
        resolve(str(tmp_path), selection=Selection(data_dir="nope"))
    with pytest.raises(LayoutError, match="is a file or a pattern"):
        resolve(str(tmp_path / "train.jsonl"), selection=Selection("train.jsonl"))
    with pytest.raises(ValueError, match="data_files must be a pattern"):
        Selection({"train": 3})


def test_data_files_pick_among_formats_and_absolute_paths(tmp_path):
    from crucible_datasets.storage.discovery import Selection

    make(tmp_path, "d/a.jsonl", "d/b.csv", "elsewhere/e.jsonl")
    root = str(tmp_path / "d")
    with pytest.raises(LayoutError, match=r"or data_files= to pick the files, e.g. data_files='\*\*/"):
        resolve(root).config(None)
    assert rel_splits(resolve(root, selection=Selection("*.csv"))) == {"train": ["b.csv"]}
    absolute = str(tmp_path / "elsewhere" / "*.jsonl")
    outside = resolve(root, selection=Selection({"train": [absolute, str(tmp_path / "d" / "a.jsonl")]}))
    expected = [str(tmp_path / "elsewhere" / "e.jsonl"), f"{root}/a.jsonl"]
    assert outside.config(None).splits == {"train": expected}
