"""A broker outage never turns a saved change into an error.

Staff edits and tier changes commit first and enqueue follow-up work after commit; when
the broker is down the follow-up is logged and skipped (the nightly re-evaluation and the
next ledger change catch up), and the caller is told what really happened: it was saved.
The broker is the outside boundary here, so its ``delay`` is replaced by one that fails.
"""

from __future__ import annotations

import logging

import pytest

from saleor_retention_plugin import metadata_display
from saleor_retention_plugin.conf import MembershipSettings
from saleor_retention_plugin.graphql.ids import to_global_id
from saleor_retention_plugin.models import MembershipTier, TierChange
from saleor_retention_plugin.services import ledger, tiers
from saleor_retention_plugin.tasks import reevaluate_tiers_task

# Real commits: on-commit work runs when the change commits, as in production.
pytestmark = pytest.mark.django_db(transaction=True)

UPDATE_TIER = """
mutation Update($id: ID!, $input: MembershipTierInput!) {
  membershipTierUpdate(id: $id, input: $input) {
    errors { field code message }
    tier { thresholdValue }
  }
}
"""


@pytest.fixture
def broker_down(monkeypatch, caplog):
    """``broker_down(task)``: sending ``task`` fails as with an unreachable broker."""
    caplog.set_level(logging.ERROR, logger="saleor_retention_plugin.enqueue")

    def make(task):
        def unreachable(*args, **kwargs):
            raise ConnectionError("broker unreachable")

        monkeypatch.setattr(task, "delay", unreachable)

    return make


def test_a_threshold_change_is_saved_and_reported_when_the_broker_is_down(
    loyalty_api, staff_token, broker_down, caplog
):
    gold = next(t for t in tiers.seed_default_tiers("main") if t.code == "gold")
    broker_down(reevaluate_tiers_task)

    payload = loyalty_api.post(
        UPDATE_TIER,
        {"id": to_global_id("MembershipTier", gold.pk), "input": {"thresholdValue": "25000"}},
        token=staff_token().token,
    ).data["membershipTierUpdate"]

    assert payload == {"errors": [], "tier": {"thresholdValue": "25000.00"}}
    assert MembershipTier.objects.get(pk=gold.pk).threshold_value == 25000
    assert "broker unreachable" in caplog.text


def test_a_tier_change_is_kept_when_the_metadata_mirror_cannot_be_enqueued(
    monkeypatch, broker_down, caplog
):
    monkeypatch.setattr(metadata_display, "mirror_enabled", lambda: True)
    broker_down(metadata_display.copy_loyalty_to_metadata_task)
    tiers.seed_default_tiers("main")
    account = ledger.account_for("main", 1, "li.na@example.com")

    change = tiers.evaluate_account(account.pk, settings=MembershipSettings())

    assert change is not None
    assert TierChange.objects.filter(account=account).count() == 1
    assert "broker unreachable" in caplog.text
