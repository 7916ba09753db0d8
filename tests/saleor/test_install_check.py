"""Installed into Saleor, the plugin is found, booted, migrated and shown in the dashboard.

What a merchant checks after ``pip install saleor-retention-plugin`` and ``manage.py
migrate``, on every Saleor line of the tier (3.20 and 3.23): Saleor discovers the entry
point, adds the app to ``INSTALLED_APPS``, its system checks pass, every migration (Saleor's
and ours) is applied, and Configuration -> Plugins lists the plugin with its fields.
"""

import inspect
from datetime import timedelta

import jwt
import pytest
import time_machine
from django.apps import apps
from django.conf import settings
from django.core import checks
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone
from saleor.core.jwt import create_access_token
from saleor.graphql.tests.utils import get_graphql_content

from saleor_retention_plugin.conf import SETTING_FIELDS
from saleor_retention_plugin.integrations.saleor import compat
from saleor_retention_plugin.plugin import RetentionPlugin

PLUGIN_CLASS_PATH = "saleor_retention_plugin.plugin.RetentionPlugin"

PLUGINS_QUERY = """
    query {
      plugins(first: 100) {
        edges {
          node {
            id
            name
            description
            globalConfiguration { active }
            channelConfigurations {
              active
              channel { slug }
              configuration { name type label helpText value }
            }
          }
        }
      }
    }
"""


def test_saleor_discovers_the_entry_point_and_installs_the_app():
    # Read the way this Saleor line reads entry points (pkg_resources up to 3.21,
    # importlib.metadata from 3.22): the name is the app, the value the plugin class.
    assert compat.discovered_plugin_entry_points()["saleor_retention_plugin"] == (
        "saleor_retention_plugin.plugin:RetentionPlugin"
    )
    # What Saleor's settings made of it at boot (tests/saleor/settings.py only adds the
    # app by hand when there is no entry point, and never touches EXTERNAL_PLUGINS).
    assert PLUGIN_CLASS_PATH in settings.EXTERNAL_PLUGINS
    assert apps.is_installed("saleor_retention_plugin")


def test_saleor_boots_with_the_plugin_and_its_system_checks_pass():
    errors = [
        message
        for message in checks.run_checks(include_deployment_checks=False)
        if message.level >= checks.ERROR
    ]

    assert errors == []


def test_every_migration_is_applied_on_the_test_database():
    executor = MigrationExecutor(connection)
    pending = executor.migration_plan(executor.loader.graph.leaf_nodes())

    assert pending == []
    ours = {
        name for app, name in executor.loader.applied_migrations if app == "saleor_retention_plugin"
    }
    assert "0001_points_ledger" in ours
    assert {node[1] for node in executor.loader.graph.leaf_nodes("saleor_retention_plugin")} <= ours


def test_the_dashboard_lists_the_plugin_with_its_configuration_fields(
    staff_api_client, permission_manage_plugins, enable_retention_plugin, channel_USD
):
    enable_retention_plugin(points_per_currency_unit="2")

    response = staff_api_client.post_graphql(PLUGINS_QUERY, permissions=[permission_manage_plugins])

    nodes = {
        edge["node"]["id"]: edge["node"]
        for edge in get_graphql_content(response)["data"]["plugins"]["edges"]
    }
    plugin = nodes[RetentionPlugin.PLUGIN_ID]
    assert plugin["name"] == RetentionPlugin.PLUGIN_NAME
    assert plugin["description"] == RetentionPlugin.PLUGIN_DESCRIPTION
    assert plugin["globalConfiguration"] is None  # configured per channel
    usd = next(c for c in plugin["channelConfigurations"] if c["channel"]["slug"] == "main")
    assert usd["active"] is True
    fields = {item["name"]: item for item in usd["configuration"]}
    assert list(fields) == [field.name for field in SETTING_FIELDS]
    for field in SETTING_FIELDS:
        assert fields[field.name]["type"] == field.type.value.upper()
        assert fields[field.name]["label"] == field.label
        assert fields[field.name]["helpText"] == field.help_text
    assert fields["points_per_currency_unit"]["value"] == "2"


def test_every_hook_the_plugin_defines_is_one_saleor_calls():
    hooks = compat.saleor_hook_names()
    ours = {
        name
        for name, value in vars(RetentionPlugin).items()
        if isinstance(value, classmethod) or inspect.isfunction(value)
        if not name.startswith("_")
    }

    assert ours - hooks == set()
    assert {"order_created", "order_fully_paid", "checkout_updated", "webhook"} <= ours


def test_saleor_access_tokens_decode_with_their_expiry_checked(customer_user):
    token = create_access_token(customer_user)

    assert compat.decode_saleor_token(token)["email"] == customer_user.email
    with (
        time_machine.travel(timezone.now() + timedelta(days=1)),
        pytest.raises(jwt.ExpiredSignatureError),
    ):
        compat.decode_saleor_token(token)
