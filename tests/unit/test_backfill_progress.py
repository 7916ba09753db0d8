"""The backfill shows a progress bar on a terminal and plain lines in a log."""

from __future__ import annotations

import io

from saleor_retention_plugin.management.commands.retention_backfill import ProgressLine
from saleor_retention_plugin.services.backfill import BackfillReport


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_one_updating_bar_with_rate_and_time_left():
    screen = Terminal()
    progress = ProgressLine(screen, total=1000, tty=True)
    report = BackfillReport(source="f", orders_imported=250)

    progress(250, report)
    progress(500, report)
    progress.close()

    text = screen.getvalue()
    assert text.count("\r[") == 2
    assert "500/1000 rows (50%)" in text
    assert "rows/s" in text
    assert "s left" in text
    assert text.endswith("\n")
    assert text.count("\n") == 1


def test_a_log_gets_one_plain_line_per_batch():
    log = io.StringIO()
    progress = ProgressLine(log, total=None, tty=False)
    report = BackfillReport(source="f", orders_imported=10, orders_skipped=2)

    progress(12, report)
    progress(24, report)

    lines = log.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("12 rows, 10 orders imported, 2 skipped")
    assert "\r" not in log.getvalue()
