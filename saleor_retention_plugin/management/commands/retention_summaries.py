"""``manage.py retention_summaries --verify`` / ``--rebuild``: audit the kept purchase summaries."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ...services.purchase_summaries import find_summary_drift, rebuild_summaries
from ...services.segments import channels_with_orders


class Command(BaseCommand):
    help = (
        "Verify the kept purchase summaries (order days, days per product type and category, "
        "per-customer totals) against the purchase history (--verify, the default; exits "
        "non-zero on drift) or recompute the customers that drifted (--rebuild). PostgreSQL "
        "only; elsewhere nothing is kept."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--verify", action="store_true", help="Report drift (default).")
        mode.add_argument("--rebuild", action="store_true", help="Recompute drifted customers.")
        parser.add_argument("--channel", help="One channel's slug (default: every channel).")

    def handle(self, *args: Any, rebuild: bool = False, **options: Any) -> None:
        channels = [options["channel"]] if options.get("channel") else channels_with_orders()
        drifted = 0
        for channel in channels:
            drift = find_summary_drift(channel)
            for row in drift:
                self.stdout.write(
                    f"{channel} {row.customer_key}: kept {', '.join(row.tables)} differ "
                    "from the orders"
                )
            drifted += len(drift)
            if drift and rebuild:
                fixed = rebuild_summaries(channel, [row.customer_key for row in drift])
                self.stdout.write(
                    self.style.SUCCESS(f"{channel}: rebuilt the summaries of {fixed} customers.")
                )
        if not drifted:
            self.stdout.write(self.style.SUCCESS("Every kept purchase summary matches its orders."))
        elif not rebuild:
            raise CommandError(
                f"The kept purchase summaries of {drifted} customers drifted; run with --rebuild "
                "to recompute them."
            )
