"""The periodic lifecycle refresh plans only the flows a channel switched on."""

from __future__ import annotations

import pytest

from saleor_retention_plugin.conf import ChannelSettings
from saleor_retention_plugin.models import (
    CoPurchasePair,
    LifecycleRefreshState,
    ReplenishmentDue,
    WinbackDue,
)
from saleor_retention_plugin.schedule import PERIODIC_TASKS
from saleor_retention_plugin.tasks import refresh_lifecycle_task

from .factories import CHANNEL, line, order, record

pytestmark = pytest.mark.django_db

SWITCHED: dict[str, ChannelSettings] = {}


def load_channel_settings(channel_slug):
    return SWITCHED.get(channel_slug)


@pytest.fixture
def shop(settings):
    settings.RETENTION_CHANNEL_SETTINGS_LOADER = (
        "tests.integration.lifecycle.test_refresh_task.load_channel_settings"
    )
    record(
        *(order(c, at, line("101"), line("102")) for c in (1, 2, 3) for at in (0, 30, 60)),
    )
    yield
    SWITCHED.clear()


def test_a_channel_with_the_flows_off_keeps_only_co_purchase_pairs(shop):
    counts = refresh_lifecycle_task.apply().get()

    assert counts == {CHANNEL: {"co_purchase_pairs": 2}}
    assert not ReplenishmentDue.objects.exists()
    assert not WinbackDue.objects.exists()
    assert CoPurchasePair.objects.count() == 2


def test_switched_on_flows_are_planned_and_switching_off_forgets_them(shop):
    SWITCHED[CHANNEL] = ChannelSettings.from_configuration(
        {
            "replenishment_enabled": "true",
            "product_url_template": "https://tea.example/p/{product_id}",
            "winback_enabled": "true",
        }
    )

    counts = refresh_lifecycle_task.apply(kwargs={"channel_slug": CHANNEL}).get()

    # Three customers, two products each, three orders 30 days apart.
    assert counts == {CHANNEL: {"replenishment": 6, "winback": 3, "co_purchase_pairs": 2}}
    SWITCHED[CHANNEL] = ChannelSettings()
    refresh_lifecycle_task.apply().get()
    assert not ReplenishmentDue.objects.exists()
    assert not WinbackDue.objects.exists()
    entry = PERIODIC_TASKS["saleor-retention-refresh-lifecycle"]
    assert entry["task"] == refresh_lifecycle_task.name


def test_the_task_refreshes_incrementally_and_rebuilds_on_request(shop):
    SWITCHED[CHANNEL] = ChannelSettings.from_configuration(
        {
            "replenishment_enabled": "true",
            "product_url_template": "https://tea.example/p/{product_id}",
            "winback_enabled": "true",
        }
    )
    refresh_lifecycle_task.apply(kwargs={"channel_slug": CHANNEL}).get()
    first = dict(LifecycleRefreshState.objects.values_list("flow", "rebuilt_at"))

    # Nothing changed, but the orders were recorded within the watermark's overlap: the
    # incremental refresh re-plans them (idempotently) without a rebuild.
    quiet = refresh_lifecycle_task.apply(kwargs={"channel_slug": CHANNEL}).get()
    again = dict(LifecycleRefreshState.objects.values_list("flow", "rebuilt_at"))
    rebuilt = refresh_lifecycle_task.apply(kwargs={"channel_slug": CHANNEL, "rebuild": True}).get()
    last = dict(LifecycleRefreshState.objects.values_list("flow", "rebuilt_at"))

    assert set(first) == {"replenishment", "winback"}
    assert again == first
    assert all(last[flow] > first[flow] for flow in first)
    assert quiet[CHANNEL]["replenishment"] == 6
    assert rebuilt == {CHANNEL: {"replenishment": 6, "winback": 3, "co_purchase_pairs": 2}}
    assert ReplenishmentDue.objects.count() == 6


def test_a_refresh_that_plans_rows_reopens_the_repurchase_scans(shop):
    from datetime import UTC, datetime

    from saleor_retention_plugin.services import scan_gates
    from saleor_retention_plugin.services.repurchase_flows import ReplenishmentFlow

    flow = ReplenishmentFlow()
    now = datetime(2026, 6, 1, tzinfo=UTC)
    ticket = scan_gates.take(flow, now)
    assert ticket is not None
    scan_gates.record(flow, ticket, now)
    assert scan_gates.take(flow, now) is None  # closed: nothing changed
    refresh_lifecycle_task.apply().get()  # flows off: nothing planned, the gate stays
    assert scan_gates.take(flow, now) is None
    SWITCHED[CHANNEL] = ChannelSettings.from_configuration(
        {
            "replenishment_enabled": "true",
            "product_url_template": "https://tea.example/p/{product_id}",
        }
    )
    refresh_lifecycle_task.apply(kwargs={"channel_slug": CHANNEL}).get()
    assert ReplenishmentDue.objects.exists()
    assert scan_gates.take(flow, now) is not None  # the next sweep scans
