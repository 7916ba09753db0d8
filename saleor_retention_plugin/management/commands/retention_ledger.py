"""``manage.py retention_ledger --verify`` / ``--rebuild``: audit the cached balances."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ...services.ledger_audit import find_balance_drift, rebuild_cached_balances


class Command(BaseCommand):
    help = (
        "Verify every loyalty account's cached balance against its ledger entries "
        "(--verify, the default; exits non-zero on drift) or repair the cached totals (--rebuild)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--verify", action="store_true", help="Report drift (default).")
        mode.add_argument("--rebuild", action="store_true", help="Repair cached totals.")

    def handle(self, *args: Any, rebuild: bool = False, **options: Any) -> None:
        drift = find_balance_drift()
        for row in drift:
            self.stdout.write(
                f"account {row.account_id}: cached balance {row.cached_balance}, entries say "
                f"{row.entries_balance}; cached lifetime {row.cached_lifetime_earned}, entries say "
                f"{row.entries_lifetime_earned}; open lots hold {row.open_lot_points}"
            )
        if not drift:
            self.stdout.write(self.style.SUCCESS("Every cached balance matches its entries."))
            return
        if rebuild:
            fixed = rebuild_cached_balances([row.account_id for row in drift])
            self.stdout.write(self.style.SUCCESS(f"Rebuilt the cached totals of {fixed} accounts."))
            lots_off = [row.account_id for row in drift if row.lots_disagree]
            if lots_off:
                raise CommandError(f"Open lots disagree with the balance of accounts {lots_off}.")
            return
        raise CommandError(f"{len(drift)} accounts drifted; run with --rebuild to repair them.")
