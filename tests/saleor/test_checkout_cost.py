"""A paid checkoutComplete costs Saleor almost nothing more with the plugin (issue 11).

Counted on fresh paid checkouts completed through Saleor's API by a signed-in customer,
plugin on and off interleaved (``checkout_cost.py``). Times are not asserted here (the
machine is shared): ``benchmarks/saleor_checkout.py`` reports them.

The transactions really commit here, as in production: Saleor 3.20's test client only
pretends to (``flush_post_commit_hooks`` runs on-commit callbacks inside the test's open
transaction), and the plugin's work registered from an eager task's callbacks can then be
dropped, which makes the counts vary from one completion to the next.
"""

import pytest

from saleor_retention_plugin.models import LoyaltyAccount, PointsEntry

from .checkout_cost import CheckoutBench, summarise

# Extra SQL queries one completion may cost with the plugin installed and switched on.
EXTRA_QUERIES_WITH_TASKS_INLINE = 15
EXTRA_QUERIES_WITH_TASKS_QUEUED = 2
PAIRS = 3  # plugin-on / plugin-off pairs after one warm-up pair

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def bench(
    settings,
    user_api_client,
    customer_user,
    channel_USD,
    product,
    address,
    shipping_method,
    enable_retention_plugin,
):
    enable_retention_plugin()
    bench = CheckoutBench(
        settings=settings,
        client=user_api_client,
        customer=customer_user,
        channel=channel_USD,
        variant=product.variants.first(),
        address=address,
        shipping_method=shipping_method,
    )
    # The first completions fill Saleor's and Django's caches (content types, site...).
    bench.run(1, mode="inline")
    return bench


def test_with_tasks_inline_a_completion_costs_at_most_15_extra_queries(bench, customer_user):
    summary = summarise("inline", bench.run(PAIRS, mode="inline"))

    # The plugin did its work inside those queries: every completion with it earned points.
    account = LoyaltyAccount.objects.get(customer_id=customer_user.pk, channel_slug="main")
    assert PointsEntry.objects.filter(account=account).count() == PAIRS + 1
    assert account.balance > 0
    if summary.extra_queries > EXTRA_QUERIES_WITH_TASKS_INLINE:
        by_caller = bench.plugin_queries_by_caller(mode="inline")
        pytest.fail(f"{summary.as_json()}; the plugin's queries by caller: {dict(by_caller)}")


def test_with_tasks_queued_a_completion_costs_at_most_2_extra_queries(bench, customer_user):
    earned_before = PointsEntry.objects.count()

    summary = summarise("queued", bench.run(PAIRS, mode="queued"))

    assert summary.extra_queries <= EXTRA_QUERIES_WITH_TASKS_QUEUED, summary.as_json()
    # The points tasks went to the broker instead of running in the request.
    assert PointsEntry.objects.count() == earned_before
