"""Progress on a terminal: rows, input bytes done / total, rate and ETA; silent otherwise.

Uses tqdm (a well-kept progress library) and draws only when stderr is a terminal, so logs
and CI output stay clean.
"""

from __future__ import annotations

import sys

from tqdm import tqdm


class Progress:
    """Counts input bytes (the bar) and rows (shown beside it)."""

    def __init__(self, total_bytes: int, description: str = "reading", enabled: bool | None = None) -> None:
        if enabled is None:
            enabled = sys.stderr.isatty()
        self.rows = 0
        self._bar = (
            tqdm(
                total=total_bytes,
                unit="B",
                unit_scale=True,
                desc=description,
                dynamic_ncols=True,
                leave=False,
            )
            if enabled
            else None
        )

    def advance(self, nbytes: int = 0, rows: int = 0) -> None:
        self.rows += rows
        if self._bar is not None:
            self._bar.update(nbytes)
            self._bar.set_postfix(rows=f"{self.rows:,}", refresh=False)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
