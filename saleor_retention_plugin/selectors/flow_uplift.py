"""Every flow against its holdout: conversions with and without messages, and the uplift.

``flow_uplifts`` is what the retention report shows per flow. No writes here. Both groups
are counted on the same basis, the one attribution uses (``flow_events.attribute_order``,
``services.carts.record_order``): an enrolment counts once its attribution window opened
by ``now``, for messaged enrolments at their first message sent, for the holdout when
its first message would have gone out (``window_opens_at``) while it was still running.
A converted enrolment is one with a ``FlowConversion`` placed by ``now``. The cart flow's
entry comes from ``selectors.carts`` (its enrolments counted on the same basis, worded
as abandoned and recovered carts).
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db.models import (
    BooleanField,
    Case,
    Count,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Q,
    Sum,
    Value,
    When,
)
from django.utils import timezone

from .. import app_settings
from ..config_variants import VariantSettings
from ..constants import CAMPAIGN_FLOW, CART_FLOW
from ..domain import experiments
from ..models import (
    Campaign,
    FlowConversion,
    FlowEnrolment,
    FlowMessage,
    MessageClick,
    MessageOpen,
)
from .carts import cart_recovery_summary, reminded_by_variant
from .sums import at_scale

if TYPE_CHECKING:
    from datetime import datetime

    from ..conf import ChannelSettings

# The channel whose messages always report opens (the open pixel); other channels' do
# once their gateway reports a delivery or an open (``delivery.tracking_views``).
OPEN_TRACKING_CHANNEL = "email"


def flow_uplifts(
    channel_slug: str, *, now: datetime | None = None, settings: ChannelSettings | None = None
) -> list[dict[str, Any]]:
    """One entry per flow with enrolments (or abandoned carts) in the channel, by name.

    Each: ``{"flow", "enrolled", "held_out", "sent", "uplift": experiments.Uplift,
    "revenue": {"messaged"|"holdout": {currency: decimal text}}, "messages_sent": int,
    "engagement": {...}, "variants": [...]}``. ``enrolled`` counts every enrolment there
    is (``held_out`` of them in the holdout; for the cart flow, abandoned carts),
    ``sent`` the flow's messages sent by ``now`` (the outbox rows);
    ``uplift.treated`` / ``control`` count the messaged and held-out enrolments,
    ``*_converted`` those that converted; ``messages_sent`` counts sent messages (a
    series sends several per enrolment). ``variants`` is empty unless the messaged
    enrolments carry variants (subject or incentive size, drawn at enrolment and copied
    onto each ``FlowConversion``): then one ``{"variant", "label", "uplift", "revenue",
    "messages_sent", "against_a"}`` per variant, each variant's messaged enrolments
    against the whole holdout, adding up to the flow's figures. ``label`` says what the
    variant changes: ``"A"``, or for ``b`` what variant B changes now in the channel's
    ``settings`` (loaded when not given) or in the campaign, e.g. ``"B: subject, coupon
    15%"`` (plain ``"B"`` once it is removed). ``against_a`` is variant B's
    ``experiments.Uplift`` over variant A (None on A's entry), with its 95 % intervals
    and verdict. The ``campaign`` flow lists ``campaigns`` instead: one entry per
    campaign (``campaign_id``, ``name``, and the same figures against that campaign's
    own holdout, with its variants), adding up to the flow's. ``engagement`` (flows,
    variants and campaigns alike) counts the same sent messages: see
    ``engagement_figures``. Seven grouped queries, whatever the number of flows, plus the
    cart summary's and four for its variants and engagement.
    """
    now = now or timezone.now()
    if settings is None:
        loader = app_settings.channel_settings_loader
        settings = loader(channel_slug) if loader is not None else None
    variants = settings.variants if settings is not None else VariantSettings()
    counted = _ids(channel_slug, now)
    cells: dict[tuple[str, int | None, bool, str], list[int]] = {}
    for row in (
        FlowEnrolment.objects.filter(pk__in=counted)
        .annotate(campaign=_campaign_of(""))
        .values("flow", "campaign", "is_holdout", "variant")
        .annotate(
            subjects=Count("id"),
            converted=Count("id", filter=Q(conversion__converted_at__lte=now)),
        )
        .order_by()
    ):
        cell = (row["flow"], row["campaign"], row["is_holdout"], row["variant"])
        # subjects, converted, then the messages' ``ENGAGEMENT_COUNTS`` (sent first).
        cells[cell] = [row["subjects"], row["converted"], *[0] * len(ENGAGEMENT_COUNTS)]
    for row in (
        _engaged(FlowMessage.objects.sent().filter(enrolment__in=counted), now)
        .annotate(campaign=_campaign_of("enrolment__"))
        .values("enrolment__flow", "campaign", "enrolment__is_holdout", "enrolment__variant")
        .annotate(**ENGAGEMENT_COUNTS)
        .order_by()
    ):
        cell = (
            row["enrolment__flow"],
            row["campaign"],
            row["enrolment__is_holdout"],
            row["enrolment__variant"],
        )
        figures = cells.setdefault(cell, [0] * (2 + len(ENGAGEMENT_COUNTS)))
        for column, name in enumerate(ENGAGEMENT_COUNTS, start=2):
            figures[column] += row[name]
    revenue: dict[tuple[str, int | None, bool, str], dict[str, Decimal]] = {}
    for sums in (
        FlowConversion.objects.filter(enrolment__in=counted, converted_at__lte=now)
        .annotate(campaign=_campaign_of("enrolment__"))
        .values("flow", "campaign", "is_holdout", "variant", "currency")
        .annotate(total=Sum("revenue"))
        .order_by()
    ):
        cell = (sums["flow"], sums["campaign"], sums["is_holdout"], sums["variant"])
        by_currency = revenue.setdefault(cell, {})
        total = at_scale(sums["total"], FlowConversion, "revenue")
        by_currency[sums["currency"]] = by_currency.get(sums["currency"], 0) + total
    campaigns = {
        campaign.pk: campaign
        for campaign in Campaign.objects.filter(
            pk__in={campaign for (_, campaign, _, _) in cells if campaign is not None}
        ).only("pk", "name", "variant_b")
    }
    entries = []
    for flow in sorted({flow for (flow, _, _, _) in cells}):
        mine = {cell: figures for cell, figures in cells.items() if cell[0] == flow}
        variant = variants.for_flow(flow)
        entry = {"flow": flow, **_experiment(mine, revenue, variant.label if variant else "B")}
        if flow == CAMPAIGN_FLOW:
            # Campaigns' variants differ per campaign: split per campaign, not pooled.
            entry["variants"] = []
            entry["campaigns"] = [
                {
                    "campaign_id": campaign,
                    "name": campaigns[campaign].name if campaign in campaigns else "",
                    **_experiment(
                        {cell: f for cell, f in mine.items() if cell[1] == campaign},
                        revenue,
                        campaign_label(campaigns.get(campaign)),
                    ),
                }
                for campaign in sorted({cell[1] for cell in mine if cell[1] is not None})
            ]
        entries.append(entry)
    started: dict[str, dict[bool, int]] = {}
    for flow, is_holdout, count in (
        FlowEnrolment.objects.filter(channel_slug=channel_slug)
        .exclude(flow=CART_FLOW)
        .values("flow", "is_holdout")
        .annotate(count=Count("id"))
        .values_list("flow", "is_holdout", "count")
        .order_by()
    ):
        started.setdefault(flow, {})[is_holdout] = count
    sent = _sent(channel_slug, now)
    for flow in sorted(started.keys() - {entry["flow"] for entry in entries}):
        # Enrolled, but no window has opened yet: nothing to compare.
        entries.append({"flow": flow, **_experiment({}, revenue, "B")})
        if flow == CAMPAIGN_FLOW:
            entries[-1]["campaigns"] = []
    for entry in entries:
        groups = started.get(entry["flow"], {})
        entry["enrolled"] = groups.get(False, 0) + groups.get(True, 0)
        entry["held_out"] = groups.get(True, 0)
        entry["sent"] = sent.get(entry["flow"], 0)
    cart_variant = variants.for_flow(CART_FLOW)
    cart = _cart_entry(
        channel_slug, now, sent.get(CART_FLOW, 0), cart_variant.label if cart_variant else "B"
    )
    if cart is not None:
        entries.append(cart)
    return sorted(entries, key=lambda entry: entry["flow"])


ENGAGEMENT_COUNTS = {
    "sent": Count("id"),
    "open_tracked": Count("id", filter=Q(is_open_tracked=True)),
    "opened": Count(
        "id", filter=Q(is_open_tracked=True) & (Q(is_opened=True) | Q(is_clicked=True))
    ),
    "clicked": Count("id", filter=Q(is_clicked=True)),
    "clicked_tracked": Count("id", filter=Q(is_open_tracked=True, is_clicked=True)),
}


def _engaged(messages: Any, now: datetime) -> Any:
    """Sent messages by ``now``, annotated ``is_open_tracked``, ``is_opened``, ``is_clicked``.

    A message's opens are tracked when its channel reports them: email (the open pixel),
    or any channel whose gateway reported the message's delivery or open by ``now``
    (webhook). ``is_opened``: an open recorded by ``now``; ``is_clicked``: a tracked link
    first clicked by ``now``.
    """
    reported = MessageOpen.objects.filter(message=OuterRef("pk")).filter(
        Q(opened_at__lte=now) | Q(delivered_at__lte=now)
    )
    return messages.filter(sent_at__lte=now).annotate(
        is_reported=Exists(reported),
        is_open_tracked=Case(
            When(Q(delivery_channel=OPEN_TRACKING_CHANNEL) | Q(is_reported=True), then=True),
            default=False,
            output_field=BooleanField(),
        ),
        is_opened=Exists(MessageOpen.objects.filter(message=OuterRef("pk"), opened_at__lte=now)),
        is_clicked=Exists(
            MessageClick.objects.filter(message=OuterRef("pk"), first_clicked_at__lte=now)
        ),
    )


def engagement_figures(
    sent: int, open_tracked: int, opened: int, clicked: int, clicked_tracked: int
) -> dict[str, Any]:
    """Opens and clicks of ``sent`` messages, with their rates (0-1, 4 decimals, text).

    ``{"sent", "open_tracked", "opened", "clicked", "clicked_tracked", "open_rate", "click_rate",
    "click_to_open_rate"}``: ``open_tracked`` of the messages went through a channel that
    reports opens, ``opened`` of those were opened (a click counts as an open: the pixel
    is not loaded when images are off), ``clicked`` messages had a tracked link clicked
    (one per message however many clicks; link scanners included). ``opened``,
    ``open_rate`` (opened / open_tracked) and ``click_to_open_rate`` (``clicked_tracked``,
    the clicked among the open-tracked, / opened) are None ("n/a") when no message's
    channel reports opens; ``click_rate`` is clicked / sent, None without messages.
    """
    return {
        "sent": sent,
        "open_tracked": open_tracked,
        "opened": opened if open_tracked else None,
        "clicked": clicked,
        "clicked_tracked": clicked_tracked,
        "open_rate": _rate(opened, open_tracked),
        "click_rate": _rate(clicked, sent),
        "click_to_open_rate": _rate(clicked_tracked, opened) if open_tracked else None,
    }


def _rate(part: int, whole: int) -> str | None:
    if not whole:
        return None
    return str((Decimal(part) / Decimal(whole)).quantize(Decimal("0.0001")))


def _cart_engagement(channel_slug: str, now: datetime) -> dict[str, dict[str, Any]]:
    """The cart series' opens and clicks: ``{"": all sent, variant letter: its share}``.

    One grouped query by the enrolment's variant; the variants add up to ``""``.
    """
    rows = {
        row["enrolment__variant"] or "": [row[name] for name in ENGAGEMENT_COUNTS]
        for row in _engaged(
            FlowMessage.objects.sent().filter(channel_slug=channel_slug, flow=CART_FLOW), now
        )
        .values("enrolment__variant")
        .annotate(**ENGAGEMENT_COUNTS)
        .order_by("enrolment__variant")
    }
    totals = [sum(column) for column in zip(*rows.values(), strict=True)] or [0] * len(
        ENGAGEMENT_COUNTS
    )
    figures = {letter: engagement_figures(*counts) for letter, counts in rows.items()}
    figures[""] = engagement_figures(*totals)
    return figures


def _campaign_of(prefix: str) -> Any:
    """The campaign's id (the enrolment's cycle) for the campaign flow, else NULL."""
    return Case(
        When(**{f"{prefix}flow": CAMPAIGN_FLOW}, then=F(f"{prefix}cycle")),
        default=Value(None),
        output_field=IntegerField(),
    )


def campaign_label(campaign: Campaign | None) -> str:
    """What a campaign's variant B changes: ``"B: subject, coupon 15%"``."""
    changes = []
    if campaign is not None and campaign.variant_b.get("subject"):
        changes.append("subject")
    if campaign is not None and "coupon_discount" in campaign.variant_b:
        changes.append(f"coupon {campaign.variant_b['coupon_discount'] or 'none'}")
    return "B: " + ", ".join(changes) if changes else "B"


def _experiment(
    cells: dict[tuple[str, int | None, bool, str], list[int]],
    revenue: dict[tuple[str, int | None, bool, str], dict[str, Decimal]],
    b_label: str,
) -> dict[str, Any]:
    """Messaged against holdout over ``cells``, each messaged variant against it, B against A.

    ``b_label``: what the report calls variant ``b``.
    """

    def total(group: dict[Any, list[int]], column: int) -> int:
        return sum(figures[column] for figures in group.values())

    def money(group: dict[Any, list[int]]) -> dict[str, str]:
        sums: dict[str, Decimal] = {}
        for cell in group:
            for currency, amount in revenue.get(cell, {}).items():
                sums[currency] = sums.get(currency, Decimal(0)) + amount
        return {currency: str(sums[currency]) for currency in sorted(sums)}

    messaged = {cell: figures for cell, figures in cells.items() if not cell[2]}
    holdout = {cell: figures for cell, figures in cells.items() if cell[2]}
    control, control_converted = total(holdout, 0), total(holdout, 1)

    def against_holdout(group: dict[Any, list[int]]) -> experiments.Uplift:
        return experiments.uplift(
            total(group, 0), total(group, 1), control, control_converted,
            wording=experiments.ENROLMENTS,
        )  # fmt: skip

    letters = sorted({cell[3] for cell in messaged})
    variants = []
    if any(letters):
        groups = {
            letter: {cell: f for cell, f in messaged.items() if cell[3] == letter}
            for letter in letters
        }
        for letter, group in groups.items():
            a = groups.get("a", {})
            variants.append(
                {
                    "variant": letter,
                    "label": {"a": "A", "b": b_label}.get(letter, letter or "-"),
                    "uplift": against_holdout(group),
                    "revenue": money(group),
                    "messages_sent": total(group, 2),
                    "against_a": experiments.uplift(
                        total(group, 0), total(group, 1), total(a, 0), total(a, 1),
                        wording=experiments.VARIANT_B,
                    )
                    if letter == "b"
                    else None,
                    "engagement": engagement_figures(*(total(group, c) for c in range(2, 7))),
                }
            )  # fmt: skip
    return {
        "uplift": against_holdout(messaged),
        "revenue": {"messaged": money(messaged), "holdout": money(holdout)},
        "messages_sent": total(messaged, 2),
        "engagement": engagement_figures(*(total(messaged, c) for c in range(2, 7))),
        "variants": variants,
    }


def _sent(channel_slug: str, now: datetime) -> dict[str, int]:
    """Messages sent by ``now`` per flow (the outbox rows)."""
    return dict(
        FlowMessage.objects.sent()
        .filter(channel_slug=channel_slug, sent_at__lte=now)
        .values("flow")
        .annotate(count=Count("id"))
        .values_list("flow", "count")
        .order_by()
    )


def _ids(channel_slug: str, now: datetime) -> Any:
    """The enrolments counted by ``now`` (see the module), as a subquery of ids."""
    sent = FlowMessage.objects.sent().filter(enrolment=OuterRef("pk"), sent_at__lte=now)
    return (
        FlowEnrolment.objects.filter(channel_slug=channel_slug)
        .exclude(flow=CART_FLOW)
        .annotate(messaged=Exists(sent))
        .filter(
            Q(is_holdout=False, messaged=True)
            | (
                Q(is_holdout=True, window_opens_at__lte=now)
                & (Q(stopped_at__isnull=True) | Q(stopped_at__gte=F("window_opens_at")))
            )
        )
        .values("pk")
    )


def _cart_entry(channel_slug: str, now: datetime, sent: int, b_label: str) -> dict[str, Any] | None:
    summary = cart_recovery_summary(channel_slug, now=now)
    cart_engagement = _cart_engagement(channel_slug, now)
    reminded, holdout = summary["groups"]["reminded"], summary["groups"]["holdout"]
    if not reminded["abandoned_carts"] and not holdout["abandoned_carts"]:
        return None
    return {
        "flow": CART_FLOW,
        "enrolled": reminded["abandoned_carts"] + holdout["abandoned_carts"],
        "held_out": holdout["abandoned_carts"],
        "sent": sent,
        "uplift": experiments.uplift(
            reminded["abandoned_carts"],
            reminded["recovered_carts"],
            holdout["abandoned_carts"],
            holdout["recovered_carts"],
        ),
        "revenue": {"messaged": reminded["revenue"], "holdout": holdout["revenue"]},
        "messages_sent": sent,
        "engagement": cart_engagement[""],
        "variants": _cart_variants(
            reminded_by_variant(channel_slug, now),
            holdout["abandoned_carts"],
            holdout["recovered_carts"],
            b_label,
            cart_engagement,
        ),
    }


def _cart_variants(
    groups: dict[str, dict[str, Any]],
    control: int,
    control_recovered: int,
    b_label: str,
    engagement: dict[str, dict[str, Any]],
) -> list[dict[str, Any]]:
    """The cart flow's variants as ``_experiment`` lists a flow's (carts for enrolments).

    ``engagement``: ``_cart_engagement``'s figures by variant letter.
    """
    a = groups.get("a", {"carts": 0, "recovered": 0})
    no_messages = engagement_figures(*[0] * len(ENGAGEMENT_COUNTS))
    return [
        {
            "variant": letter,
            "label": {"a": "A", "b": b_label}.get(letter, letter or "-"),
            "uplift": experiments.uplift(
                group["carts"], group["recovered"], control, control_recovered
            ),
            "revenue": group["revenue"],
            "messages_sent": group["messages_sent"],
            "engagement": engagement.get(letter, no_messages),
            "against_a": experiments.uplift(
                group["carts"], group["recovered"], a["carts"], a["recovered"],
                wording=experiments.VARIANT_B,
            )
            if letter == "b"
            else None,
        }
        for letter, group in sorted(groups.items())
    ]  # fmt: skip
