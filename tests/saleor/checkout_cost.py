"""What the plugin adds to a paid ``checkoutComplete`` in a real Saleor: SQL queries and time.

Shared by ``test_checkout_cost.py`` (query counts, asserted) and
``benchmarks/saleor_checkout.py`` (timings, reported). Each completion is a fresh checkout
of one product line, with addresses, a shipping method and a dummy payment covering its
total, completed through Saleor's GraphQL API by a signed-in customer, as a storefront
does. "Without the plugin" is the same Saleor with the plugin not in ``PLUGINS``.

Two ways Saleor runs the plugin's Celery tasks:

* ``inline``: no broker configured (``CELERY_TASK_ALWAYS_EAGER``), as in small installs and
  Saleor's own tests: the tasks run inside the request, after it commits;
* ``queued``: a broker (Redis) takes the tasks and a worker runs them later: the request
  only pays for handing them over.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import time
import traceback
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import graphene
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from saleor_retention_plugin import tasks
from saleor_retention_plugin.integrations.saleor.compat import (
    add_checkout_line,
    assign_checkout_shipping,
    checkout_total_with_gift_cards,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

PLUGIN_PATH = "saleor_retention_plugin.plugin.RetentionPlugin"
BROKER_URL = os.environ.get("RETENTION_BROKER_URL", "redis://127.0.0.1:6379/15")

CHECKOUT_COMPLETE = """
    mutation Complete($id: ID!) {
      checkoutComplete(id: $id) {
        order { id number }
        errors { field code message }
      }
    }
"""


@dataclass(frozen=True)
class Completion:
    """One ``checkoutComplete``: SQL queries run (on-commit work included) and seconds."""

    with_plugin: bool
    queries: int
    seconds: float
    order_number: str


@dataclass(frozen=True)
class CostSummary:
    """Completions of one mode, paired plugin-on / plugin-off in the order they ran."""

    mode: str
    completions: int
    queries_without: int
    queries_with: int
    median_seconds_without: float
    median_seconds_with: float

    @property
    def extra_queries(self) -> int:
        return self.queries_with - self.queries_without

    @property
    def median_time_ratio(self) -> float:
        return self.median_seconds_with / self.median_seconds_without

    def as_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "completions_each": self.completions,
            "queries_without_plugin": self.queries_without,
            "queries_with_plugin": self.queries_with,
            "extra_queries": self.extra_queries,
            "median_ms_without_plugin": round(self.median_seconds_without * 1000, 2),
            "median_ms_with_plugin": round(self.median_seconds_with * 1000, 2),
            "median_time_ratio": round(self.median_time_ratio, 3),
        }


def summarise(mode: str, completions: list[Completion]) -> CostSummary:
    """Per kind (with / without the plugin): the median query count and median time."""
    by_kind: dict[bool, list[Completion]] = {True: [], False: []}
    for completion in completions:
        by_kind[completion.with_plugin].append(completion)
    counts = {
        kind: statistics.median_low(c.queries for c in items) for kind, items in by_kind.items()
    }
    return CostSummary(
        mode=mode,
        completions=min(len(items) for items in by_kind.values()),
        queries_without=counts[False],
        queries_with=counts[True],
        median_seconds_without=statistics.median(c.seconds for c in by_kind[False]),
        median_seconds_with=statistics.median(c.seconds for c in by_kind[True]),
    )


class CheckoutBench:
    """Builds paid checkouts and completes them with or without the plugin.

    ``settings`` is pytest-django's fixture; ``client`` is Saleor's API client of the
    signed-in ``customer``; ``channel``, ``variant``, ``address`` and ``shipping_method``
    are Saleor's fixtures (``channel_USD``, a variant of ``product``...).
    """

    def __init__(
        self,
        *,
        settings: Any,
        client: Any,
        customer: Any,
        channel: Any,
        variant: Any,
        address: Any,
        shipping_method: Any,
    ) -> None:
        from saleor.warehouse.models import Stock

        self.settings = settings
        self.client = client
        self.customer = customer
        self.channel = channel
        self.variant = variant
        self.address = address
        self.shipping_method = shipping_method
        self.saleor_plugins = [path for path in settings.PLUGINS if path != PLUGIN_PATH]
        # Enough stock for every completion of a run.
        Stock.objects.filter(product_variant=variant).update(quantity=1_000_000)

    def paid_checkout(self) -> Any:
        from saleor.checkout.fetch import fetch_checkout_info, fetch_checkout_lines
        from saleor.checkout.models import Checkout
        from saleor.payment.models import Payment
        from saleor.plugins.manager import get_plugins_manager

        manager = get_plugins_manager(allow_replica=False)
        checkout = Checkout.objects.create(
            currency=self.channel.currency_code,
            channel=self.channel,
            price_expiration=timezone.now() + self.settings.CHECKOUT_PRICES_TTL,
            user=self.customer,
            email=self.customer.email,
            shipping_address=self.address.get_copy(),
            billing_address=self.address.get_copy(),
        )
        checkout.set_country("US", commit=True)
        add_checkout_line(fetch_checkout_info(checkout, [], manager), self.variant, 2)
        checkout.save()
        assign_checkout_shipping(checkout, self.shipping_method)
        lines, _ = fetch_checkout_lines(checkout)
        info = fetch_checkout_info(checkout, lines, manager)
        total = checkout_total_with_gift_cards(manager, info, lines, checkout.shipping_address)
        Payment.objects.create(
            gateway="mirumee.payments.dummy",
            checkout=checkout,
            is_active=True,
            total=total.gross.amount,
            currency=total.gross.currency,
            billing_email=self.customer.email,
            cc_first_digits="4111",
            cc_last_digits="1111",
            cc_brand="visa",
            cc_exp_month=12,
            cc_exp_year=2030,
        )
        return checkout

    def complete(self, *, with_plugin: bool) -> Completion:
        """A fresh paid checkout, completed; on-commit work (hooks, inline tasks) counted."""
        checkout = self.paid_checkout()
        self.settings.PLUGINS = (
            [*self.saleor_plugins, PLUGIN_PATH] if with_plugin else list(self.saleor_plugins)
        )
        variables = {"id": graphene.Node.to_global_id("Checkout", checkout.pk)}
        # A fresh access token each time: a long run outlives one (5 minutes in Saleor).
        self.client.user = self.customer
        # CaptureQueriesContext counts through Django's query log, which keeps only the
        # last 9,000 queries: a long run would count 0 once it is full.
        connection.queries_log.clear()
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            # Saleor's test client runs every on-commit callback of the request.
            response = self.client.post_graphql(CHECKOUT_COMPLETE, variables)
            seconds = time.perf_counter() - started
        data = response.json()["data"]["checkoutComplete"]
        if data["errors"]:
            raise AssertionError(f"checkoutComplete failed: {data['errors']}")
        return Completion(with_plugin, len(queries), seconds, data["order"]["number"])

    def plugin_queries_by_caller(self, *, mode: str = "inline") -> Counter[str]:
        """One completion with the plugin: its queries that the plugin's code ran, counted
        by the plugin function nearest to each (``module:function``).

        For reading what the extra queries are (the cost test prints it when it fails).
        """
        callers: Counter[str] = Counter()

        def record(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
            caller = _plugin_caller(traceback.extract_stack())
            if caller:
                callers[caller] += 1
            return execute(sql, params, many, context)

        with tasks_run(mode), connection.execute_wrapper(record):
            self.complete(with_plugin=True)
        return callers

    def run(self, pairs: int, *, mode: str) -> list[Completion]:
        """``pairs`` completions with and ``pairs`` without the plugin, interleaved (so that
        the machine's load and the growing tables weigh on both alike).
        """
        completions = []
        with tasks_run(mode):
            for index in range(pairs):
                first = index % 2 == 0
                completions.append(self.complete(with_plugin=first))
                completions.append(self.complete(with_plugin=not first))
        return completions


def _plugin_caller(stack: traceback.StackSummary) -> str:
    """``module:function`` of the innermost frame in the plugin's package, "" if none."""
    for frame in reversed(stack):
        if f"{os.sep}saleor_retention_plugin{os.sep}" in frame.filename:
            module = frame.filename.rsplit(f"saleor_retention_plugin{os.sep}", 1)[1]
            return f"{module.removesuffix('.py')}:{frame.name}"
    return ""


@contextlib.contextmanager
def tasks_run(mode: str) -> Iterator[None]:
    """``inline``: tasks run in the request (eager). ``queued``: they go to a real Redis
    broker and wait there for a worker; the queue is emptied afterwards.
    """
    if mode == "inline":
        yield
        return
    if mode != "queued":
        raise ValueError(f"Unknown mode {mode!r}: use 'inline' or 'queued'.")
    # Saleor's Celery app reads Django's CELERY_* settings: its conf answers to those
    # names (setting ``task_always_eager`` itself would be shadowed by them).
    conf = tasks.sync_saleor_order_points_task.app.conf
    previous = (conf.CELERY_TASK_ALWAYS_EAGER, conf.get("CELERY_BROKER_URL"))
    conf.CELERY_TASK_ALWAYS_EAGER = False
    conf.CELERY_BROKER_URL = BROKER_URL
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            tasks.sync_saleor_order_points_task.app.control.purge()
        conf.CELERY_TASK_ALWAYS_EAGER, conf.CELERY_BROKER_URL = previous
