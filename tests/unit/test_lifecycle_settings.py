"""Merchants switch and time replenishment and win-back per channel; bad values are refused."""

from decimal import Decimal

import pytest

from saleor_retention_plugin.conf import ChannelSettings, InvalidConfiguration
from saleor_retention_plugin.domain.replenishment import CycleRange
from saleor_retention_plugin.domain.schedules import DiscountKind
from saleor_retention_plugin.domain.winback import IncentiveKind, WinbackStep

URL = "https://tea.example/products/{product_id}"


def test_defaults_are_off_with_the_seeds_timings():
    settings = ChannelSettings.from_configuration({})

    assert settings.replenishment.replenishment_enabled is False
    assert settings.replenishment.replenishment_lead_days == 3
    assert settings.replenishment.replenishment_cycles.rules == ()
    assert settings.winback.winback_enabled is False
    policy = settings.winback.policy
    assert policy.dormancy_factor == Decimal(2)
    assert policy.default_days == 90
    assert policy.steps == (WinbackStep(0, "10%"), WinbackStep(14, "15%"), WinbackStep(30, "20%"))
    assert policy.others is IncentiveKind.DISCOUNT
    assert settings.recommendations.recommendations_min_support == 3
    assert settings.replenishment.replenishment_coupon_discount == ""
    assert settings.replenishment.incentive is None  # no coupon unless the merchant sets one


def test_settings_round_trip_through_the_dashboard_format():
    settings = ChannelSettings.from_configuration(
        {
            "replenishment_enabled": "true",
            "product_url_template": URL,
            "replenishment_cycles": "category:12 = beauty\nproduct:7 = 20-40",
            "winback_step_days": "7, 21",
            "winback_step_discounts": "5, 10%",
            "winback_others_get": "perk",
            "replenishment_coupon_discount": "15%",
            "replenishment_coupon_valid_days": "10",
        }
    )

    assert ChannelSettings.from_configuration(settings.as_configuration()) == settings
    assert settings.replenishment.replenishment_cycles.cycle_for("7", None, "12") == CycleRange(
        20, 40
    )
    assert settings.winback.policy.steps == (WinbackStep(7, "5"), WinbackStep(21, "10%"))
    coupon = settings.replenishment.incentive
    assert coupon is not None
    assert (coupon.kind, coupon.value, coupon.valid_days) == (
        DiscountKind.PERCENTAGE,
        Decimal(15),
        10,
    )


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"replenishment_cycles": "category:12 = 0"}, "replenishment_cycles"),
        ({"replenishment_cycles": "category:12 = 60-30"}, "replenishment_cycles"),
        ({"replenishment_cycles": "category:12 = shoes"}, "replenishment_cycles"),
        ({"replenishment_cycles": "category:x = beauty"}, "replenishment_cycles"),
        ({"replenishment_lead_days": "-1"}, "replenishment_lead_days"),
        ({"replenishment_enabled": "true"}, "product_url_template"),
        ({"product_url_template": "https://tea.example/p"}, "product_url_template"),
        ({"winback_default_days": "0"}, "winback_default_days"),
        ({"winback_dormancy_factor": "0.5"}, "winback_dormancy_factor"),
        ({"winback_step_days": "14, 7"}, "winback_step_days"),
        ({"winback_step_days": "0, 1, 2, 3, 4, 5"}, "winback_step_days"),
        ({"winback_step_discounts": "10%"}, "winback_step_discounts"),
        ({"winback_perk": ""}, "winback_perk"),
        ({"winback_others_get": "cash"}, "winback_others_get"),
        ({"recommendations_min_support": "0"}, "recommendations_min_support"),
        ({"replenishment_coupon_discount": "ten"}, "replenishment_coupon_discount"),
        ({"replenishment_coupon_discount": "150%"}, "replenishment_coupon_discount"),
        ({"replenishment_coupon_valid_days": "0"}, "replenishment_coupon_valid_days"),
        ({"replenishment_coupon_valid_days": "400"}, "replenishment_coupon_valid_days"),
    ],
)
def test_bad_values_are_refused_with_a_field_error(values, field):
    with pytest.raises(InvalidConfiguration) as refused:
        ChannelSettings.from_configuration(values)

    assert field in refused.value.errors


def test_leniently_read_mismatched_discounts_offer_no_discount_rather_than_a_wrong_one():
    settings = ChannelSettings.from_configuration(
        {"winback_step_days": "0, 14", "winback_step_discounts": "10%, 15%, 20%"}, strict=False
    )

    assert [step.discount for step in settings.winback.policy.steps] == ["", ""]
