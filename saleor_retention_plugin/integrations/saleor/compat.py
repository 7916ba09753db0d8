"""Every difference between the Saleor lines the plugin runs on, in one module.

Tested lines: Saleor 3.20 (3.20.119: Python 3.11, Django 4.2, Celery 5.4) and Saleor 3.23
(3.23.28: Python 3.12, Django 5.2, Celery 5.5). Read from both tags' source; the rest of
what the glue touches is the same on both lines: ``Voucher`` / ``VoucherCode`` /
``VoucherChannelListing`` fields, ``Order`` fields (``voucher_code``, ``checkout_token``,
``charge_status``, ``total_charged_amount``, money fields, ``lines.is_gift_card``),
``Checkout`` / ``CheckoutLine.price_override``, ``TransactionItem.refunded_value`` and legacy
refund ``Transaction`` rows, the plugin routes under ``/plugins/``, ``manager.notify``,
``PluginConfiguration``, ``Group.restricted_access_to_channels``, the hook signatures.

The differences:

* plugin discovery: pkg_resources up to 3.21, ``importlib.metadata`` from 3.22
  (``discovered_plugin_entry_points``);
* ``jwt_decode`` lost its ``verify_expiration`` argument in 3.23: expiry is always
  checked (``decode_saleor_token``);
* hooks are declared on ``BasePlugin`` as annotations, not methods (``saleor_hook_names``;
  3.20 already does so for most hooks: never ``getattr(BasePlugin, hook)``);
* from 3.21 Saleor's Celery app sets ``task_cls`` to ``RestrictWriterDBTask``, which makes
  every shared task that reads the primary database without ``allow_writer()`` log a
  warning (raise, in Saleor's test settings): the plugin's tasks use ``RetentionTask``;
* the checkout total: 3.20 takes the tax address as an argument, 3.23 does not
  (``checkout_total_with_gift_cards``);
* adding a line to a checkout: ``saleor.checkout.utils.add_variant_to_checkout`` in 3.20,
  a test helper in ``saleor.checkout.tests.utils`` in 3.23 (``add_checkout_line``);
* the shipping method a checkout uses: ``Checkout.shipping_method`` in 3.20, a
  ``CheckoutDelivery`` row in ``Checkout.assigned_delivery`` from 3.23
  (``assign_checkout_shipping``);
* Saleor's test fixtures: four shared modules in 3.20, one module per app from 3.21
  (``saleor_fixture_modules``);
* Django 4.2 (3.20) / 5.2 (3.23): nothing in the Saleor glue needs a branch; the models'
  ``CheckConstraint(check=...)`` works on both and only warns on 5.2 (``condition=`` is
  5.1+, so it cannot be used while 4.2 is supported).

Importable without Saleor (the plugin's tasks and the sandbox import it): Saleor is
imported inside the functions.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import inspect
import re
from typing import TYPE_CHECKING, Any

from celery import Task

if TYPE_CHECKING:
    from collections.abc import Iterator

ENTRY_POINT_GROUP = "saleor.plugins"

# Saleor's root conftest.py (not part of the installed package) lists these as pytest
# plugins; an external test suite needs the same list.
FIXTURE_MODULES_3_20 = (
    "saleor.tests.fixtures",
    "saleor.discount.tests.test_utils.fixtures",
    "saleor.plugins.tests.fixtures",
    "saleor.graphql.tests.fixtures",
    "saleor.graphql.channel.tests.fixtures",
    "saleor.graphql.channel.tests.benchmark.fixtures",
    "saleor.graphql.checkout.tests.benchmark.fixtures",
    "saleor.graphql.account.tests.benchmark.fixtures",
    "saleor.graphql.order.tests.benchmark.fixtures",
    "saleor.graphql.giftcard.tests.benchmark.fixtures",
    "saleor.graphql.webhook.tests.benchmark.fixtures",
    "saleor.plugins.webhook.tests.subscription_webhooks.fixtures",
    "saleor.tax.tests.fixtures",
)
FIXTURE_MODULES_3_23 = (
    "saleor.tests.fixtures",
    "saleor.app.tests.fixtures",
    "saleor.plugins.tests.fixtures",
    "saleor.graphql.tests.fixtures",
    "saleor.webhook.tests.fixtures",
    "saleor.tax.tests.fixtures",
    "saleor.channel.tests.fixtures",
    "saleor.page.tests.fixtures",
    "saleor.menu.tests.fixtures",
    "saleor.warehouse.tests.fixtures",
    "saleor.thumbnail.tests.fixtures",
    "saleor.order.tests.fixtures",
    "saleor.product.tests.fixtures",
    "saleor.site.tests.fixtures",
    "saleor.shipping.tests.fixtures",
    "saleor.permission.tests.fixtures",
    "saleor.giftcard.tests.fixtures",
    "saleor.discount.tests.fixtures",
    "saleor.checkout.tests.fixtures",
    "saleor.attribute.tests.fixtures",
    "saleor.account.tests.fixtures",
    "saleor.graphql.account.tests.fixtures",
    "saleor.payment.tests.fixtures",
    "saleor.webhook.tests.circuit_breaker.fixtures",
)


class UnsupportedSaleorVersion(RuntimeError):
    """Saleor is missing, or older than 3.20 (the oldest line the plugin is tested on)."""


@functools.cache
def saleor_version() -> tuple[int, int, int] | None:
    """The installed Saleor's ``(major, minor, patch)``, or None without Saleor.

    Read from the package metadata (``pip install -e`` of a Saleor checkout has it);
    a Saleor on ``sys.path`` without metadata falls back to ``saleor.__version__``.
    """
    try:
        text = importlib.metadata.version("saleor")
    except importlib.metadata.PackageNotFoundError:
        try:
            import saleor
        except ImportError:
            return None
        text = getattr(saleor, "__version__", "")
    match = re.match(r"(\d+)\.(\d+)\.(\d+)", text)
    if match is None:
        raise UnsupportedSaleorVersion(f"Cannot read Saleor's version from {text!r}.")
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


def _line() -> tuple[int, int]:
    version = saleor_version()
    if version is None:
        raise UnsupportedSaleorVersion("Saleor is not installed.")
    if version[:2] < (3, 20):
        raise UnsupportedSaleorVersion(
            f"Saleor {'.'.join(map(str, version))} is older than 3.20, the oldest line tested."
        )
    return version[0], version[1]


def saleor_fixture_modules() -> tuple[str, ...]:
    """Saleor's test fixture modules, in the order of its root ``conftest.py``."""
    return FIXTURE_MODULES_3_20 if _line() < (3, 21) else FIXTURE_MODULES_3_23


def discovered_plugin_entry_points() -> dict[str, str]:
    """``{name: "module:attr"}`` of the ``saleor.plugins`` entry points, read the way the
    installed Saleor reads them at boot (pkg_resources up to 3.21, importlib.metadata from
    3.22). Saleor appends each NAME to ``INSTALLED_APPS`` and each value to ``PLUGINS``.
    """
    if _line() < (3, 22):
        import pkg_resources

        return {
            entry.name: f"{entry.module_name}:{entry.attrs[0]}"
            for entry in pkg_resources.iter_entry_points(ENTRY_POINT_GROUP)
        }
    return {
        entry.name: entry.value
        for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    }


def decode_saleor_token(token: str) -> dict[str, Any]:
    """The payload of a Saleor JWT, expiry checked. Raises ``jwt.PyJWTError`` subclasses
    (``ExpiredSignatureError`` for an expired token) as Saleor's auth backend does.

    3.20's ``jwt_decode(token, verify_expiration=settings.JWT_EXPIRE)`` skips the expiry
    check when ``JWT_EXPIRE`` is off; 3.23's ``jwt_decode(token)`` always checks it.
    """
    from saleor.core.jwt import jwt_decode

    if _line() < (3, 23):
        return jwt_decode(token, verify_expiration=True)
    return jwt_decode(token)


def saleor_hook_names() -> frozenset[str]:
    """The hooks Saleor's plugin manager may call on a plugin, and the methods Saleor
    calls on a plugin class (``validate_plugin_configuration``...).

    ``BasePlugin`` declares them as ``Callable`` annotations, not as methods (all of them
    in 3.23, nearly all in 3.20), so ``getattr(BasePlugin, "order_created")`` fails: read
    the annotations along the class's bases, plus the few hooks that are real methods.
    """
    from saleor.plugins.base_plugin import BasePlugin

    names: set[str] = set()
    for klass in BasePlugin.__mro__:
        for name, annotation in vars(klass).get("__annotations__", {}).items():
            if "Callable" in str(annotation):
                names.add(name)
    names.update(
        name
        for name, value in vars(BasePlugin).items()
        if isinstance(value, classmethod | staticmethod) or inspect.isfunction(value)
        if not name.startswith("_")
    )
    return frozenset(names)


@contextlib.contextmanager
def writer_allowed() -> Iterator[None]:
    """Saleor's ``allow_writer()`` when Saleor runs (its apps are installed): the code
    inside reads and writes the primary database on purpose. Outside Saleor (the sandbox,
    the first test tiers, even where the ``saleor`` package is importable), nothing to
    allow.
    """
    from ... import app_settings

    if not app_settings.SALEOR_INSTALLED:
        yield
        return
    from saleor.core.db.connection import allow_writer

    with allow_writer():
        yield


class RetentionTask(Task):
    """Base class of the plugin's Celery tasks.

    The tasks keep the ledger consistent, so they read and write the primary database.
    From 3.21 Saleor's Celery app makes ``RestrictWriterDBTask`` the default task class, which
    flags every such query that is not inside ``allow_writer()`` (a warning in production,
    ``UnsafeWriterAccessError`` under Saleor's test settings), and Saleor's test middleware
    does the same to tasks run eagerly inside a request. Declaring the tasks on this base
    says so once, on every line. The writer is allowed from ``before_start`` to
    ``after_return`` rather than in ``__call__``: a custom ``__call__`` would lose the eager
    request, and with it the eager retries of ``autoretry_for``.
    """

    abstract = True

    def before_start(self, task_id: str, args: Any, kwargs: Any) -> None:
        stack = contextlib.ExitStack()
        stack.enter_context(writer_allowed())
        self.request.retention_writer = stack

    def after_return(self, *args: Any, **kwargs: Any) -> None:
        stack = getattr(self.request, "retention_writer", None)
        if stack is not None:
            stack.close()


def assign_checkout_shipping(checkout: Any, shipping_method: Any) -> None:
    """Make ``checkout`` ship with the built-in ``shipping_method``, as ``checkout
    DeliveryMethodUpdate`` would: 3.20 sets ``Checkout.shipping_method``; from 3.23 the
    choice is a ``CheckoutDelivery`` row (a snapshot of the method and its channel price)
    in ``Checkout.assigned_delivery``. Saves the checkout.
    """
    if _line() < (3, 23):
        checkout.shipping_method = shipping_method
        checkout.save(update_fields=["shipping_method"])
        return
    from saleor.checkout.models import CheckoutDelivery

    listing = shipping_method.channel_listings.get(channel_id=checkout.channel_id)
    tax_class = shipping_method.tax_class
    delivery = CheckoutDelivery.objects.create(
        checkout=checkout,
        built_in_shipping_method_id=shipping_method.id,
        name=shipping_method.name,
        description=shipping_method.description,
        price_amount=listing.price_amount,
        currency=listing.currency,
        is_external=False,
        **(
            {
                "tax_class_id": tax_class.id,
                "tax_class_name": tax_class.name,
                "tax_class_metadata": tax_class.metadata,
                "tax_class_private_metadata": tax_class.private_metadata,
            }
            if tax_class
            else {}
        ),
    )
    checkout.assigned_delivery = delivery
    checkout.save(update_fields=["assigned_delivery"])


def checkout_total_with_gift_cards(
    manager: Any, checkout_info: Any, lines: Any, address: Any
) -> Any:
    """What the customer pays for the checkout (``TaxedMoney``), as ``checkoutComplete``
    computes it: 3.20 takes the address the taxes are for as an argument, 3.23 reads it
    from ``checkout_info``.
    """
    from saleor.checkout import calculations

    if _line() < (3, 23):
        return calculations.calculate_checkout_total_with_gift_cards(
            manager, checkout_info, lines, address
        )
    return calculations.calculate_checkout_total_with_gift_cards(manager, checkout_info, lines)


def add_checkout_line(checkout_info: Any, variant: Any, quantity: int) -> None:
    """Put ``quantity`` of ``variant`` into the checkout of ``checkout_info``, as
    ``checkoutLinesAdd`` does (tests and benchmarks build carts with it). Saleor 3.23 keeps
    the helper only among its test utilities.
    """
    if _line() < (3, 23):
        from saleor.checkout.utils import add_variant_to_checkout
    else:
        from saleor.checkout.tests.utils import add_variant_to_checkout
    add_variant_to_checkout(checkout_info, variant, quantity)
