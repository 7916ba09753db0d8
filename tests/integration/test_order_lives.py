"""Order lives as a hypothesis state machine, through the order intake (issue 7).

Orders are placed (paid partly by gift card, sometimes with a points-mall code), have
goods and shipping refunded (itemised or not), are cancelled; Saleor's events arrive
late, twice, or stale; points expire; guests register and are merged. After every step,
whatever was delivered in whatever order:

* every account's balance is the sum of its entries, its open lots hold exactly its
  positive balance, its lifetime points are what its orders earned net of what they
  took back;
* every order's net points and tier amount are what its newest state implies (the same
  ``order_value`` share for both);
* every reward code is used while its order stands and given back once it is cancelled.

Each example runs inside a savepoint that is rolled back, against real PostgreSQL.
"""

from __future__ import annotations

import dataclasses
import itertools
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.db.models import Q
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from saleor_retention_plugin.conf import ChannelSettings, LedgerSettings, MembershipSettings
from saleor_retention_plugin.domain.orders import OrderSnapshot, order_value
from saleor_retention_plugin.models import (
    LoyaltyAccount,
    PointsEntry,
    QualifyingOrder,
    Redemption,
    Reward,
)
from saleor_retention_plugin.services import ledger, mall
from saleor_retention_plugin.services.codes import PlainCodeIssuer
from saleor_retention_plugin.services.errors import RetentionError
from saleor_retention_plugin.services.ledger_audit import find_balance_drift
from saleor_retention_plugin.services.order_intake import apply_order

pytestmark = pytest.mark.django_db

CHANNEL = "main"
START = datetime(2026, 1, 5, 10, tzinfo=UTC)
PEOPLE = [(1, "one@example.com"), (None, "guest@example.com"), (2, "two@example.com")]
GUEST_ID_AFTER_REGISTERING = 3
SETTINGS = ChannelSettings(
    ledger=LedgerSettings(expiry_months=1),
    membership=MembershipSettings(tier_downgrade_grace_days=0),
)


@dataclasses.dataclass
class OrderLife:
    """Every state Saleor reported for one order, oldest first; ``newest`` delivered."""

    states: list[OrderSnapshot]
    newest: int = 0

    @property
    def current(self) -> OrderSnapshot:
        return self.states[-1]


class OrderLives(RuleBasedStateMachine):
    orders = Bundle("orders")

    def __init__(self) -> None:
        super().__init__()
        self.now = START
        self.lives: dict[str, OrderLife] = {}
        self.registered = False
        self.numbers = itertools.count(1)
        self.reward: Reward | None = None
        self.codes: list[str] = []
        self.code_orders: dict[str, str] = {}
        # Each example starts from the empty shop: undone in teardown.
        self.savepoint = transaction.savepoint()

    def teardown(self) -> None:
        transaction.savepoint_rollback(self.savepoint)

    @initialize()
    def open_the_shop(self) -> None:
        self.reward = mall.create_reward(
            CHANNEL, kind="fixed_discount", name={"en": "5 off"}, points_cost=20, discount_value="5"
        )

    # --- what Saleor reports -------------------------------------------------------------

    def deliver(self, life: OrderLife, index: int) -> None:
        apply_order(life.states[index], SETTINGS, now=self.now)
        life.newest = max(life.newest, index)

    def person(self, index: int) -> tuple[int | None, str]:
        customer_id, email = PEOPLE[index]
        if customer_id is None and self.registered:
            customer_id = GUEST_ID_AFTER_REGISTERING
        return customer_id, email

    @rule(
        target=orders,
        who=st.integers(0, len(PEOPLE) - 1),
        goods=st.integers(1, 400),
        shipping=st.integers(0, 30),
        gift_card=st.integers(0, 100),
        use_code=st.booleans(),
    )
    def place_a_paid_order(self, who, goods, shipping, gift_card, use_code):
        customer_id, email = self.person(who)
        total = Decimal(goods + shipping)
        paid_by_card = min(Decimal(gift_card), total)
        code = self.codes.pop() if use_code and self.codes else None
        order = OrderSnapshot(
            order_id=str(uuid.uuid4()),
            number=str(next(self.numbers)),
            channel_slug=CHANNEL,
            channel_currency="USD",
            currency="USD",
            customer_id=customer_id,
            email=email,
            status="unfulfilled",
            is_fully_paid=True,
            points_base_amount=Decimal(goods),
            goods_amount=Decimal(goods),
            total_amount=total - paid_by_card,
            refunded_amount=Decimal(0),
            created_at=self.now,
            gift_card_paid_amount=paid_by_card,
            voucher_code=code,
        )
        life = OrderLife([order])
        self.lives[order.order_id] = life
        if code:
            self.code_orders[code] = order.order_id
        self.deliver(life, 0)
        return order.order_id

    def changed(self, order_id: str, replay_first: bool = False, **changes) -> None:
        """The order changed in Saleor and its event arrived; ``replay_first``: then the
        event of its first state (paid) arrives again, late.
        """
        life = self.lives[order_id]
        if life.current.is_cancelled:
            return  # nothing happens to a cancelled order any more
        life.states.append(dataclasses.replace(life.current, **changes))
        self.deliver(life, len(life.states) - 1)
        if replay_first:
            self.deliver(life, 0)

    @rule(order_id=orders, share=st.integers(1, 100), itemised=st.booleans(), replay=st.booleans())
    def refund_goods(self, order_id, share, itemised, replay):
        current = self.lives[order_id].current
        goods_refunded = current.refunded_amount - current.refunded_shipping_amount
        left = current.refund_base_amount - goods_refunded
        amount = (current.refund_base_amount * share / 100).quantize(Decimal("0.01"))
        amount = min(amount, max(left, Decimal(0)))
        if amount <= 0:
            return
        self.changed(
            order_id,
            replay,
            refunded_amount=current.refunded_amount + amount,
            refunded_goods_amount=current.refunded_goods_amount + (amount if itemised else 0),
        )

    @rule(order_id=orders)
    def refund_shipping(self, order_id):
        current = self.lives[order_id].current
        shipping = current.total_amount + current.gift_card_paid_amount - current.refund_base_amount
        if shipping <= 0 or current.refunded_shipping_amount:
            return
        self.changed(
            order_id,
            refunded_amount=current.refunded_amount + shipping,
            refunded_shipping_amount=shipping,
        )

    @rule(order_id=orders, replay=st.booleans())
    def cancel(self, order_id, replay):
        self.changed(order_id, replay, status="canceled")

    @rule(order_id=orders, data=st.data())
    def deliver_an_older_state_again(self, order_id, data):
        life = self.lives[order_id]
        self.deliver(life, data.draw(st.integers(0, len(life.states) - 1)))

    # --- the rest of the shop -------------------------------------------------------------

    @rule(days=st.integers(1, 45))
    def time_passes_and_points_expire(self, days):
        self.now += timedelta(days=days)
        ledger.expire_due_points(self.now)

    @rule()
    def the_guest_registers(self):
        if not self.registered:
            self.registered = True
            ledger.merge_guest_accounts(GUEST_ID_AFTER_REGISTERING, PEOPLE[1][1])

    @rule(who=st.integers(0, len(PEOPLE) - 1))
    def redeem_a_code(self, who):
        customer_id, email = self.person(who)
        assert self.reward is not None
        try:
            account = ledger.account_for(CHANNEL, customer_id, email)
            redemption = mall.redeem_reward(
                account,
                self.reward.pk,
                f"r-{uuid.uuid4()}",
                issuer=PlainCodeIssuer(),
                now=self.now,
            )
        except RetentionError:
            return  # not enough spendable points: refused, nothing changed
        assert redemption.code is not None
        self.codes.append(redemption.code)

    # --- what must hold after every step ---------------------------------------------------

    @invariant()
    def balances_entries_and_lots_agree(self):
        assert find_balance_drift() == []

    @invariant()
    def every_order_counts_what_its_newest_state_implies(self):
        for order_id, life in self.lives.items():
            newest = life.states[life.newest]
            value = order_value(newest)
            entries = PointsEntry.objects.for_order(order_id)
            earned = sum(e.points for e in entries if e.kind == PointsEntry.Kind.EARN)
            taken = sum(
                -e.points + e.written_off for e in entries if e.kind == PointsEntry.Kind.REVERSE
            )
            assert taken == int(earned * value.refunded_goods_share)
            record = QualifyingOrder.objects.filter(order_id=order_id).first()
            if record is not None:
                assert record.points_earned == earned - taken
                expected = Decimal(0) if newest.is_cancelled else value.net_goods_amount
                assert record.amount_spent == expected

    @invariant()
    def lifetime_points_are_what_orders_kept(self):
        for account in LoyaltyAccount.objects.filter(merged_into__isnull=True):
            kept = QualifyingOrder.objects.filter(
                Q(account=account) | Q(account__merged_into=account)
            ).values_list("points_earned", flat=True)
            assert account.lifetime_earned == sum(kept)

    @invariant()
    def codes_come_back_when_their_order_is_cancelled(self):
        for code, order_id in self.code_orders.items():
            life = self.lives[order_id]
            status = Redemption.objects.get(code=code).status
            cancelled = life.states[life.newest].is_cancelled
            assert status == ("refunded" if cancelled else "used")


def test_order_lives_end_as_their_newest_state_implies():
    run_state_machine_as_test(
        OrderLives,
        settings=settings(
            max_examples=30,
            stateful_step_count=10,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
