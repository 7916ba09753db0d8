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
from .lifecycle import CoPurchasePair, ReplenishmentDue, WinbackDue
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
from .segments import CustomerSegment

__all__ = [
    "BackfillCheckpoint",
    "BenefitKind",
    "CartRecovery",
    "CartState",
    "CoPurchasePair",
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
    "QualifyingOrder",
    "Redemption",
    "ReplenishmentDue",
    "Reward",
    "RewardKind",
    "ThresholdKind",
    "TierBenefit",
    "TierChange",
    "TrackedCart",
    "WinbackDue",
]
