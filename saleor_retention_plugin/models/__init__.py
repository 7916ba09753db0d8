from .enrolments import EnrolmentState, FlowConversion, FlowEnrolment, SubjectKind
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
    "EnrolmentState",
    "FlowConversion",
    "FlowEnrolment",
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
    "Reward",
    "RewardKind",
    "SubjectKind",
    "ThresholdKind",
    "TierBenefit",
    "TierChange",
    "TrackedCart",
]
