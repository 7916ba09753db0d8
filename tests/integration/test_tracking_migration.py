"""Migration 0030: the click and open tables, forwards and back, with their constraints."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction

from .migration_steps import APP, migrate, migrated_to

BEFORE = [(APP, "0026_summary_triggers_plan_per_call")]
AFTER = [(APP, "0030_message_clicks_and_opens")]
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def tables():
    with connection.cursor() as cursor:
        return set(connection.introspection.table_names(cursor))


def test_the_tables_come_and_go_and_the_outbox_is_untouched(transactional_db):
    with migrated_to(BEFORE) as apps:
        assert "saleor_retention_plugin_messageclick" not in tables()
        assert "saleor_retention_plugin_messageopen" not in tables()
        message = apps.get_model(APP, "FlowMessage").objects.create(
            flow="welcome", subject_key="enrolment:1", step=1, channel_slug="tea",
            state="sent", sent_at=T0, idempotency_key="retention:welcome:enrolment:1:1",
        )  # fmt: skip
        after = migrate(AFTER)
        Click = after.get_model(APP, "MessageClick")
        Open = after.get_model(APP, "MessageOpen")
        Click.objects.create(
            message_id=message.pk, link_kind="shop", target="https://tea.example/",
            target_digest="0" * 64, first_clicked_at=T0, last_clicked_at=T0,
        )  # fmt: skip
        Open.objects.create(message_id=message.pk, source="pixel", opened_at=T0)
        bad: dict[str, Any]
        for bad in (
            {"link_kind": "banner"},
            {"click_count": 0},
            {"last_clicked_at": T0 - timedelta(seconds=1)},
            {},  # the same link of the same message twice
        ):
            values = {
                "message_id": message.pk, "link_kind": "shop", "target": "https://tea.example/",
                "target_digest": "0" * 64, "first_clicked_at": T0, "last_clicked_at": T0,
                **bad,
            }  # fmt: skip
            with pytest.raises(IntegrityError), transaction.atomic():
                Click.objects.create(**values)
        with pytest.raises(IntegrityError), transaction.atomic():
            Open.objects.create(message_id=message.pk + 1000, source="pixel", opened_at=T0)
        Open.objects.all().delete()
        for bad in ({"source": "guess", "opened_at": T0}, {"source": "webhook"}):
            with pytest.raises(IntegrityError), transaction.atomic():
                Open.objects.create(message_id=message.pk, **bad)

        migrate(BEFORE)  # and back: the tables go, the message stays
        assert "saleor_retention_plugin_messageclick" not in tables()
        assert apps.get_model(APP, "FlowMessage").objects.filter(pk=message.pk).exists()
    assert "saleor_retention_plugin_messageclick" in tables()
