"""The Saleor tier boots: a migrated Saleor database, Saleor's fixtures and its GraphQL API."""

from django.conf import settings
from saleor.graphql.tests.utils import get_graphql_content

SHOP_AND_PLUGINS_QUERY = """
    query {
      shop { name defaultMailSenderAddress }
      channel(slug: "main") { slug currencyCode }
      plugins(first: 50) { edges { node { id name } } }
    }
"""


def test_saleor_graphql_answers_with_saleor_fixtures(
    staff_api_client, channel_USD, permission_manage_plugins, site_settings
):
    # `plugins` needs MANAGE_PLUGINS: post_graphql first checks that the query is
    # refused without it, then grants it and runs the query again.
    response = staff_api_client.post_graphql(
        SHOP_AND_PLUGINS_QUERY, permissions=[permission_manage_plugins]
    )

    data = get_graphql_content(response)["data"]
    assert data["shop"]["name"] == site_settings.site.name
    assert data["shop"]["defaultMailSenderAddress"] == "mirumee@example.com"
    assert data["channel"] == {"slug": channel_USD.slug, "currencyCode": "USD"}
    # Saleor's autouse fixture `setup_dummy_gateways` sets settings.PLUGINS to the
    # two dummy payment gateways for every test.
    plugin_ids = {edge["node"]["id"] for edge in data["plugins"]["edges"]}
    assert plugin_ids == {"mirumee.payments.dummy", "mirumee.payments.dummy_credit_card"}


def test_replica_alias_shares_the_writer_connection(channel_USD):
    from saleor.channel.models import Channel

    # Rows written in the test transaction are visible through the replica alias.
    assert Channel.objects.using(settings.DATABASE_CONNECTION_REPLICA_NAME).filter(
        pk=channel_USD.pk
    ).exists()
