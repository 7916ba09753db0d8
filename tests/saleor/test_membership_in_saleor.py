"""Periodic membership work reads each channel's plugin configuration from Saleor."""

from __future__ import annotations

from saleor_retention_plugin.services import ledger, tiers
from saleor_retention_plugin.tasks import (
    channel_is_active,
    channel_settings,
    reevaluate_tiers_task,
)


def test_periodic_tasks_use_the_configuration_saved_in_the_dashboard(
    enable_retention_plugin, channel_USD
):
    enable_retention_plugin(tier_downgrade_grace_days=7, refund_expired_reward_codes=False)
    settings = channel_settings(channel_USD.slug)
    assert settings.membership.tier_downgrade_grace_days == 7
    assert settings.membership.refund_expired_reward_codes is False
    assert channel_is_active(channel_USD.slug)


def test_a_channel_without_configuration_uses_the_defaults(channel_USD):
    assert channel_settings(channel_USD.slug).membership.tier_downgrade_grace_days == 30


def test_a_switched_off_channel_keeps_its_tiers_untouched(
    enable_retention_plugin, channel_USD, customer_user
):
    enable_retention_plugin(active=False)
    tiers.seed_default_tiers(channel_USD.slug)
    ledger.account_for(channel_USD.slug, customer_user.pk, customer_user.email)
    assert not channel_is_active(channel_USD.slug)
    assert reevaluate_tiers_task.delay().get() == {}

    enable_retention_plugin(active=True)
    reports = reevaluate_tiers_task.delay().get()
    assert reports[channel_USD.slug]["evaluated"] == 1
    assert reports[channel_USD.slug]["upgraded"] == 1  # joined the entry tier
