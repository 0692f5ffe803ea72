"""The one README front-matter reader (crucible_datasets/storage/readme.py), strict and lenient."""

from __future__ import annotations

import pytest

from crucible_datasets.storage.readme import ReadmeError, configs_block, split_front_matter, yaml_header

CARD = "---\nlicense: mit\nconfigs:\n- config_name: main\n  data_files: main/*.parquet\n---\n# Card\n"


def test_header_and_body():
    assert yaml_header(CARD)["license"] == "mit"
    assert split_front_matter(CARD) == (yaml_header(CARD), "# Card\n")
    assert configs_block(yaml_header(CARD)) == [{"config_name": "main", "data_files": "main/*.parquet"}]


@pytest.mark.parametrize("text", ["# Just a card\n", "", "--- not a header\n"])
def test_no_header(text):
    assert yaml_header(text) == {}
    assert split_front_matter(text) == (None, text)


def test_empty_header_and_a_byte_order_mark():
    assert split_front_matter("---\n---\nbody\n") == ({}, "body\n")
    assert yaml_header("\ufeff" + CARD)["license"] == "mit"
    assert split_front_matter("\ufeff" + CARD)[1] == "# Card\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("---\nkey: [unclosed\n---\nBody\n", "not valid YAML"),
        ("---\n- a\n- b\n---\nBody\n", "must be a mapping"),
        ("---\na: 1\na: 2\n---\nBody\n", "duplicate YAML keys"),
    ],
)
def test_a_bad_header_is_an_error_for_discovery_and_replaced_by_the_card(text, message):
    with pytest.raises(ReadmeError, match=message):
        yaml_header(text)
    assert split_front_matter(text) == (None, "Body\n")
