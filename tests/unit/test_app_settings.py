"""The Django-wide ``RETENTION_*`` settings are read through one object, ``app_settings``."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from saleor_retention_plugin import app_settings
from saleor_retention_plugin.services.incentives import PlainCodeIssuer

PACKAGE = Path(app_settings.__file__).parent


def test_durations_have_their_documented_defaults(settings):
    for name in (
        "RETENTION_DELIVERY_RETRY_HOURS",
        "RETENTION_CLAIM_LEASE_SECONDS",
        "RETENTION_CLAIM_PATIENCE_SECONDS",
    ):
        if hasattr(settings, name):
            delattr(settings, name)

    read = (
        app_settings.DELIVERY_RETRY_WINDOW,
        app_settings.CLAIM_LEASE,
        app_settings.CLAIM_PATIENCE,
    )
    assert read == (timedelta(hours=48), timedelta(seconds=60), timedelta(minutes=5))


def test_a_setting_changed_later_is_read_as_changed(settings):
    settings.RETENTION_CLAIM_LEASE_SECONDS = 10
    settings.RETENTION_DELIVERY_RETRY_HOURS = "1.5"

    read = (app_settings.CLAIM_LEASE, app_settings.DELIVERY_RETRY_WINDOW)
    assert read == (timedelta(seconds=10), timedelta(minutes=90))


def test_without_saleor_the_seams_fall_back_to_what_runs_anywhere(settings):
    settings.RETENTION_COUPON_ISSUER = None
    settings.RETENTION_CART_CONTENTS_LOADER = None

    assert not app_settings.SALEOR_INSTALLED
    assert app_settings.coupon_issuer_class is PlainCodeIssuer
    assert app_settings.cart_contents_loader is None


def test_a_dotted_path_names_its_object_and_a_callable_is_taken_as_it_is(settings):
    from saleor_retention_plugin.graphql.users import user_exists

    settings.RETENTION_USER_EXISTS = "saleor_retention_plugin.graphql.users.user_exists"
    assert app_settings.user_exists is user_exists

    settings.RETENTION_USER_EXISTS = len
    assert app_settings.user_exists is len


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError):
        _ = app_settings.NO_SUCH_SETTING


@pytest.mark.parametrize(
    "pattern",
    [r"getattr\(\s*\w*settings,\s*\"RETENTION_", r"is_installed\(\"saleor"],
    ids=["RETENTION_ settings", "is Saleor installed"],
)
def test_only_app_settings_reads_the_seams(pattern):
    readers = sorted(
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if path.name != "app_settings.py" and re.search(pattern, path.read_text())
    )

    assert readers == []
