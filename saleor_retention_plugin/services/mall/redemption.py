"""Redeeming rewards and the life of their codes: issued, used, expired, given back.

``redeem_reward`` is one transaction: lock the reward row (stock, per-customer limit),
spend the points through the ledger (which locks the account row), issue the code, and
write the redemption. Locks are always taken in that order (reward, then account), so
two redemptions can never deadlock; anything that fails rolls everything back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from ... import signals
from ...conf import ChannelSettings, LedgerSettings, MembershipSettings
from ...domain import draws
from ...domain.tiers import localised
from ...models import LoyaltyAccount, Redemption, Reward, RewardKind
from .. import ledger
from ..codes import CodeIssuer, IssuedReward, PlainCodeIssuer, default_code_issuer
from ..errors import FieldError, InvalidInput, NotFound, RetentionError
from .catalogue import RewardNotFound, _clean_reward_id

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

logger = logging.getLogger(__name__)


MAX_IDEMPOTENCY_KEY_LENGTH = 100


class RewardUnavailable(RetentionError):
    """Inactive, outside its window or another channel's reward."""

    code = "reward_unavailable"


class OutOfStock(RetentionError):
    code = "out_of_stock"


class LimitReached(RetentionError):
    code = "limit_reached"


# "Not enough points" is one error wherever it is met: the ledger's. The old name stays
# importable for callers written against it.
InsufficientPoints = ledger.InsufficientPoints
NotEnoughPoints = ledger.InsufficientPoints


@dataclass(frozen=True)
class ExpiryReport:
    expired: int = 0
    refunded: int = 0
    points_refunded: int = 0
    found_used: int = 0


def redeem_reward(
    account: LoyaltyAccount | int,
    reward_id: int,
    idempotency_key: str,
    *,
    settings: MembershipSettings | None = None,
    issuer: CodeIssuer | None = None,
    now: datetime | None = None,
) -> Redemption:
    """Spend the reward's points and issue it, atomically; returns the redemption.

    A repeated ``idempotency_key`` (same account) returns the first redemption and
    changes nothing, the rule ``ledger.spend_points`` follows too; ``redeem_or_replay``
    also says which of the two happened.

    Raises (nothing changed): ``InvalidInput`` (bad key or reward id), ``RewardNotFound``,
    ``RewardUnavailable``, ``OutOfStock``, ``LimitReached``, ``InsufficientPoints``.
    ``issuer`` defaults to ``codes.default_code_issuer()``.
    """
    redemption, _created = redeem_or_replay(
        account, reward_id, idempotency_key, settings=settings, issuer=issuer, now=now
    )
    return redemption


def redeem_or_replay(
    account: LoyaltyAccount | int,
    reward_id: int,
    idempotency_key: str,
    *,
    settings: MembershipSettings | None = None,
    issuer: CodeIssuer | None = None,
    now: datetime | None = None,
) -> tuple[Redemption, bool]:
    """``redeem_reward``, returning ``(redemption, created)`` like Django's ``get_or_create``.

    ``created`` is False when the idempotency key was used before: ``redemption`` is then
    the first one, and no points were spent again. Raises what ``redeem_reward`` raises.
    """
    settings = settings or MembershipSettings()
    now = now or timezone.now()
    key = _clean_key(idempotency_key)
    reward_pk = _clean_reward_id(reward_id)
    account = _live_account(account)
    earlier = _earlier_redemption(account, key)
    if earlier is not None:
        return earlier, False
    issuer = issuer or default_code_issuer()
    try:
        with transaction.atomic():
            redemption, created = _redeem_locked(account, reward_pk, key, settings, issuer, now)
    except IntegrityError:
        # The same key committed by a concurrent request between our check and insert.
        earlier = _earlier_redemption(account, key)
        if earlier is not None:
            return earlier, False
        raise
    if not created:
        return redemption, False
    signals.send_after_commit(
        signals.reward_redeemed,
        account_id=account.pk,
        channel_slug=account.channel_slug,
        customer_id=account.customer_id,
        redemption_id=redemption.pk,
        reward_id=reward_pk,
        points=redemption.points_spent,
        status=redemption.status,
    )
    logger.info(
        "Loyalty account %s redeemed reward %s for %s points (redemption %s, %s)",
        account.pk,
        reward_pk,
        redemption.points_spent,
        redemption.pk,
        redemption.status,
    )
    return redemption, True


def _redeem_locked(
    account: LoyaltyAccount,
    reward_pk: int,
    key: str,
    settings: MembershipSettings,
    issuer: CodeIssuer,
    now: datetime,
) -> tuple[Redemption, bool]:
    reward = Reward.objects.select_for_update().filter(pk=reward_pk).first()
    if reward is None or reward.channel_slug != account.channel_slug:
        raise RewardNotFound(
            "No such reward in this shop.", field="reward_id", zh="本店没有这个奖品。"
        )
    # Re-check under the reward lock: a request with the same key may have just committed.
    earlier = _earlier_redemption(account, key)
    if earlier is not None:
        return earlier, False
    if not reward.is_active or (reward.active_from and reward.active_from > now):
        raise RewardUnavailable(
            "This reward is not available yet or any more.",
            field="reward_id",
            zh="这个奖品暂不可兑换或已下架。",
        )
    if reward.active_until and reward.active_until <= now:
        raise RewardUnavailable(
            "This reward is no longer available.", field="reward_id", zh="这个奖品已下架。"
        )
    if reward.stock is not None and reward.stock <= 0:
        raise OutOfStock("This reward is out of stock.", field="reward_id", zh="这个奖品已兑完。")
    if reward.per_customer_limit is not None:
        taken = (
            Redemption.objects.filter(account=account, reward=reward)
            .exclude(status=Redemption.Status.REFUNDED)
            .count()
        )
        if taken >= reward.per_customer_limit:
            raise LimitReached(
                f"You have already redeemed this reward {taken} time(s), the most allowed.",
                field="reward_id",
                zh=f"这个奖品每人最多兑换 {reward.per_customer_limit} 次，您已达到上限。",
            )
    name = localised(reward.name, None)
    try:
        entry = ledger.spend_points(
            account.pk,
            reward.points_cost,
            idempotency_key=f"redemption:{account.pk}:{key}",
            reason=f"Points mall: {name}",
            texts={
                "en": f"Points mall: {name}",
                "zh-Hans": f"积分商城：{localised(reward.name, 'zh-Hans')}",
            },
            now=now,
        )
    except ledger.InsufficientPoints as error:
        raise ledger.InsufficientPoints(
            str(error),
            field="reward_id",
            zh=f"积分不足：兑换这个奖品需要 {reward.points_cost} 积分。",
        ) from None
    if reward.stock is not None:
        reward.stock -= 1
    redemption = Redemption(
        account=account,
        reward=reward,
        channel_slug=reward.channel_slug,
        points_entry=entry,
        points_spent=reward.points_cost,
        idempotency_key=key,
        refund_on_expiry=settings.refund_expired_reward_codes,
        created_at=now,
    )
    what = _what_to_issue(reward, redemption, entry.pk, name)
    if what is None:
        redemption.status = Redemption.Status.NO_PRIZE
    else:
        days = reward.code_validity_days or settings.reward_code_validity_days
        expires_at = now + timedelta(days=days)
        issued = issuer.issue(reward, redemption, reward.channel_slug, expires_at, what=what)
        redemption.code = issued.code
        redemption.issuer = issued.issuer
        redemption.issuer_reference = issued.reference
        redemption.expires_at = issued.expires_at
        redemption.issued_kind = what.kind
        redemption.issued_value = what.discount_value
    reward.save(update_fields=["stock", "draw_prizes_won", "updated_at"])
    redemption.save()
    return redemption, True


def _what_to_issue(
    reward: Reward, redemption: Redemption, entry_id: int, name: str
) -> IssuedReward | None:
    if reward.kind != RewardKind.PRIZE_DRAW:
        return IssuedReward(
            kind=reward.kind,
            discount_value=reward.discount_value,
            min_order_amount=reward.min_order_amount,
            gift_product_id=reward.gift_product_id,
            name=name,
        )
    won = dict(reward.draw_prizes_won or {})
    prizes = [
        draws.Prize(
            code=prize["code"],
            parts_per_million=draws.probability_to_ppm(prize["probability"]),
            available=prize.get("quantity") is None
            or won.get(prize["code"], 0) < prize["quantity"],
        )
        for prize in reward.draw_prizes
    ]
    # Unique (the ledger entry that paid) and unpredictable to the merchant (the
    # customer's key); stored whole in the audit, so the roll can be re-derived.
    nonce = draws.entry_nonce(entry_id, redemption.idempotency_key)
    outcome = draws.draw(reward.draw_seed, nonce, prizes)
    redemption.draw_audit = outcome.as_audit(
        seed_hash=reward.draw_seed_hash, nonce=nonce, prizes=prizes
    )
    if outcome.prize_code is None:
        return None
    prize = next(p for p in reward.draw_prizes if p["code"] == outcome.prize_code)
    won[prize["code"]] = won.get(prize["code"], 0) + 1
    reward.draw_prizes_won = won
    return IssuedReward(
        kind=prize["kind"],
        discount_value=Decimal(prize["discount_value"]) if prize.get("discount_value") else None,
        min_order_amount=reward.min_order_amount,
        gift_product_id=prize.get("gift_product_id") or "",
        name=localised(prize["name"], None),
    )


def verify_draw(redemption: Redemption, seed: str) -> bool:
    """Whether the stored draw of ``redemption`` follows from the (published) ``seed``."""
    return bool(redemption.draw_audit) and draws.verify(redemption.draw_audit, seed)


def redemptions_of(account: LoyaltyAccount | int) -> QuerySet[Redemption]:
    """The account's redemptions, newest first, reward selected."""
    account_id = account.pk if isinstance(account, LoyaltyAccount) else account
    return Redemption.objects.of_account(account_id).select_related("reward")


def mark_code_used(code: str, *, now: datetime | None = None) -> Redemption | None:
    """Record that an issued code was used on an order (a used code is never refunded)."""
    with transaction.atomic(savepoint=False):
        redemption = Redemption.objects.select_for_update().filter(code=code).first()
        if redemption is None:
            return None
        if redemption.status == Redemption.Status.ISSUED:
            redemption.status = Redemption.Status.USED
            redemption.save(update_fields=["status", "updated_at"])
        return redemption


def give_back_code_of_cancelled_order(
    code: str, order_id: str, *, settings: LedgerSettings, now: datetime | None = None
) -> Redemption | None:
    """The order that used a points-mall code was cancelled: give the code's points back.

    Saleor does not reactivate a single-use code when its order is cancelled, so the
    customer would have paid points for nothing. The points come back to the account that
    redeemed them (keyed ``redemption:<id>:refund``, the key expiry refunds use, so the
    points can come back only once, whichever comes first) and the redemption becomes
    ``refunded``; its unit of stock returns. Returns the redemption changed now, or None
    (unknown code, a draw without a prize, already given back). Idempotent.
    """
    now = now or timezone.now()
    with transaction.atomic():
        redemption = (
            Redemption.objects.select_for_update()
            .filter(code__iexact=code)
            .filter(status__in=[Redemption.Status.ISSUED, Redemption.Status.USED])
            .first()
        )
        if redemption is None:
            return None
        entry = ledger.adjust_points(
            redemption.account_id,
            redemption.points_spent,
            reason=f"Order {order_id} that used reward code {redemption.code} was cancelled: "
            "points given back",
            texts={
                "en": f"The order that used reward code {redemption.code} was cancelled: "
                "points given back",
                "zh-Hans": f"使用兑换码 {redemption.code} 的订单已取消，积分已退回",
            },
            actor="system:points-mall",
            idempotency_key=f"redemption:{redemption.pk}:refund",
            settings=settings,
            now=now,
        )
        reward = Reward.objects.select_for_update().get(pk=redemption.reward_id)
        if reward.stock is not None:
            reward.stock += 1
            reward.save(update_fields=["stock", "updated_at"])
        redemption.refund_entry = entry
        redemption.status = Redemption.Status.REFUNDED
        redemption.save(update_fields=["status", "refund_entry", "updated_at"])
        return redemption


def expire_unused_codes(
    *,
    settings_for_channel: Callable[[str], ChannelSettings] | None = None,
    issuer: CodeIssuer | None = None,
    now: datetime | None = None,
    batch_size: int = 500,
) -> ExpiryReport:
    """Close every issued code whose expiry passed.

    Used ones become ``used``, unused ones ``expired`` or, when the redemption was made with refunds
    on, ``refunded`` with the points given back (once, keyed by the redemption). Unused codes also
    return their unit of stock. Safe to run repeatedly and concurrently.
    """
    now = now or timezone.now()
    settings_for_channel = settings_for_channel or (lambda slug: ChannelSettings())
    issuers: dict[str, CodeIssuer] = {"plain": PlainCodeIssuer()}
    default = issuer or default_code_issuer()
    issuers[default.name] = default
    counts = {"expired": 0, "refunded": 0, "points_refunded": 0, "found_used": 0}
    last_id = 0
    while True:
        due = list(
            Redemption.objects.unused_expired_by(now)
            .filter(pk__gt=last_id)
            .order_by("pk")
            .values_list("pk", flat=True)[:batch_size]
        )
        for redemption_id in due:
            _close_expired(redemption_id, issuers, default, settings_for_channel, now, counts)
        if len(due) < batch_size:
            return ExpiryReport(**counts)
        last_id = due[-1]


def _close_expired(
    redemption_id: int,
    issuers: Mapping[str, CodeIssuer],
    default: CodeIssuer,
    settings_for_channel: Callable[[str], ChannelSettings],
    now: datetime,
    counts: dict[str, int],
) -> None:
    with transaction.atomic():
        redemption = (
            Redemption.objects.select_for_update()
            .filter(pk=redemption_id, status=Redemption.Status.ISSUED)
            .first()
        )
        if redemption is None or redemption.code is None:
            return
        issuer = issuers.get(redemption.issuer, default)
        if issuer.is_used(redemption.code):
            redemption.status = Redemption.Status.USED
            redemption.save(update_fields=["status", "updated_at"])
            counts["found_used"] += 1
            return
        reward = Reward.objects.select_for_update().get(pk=redemption.reward_id)
        if reward.stock is not None:
            reward.stock += 1
            reward.save(update_fields=["stock", "updated_at"])
        if redemption.refund_on_expiry:
            settings = settings_for_channel(redemption.channel_slug)
            entry = ledger.adjust_points(
                redemption.account_id,
                redemption.points_spent,
                reason=f"Unused reward code {redemption.code} expired: points given back",
                texts={
                    "en": f"Unused reward code {redemption.code} expired: points given back",
                    "zh-Hans": f"未使用的兑换码 {redemption.code} 已过期，积分已退回",
                },
                actor="system:points-mall",
                idempotency_key=f"redemption:{redemption.pk}:refund",
                settings=settings.ledger,
                now=now,
            )
            redemption.refund_entry = entry
            redemption.status = Redemption.Status.REFUNDED
            counts["refunded"] += 1
            counts["points_refunded"] += redemption.points_spent
        else:
            redemption.status = Redemption.Status.EXPIRED
            counts["expired"] += 1
        redemption.save(update_fields=["status", "refund_entry", "updated_at"])


def _clean_key(raw: Any) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidInput(
            [
                FieldError(
                    "idempotency_key",
                    "required",
                    "Send a unique key for this redemption.",
                    {"zh-Hans": "请为这次兑换提供一个唯一的请求键。"},
                )
            ]
        )
    key = raw.strip()
    if len(key) > MAX_IDEMPOTENCY_KEY_LENGTH:
        raise InvalidInput(
            [
                FieldError(
                    "idempotency_key",
                    "invalid",
                    f"Use at most {MAX_IDEMPOTENCY_KEY_LENGTH} characters.",
                    {"zh-Hans": f"请求键最多 {MAX_IDEMPOTENCY_KEY_LENGTH} 个字符。"},
                )
            ]
        )
    return key


def _live_account(account: LoyaltyAccount | int) -> LoyaltyAccount:
    account_id = account.pk if isinstance(account, LoyaltyAccount) else account
    found = LoyaltyAccount.objects.filter(
        Q(pk=account_id), merged_into__isnull=True, anonymised_at__isnull=True
    ).first()
    if found is None:
        raise NotFound("No such loyalty account.", field="account_id", zh="找不到这个积分账户。")
    return found


def _earlier_redemption(account: LoyaltyAccount, key: str) -> Redemption | None:
    return Redemption.objects.filter(account=account, idempotency_key=key).first()
