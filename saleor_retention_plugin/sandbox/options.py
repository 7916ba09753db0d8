"""The sandbox's options, checked before anything runs: each bad value gets one line."""

from __future__ import annotations

import argparse
import os
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

MAX_WEEKS = 520
MAX_CUSTOMERS = 100_000
# Room after the last simulated day for what the story schedules past it (late returns,
# reminders, expiry dates months ahead).
ROOM_AFTER_THE_STORY = timedelta(days=800)


def count(maximum: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number, not {raw!r}") from None
        if not 1 <= value <= maximum:
            raise argparse.ArgumentTypeError(f"must be from 1 to {maximum}, not {value}")
        return value

    return parse


def start_day(raw: str) -> datetime:
    """A calendar day (the story starts at its midnight UTC); a time or offset is refused
    rather than dropped.
    """
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        day = None
    if day is None or len(raw) != 10:
        raise argparse.ArgumentTypeError(
            f"must be a day such as 2026-01-05 (the story starts at its midnight UTC; "
            f"no time or UTC offset), not {raw!r}"
        )
    return datetime.combine(day, datetime.min.time(), UTC)


def json_file(raw: str) -> str:
    """Where --json writes: checked before the simulation, not after it."""
    directory = os.path.dirname(os.path.abspath(raw))
    if os.path.isdir(raw):
        raise argparse.ArgumentTypeError(f"{raw!r} is a directory; name a file in it")
    if not os.path.isdir(directory) or not os.access(directory, os.W_OK):
        raise argparse.ArgumentTypeError(f"cannot write into {directory!r}")
    return raw


def check_the_story_fits(start: datetime, weeks: int) -> str | None:
    """An error message when the story would run past the last date Python can hold."""
    latest = datetime.max.replace(tzinfo=UTC) - ROOM_AFTER_THE_STORY
    if start > latest - timedelta(weeks=weeks):
        last_start = (latest - timedelta(weeks=weeks)).date()
        return (
            f"--start {start.date()} with --weeks {weeks} runs past the year 9999; "
            f"start by {last_start}"
        )
    return None


class OneLineErrors(argparse.ArgumentParser):
    """Bad options end in one line on stderr and exit status 2, no usage dump."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: {message} (see --help)\n")
