"""A small simulated store.

Customers fill carts, place, pay, cancel and refund orders, leave carts behind and come
back.

Events come from a seeded random source (so a run is reproducible) and are delivered
in time order the way Saleor delivers them: every plugin hook maps to the same task the
plugin enqueues, fed with Saleor-shaped data, and the clock is moved to each event's
moment so pending periods, expiry, abandonment and reminder timing play out. Some events
(a customer coming back after a reminder) are scheduled while the simulation runs.
"""

from __future__ import annotations

import functools
import heapq
import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import time_machine

from ..domain import draws
from ..domain.carts import CartActivity, CartContents, CartLine, PlacedOrder
from ..domain.customers import normalise_email
from ..domain.orders import OrderSnapshot, order_event_syncs_points
from ..models import FlowMessage, LoyaltyAccount, MessageState, Redemption, Reward
from ..services import mall
from ..services.carts import record_cart_activity, refresh_cart_contents
from ..services.errors import RetentionError
from ..services.ledger import summarise_account
from ..tasks import (
    expire_due_points_task,
    expire_reward_codes_task,
    merge_guest_accounts_task,
    record_order_for_carts_task,
    reevaluate_tiers_task,
    sweep_flows_task,
    sync_order_points_task,
)
from .shop import CATALOGUE, CHANNELS, REWARDS, SandboxChannel

if TYPE_CHECKING:
    from collections.abc import Callable

# Simulated behaviour (assumptions of the simulation, not measurements): a customer fills
# a cart and leaves it with ABANDON_DAILY a day; a cart left behind comes back by itself
# with NATURAL_RETURN, and each reminder read adds the chance of its step.
ORDER_DAILY = 0.12
ABANDON_DAILY = 0.05
NATURAL_RETURN = 0.08
RETURN_AFTER_REMINDER = {1: 0.18, 2: 0.12, 3: 0.06}


@dataclass
class Customer:
    name: str
    email: str
    channel: SandboxChannel
    customer_id: int | None  # None while shopping as a guest
    registers_on_day: int | None = None


@dataclass
class Cart:
    token: str
    customer: Customer
    lines: tuple[CartLine, ...]
    return_planned: bool = False

    @property
    def goods(self) -> Decimal:
        return sum((line.unit_price * line.quantity for line in self.lines), Decimal(0))


@dataclass
class Order:
    order_id: str
    number: int
    customer: Customer
    checkout_token: str
    created_at: datetime
    goods: Decimal
    shipping: Decimal
    tax: Decimal
    customer_id: int | None = None
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
            goods_amount=self.goods + self.tax,
            # Registered sandbox customers have confirmed their email.
            email_verified=self.customer_id is not None,
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
    redemptions: int = 0
    redemptions_refused: int = 0
    codes_used: int = 0
    carts_left: int = 0
    carts_back_by_themselves: int = 0
    carts_back_after_reminder: int = 0
    reminders_read: int = 0


class SimulatedStore:
    def __init__(self, *, seed: int, weeks: int, start: datetime, customers_per_channel: int):
        self.random = random.Random(seed)
        self.weeks = weeks
        self.start = start
        self.customers = self._make_customers(customers_per_channel)
        self.orders: list[Order] = []
        self.carts: dict[str, Cart] = {}
        self.log = StoreLog()
        self._queue: list[Event] = []
        self._sequence = 0
        self._next_customer_id = 1000
        self._now = start

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
        self._at(self.start, "the merchant opens the points mall", self._open_points_mall)
        for day in range(self.weeks * 7):
            midnight = datetime.combine(
                self.start.date() + timedelta(days=day), time.min, self.start.tzinfo
            )
            # Celery beat: the expiry sweep daily; the reminder sweep (every minute in a
            # real shop) hourly here.
            self._at(midnight + timedelta(minutes=30), "expiry sweep", self._expire)
            self._at(midnight + timedelta(minutes=40), "tier re-evaluation", self._reevaluate)
            for hour in range(24):
                self._at(midnight + timedelta(hours=hour, minutes=5), "reminder sweep", self._sweep)
            for customer in self.customers:
                if day % 7 == 6 and self.random.random() < 0.4:
                    self._at(
                        midnight + timedelta(hours=20),
                        f"{customer.name} visits the points mall",
                        functools.partial(self._redeem, customer),
                    )
                if customer.registers_on_day == day:
                    self._at(
                        midnight + timedelta(hours=9),
                        f"{customer.name} registers",
                        functools.partial(self._register, customer),
                    )
                if self.random.random() < ABANDON_DAILY:
                    self._plan_abandoned_cart(customer, self._daytime(midnight))
                if self.random.random() < ORDER_DAILY:
                    cart, moment = self._new_cart(customer), self._daytime(midnight)
                    self._at(
                        moment - timedelta(minutes=20),
                        f"{customer.name} fills a cart",
                        functools.partial(self._touch_cart, cart),
                    )
                    self._plan_order(cart, moment)

    def _daytime(self, midnight: datetime) -> datetime:
        return midnight + timedelta(
            hours=self.random.randint(8, 22), minutes=self.random.randint(20, 59)
        )

    def _new_cart(self, customer: Customer) -> Cart:
        picks = self.random.sample(CATALOGUE, k=self.random.randint(1, 3))
        lines = tuple(
            CartLine(
                product_name=name,
                variant_name=variant,
                sku=sku,
                quantity=self.random.randint(1, 3),
                unit_price=price,
                currency=customer.channel.currency,
                image_url=f"https://cdn.sandbox-shop.example/{sku}.jpg",
            )
            for name, variant, sku, price in picks
        )
        cart = Cart(str(uuid.UUID(int=self.random.getrandbits(128))), customer, lines)
        self.carts[cart.token] = cart
        return cart

    def _plan_abandoned_cart(self, customer: Customer, moment: datetime) -> None:
        cart = self._new_cart(customer)
        self._at(moment, f"{customer.name} leaves a cart", functools.partial(self._leave, cart))
        if self.random.random() < NATURAL_RETURN:
            cart.return_planned = True
            self._at(
                moment + timedelta(hours=self.random.randint(20, 96)),
                f"{customer.name} comes back for a cart",
                functools.partial(self._come_back, cart, after_reminder=False),
            )

    def _plan_order(self, cart: Cart, moment: datetime) -> Order:
        goods = cart.goods
        order = Order(
            order_id=str(uuid.UUID(int=self.random.getrandbits(128))),
            number=len(self.orders) + 1,
            customer=cart.customer,
            checkout_token=cart.token,
            created_at=moment,
            goods=goods,
            shipping=Decimal("6.00"),
            tax=(goods * Decimal("0.08")).quantize(Decimal("0.01")),
        )
        self.orders.append(order)
        self._at(
            moment,
            f"order #{order.number} placed by {cart.customer.name}",
            functools.partial(self._place, order),
        )
        fate = self.random.random()
        if fate < 0.08:  # never paid: the merchant cancels it
            self._at(
                moment + timedelta(days=3),
                f"unpaid order #{order.number} cancelled",
                functools.partial(self._cancel, order),
            )
            return order
        paid_at = moment + (timedelta(days=2) if fate < 0.18 else timedelta(minutes=1))
        self._at(paid_at, f"order #{order.number} paid", functools.partial(self._pay, order))
        later = self.random.random()
        if later < 0.06:
            self._at(
                paid_at + timedelta(days=1),
                f"paid order #{order.number} cancelled",
                functools.partial(self._cancel, order),
            )
        elif later < 0.18:
            share = Decimal(self.random.choice([25, 40, 50])) / 100
            self._at(
                paid_at + timedelta(days=self.random.randint(3, 12)),
                f"order #{order.number} partly refunded",
                functools.partial(self._refund, order, share),
            )
        elif later < 0.22:
            self._at(
                paid_at + timedelta(days=self.random.randint(3, 12)),
                f"order #{order.number} fully refunded",
                functools.partial(self._refund, order, Decimal(1)),
            )
        return order

    def _at(self, moment: datetime, description: str, apply: Callable[[], Any]) -> None:
        self._sequence += 1
        heapq.heappush(self._queue, Event(moment, self._sequence, description, apply))

    # --- Saleor's side of each event --------------------------------------------------

    def _deliver(self, event: str, order: Order, times: int = 1) -> None:
        """What the plugin's order hooks enqueue, delivered ``times`` times."""
        channel = order.customer.channel
        if not order_event_syncs_points(event, channel.settings.ledger.credit_trigger.value):
            return
        for _ in range(times):
            sync_order_points_task.delay(order.snapshot().to_json(), channel.configuration)
        self.log.duplicate_deliveries += times - 1

    def _touch_cart(self, cart: Cart) -> None:
        """CheckoutCreate / checkoutLinesAdd: the hook's upsert, then the lines task."""
        customer = cart.customer
        record_cart_activity(
            CartActivity(
                checkout_token=cart.token,
                channel_slug=customer.channel.slug,
                customer_id=customer.customer_id,
                email=customer.email,
                language_code=customer.channel.language,
                currency=customer.channel.currency,
                occurred_at=self._now,
            ),
            customer.channel.settings.reminders,
        )
        refresh_cart_contents(
            cart.token,
            CartContents(
                currency=customer.channel.currency,
                lines=cart.lines,
                email=normalise_email(customer.email),
                customer_id=customer.customer_id,
                timezone=None,
            ),
        )

    def _leave(self, cart: Cart) -> None:
        self.log.carts_left += 1
        self._touch_cart(cart)

    def _sweep(self) -> None:
        sweep_flows_task.delay()
        # Customers read what was just sent; some come back for their cart.
        just_sent = FlowMessage.objects.filter(
            state=MessageState.SENT, sent_at__gt=self._now - timedelta(hours=1)
        ).values_list("subject_key", "step")
        for token, step in just_sent:
            cart = self.carts.get(str(token))
            if cart is None or cart.return_planned:
                continue
            self.log.reminders_read += 1
            if self.random.random() < RETURN_AFTER_REMINDER.get(step, 0):
                cart.return_planned = True
                self._at(
                    self._now + timedelta(hours=self.random.randint(1, 8)),
                    f"{cart.customer.name} comes back after reminder {step}",
                    functools.partial(self._come_back, cart, after_reminder=True),
                )

    def _come_back(self, cart: Cart, *, after_reminder: bool) -> None:
        if after_reminder:
            self.log.carts_back_after_reminder += 1
        else:
            self.log.carts_back_by_themselves += 1
        self._touch_cart(cart)
        self._pay(self._plan_order_now(cart))

    def _plan_order_now(self, cart: Cart) -> Order:
        order = Order(
            order_id=str(uuid.UUID(int=self.random.getrandbits(128))),
            number=len(self.orders) + 1,
            customer=cart.customer,
            checkout_token=cart.token,
            created_at=self._now,
            goods=cart.goods,
            shipping=Decimal("6.00"),
            tax=(cart.goods * Decimal("0.08")).quantize(Decimal("0.01")),
        )
        self.orders.append(order)
        self._place(order)
        return order

    def _place(self, order: Order) -> None:
        order.customer_id = order.customer.customer_id
        self.log.orders += 1
        self._use_a_reward_code(order.customer)
        self._deliver("order_created", order)
        # order_created also tells the cart flows, as the plugin's hook does.
        placed = PlacedOrder(
            order_id=order.order_id,
            channel_slug=order.customer.channel.slug,
            checkout_token=order.checkout_token,
            customer_id=order.customer_id,
            email=order.customer.email,
            total=order.total,
            currency=order.customer.channel.currency,
            placed_at=self._now,
        )
        record_order_for_carts_task.delay(placed.to_json(), order.customer.channel.configuration)

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

    def _open_points_mall(self) -> None:
        for channel in CHANNELS:
            for fields in REWARDS:
                reward = mall.create_reward(channel.slug, **fields)
                if reward.draw_seed:
                    # A shop draws a secret seed; the sandbox derives it from --seed so the
                    # same seed tells the same story, draws included.
                    seed = f"{self.random.getrandbits(256):064x}"
                    Reward.objects.filter(pk=reward.pk).update(
                        draw_seed=seed, draw_seed_hash=draws.seed_hash(seed)
                    )

    def _redeem(self, customer: Customer) -> None:
        """The customer picks a reward they can afford, as the storefront's API would."""
        account = (
            LoyaltyAccount.objects.live()
            .in_channel(customer.channel.slug)
            .filter(email=normalise_email(customer.email))
            .first()
        )
        if account is None:
            return
        spendable = summarise_account(account).spendable
        affordable = [
            reward
            for reward in mall.rewards_of_channel(customer.channel.slug)
            if reward.points_cost <= spendable
        ]
        if not affordable:
            return
        reward = self.random.choice(affordable)
        try:
            mall.redeem_reward(
                account,
                reward.pk,
                idempotency_key=f"sandbox:{uuid.UUID(int=self.random.getrandbits(128))}",
                settings=customer.channel.settings.membership,
            )
        except RetentionError:
            self.log.redemptions_refused += 1  # e.g. a per-customer limit
        else:
            self.log.redemptions += 1

    def _use_a_reward_code(self, customer: Customer) -> None:
        """Customers apply a code they bought to most orders (checkoutAddPromoCode).

        The plugin's order task then marks it used.
        """
        issued = (
            Redemption.objects.filter(
                account__channel_slug=customer.channel.slug,
                account__email=normalise_email(customer.email),
                status=Redemption.Status.ISSUED,
                expires_at__gt=self._now,
            )
            .exclude(code=None)
            .first()
        )
        if issued is not None and issued.code is not None and self.random.random() < 0.7:
            mall.mark_code_used(issued.code)
            self.log.codes_used += 1

    def _reevaluate(self) -> None:
        reevaluate_tiers_task.delay()
        expire_reward_codes_task.delay()

    def _expire(self) -> None:
        expire_due_points_task.delay()

    # --- running ---------------------------------------------------------------------

    def run(self) -> None:
        while self._queue:
            event = heapq.heappop(self._queue)
            self._now = event.at
            with time_machine.travel(event.at, tick=False):
                event.apply()
            self.log.events += 1

    @property
    def end(self) -> datetime:
        """When the story ends: the last simulated day, or a late return after it."""
        return max(self.start + timedelta(weeks=self.weeks), self._now)
