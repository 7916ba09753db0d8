"""The Saleor glue: hook -> read a few fields -> enqueue a task after commit.

Every hook returns ``previous_value`` and never raises into Saleor: an exception here
would skip Saleor's later callbacks (the order confirmation email, for one). Work that
needs more than the hook's own object runs in Celery.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from saleor.plugins.base_plugin import BasePlugin

from . import conf
from .constants import PLUGIN_ID
from .domain.orders import order_event_syncs_points
from .enqueue import enqueue_after_commit
from .integrations.saleor.orders import FULLY_CHARGED_STATUSES
from .receivers import enqueue_anonymisation, enqueue_guest_merge

if TYPE_CHECKING:
    from saleor.account.models import User
    from saleor.checkout.models import Checkout
    from saleor.order.models import Order
    from saleor.plugins.models import PluginConfiguration

logger = logging.getLogger(__name__)

CART_HOOK_LOCK_TIMEOUT = "100ms"

Hook = TypeVar("Hook", bound=Callable[..., Any])


def never_raises(hook: Hook) -> Hook:
    """Log instead of raising, and hand Saleor back the value it passed in."""

    @functools.wraps(hook)
    def guarded(
        self: RetentionPlugin, *args: Any, previous_value: Any = None, **kwargs: Any
    ) -> Any:
        try:
            hook(self, *args, previous_value=previous_value, **kwargs)
        except Exception:
            logger.exception("Retention plugin hook %s failed; Saleor goes on", hook.__name__)
        return previous_value

    return guarded  # type: ignore[return-value]


class RetentionPlugin(BasePlugin):
    PLUGIN_ID = PLUGIN_ID
    PLUGIN_NAME = "Retention: loyalty points, tiers & reminders"
    PLUGIN_DESCRIPTION = (
        "Brings customers back: loyalty points for every order (1 point per currency unit "
        "by default), taken back on cancellations and refunds; membership tiers with "
        "benefits; a points mall of voucher rewards and prize draws; abandoned-cart "
        "reminders by email, Saleor app or webhook, sent once, with a holdout group to "
        "measure what they recover. Configure it per channel."
    )
    CONFIGURATION_PER_CHANNEL = True
    DEFAULT_ACTIVE = False
    CONFIG_STRUCTURE = conf.config_structure()
    DEFAULT_CONFIGURATION = conf.default_configuration()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Instances live per request / per task: the same stored row is parsed once per
        # process (conf.stored_settings). Stored rows are validated on save; lenient
        # parsing keeps an old bad row from breaking the shop.
        self.settings = conf.stored_settings(self.configuration)

    @classmethod
    def _update_configuration_structure(cls, configuration: Any) -> Any:
        # Saleor drops stored keys the structure no longer has: rename old setting names
        # (cart_holdout_percent -> holdout_percent) first, so a merchant's value survives.
        return super()._update_configuration_structure(conf.with_current_names(configuration))

    @classmethod
    def validate_plugin_configuration(
        cls, plugin_configuration: PluginConfiguration, **kwargs: Any
    ) -> None:
        # Raises ValidationError, one error per bad field (the dashboard shows each).
        conf.validate_configuration(plugin_configuration.configuration)

    @classmethod
    def save_plugin_configuration(
        cls, plugin_configuration: PluginConfiguration, cleaned_data: Any
    ) -> Any:
        # The flows' scan gates re-open with the saved row (services.scan_gates): a flow
        # switched on, another greeting hour or timezone, are seen by the next sweep.
        from .services import scan_gates

        with transaction.atomic():
            saved = super().save_plugin_configuration(plugin_configuration, cleaned_data)
            scan_gates.inputs_changed(scan_gates.CHANNEL_SETTINGS)
        return saved

    # --- HTTP: /plugins/channel/<channel-slug>/saleor.retention/<path> -------------------

    def webhook(self, request: HttpRequest, path: str, previous_value: Any) -> HttpResponse:
        from .endpoints import route_plugin_request

        try:
            return route_plugin_request(self, request, path)
        except Exception:
            logger.exception("Retention plugin endpoint %s failed", path)
            return JsonResponse({"errors": [{"message": "Internal error."}]}, status=500)

    # --- orders ---------------------------------------------------------------------------

    @never_raises
    def order_created(
        self, order: Order, previous_value: Any, webhooks: Any = None, **kwargs: Any
    ) -> None:
        # A paid checkout fires order_fully_paid right after in the same request, and
        # its task does everything this one would (carts included): one task, not two.
        # Any other new order gets its task now: even before it earns, it stops its
        # cart's reminders. (Fields on the object: no query.)
        paid_at_once = order.charge_status in FULLY_CHARGED_STATUSES
        if not paid_at_once or order_event_syncs_points(
            "order_created", self.settings.ledger.credit_trigger.value
        ):
            self._apply_order(order)

    @never_raises
    def order_fully_paid(
        self, order: Order, previous_value: Any, webhooks: Any = None, **kwargs: Any
    ) -> None:
        self._sync_order_points("order_fully_paid", order)

    @never_raises
    def order_cancelled(
        self, order: Order, previous_value: Any, webhooks: Any = None, **kwargs: Any
    ) -> None:
        self._sync_order_points("order_cancelled", order)

    @never_raises
    def order_refunded(
        self, order: Order, previous_value: Any, webhooks: Any = None, **kwargs: Any
    ) -> None:
        self._sync_order_points("order_refunded", order)

    @never_raises
    def order_fully_refunded(
        self, order: Order, previous_value: Any, webhooks: Any = None, **kwargs: Any
    ) -> None:
        self._sync_order_points("order_fully_refunded", order)

    @never_raises
    def order_fulfilled(
        self, order: Order, previous_value: Any, webhooks: Any = None, **kwargs: Any
    ) -> None:
        # Starts the flows counted from fulfilment (the intake publishes order_fulfilled
        # once it reads the order as fulfilled); points and tiers are unchanged by it.
        self._apply_order(order)

    def _sync_order_points(self, event: str, order: Order) -> None:
        if order_event_syncs_points(event, self.settings.ledger.credit_trigger.value):
            self._apply_order(order)

    def _apply_order(self, order: Order) -> None:
        """One task per event: the order intake reads the order and applies it everywhere.

        No query here: the order's id is on the object Saleor hands in.
        """
        from .tasks import sync_saleor_order_points_task

        enqueue_after_commit(
            sync_saleor_order_points_task, str(order.pk), self.settings.as_task_configuration()
        )

    # --- customers ------------------------------------------------------------------------

    @never_raises
    def customer_created(self, customer: User, previous_value: Any, **kwargs: Any) -> None:
        # An unconfirmed registration has not proved it owns the email: it waits for
        # account_confirmed.
        if customer.is_confirmed:
            enqueue_guest_merge(customer.pk, customer.email)

    @never_raises
    def account_confirmed(self, user: User, previous_value: Any, **kwargs: Any) -> None:
        enqueue_guest_merge(user.pk, user.email)

    @never_raises
    def checkout_created(
        self, checkout: Checkout, previous_value: Any, webhooks: Any = None, **kwargs: Any
    ) -> None:
        self._record_cart_activity(checkout)

    @never_raises
    def checkout_updated(
        self, checkout: Checkout, previous_value: Any, webhooks: Any = None, **kwargs: Any
    ) -> None:
        self._record_cart_activity(checkout)
        # A checkout attached to a user (checkoutCustomerAttach) brings their guest points:
        # by the user's own confirmed email, never by the checkout's, which anyone can set
        # to any address (checkoutEmailUpdate).
        if checkout.user_id is not None:
            user = checkout.user
            if user.is_confirmed:
                enqueue_guest_merge(user.pk, user.email)

    @never_raises
    def customer_deleted(
        self, customer: User, previous_value: Any, webhooks: Any = None, **kwargs: Any
    ) -> None:
        enqueue_anonymisation(customer.pk, customer.email)

    @never_raises
    def account_deleted(self, user: User, previous_value: Any, **kwargs: Any) -> None:
        enqueue_anonymisation(user.pk, user.email)

    # --- carts ----------------------------------------------------------------------------

    def _record_cart_activity(self, checkout: Checkout) -> None:
        """One upsert from fields already on the checkout; no lines, no prices.

        In a savepoint: should it fail, Saleor's own transaction stays usable. It waits
        at most ``CART_HOOK_LOCK_TIMEOUT`` for the cart's row (the sweep may hold it for a
        moment): the customer's request never waits long on us, and an activity skipped
        that way is recorded by the customer's next one.
        """
        from .domain.carts import CartActivity
        from .services.carts import record_cart_activity

        channel = self.channel if self.channel is not None else checkout.channel
        activity = CartActivity(
            checkout_token=str(checkout.token),
            channel_slug=channel.slug,
            customer_id=checkout.user_id,
            email=checkout.email,
            language_code=checkout.language_code or "en",
            currency=checkout.currency or "",
            occurred_at=timezone.now(),
        )
        # record_cart_activity takes its own savepoint when given a lock timeout.
        record_cart_activity(activity, self.settings, lock_timeout=CART_HOOK_LOCK_TIMEOUT)
