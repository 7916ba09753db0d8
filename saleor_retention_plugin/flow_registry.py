"""Which flows this process knows: registered when Django is ready, in every process.

The periodic sweep asks every registered flow for its due messages, and a worker can
only deliver a message whose flow it knows; registering at app ready (rather than when
a module happens to be imported) makes web processes, beat and every worker agree.
A project adds its own flows with ``RETENTION_EXTRA_FLOWS``: dotted paths to flow
classes (instantiated without arguments) or instances.
"""

from __future__ import annotations

from django.utils.module_loading import import_string

from . import app_settings

BUILTIN_FLOWS = (
    "saleor_retention_plugin.services.cart_reminders.CartReminderFlow",
    "saleor_retention_plugin.services.lifecycle_flows.WelcomeFlow",
    "saleor_retention_plugin.services.lifecycle_flows.PointsExpiringFlow",
    "saleor_retention_plugin.services.lifecycle_flows.TierUpgradeFlow",
    "saleor_retention_plugin.services.campaign_flow.CampaignFlow",
    "saleor_retention_plugin.services.repurchase_flows.ReplenishmentFlow",
    "saleor_retention_plugin.services.repurchase_flows.WinbackFlow",
    "saleor_retention_plugin.services.care_flows.CareFlow",
    "saleor_retention_plugin.services.care_flows.BirthdayFlow",
    "saleor_retention_plugin.services.care_flows.MemberDayFlow",
)


def register_flows() -> None:
    from .services.flows import register_flow

    for flow in (*map(import_string, BUILTIN_FLOWS), *app_settings.extra_flows):
        register_flow(flow() if isinstance(flow, type) else flow)
