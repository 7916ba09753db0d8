"""A year in the shop, day by day: three customers, and exactly the messages each receives.

The periodic sweep (``sweep_and_deliver(now=...)``) runs once a day at 10:00 UTC; the
story's events (orders, fulfilments, a refund, an opt-out, birthdays on file, a member
day) happen at 08:00 on their day through the real services. At the end every customer's
sent messages, as (flow, step, date), must be exactly the expected ones.

To add a flow (replenishment, win-back...): switch it on in ``CONFIGURATION``, add the
events it needs to ``STORY`` and its messages to ``EXPECTED``; the loop stays as it is.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest

from saleor_retention_plugin.models import CustomerTier, FlowMessage, MembershipTier
from saleor_retention_plugin.services import consent, tiers
from saleor_retention_plugin.services.member_days import schedule_member_day
from tests.integration.carts.cart_shop import CHANNEL, configure, sweep

from .shop import member, order, refulfil

if TYPE_CHECKING:
    from collections.abc import Callable

pytestmark = pytest.mark.django_db

YEAR = 2026
EVENT_TIME = time(8, 0)
SWEEP_TIME = time(10, 0)
ANN, BO, CY = 1, 2, 3

CONFIGURATION: dict[str, str] = {
    "holdout_percent": "0",
    "frequency_cap_hours": "0",
    "care_enabled": "true",
    "birthday_greetings_enabled": "true",
    "birthday_greeting_hour": "9",
    "member_day_announcements_enabled": "true",
}


def at(day: date, moment: time = EVENT_TIME) -> datetime:
    return datetime.combine(day, moment, tzinfo=UTC)


class Shop:
    """What the story's events act on (orders by name, so later events can find them)."""

    def __init__(self) -> None:
        self.orders: dict[str, Any] = {}

    def place(self, name: str, customer_id: int, day: date, **kwargs: Any) -> None:
        self.orders[name] = order(customer_id, at=at(day), order_id=name, **kwargs)

    def fulfil(self, name: str, day: date) -> None:
        self.orders[name] = refulfil(self.orders[name], at(day))

    def refund_in_full(self, name: str, day: date) -> None:
        placed = self.orders[name]
        self.orders[name] = refulfil(placed, at(day), refunded_amount=placed.total_amount)


def join(customer_id: int, tier: str | None, birthday: tuple[int, int] | None) -> Callable:
    def act(shop: Shop, day: date) -> None:
        member(customer_id, tier=tier, birthday=birthday)

    return act


def place(name: str, customer_id: int, **kwargs: Any) -> Callable:
    return lambda shop, day: shop.place(name, customer_id, day, **kwargs)


def fulfil(name: str) -> Callable:
    return lambda shop, day: shop.fulfil(name, day)


def refund(name: str) -> Callable:
    return lambda shop, day: shop.refund_in_full(name, day)


def opt_out(customer_id: int) -> Callable:
    return lambda shop, day: consent.record_opt_out(CHANNEL, customer_id=customer_id)


def member_day(name: str, starts: date) -> Callable:
    def act(shop: Shop, day: date) -> None:
        schedule_member_day(
            CHANNEL,
            name=name,
            starts_at=at(starts, time(0, 0)),
            ends_at=at(starts + timedelta(days=1), time(0, 0)),
            multiplier=Decimal("2"),
            early_access_hours={"gold": 24, "silver": 12},
            announce_hours=48,
        )

    return act


# Ann: gold, born 4 February; one order, fulfilled: the whole care series.
# Bo: silver, born 29 February (greeted on 28 February in 2026); his order is refunded
#     in full after the fulfilment: no care at all.
# Cy: no tier, no birthday on file; his order's care stops when he opts out.
STORY: list[tuple[date, Callable]] = [
    (date(YEAR, 1, 5), join(ANN, "gold", (2, 4))),
    (date(YEAR, 1, 5), join(BO, "silver", (2, 29))),
    (date(YEAR, 1, 5), join(CY, None, None)),
    (date(YEAR, 3, 1), place("ann-1", ANN)),
    (date(YEAR, 3, 3), fulfil("ann-1")),
    (date(YEAR, 5, 1), place("bo-1", BO)),
    (date(YEAR, 5, 2), fulfil("bo-1")),
    (date(YEAR, 5, 4), refund("bo-1")),
    (date(YEAR, 6, 1), member_day("Midsummer double points", date(YEAR, 6, 18))),
    (date(YEAR, 7, 1), place("cy-1", CY)),
    (date(YEAR, 7, 2), fulfil("cy-1")),
    (date(YEAR, 7, 20), opt_out(CY)),
]

EXPECTED: dict[int, list[tuple[str, int, date]]] = {
    ANN: [
        ("birthday", 1, date(YEAR, 2, 4)),
        ("care", 1, date(YEAR, 3, 6)),  # fulfilled 3 March + 3 days
        ("care", 2, date(YEAR, 3, 10)),
        ("care", 3, date(YEAR, 3, 18)),
        ("care", 4, date(YEAR, 4, 2)),
        ("member_day", 1, date(YEAR, 6, 15)),  # gold: access 17 June 00:00, told 48 h before
    ],
    BO: [
        ("birthday", 1, date(YEAR, 2, 28)),
        ("member_day", 1, date(YEAR, 6, 16)),  # silver: told from 15 June 12:00
    ],
    CY: [
        ("member_day", 1, date(YEAR, 6, 16)),  # no tier: told from 16 June 00:00
        ("care", 1, date(YEAR, 7, 5)),
        ("care", 2, date(YEAR, 7, 9)),
        ("care", 3, date(YEAR, 7, 17)),  # opted out on 20 July: no coupon on 1 August
    ],
}


def keep_tiers() -> None:
    """The story's tiers are given, not earned: re-assert them (orders re-evaluate tiers)."""
    for customer_id, code in ((ANN, "gold"), (BO, "silver")):
        tier = MembershipTier.objects.get(channel_slug=CHANNEL, code=code)
        CustomerTier.objects.filter(account__customer_id=customer_id).update(tier=tier)


def test_a_year_of_messages():
    configure(**CONFIGURATION)
    tiers.seed_default_tiers(CHANNEL)
    shop = Shop()
    day = date(YEAR, 1, 1)
    while day.year == YEAR:
        for when, act in STORY:
            if when == day:
                act(shop, day)
        keep_tiers()
        sweep(at(day, SWEEP_TIME))
        day += timedelta(days=1)

    received: dict[int | None, list[tuple[str, int, date | None]]] = {}
    messages = FlowMessage.objects.filter(state="sent").order_by("sent_at", "pk")
    for flow, step, customer_id, sent_at in messages.values_list(
        "flow", "step", "customer_id", "sent_at"
    ):
        received.setdefault(customer_id, []).append((flow, step, sent_at and sent_at.date()))
    assert received == EXPECTED
