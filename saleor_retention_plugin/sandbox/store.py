"""A small simulated store: customers placing, paying, cancelling and refunding orders.

Events are generated up front from a seeded random source (so a run is reproducible),
then delivered in time order the way Saleor delivers them: every order hook of the
plugin maps to the same task the plugin enqueues, fed with Saleor-shaped order data, and
the clock is moved to each event's moment so pending periods and expiry play out.
"""

from __future__ import annotations

import functools
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any

import time_machine

from ..conf import ChannelSettings
from ..domain.customers import normalise_email
from ..domain.orders import OrderSnapshot, order_event_syncs_points
from ..models import LoyaltyAccount
from ..services.ledger import spend_points, summarise_account
from ..tasks import expire_due_points_task, merge_guest_accounts_task, sync_order_points_task


@dataclass(frozen=True)
class SandboxChannel:
    slug: str
    currency: str
    configuration: dict[str, str]

    @property
    def settings(self) -> ChannelSettings:
        return ChannelSettings.from_configuration(self.configuration)


SPEND_STEP = 100

CHANNELS = (
    SandboxChannel(
        "default-channel",
        "USD",
        {
            "credit_trigger": "order_fully_paid",
            "pending_days": "14",
            "expiry_months": "2",
            "timezone": "America/New_York",
            "overdraft_policy": "allow_negative",
        },
    ),
    SandboxChannel(
        "channel-cn",
        "CNY",
        {
            "credit_trigger": "order_created",
            "pending_days": "0",
            "expiry_months": "0",
            "timezone": "Asia/Shanghai",
            "overdraft_policy": "clamp_to_zero",
        },
    ),
)


@dataclass
class Customer:
    name: str
    email: str
    channel: SandboxChannel
    customer_id: int | None  # None while shopping as a guest
    registers_on_day: int | None = None


@dataclass
class Order:
    order_id: str
    number: int
    customer: Customer
    customer_id: int | None
    created_at: datetime
    goods: Decimal
    shipping: Decimal
    tax: Decimal
    status: str = "unfulfilled"
    paid: bool = False
    refunded: Decimal = Decimal(0)

    @property
    def total(self) -> Decimal:
        return self.goods + self.shipping + self.tax

    def snapshot(self) -> OrderSnapshot:
        # The shape Saleor's glue produces from saleor.order.models.Order.
        return OrderSnapshot(
            order_id=self.order_id,
            number=str(self.number),
            channel_slug=self.customer.channel.slug,
            channel_currency=self.customer.channel.currency,
            currency=self.customer.channel.currency,
            customer_id=self.customer_id,
            email=self.customer.email,
            status=self.status,
            is_fully_paid=self.paid,
            points_base_amount=self.goods,
            total_amount=self.total,
            refunded_amount=self.refunded,
            created_at=self.created_at,
        )


@dataclass(order=True)
class Event:
    at: datetime
    sequence: int
    description: str = field(compare=False)
    apply: Callable[[], Any] = field(compare=False)


@dataclass
class StoreLog:
    events: int = 0
    orders: int = 0
    duplicate_deliveries: int = 0
    cancellations: int = 0
    refunds: int = 0
    registrations: int = 0
    spends: int = 0
    lines: list[str] = field(default_factory=list)


class SimulatedStore:
    def __init__(self, *, seed: int, weeks: int, start: datetime, customers_per_channel: int):
        self.random = random.Random(seed)
        self.weeks = weeks
        self.start = start
        self.customers = self._make_customers(customers_per_channel)
        self.orders: list[Order] = []
        self.events: list[Event] = []
        self.log = StoreLog()
        self._sequence = 0
        self._next_customer_id = 1000

    # --- generating the story ---------------------------------------------------------

    def _make_customers(self, per_channel: int) -> list[Customer]:
        names = [
            "Ann",
            "Bo",
            "Chen",
            "Dara",
            "Eli",
            "Fang",
            "Gus",
            "Hui",
            "Ida",
            "Jun",
            "Kai",
            "Lin",
        ]
        customers: list[Customer] = []
        for channel in CHANNELS:
            for index in range(per_channel):
                name = names[index % len(names)]
                guest = index % 4 == 3  # every fourth customer starts as a guest
                customers.append(
                    Customer(
                        name=f"{name} ({channel.currency})",
                        email=f"{name.lower()}.{channel.currency.lower()}@Example.com",
                        channel=channel,
                        customer_id=None if guest else 1 + len(customers),
                        registers_on_day=self.random.randint(10, 40) if guest else None,
                    )
                )
        return customers

    def plan(self) -> None:
        for day in range(self.weeks * 7):
            midnight = datetime.combine(
                self.start.date() + timedelta(days=day), time.min, self.start.tzinfo
            )
            # Celery beat's expiry sweep, once a day in the simulation.
            self._at(midnight + timedelta(minutes=30), "expiry sweep", self._expire)
            for customer in self.customers:
                if day % 7 == 6 and self.random.random() < 0.4:
                    self._at(
                        midnight + timedelta(hours=20),
                        f"{customer.name} spends points",
                        functools.partial(self._spend, customer),
                    )
                if customer.registers_on_day == day:
                    self._at(
                        midnight + timedelta(hours=9),
                        f"{customer.name} registers",
                        functools.partial(self._register, customer),
                    )
                if self.random.random() < 0.12:
                    moment = midnight + timedelta(
                        hours=self.random.randint(8, 22), minutes=self.random.randint(0, 59)
                    )
                    self._plan_order(customer, moment)

    def _plan_order(self, customer: Customer, moment: datetime) -> None:
        goods = Decimal(self.random.randint(15, 260)) + Decimal(self.random.randint(0, 99)) / 100
        order = Order(
            order_id=str(uuid.UUID(int=self.random.getrandbits(128))),
            number=len(self.orders) + 1,
            customer=customer,
            customer_id=None,
            created_at=moment,
            goods=goods,
            shipping=Decimal("6.00"),
            tax=(goods * Decimal("0.08")).quantize(Decimal("0.01")),
        )
        self.orders.append(order)
        self._at(
            moment, f"order #{order.number} placed by {customer.name}", lambda: self._place(order)
        )
        fate = self.random.random()
        if fate < 0.08:  # never paid: the merchant cancels it
            self._at(
                moment + timedelta(days=3),
                f"unpaid order #{order.number} cancelled",
                lambda: self._cancel(order),
            )
            return
        paid_at = moment + (timedelta(days=2) if fate < 0.18 else timedelta(minutes=1))
        self._at(paid_at, f"order #{order.number} paid", lambda: self._pay(order))
        later = self.random.random()
        if later < 0.06:
            self._at(
                paid_at + timedelta(days=1),
                f"paid order #{order.number} cancelled",
                lambda: self._cancel(order),
            )
        elif later < 0.18:
            share = Decimal(self.random.choice([25, 40, 50])) / 100
            self._at(
                paid_at + timedelta(days=self.random.randint(3, 12)),
                f"order #{order.number} partly refunded",
                lambda: self._refund(order, share),
            )
        elif later < 0.22:
            self._at(
                paid_at + timedelta(days=self.random.randint(3, 12)),
                f"order #{order.number} fully refunded",
                lambda: self._refund(order, Decimal(1)),
            )

    def _at(self, moment: datetime, description: str, apply: Callable[[], Any]) -> None:
        self._sequence += 1
        self.events.append(Event(moment, self._sequence, description, apply))

    # --- Saleor's side of each event --------------------------------------------------

    def _deliver(self, event: str, order: Order, times: int = 1) -> None:
        """What the plugin's order hooks enqueue, delivered ``times`` times."""
        channel = order.customer.channel
        if not order_event_syncs_points(event, channel.settings.ledger.credit_trigger.value):
            return
        for _ in range(times):
            sync_order_points_task.delay(order.snapshot().to_json(), channel.configuration)
        self.log.duplicate_deliveries += times - 1

    def _place(self, order: Order) -> None:
        order.customer_id = order.customer.customer_id
        self.log.orders += 1
        self._deliver("order_created", order)

    def _pay(self, order: Order) -> None:
        if order.status == "canceled":
            return
        order.paid = True
        # Saleor may fire order_fully_paid more than once for one order.
        self._deliver("order_fully_paid", order, times=2 if self.random.random() < 0.3 else 1)

    def _cancel(self, order: Order) -> None:
        order.status = "canceled"
        self.log.cancellations += 1
        self._deliver("order_cancelled", order)

    def _refund(self, order: Order, share: Decimal) -> None:
        if order.status == "canceled":
            return
        order.refunded = min(
            order.total, order.refunded + (order.total * share).quantize(Decimal("0.01"))
        )
        self.log.refunds += 1
        event = "order_fully_refunded" if order.refunded >= order.total else "order_refunded"
        self._deliver(event, order)

    def _register(self, customer: Customer) -> None:
        self._next_customer_id += 1
        customer.customer_id = self._next_customer_id
        self.log.registrations += 1
        merge_guest_accounts_task.delay(customer.customer_id, customer.email)

    def _spend(self, customer: Customer) -> None:
        """The customer uses 100 points if they have them (as a reward redemption would)."""
        account = (
            LoyaltyAccount.objects.live()
            .in_channel(customer.channel.slug)
            .filter(email=normalise_email(customer.email))
            .first()
        )
        if account is None or summarise_account(account).spendable < SPEND_STEP:
            return
        spend_points(
            account.pk,
            SPEND_STEP,
            idempotency_key=f"sandbox-spend:{uuid.UUID(int=self.random.getrandbits(128))}",
            reason="used at checkout",
        )
        self.log.spends += 1

    def _expire(self) -> None:
        expire_due_points_task.delay()

    # --- running ---------------------------------------------------------------------

    def run(self, *, on_event: Callable[[Event], None] | None = None) -> None:
        for event in sorted(self.events):
            with time_machine.travel(event.at, tick=False):
                event.apply()
                self.log.events += 1
                if on_event:
                    on_event(event)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(weeks=self.weeks)
