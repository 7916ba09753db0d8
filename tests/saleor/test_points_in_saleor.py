"""The points ledger inside a real Saleor: its GraphQL API, its fixtures, its hooks."""

from decimal import ROUND_FLOOR, Decimal

import graphene
import pytest
from django.contrib.auth.tokens import default_token_generator
from django.db import connection
from django.test.utils import CaptureQueriesContext
from saleor.account.models import User
from saleor.graphql.tests.utils import get_graphql_content
from saleor.order.models import Order
from saleor.plugins.manager import get_plugins_manager

from saleor_retention_plugin import enqueue, tasks
from saleor_retention_plugin.conf import SETTING_FIELDS
from saleor_retention_plugin.models import LoyaltyAccount, PointsEntry, ScanGate

PLUGIN_ID = "saleor.retention"

PLUGINS_QUERY = """
    query {
      plugins(first: 50) {
        edges { node {
          id name description
          channelConfigurations {
            active channel { slug }
            configuration { name value label helpText }
          }
        } }
      }
    }
"""

PLUGIN_UPDATE = """
    mutation Update($id: ID!, $channelId: ID, $input: PluginUpdateInput!) {
      pluginUpdate(id: $id, channelId: $channelId, input: $input) {
        errors { field code message }
      }
    }
"""

CHECKOUT_COMPLETE = """
    mutation Complete($id: ID!) {
      checkoutComplete(id: $id) {
        order { id number }
        errors { field code message }
      }
    }
"""

ORDER_CANCEL = """
    mutation Cancel($id: ID!) {
      orderCancel(id: $id) { errors { field code message } }
    }
"""

ORDER_REFUND = """
    mutation Refund($id: ID!, $amount: PositiveDecimal!) {
      orderRefund(id: $id, amount: $amount) { errors { field code message } }
    }
"""

CUSTOMER_CREATE = """
    mutation Create($email: String!) {
      customerCreate(input: {email: $email, channel: "main"}) {
        user { id }
        errors { field code message }
      }
    }
"""

SET_PASSWORD = """
    mutation SetPassword($email: String!, $password: String!, $token: String!) {
      setPassword(email: $email, password: $password, token: $token) {
        errors { field code message }
      }
    }
"""

CUSTOMER_DELETE = """
    mutation Delete($id: ID!) {
      customerDelete(id: $id) { errors { field code message } }
    }
"""


def expected_points(order: Order) -> int:
    base = order.total_net_amount - order.shipping_price_net_amount
    return int(base.to_integral_value(rounding=ROUND_FLOOR))


@pytest.fixture
def post(django_capture_on_commit_callbacks):
    """``post_graphql`` that also runs every on-commit callback, however deeply nested.

    Saleor calls plugin hooks from on-commit callbacks, which register further callbacks
    (our task enqueues); pytest-django's capture runs them until none is left.
    """

    def post_graphql(client, query, variables=None, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post_graphql(query, variables, **kwargs)
        return get_graphql_content(response)["data"]

    return post_graphql


@pytest.fixture
def complete(post):
    def complete_checkout(client, checkout) -> Order:
        data = post(
            client,
            CHECKOUT_COMPLETE,
            {"id": graphene.Node.to_global_id("Checkout", checkout.pk)},
        )["checkoutComplete"]
        assert data["errors"] == []
        return Order.objects.get(number=data["order"]["number"])

    return complete_checkout


def test_plugin_is_listed_with_a_label_and_help_for_every_setting(
    staff_api_client, permission_manage_plugins, enable_retention_plugin, channel_USD
):
    enable_retention_plugin()

    response = staff_api_client.post_graphql(PLUGINS_QUERY, permissions=[permission_manage_plugins])

    nodes = [edge["node"] for edge in get_graphql_content(response)["data"]["plugins"]["edges"]]
    plugin = next(node for node in nodes if node["id"] == PLUGIN_ID)
    assert plugin["name"].startswith("Retention")
    assert "points" in plugin["description"]
    channel_config = next(
        config
        for config in plugin["channelConfigurations"]
        if config["channel"]["slug"] == channel_USD.slug
    )
    assert channel_config["active"] is True
    shown = {item["name"]: item for item in channel_config["configuration"]}
    assert set(shown) == {field.name for field in SETTING_FIELDS}
    for item in shown.values():
        assert item["label"]
        assert item["helpText"]
    assert shown["points_per_currency_unit"]["value"] == "1"


def test_dashboard_refuses_a_non_numeric_rate_with_a_field_error(
    staff_api_client, permission_manage_plugins, enable_retention_plugin, channel_USD
):
    row = enable_retention_plugin(points_per_currency_unit="2")

    response = staff_api_client.post_graphql(
        PLUGIN_UPDATE,
        {
            "id": PLUGIN_ID,
            "channelId": graphene.Node.to_global_id("Channel", channel_USD.pk),
            "input": {
                "configuration": [
                    {"name": "points_per_currency_unit", "value": "lots"},
                    {"name": "timezone", "value": "Mars/Olympus"},
                ]
            },
        },
        permissions=[permission_manage_plugins],
    )

    errors = get_graphql_content(response)["data"]["pluginUpdate"]["errors"]
    assert {(error["field"], error["code"]) for error in errors} == {
        ("pointsPerCurrencyUnit", "INVALID"),
        ("timezone", "INVALID"),
    }
    row.refresh_from_db()
    stored = {item["name"]: item["value"] for item in row.configuration}
    assert stored["points_per_currency_unit"] == "2"


def test_saving_in_the_dashboard_reopens_the_scan_gates_and_a_refused_save_does_not(
    staff_api_client, permission_manage_plugins, enable_retention_plugin, channel_USD
):
    # A flow switched on, another greeting hour or timezone: the next sweep scans again.
    enable_retention_plugin()
    staff_api_client.user.user_permissions.add(permission_manage_plugins)
    gate = ScanGate.objects.create(flow="birthday", inputs=",accounts,birthdays,settings,")

    def save(value):
        response = staff_api_client.post_graphql(
            PLUGIN_UPDATE,
            {
                "id": PLUGIN_ID,
                "channelId": graphene.Node.to_global_id("Channel", channel_USD.pk),
                "input": {"configuration": [{"name": "points_per_currency_unit", "value": value}]},
            },
        )
        return get_graphql_content(response)["data"]["pluginUpdate"]["errors"]

    assert save("3") == []
    gate.refresh_from_db()
    assert gate.generation == 1
    assert save("lots") != []
    gate.refresh_from_db()
    assert gate.generation == 1


@pytest.mark.parametrize("credit_trigger", ["order_fully_paid", "order_created"])
def test_customer_completing_a_paid_checkout_earns_points_once(
    credit_trigger,
    user_api_client,
    customer_user,
    ready_checkout,
    enable_retention_plugin,
    complete,
):
    enable_retention_plugin(credit_trigger=credit_trigger)
    checkout = ready_checkout(user=customer_user)

    order = complete(user_api_client, checkout)

    account = LoyaltyAccount.objects.get(customer_id=customer_user.pk, channel_slug="main")
    assert expected_points(order) > 0
    assert account.balance == expected_points(order)
    # order_created, order_paid, order_fully_paid and order_updated all fired: one entry.
    assert PointsEntry.objects.filter(order_id=str(order.pk)).count() == 1


def test_cancelling_the_order_takes_its_points_back(
    user_api_client,
    staff_api_client,
    permission_group_manage_orders,
    customer_user,
    ready_checkout,
    enable_retention_plugin,
    complete,
    post,
):
    enable_retention_plugin()
    order = complete(user_api_client, ready_checkout(user=customer_user))
    permission_group_manage_orders.user_set.add(staff_api_client.user)

    data = post(
        staff_api_client, ORDER_CANCEL, {"id": graphene.Node.to_global_id("Order", order.pk)}
    )

    assert data["orderCancel"]["errors"] == []
    account = LoyaltyAccount.objects.get(customer_id=customer_user.pk)
    assert account.balance == 0
    reverse = PointsEntry.objects.get(order_id=str(order.pk), kind="reverse")
    assert reverse.points == -expected_points(order)


def test_partial_refund_takes_back_the_refunded_share(
    user_api_client,
    staff_api_client,
    permission_group_manage_orders,
    customer_user,
    ready_checkout,
    enable_retention_plugin,
    complete,
    post,
):
    enable_retention_plugin()
    order = complete(user_api_client, ready_checkout(user=customer_user))
    permission_group_manage_orders.user_set.add(staff_api_client.user)
    earned = expected_points(order)
    refund = (order.total_gross_amount / 2).quantize(Decimal("0.01"))

    data = post(
        staff_api_client,
        ORDER_REFUND,
        {"id": graphene.Node.to_global_id("Order", order.pk), "amount": str(refund)},
    )

    assert data["orderRefund"]["errors"] == []
    # Refunds are shares of what the customer paid for the goods (shipping aside).
    share = refund / (order.total_gross_amount - order.shipping_price_gross_amount)
    taken = int((earned * share).to_integral_value(rounding=ROUND_FLOOR))
    account = LoyaltyAccount.objects.get(customer_id=customer_user.pk)
    assert 0 < taken < earned
    assert account.balance == earned - taken


def test_guest_points_follow_the_email_once_the_new_customer_proves_it_is_theirs(
    api_client,
    staff_api_client,
    permission_manage_users,
    ready_checkout,
    enable_retention_plugin,
    complete,
    post,
):
    enable_retention_plugin()
    order = complete(api_client, ready_checkout(email="Newbie@Example.com"))
    guest = LoyaltyAccount.objects.get(email="newbie@example.com", customer_id__isnull=True)
    assert guest.balance == expected_points(order)

    data = post(
        staff_api_client,
        CUSTOMER_CREATE,
        {"email": "newbie@example.com"},
        permissions=[permission_manage_users],
    )["customerCreate"]
    assert data["errors"] == []
    # Saleor creates the customer unconfirmed: nothing moves until the email is proved.
    guest.refresh_from_db()
    assert guest.merged_into_id is None

    customer = User.objects.get(email="newbie@example.com")
    data = post(
        api_client,
        SET_PASSWORD,
        {
            "email": customer.email,
            "password": "Retention-1234",
            "token": default_token_generator.make_token(customer),
        },
    )["setPassword"]
    assert data["errors"] == []  # the emailed token proves the address, and confirms
    account = LoyaltyAccount.objects.get(customer_id=customer.pk, channel_slug="main")
    assert account.balance == expected_points(order)
    guest.refresh_from_db()
    assert guest.merged_into_id == account.pk


def test_deleting_a_customer_anonymises_their_loyalty_account_but_keeps_totals(
    user_api_client,
    staff_api_client,
    permission_manage_users,
    customer_user,
    ready_checkout,
    enable_retention_plugin,
    complete,
    post,
):
    enable_retention_plugin()
    order = complete(user_api_client, ready_checkout(user=customer_user))
    account_pk = LoyaltyAccount.objects.get(customer_id=customer_user.pk).pk

    data = post(
        staff_api_client,
        CUSTOMER_DELETE,
        {"id": graphene.Node.to_global_id("User", customer_user.pk)},
        permissions=[permission_manage_users],
    )

    assert data["customerDelete"]["errors"] == []
    account = LoyaltyAccount.objects.get(pk=account_pk)
    assert (account.customer_id, account.email) == (None, None)
    assert account.anonymised_at is not None
    assert account.lifetime_earned == expected_points(order)


@pytest.mark.parametrize(
    ("hook", "credit_trigger"),
    [
        ("order_created", "order_created"),
        ("order_fully_paid", "order_fully_paid"),
        ("order_cancelled", "order_fully_paid"),
        ("order_refunded", "order_fully_paid"),
        ("order_fully_refunded", "order_fully_paid"),
    ],
)
def test_order_hooks_run_no_sql_in_the_request(
    hook,
    credit_trigger,
    order_with_lines,
    enable_retention_plugin,
    django_capture_on_commit_callbacks,
):
    enable_retention_plugin(credit_trigger=credit_trigger)
    manager = get_plugins_manager(allow_replica=False)
    plugin = manager.get_plugin(PLUGIN_ID, channel_slug=order_with_lines.channel.slug)
    order_with_lines.channel  # noqa: B018  (Saleor's manager has loaded it before hooks run)

    with (
        django_capture_on_commit_callbacks() as callbacks,
        CaptureQueriesContext(connection) as queries,
    ):
        returned = getattr(plugin, hook)(order_with_lines, previous_value="untouched")

    assert returned == "untouched"
    assert len(queries) == 0
    # One intake task enqueued after commit; it also tells the cart flows.
    assert len(callbacks) == 1


def test_a_paid_checkout_enqueues_the_points_task_once(
    monkeypatch, enable_retention_plugin, order_with_lines, django_capture_on_commit_callbacks
):
    enable_retention_plugin(credit_trigger="order_fully_paid")
    manager = get_plugins_manager(allow_replica=False)
    sent: list[str] = []
    # The broker is the boundary: note what reaches it instead of sending.
    monkeypatch.setattr(enqueue, "_send", lambda task, args: sent.append(task.name))
    # A checkout completed with a full payment: the order is created fully charged.
    order_with_lines.charge_status = "full"

    with django_capture_on_commit_callbacks(execute=True):
        # What Saleor's manager runs for a checkout completed with a full payment.
        for event in ("order_created", "order_paid", "order_fully_paid", "order_updated"):
            getattr(manager, event)(order_with_lines)

    assert sent.count(tasks.sync_saleor_order_points_task.name) == 1


def test_customer_created_hook_costs_one_query(customer_user, enable_retention_plugin, channel_USD):
    enable_retention_plugin()
    plugin = get_plugins_manager(allow_replica=False).get_plugin(
        PLUGIN_ID, channel_slug=channel_USD.slug
    )

    with CaptureQueriesContext(connection) as queries:
        plugin.customer_created(customer_user, previous_value=None)

    assert len(queries) == 1


def test_a_broken_broker_never_raises_into_saleor(
    monkeypatch,
    user_api_client,
    customer_user,
    ready_checkout,
    enable_retention_plugin,
    complete,
    caplog,
):
    enable_retention_plugin()

    def broker_down(*args, **kwargs):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(tasks.sync_saleor_order_points_task, "delay", broker_down)

    order = complete(user_api_client, ready_checkout(user=customer_user))

    assert order.pk
    assert not PointsEntry.objects.exists()
    assert "broker unreachable" in caplog.text
