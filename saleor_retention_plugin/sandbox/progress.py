"""A one-line progress bar with the simulated date, for runs on a terminal.

Plain text and carriage returns, no dependency: drawn on stderr only when it is a
terminal (nothing at all in pipes, files and CI logs), at most ten times a second.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from datetime import datetime

BAR_WIDTH = 30


class ProgressBar:
    def __init__(
        self, start: datetime, end: datetime, *, stream: TextIO | None = None, every: float = 0.1
    ):
        self.start, self.end = start, end
        self.stream = stream or sys.stderr
        self.every = every
        self.enabled = self.stream.isatty()
        self._drawn_at = 0.0

    def __call__(self, now: datetime) -> None:
        if not self.enabled or time.monotonic() - self._drawn_at < self.every:
            return
        self._drawn_at = time.monotonic()
        self.stream.write("\r" + self.line(now))
        self.stream.flush()

    def line(self, now: datetime) -> str:
        span = (self.end - self.start).total_seconds() or 1.0
        done = min(max((now - self.start).total_seconds() / span, 0.0), 1.0)
        filled = int(done * BAR_WIDTH)
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        return f"Simulating [{bar}] {now:%Y-%m-%d} {done:4.0%}"

    def close(self) -> None:
        """Erase the bar, so the report starts on a clean line (once, however often called)."""
        if self.enabled and self._drawn_at:
            self.stream.write("\r" + " " * len(self.line(self.end)) + "\r")
            self.stream.flush()
            self._drawn_at = 0.0
