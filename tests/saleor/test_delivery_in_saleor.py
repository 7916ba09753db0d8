"""Delivery settings and the unsubscribe page inside a real Saleor."""

from urllib.parse import urlsplit

import graphene
import pytest
from django.test import Client
from saleor.graphql.tests.utils import get_graphql_content
from saleor.plugins.models import PluginConfiguration

from saleor_retention_plugin.delivery.unsubscribe import unsubscribe_token, unsubscribe_url
from saleor_retention_plugin.services.consent import is_opted_out

PLUGIN_UPDATE = """
    mutation($channelId: ID!, $configuration: [ConfigurationItemInput!]) {
      pluginUpdate(
        id: "saleor.retention", channelId: $channelId,
        input: {active: true, configuration: $configuration}
      ) {
        errors { field code message }
        plugin { id }
      }
    }
"""


@pytest.fixture
def retention_channel(enable_retention_plugin, channel_USD):
    enable_retention_plugin(public_api_url="https://api.tea.example")
    return channel_USD


def path_of(url):
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def test_saleor_routes_the_unsubscribe_link_to_the_plugin_and_records_the_opt_out(
    retention_channel, customer_user
):
    url = unsubscribe_url(
        "https://api.tea.example", retention_channel.slug, customer_user.email, customer_user.pk
    )
    # Mail clients post without any CSRF token: the route must not need one.
    client = Client(enforce_csrf_checks=True)

    confirm = client.get(path_of(url))
    assert confirm.status_code == 200
    assert not is_opted_out(retention_channel.slug, email=None, customer_id=customer_user.pk)

    done = client.post(
        path_of(url),
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )

    assert done.status_code == 200
    assert is_opted_out(retention_channel.slug, email=None, customer_id=customer_user.pk)
    assert is_opted_out(retention_channel.slug, email=customer_user.email, customer_id=None)


def test_a_sent_link_still_works_after_the_merchant_switched_the_plugin_off(
    enable_retention_plugin, channel_USD, customer_user
):
    enable_retention_plugin(active=False, public_api_url="https://api.tea.example")
    url = unsubscribe_url("https://api.tea.example", channel_USD.slug, None, customer_user.pk)

    done = Client(enforce_csrf_checks=True).post(path_of(url))

    assert done.status_code == 200
    assert is_opted_out(channel_USD.slug, email=None, customer_id=customer_user.pk)


def test_saleor_answers_400_to_a_forged_link_and_records_nothing(retention_channel):
    genuine = unsubscribe_token(retention_channel.slug, None, 1)
    forged = ":".join(
        [unsubscribe_token(retention_channel.slug, None, 2).split(":")[0], *genuine.split(":")[1:]]
    )
    path = f"/plugins/channel/{retention_channel.slug}/saleor.retention/unsubscribe/?token={forged}"

    response = Client(enforce_csrf_checks=True).post(path)

    assert response.status_code == 400
    assert not is_opted_out(retention_channel.slug, email=None, customer_id=2)


def test_the_dashboard_shows_delivery_mistakes_on_their_fields(
    retention_channel, staff_api_client, permission_manage_plugins
):
    response = staff_api_client.post_graphql(
        PLUGIN_UPDATE,
        {
            "channelId": graphene.Node.to_global_id("Channel", retention_channel.pk),
            "configuration": [
                {"name": "delivery_channel", "value": "webhook"},
                {"name": "webhook_url", "value": "gateway.example"},
                {"name": "webhook_secret", "value": "short"},
                {"name": "smtp_port", "value": "99999"},
            ],
        },
        permissions=[permission_manage_plugins],
    )

    errors = get_graphql_content(response)["data"]["pluginUpdate"]["errors"]
    # Saleor reports field names camelCased, as the dashboard expects them.
    assert {error["field"] for error in errors} == {"webhookUrl", "webhookSecret", "smtpPort"}
    stored = PluginConfiguration.objects.get(
        identifier="saleor.retention", channel=retention_channel
    )
    assert {item["name"]: item["value"] for item in stored.configuration}[
        "delivery_channel"
    ] == "email"
