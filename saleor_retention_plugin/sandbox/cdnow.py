"""The CDNOW purchase history (Fader, Hardie and Lee's data set) as backfill rows.

CDNOW_master.txt: every purchase of the 23,570 customers who first bought from CDNOW in
the first quarter of 1997, to the end of June 1998 (customer id, day, number of CDs,
dollars). CDNOW_sample.txt: the papers' 1/10 sample (2,357 customers) with the same
columns plus the customer's index in the sample. The PyPI package ``lifetimes`` ships both
as data files; they are located with ``importlib`` without importing its code.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from datetime import date
from typing import TYPE_CHECKING, Any

from ..domain.history import SourceRow

if TYPE_CHECKING:
    from collections.abc import Iterator

CHANNEL = "cdnow"
CURRENCY = "USD"
FILES = {"master": "CDNOW_master.txt", "sample": "CDNOW_sample.txt"}


class DatasetMissing(FileNotFoundError):
    """The data files are not installed; the message says how to get them."""


def dataset_path(which: str = "master") -> str:
    spec = importlib.util.find_spec("lifetimes")
    if spec is None or not spec.submodule_search_locations:
        raise DatasetMissing(
            "The CDNOW data set comes with the PyPI package lifetimes (used as data only): "
            "pip install 'saleor-retention-plugin[cdnow]'"
        )
    path = os.path.join(next(iter(spec.submodule_search_locations)), "datasets", FILES[which])
    if not os.path.isfile(path):
        raise DatasetMissing(f"{path} is missing from the lifetimes package.")
    return path


def purchases(which: str = "master") -> Iterator[tuple[str, date, int, str]]:
    """``(customer id, day, number of CDs, dollars as text)`` per row of the file."""
    with open(dataset_path(which), encoding="ascii") as handle:
        for text in handle:
            fields = text.split()
            if not fields or not fields[0].isdigit():
                continue  # the master file's header
            if which == "sample":
                fields = [fields[0], *fields[2:]]
            customer, day, cds, dollars = fields[:4]
            yield customer, date(int(day[:4]), int(day[4:6]), int(day[6:])), int(cds), dollars


def backfill_rows(which: str = "master") -> Iterator[SourceRow]:
    """One backfill order per CDNOW row: the same input the file backfill reads.

    The order id is made of the row number; orders come in the file's order, numbered
    like its lines.
    """
    for number, (customer, day, cds, dollars) in enumerate(purchases(which), start=1):
        yield SourceRow(
            number,
            {
                "order_id": f"cdnow-{number}",
                "channel": CHANNEL,
                "customer_id": int(customer),
                "placed_at": f"{day.isoformat()}T12:00:00+00:00",
                "currency": CURRENCY,
                "net_goods_amount": dollars,
                "lines": [
                    {
                        "line_id": "1",
                        "sku": "CD",
                        "product_type_id": "cd",
                        "quantity": cds,
                        # CDNOW records the order's value, not a price per CD.
                        "unit_price_net": str(round(float(dollars) / cds, 2)) if cds else "0",
                    }
                ]
                if cds > 0
                else [],
            },
        )


# 1 January 1997 to 30 June 1998: every CDNOW order; measured as on the last day.
PERIOD = (date(1997, 1, 1), date(1998, 7, 1))
AS_OF = date(1998, 6, 30)


def run_cdnow(
    *, html: str | None = None, json_path: str | None = None, which: str = "master"
) -> int:
    """Import CDNOW_master through the file backfill's path, print the report and headline.

    Needs Django set up (the sandbox's settings) and a migrated database.
    """
    import json
    import time

    from django.db import connection

    from ..analytics_report import ChartsUnavailable, render_html, render_text
    from ..selectors.report import build_report
    from ..services.backfill import run_backfill

    if connection.vendor == "sqlite":
        # The sandbox's database is a scratch file: no need to wait for the disk per batch.
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA synchronous = OFF")
    started = time.monotonic()
    try:
        rows = backfill_rows(which)
        imported = run_backfill(f"sandbox:cdnow_{which}", rows, batch_size=5000)
    except DatasetMissing as missing:
        print(f"retention-sandbox: {missing}", file=sys.stderr)
        return 1
    loaded = time.monotonic() - started
    report = build_report(CHANNEL, *PERIOD, as_of=AS_OF, within_days=90)
    took = time.monotonic() - started
    print(render_text(report))
    print(headline(report, imported.orders_imported, imported.orders_skipped))
    print(f"Imported in {loaded:.1f} s; report ready {took:.1f} s after the start.")
    if json_path:
        with open(json_path, "w", encoding="utf-8") as handle:
            json.dump(report, handle, indent=2)
        print(f"Wrote {json_path}")
    if html:
        try:
            page = render_html(report)
        except ChartsUnavailable as error:
            print(f"retention-sandbox: {error}", file=sys.stderr)
            return 1
        with open(html, "w", encoding="utf-8") as handle:
            handle.write(page)
        print(f"Wrote {html}")
    return 0


def headline(report: dict[str, Any], imported: int, skipped: int) -> str:
    """The few figures a merchant asks first, in one paragraph."""
    repurchase, revenue = report["repurchase"], report["revenue"]
    first_cohort = report["cohorts"][0] if report["cohorts"] else None
    predicted = report.get("predicted") or {}
    lines = [
        "CDNOW headline",
        f"  orders imported: {imported} ({skipped} rows skipped)",
        f"  customers who came back within {repurchase['within_days']} days of their first "
        f"order: {_pct(repurchase['rate'])}; ordered on 2+ days: {_pct(repurchase['simple_rate'])}",
        f"  revenue from returning customers: {_pct(revenue['returning_share'])} of "
        f"{revenue['revenue']} {report['currency']}",
        f"  median days between orders: {report['cycle']['median_days']}",
    ]
    if first_cohort and len(first_cohort["retention"]) > 1:
        lines.append(
            f"  January 1997 cohort ordering again in month 1: "
            f"{_pct(first_cohort['retention'][1])}; revenue per customer after "
            f"{len(first_cohort['revenue_per_customer']) - 1} months: "
            f"{first_cohort['revenue_per_customer'][-1]}"
        )
    if predicted.get("bg_nbd"):
        lines.append(
            f"  predicted next {predicted['horizon_weeks']} weeks (BG/NBD + Gamma-Gamma): "
            f"{predicted['expected_orders']:.0f} orders, {predicted['expected_revenue']} "
            f"{report['currency']}; mean P(alive) {predicted['mean_probability_alive']:.3f}"
        )
    return "\n".join(lines)


def _pct(value: Any) -> str:
    return "n/a" if value is None else f"{float(value) * 100:.1f} %"


def print_store_reports(store: Any, *, html: str | None = None) -> None:
    """After a simulated run: the same retention report for each simulated channel.

    Over the simulated weeks, in each channel's timezone (HTML: one file per channel, the slug added
    before the extension). No prediction: twelve weeks of a few customers fit no model.
    """
    from datetime import timedelta

    from ..analytics_report import ChartsUnavailable, render_html, render_text
    from ..selectors.report import build_report
    from .shop import CHANNELS

    for channel in CHANNELS:
        timezone = channel.settings.ledger.timezone
        report = build_report(
            channel.slug,
            store.start.date(),
            store.end.date() + timedelta(days=1),
            tz=timezone,
            as_of=store.end.date(),
            within_days=30,
            predict=False,
        )
        print(render_text(report))
        if html:
            base, extension = os.path.splitext(html)
            path = f"{base}-{channel.slug}{extension or '.html'}"
            try:
                page = render_html(report)
            except ChartsUnavailable as error:
                print(f"retention-sandbox: {error}", file=sys.stderr)
                return
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(page)
            print(f"Wrote {path}")
