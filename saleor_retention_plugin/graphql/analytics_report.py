"""Staff read the retention figures: a GraphQL field and the HTML report on the plugin's path.

``retentionReport`` (MANAGE_USERS, or an app with it) answers the headline figures of
``selectors.report`` plus every figure as JSON (``report_view`` serves the HTML report).
Customers and anonymous callers are refused. The shop's timezone is the channel's
``timezone`` setting.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import graphene
from graphql import GraphQLError

from ..selectors.report import build_report
from .ledger import require_manager
from .scalars import JSONString

MAX_WITHIN_DAYS = 3650


class SegmentCounts(graphene.ObjectType):
    new = graphene.Int(required=True)
    active = graphene.Int(required=True)
    dormant = graphene.Int(required=True)
    high_value = graphene.Int(required=True)
    discount_driven = graphene.Int(required=True)


class MessageEngagement(graphene.ObjectType):
    """Opens and clicks of one flow's, campaign's or variant's sent messages."""

    flow = graphene.String(required=True)
    campaign_id = graphene.Int(description="Set on a campaign's rows.")
    variant = graphene.String(description="Set on a variant's rows (a, b...).")
    sent = graphene.Int(required=True, description="Messages sent.")
    open_tracked = graphene.Int(
        required=True, description="Of them, sent through a channel that reports opens."
    )
    opened = graphene.Int(
        description="Messages opened (a click counts); null (n/a) when no message's "
        "channel reports opens."
    )
    clicked = graphene.Int(
        required=True, description="Messages with a tracked link clicked (scanners included)."
    )
    open_rate = graphene.String(description="opened / openTracked, 0-1, 4 decimals.")
    click_rate = graphene.String(description="clicked / sent, 0-1, 4 decimals.")
    click_to_open_rate = graphene.String(
        description="Clicked among the open-tracked / opened, 0-1, 4 decimals."
    )


def engagement_rows(flows: list[dict[str, Any]]) -> list[MessageEngagement]:
    """Each flow, then its campaigns and variants, in the report's order."""

    def row(flow: str, part: dict[str, Any], **names: Any) -> MessageEngagement:
        e = part["engagement"]
        return MessageEngagement(
            flow=flow, sent=e["sent"], open_tracked=e["open_tracked"], opened=e["opened"],
            clicked=e["clicked"], open_rate=e["open_rate"], click_rate=e["click_rate"],
            click_to_open_rate=e["click_to_open_rate"], **names,
        )  # fmt: skip

    rows = []
    for entry in flows:
        rows.append(row(entry["flow"], entry))
        rows.extend(
            row(entry["flow"], variant, variant=variant["variant"])
            for variant in entry.get("variants", [])
        )
        for campaign in entry.get("campaigns", []):
            rows.append(row(entry["flow"], campaign, campaign_id=campaign["campaign_id"]))
            rows.extend(
                row(
                    entry["flow"],
                    variant,
                    campaign_id=campaign["campaign_id"],
                    variant=variant["variant"],
                )
                for variant in campaign["variants"]
            )
    return rows


class RetentionReport(graphene.ObjectType):
    currency = graphene.String(description="The channel's currency; null without orders.")
    start = graphene.String(required=True)
    end = graphene.String(required=True)
    as_of = graphene.String(required=True)
    customers = graphene.Int(required=True, description="Customers with an order to date.")
    repurchase_rate = graphene.String(
        description="Share (0-1, 4 decimals) of new customers who ordered again within "
        "withinDays; null without new customers whose window has closed."
    )
    repeat_buyer_rate = graphene.String(description="Share of buyers who ordered on 2+ days.")
    returning_revenue_share = graphene.String(
        description="Share of the period's revenue from returning customers."
    )
    revenue = graphene.String(required=True, description="Period revenue, decimal, currency.")
    median_cycle_days = graphene.Float(description="Median days between orders.")
    ltv = graphene.String(description="AOV x orders per year x lifespan years.")
    segments = graphene.Field(SegmentCounts, required=True)
    message_engagement = graphene.List(
        graphene.NonNull(MessageEngagement),
        required=True,
        description="Opens and clicks per flow, campaign and variant (docs/delivery.md).",
    )
    figures = JSONString(
        required=True, description="Every figure of the report (docs/analytics.md)."
    )


def parse_day(raw: str | None, name: str) -> date | None:
    if raw is None:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise GraphQLError(f"{name} must be a date such as 2026-01-31.") from None


def report_for(
    channel: str, timezone: str, start: date | None, end: date | None, as_of: date | None,
    within_days: int = 90, lifespan_years: Decimal = Decimal(3), predict: bool = False,
) -> dict[str, Any]:  # fmt: skip
    """The report with the API's defaults: the year to ``as_of`` (today)."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    today = as_of or datetime.now(ZoneInfo(timezone)).date()
    end = end or today + timedelta(days=1)
    start = start or end - timedelta(days=365)
    if end <= start:
        raise ValueError("end must be after start.")
    return build_report(
        channel, start, end, tz=timezone, as_of=today, within_days=within_days,
        lifespan_years=lifespan_years, predict=predict,
    )  # fmt: skip


class RetentionReportQueries(graphene.ObjectType):
    retention_report = graphene.Field(
        RetentionReport,
        required=True,
        start=graphene.String(description="First day, YYYY-MM-DD (default: a year before end)."),
        end=graphene.String(description="Day after the last, YYYY-MM-DD (default: tomorrow)."),
        as_of=graphene.String(description="Measure as on this day (default: today)."),
        within_days=graphene.Int(default_value=90),
        lifespan_years=graphene.String(default_value="3"),
        description="Repurchase, cycle, cohorts, LTV, segments, points and carts of this "
        "channel (docs/analytics.md). Requires MANAGE_USERS.",
    )

    @staticmethod
    def resolve_retention_report(
        root: Any, info: Any, start: str | None = None, end: str | None = None,
        as_of: str | None = None, within_days: int = 90, lifespan_years: str = "3",
    ) -> RetentionReport:  # fmt: skip
        require_manager(info)
        if not 1 <= within_days <= MAX_WITHIN_DAYS:
            raise GraphQLError(f"withinDays must be between 1 and {MAX_WITHIN_DAYS}.")
        try:
            years = Decimal(lifespan_years)
        except ArithmeticError:
            years = Decimal(-1)
        if not years.is_finite() or not 0 <= years <= 100:
            raise GraphQLError("lifespanYears must be a number from 0 to 100.")
        context = info.context
        try:
            figures = report_for(
                context.channel_slug, context.settings.ledger.timezone,
                parse_day(start, "start"), parse_day(end, "end"), parse_day(as_of, "asOf"),
                within_days, years,
            )  # fmt: skip
        except ValueError as error:
            raise GraphQLError(str(error)) from None
        segments = figures["segments"]
        return RetentionReport(
            currency=figures["currency"],
            start=figures["period"]["start"],
            end=figures["period"]["end"],
            as_of=figures["period"]["as_of"],
            customers=segments["customers"],
            repurchase_rate=figures["repurchase"]["rate"],
            repeat_buyer_rate=figures["repurchase"]["simple_rate"],
            returning_revenue_share=figures["revenue"]["returning_share"],
            revenue=figures["revenue"]["revenue"],
            median_cycle_days=figures["cycle"]["median_days"],
            ltv=figures["ltv_formula"]["ltv"],
            segments=SegmentCounts(
                new=segments["by_segment"]["new"],
                active=segments["by_segment"]["active"],
                dormant=segments["by_segment"]["dormant"],
                high_value=segments["high_value"],
                discount_driven=segments["discount_driven"],
            ),
            message_engagement=engagement_rows(figures["flows"]),
            figures=figures,
        )
