"""The Django-wide ``RETENTION_*`` settings (the seams), read in one place.

django-allauth's ``AppSettings`` pattern: one object whose properties read Django's
settings on each access (so ``override_settings`` works in tests), and a module
``__getattr__`` (PEP 562), so callers write::

    from saleor_retention_plugin import app_settings
    app_settings.CLAIM_LEASE          # a timedelta
    app_settings.coupon_issuer_class  # the class RETENTION_COUPON_ISSUER names

A dotted path is imported once per path (``_imported``). Whether Saleor is installed is
asked in one place, ``SALEOR_INSTALLED``: every default that reads Saleor follows it.
Per-channel plugin configuration is another thing: ``conf.py``.

| Django setting | default |
|---|---|
| ``RETENTION_CHANNEL_SETTINGS_LOADER`` | Saleor's plugin rows; else none (defaults) |
| ``RETENTION_CART_CONTENTS_LOADER`` | Saleor's checkouts; else the stored snapshot |
| ``RETENTION_CUSTOMER_ORDER_CHECK`` | Saleor's orders; else "no order" |
| ``RETENTION_COUPON_ISSUER`` | Saleor vouchers; else plain codes |
| ``RETENTION_USER_EXISTS`` | Saleor's users; else Django's auth users; else any id |
| ``RETENTION_GRAPHQL_REQUESTOR_RESOLVER`` | Saleor's tokens (``integrations.saleor.auth``) |
| ``RETENTION_EXTRA_FLOWS`` | none |
| ``RETENTION_PRODUCT_CATALOGUE`` | Saleor's product listings; else recently sold |
| ``RETENTION_DELIVERY_RETRY_HOURS`` | 48 hours |
| ``RETENTION_CLAIM_LEASE_SECONDS`` | 60 seconds |
| ``RETENTION_CLAIM_PATIENCE_SECONDS`` | 5 minutes |
| ``RETENTION_REPURCHASE_SCAN_MINUTES`` | 60 minutes |
"""

from __future__ import annotations

import functools
from datetime import timedelta
from typing import Any

from django.utils.module_loading import import_string

PREFIX = "RETENTION_"

SALEOR_SETTINGS_LOADER = (
    "saleor_retention_plugin.integrations.saleor.configuration.load_channel_settings"
)
SALEOR_CART_LOADER = "saleor_retention_plugin.integrations.saleor.checkouts.load_cart_contents"
SALEOR_ORDER_CHECK = "saleor_retention_plugin.integrations.saleor.checkouts.customer_ordered_since"
SALEOR_VOUCHER_ISSUER = "saleor_retention_plugin.integrations.saleor.vouchers.SaleorCouponIssuer"
PLAIN_CODE_ISSUER = "saleor_retention_plugin.services.incentives.PlainCodeIssuer"
SALEOR_USER_EXISTS = "saleor_retention_plugin.integrations.saleor.users.saleor_user_exists"
SALEOR_CATALOGUE = "saleor_retention_plugin.integrations.saleor.catalogue.SaleorCatalogue"
RECENTLY_SOLD = "saleor_retention_plugin.services.recommendations.RecentlySold"
DEFAULT_REQUESTOR_RESOLVER = (
    "saleor_retention_plugin.integrations.saleor.auth.resolve_saleor_requestor"
)

DEFAULT_RETRY_WINDOW = timedelta(hours=48)
DEFAULT_CLAIM_LEASE = timedelta(seconds=60)
DEFAULT_CLAIM_PATIENCE = timedelta(minutes=5)
DEFAULT_REPURCHASE_SCAN_EVERY = timedelta(hours=1)


@functools.lru_cache(maxsize=64)
def _imported(path: str) -> Any:
    return import_string(path)


def _resolve(value: Any) -> Any:
    """A dotted path imported (once), or the object itself when it is already one."""
    return _imported(value) if isinstance(value, str) else value


class AppSettings:
    """Typed access to the ``RETENTION_*`` Django settings; see the module docstring."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def _setting(self, name: str, default: Any = None) -> Any:
        from django.conf import settings

        return getattr(settings, self.prefix + name, default)

    @property
    def SALEOR_INSTALLED(self) -> bool:
        """Whether this runs inside Saleor (its apps are installed)."""
        from django.apps import apps

        return apps.is_installed("saleor.plugins")

    def _saleor_default(self, name: str, saleor_path: str) -> str | None:
        configured = self._setting(name)
        if configured is None and self.SALEOR_INSTALLED:
            return saleor_path
        return configured

    @property
    def CHANNEL_SETTINGS_LOADER(self) -> str | None:
        return self._saleor_default("CHANNEL_SETTINGS_LOADER", SALEOR_SETTINGS_LOADER)

    @property
    def CART_CONTENTS_LOADER(self) -> str | None:
        return self._saleor_default("CART_CONTENTS_LOADER", SALEOR_CART_LOADER)

    @property
    def CUSTOMER_ORDER_CHECK(self) -> str | None:
        return self._saleor_default("CUSTOMER_ORDER_CHECK", SALEOR_ORDER_CHECK)

    @property
    def COUPON_ISSUER(self) -> str:
        return self._saleor_default("COUPON_ISSUER", SALEOR_VOUCHER_ISSUER) or PLAIN_CODE_ISSUER

    @property
    def USER_EXISTS(self) -> Any:
        """A dotted path or a callable ``(customer_id) -> bool``; None: the default."""
        return self._saleor_default("USER_EXISTS", SALEOR_USER_EXISTS)

    @property
    def PRODUCT_CATALOGUE(self) -> str:
        """A class with ``sold(channel, product_ids, now) -> set``, by dotted path."""
        return self._saleor_default("PRODUCT_CATALOGUE", SALEOR_CATALOGUE) or RECENTLY_SOLD

    @property
    def GRAPHQL_REQUESTOR_RESOLVER(self) -> Any:
        return self._setting("GRAPHQL_REQUESTOR_RESOLVER", DEFAULT_REQUESTOR_RESOLVER)

    @property
    def EXTRA_FLOWS(self) -> tuple[Any, ...]:
        return tuple(self._setting("EXTRA_FLOWS", ()))

    @property
    def DELIVERY_RETRY_WINDOW(self) -> timedelta:
        """``RETENTION_DELIVERY_RETRY_HOURS`` as a duration."""
        hours = self._setting("DELIVERY_RETRY_HOURS")
        return DEFAULT_RETRY_WINDOW if hours is None else timedelta(hours=float(hours))

    @property
    def CLAIM_LEASE(self) -> timedelta:
        """``RETENTION_CLAIM_LEASE_SECONDS`` as a duration."""
        seconds = self._setting("CLAIM_LEASE_SECONDS")
        return DEFAULT_CLAIM_LEASE if seconds is None else timedelta(seconds=float(seconds))

    @property
    def CLAIM_PATIENCE(self) -> timedelta:
        """``RETENTION_CLAIM_PATIENCE_SECONDS`` as a duration."""
        seconds = self._setting("CLAIM_PATIENCE_SECONDS")
        return DEFAULT_CLAIM_PATIENCE if seconds is None else timedelta(seconds=float(seconds))

    @property
    def REPURCHASE_SCAN_EVERY(self) -> timedelta:
        """``RETENTION_REPURCHASE_SCAN_MINUTES`` as a duration.

        How often replenishment and win-back scan a channel's due rows (the sandbox: once
        a simulated day).
        """
        minutes = self._setting("REPURCHASE_SCAN_MINUTES")
        return (
            DEFAULT_REPURCHASE_SCAN_EVERY if minutes is None else timedelta(minutes=float(minutes))
        )

    # The seams resolved: the objects the dotted paths name (None: no such seam here).

    @property
    def channel_settings_loader(self) -> Any:
        path = self.CHANNEL_SETTINGS_LOADER
        return None if path is None else _resolve(path)

    @property
    def cart_contents_loader(self) -> Any:
        path = self.CART_CONTENTS_LOADER
        return None if path is None else _resolve(path)

    @property
    def customer_order_check(self) -> Any:
        path = self.CUSTOMER_ORDER_CHECK
        return None if path is None else _resolve(path)

    @property
    def coupon_issuer_class(self) -> Any:
        return _resolve(self.COUPON_ISSUER)

    @property
    def product_catalogue_class(self) -> Any:
        return _resolve(self.PRODUCT_CATALOGUE)

    @property
    def user_exists(self) -> Any:
        configured = self.USER_EXISTS
        return None if configured is None else _resolve(configured)

    @property
    def requestor_resolver(self) -> Any:
        return _resolve(self.GRAPHQL_REQUESTOR_RESOLVER)

    @property
    def extra_flows(self) -> list[Any]:
        return [_resolve(path) for path in self.EXTRA_FLOWS]


_app_settings = AppSettings(PREFIX)


def __getattr__(name: str) -> Any:
    # PEP 562: ``app_settings.CLAIM_LEASE`` reads through the one object.
    return getattr(_app_settings, name)
