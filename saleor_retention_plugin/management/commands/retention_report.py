"""``manage.py retention_report``: the retention figures of a channel, as text, JSON or HTML."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ...analytics_report import ChartsUnavailable, render_html, render_text
from ...selectors.report import build_report


def _day(raw: str) -> date:
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise CommandError(f"Not a date: {raw!r} (for example 2024-01-31)") from None


def _decimal(raw: str) -> Decimal:
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise CommandError(f"Not a number: {raw!r}") from None
    if not value.is_finite() or value < 0:
        raise CommandError(f"Not a number of zero or more: {raw!r}")
    return value


class Command(BaseCommand):
    help = (
        "Print a channel's retention figures (repurchase, cycle, cohorts, LTV, segments, "
        "points, carts); --json and --html write them to files (docs/analytics.md)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--channel", required=True, help="Channel slug.")
        parser.add_argument("--start", type=_day, help="First day (default: a year before --end).")
        parser.add_argument("--end", type=_day, help="Day after the last (default: tomorrow).")
        parser.add_argument("--as-of", type=_day, help="Measure as on this day (default: today).")
        parser.add_argument("--timezone", default="UTC", help="The shop's IANA timezone.")
        parser.add_argument("--within-days", type=int, default=90, help="Repurchase window.")
        parser.add_argument("--lifespan-years", type=_decimal, default=Decimal(3))
        parser.add_argument(
            "--value-per-point", type=_decimal, default=Decimal("0.01"),
            help="What one point is worth in the channel currency, for the liability.",
        )  # fmt: skip
        parser.add_argument("--json", metavar="FILE", help="Also write the figures as JSON.")
        parser.add_argument("--html", metavar="FILE", help="Also write a self-contained HTML file.")
        parser.add_argument(
            "--no-prediction", action="store_true", help="Skip the BG/NBD and Gamma-Gamma fit."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            zone = ZoneInfo(options["timezone"])
        except (ZoneInfoNotFoundError, ValueError):
            raise CommandError(f"Unknown timezone: {options['timezone']!r}") from None
        if options["within_days"] < 1:
            raise CommandError("--within-days must be at least 1.")
        from datetime import datetime

        today = options["as_of"] or datetime.now(zone).date()
        end = options["end"] or today + timedelta(days=1)
        start = options["start"] or end - timedelta(days=365)
        if end <= start:
            raise CommandError("--end must be after --start.")
        report = build_report(
            options["channel"], start, end, tz=options["timezone"], as_of=today,
            within_days=options["within_days"], lifespan_years=options["lifespan_years"],
            value_per_point=options["value_per_point"], predict=not options["no_prediction"],
        )  # fmt: skip
        self.stdout.write(render_text(report))
        if options["json"]:
            with open(options["json"], "w", encoding="utf-8") as handle:
                json.dump(report, handle, indent=2, ensure_ascii=False)
            self.stdout.write(f"Wrote {options['json']}")
        if options["html"]:
            try:
                html = render_html(report)
            except ChartsUnavailable as error:
                raise CommandError(str(error)) from None
            with open(options["html"], "w", encoding="utf-8") as handle:
                handle.write(html)
            self.stdout.write(f"Wrote {options['html']}")
