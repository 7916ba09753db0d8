"""Object types of tiers, benefits, rewards and redemptions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import graphene

from ..domain.tiers import localised
from .ids import to_global_id
from .pagination import PageInfo
from .scalars import DateTime, Decimal, JSONString
from .translations import Translation, language_of, translations

if TYPE_CHECKING:
    from ..models import MembershipTier as MembershipTierModel
    from ..models import Redemption as RedemptionModel
    from ..models import Reward as RewardModel
    from ..models import TierBenefit as TierBenefitModel
    from ..models import TierChange as TierChangeModel


def _texts_field(description: str) -> graphene.String:
    return graphene.String(
        required=True,
        language_code=graphene.String(
            description='e.g. "zh-Hans" or "en"; defaults to the Accept-Language header.'
        ),
        description=description,
    )


class TierThresholdKind(graphene.Enum):
    POINTS_EARNED = "points_earned"
    AMOUNT_SPENT = "amount_spent"


class TierBenefitKind(graphene.Enum):
    PERCENTAGE_DISCOUNT = "percentage_discount"
    POINTS_MULTIPLIER = "points_multiplier"
    FREE_SHIPPING = "free_shipping"
    BIRTHDAY_GIFT = "birthday_gift"
    EARLY_ACCESS = "early_access"
    MEMBER_ONLY_PRODUCTS = "member_only_products"
    PRIORITY_SERVICE = "priority_service"
    CUSTOM = "custom"


class TierBenefit(graphene.ObjectType):
    """Something members of a tier get; ``kind`` tells the storefront how to act on it."""

    id = graphene.ID(required=True)
    tier_id = graphene.ID(required=True)
    kind = graphene.Field(TierBenefitKind, required=True)
    value = Decimal(
        description=(
            "Percent off, multiplier, minimum order for free shipping, birthday gift points, "
            "early-access hours; null for kinds without a number."
        )
    )
    config = JSONString(
        required=True, description='Kind-specific extras, e.g. {"product_ids": [...]}.'
    )
    title = _texts_field("The benefit's title in the requested language.")
    description = _texts_field("The benefit's description in the requested language.")
    title_translations = graphene.List(graphene.NonNull(Translation), required=True)
    position = graphene.Int(required=True)
    is_active = graphene.Boolean(required=True)

    @staticmethod
    def resolve_id(root: TierBenefitModel, info: Any) -> str:
        return to_global_id("TierBenefit", root.pk)

    @staticmethod
    def resolve_tier_id(root: TierBenefitModel, info: Any) -> str:
        return to_global_id("MembershipTier", root.tier_id)

    @staticmethod
    def resolve_title(root: TierBenefitModel, info: Any, language_code: str | None = None) -> str:
        return localised(root.title, language_of(info, language_code))

    @staticmethod
    def resolve_description(
        root: TierBenefitModel, info: Any, language_code: str | None = None
    ) -> str:
        return localised(root.description, language_of(info, language_code))

    @staticmethod
    def resolve_title_translations(root: TierBenefitModel, info: Any) -> list[Translation]:
        return translations(root.title)


class MembershipTier(graphene.ObjectType):
    id = graphene.ID(required=True)
    code = graphene.String(
        required=True, description='Stable name for labels and CSS, e.g. "gold".'
    )
    rank = graphene.Int(required=True, description="0 is the entry tier; higher is better.")
    name = _texts_field("The tier's name in the requested language.")
    description = _texts_field("The tier's description in the requested language.")
    name_translations = graphene.List(graphene.NonNull(Translation), required=True)
    description_translations = graphene.List(graphene.NonNull(Translation), required=True)
    threshold_kind = graphene.Field(TierThresholdKind, required=True)
    threshold_value = Decimal(
        required=True, description="Points earned or amount spent (channel currency) to reach it."
    )
    window_months = graphene.Int(
        required=True, description="Months of activity that count; 0 means lifetime."
    )
    benefits = graphene.List(
        graphene.NonNull(TierBenefit), required=True, description="Active benefits, in order."
    )

    @staticmethod
    def resolve_id(root: MembershipTierModel, info: Any) -> str:
        return to_global_id("MembershipTier", root.pk)

    @staticmethod
    def resolve_name(root: MembershipTierModel, info: Any, language_code: str | None = None) -> str:
        return localised(root.name, language_of(info, language_code))

    @staticmethod
    def resolve_description(
        root: MembershipTierModel, info: Any, language_code: str | None = None
    ) -> str:
        return localised(root.description, language_of(info, language_code))

    @staticmethod
    def resolve_name_translations(root: MembershipTierModel, info: Any) -> list[Translation]:
        return translations(root.name)

    @staticmethod
    def resolve_description_translations(root: MembershipTierModel, info: Any) -> list[Translation]:
        return translations(root.description)

    @staticmethod
    def resolve_benefits(root: MembershipTierModel, info: Any) -> list[TierBenefitModel]:
        # Prefetched by every query that lists tiers (services.tiers.tiers_of_channel).
        return [benefit for benefit in root.benefits.all() if benefit.is_active]


class TierProgress(graphene.ObjectType):
    tier = graphene.Field(MembershipTier, required=True, description="The next tier up.")
    current_value = Decimal(
        required=True, description="Points earned or amount spent so far in its window."
    )
    remaining = Decimal(required=True, description="What is still missing to reach it.")
    ratio = graphene.Float(required=True, description="Progress from 0 to 1.")


class Birthday(graphene.ObjectType):
    month = graphene.Int(required=True)
    day = graphene.Int(required=True)
    year = graphene.Int()


class RewardKind(graphene.Enum):
    FIXED_DISCOUNT = "fixed_discount"
    PERCENTAGE_DISCOUNT = "percentage_discount"
    FREE_SHIPPING = "free_shipping"
    GIFT_PRODUCT = "gift_product"
    PRIZE_DRAW = "prize_draw"


class Reward(graphene.ObjectType):
    """An item of the points mall."""

    id = graphene.ID(required=True)
    kind = graphene.Field(RewardKind, required=True)
    name = _texts_field("The reward's name in the requested language.")
    description = _texts_field("The reward's description in the requested language.")
    name_translations = graphene.List(graphene.NonNull(Translation), required=True)
    points_cost = graphene.Int(required=True)
    discount_value = Decimal(description="Amount off (channel currency) or percent off.")
    min_order_amount = Decimal()
    gift_product_id = graphene.String()
    stock = graphene.Int(description="Left to redeem; null means unlimited.")
    per_customer_limit = graphene.Int(description="Null means unlimited.")
    active_from = DateTime()
    active_until = DateTime()
    is_active = graphene.Boolean(required=True)
    code_validity_days = graphene.Int()
    draw_prizes = JSONString(
        description="Prize draws: the prizes and their probabilities (public odds)."
    )
    draw_seed_hash = graphene.String(
        description="Prize draws: SHA-256 of the secret seed, published before any draw."
    )

    @staticmethod
    def resolve_id(root: RewardModel, info: Any) -> str:
        return to_global_id("Reward", root.pk)

    @staticmethod
    def resolve_name(root: RewardModel, info: Any, language_code: str | None = None) -> str:
        return localised(root.name, language_of(info, language_code))

    @staticmethod
    def resolve_description(root: RewardModel, info: Any, language_code: str | None = None) -> str:
        return localised(root.description, language_of(info, language_code))

    @staticmethod
    def resolve_name_translations(root: RewardModel, info: Any) -> list[Translation]:
        return translations(root.name)

    @staticmethod
    def resolve_gift_product_id(root: RewardModel, info: Any) -> str | None:
        return root.gift_product_id or None

    @staticmethod
    def resolve_draw_prizes(root: RewardModel, info: Any) -> Any:
        return root.draw_prizes or None

    @staticmethod
    def resolve_draw_seed_hash(root: RewardModel, info: Any) -> str | None:
        return root.draw_seed_hash or None


class RedemptionStatus(graphene.Enum):
    ISSUED = "issued"
    USED = "used"
    EXPIRED = "expired"
    REFUNDED = "refunded"
    NO_PRIZE = "no_prize"


class Redemption(graphene.ObjectType):
    id = graphene.ID(required=True)
    reward = graphene.Field(Reward, required=True)
    status = graphene.Field(RedemptionStatus, required=True)
    points_spent = graphene.Int(required=True)
    code = graphene.String(
        description="The single-use code to apply at checkout (checkoutAddPromoCode)."
    )
    issued_kind = graphene.String(description="What was issued (for draws: the prize's kind).")
    issued_value = Decimal()
    expires_at = DateTime()
    created_at = DateTime(required=True)
    draw_audit = JSONString(
        description="Prize draws: the inputs and outcome of the draw, to re-derive it."
    )

    @staticmethod
    def resolve_id(root: RedemptionModel, info: Any) -> str:
        return to_global_id("Redemption", root.pk)

    @staticmethod
    def resolve_issued_kind(root: RedemptionModel, info: Any) -> str | None:
        return root.issued_kind or None

    @staticmethod
    def resolve_draw_audit(root: RedemptionModel, info: Any) -> Any:
        return root.draw_audit or None


class RedemptionEdge(graphene.ObjectType):
    node = graphene.Field(Redemption, required=True)
    cursor = graphene.String(required=True)


class RedemptionConnection(graphene.ObjectType):
    edges = graphene.List(graphene.NonNull(RedemptionEdge), required=True)
    page_info = graphene.Field(PageInfo, required=True)


class RewardEdge(graphene.ObjectType):
    node = graphene.Field(Reward, required=True)
    cursor = graphene.String(required=True)


class RewardConnection(graphene.ObjectType):
    edges = graphene.List(graphene.NonNull(RewardEdge), required=True)
    page_info = graphene.Field(PageInfo, required=True)


class TierChangeReason(graphene.Enum):
    JOINED = "joined"
    QUALIFYING_ORDER = "qualifying_order"
    REEVALUATION = "reevaluation"
    THRESHOLDS_CHANGED = "thresholds_changed"
    TIER_DELETED = "tier_deleted"
    MANUAL = "manual"


class TierChange(graphene.ObjectType):
    """One move between tiers: for "you reached Gold on ..." and a member's timeline."""

    id = graphene.ID(required=True)
    from_tier = graphene.Field(MembershipTier, description="Null when joining, or if deleted.")
    to_tier = graphene.Field(MembershipTier, description="Null if the tier was deleted since.")
    from_code = graphene.String(description="The tier's code at the time, kept after deletion.")
    to_code = graphene.String(description="The tier's code at the time, kept after deletion.")
    reason = graphene.Field(TierChangeReason, required=True)
    qualifying_value = Decimal(
        description="Points earned or amount spent that counted at the time."
    )
    changed_at = DateTime(required=True)

    @staticmethod
    def resolve_id(root: TierChangeModel, info: Any) -> str:
        return to_global_id("TierChange", root.pk)

    @staticmethod
    def resolve_from_code(root: TierChangeModel, info: Any) -> str | None:
        return root.from_code or None

    @staticmethod
    def resolve_to_code(root: TierChangeModel, info: Any) -> str | None:
        return root.to_code or None


class TierChangeEdge(graphene.ObjectType):
    node = graphene.Field(TierChange, required=True)
    cursor = graphene.String(required=True)


class TierChangeConnection(graphene.ObjectType):
    edges = graphene.List(graphene.NonNull(TierChangeEdge), required=True)
    page_info = graphene.Field(PageInfo, required=True)
