"""Write use-cases of membership tiers: seeding, CRUD, evaluating accounts, birthdays.

Tier rules live in ``domain.tiers``; this module feeds them from the database and writes
the outcome (``CustomerTier`` + a ``TierChange`` row) in one transaction per account,
under the account's row lock so a concurrent order and re-evaluation cannot interleave.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet

from ..conf import MembershipSettings
from ..domain.orders import OrderSnapshot
from ..models import CustomerProfile, CustomerTier, LoyaltyAccount, MembershipTier, TierBenefit, TierChange
from .errors import InvalidInput, NotFound, RetentionError  # noqa: F401


class TierNotFound(NotFound):
    pass


class BirthdayLocked(RetentionError):
    code = "birthday_locked"


@dataclass(frozen=True)
class NextTier:
    tier: MembershipTier
    current_value: Decimal  # points or money inside the next tier's window
    remaining: Decimal
    ratio: Decimal  # 0..1


@dataclass(frozen=True)
class MembershipSummary:
    """Everything a storefront shows about an account's membership (fixed query count)."""

    tier: MembershipTier | None
    benefits: tuple[TierBenefit, ...]
    achieved_at: datetime | None
    downgrade_due_at: datetime | None
    next_tier: NextTier | None


@dataclass(frozen=True)
class ReevaluationReport:
    evaluated: int = 0
    upgraded: int = 0
    downgraded: int = 0
    grace_started: int = 0
    grace_cancelled: int = 0


# --- tiers and benefits (staff) -----------------------------------------------------------


def seed_default_tiers(channel_slug: str, settings: MembershipSettings | None = None) -> list[MembershipTier]:
    """Create Member / Silver / Gold (普通会员 / 白银会员 / 黄金会员) with their benefits
    for a channel that has no tiers yet; returns the channel's tiers. Idempotent."""
    raise NotImplementedError


def tiers_of_channel(channel_slug: str) -> list[MembershipTier]:
    """The channel's tiers by rank, benefits prefetched (``tier.benefits.all()``): 2 queries."""
    raise NotImplementedError


def create_tier(
    channel_slug: str,
    *,
    code: str,
    rank: int,
    name: Mapping[str, str],
    threshold_value: Decimal | int | str,
    threshold_kind: str | None = None,
    window_months: int | None = None,
    description: Mapping[str, str] | None = None,
    settings: MembershipSettings | None = None,
) -> MembershipTier:
    """Add a tier; kind and window default to the channel settings. Raises ``InvalidInput``
    (fields: code, rank, name, threshold_value, threshold_kind, window_months) and
    re-evaluates the channel's accounts after commit."""
    raise NotImplementedError


def update_tier(tier_id: int, **changes: Any) -> MembershipTier:
    """Change any of code, rank, name, description, threshold_kind, threshold_value,
    window_months. A threshold change re-evaluates every account of the channel after
    commit (upgrades at once, downgrades through the grace period); the programme stays on."""
    raise NotImplementedError


def delete_tier(tier_id: int) -> None:
    """Remove a tier; its members move to the best remaining tier they qualify for
    (history reason ``tier_deleted``). Refused (``InvalidInput``) for the last tier."""
    raise NotImplementedError


def create_benefit(
    tier_id: int,
    *,
    kind: str,
    value: Decimal | int | str | None = None,
    config: Mapping[str, Any] | None = None,
    title: Mapping[str, str] | None = None,
    description: Mapping[str, str] | None = None,
    position: int = 0,
    is_active: bool = True,
) -> TierBenefit:
    """Attach a benefit; ``value`` is validated per kind (percent 0-100, multiplier 1-100,
    birthday gift points, early-access hours, ...). Raises ``InvalidInput``."""
    raise NotImplementedError


def update_benefit(benefit_id: int, **changes: Any) -> TierBenefit:
    raise NotImplementedError


def delete_benefit(benefit_id: int) -> None:
    raise NotImplementedError


# --- accounts -----------------------------------------------------------------------------


def membership_of(account: LoyaltyAccount, *, now: datetime | None = None) -> MembershipSummary:
    """The account's tier, its active benefits and progress to the next tier."""
    raise NotImplementedError


def points_multiplier_for_account(account: LoyaltyAccount) -> Decimal:
    """The earning multiplier of the account's current tier (1 without a tier).

    Passed to ``ledger.sync_order_points(multiplier_for_account=...)``."""
    raise NotImplementedError


def apply_order_to_tiers(
    order: OrderSnapshot, settings: MembershipSettings, *, now: datetime | None = None
) -> TierChange | None:
    """Record what the order counts towards tiers (net of refunds) and upgrade the account
    if it now qualifies for a better tier. Never downgrades. Idempotent per order."""
    raise NotImplementedError


def evaluate_account(
    account_id: int,
    *,
    settings: MembershipSettings,
    reason: str = TierChange.Reason.REEVALUATION,
    allow_downgrade: bool = True,
    now: datetime | None = None,
) -> TierChange | None:
    """Apply the tier rules to one account; returns the change made, if any."""
    raise NotImplementedError


def reevaluate_channel(
    channel_slug: str,
    *,
    settings: MembershipSettings,
    reason: str = TierChange.Reason.REEVALUATION,
    now: datetime | None = None,
    batch_size: int = 500,
) -> ReevaluationReport:
    """Evaluate every live account of the channel, in batches, one transaction each."""
    raise NotImplementedError


def tier_history(account: LoyaltyAccount) -> QuerySet[TierChange]:
    """The account's tier changes, newest first."""
    raise NotImplementedError


# --- birthdays ------------------------------------------------------------------------------


def set_birthday(
    customer_id: int,
    *,
    month: int,
    day: int,
    year: int | None = None,
    now: datetime | None = None,
    staff: bool = False,
) -> CustomerProfile:
    """Record the customer's birthday. Customers may change it once a year (staff always),
    so birthday gifts cannot be farmed. Raises ``InvalidInput`` (fields month, day, year)
    or ``BirthdayLocked``."""
    raise NotImplementedError


def birthday_of(customer_id: int) -> CustomerProfile | None:
    raise NotImplementedError


def anonymise_membership(customer_id: int) -> int:
    """Delete the customer's birthday; returns rows deleted."""
    raise NotImplementedError
