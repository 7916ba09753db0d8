"""The one order intake: an order as it now stands, applied to every part in one transaction.

Every order event task, the periodic reconciliation and (next) the backfill call
``apply_order``. It computes what the order is worth once (``domain.orders.order_value``)
and hands the same snapshot and value to each part in ``ORDER_PARTS``, in order, inside
one transaction: points (ledger), tier progress, reward codes, carts and the purchase
history. The metadata mirror and the extension signals follow after commit (they listen
to the ledger's and tiers' signals). A new part is one more entry in ``ORDER_PARTS``.

Every part is idempotent and never moves backwards: the ledger only takes back more, a
tier amount only falls once the order qualified, a cancelled order stays cancelled, a
reward code given back stays given back. So a late, repeated or stale snapshot changes
nothing it should not, and any order of delivery ends in the state of the newest one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.db import InterfaceError, OperationalError, transaction
from django.utils import timezone

from ..domain.carts import PlacedOrder
from ..domain.earning import order_multiplier
from ..domain.history import purchase_record_from_snapshot
from ..domain.orders import NON_EARNING_STATUSES, OrderSnapshot, OrderValue, order_value
from . import ledger, mall, order_opening, purchase_history, tiers
from .codes import CODE_PREFIX

if TYPE_CHECKING:
    from datetime import datetime
    from decimal import Decimal

    from ..conf import ChannelSettings
    from ..models import LoyaltyAccount

logger = logging.getLogger(__name__)


@dataclass
class OrderIntake:
    """One order on its way through the parts; each part reads and fills it."""

    snapshot: OrderSnapshot
    value: OrderValue
    settings: ChannelSettings
    now: datetime
    points: ledger.OrderPointsOutcome | None = None
    standing: tiers.TierStanding | None = None  # read by the ledger, reused by the tiers
    tier_change: str = ""
    reward_codes_given_back: int = 0
    cart_recovered: bool = False
    parts_done: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class OrderOutcome:
    """What ``apply_order`` did, for task results, logs, tests and the sandbox."""

    order_id: str
    account_id: int | None
    earned: int
    taken_back: int
    written_off: int
    net_goods_amount: Decimal
    tier_change: str  # code of the tier the order moved the account to, "" if none
    reward_codes_given_back: int
    cart_recovered: bool
    skipped_reason: str = ""

    def to_json(self) -> dict[str, object]:
        return {
            "order_id": self.order_id,
            "account_id": self.account_id,
            "earned": self.earned,
            "taken_back": self.taken_back,
            "written_off": self.written_off,
            "net_goods_amount": str(self.net_goods_amount),
            "tier_change": self.tier_change,
            "reward_codes_given_back": self.reward_codes_given_back,
            "cart_recovered": self.cart_recovered,
            "skipped_reason": self.skipped_reason,
        }


def apply_points(intake: OrderIntake) -> None:
    """Earn once when the order qualifies; take back the refunded share of the goods."""
    opening: order_opening.OrderOpening | None = None

    def open_order(merge_guests: bool, email: str | None) -> order_opening.OrderOpening:
        # The order's entries, its account locked with the tier row, and the ladder:
        # one statement on PostgreSQL (services.order_opening).
        nonlocal opening
        opening = order_opening.open_order(intake.snapshot, merge_guests=merge_guests, email=email)
        return opening

    def multiplier(account: LoyaltyAccount) -> Decimal:
        # Read once here, under the ledger's account lock; the tiers decide on it next.
        # The tier's multiplier times the member day's, by when the order was placed
        # (domain.earning), both in the ladder's query (or the opening statement's).
        ladder = (
            (opening.tiers, opening.member_day_multiplier)
            if opening is not None and opening.channel_slug == account.channel_slug
            else None
        )
        intake.standing = tiers.tier_standing(
            account, member_day_at=intake.snapshot.created_at, known_ladder=ladder
        )
        return order_multiplier(intake.standing.multiplier, intake.standing.member_day_multiplier)

    intake.points = ledger.sync_order_points(
        intake.snapshot,
        intake.settings.ledger,
        multiplier_for_account=multiplier,
        now=intake.now,
        open_order=open_order if order_opening.available() else None,
    )


def apply_tier_progress(intake: OrderIntake) -> None:
    """Record what the order counts towards tiers; upgrade at once (never downgrade)."""
    change = tiers.apply_order_to_tiers(
        intake.snapshot,
        intake.settings,
        value=intake.value,
        points=intake.points,
        now=intake.now,
        # Locked by the ledger in this intake's transaction: not read and locked again.
        locked_account=intake.points.account if intake.points else None,
        standing=intake.standing,
    )
    intake.tier_change = change.to_code if change else ""


def apply_reward_codes(intake: OrderIntake) -> None:
    """A points-mall code on the order shows as used; on a cancelled order it comes back."""
    code = intake.snapshot.voucher_code
    if not code or not code.upper().startswith(f"{CODE_PREFIX}-"):
        return
    if intake.snapshot.is_cancelled:
        given_back = mall.give_back_code_of_cancelled_order(
            code, intake.snapshot.order_id, settings=intake.settings.ledger, now=intake.now
        )
        intake.reward_codes_given_back += int(given_back is not None)
    else:
        mall.mark_code_used(code, now=intake.now)


def apply_carts(intake: OrderIntake) -> None:
    """Stop the customer's cart series and credit a recovered cart (idempotent)."""
    from . import carts

    order = intake.snapshot
    if order.status in NON_EARNING_STATUSES:
        return  # a draft or unconfirmed order was not placed by the customer yet
    if intake.points is not None and intake.points.earned_before:
        # The intake that booked the order's points recorded it for carts in the same
        # transaction; later events (refunds, cancellation) change nothing there.
        return
    intake.cart_recovered = carts.record_order(placed_order(order), intake.settings) is not None


def placed_order(order: OrderSnapshot) -> PlacedOrder:
    return PlacedOrder(
        order_id=order.order_id,
        channel_slug=order.channel_slug,
        checkout_token=order.checkout_token,
        customer_id=order.customer_id,
        email=order.email,
        total=order.total_amount,
        currency=order.currency,
        placed_at=order.created_at,
    )


def apply_flows(intake: OrderIntake) -> None:
    """Credit the order to the flows before it, and start the flows it starts.

    Publishes ``order_placed`` (and ``order_fulfilled`` once Saleor says fulfilled) to
    the enrolment flows (``services.flow_events``); both are idempotent, so every intake
    of the order may publish again. Runs only while a lifecycle flow is on in the channel
    (no query otherwise). A flow that fails is logged in a savepoint: it never undoes
    points or tiers; a lost database connection still fails the intake, which retries.
    """
    from . import flow_events

    order = intake.snapshot
    if order.status in NON_EARNING_STATUSES or order.is_cancelled:
        return
    if not any(flow.is_enabled(intake.settings) for flow in flow_events.enrolment_flows()):
        return
    try:
        with transaction.atomic():
            flow_events.attribute_order(placed_order(order), intake.settings, now=intake.now)
            flow_events.publish_order_events(order, intake.settings, now=intake.now)
    except (OperationalError, InterfaceError):
        raise  # the database, not a flow: the task retries the whole intake
    except Exception:
        logger.exception("Flows could not take order %s", order.order_id)


def apply_purchase_history(intake: OrderIntake) -> None:
    """Keep the order and its lines in the purchase history, as the order now stands.

    The stored amount is the net goods amount the ledger earns on (after refunds and
    cancellations), so reports and points agree. An order the history cannot key (a
    guest order without an email) is logged and left out; it never undoes the other parts.
    """
    record = purchase_record_from_snapshot(intake.snapshot, intake.value.net_goods_amount)
    # Saleor's own timestamp is trusted here: "placed in the future" guards imported files,
    # not a worker whose clock runs a moment behind the database's.
    problems = record.problems(max(intake.now, intake.snapshot.created_at))
    if problems:
        logger.info(
            "Order %s left out of the purchase history: %s",
            intake.snapshot.order_id,
            "; ".join(problems),
        )
        return
    purchase_history.record_purchases([record], now=max(intake.now, intake.snapshot.created_at))


Part = Callable[[OrderIntake], None]

# Every part an order is applied to, in order (tiers read what the ledger booked).
ORDER_PARTS: tuple[tuple[str, Part], ...] = (
    ("points", apply_points),
    ("tiers", apply_tier_progress),
    ("reward_codes", apply_reward_codes),
    ("carts", apply_carts),
    ("purchases", apply_purchase_history),
    ("flows", apply_flows),
)


def apply_order(
    snapshot: OrderSnapshot,
    settings: ChannelSettings,
    *,
    now: datetime | None = None,
    skip: frozenset[str] = frozenset(),
) -> OrderOutcome:
    """Apply the order as it now stands to every part, in one transaction.

    ``skip`` names parts a caller handles itself (the snapshot-JSON task leaves carts to
    its callers, who report them with the checkout token). Raises only what the database
    raises (the task retries transient errors); bad orders are skipped by each part with
    a logged reason and change nothing.
    """
    intake = OrderIntake(snapshot, order_value(snapshot), settings, now or timezone.now())
    with transaction.atomic():
        for name, part in ORDER_PARTS:
            if name in skip:
                continue
            part(intake)
            intake.parts_done.append(name)
    points = intake.points or ledger.OrderPointsOutcome(snapshot.order_id, None)
    return OrderOutcome(
        order_id=snapshot.order_id,
        account_id=points.account_id,
        earned=points.earned,
        taken_back=points.taken_back,
        written_off=points.written_off,
        net_goods_amount=intake.value.net_goods_amount,
        tier_change=intake.tier_change,
        reward_codes_given_back=intake.reward_codes_given_back,
        cart_recovered=intake.cart_recovered,
        skipped_reason=points.skipped_reason,
    )
