"""Write use-cases of the points mall: the catalogue and redeeming rewards.

``redeem_reward`` is one transaction: lock the reward row (stock, per-customer limit),
spend the points through the ledger (which locks the account row), issue the code, and
write the redemption. Locks are always taken in that order (reward, then account), so
two redemptions can never deadlock; anything that fails rolls everything back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import QuerySet

from ..conf import ChannelSettings, MembershipSettings
from ..models import LoyaltyAccount, Redemption, Reward
from .codes import CodeIssuer
from .errors import InvalidInput, NotFound, RetentionError  # noqa: F401

MAX_POINTS_COST = 10_000_000


class RewardNotFound(NotFound):
    pass


class RewardUnavailable(RetentionError):
    """Inactive, outside its window or another channel's reward."""

    code = "reward_unavailable"


class OutOfStock(RetentionError):
    code = "out_of_stock"


class LimitReached(RetentionError):
    code = "limit_reached"


class NotEnoughPoints(RetentionError):
    code = "insufficient_points"


class DuplicateRedemption(RetentionError):
    """The idempotency key was already used; ``redemption`` is the first redemption."""

    code = "duplicate_redemption"

    def __init__(self, message: str, *, redemption: Redemption):
        super().__init__(message, field="idempotency_key")
        self.redemption = redemption


@dataclass(frozen=True)
class ExpiryReport:
    expired: int = 0
    refunded: int = 0
    points_refunded: int = 0
    found_used: int = 0


# --- catalogue -----------------------------------------------------------------------------


def rewards_of_channel(
    channel_slug: str, *, now: datetime | None = None, available_only: bool = True
) -> QuerySet[Reward]:
    """Rewards of a channel; by default only those a customer can redeem now."""
    raise NotImplementedError


def create_reward(channel_slug: str, **fields: Any) -> Reward:
    """Add a reward. Fields: kind, name, description, points_cost, discount_value,
    min_order_amount, gift_product_id, stock, per_customer_limit, active_from,
    active_until, is_active, code_validity_days, draw_prizes, position.
    Raises ``InvalidInput`` with per-field messages. Draw rewards get a fresh secret seed."""
    raise NotImplementedError


def update_reward(reward_id: int, **changes: Any) -> Reward:
    raise NotImplementedError


def delete_reward(reward_id: int) -> bool:
    """Delete a never-redeemed reward; deactivate one with redemptions (history stays).
    Returns True when deleted, False when deactivated."""
    raise NotImplementedError


# --- redeeming -----------------------------------------------------------------------------


def redeem_reward(
    account: LoyaltyAccount | int,
    reward_id: int,
    idempotency_key: str,
    *,
    settings: MembershipSettings | None = None,
    issuer: CodeIssuer | None = None,
    now: datetime | None = None,
) -> Redemption:
    """Spend the reward's points and issue it, atomically.

    Raises (nothing changed): ``InvalidInput`` (bad key or reward id), ``RewardNotFound``,
    ``RewardUnavailable``, ``OutOfStock``, ``LimitReached``, ``NotEnoughPoints``,
    ``DuplicateRedemption`` (same account + idempotency key again; carries the first
    redemption). ``issuer`` defaults to ``codes.default_code_issuer()``.
    """
    raise NotImplementedError


def redemptions_of(account: LoyaltyAccount | int) -> QuerySet[Redemption]:
    """The account's redemptions, newest first, reward selected."""
    raise NotImplementedError


def mark_code_used(code: str, *, now: datetime | None = None) -> Redemption | None:
    """Record that an issued code was used on an order (a used code is never refunded)."""
    raise NotImplementedError


def expire_unused_codes(
    *,
    settings_for_channel: Callable[[str], ChannelSettings] | None = None,
    issuer: CodeIssuer | None = None,
    now: datetime | None = None,
    batch_size: int = 500,
) -> ExpiryReport:
    """Close every issued code whose expiry passed: used ones become ``used``, unused ones
    ``expired`` or, when the redemption was made with refunds on, ``refunded`` with the
    points given back (once, keyed by the redemption). Safe to run repeatedly."""
    raise NotImplementedError


def reveal_draw_seed(reward_id: int) -> str:
    """The secret seed of a prize draw, for an auditor (staff only)."""
    raise NotImplementedError
