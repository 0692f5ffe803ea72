"""Real input folders for the training tests: several JSONL files and several Parquet files."""

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

ROWS_PER_FILE = 3000


def write_jsonl_folder(folder, files=4):
    folder.mkdir()
    for f in range(files):
        rows = [{"i": f * ROWS_PER_FILE + j, "v": [j, j + 1], "t": f"r{j}"} for j in range(ROWS_PER_FILE)]
        (folder / f"part-{f}.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return folder


def write_parquet_folder(folder, files=3):
    folder.mkdir()
    for f in range(files):
        ids = list(range(f * ROWS_PER_FILE, (f + 1) * ROWS_PER_FILE))
        table = pa.table({"i": ids, "v": [[j, j + 1] for j in ids], "t": [f"r{j}" for j in ids]})
        pq.write_table(table, folder / f"part-{f}.parquet", row_group_size=1000)
    return folder
