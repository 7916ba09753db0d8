"""Random sequences of orders, refunds, spends and sweeps never break the ledger's invariants.

Each example runs inside a savepoint that is rolled back, so hypothesis can try many
histories against the real PostgreSQL schema (constraints included) in one test.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from saleor_retention_plugin.conf import LedgerSettings, OverdraftPolicy
from saleor_retention_plugin.models import LoyaltyAccount, PointsEntry
from saleor_retention_plugin.services import ledger
from saleor_retention_plugin.services.ledger import InsufficientPoints

from .conftest import CHANNEL

if TYPE_CHECKING:
    from saleor_retention_plugin.domain.orders import OrderSnapshot

pytestmark = pytest.mark.django_db

START = datetime(2026, 1, 1, 9, tzinfo=UTC)
CUSTOMERS = [(1, "one@example.com"), (None, "guest@example.com"), (2, "two@example.com")]

customer = st.integers(0, len(CUSTOMERS) - 1)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("order"), customer, st.integers(0, 300), st.integers(0, 60)),
        st.tuples(st.just("refund"), st.integers(0, 20), st.integers(1, 100)),
        st.tuples(st.just("cancel"), st.integers(0, 20)),
        st.tuples(st.just("spend"), customer, st.integers(1, 200)),
        st.tuples(st.just("adjust"), customer, st.integers(-100, 100).filter(bool)),
        st.tuples(st.just("wait"), st.integers(0, 120)),
        st.tuples(
            st.just("register"),
        ),
    ),
    max_size=25,
)
ledger_settings = st.builds(
    LedgerSettings,
    overdraft_policy=st.sampled_from(OverdraftPolicy),
    pending_days=st.sampled_from([0, 14]),
    expiry_months=st.sampled_from([0, 1, 2]),
    timezone=st.sampled_from(["UTC", "Asia/Shanghai"]),
)


class Rollback(Exception):
    pass


def check_invariants(policy: OverdraftPolicy, now: datetime, orders: list[OrderSnapshot]) -> None:
    for account in LoyaltyAccount.objects.all():
        entries = account.entries.total_points()
        lots = account.lots.total_remaining()
        assert account.balance == entries, "cached balance differs from the entries"
        assert lots == max(account.balance, 0), "open lots differ from the positive balance"
        if policy is OverdraftPolicy.CLAMP_TO_ZERO:
            assert account.balance >= 0
        earned = account.entries.filter(kind="earn").total_points()
        assert account.lifetime_earned == earned, "lifetime earned differs from the earn entries"
        shown = ledger.summarise_account(account, now=now)
        assert shown.pending >= 0
        if account.balance < 0:
            assert shown.spendable == account.balance  # a debt shows until it is repaid
        else:
            assert 0 <= shown.spendable <= account.balance
    for order in orders:
        rows = list(
            PointsEntry.objects.for_order(order.order_id).values("kind", "points", "written_off")
        )
        earned = sum(row["points"] for row in rows if row["kind"] == "earn")
        taken = sum(-row["points"] + row["written_off"] for row in rows if row["kind"] == "reverse")
        assert 0 <= taken <= earned
        assert len([row for row in rows if row["kind"] == "earn"]) <= 1


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=operations, config=ledger_settings)
def test_any_history_keeps_balance_entries_and_lots_in_step(make_order, ops, config):
    try:
        with transaction.atomic():
            run_history(make_order, ops, config)
            raise Rollback
    except Rollback:
        pass


def run_history(make_order: Any, ops: list[tuple], config: LedgerSettings) -> None:
    now = START
    orders: list[OrderSnapshot] = []
    registered = False
    for step, op in enumerate(ops):
        kind = op[0]
        if kind == "order":
            customer_id, email = CUSTOMERS[op[1]]
            if customer_id is None and registered:
                customer_id = 3
            order = make_order(
                customer_id=customer_id,
                email=email,
                points_base_amount=op[2],
                total_amount=op[2] + op[3],
            )
            orders.append(order)
            ledger.sync_order_points(order, config, now=now)
        elif kind in {"refund", "cancel"} and orders:
            index = op[1] % len(orders)
            order = orders[index]
            if kind == "cancel":
                order = dataclasses.replace(order, status="canceled")
            else:
                extra = (order.total_amount * op[2] / 100).quantize(Decimal("0.01"))
                order = dataclasses.replace(
                    order, refunded_amount=min(order.refunded_amount + extra, order.total_amount)
                )
            orders[index] = order
            ledger.sync_order_points(order, config, now=now)
        elif kind in {"spend", "adjust"}:
            customer_id, email = CUSTOMERS[op[1]]
            if customer_id is None and registered:
                customer_id = 3
            account = ledger.account_for(CHANNEL, customer_id, email)
            try:
                if kind == "spend":
                    ledger.spend_points(account.pk, op[2], idempotency_key=f"spend:{step}", now=now)
                else:
                    ledger.adjust_points(
                        account.pk,
                        op[2],
                        reason="Property test",
                        actor="test",
                        idempotency_key=f"adjust:{step}",
                        settings=config,
                        now=now,
                    )
            except InsufficientPoints:
                pass
        elif kind == "wait":
            now += timedelta(days=op[1])
            ledger.expire_due_points(now=now, batch_size=2)
        elif kind == "register" and not registered:
            registered = True
            ledger.merge_guest_accounts(3, "guest@example.com")
        check_invariants(config.overdraft_policy, now, orders)
