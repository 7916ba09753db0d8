from .campaigns import Campaign, CampaignState
from .care import BirthdayGreeting, MemberDay, ReviewAward, SatisfactionRating
from .engagement import LinkKind, MessageClick, MessageOpen, OpenSource
from .enrolments import (
    RUNNING_STATES,
    EnrolmentState,
    FlowConversion,
    FlowEnrolment,
    SubjectKind,
)
from .flows import (
    CartState,
    ContactLogEntry,
    FlowMessage,
    MarketingOptOut,
    MessageState,
    TrackedCart,
)
from .history import BackfillCheckpoint, PurchasedLine, PurchasedOrder
from .ledger import LoyaltyAccount, PointsEntry, PointsLot
from .lifecycle import (
    CoPurchasePair,
    LifecycleRefreshState,
    ProductInterval,
    ReplenishmentDue,
    WinbackDue,
)
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
from .scan_gates import ScanGate
from .segments import CustomerSegment, SegmentFit
from .summaries import PurchaseDay, PurchaseKindDay, PurchaseSummary, PurchaseSummaryZone

__all__ = [
    "RUNNING_STATES",
    "BackfillCheckpoint",
    "BenefitKind",
    "BirthdayGreeting",
    "Campaign",
    "CampaignState",
    "CartState",
    "CoPurchasePair",
    "ContactLogEntry",
    "CustomerProfile",
    "CustomerSegment",
    "CustomerTier",
    "EnrolmentState",
    "FlowConversion",
    "FlowEnrolment",
    "FlowMessage",
    "LifecycleRefreshState",
    "LinkKind",
    "LoyaltyAccount",
    "MarketingOptOut",
    "MemberDay",
    "MembershipTier",
    "MessageClick",
    "MessageOpen",
    "MessageState",
    "OpenSource",
    "PointsEntry",
    "PointsLot",
    "ProductInterval",
    "PurchaseDay",
    "PurchaseKindDay",
    "PurchaseSummary",
    "PurchaseSummaryZone",
    "PurchasedLine",
    "PurchasedOrder",
    "QualifyingMonth",
    "QualifyingOrder",
    "Redemption",
    "ReplenishmentDue",
    "ReviewAward",
    "Reward",
    "RewardKind",
    "SatisfactionRating",
    "ScanGate",
    "SegmentFit",
    "SubjectKind",
    "ThresholdKind",
    "TierBenefit",
    "TierChange",
    "TrackedCart",
    "WinbackDue",
]
