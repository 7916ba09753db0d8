"""Post-purchase care: satisfaction ratings and review points.

``record_rating`` keeps one ``SatisfactionRating`` per order. A second click on another
score of the same message updates the score (the customer changed their mind); clicking
the same score again changes nothing and says so (``RatingOutcome.repeated``). A score
that becomes low (at or below the channel's threshold) is announced once per change with
the ``satisfaction_low_score`` signal, after commit.

``award_review_points`` credits the channel's "points for a review" once per review id
(the ledger key ``review:<channel>:<review id>``); ``revoke_review_points`` takes them
back once if the review is removed, as far as the balance allows (points already spent
stay spent: the balance never goes below zero for a removed review).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from .. import signals
from ..domain.care import CareStepKind, is_low_score
from ..models import LoyaltyAccount, PurchasedOrder, ReviewAward, SatisfactionRating
from .errors import InvalidInput, NotFound, RetentionError
from .ledger import account_for, adjust_points

if TYPE_CHECKING:
    from datetime import datetime

    from ..conf import ChannelSettings
    from ..delivery.rating_links import RatingLink

MAX_REVIEW_ID_LENGTH = 255


@dataclass(frozen=True)
class RatingOutcome:
    rating_id: int
    score: int
    previous_score: int | None  # None: the first rating of the order
    repeated: bool  # the same score again: nothing changed
    low_score_announced: bool


def record_rating(
    link: RatingLink, settings: ChannelSettings, *, now: datetime | None = None
) -> RatingOutcome:
    """Record the score a genuine rating link carries (see the module docstring)."""
    now = now or timezone.now()
    with transaction.atomic():
        rating = (
            SatisfactionRating.objects.select_for_update().filter(order_id=link.order_id).first()
        )
        if rating is None:
            try:
                with transaction.atomic():
                    rating = SatisfactionRating.objects.create(
                        channel_slug=link.channel_slug,
                        order_id=link.order_id,
                        customer_id=link.customer_id,
                        email=link.email or "",
                        score=link.score,
                        rated_at=now,
                    )
                previous = None
            except IntegrityError:
                rating = SatisfactionRating.objects.select_for_update().get(order_id=link.order_id)
                previous = rating.score
        else:
            previous = rating.score
        if previous is not None:
            if previous == link.score:
                return RatingOutcome(rating.pk, rating.score, previous, True, False)
            rating.score = link.score
            rating.rated_at = now
            rating.times_rated += 1
            rating.save(update_fields=["score", "rated_at", "times_rated"])
        threshold = settings.care.care_low_score_threshold
        announce = is_low_score(link.score, threshold) and (
            previous is None or not is_low_score(previous, threshold)
        )
        if announce:
            signals.send_after_commit(
                signals.satisfaction_low_score,
                channel_slug=link.channel_slug,
                order_id=link.order_id,
                customer_id=link.customer_id,
                email=link.email,
                score=link.score,
                rating_id=rating.pk,
            )
    return RatingOutcome(rating.pk, link.score, previous, False, announce)


def care_step_still_due(order_id: str, kind: CareStepKind) -> bool:
    """Whether a care step of the order should still go out (asked at send time).

    Yes while the order counts (not cancelled or refunded in full, per the purchase
    history) and, for the satisfaction check, it has not been rated yet.
    """
    return not care_step_blocked(order_id, kind)


def care_step_blocked(order_id: str, kind: CareStepKind) -> str:
    """Why a care step of the order must not go out now, "" when it still should.

    ``order_not_counted`` (cancelled or refunded in full, per the purchase history, or
    unknown) or, for the satisfaction check, ``rated_already``. One query (the
    satisfaction check reads ``order_rated`` with the order).
    """
    fields: list[Any] = ["counts", "net_goods_amount"]
    if kind is CareStepKind.SATISFACTION:
        fields.append(Exists(SatisfactionRating.objects.filter(order_id=OuterRef("order_id"))))
    order = PurchasedOrder.objects.filter(order_id=order_id).values_list(*fields).first()
    if order is None or not order[0] or order[1] <= 0:
        return "order_not_counted"
    if kind is CareStepKind.SATISFACTION and order[2]:
        return "rated_already"
    return ""


def order_rated(order_id: str) -> bool:
    """Whether the order has a satisfaction rating. One query."""
    return SatisfactionRating.objects.filter(order_id=order_id).exists()


class ReviewPointsOff(RetentionError):
    code = "review_points_off"


def award_review_points(
    channel_slug: str,
    customer_id: int,
    review_id: str,
    *,
    settings: ChannelSettings,
    actor: str,
    now: datetime | None = None,
) -> ReviewAward:
    """Credit the channel's points for a review, once per (channel, review id).

    Returns the award (the earlier one when the review already earned). Raises
    ``InvalidInput`` (field ``reviewId``) for an empty or overlong id, ``ReviewPointsOff``
    when the channel gives no points for reviews, and ``InvalidInput`` (``customerId``)
    when an earlier award of this review went to another customer.
    """
    review_id = _clean_review_id(review_id)
    points = settings.care.review_points
    existing = ReviewAward.objects.filter(channel_slug=channel_slug, review_id=review_id).first()
    if existing is not None:
        return _same_customer(existing, customer_id)
    if points <= 0:
        raise ReviewPointsOff(
            "This channel gives no points for reviews (set 'Points for a review').",
            field="reviewId",
            zh="本渠道未开启评价积分。",
        )
    now = now or timezone.now()
    with transaction.atomic():
        account = account_for(channel_slug, customer_id, None)
        entry = adjust_points(
            account.pk,
            points,
            reason=f"Review {review_id}",
            texts={"en": "Thank you for your review", "zh-Hans": "感谢您的评价"},
            actor=actor,
            idempotency_key=f"review:{channel_slug}:{review_id}",
            settings=settings.ledger,
            now=now,
        )
        award, _ = ReviewAward.objects.get_or_create(
            channel_slug=channel_slug,
            review_id=review_id,
            defaults={
                "customer_id": customer_id,
                "account_id": entry.account_id,
                "points": points,
                "awarded_at": now,
                "actor": actor,
            },
        )
    return award


def revoke_review_points(
    channel_slug: str,
    review_id: str,
    *,
    settings: ChannelSettings,
    actor: str,
    now: datetime | None = None,
) -> ReviewAward:
    """Take a removed review's points back, once; as many as the balance still holds.

    Raises ``NotFound`` (field ``reviewId``) for a review that earned nothing. A second
    call returns the award unchanged.
    """
    review_id = _clean_review_id(review_id)
    now = now or timezone.now()
    with transaction.atomic():
        award = (
            ReviewAward.objects.select_for_update()
            .filter(channel_slug=channel_slug, review_id=review_id)
            .first()
        )
        if award is None:
            raise NotFound("No points were given for this review.", field="reviewId")
        if award.revoked_at is not None:
            return award
        take = min(award.points, max(_live_balance(award.account_id), 0))
        if take:
            adjust_points(
                award.account_id,
                -take,
                reason=f"Review {review_id} removed",
                texts={"en": "Review removed", "zh-Hans": "评价已删除"},
                actor=actor,
                idempotency_key=f"review:{channel_slug}:{review_id}:removed",
                settings=settings.ledger,
                now=now,
            )
        award.taken_back = take
        award.revoked_at = now
        award.save(update_fields=["taken_back", "revoked_at"])
    return award


def _live_balance(account_id: int) -> int:
    """The balance of the account, or of the account it was merged into."""
    account = LoyaltyAccount.objects.get(pk=account_id)
    while account.merged_into_id is not None:
        account = LoyaltyAccount.objects.get(pk=account.merged_into_id)
    return account.balance


def _clean_review_id(review_id: object) -> str:
    text = review_id.strip() if isinstance(review_id, str) else ""
    if not text or len(text) > MAX_REVIEW_ID_LENGTH:
        raise InvalidInput(
            {"reviewId": f"Give the review's id (1 to {MAX_REVIEW_ID_LENGTH} characters)."}
        )
    return text


def _same_customer(award: ReviewAward, customer_id: int) -> ReviewAward:
    if award.customer_id != customer_id:
        raise InvalidInput(
            {"customerId": "This review already earned points for another customer."}
        )
    return award
