"""Write use-cases of membership tiers, one concern per module:

* ``catalogue``: a channel's ladder and benefits (staff CRUD, seeding);
* ``evaluation``: orders and re-evaluations moving accounts between tiers, and reading;
* ``birthdays``: birthdays and birthday gift points;
* ``progress``: the qualifying totals and the tier history both of them write.

``from saleor_retention_plugin.services import tiers`` keeps working: the package exposes
every use-case as before.
"""

from __future__ import annotations

from .birthdays import (
    BIRTHDAY_CHANGE_INTERVAL,
    BirthdayLocked,
    anonymise_membership,
    birthday_errors,
    birthday_of,
    grant_birthday_gifts,
    set_birthday,
)
from .catalogue import (
    MAX_DESCRIPTION_LENGTH,
    MAX_NAME_LENGTH,
    MAX_THRESHOLD,
    MAX_TIERS_PER_CHANNEL,
    TIER_CODE,
    BenefitNotFound,
    TierNotFound,
    create_benefit,
    create_tier,
    delete_benefit,
    delete_tier,
    seed_default_tiers,
    tiers_of_channel,
    update_benefit,
    update_tier,
)
from .evaluation import (
    MembershipSummary,
    NextTier,
    ReevaluationReport,
    TierStanding,
    apply_order_to_tiers,
    channels_with_tiers,
    evaluate_account,
    membership_of,
    points_multiplier_for_account,
    reevaluate_channel,
    tier_history,
    tier_standing,
)
from .progress import _totals

__all__ = [
    "BIRTHDAY_CHANGE_INTERVAL",
    "MAX_DESCRIPTION_LENGTH",
    "MAX_NAME_LENGTH",
    "MAX_THRESHOLD",
    "MAX_TIERS_PER_CHANNEL",
    "TIER_CODE",
    "BenefitNotFound",
    "BirthdayLocked",
    "MembershipSummary",
    "NextTier",
    "ReevaluationReport",
    "TierNotFound",
    "TierStanding",
    "_totals",
    "anonymise_membership",
    "apply_order_to_tiers",
    "birthday_errors",
    "birthday_of",
    "channels_with_tiers",
    "create_benefit",
    "create_tier",
    "delete_benefit",
    "delete_tier",
    "evaluate_account",
    "grant_birthday_gifts",
    "membership_of",
    "points_multiplier_for_account",
    "reevaluate_channel",
    "seed_default_tiers",
    "set_birthday",
    "tier_history",
    "tier_standing",
    "tiers_of_channel",
    "update_benefit",
    "update_tier",
]
