"""Pure tier rules: which tier an account qualifies for, and when its tier changes.

The policy the merchant sees:

* A tier is earned by reaching its threshold of points earned or amount spent, counted
  over a rolling window of months (or the whole lifetime). Each tier states its own
  threshold kind and window, so a channel may mix them; the best tier whose own
  threshold is met wins. The entry tier (threshold 0) is met by everyone.
* Upgrades happen at once (on the order that qualifies, or at any re-evaluation).
* Downgrades happen only at a periodic re-evaluation, and only after a grace period
  that starts when the account is first found below its tier; qualifying again during
  the grace period cancels the downgrade.
* Spending points never counts: progress is measured on what was earned or spent in
  orders, net of refunds, never on the balance.
"""

from __future__ import annotations

import calendar
import enum
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from .languages import DEFAULT_LANGUAGE, best_language


class Basis(enum.StrEnum):
    POINTS_EARNED = "points_earned"
    AMOUNT_SPENT = "amount_spent"


@dataclass(frozen=True)
class TierRule:
    """A tier as the rules see it."""

    tier_id: int
    rank: int
    basis: Basis
    threshold: Decimal
    window_months: int  # 0: lifetime


@dataclass(frozen=True)
class Activity:
    """One qualifying order: what it counts towards tiers, and when it was placed."""

    placed_at: datetime
    points_earned: int
    amount_spent: Decimal


@dataclass(frozen=True)
class Totals:
    """Points earned and amount spent inside one window."""

    points_earned: int = 0
    amount_spent: Decimal = Decimal(0)


# Totals per window length in months (0: lifetime): what the database sums for us.
TotalsByWindow = Mapping[int, Totals]


def window_start(now: datetime, months: int) -> datetime | None:
    """Start of a rolling window of ``months`` ending at ``now``; None for lifetime (0).

    Month arithmetic clamps to the last day of a shorter month (31 March - 1 month is
    28/29 February), so a window never skips or repeats a day.
    """
    if months <= 0:
        return None
    total = now.year * 12 + (now.month - 1) - months
    year, month = divmod(total, 12)
    month += 1
    day = min(now.day, calendar.monthrange(year, month)[1])
    return now.replace(year=year, month=month, day=day)


def leaves_window_at(placed_at: datetime, months: int) -> datetime | None:
    """When an order placed at ``placed_at`` stops counting in a window of ``months``.

    The first daily moment at which ``window_start`` has passed it; None for lifetime (0).

    ``months`` after the order, then a day at a time: month-end clamping in
    ``window_start`` keeps an order of 30 April counted until 1 June in a 1-month window.
    """
    if months <= 0:
        return None
    total = placed_at.year * 12 + (placed_at.month - 1) + months
    year, month = divmod(total, 12)
    month += 1
    day = min(placed_at.day, calendar.monthrange(year, month)[1])
    moment = placed_at.replace(year=year, month=month, day=day)
    while (start := window_start(moment, months)) is not None and start <= placed_at:
        moment += timedelta(days=1)
    return moment


def next_reevaluation(
    earliest_counted: Mapping[int, datetime | None], downgrade_due_at: datetime | None
) -> datetime | None:
    """The next moment time alone can change an account's tier.

    That is the first counted order leaving its window (``earliest_counted``: window
    months -> oldest order placed inside it) or the end of a grace period. None: nothing
    changes until the next order.
    """
    moments = [
        moment
        for months, placed_at in earliest_counted.items()
        if placed_at is not None
        for moment in [leaves_window_at(placed_at, months)]
        if moment is not None
    ]
    if downgrade_due_at is not None:
        moments.append(downgrade_due_at)
    return min(moments, default=None)


def totals_from_activity(
    activity: Sequence[Activity], windows: Sequence[int], now: datetime
) -> dict[int, Totals]:
    """The totals the database computes, from plain activity (for tests and the sandbox)."""
    result = {}
    for months in set(windows):
        start = window_start(now, months)
        counted = [
            item
            for item in activity
            if (start is None or item.placed_at >= start) and item.placed_at <= now
        ]
        result[months] = Totals(
            sum(item.points_earned for item in counted),
            sum((item.amount_spent for item in counted), Decimal(0)),
        )
    return result


def progress_for(rule: TierRule, totals: TotalsByWindow) -> Decimal:
    """The account's figure towards ``rule``: points or money inside the rule's window."""
    window = totals.get(rule.window_months, Totals())
    if rule.basis is Basis.POINTS_EARNED:
        return Decimal(window.points_earned)
    return window.amount_spent


def qualifying_tier(rules: Sequence[TierRule], totals: TotalsByWindow) -> TierRule | None:
    """The best tier whose own threshold the totals meet; None if there is none."""
    best: TierRule | None = None
    for rule in sorted(rules, key=lambda rule: rule.rank):
        if progress_for(rule, totals) >= rule.threshold:
            best = rule
    return best


class Move(enum.StrEnum):
    STAY = "stay"
    UPGRADE = "upgrade"
    START_GRACE = (
        "start_grace"  # below the tier: downgrade at ``downgrade_due_at`` unless it recovers
    )
    CANCEL_GRACE = "cancel_grace"  # qualifies again during the grace period
    DOWNGRADE = "downgrade"


@dataclass(frozen=True)
class TierDecision:
    move: Move
    tier: TierRule | None  # the tier the account holds after the decision
    downgrade_due_at: datetime | None = None


def decide(
    *,
    current: TierRule | None,
    qualified: TierRule | None,
    downgrade_due_at: datetime | None,
    now: datetime,
    grace_days: int,
    allow_downgrade: bool,
) -> TierDecision:
    """What to do with an account holding ``current`` that now qualifies for ``qualified``.

    ``allow_downgrade`` is False for a qualifying order (an order can only lift a tier)
    and True for the periodic re-evaluation.
    """
    current_rank = current.rank if current else -1
    qualified_rank = qualified.rank if qualified else -1
    if qualified_rank > current_rank:
        return TierDecision(Move.UPGRADE, qualified)
    if qualified_rank == current_rank:
        if downgrade_due_at is not None:
            return TierDecision(Move.CANCEL_GRACE, current)
        return TierDecision(Move.STAY, current)
    # Below the current tier.
    if not allow_downgrade:
        return TierDecision(Move.STAY, current, downgrade_due_at)
    if downgrade_due_at is None:
        due = now + timedelta(days=grace_days)
        if grace_days <= 0:
            return TierDecision(Move.DOWNGRADE, qualified)
        return TierDecision(Move.START_GRACE, current, due)
    if downgrade_due_at <= now:
        return TierDecision(Move.DOWNGRADE, qualified)
    return TierDecision(Move.STAY, current, downgrade_due_at)


@dataclass(frozen=True)
class NextTierProgress:
    tier: TierRule
    current_value: Decimal
    remaining: Decimal  # how much more is needed (never negative)
    ratio: Decimal  # 0..1, for progress bars


def progress_to_next_tier(
    rules: Sequence[TierRule], current: TierRule | None, totals: TotalsByWindow
) -> NextTierProgress | None:
    """Progress towards the tier ranked just above ``current``; None at the top."""
    above = sorted(
        (rule for rule in rules if current is None or rule.rank > current.rank),
        key=lambda rule: rule.rank,
    )
    if not above:
        return None
    target = above[0]
    value = progress_for(target, totals)
    remaining = max(target.threshold - value, Decimal(0))
    ratio = Decimal(1) if target.threshold <= 0 else min(value / target.threshold, Decimal(1))
    return NextTierProgress(target, value, remaining, ratio.quantize(Decimal("0.0001")))


def validate_thresholds(rules: Sequence[TierRule]) -> dict[int, str]:
    """Per-tier messages for a ladder that cannot work; empty when it is fine.

    The entry tier (lowest rank) must have threshold 0 so everyone is a member; points
    thresholds are whole numbers; among tiers of the same basis and window a higher rank
    must need strictly more.
    """
    errors: dict[int, str] = {}
    ordered = sorted(rules, key=lambda rule: rule.rank)
    for rule in ordered:
        if rule.threshold < 0:
            errors[rule.tier_id] = "The threshold cannot be negative."
        elif (
            rule.basis is Basis.POINTS_EARNED
            and rule.threshold != rule.threshold.to_integral_value()
        ):
            errors[rule.tier_id] = "A points threshold must be a whole number."
    if ordered and ordered[0].threshold != 0 and ordered[0].tier_id not in errors:
        errors[ordered[0].tier_id] = (
            "The lowest tier must have threshold 0 so every customer has a tier."
        )
    for lower, higher in itertools.pairwise(ordered):
        same_scale = lower.basis is higher.basis and lower.window_months == higher.window_months
        if same_scale and higher.threshold <= lower.threshold and higher.tier_id not in errors:
            errors[higher.tier_id] = (
                f"A higher tier must need more than the tier below it ({lower.threshold})."
            )
    return errors


def localised(
    texts: Mapping[str, str] | None, language: str | None, default: str = DEFAULT_LANGUAGE
) -> str:
    """The text of ``texts`` (language code -> text) that ``language`` should read.

    The choice is ``languages.best_language``, the rule the messages follow too: exact
    code, then the same language (and Chinese script), then ``default``, then any text.
    ``zh-Hans``, ``zh_CN`` and ``zh`` all find a ``zh-Hans`` text; ``zh-TW`` does not.
    Empty texts are skipped; "" when there is none.
    """
    present = {code: text for code, text in (texts or {}).items() if text}
    chosen = best_language(language, present, default)
    return present[chosen] if chosen is not None else ""


# Languages every tier name and customer-facing text should have.
REQUIRED_LANGUAGES = ("en", "zh-Hans")


@dataclass(frozen=True)
class DefaultTier:
    code: str
    rank: int
    name: Mapping[str, str]
    description: Mapping[str, str]
    points_threshold: int
    amount_threshold: Decimal
    benefits: tuple[tuple[str, Decimal | None, Mapping[str, str]], ...]


# The seeds' ladder: 普通会员 / 白银会员 / 黄金会员. Thresholds a small shop can reach: Silver
# after roughly 1,000 spent in a year, Gold after 5,000 (at the default 1 point per unit).
DEFAULT_TIERS: tuple[DefaultTier, ...] = (
    DefaultTier(
        code="member",
        rank=0,
        name={"en": "Member", "zh-Hans": "普通会员"},
        description={
            "en": "Welcome! Earn points on every order.",
            "zh-Hans": "欢迎加入！每笔订单都能赚取积分。",
        },
        points_threshold=0,
        amount_threshold=Decimal(0),
        benefits=(),
    ),
    DefaultTier(
        code="silver",
        rank=1,
        name={"en": "Silver", "zh-Hans": "白银会员"},
        description={
            "en": "1.2x points, a birthday gift and early access to new arrivals.",
            "zh-Hans": "1.2 倍积分、生日礼遇和新品优先购。",
        },
        points_threshold=1000,
        amount_threshold=Decimal(1000),
        benefits=(
            ("points_multiplier", Decimal("1.2"), {"en": "1.2x points", "zh-Hans": "1.2 倍积分"}),
            (
                "birthday_gift",
                Decimal(100),
                {"en": "Birthday gift: 100 points", "zh-Hans": "生日礼：100 积分"},
            ),
            (
                "early_access",
                Decimal(24),
                {"en": "Early access to new arrivals", "zh-Hans": "新品优先购"},
            ),
        ),
    ),
    DefaultTier(
        code="gold",
        rank=2,
        name={"en": "Gold", "zh-Hans": "黄金会员"},
        description={
            "en": (
                "1.5x points, 5% member discount, free shipping, birthday gift "
                "and priority service."
            ),
            "zh-Hans": "1.5 倍积分、会员 95 折、包邮、生日礼遇和专属客服。",
        },
        points_threshold=5000,
        amount_threshold=Decimal(5000),
        benefits=(
            ("points_multiplier", Decimal("1.5"), {"en": "1.5x points", "zh-Hans": "1.5 倍积分"}),
            (
                "percentage_discount",
                Decimal(5),
                {"en": "5% member discount", "zh-Hans": "会员 95 折"},
            ),
            ("free_shipping", None, {"en": "Free shipping", "zh-Hans": "全场包邮"}),
            (
                "birthday_gift",
                Decimal(300),
                {"en": "Birthday gift: 300 points", "zh-Hans": "生日礼：300 积分"},
            ),
            (
                "early_access",
                Decimal(48),
                {"en": "Early access to new arrivals", "zh-Hans": "新品优先购"},
            ),
            (
                "priority_service",
                None,
                {"en": "Priority customer service", "zh-Hans": "专属客服优先服务"},
            ),
        ),
    ),
)


def points_multiplier(benefits: Sequence[tuple[str, Decimal | None]]) -> Decimal:
    """The earning multiplier of a tier's benefits: the largest one; 1 without any.

    Several multiplier benefits do not compound (a merchant adding 1.5x and 2x means 2x).
    """
    values = [value for kind, value in benefits if kind == "points_multiplier" and value]
    return max([Decimal(1), *values])


# --- benefits -------------------------------------------------------------------------------

BENEFIT_KINDS = (
    "percentage_discount",
    "points_multiplier",
    "free_shipping",
    "birthday_gift",
    "early_access",
    "member_only_products",
    "priority_service",
    "custom",
)
MAX_BIRTHDAY_POINTS = 1_000_000


def _is_catalogue_id(item: Any) -> bool:
    if isinstance(item, str):
        return bool(item.strip())
    return isinstance(item, int) and not isinstance(item, bool)


def benefit_errors(
    kind: str, value: Decimal | None, config: Mapping[str, Any], title: Mapping[str, str]
) -> dict[str, str]:
    """Per-field messages for a benefit that a storefront could not act on."""
    if kind not in BENEFIT_KINDS:
        return {"kind": f"Choose one of: {', '.join(BENEFIT_KINDS)}."}
    errors: dict[str, str] = {}
    if kind == "percentage_discount":
        if value is None or not (0 < value <= 100):
            errors["value"] = "Enter the percentage off, greater than 0 and at most 100."
    elif kind == "points_multiplier":
        if value is None or not (1 <= value <= 100):
            errors["value"] = "Enter the multiplier, from 1 to 100 (1.5 earns 50% more points)."
    elif kind == "free_shipping":
        if value is not None and value < 0:
            errors["value"] = "The minimum order amount cannot be negative."
    elif kind == "birthday_gift":
        # Points (value), a coupon ({"coupon": "10%"}, checked by the service), or both.
        has_coupon = isinstance(config, Mapping) and bool(config.get("coupon"))
        if value is None and has_coupon:
            pass
        elif (
            value is None
            or value != value.to_integral_value()
            or not (0 < value <= MAX_BIRTHDAY_POINTS)
        ):
            errors["value"] = (
                f"Enter the birthday gift in whole points, from 1 to {MAX_BIRTHDAY_POINTS}"
                ', or leave it empty and give a coupon in config ({"coupon": "10%"}).'
            )
    elif kind == "early_access":
        if value is not None and (value != value.to_integral_value() or not (1 <= value <= 8760)):
            errors["value"] = "Enter how many hours early members get access, from 1 to 8760."
    elif kind == "member_only_products":
        lists = [config.get(key) for key in ("product_ids", "collection_ids") if key in config]
        # A list of ids, each a non-empty string or an integer: a bare string would be read
        # as its characters, a number is not iterable.
        if (
            not lists
            or not all(isinstance(ids, list) and all(map(_is_catalogue_id, ids)) for ids in lists)
            or not any(lists)
        ):
            errors["config"] = (
                'List the member-only products or collections: {"product_ids": [...]} '
                'or {"collection_ids": [...]}, each id a string or a whole number.'
            )
    elif kind == "custom" and not any(text.strip() for text in title.values()):
        errors["title"] = "A custom benefit needs a title the storefront can show."
    if kind not in {"member_only_products"} and config and not isinstance(config, Mapping):
        errors["config"] = "Config must be an object."
    return errors
