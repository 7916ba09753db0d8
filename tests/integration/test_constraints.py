"""The database itself refuses what must never happen to the ledger."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from saleor_retention_plugin.models import LoyaltyAccount, PointsEntry, PointsLot

pytestmark = pytest.mark.django_db


@pytest.fixture
def account() -> LoyaltyAccount:
    return LoyaltyAccount.objects.create(channel_slug="default-channel", customer_id=1)


def entry(account: LoyaltyAccount, **values) -> PointsEntry:
    fields = {"kind": "earn", "points": 10, "idempotency_key": "k", "created_at": timezone.now()}
    fields.update(values)
    return PointsEntry.objects.create(account=account, **fields)


def rejected(create) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        create()


def test_the_same_idempotency_key_can_never_be_written_twice(account):
    entry(account, idempotency_key="order:1:earn")

    rejected(lambda: entry(account, idempotency_key="order:1:earn", points=5))


@pytest.mark.parametrize(
    ("kind", "points", "written_off"),
    [
        ("adjust", 0, 0),  # changes nothing
        ("earn", 0, 0),
        ("earn", -5, 0),
        ("redeem", 5, 0),
        ("expire", 5, 0),
        ("reverse", 5, 0),
        ("reverse", -5, -1),
    ],
)
def test_entries_that_change_nothing_or_have_the_wrong_sign_are_rejected(
    account, kind, points, written_off
):
    rejected(lambda: entry(account, kind=kind, points=points, written_off=written_off))


def test_a_take_back_that_only_writes_off_is_allowed(account):
    entry(account, kind="reverse", points=0, written_off=20)


def test_a_lot_can_never_go_below_zero_or_above_its_points(account):
    lot = PointsLot.objects.create(
        account=account,
        entry=entry(account),
        points=10,
        remaining=10,
        available_at=timezone.now(),
    )

    rejected(lambda: PointsLot.objects.filter(pk=lot.pk).update(remaining=-1))
    rejected(lambda: PointsLot.objects.filter(pk=lot.pk).update(remaining=11))


def test_a_lot_must_hold_points(account):
    rejected(
        lambda: PointsLot.objects.create(
            account=account,
            entry=entry(account),
            points=0,
            remaining=0,
            available_at=timezone.now(),
        )
    )


def test_one_account_per_customer_and_channel(account):
    rejected(lambda: LoyaltyAccount.objects.create(channel_slug="default-channel", customer_id=1))
    LoyaltyAccount.objects.create(channel_slug="other-channel", customer_id=1)


def test_one_open_guest_account_per_email_and_channel():
    LoyaltyAccount.objects.create(channel_slug="default-channel", email="g@example.com")

    rejected(
        lambda: LoyaltyAccount.objects.create(channel_slug="default-channel", email="g@example.com")
    )


def test_an_account_without_owner_must_be_anonymised():
    rejected(lambda: LoyaltyAccount.objects.create(channel_slug="default-channel"))


def test_ledger_rows_cannot_be_deleted_with_their_account(account):
    entry(account)

    from django.db.models import ProtectedError

    with pytest.raises(ProtectedError):
        account.delete()
