"""Does a customer id name a real user of the shop?

Staff may create an account (``loyaltyPointsAdjust`` by ``userId``) or a birthday for a
customer who has none yet; a guessed ``User:<n>`` must not conjure one for nobody. The
plugin has no foreign keys into the host's tables, so it asks the host:

- the ``RETENTION_USER_EXISTS`` setting, a callable ``(customer_id) -> bool`` or its
  dotted path, decides when set (hosts with their own user directory);
- inside Saleor, Saleor's ``account.User`` table;
- when Django's own ``auth.User`` is the user model, that table;
- otherwise (a host this package cannot see into) every id is accepted.
"""

from __future__ import annotations

from collections.abc import Callable

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model

from .. import app_settings

UserExists = Callable[[int], bool]

SALEOR_USER_EXISTS = app_settings.SALEOR_USER_EXISTS


def user_exists(customer_id: int) -> bool:
    return bool(user_exists_check()(customer_id))


def user_exists_check() -> UserExists:
    configured = app_settings.user_exists  # RETENTION_USER_EXISTS, else Saleor's
    if configured is not None:
        return configured
    if settings.AUTH_USER_MODEL == "auth.User" and apps.is_installed("django.contrib.auth"):
        return _auth_user_exists
    return _any_user_exists


def _auth_user_exists(customer_id: int) -> bool:
    return get_user_model()._default_manager.filter(pk=customer_id).exists()


def _any_user_exists(customer_id: int) -> bool:
    return True
