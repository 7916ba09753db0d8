from .ledger import LoyaltyAccount, PointsEntry, PointsLot
from .mall import Redemption, Reward, RewardKind
from .membership import (
    BenefitKind,
    CustomerProfile,
    CustomerTier,
    MembershipTier,
    QualifyingOrder,
    ThresholdKind,
    TierBenefit,
    TierChange,
)

__all__ = [
    "BenefitKind",
    "CustomerProfile",
    "CustomerTier",
    "LoyaltyAccount",
    "MembershipTier",
    "PointsEntry",
    "PointsLot",
    "QualifyingOrder",
    "Redemption",
    "Reward",
    "RewardKind",
    "ThresholdKind",
    "TierBenefit",
    "TierChange",
]
