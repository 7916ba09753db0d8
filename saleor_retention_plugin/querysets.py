"""Named questions about the ledger's tables."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import models
from django.db.models import Sum

if TYPE_CHECKING:
    from datetime import datetime

    from .models import LoyaltyAccount


class LoyaltyAccountQuerySet(models.QuerySet):
    def in_channel(self, channel_slug: str) -> LoyaltyAccountQuerySet:
        return self.filter(channel_slug=channel_slug)

    def for_customer(self, customer_id: int) -> LoyaltyAccountQuerySet:
        return self.filter(customer_id=customer_id)

    def open_guests_with_email(self, email: str) -> LoyaltyAccountQuerySet:
        """Guest accounts still waiting to be merged into a registered customer's."""
        return self.filter(customer_id__isnull=True, merged_into__isnull=True, email=email)

    def live(self) -> LoyaltyAccountQuerySet:
        return self.filter(merged_into__isnull=True, anonymised_at__isnull=True)


class PointsEntryQuerySet(models.QuerySet):
    def for_order(self, order_id: str) -> PointsEntryQuerySet:
        return self.filter(order_id=order_id)

    def history_of(self, account: LoyaltyAccount) -> PointsEntryQuerySet:
        return self.filter(account=account).order_by("-created_at", "-id")

    def total_points(self) -> int:
        return int(self.aggregate(total=Sum("points"))["total"] or 0)


class PointsLotQuerySet(models.QuerySet):
    def open(self) -> PointsLotQuerySet:
        return self.filter(remaining__gt=0)

    def spendable_at(self, moment: datetime) -> PointsLotQuerySet:
        return self.open().filter(available_at__lte=moment).exclude(expires_at__lte=moment)

    def pending_at(self, moment: datetime) -> PointsLotQuerySet:
        return self.open().filter(available_at__gt=moment)

    def expired_by(self, moment: datetime) -> PointsLotQuerySet:
        """Lots with points left whose expiry has passed: index-driven for the expiry sweep."""
        return self.open().filter(expires_at__isnull=False, expires_at__lte=moment)

    def expiring_between(self, start: datetime, end: datetime) -> PointsLotQuerySet:
        return self.open().filter(expires_at__gt=start, expires_at__lte=end)

    def total_remaining(self) -> int:
        return int(self.aggregate(total=Sum("remaining"))["total"] or 0)


class TrackedCartQuerySet(models.QuerySet):
    def open(self) -> TrackedCartQuerySet:
        return self.filter(state="open")

    def of_customer(
        self, channel_slug: str, *, customer_id: int | None, email: str | None
    ) -> TrackedCartQuerySet:
        """Carts in the channel that belong to this customer, by id or by email."""
        who = models.Q(pk__in=[])
        if customer_id is not None:
            who |= models.Q(customer_id=customer_id)
        if email:
            who |= models.Q(email=email)
        return self.filter(who, channel_slug=channel_slug)


class FlowMessageQuerySet(models.QuerySet):
    def due(self, now: datetime) -> FlowMessageQuerySet:
        """Scheduled or deferred messages whose time has come (served by a partial index)."""
        return self.filter(state__in=("scheduled", "deferred"), next_attempt_at__lte=now)

    def stale_claims(self, claimed_before: datetime) -> FlowMessageQuerySet:
        """Messages a worker claimed and never finished: it crashed or was lost."""
        return self.filter(state="claimed", claimed_at__lt=claimed_before)

    def waiting(self) -> FlowMessageQuerySet:
        return self.filter(state__in=("scheduled", "deferred"))

    def sent(self) -> FlowMessageQuerySet:
        return self.filter(state="sent")


# --- membership and points mall ----------------------------------------------------------


class MembershipTierQuerySet(models.QuerySet):
    def in_channel(self, channel_slug: str) -> MembershipTierQuerySet:
        return self.filter(channel_slug=channel_slug).order_by("rank")


class CustomerTierQuerySet(models.QuerySet):
    def in_channel(self, channel_slug: str) -> CustomerTierQuerySet:
        return self.filter(channel_slug=channel_slug)

    def downgrade_due(self, moment: datetime) -> CustomerTierQuerySet:
        return self.filter(downgrade_due_at__isnull=False, downgrade_due_at__lte=moment)

    def reevaluation_due(self, moment: datetime) -> CustomerTierQuerySet:
        """Accounts whose tier time alone may have changed by ``moment`` (partial index)."""
        return self.filter(next_reevaluation_at__isnull=False, next_reevaluation_at__lte=moment)


class QualifyingOrderQuerySet(models.QuerySet):
    def placed_since(self, moment: datetime | None) -> QualifyingOrderQuerySet:
        """Orders inside a rolling window starting at ``moment``; all of them for ``None``."""
        return self if moment is None else self.filter(placed_at__gte=moment)


class RewardQuerySet(models.QuerySet):
    def in_channel(self, channel_slug: str) -> RewardQuerySet:
        return self.filter(channel_slug=channel_slug)

    def available_at(self, moment: datetime) -> RewardQuerySet:
        """Rewards a customer can redeem now: active, inside their window, in stock."""
        from django.db.models import Q

        return self.filter(
            Q(active_from__isnull=True) | Q(active_from__lte=moment),
            Q(active_until__isnull=True) | Q(active_until__gt=moment),
            Q(stock__isnull=True) | Q(stock__gt=0),
            is_active=True,
        )


class RedemptionQuerySet(models.QuerySet):
    def of_account(self, account_id: int) -> RedemptionQuerySet:
        return self.filter(account_id=account_id).order_by("-created_at", "-id")

    def unused_expired_by(self, moment: datetime) -> RedemptionQuerySet:
        return self.filter(status="issued", expires_at__isnull=False, expires_at__lte=moment)
