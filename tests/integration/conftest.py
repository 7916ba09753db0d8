"""Factories for the integration tier: Saleor-shaped orders, settings and funded accounts."""

from __future__ import annotations

import dataclasses
import itertools
import uuid
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest
from django.utils import timezone

import tests.celery_app  # noqa: F401  (binds shared tasks to the test app)
from saleor_retention_plugin import signals
from saleor_retention_plugin.conf import LedgerSettings
from saleor_retention_plugin.domain.orders import OrderSnapshot
from saleor_retention_plugin.models import LoyaltyAccount
from saleor_retention_plugin.services import ledger
from tests.integration.graphql_fixtures import *  # noqa: F403  (loyalty API fixtures)
from tests.integration.membership_factories import *  # noqa: F403  (membership and mall fixtures)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from datetime import datetime

    from django.dispatch import Signal

CHANNEL = "default-channel"
_numbers = itertools.count(1001)


@pytest.fixture
def make_settings() -> Callable[..., LedgerSettings]:
    """Ledger settings with the seeds' defaults, overridden per test."""

    def make(**changes: Any) -> LedgerSettings:
        return dataclasses.replace(LedgerSettings(), **changes)

    return make


@pytest.fixture
def make_order() -> Callable[..., OrderSnapshot]:
    """A paid, unfulfilled Saleor order of a registered customer: 100 USD of goods (120 paid)."""

    def make(**changes: Any) -> OrderSnapshot:
        values: dict[str, Any] = {
            "order_id": str(uuid.uuid4()),
            "number": str(next(_numbers)),
            "channel_slug": CHANNEL,
            "channel_currency": "USD",
            "currency": "USD",
            "customer_id": 42,
            "email": "ann@example.com",
            "status": "unfulfilled",
            "is_fully_paid": True,
            "points_base_amount": Decimal("100.00"),
            "total_amount": Decimal("120.00"),
            "refunded_amount": Decimal(0),
            "created_at": timezone.now(),
        }
        for name in ("points_base_amount", "total_amount", "refunded_amount", "goods_amount"):
            if name in changes:
                changes[name] = Decimal(str(changes[name]))
        values.update(changes)
        return OrderSnapshot(**values)

    return make


def later(order: OrderSnapshot, **changes: Any) -> OrderSnapshot:
    """The same order as Saleor reports it after something happened to it."""
    for name in ("points_base_amount", "total_amount", "refunded_amount"):
        if name in changes:
            changes[name] = Decimal(str(changes[name]))
    return dataclasses.replace(order, **changes)


@pytest.fixture
def funded_account(make_order, make_settings) -> Callable[..., LoyaltyAccount]:
    """An account that earned ``points`` (spendable at once) on one order."""

    def fund(
        points: int,
        *,
        customer_id: int | None = 42,
        email: str | None = "ann@example.com",
        now: datetime | None = None,
        settings: LedgerSettings | None = None,
    ) -> LoyaltyAccount:
        order = make_order(
            customer_id=customer_id,
            email=email,
            points_base_amount=points,
            total_amount=points,
        )
        outcome = ledger.sync_order_points(order, settings or make_settings(), now=now)
        assert outcome.earned == points
        assert outcome.account_id is not None
        return LoyaltyAccount.objects.get(pk=outcome.account_id)

    return fund


def ledger_state(account: LoyaltyAccount) -> dict[str, int]:
    """Balance, entries and lots of an account as stored, to compare before and after."""
    account.refresh_from_db()
    return {
        "balance": account.balance,
        "lifetime_earned": account.lifetime_earned,
        "entries_total": account.entries.total_points(),
        "entries": account.entries.count(),
        "lots_remaining": account.lots.total_remaining(),
    }


def assert_ledger_consistent(account: LoyaltyAccount) -> None:
    """The cached balance equals the entries; open lots add up to the positive balance."""
    state = ledger_state(account)
    assert state["balance"] == state["entries_total"]
    assert state["lots_remaining"] == max(state["balance"], 0)


@dataclasses.dataclass
class SignalRecorder:
    calls: list[tuple[str, dict[str, Any]]] = dataclasses.field(default_factory=list)

    def of(self, name: str) -> list[dict[str, Any]]:
        return [kwargs for signal_name, kwargs in self.calls if signal_name == name]


LEDGER_SIGNALS: dict[str, Signal] = {
    "points_earned": signals.points_earned,
    "points_spent": signals.points_spent,
    "points_reversed": signals.points_reversed,
    "points_expired": signals.points_expired,
    "points_adjusted": signals.points_adjusted,
}


@pytest.fixture
def received_signals() -> Iterator[SignalRecorder]:
    recorder = SignalRecorder()
    receivers = {}
    for name, signal in LEDGER_SIGNALS.items():

        def receive(sender: Any, *, _name: str = name, **kwargs: Any) -> None:
            kwargs.pop("signal", None)
            recorder.calls.append((_name, kwargs))

        receivers[name] = receive
        signal.connect(receive, weak=False, dispatch_uid=f"test-recorder-{name}")
    yield recorder
    for name, signal in LEDGER_SIGNALS.items():
        signal.disconnect(dispatch_uid=f"test-recorder-{name}")
