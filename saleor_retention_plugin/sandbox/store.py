"""A small simulated store: customers filling carts, placing, paying, cancelling and
refunding orders, leaving carts behind and coming back.

Events come from a seeded random source (so a run is reproducible) and are delivered
in time order the way Saleor delivers them: every plugin hook maps to the same task the
plugin enqueues, fed with Saleor-shaped data. The clock jumps from one due moment to the
next: the next customer event, or the earliest moment the plugin's periodic tasks have
something to do (a cart to look at, a message to send, a lot or a reward code to expire),
so idle time costs nothing, and each periodic task runs when it is due as Celery beat would
run it. Each day's customer events are drawn when the day begins, so memory stays flat
however many weeks are simulated.
"""

from __future__ import annotations

import functools
import heapq
import random
import uuid
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import time_machine

from ..domain import draws
from ..domain.carts import CartActivity, CartContents, CartLine, PlacedOrder
from ..domain.customers import normalise_email
from ..domain.orders import order_event_syncs_points
from ..models import LoyaltyAccount, Redemption, Reward
from ..services import mall
from ..services.carts import record_cart_activity, refresh_cart_contents
from ..services.errors import RetentionError
from ..services.ledger import summarise_account
from ..tasks import (
    expire_due_points_task,
    expire_reward_codes_task,
    merge_guest_accounts_task,
    publish_expiring_points_task,
    record_order_for_carts_task,
    reevaluate_tiers_task,
    refresh_lifecycle_task,
    refresh_segments_task,
    sweep_flows_task,
    sync_order_points_task,
)
from . import messages
from .behaviour import (
    BIRTHDAY_ON_FILE,
    NATURAL_RETURN,
    REGULARS_PER_CHANNEL,
    draw_habits,
)
from .due_moments import read_due_moments
from .records import Cart, Customer, Event, Order, SampleEmail, StoreLog
from .shop import CATALOGUE, CHANNELS, REWARDS, load_channel_settings

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["CHANNELS", "SimulatedStore", "load_channel_settings"]

# What ``_due_moments`` read (None: read them now).
Moments = dict[str, datetime | None] | None
FIRST_NAMES = ("Ann", "Bo", "Chen", "Dara", "Eli", "Fang", "Gus", "Hui", "Ida", "Jun", "Kai", "Lin")
# A cart the customer never comes back for is forgotten (by the simulation, not the plugin)
# once its last reminder has long been read.
FORGET_LEFT_CART_AFTER = timedelta(days=10)
# Celery beat runs the reminder sweep every minute: something due at a moment a sweep has
# already handled is looked at again a minute later, never in a tight loop.
BEAT_INTERVAL = timedelta(minutes=1)
# Celery beat refreshes segments and the replenishment / win-back plan every 6 hours; the
# sandbox does it once a day (a small shop's segments hardly move in a day), and the
# sweep that follows scans the scan-started flows (birthdays, member days, replenishment,
# win-back, campaigns). In between the clock jumps to the next due enrolment, message or
# cart (and every sweep scans too, as in a shop).
SCAN_AT = timedelta(hours=2, minutes=5)  # UTC: past 9:00 in Shanghai


class SimulatedStore:
    def __init__(self, *, seed: int, weeks: int, start: datetime, customers_per_channel: int):
        self.random = random.Random(seed)
        self.weeks = weeks
        self.start = start
        self.horizon = start + timedelta(weeks=weeks)
        self.customers = self._make_customers(customers_per_channel)
        self.carts: dict[str, Cart] = {}
        self.log = StoreLog()
        # The first reminder handed to the mail backend in each language ("en", "zh").
        self.sample_emails: dict[str, SampleEmail] = {}
        # What the local mail sink received, per flow (every channel).
        self.emails_by_flow: dict[str, int] = {}
        self._queue: list[Event] = []
        self._sequence = 0
        self._order_numbers = 0
        self._next_customer_id = 1000
        self._now = start
        self._last_sweep_at: datetime | None = None
        self._campaigns_waiting = False  # until the merchant schedules one
        # (sweeps so far, campaigns waiting) -> the next campaign moment then.
        self._campaign_moment: tuple[tuple[int, bool], datetime | None] | None = None
        self._by_email = {normalise_email(c.email): c for c in self.customers}
        # Below this id every message is sent, failed or cancelled: read_messages skips them.
        self.outbox_floor = 0
        self._redeemers: set[tuple[str, str | None]] = set()  # (channel, email) who redeemed
        self._every_message_mailed = messages.every_message_mailed()

    # --- generating the story ---------------------------------------------------------

    def _make_customers(self, per_channel: int) -> list[Customer]:
        customers: list[Customer] = []
        for channel in CHANNELS:
            for index in range(per_channel):
                # Ann, Bo, ... Lin, then Ann 2, Bo 2...: every customer has a name and an
                # email of their own.
                round_ = index // len(FIRST_NAMES)
                first = FIRST_NAMES[index % len(FIRST_NAMES)]
                name = first if round_ == 0 else f"{first} {round_ + 1}"
                mailbox = first.lower() if round_ == 0 else f"{first.lower()}{round_ + 1}"
                guest = index % 4 == 3  # every fourth customer starts as a guest
                registers_on_day = self.random.randint(10, 40) if guest else None
                habits = draw_habits(self.random, regular=index < REGULARS_PER_CHANNEL)
                birthday = None
                if self.random.random() < BIRTHDAY_ON_FILE:
                    # 28 days a month: every birthday exists every year.
                    birthday = (self.random.randint(1, 12), self.random.randint(1, 28))
                customers.append(
                    Customer(
                        name=f"{name} ({channel.currency})",
                        email=f"{mailbox}.{channel.currency.lower()}@Example.com",
                        channel=channel,
                        customer_id=None if guest else 1 + len(customers),
                        habits=habits,
                        registers_on_day=registers_on_day,
                        birthday=birthday,
                    )
                )
        return customers

    def plan(self) -> None:
        """Open the shop; each day's events are drawn when that day begins."""
        self._at(self.start, "the merchant opens the points mall", self._open_points_mall)
        for description, merchant_plans in messages.AT_THE_START:
            self._at(self.start, description, functools.partial(merchant_plans, self))
        self._at(self._midnight(0), "a new day", functools.partial(self._begin_day, 0))

    def _midnight(self, day: int) -> datetime:
        return datetime.combine(
            self.start.date() + timedelta(days=day), time.min, self.start.tzinfo
        )

    def _begin_day(self, day: int) -> None:
        midnight = self._midnight(day)
        if day + 1 < self.weeks * 7:
            self._at(
                self._midnight(day + 1), "a new day", functools.partial(self._begin_day, day + 1)
            )
        # Celery beat's daily tasks, and the 6-hourly ones with the scan that follows them.
        self._at(midnight + timedelta(minutes=40), "tier re-evaluation", self._reevaluate)
        self._at(
            midnight + timedelta(minutes=50),
            "points about to expire",
            publish_expiring_points_task.delay,
        )
        self._at(
            midnight + SCAN_AT,
            "segments and lifecycle refreshed, flows scanned",
            self._refresh_and_scan,
        )
        for customer in self.customers:
            habits = customer.habits
            if customer.registers_on_day == day:
                self._at(
                    midnight + timedelta(hours=9),
                    f"{customer.name} registers",
                    functools.partial(self._register, customer),
                )
            if not habits.active:
                continue  # dropped out for good (BG/NBD)
            if day % 7 == 6 and self.random.random() < habits.visit_weekly:
                self._at(
                    midnight + timedelta(hours=20),
                    f"{customer.name} visits the points mall",
                    functools.partial(self._redeem, customer),
                )
            if self.random.random() < habits.abandon_daily:
                self._plan_abandoned_cart(customer, self._daytime(midnight))
            if self.random.random() < habits.order_daily:
                cart, moment = self._new_cart(customer), self._daytime(midnight)
                self._at(
                    moment - timedelta(minutes=20),
                    f"{customer.name} fills a cart",
                    functools.partial(self._touch_cart, cart),
                )
                self._plan_order(cart, moment)
                if habits.dropout_after_order and self.random.random() < habits.dropout_after_order:
                    habits.active = False

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
        return Cart(str(uuid.UUID(int=self.random.getrandbits(128))), customer, lines)

    def _plan_abandoned_cart(self, customer: Customer, moment: datetime) -> None:
        cart = self._new_cart(customer)
        self.carts[cart.token] = cart
        self._at(moment, f"{customer.name} leaves a cart", functools.partial(self._leave, cart))
        if self.random.random() < NATURAL_RETURN:
            cart.return_planned = True
            self._at(
                moment + timedelta(hours=self.random.randint(20, 96)),
                f"{customer.name} comes back for a cart",
                functools.partial(self._come_back, cart, after_reminder=False),
            )
        else:
            self._at(
                moment + FORGET_LEFT_CART_AFTER,
                "a cart is left for good",
                functools.partial(self._forget, cart),
            )

    def _next_order_number(self) -> int:
        self._order_numbers += 1
        return self._order_numbers

    def _plan_order(self, cart: Cart, moment: datetime, voucher_code: str | None = None) -> Order:
        goods = cart.goods
        order = Order(
            order_id=str(uuid.UUID(int=self.random.getrandbits(128))),
            number=self._next_order_number(),
            customer=cart.customer,
            checkout_token=cart.token,
            created_at=moment,
            goods=goods,
            shipping=Decimal("6.00"),
            tax=(goods * Decimal("0.08")).quantize(Decimal("0.01")),
            lines=cart.lines,
            voucher_code=voucher_code,
        )
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
        if order.customer.channel.settings.care.care_anchor.value == "fulfilment":
            self._at(
                paid_at + timedelta(days=2, hours=self.random.randint(0, 24)),
                f"order #{order.number} fulfilled",
                functools.partial(self._fulfil, order),
            )
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
            customer.channel.settings,
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

    def _forget(self, cart: Cart) -> None:
        if not cart.return_planned:
            self.carts.pop(cart.token, None)

    def _come_back(self, cart: Cart, *, after_reminder: bool) -> None:
        if after_reminder:
            self.log.carts_back_after_reminder += 1
        else:
            self.log.carts_back_by_themselves += 1
        self.carts.pop(cart.token, None)
        self._touch_cart(cart)
        self._pay(self._plan_order_now(cart))

    def _plan_order_now(self, cart: Cart) -> Order:
        order = Order(
            order_id=str(uuid.UUID(int=self.random.getrandbits(128))),
            number=self._next_order_number(),
            customer=cart.customer,
            checkout_token=cart.token,
            created_at=self._now,
            goods=cart.goods,
            shipping=Decimal("6.00"),
            tax=(cart.goods * Decimal("0.08")).quantize(Decimal("0.01")),
            lines=cart.lines,
        )
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

    def _fulfil(self, order: Order) -> None:
        """Saleor's order_fulfilled hook: the intake reads the order, now fulfilled."""
        if order.status == "canceled":
            return
        order.status = "fulfilled"
        channel = order.customer.channel
        sync_order_points_task.delay(order.snapshot().to_json(), channel.configuration)

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
        messages.tell_birthday(self, customer)

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
            .order_by("pk")
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
        self._redeemers.add((customer.channel.slug, normalise_email(customer.email)))
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
        """Customers apply a code they bought to most orders (checkoutAddPromoCode); the
        plugin's order task then marks it used.
        """
        if (customer.channel.slug, normalise_email(customer.email)) not in self._redeemers:
            return  # holds no code: only the points mall issues them, only _redeem redeems
        issued = (
            Redemption.objects.filter(
                account__channel_slug=customer.channel.slug,
                account__email=normalise_email(customer.email),
                status=Redemption.Status.ISSUED,
                expires_at__gt=self._now,
            )
            .exclude(code=None)
            .order_by("expires_at", "pk")
            .first()
        )
        if issued is not None and issued.code is not None and self.random.random() < 0.7:
            mall.mark_code_used(issued.code)
            self.log.codes_used += 1

    def _reevaluate(self) -> None:
        reevaluate_tiers_task.delay()

    def _refresh_and_scan(self) -> None:
        """What beat runs every 6 hours (segments, then the lifecycle plan that reads them),
        then the sweep that scans the scan-started flows.
        """
        refresh_segments_task.delay()
        refresh_lifecycle_task.delay()
        self.run_due_tasks(scan=True)

    # --- the plugin's periodic tasks, when they are due -------------------------------

    def next_due_moment(self, moments: Moments = None) -> datetime | None:
        """The earliest moment a periodic task has work: a cart or a flow enrolment to look
        at, a message to send, a lot or a reward code to expire (each a MIN over a partial
        index), or a scheduled campaign's first send moment. ``moments``: what
        ``_due_moments`` read just now, if the caller has it.
        """
        moments = self._due_moments() if moments is None else moments
        due = min((at for at in moments.values() if at is not None), default=None)
        if due is not None and self._last_sweep_at is not None and due <= self._last_sweep_at:
            # Still due after a sweep at that moment (e.g. waiting for a retry): next beat.
            due = self._last_sweep_at + BEAT_INTERVAL
        return due

    def _due_moments(self) -> dict[str, datetime | None]:
        # One statement instead of five ORM queries: it runs after every event.
        due = read_due_moments()
        due["campaigns"] = messages.next_campaign_moment(self)
        return due

    def run_due_tasks(
        self, *, expire_everything: bool = False, scan: bool = False, moments: Moments = None
    ) -> None:
        """What Celery beat runs when it has work: the flows' sweep, the expiry of points
        and of reward codes (each only when something of its own is due; expiry also when
        ``expire_everything``, before the report; the sweep also when ``scan``: the
        scan-started flows look for new subjects). ``moments``: what ``_due_moments`` read
        with nothing changed since (``run`` has just read them to choose this moment).
        """
        since, self._last_sweep_at = self._last_sweep_at, self._now
        moments = self._due_moments() if moments is None else moments
        due = {name: at is not None and at <= self._now for name, at in moments.items()}
        with time_machine.travel(self._now, tick=False):
            if due["lots"] or expire_everything:
                expire_due_points_task.delay()
            if due["codes"] or expire_everything:
                expire_reward_codes_task.delay()
            if scan or any(due[name] for name in ("carts", "messages", "enrolments", "campaigns")):
                sweep_flows_task.delay()
        self.log.sweeps += 1
        # Only deliveries send: with every channel mailing, no mail means nothing to read.
        if messages.collect_mail(self) or not self._every_message_mailed:
            messages.read_messages(self, since)

    # --- running ---------------------------------------------------------------------

    def run(self, progress: Callable[[datetime], None] | None = None) -> None:
        """Play the story to its end, then run what is due at the end (before a report)."""
        while True:
            next_event = self._queue[0].at if self._queue else None
            moments = self._due_moments()
            due = self.next_due_moment(moments)
            if due is not None and due > self.horizon:
                # After the story's end only what it started goes on (payments, refunds,
                # returns); periodic work waits for the report's moment.
                due = None
            if due is None and next_event is None:
                break
            if due is not None and (next_event is None or due <= next_event):
                self._now = due
                self.run_due_tasks(moments=moments)
            else:
                event = heapq.heappop(self._queue)
                self._now = event.at
                with time_machine.travel(event.at, tick=False):
                    event.apply()
                self.log.events += 1
            if progress is not None:
                progress(self._now)
        self._now = self.end
        self.run_due_tasks(expire_everything=True)

    @property
    def now(self) -> datetime:
        """The simulated moment reached so far (where an interrupted run stopped)."""
        return self._now

    @property
    def end(self) -> datetime:
        """When the story ends: the last simulated day, or a late return after it."""
        return max(self.horizon, self._now)


def use_throwaway_sqlite() -> None:
    """Skip fsync on the sandbox's own SQLite file: it is deleted after the run, and
    waiting for the disk at every commit was most of the run's time.
    """
    from django.db.backends.signals import connection_created

    def tune(sender: Any, connection: Any, **kwargs: Any) -> None:
        if connection.vendor == "sqlite":
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA synchronous = OFF")
                cursor.execute("PRAGMA journal_mode = MEMORY")

    connection_created.connect(tune, weak=False)
