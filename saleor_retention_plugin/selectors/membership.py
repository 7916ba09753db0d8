"""Read-only questions the loyalty API asks: rewards, tiers, benefits, accounts, history.

Every lookup by id is scoped to the endpoint's channel, so a client-sent id of another
channel's row reads as "not found". Nothing here writes.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.db.models import Q, QuerySet

from ..models import (
    CustomerProfile,
    LoyaltyAccount,
    MembershipTier,
    PointsEntry,
    Reward,
    TierBenefit,
)

# What Python can read back from a PostgreSQL timestamp (psycopg reads it in UTC), with a
# day's margin. The API's DateTime scalar refuses far narrower input (1970..2200); rows
# written before it did, or by hand, are left out of lists instead of breaking every list.
_READABLE_FROM = datetime(1, 1, 2, tzinfo=UTC)
_READABLE_UNTIL = datetime(9999, 12, 30, tzinfo=UTC)


def _readable_rewards() -> Q:
    """Rewards whose moments Python can read: one bad row must not break a whole list."""
    readable = Q()
    for field in ("active_from", "active_until"):
        readable &= Q(**{f"{field}__isnull": True}) | Q(
            **{f"{field}__range": (_READABLE_FROM, _READABLE_UNTIL)}
        )
    return readable


def listed_rewards(channel_slug: str, *, now: datetime, available_only: bool) -> QuerySet[Reward]:
    """The points mall as the API lists it: by position, then cost, then id.

    ``available_only``: only what a customer can redeem at ``now``; otherwise every reward
    of the channel (staff). Rows with unreadable moments are left out.
    """
    rewards = Reward.objects.in_channel(channel_slug)
    if available_only:
        rewards = rewards.available_at(now)
    return rewards.order_by("position", "points_cost", "id").filter(_readable_rewards())


def tiers_of_channel(channel_slug: str) -> list[MembershipTier]:
    """The channel's tiers by rank, benefits prefetched (``tier.benefits.all()``): 2 queries."""
    return list(MembershipTier.objects.in_channel(channel_slug).prefetch_related("benefits"))


def reward_in_channel(channel_slug: str, pk: int, *, only_id: bool = False) -> Reward | None:
    """The channel's reward ``pk``, or None. ``only_id`` reads nothing else, so a row whose
    dates Python cannot read back can still be found (to delete it).
    """
    rewards = Reward.objects.in_channel(channel_slug)
    if only_id:
        rewards = rewards.only("pk")
    return rewards.filter(pk=pk).first()


def reward_exists_in_channel(channel_slug: str, pk: int) -> bool:
    return Reward.objects.in_channel(channel_slug).filter(pk=pk).exists()


def tier_in_channel(channel_slug: str, pk: int) -> MembershipTier | None:
    return MembershipTier.objects.filter(pk=pk, channel_slug=channel_slug).first()


def benefit_in_channel(channel_slug: str, pk: int) -> TierBenefit | None:
    return TierBenefit.objects.filter(pk=pk, tier__channel_slug=channel_slug).first()


def live_account(
    channel_slug: str, *, customer_id: int | None = None, email: str | None = None
) -> LoyaltyAccount | None:
    """The channel's live (not merged, not anonymised) account of a customer or guest.

    By ``customer_id`` when given; else by ``email`` (the lowest customer id first).
    """
    accounts = LoyaltyAccount.objects.in_channel(channel_slug).live()
    if customer_id is not None:
        return accounts.filter(customer_id=customer_id).first()
    return accounts.filter(email=email).order_by("customer_id").first()


def entries_of_account(account_id: int) -> QuerySet[PointsEntry]:
    """The account's ledger entries, unordered (the API pages them newest first)."""
    return PointsEntry.objects.filter(account_id=account_id)


def customer_profile(customer_id: int) -> CustomerProfile | None:
    """What the plugin keeps about a customer that Saleor has no field for (birthday)."""
    return CustomerProfile.objects.filter(customer_id=customer_id).first()
