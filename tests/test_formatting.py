"""with_format on Dataset and IterableDataset: numbers as arrays/tensors, strings as str."""

import numpy as np
import pyarrow as pa
import pytest

import crucible_datasets as cd

ROWS = [{"x": i, "f": i / 2, "v": [i, i + 1], "r": list(range(i % 3)), "s": f"s{i}"} for i in range(6)]


def test_numpy_rows_batches_and_columns():
    ds = cd.Dataset.from_list(ROWS).with_format("numpy")
    assert ds["x"].dtype == np.int64 and ds["x"].tolist() == list(range(6))
    assert ds[0:2]["v"].shape == (2, 2) and ds[0:2]["s"] == ["s0", "s1"]
    assert [a.tolist() for a in ds[0:3]["r"]] == [[], [0], [0, 1]]  # ragged: a list of arrays
    row = ds[1]
    assert isinstance(row["x"], np.integer) and row["s"] == "s1" and row["v"].tolist() == [1, 2]
    stream = cd.Dataset.from_list(ROWS).to_iterable_dataset().with_format("numpy", columns=["x", "v"])
    assert list(next(iter(stream))) == ["x", "v"]
    batch = next(stream.iter(batch_size=4))
    assert batch["v"].shape == (4, 2)


def test_torch_dtypes():
    torch = pytest.importorskip("torch")
    ds = cd.Dataset.from_list(ROWS).to_iterable_dataset().with_format("torch")
    batch = next(ds.iter(batch_size=3))
    assert batch["x"].dtype == torch.int64 and batch["f"].dtype == torch.float32
    assert batch["s"] == ["s0", "s1", "s2"]
    assert next(iter(ds))["v"].tolist() == [0, 1]


def test_arrow_pandas_and_back_to_python():
    ds = cd.Dataset.from_list(ROWS).to_iterable_dataset()
    assert isinstance(next(ds.with_format("arrow").iter(batch_size=2)), pa.Table)
    if pytest.importorskip("importlib.util").find_spec("pandas"):
        assert len(next(ds.with_format("pandas").iter(batch_size=2))) == 2
    assert next(iter(ds.with_format("numpy").with_format(None))) == ROWS[0]
    with pytest.raises(ValueError, match="format type must be one of"):
        ds.with_format("tensorflow")
