"""``manage.py retention_backfill``: read a shop's past orders into the purchase history."""

from __future__ import annotations

import os
import sys
import time
from datetime import UTC, datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ...conf import LedgerSettings
from ...services.backfill import (
    BackfillError,
    BackfillFilters,
    BackfillReport,
    count_rows,
    file_rows,
    run_backfill,
)


def _moment(raw: str) -> datetime:
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise CommandError(f"Not an ISO 8601 date: {raw!r} (for example 2024-01-31)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class ProgressLine:
    """A progress bar with rate and time left on a terminal; a log line per batch otherwise."""

    def __init__(self, stream: Any, total: int | None, tty: bool) -> None:
        self.stream, self.total, self.tty = stream, total, tty
        self.started = time.monotonic()

    def __call__(self, done: int, report: BackfillReport) -> None:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = max(done - report.resumed_from, 0) / elapsed
        if self.total:
            share = min(done / self.total, 1.0)
            left = (self.total - done) / rate if rate > 0 else 0.0
            where = f"{done}/{self.total} rows ({share:.0%})"
            eta = f", {left:.0f} s left"
        else:
            share, where, eta = 0.0, f"{done} rows", ""
        text = (
            f"{where}, {report.orders_imported} orders imported, {report.orders_skipped} "
            f"skipped, {rate:.0f} rows/s{eta}"
        )
        if self.tty:
            bar = "#" * int(share * 30)
            self.stream.write(f"\r[{bar:<30}] {text}")
            self.stream.flush()
        else:
            self.stream.write(text + "\n")

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")


class Command(BaseCommand):
    help = (
        "Import past orders into the purchase history, from a JSON-lines or CSV file "
        "(docs/backfill.md) or, in Saleor, from Saleor's orders. Resumable; running it twice "
        "changes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--file", help="A .jsonl or .csv file of orders or order lines.")
        source.add_argument("--saleor", action="store_true", help="Read Saleor's own orders.")
        parser.add_argument("--channel", help="Only this channel (slug).")
        parser.add_argument("--since", type=_moment, help="Only orders placed from this date.")
        parser.add_argument("--until", type=_moment, help="Only orders placed before this date.")
        parser.add_argument("--batch-size", type=int, default=1000)
        parser.add_argument(
            "--dry-run", action="store_true", help="Read and check everything, write nothing."
        )
        parser.add_argument(
            "--credit-points",
            action="store_true",
            help="Also credit historical points under today's earning rules (with --dry-run: "
            "print what would be credited per customer and in total).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")
        filters = BackfillFilters(options["channel"], options["since"], options["until"])
        settings_for = _ledger_settings_for
        if options["file"]:
            path = os.path.realpath(options["file"])
            try:
                rows = file_rows(path)
                total: int | None = count_rows(path)
            except BackfillError as error:
                raise CommandError(str(error)) from None
            source = f"file:{path}"
        else:
            from ...integrations.saleor.configuration import load_channel_settings
            from ...integrations.saleor.history import saleor_order_rows

            rows = saleor_order_rows(
                channel=filters.channel, since=filters.since, until=filters.until
            )
            total, source = None, "saleor"

            def settings_for(channel: str) -> LedgerSettings:
                loaded = load_channel_settings(channel)
                return loaded.ledger if loaded else LedgerSettings()

        progress = ProgressLine(self.stderr._out, total, _isatty(self.stderr._out))
        report = run_backfill(
            source,
            rows,
            filters=filters,
            batch_size=options["batch_size"],
            dry_run=options["dry_run"],
            credit_points=options["credit_points"],
            ledger_settings_for=settings_for,
            progress=progress,
        )
        progress.close()
        self._summarise(report, options)

    def _summarise(self, report: BackfillReport, options: dict[str, Any]) -> None:
        out = self.stdout
        verb = "would import" if options["dry_run"] else "imported"
        if report.resumed_from:
            out.write(f"Resumed after row {report.resumed_from}.")
        out.write(
            f"{report.rows_read} rows read: {verb} {report.orders_imported} orders, "
            f"skipped {report.orders_skipped} bad orders, left out "
            f"{report.orders_filtered_out} by --channel/--since/--until."
        )
        for line_number, message in report.problems:
            out.write(f"  line {line_number}: {message}")
        if report.orders_skipped > len(report.problems):
            out.write(f"  ... and {report.orders_skipped - len(report.problems)} more")
        if options["credit_points"]:
            verb = "Would credit" if options["dry_run"] else "Credited"
            for (channel, customer), points in sorted(report.points_by_customer.items()):
                out.write(f"  {channel} {customer}: {points} points")
            out.write(f"{verb} {report.points_total} points in total.")


def _ledger_settings_for(channel: str) -> LedgerSettings:
    # Outside Saleor the channel's configuration is not stored: the default earning rules.
    return LedgerSettings()


def _isatty(stream: Any) -> bool:
    return bool(getattr(stream, "isatty", None) and stream.isatty()) and stream is not sys.stdin
