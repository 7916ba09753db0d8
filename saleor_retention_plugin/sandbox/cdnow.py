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
from collections.abc import Iterator
from datetime import date

from ..domain.history import SourceRow

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
    """One backfill order per CDNOW row (an order id made of the row number), in the file's
    order, numbered like its lines: the same input the file backfill reads."""
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
