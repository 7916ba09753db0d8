"""The shop the sandbox simulates, as a merchant would set it up: two channels with their
plugin settings, a small catalogue and the points mall's rewards.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import time
from decimal import Decimal
from typing import Any

from ..conf import ChannelSettings


@dataclass(frozen=True)
class SandboxChannel:
    slug: str
    currency: str
    language: str
    configuration: dict[str, str]

    @functools.cached_property
    def settings(self) -> ChannelSettings:
        # Parsed once: the sweeps and every simulated event read it.
        return ChannelSettings.from_configuration(self.configuration)


# Links in messages, and the sender: what a merchant fills in for reminders.
MESSAGE_SETTINGS = {
    "cart_reminders_enabled": "true",
    "public_api_url": "https://api.sandbox-shop.example",
    "checkout_url_template": "https://sandbox-shop.example/checkout?token={token}",
    "from_email": "Sandbox Shop <hello@sandbox-shop.example>",
}

# Every lifecycle flow and campaigns, switched on with the seeds' defaults (their timings,
# holdout, cap and quiet hours are the dashboard's defaults); only what a flow needs to go
# out at all is filled in: product links, a usage cycle per kind of product, review points.
FLOW_SETTINGS = {
    "welcome_enabled": "true",
    "points_expiring_enabled": "true",  # warns only where points expire (the USD channel)
    "tier_upgrade_enabled": "true",
    "campaigns_enabled": "true",
    "care_enabled": "true",
    "review_points": "50",
    "birthday_greetings_enabled": "true",
    "member_day_announcements_enabled": "true",
    "replenishment_enabled": "true",
    "product_url_template": "https://sandbox-shop.example/products/{product_id}",
    # Tea (product type 1) runs out like food and drink (7-30 days); teaware (type 2) lasts
    # like apparel (30-90).
    "replenishment_cycles": "product_type:1 = food_drink; product_type:2 = apparel",
    "winback_enabled": "true",
}

CHANNELS = (
    SandboxChannel(
        "default-channel",
        "USD",
        "en",
        {
            **MESSAGE_SETTINGS,
            **FLOW_SETTINGS,
            "credit_trigger": "order_fully_paid",
            "pending_days": "14",
            "expiry_months": "2",
            "timezone": "America/New_York",
            "overdraft_policy": "allow_negative",
        },
    ),
    SandboxChannel(
        "channel-cn",
        "CNY",
        "zh-hans",
        {
            **MESSAGE_SETTINGS,
            **FLOW_SETTINGS,
            # This shop does not fulfil in Saleor: care counts from payment.
            "care_anchor": "payment",
            "credit_trigger": "order_created",
            "pending_days": "0",
            "expiry_months": "0",
            "timezone": "Asia/Shanghai",
            "overdraft_policy": "clamp_to_zero",
            # A short rolling window and grace, so tiers visibly go down as well as up.
            "tier_window_months": "1",
            "tier_downgrade_grace_days": "7",
        },
    ),
)

CATALOGUE = (
    ("Longjing green tea", "100 g", "TEA-LJ", Decimal("24.00")),
    ("Pu-erh cake", "357 g", "TEA-PE", Decimal("58.00")),
    ("Celadon teapot", "300 ml", "POT-CE", Decimal("89.00")),
    ("Bamboo tea tray", "M", "TRAY-BM", Decimal("45.00")),
    ("Jasmine pearls", "50 g", "TEA-JP", Decimal("19.50")),
)
# Saleor's ids for the catalogue, as order lines carry them: product and product type
# (1 tea, used up; 2 teaware, lasts).
PRODUCT_IDS = {sku: str(11 + index) for index, (_, _, sku, _) in enumerate(CATALOGUE)}


def product_type_id(sku: str) -> str:
    return "1" if sku.startswith("TEA-") else "2"


# The points mall each channel opens with: what a merchant creates in the dashboard.
REWARDS: tuple[dict[str, Any], ...] = (
    {
        "kind": "fixed_discount",
        "name": {"en": "5 off your next order", "zh-Hans": "下单立减 5 元"},
        "points_cost": 500,
        "discount_value": "5",
    },
    {
        "kind": "free_shipping",
        "name": {"en": "Free shipping", "zh-Hans": "积分兑运费"},
        "points_cost": 300,
    },
    {
        "kind": "prize_draw",
        "name": {"en": "Lucky draw", "zh-Hans": "积分抽奖"},
        "points_cost": 100,
        "draw_prizes": [
            {
                "code": "ten-off",
                "name": {"en": "10 off", "zh-Hans": "立减 10 元"},
                "kind": "fixed_discount",
                "discount_value": "10",
                "probability": "0.1",
            },
            {
                "code": "shipping",
                "name": {"en": "Free shipping", "zh-Hans": "免运费"},
                "kind": "free_shipping",
                "probability": "0.3",
            },
        ],
    },
)


def load_channel_settings(channel_slug: str) -> ChannelSettings | None:
    """The sandbox's ``RETENTION_CHANNEL_SETTINGS_LOADER``: its channels' plugin settings."""
    for channel in CHANNELS:
        if channel.slug == channel_slug:
            return channel.settings
    return None


# What the merchant schedules during the story (sandbox/store.py picks the days): a member
# day halfway through, with earlier access for higher tiers, and a festival greeting with a
# coupon to the customers the stored segments call active, two thirds through.
MEMBER_DAY: dict[str, Any] = {
    "name": "Member day: double points",
    "multiplier": Decimal(2),
    "early_access_hours": {"gold": 24, "silver": 12},
    "announce_hours": 48,
    "earliest_day": 3,
}
CAMPAIGN: dict[str, Any] = {
    "name": "Mid-autumn greeting",
    "segment": "active",
    "template": "festival_greeting",
    "send_time": time(10, 0),
    "coupon_discount": "10%",
    "coupon_valid_days": 14,
    # A large holdout: a small shop's campaign needs one to show anything.
    "holdout_percent": Decimal(50),
    "earliest_day": 4,
}
