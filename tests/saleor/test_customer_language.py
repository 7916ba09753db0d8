"""Replenishment and win-back speak the language of the customer's Saleor profile."""

from __future__ import annotations

import pytest
from django.utils import timezone

from saleor_retention_plugin.services.due_rows import DueSubject
from saleor_retention_plugin.services.repurchase_flows import customer_languages

pytestmark = pytest.mark.django_db


def due(customer_id, email):
    now = timezone.now()
    return DueSubject(
        flow="winback",
        subject_kind="customer",
        subject_key=f"customer:{customer_id}",
        channel_slug="default-channel",
        customer_key=f"customer:{customer_id}",
        customer_id=customer_id,
        email=email,
        anchor_at=now,
        due_at=now,
        cycle=1,
    )


def test_the_language_comes_from_the_saleor_profile(customer_user):
    customer_user.language_code = "zh-hans"
    customer_user.save(update_fields=["language_code"])

    languages = customer_languages(
        "default-channel", [due(customer_user.pk, customer_user.email), due(987654, None)]
    )

    assert languages == {f"customer:{customer_user.pk}": "zh-hans"}
