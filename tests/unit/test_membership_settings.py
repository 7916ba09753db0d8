"""Membership settings as a merchant types them in Saleor's dashboard."""

import pytest

from saleor_retention_plugin.conf import (
    ChannelSettings,
    InvalidConfiguration,
    MembershipSettings,
    TierBasis,
    config_structure,
    default_configuration,
)


def test_defaults_are_a_rolling_year_of_points_with_a_month_of_grace():
    membership = ChannelSettings.from_configuration({}).membership
    assert membership == MembershipSettings(
        tier_basis=TierBasis.POINTS_EARNED,
        tier_window_months=12,
        tier_downgrade_grace_days=30,
        reward_code_validity_days=30,
        refund_expired_reward_codes=True,
    )


def test_the_dashboard_shows_every_membership_field_with_a_label_and_help():
    structure = config_structure()
    for name in (
        "tier_basis",
        "tier_window_months",
        "tier_downgrade_grace_days",
        "reward_code_validity_days",
        "refund_expired_reward_codes",
    ):
        assert structure[name]["label"]
        assert len(structure[name]["help_text"]) > 40
    assert structure["refund_expired_reward_codes"]["type"] == "Boolean"
    defaults = {item["name"]: item["value"] for item in default_configuration()}
    assert defaults["refund_expired_reward_codes"] is True


def test_settings_survive_a_round_trip_through_saleors_string_values():
    settings = ChannelSettings.from_configuration(
        {
            "tier_basis": "amount_spent",
            "tier_window_months": "0",
            "tier_downgrade_grace_days": "7",
            "reward_code_validity_days": "90",
            "refund_expired_reward_codes": "false",
        }
    )
    assert settings.membership.tier_basis is TierBasis.AMOUNT_SPENT
    assert settings.membership.tier_window_months == 0
    assert not settings.membership.refund_expired_reward_codes
    assert ChannelSettings.from_configuration(settings.as_configuration()) == settings


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("tier_basis", "visits", "Choose one of"),
        ("tier_window_months", "-1", "zero or more"),
        ("tier_window_months", "twelve", "whole number"),
        ("tier_window_months", "121", "at most 120"),
        ("tier_downgrade_grace_days", "1.5", "whole number"),
        ("reward_code_validity_days", "0", "at least 1"),
        ("reward_code_validity_days", "99999", "at most 3650"),
        ("refund_expired_reward_codes", "maybe", "true or false"),
    ],
)
def test_bad_values_name_the_field_and_say_what_to_enter(name, value, message):
    with pytest.raises(InvalidConfiguration) as error:
        ChannelSettings.from_configuration({name: value})
    assert list(error.value.errors) == [name]
    assert message in error.value.errors[name]
    lenient = ChannelSettings.from_configuration({name: value}, strict=False)
    assert lenient.membership == MembershipSettings()
