"""The sandbox's progress bar: the simulated date on a terminal, nothing elsewhere."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

from saleor_retention_plugin.sandbox.progress import ProgressBar

START = datetime(2026, 1, 5, tzinfo=UTC)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_the_bar_shows_the_simulated_date_and_how_far_it_got():
    terminal = Terminal()
    bar = ProgressBar(START, START + timedelta(weeks=4), stream=terminal, every=0)

    bar(START + timedelta(weeks=1))

    assert terminal.getvalue() == "\rSimulating [#######.......................] 2026-01-12  25%"


def test_closing_the_bar_erases_it_so_the_report_starts_on_a_clean_line():
    terminal = Terminal()
    bar = ProgressBar(START, START + timedelta(weeks=4), stream=terminal, every=0)
    bar(START + timedelta(weeks=2))

    drawn = terminal.getvalue()

    bar.close()

    assert terminal.getvalue() == drawn + "\r" + " " * (len(drawn) - 1) + "\r"


def test_nothing_is_drawn_when_the_output_is_not_a_terminal():
    pipe = io.StringIO()
    bar = ProgressBar(START, START + timedelta(weeks=4), stream=pipe, every=0)

    bar(START + timedelta(weeks=1))
    bar.close()

    assert pipe.getvalue() == ""
