"""Factories for the membership and points-mall tests: orders, accounts with points."""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest
from django.utils import timezone

from saleor_retention_plugin.conf import ChannelSettings, LedgerSettings
from saleor_retention_plugin.domain.orders import OrderSnapshot
from saleor_retention_plugin.services import ledger, tiers

if TYPE_CHECKING:
    from datetime import datetime

    from saleor_retention_plugin.models import LoyaltyAccount

# Fixtures exported to conftest.py; helpers are imported by name.
__all__ = ["account_with_points"]

CHANNEL = "main"
_order_numbers = itertools.count(1)


def make_order(
    *,
    customer_id: int | None = 1,
    email: str | None = "li.na@example.com",
    amount: str | Decimal = "100",
    paid: bool = True,
    status: str = "unfulfilled",
    refunded: str | Decimal = "0",
    created_at: datetime | None = None,
    order_id: str | None = None,
    channel_slug: str = CHANNEL,
) -> OrderSnapshot:
    number = next(_order_numbers)
    return OrderSnapshot(
        order_id=order_id or f"order-{number}",
        number=str(number),
        channel_slug=channel_slug,
        channel_currency="CNY",
        currency="CNY",
        customer_id=customer_id,
        email=email,
        status=status,
        is_fully_paid=paid,
        points_base_amount=Decimal(amount),
        total_amount=Decimal(amount),
        refunded_amount=Decimal(refunded),
        created_at=created_at or timezone.now(),
    )


def place_order(
    order: OrderSnapshot, settings: ChannelSettings | None = None, *, now: datetime | None = None
) -> Any:
    """What the order task does: book the points (at the tier's multiplier), then tiers."""
    settings = settings or ChannelSettings()
    outcome = ledger.sync_order_points(
        order,
        settings.ledger,
        multiplier_for_account=tiers.points_multiplier_for_account,
        now=now or order.created_at,
    )
    change = tiers.apply_order_to_tiers(order, settings, now=now or order.created_at)
    return outcome, change


@pytest.fixture
def account_with_points():
    """An account holding ``points`` spendable points (a staff adjustment)."""

    def make(points: int, *, customer_id: int = 1, channel_slug: str = CHANNEL) -> LoyaltyAccount:
        account = ledger.account_for(
            channel_slug, customer_id, f"customer{customer_id}@example.com"
        )
        if points:
            ledger.adjust_points(
                account.pk,
                points,
                reason="test balance",
                actor="user:1",
                idempotency_key=f"test-balance:{account.pk}:{points}:{timezone.now().isoformat()}",
                settings=LedgerSettings(),
            )
        account.refresh_from_db()
        return account

    return make
