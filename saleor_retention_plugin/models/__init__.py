from .flows import (
    CartRecovery,
    CartState,
    ContactLogEntry,
    FlowMessage,
    MarketingOptOut,
    MessageState,
    TrackedCart,
)
from .history import BackfillCheckpoint, PurchasedLine, PurchasedOrder
from .ledger import LoyaltyAccount, PointsEntry, PointsLot
from .mall import Redemption, Reward, RewardKind
from .membership import (
    BenefitKind,
    CustomerProfile,
    CustomerTier,
    MembershipTier,
    QualifyingMonth,
    QualifyingOrder,
    ThresholdKind,
    TierBenefit,
    TierChange,
)
from .segments import CustomerSegment

__all__ = [
    "BackfillCheckpoint",
    "BenefitKind",
    "CartRecovery",
    "CartState",
    "ContactLogEntry",
    "CustomerProfile",
    "CustomerSegment",
    "CustomerTier",
    "FlowMessage",
    "LoyaltyAccount",
    "MarketingOptOut",
    "MembershipTier",
    "MessageState",
    "PointsEntry",
    "PointsLot",
    "PurchasedLine",
    "PurchasedOrder",
    "QualifyingMonth",
    "QualifyingOrder",
    "Redemption",
    "Reward",
    "RewardKind",
    "ThresholdKind",
    "TierBenefit",
    "TierChange",
    "TrackedCart",
]
