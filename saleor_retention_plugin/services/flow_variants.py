"""A flow's variant B at enrolment and at send (the merchant's ``config_variants``).

* ``draw_variant``: when a flow has a variant B in the channel, each enrolment draws
  ``"a"`` or ``"b"`` once, from a hash of the flow, channel, subject and cycle
  (``domain.holdout.variant_of``, the flow's variant salt, the configured share). The
  holdout is drawn with another salt, so it is independent of the split. The letter is
  kept on the enrolment and copied onto its ``FlowConversion``: changing or removing
  variant B later never reassigns an enrolment already made.
* ``settings_for`` (at send time): for a ``"b"`` enrolment, the channel's settings with
  variant B's incentive in place of the flow's own (coupon discount, win-back step
  discounts), so the flow's ``compose`` mints and shows B's coupon without knowing
  about variants. Birthdays apply B's gift points themselves (``care_flows``).
* ``variant_subject``: variant B's subject in the customer's message language, its
  variables filled from the composed message; ``""`` when B sets no subject in that
  language (the templates' subject then stands, merchant overrides included). The
  rendering uses it in place of the subject template (``delivery.rendering``).

What a ``"b"`` enrolment is sent follows the variant B configured at send time: when
the merchant removes it, the remaining ``"b"`` enrolments get A's content (and keep
their letter in the report).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from ..config_variants import VARIANT_FLOW
from ..delivery.language import message_language
from ..delivery.rendering import format_money
from ..domain.campaigns import render_text
from ..domain.holdout import variant_of

if TYPE_CHECKING:
    from ..conf import ChannelSettings
    from ..config_variants import VariantB
    from .flows import Ready

VARIANT_B = "b"
# The context key the rendering reads variant B's subject from.
SUBJECT_KEY = "variant_subject"


def variant_salt(flow: str, channel_slug: str) -> str:
    return f"{flow}-variant:{channel_slug}"


def draw_variant(
    flow: str, subject_key: str, cycle: int, channel_slug: str, settings: ChannelSettings
) -> str:
    """``"a"`` / ``"b"`` for a new enrolment of a flow with variant B, else ``""``."""
    variant = settings.variants.for_flow(flow)
    if variant is None:
        return ""
    return variant_of(
        f"{subject_key}:{cycle}",
        salt=variant_salt(flow, channel_slug),
        variants=2,
        share_b=variant.share,
    )


def variant_b(flow: str, letter: str, settings: ChannelSettings) -> VariantB | None:
    """The variant B a ``letter`` enrolment gets now (None for ``"a"``, ``""``, or none set)."""
    return settings.variants.for_flow(flow) if letter == VARIANT_B else None


def settings_for(flow: str, letter: str, settings: ChannelSettings) -> ChannelSettings:
    """``settings`` with variant B's incentive in place of the flow's own, for a ``"b"``."""
    variant = variant_b(flow, letter, settings)
    replaces = VARIANT_FLOW[flow].replaces if variant is not None else None
    if variant is None or not variant.incentive or replaces is None:
        return settings
    section_name, field_name = replaces
    section = dataclasses.replace(
        getattr(settings, section_name), **{field_name: variant.incentive}
    )
    return dataclasses.replace(settings, **{section_name: section})


def variant_subject(
    flow: str, letter: str, settings: ChannelSettings, language_code: str, ready: Ready
) -> str:
    """Variant B's subject for this message, filled; ``""`` when it keeps the template's."""
    variant = variant_b(flow, letter, settings)
    if variant is None:
        return ""
    text = variant.subject_for(message_language(language_code).value)
    if not text:
        return ""
    context = ready.context
    incentive = ready.incentive
    values: dict[str, Any] = {
        "points": context.get("points", ""),
        "tier": context.get("tier_name", ""),
        "coupon": incentive.describe(ready.currency) if incentive is not None else "",
        "order_number": context.get("order_number", ""),
        "product": (context.get("product") or {}).get("name", ""),
        "expiring_points": context.get("expiring_points", ""),
        "expires_on": context.get("expires_on", ""),
        "days_left": context.get("days_left", ""),
        "member_day": context.get("member_day_name", ""),
        "gift_points": context.get("gift_points", ""),
        "total": format_money(context["total"], str(context.get("currency") or ""))
        if context.get("total")
        else "",
    }
    return " ".join(render_text(text, values, VARIANT_FLOW[flow].variables).split())
