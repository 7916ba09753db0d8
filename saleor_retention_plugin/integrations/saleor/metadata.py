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
from django.db import transaction
from django.utils import timezone

from ...models import LoyaltyAccount
from ...services.ledger import summarise_account

if TYPE_CHECKING:
    from ...models import MembershipTier

logger = logging.getLogger(__name__)

METADATA_KEY = "saleor.retention"


def loyalty_snapshot(account: LoyaltyAccount) -> dict[str, Any]:
    """The display copy of one account.

    Points come from one aggregate query, the tier from the account's tier row (read with
    the account by ``copy_account_to_metadata``). An account never graded yet (no tier
    row) shows the tier it qualifies for, as the loyalty API does (``membership_of``).
    """
    summary = summarise_account(account)
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
    """Write the account's snapshot under its channel; False when there is no Saleor user."""
    from saleor.account.models import User

    account = (
        LoyaltyAccount.objects.live()
        .select_related("membership__tier")
        .filter(pk=account_id)
        .first()
    )
    if account is None or account.customer_id is None:
        return False
    snapshot = loyalty_snapshot(account)
    with transaction.atomic():
        # Row lock: two channels mirroring at once must not overwrite each other's entry.
        user = User.objects.select_for_update().filter(pk=account.customer_id).first()
        if user is None:
            return False
        current = _parse(user.get_value_from_metadata(METADATA_KEY))
        current["channels"][account.channel_slug] = snapshot
        user.store_value_in_metadata({METADATA_KEY: json.dumps(current, ensure_ascii=False)})
        user.save(update_fields=["metadata", "updated_at"])
    return True


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
