"""The daily tier re-evaluation (issue 12, benchmark 3).

A channel with the default tiers and ``accounts`` accounts (1,000, then 100,000), each a
Member with one qualifying order counted until it leaves the 12-month window (their
``next_reevaluation_at``, as the order intake sets it); ``changed`` of them (100) are due
now and hold a new order that lifts them to the top tier. The run is
``services.tiers.reevaluate_channel`` as the daily task calls it, and must evaluate
exactly the due accounts (``evaluated`` = ``changed``).

A run that exceeds its time budget (60 s at full scale) is stopped; the figure is then
extrapolated from the accounts it evaluated (``extrapolated: true``).

Goal: 100,000 accounts with 100 changed in under 10 s, the cost following the accounts
whose window changed, not the accounts in the channel.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from benchmarks import support
from benchmarks.ledger_path import CHANNEL, TABLE


def seed(accounts: int, changed: int, now: datetime) -> None:
    from saleor_retention_plugin.services.tiers import seed_default_tiers

    support.empty_tables()
    tiers = seed_default_tiers(CHANNEL)
    entry_tier = min(tiers, key=lambda tier: tier.rank)
    account, qualifying, customer_tier = (
        TABLE.format(name) for name in ("loyaltyaccount", "qualifyingorder", "customertier")
    )
    yesterday = now - timedelta(days=1)
    support.execute(
        f"""INSERT INTO {account} (channel_slug, customer_id, email, balance, lifetime_earned,
               created_at, updated_at)
            SELECT %s, g, NULL, 10, 10, %s, %s FROM generate_series(1, %s) g""",
        [CHANNEL, yesterday, yesterday, accounts],
    )
    support.execute(
        f"""INSERT INTO {qualifying} (order_id, points_earned, amount_spent, currency,
               placed_at, updated_at, account_id)
            SELECT 'old-' || id, 10, 10.00, 'USD', %s, %s, id FROM {account}""",
        [now - timedelta(days=60), now - timedelta(days=60)],
    )
    support.execute(
        f"""INSERT INTO {customer_tier} (channel_slug, achieved_at, downgrade_due_at,
               last_evaluated_at, next_reevaluation_at, account_id, tier_id)
            SELECT %s, %s, NULL, %s, %s, id, %s FROM {account}""",
        [CHANNEL, now - timedelta(days=60), yesterday, now + timedelta(days=305), entry_tier.pk],
    )
    # The changed accounts: a big order since the last run (evenly spread over the ids).
    support.execute(
        f"""INSERT INTO {qualifying} (order_id, points_earned, amount_spent, currency,
               placed_at, updated_at, account_id)
            SELECT 'new-' || id, 1000000, 1000000.00, 'USD', %s, %s, id FROM {account}
            WHERE id %% %s = 0 LIMIT %s""",
        [now - timedelta(hours=1), now - timedelta(hours=1), max(accounts // changed, 1), changed],
    )
    support.execute(
        f"""UPDATE {customer_tier} SET next_reevaluation_at = %s WHERE account_id IN
               (SELECT account_id FROM {qualifying} WHERE order_id LIKE 'new-%%')""",
        [now - timedelta(hours=1)],
    )
    support.analyze()


def run(accounts: int, changed: int, budget_seconds: float | None) -> dict[str, Any]:
    from saleor_retention_plugin.conf import MembershipSettings
    from saleor_retention_plugin.models import CustomerTier, TierChange
    from saleor_retention_plugin.services.tiers import reevaluate_channel

    now = datetime.now(UTC)
    seed(accounts, changed, now)
    stopped = False
    with support.counting_queries(budget_seconds) as counter:
        started = datetime.now(UTC)
        try:
            seconds = support.timed(
                lambda: reevaluate_channel(CHANNEL, settings=MembershipSettings(), now=now)
            )
        except support.BudgetExceeded:
            stopped = True
            seconds = (datetime.now(UTC) - started).total_seconds()
    evaluated = CustomerTier.objects.filter(last_evaluated_at=now).count()
    upgraded = TierChange.objects.count()  # the table was emptied by seed()
    per_account = seconds / max(evaluated, 1)
    return {
        "accounts": accounts,
        "changed": changed,
        "evaluated": evaluated,
        "upgraded": upgraded,
        "seconds": round(per_account * accounts if stopped else seconds, 2),
        "extrapolated": stopped,
        "ms_per_account": round(per_account * 1000, 3),
        "queries_per_account": round(counter.count / max(evaluated, 1), 2),
    }


def main() -> dict[str, Any]:
    support.setup_django()
    size = support.scale()
    small = run(size.accounts_small, size.changed, None)
    big = run(size.accounts_big, size.changed, size.reeval_budget_s)
    support.empty_tables()
    goals = {
        "big_run_under_10_s": big["seconds"] < 10 and not big["extrapolated"],
        # Not vacuous: the run visited exactly the changed accounts, in both sizes.
        "evaluated_the_changed_accounts": small["evaluated"] == small["changed"]
        and big["evaluated"] == big["changed"],
    }
    return {
        "small": small,
        "big": big,
        "goals": goals,
        "summary": (
            f"{small['accounts']:,} accounts {small['seconds']} s "
            f"({small['ms_per_account']} ms/account), {big['accounts']:,} accounts "
            f"{big['seconds']} s{' (extrapolated)' if big['extrapolated'] else ''} "
            f"({big['ms_per_account']} ms/account), {size.changed} changed; "
            f"{support.verdict(all(goals.values()))}"
        ),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(main(), indent=2))
