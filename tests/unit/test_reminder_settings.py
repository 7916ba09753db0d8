"""Merchants tune the cart series in the plugin settings; bad values get readable errors."""

from datetime import time, timedelta
from decimal import Decimal
from typing import Any

import pytest

from saleor_retention_plugin.conf import ChannelSettings, InvalidConfiguration
from saleor_retention_plugin.domain.schedules import DiscountKind


def test_defaults_are_the_seeded_best_practice():
    reminders = ChannelSettings.from_configuration({}).reminders
    assert reminders.cart_reminders_enabled is False
    assert reminders.abandonment_threshold == timedelta(minutes=60)
    assert [step.delay for step in reminders.series.steps] == [
        timedelta(hours=1),
        timedelta(hours=24),
        timedelta(hours=72),
    ]
    assert getattr(reminders.series.steps[1].incentive, "kind", None) is DiscountKind.PERCENTAGE
    messaging = ChannelSettings.from_configuration({}).messaging
    assert messaging.frequency_cap.window == timedelta(hours=16)
    assert (messaging.quiet_hours.start, messaging.quiet_hours.end) == (time(21), time(8))
    assert messaging.holdout_percent == Decimal(10)
    assert messaging.attribution_window == timedelta(days=7)


def test_a_configuration_stored_before_the_messaging_section_still_works():
    """Saved with the cart-named holdout field: it is read as the shared one."""
    stored: list[dict[str, Any]] = [
        {"name": "cart_reminders_enabled", "value": True},
        {"name": "checkout_url_template", "value": "https://shop.example/c?token={token}"},
        {"name": "cart_holdout_percent", "value": "25"},
        {"name": "frequency_cap_hours", "value": "4"},
        {"name": "quiet_hours_start", "value": "22:00"},
        {"name": "attribution_window_days", "value": "3"},
    ]
    settings = ChannelSettings.from_configuration(stored)
    assert settings.messaging.holdout_percent == Decimal(25)
    assert settings.messaging.frequency_cap.window == timedelta(hours=4)
    assert settings.messaging.quiet_hours.start == time(22)
    assert settings.messaging.attribution_window == timedelta(days=3)
    # Saved again, it is written under the new name only, which the dashboard shows.
    again = settings.as_configuration()
    assert again["holdout_percent"] == "25"
    assert "cart_holdout_percent" not in again
    # The new name wins when a configuration has both.
    both = ChannelSettings.from_configuration(
        {"cart_holdout_percent": "25", "holdout_percent": "5"}
    )
    assert both.messaging.holdout_percent == Decimal(5)


def test_old_names_are_renamed_before_saleor_drops_the_keys_it_no_longer_lists():
    from saleor_retention_plugin.conf import config_structure, with_current_names

    stored = [{"name": "cart_holdout_percent", "value": "25"}, {"name": "smtp_port", "value": "25"}]
    current = with_current_names(stored)
    assert current == [
        {"name": "holdout_percent", "value": "25"},
        {"name": "smtp_port", "value": "25"},
    ]
    assert {item["name"] for item in current} <= set(config_structure())
    both = [
        {"name": "holdout_percent", "value": "5"},
        {"name": "cart_holdout_percent", "value": "25"},
    ]
    assert with_current_names(both) == [{"name": "holdout_percent", "value": "5"}]


def test_a_bad_value_under_the_old_name_is_reported_on_the_field_the_dashboard_shows():
    with pytest.raises(InvalidConfiguration) as error:
        ChannelSettings.from_configuration({"cart_holdout_percent": "80"})
    assert "between 0 and 50" in error.value.errors["holdout_percent"]


def test_settings_round_trip_through_the_dashboard_format():
    settings = ChannelSettings.from_configuration(
        {
            "cart_reminder_delays_hours": "0.5; 12, 48",
            "cart_incentive_discount": "5",
            "quiet_hours_start": "22:30",
            "cart_incentive_step": "3",
        }
    )
    assert ChannelSettings.from_configuration(settings.as_configuration()) == settings
    assert getattr(settings.reminders.series.steps[2].incentive, "kind", None) is DiscountKind.FIXED
    assert settings.reminders.series.steps[0].delay == timedelta(minutes=30)


def test_no_coupon_when_the_incentive_step_is_zero():
    reminders = ChannelSettings.from_configuration({"cart_incentive_step": "0"}).reminders
    assert all(step.incentive is None for step in reminders.series.steps)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("cart_reminder_delays_hours", "24, 1", "later than the one before"),
        ("cart_reminder_delays_hours", "1, 1", "later than the one before"),
        ("cart_reminder_delays_hours", "soon", "numbers separated by commas"),
        ("cart_reminder_delays_hours", "1,2,3,4,5,6", "at most 5 steps"),
        ("cart_reminder_delays_hours", "0", "more than 0"),
        ("cart_incentive_step", "4", "only 3 reminders"),
        ("cart_incentive_discount", "150%", "at most 100%"),
        ("cart_incentive_discount", "free", "such as 10%"),
        ("cart_abandoned_after_minutes", "0", "at least 1"),
        ("quiet_hours_start", "9pm", "HH:MM"),
        ("holdout_percent", "80", "between 0 and 50"),
        ("frequency_cap_hours", "-1", "zero or more"),
        ("cart_reminders_bypass_cap", "maybe", "true or false"),
    ],
)
def test_bad_values_are_refused_with_a_message_for_that_field(field, value, message):
    with pytest.raises(InvalidConfiguration) as error:
        ChannelSettings.from_configuration({field: value})
    assert message in error.value.errors[field]
