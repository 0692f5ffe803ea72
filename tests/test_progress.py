"""Progress: task files summed by the driver's bar; a real bar on a pseudo-terminal."""

import subprocess
import sys

from crucible_datasets.progress import FolderProgress, TaskProgressFile


def test_task_files_add_up(tmp_path):
    a = TaskProgressFile(str(tmp_path / "progress-00000.json"))
    b = TaskProgressFile(str(tmp_path / "progress-00001.json"))
    a.advance(nbytes=100, rows=3)
    b.advance(rows=2)
    b.advance(nbytes=50)  # throttled: not yet on disk
    b.close()
    (tmp_path / "other.json").write_text("{}")
    assert FolderProgress(str(tmp_path), 1000).totals() == (150, 5)


def test_bar_draws_on_a_terminal_and_not_in_a_pipe(tmp_path):
    path = tmp_path / "n.jsonl"
    path.write_bytes(b"".join(b'{"i": %d, "pad": "%s"}\n' % (i, b"x" * 200) for i in range(50_000)))
    code = (
        "import crucible_datasets as cd, sys; "
        f"cd.load({str(path)!r}, split='train', streaming=True).write_parquet({str(tmp_path / 'out')!r})"
    )
    command = f"stty cols 120 rows 40; {sys.executable} -c \"{code}\""
    on_tty = subprocess.run(["script", "-qc", command, "/dev/null"], capture_output=True, timeout=120)
    assert b"writing:" in on_tty.stdout and b"11.2M" in on_tty.stdout  # the bar, with the input's size
    piped = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120)
    assert piped.returncode == 0 and b"writing" not in piped.stderr
