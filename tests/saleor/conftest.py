"""Boot a real Saleor for this tier, the way Saleor's own root ``conftest.py`` does.

Saleor's root conftest is not part of the installed ``saleor`` package, so its boot
logic is repeated here: Saleor's fixture modules as pytest plugins, and the
``default``/``replica`` database aliases sharing one connection.

Run the tier on its own, naming this directory on the command line (``pytest_plugins``
is only allowed in a conftest that pytest loads before collection starts):

    python -m pytest tests/saleor --ds=tests.saleor.settings --reuse-db

When Saleor cannot be imported, or the tier is collected under other settings, no
test module here is imported: the tier turns into one skipped item and the run ends
with a "Saleor tier skipped: ..." line.
"""

from __future__ import annotations

import importlib.util
import weakref
from pathlib import Path

import pytest
from django.conf import settings

SALEOR_TIER_SETTINGS = "tests.saleor.settings"
_CONFTEST = Path(__file__).resolve()
_HERE = _CONFTEST.parent


def _skip_reason() -> str | None:
    try:
        spec = importlib.util.find_spec("saleor")
    except Exception as exc:
        return f"Saleor tier skipped: Saleor is not importable ({type(exc).__name__}: {exc})"
    if spec is None:
        return "Saleor tier skipped: Saleor is not importable (No module named 'saleor')"
    if not settings.configured or not hasattr(settings, "SALEOR_IMPORT_ERROR"):
        current = getattr(settings, "SETTINGS_MODULE", None) if settings.configured else None
        return (
            f"Saleor tier skipped: Django settings are {current!r}, not the Saleor tier's "
            f"(run: python -m pytest tests/saleor --ds={SALEOR_TIER_SETTINGS})"
        )
    if settings.SALEOR_IMPORT_ERROR:
        return f"Saleor tier skipped: Saleor is not importable ({settings.SALEOR_IMPORT_ERROR})"
    try:
        import saleor  # noqa: F401
    except Exception as exc:
        return f"Saleor tier skipped: Saleor is not importable ({type(exc).__name__}: {exc})"
    return None


SKIP_REASON = _skip_reason()

if SKIP_REASON is None:
    import django.test
    from saleor.tests.utils import prepare_test_db_connections

    # As Saleor does: every Django test case uses both aliases, so tests need no
    # @pytest.mark.django_db(databases=[...]) ...
    _TEST_DATABASES = {
        settings.DATABASE_CONNECTION_DEFAULT_NAME,
        settings.DATABASE_CONNECTION_REPLICA_NAME,
    }
    django.test.TransactionTestCase.databases = _TEST_DATABASES
    django.test.TestCase.databases = _TEST_DATABASES
    # ... and "replica" is the writer connection under another alias, so reads
    # through the replica see the test's uncommitted rows.
    prepare_test_db_connections()

    from saleor_retention_plugin.integrations.saleor.compat import saleor_fixture_modules

    # The same fixture modules, in the same order, as Saleor's root conftest.py (one
    # list for 3.20, per-app modules from 3.21).
    pytest_plugins = list(saleor_fixture_modules())

else:
    # A module-level pytest.skip() in a conftest aborts pytest when the conftest is
    # loaded before collection (``pytest tests/saleor``), so skip through collection:
    # this conftest becomes the tier's single (skipped) item, and no test module
    # here, which would import Saleor, is ever imported.

    class _SkippedTierItem(pytest.Item):
        def runtest(self) -> None:
            pytest.skip(SKIP_REASON)

        def reportinfo(self):  # type: ignore[no-untyped-def]
            return self.path, None, "Saleor tier"

    class _SkippedTier(pytest.File):
        def collect(self):  # type: ignore[no-untyped-def]
            yield _SkippedTierItem.from_parent(self, name="saleor_tier")

    def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
        path = Path(collection_path).resolve()
        if path != _CONFTEST and _HERE in path.parents:
            return True
        return None

    def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.File | None:
        if Path(file_path).resolve() == _CONFTEST:
            return _SkippedTier.from_parent(parent, path=file_path)
        return None

    def pytest_pycollect_makemodule(module_path: Path, parent: pytest.Collector) -> pytest.File:
        # Test modules named explicitly on the command line are not ignored.
        return _SkippedTier.from_parent(parent, path=module_path)

    def pytest_terminal_summary(terminalreporter) -> None:  # type: ignore[no-untyped-def]
        terminalreporter.write_line(SKIP_REASON)


@pytest.fixture(scope="session", autouse=True)
def _saleor_data_migration_hooks_run_once(django_db_setup):  # type: ignore[no-untyped-def]
    """Let Saleor's one-off data-migration hooks go once the test database is ready.

    Saleor's data migrations (3.23's ``account.0104`` among them) connect ``post_migrate``
    receivers that enqueue one-off data tasks when the process migrated the database. A
    transactional test's flush sends ``post_migrate`` again, on an emptied database, and
    the task then fails (``NoDefaultCustomerType``) in the teardown. They are migration
    work, not test work: once the test database is ready, they are let go.
    """
    from django.db.models.signals import post_migrate

    with post_migrate.lock:
        kept = []
        for entry in post_migrate.receivers:
            receiver = entry[1]
            function = receiver() if isinstance(receiver, weakref.ReferenceType) else receiver
            name = getattr(function, "__qualname__", "")
            module = getattr(function, "__module__", "") or ""
            if name.endswith("on_migrations_complete") and module.startswith("saleor."):
                continue
            kept.append(entry)
        post_migrate.receivers = kept
        post_migrate.sender_receivers_cache.clear()


RETENTION_PLUGIN_PATH = "saleor_retention_plugin.plugin.RetentionPlugin"
RETENTION_PLUGIN_ID = "saleor.retention"


@pytest.fixture
def enable_retention_plugin(settings, channel_USD):  # type: ignore[no-untyped-def]
    """Install the plugin next to Saleor's dummy gateways and switch it on for a channel.

    Saleor's autouse ``setup_dummy_gateways`` overwrites ``settings.PLUGINS`` before each
    test; this fixture runs after it. Returns ``enable(channel=None, **configuration)``,
    which (re)writes the channel's ``PluginConfiguration`` row as the dashboard would.
    """
    from saleor.plugins.models import PluginConfiguration

    from saleor_retention_plugin.conf import default_configuration

    if RETENTION_PLUGIN_PATH not in settings.PLUGINS:
        settings.PLUGINS = [*settings.PLUGINS, RETENTION_PLUGIN_PATH]

    def enable(channel=None, active=True, **configuration):  # type: ignore[no-untyped-def]
        values = {item["name"]: item["value"] for item in default_configuration()}
        # Every stored row holds every current name (the defaults below), and a current
        # name wins over an old one: a setting passed under an old name (an alias such
        # as cart_holdout_percent) or misspelt would be silently ignored.
        unknown = sorted(set(configuration) - set(values))
        if unknown:
            raise ValueError(f"Not a current setting name: {', '.join(unknown)}")
        values.update({name: str(value) for name, value in configuration.items()})
        row, _ = PluginConfiguration.objects.update_or_create(
            identifier=RETENTION_PLUGIN_ID,
            channel=channel or channel_USD,
            defaults={
                "active": active,
                "configuration": [{"name": k, "value": v} for k, v in values.items()],
            },
        )
        return row

    return enable


@pytest.fixture
def ready_checkout(checkout_with_item, address, shipping_method, payment_dummy):  # type: ignore[no-untyped-def]
    """A checkout with addresses, shipping and a dummy payment covering its total.

    Returns ``prepare(user=None, email=None)``; complete it with ``checkoutComplete``.
    """
    from saleor.checkout.fetch import fetch_checkout_info, fetch_checkout_lines
    from saleor.plugins.manager import get_plugins_manager

    from saleor_retention_plugin.integrations.saleor.compat import (
        assign_checkout_shipping,
        checkout_total_with_gift_cards,
    )

    def prepare(user=None, email=None):
        checkout = checkout_with_item
        checkout.user = user
        checkout.email = email or (user.email if user else "guest@example.com")
        checkout.shipping_address = address
        checkout.billing_address = address
        checkout.save()
        assign_checkout_shipping(checkout, shipping_method)
        manager = get_plugins_manager(allow_replica=False)
        lines, _ = fetch_checkout_lines(checkout)
        info = fetch_checkout_info(checkout, lines, manager)
        total = checkout_total_with_gift_cards(manager, info, lines, address)
        payment = payment_dummy
        payment.is_active = True
        payment.order = None
        payment.total = total.gross.amount
        payment.currency = total.gross.currency
        payment.checkout = checkout
        payment.save()
        return checkout

    return prepare
