"""Mirror each customer's points and tier into their Saleor user's PUBLIC metadata.

For storefronts that only talk to Saleor: ``me { metadata { key value } }`` shows the
``saleor.retention`` key. Display only: the owner can write their own public metadata,
so nothing ever reads this back; the ledger stays the truth.

The value is one JSON string holding every channel the customer has points in::

    {"version": 1, "channels": {"main": {"balance": 420, "spendable": 400,
     "pending": 20, "lifetime": 1200, "tier": "gold", "tierName": {"en": "Gold", ...},
     "updatedAt": "2026-11-25T10:00:00+00:00"}}}
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ObjectDoesNotExist
from django.utils import timezone

from ...models import LoyaltyAccount
from ...services.ledger import summary_from_lots, with_points_in_lots

if TYPE_CHECKING:
    from ...models import MembershipTier

logger = logging.getLogger(__name__)

METADATA_KEY = "saleor.retention"
WRITE_ATTEMPTS = 3


def loyalty_snapshot(account: LoyaltyAccount) -> dict[str, Any]:
    """The display copy of one account read by ``_account_with_user``.

    The points and the tier come with the account (no query). An account never graded
    yet (no tier row) shows the tier it qualifies for, as the loyalty API does
    (``membership_of``, a few queries).
    """
    summary = summary_from_lots(account)
    tier = _stored_tier(account)
    if tier is None:
        from ...services.tiers import membership_of

        tier = membership_of(account).tier
    return {
        "balance": summary.balance,
        "spendable": max(summary.spendable, 0),
        "pending": summary.pending,
        "lifetime": summary.lifetime_earned,
        "tier": tier.code if tier else None,
        "tierName": dict(tier.name) if tier else None,
        "updatedAt": timezone.now().isoformat(),
    }


def _stored_tier(account: LoyaltyAccount) -> MembershipTier | None:
    try:
        return account.membership.tier
    except ObjectDoesNotExist:
        return None


def copy_account_to_metadata(account_id: int) -> bool:
    """Write the account's snapshot under its channel; False when there is no Saleor user.

    Two queries: the account with its points, tier and its user's metadata; then the
    user's metadata written only if it is still what was read (two channels mirroring at
    once must not overwrite each other's entry). A write that lost that race reads again,
    up to ``WRITE_ATTEMPTS`` times; after that the latest change is left to the next
    ledger change (display only: the ledger stays the truth).
    """
    from saleor.account.models import User

    for _ in range(WRITE_ATTEMPTS):
        account = _account_with_user(account_id)
        if account is None or not account.user_exists:  # type: ignore[attr-defined]
            return False
        read: dict[str, Any] | None = account.user_metadata  # type: ignore[attr-defined]
        metadata = dict(read or {})
        value = _parse(metadata.get(METADATA_KEY))
        value["channels"][account.channel_slug] = loyalty_snapshot(account)
        metadata[METADATA_KEY] = json.dumps(value, ensure_ascii=False)
        user = User.objects.filter(pk=account.customer_id)
        still_as_read = (
            user.filter(metadata__isnull=True) if read is None else user.filter(metadata=read)
        )
        if still_as_read.update(metadata=metadata, updated_at=timezone.now()):
            return True
    logger.info("Metadata of the owner of account %s kept changing; not mirrored now", account_id)
    return False


def _account_with_user(account_id: int) -> LoyaltyAccount | None:
    """The live account and its Saleor user's metadata, in one query.

    With its points (``with_points_in_lots``), tier row and tier, ``user_exists`` and
    ``user_metadata``.
    """
    from django.db.models import Exists, OuterRef, Subquery
    from saleor.account.models import User

    users = User.objects.filter(pk=OuterRef("customer_id"))
    return (
        with_points_in_lots(LoyaltyAccount.objects.live())
        .filter(pk=account_id, customer_id__isnull=False)
        .select_related("membership__tier")
        .annotate(
            user_exists=Exists(users),
            user_metadata=Subquery(users.values("metadata")),
        )
        .first()
    )


def _parse(raw: Any) -> dict[str, Any]:
    # The owner can write their public metadata: never trust what is there.
    try:
        value = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        value = None
    if not isinstance(value, dict) or not isinstance(value.get("channels"), dict):
        return {"version": 1, "channels": {}}
    value["version"] = 1
    return value
