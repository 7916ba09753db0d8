"""The flow engine: outbox rows are claimed atomically, checked again, sent once.

A flow (``FLOWS``) knows its subject; the engine knows the outbox. For each due row:

1. ``claim_due_messages`` flips due rows (and rows whose claim went stale because a
   worker died) to ``claimed`` with a fresh claim token, in one
   ``UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED)``: concurrent sweeps
   never claim the same row.
2. ``deliver_message`` holds the claim token. Under the row lock it asks the flow to
   check every stop condition again (the flow may cancel the row, or re-time it after new
   activity), checks consent, applies quiet hours and the frequency cap (deferring,
   never dropping), and only then builds the message (a flow's ``Due``), reserves the
   contact in the log and mints the coupon once.
3. It sends outside any transaction, with the row's stable idempotency key, and marks
   the row ``sent`` only if it still holds the claim. A transient failure (and any
   unexpected error: a broken template, a coupon issuer that is down) releases the row
   for a retry with backoff, until ``retry_window()`` has passed since the first failure
   (48 hours by default: an outage or wrong SMTP credentials fixed within it lose
   nothing); a permanent one marks it ``failed``. ``manage.py retention_outbox
   --requeue-failed`` puts failed messages back once the cause is fixed.

Crashes: a claim is a lease, and a send is recorded before it starts. A claim records the
worker (``claimed_by``) and a 60 s lease that a live worker renews for up to 5 minutes
(``flow_leases``). Step 2 commits ``send_started_at`` with its checks, before anything
leaves. A claimed row whose send never started never reached the channel: once its lease
lapsed (worker dead, task lost) the next sweep hands it out again, keeping its token, and
only one task can start its send (under the row lock): early takeover never sends twice.
A row whose send started may have reached the server: it waits ``CLAIM_TIMEOUT`` (15 min,
longer than the slowest send), then goes again with the same idempotency key and coupon.
Only a crash during the send itself can thus duplicate, and only where the receiver
ignores the key. A row whose worker keeps dying is given up after the retry window.

Flows schedule their own messages: the periodic sweep has every registered flow write
its due rows (``flow_sweep.schedule_due_messages``; the cart flow reads its due carts),
then claims what is due.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from django.db import InterfaceError, OperationalError, connection, transaction
from django.utils import timezone

from .. import app_settings
from ..conf import ChannelSettings
from ..delivery.base import (
    DeliveryReceipt,
    OutgoingMessage,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from ..domain.contact_rules import decide_contact
from ..models import ContactLogEntry, FlowMessage, MessageState
from . import contact_log
from .contact_log import recipient_keys as recipient_keys  # re-exported
from .flow_claims import Claim as Claim  # re-exported: the sweep claims through here
from .flow_claims import claim_due_messages as claim_due_messages
from .flow_leases import (
    CLAIM_TIMEOUT,
    retry_database_blips,
    start_lease_heartbeat,
    worker_id,
)
from .incentives import CouponRequest, coupon_issuer

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from ..domain.schedules import Incentive

logger = logging.getLogger(__name__)

DEFAULT_RETRY_WINDOW = app_settings.DEFAULT_RETRY_WINDOW
FIRST_RETRY_DELAY = timedelta(minutes=2)
MAX_RETRY_DELAY = timedelta(hours=6)
SALEOR_SETTINGS_LOADER = app_settings.SALEOR_SETTINGS_LOADER

ChannelSettingsLoader = Callable[[str], ChannelSettings | None]
Sender = Callable[[OutgoingMessage, ChannelSettings], DeliveryReceipt]


# --- what a flow tells the engine ------------------------------------------------------


@dataclass(frozen=True)
class Cancel:
    reason: str


@dataclass(frozen=True)
class Retime:
    """New activity moved the step: wait until ``at`` (the row goes back to scheduled)."""

    at: datetime


@dataclass(frozen=True)
class Ready:
    context: dict[str, Any]
    zone: ZoneInfo
    bypass_frequency_cap: bool = False
    incentive: Incentive | None = None
    currency: str = ""


@dataclass(frozen=True)
class Due:
    """Still due after every check: it goes out as soon as quiet hours and the cap allow.

    ``compose()`` builds the message (the slow part: order history, recommendations,
    points) and runs only when it goes out now, so a delivery that quiet hours or the
    frequency cap defer never builds a message it does not send. Every check that may
    cancel or re-time has run before (a deferred message is checked again when it comes
    back); ``compose`` only reads.
    """

    zone: ZoneInfo
    compose: Callable[[], Ready]
    bypass_frequency_cap: bool = False


Preparation = Cancel | Retime | Ready | Due


class Flow(Protocol):
    name: str

    def schedule_due(self, now: datetime) -> dict[str, int]:
        """Write the outbox rows that are due now (run by the periodic sweep).

        Must be idempotent (one row per subject and step) and should keep each
        transaction short: a flow's subjects are also written in customers' requests.
        Returns counts for the sweep's report.
        """
        ...

    def is_enabled(self, settings: ChannelSettings) -> bool: ...

    def prepare(
        self, message: FlowMessage, settings: ChannelSettings, now: datetime
    ) -> Preparation:
        """Check every stop condition again and build the message context (under lock).

        May update ``message.recipient_email`` / ``customer_id`` / ``language_code`` to the
        subject's current contact, and ``scheduled_for_activity_at``; the engine saves only
        these of the flow's changes (``PREPARED_FIELDS``). Returning ``Cancel`` should also
        stop the subject's series if it has to.
        ``Due`` leaves building the message until the contact rules let it go out now.
        """
        ...

    def on_opt_out(self, message: FlowMessage, now: datetime) -> None:
        """The recipient unsubscribed: stop the subject's series."""
        ...


FLOWS: dict[str, Flow] = {}

# The message fields a flow's ``prepare`` may change (saved with the engine's own).
PREPARED_FIELDS = ("customer_id", "recipient_email", "language_code", "scheduled_for_activity_at")


def register_flow(flow: Flow) -> Flow:
    FLOWS[flow.name] = flow
    return flow


def retry_window() -> timedelta:
    """How long after its first failure a message is still retried.

    ``RETENTION_DELIVERY_RETRY_HOURS`` (Django setting), 48 hours by default.
    """
    return app_settings.DELIVERY_RETRY_WINDOW


# --- seams -----------------------------------------------------------------------------


def channel_settings_loader() -> ChannelSettingsLoader:
    """``RETENTION_CHANNEL_SETTINGS_LOADER`` (dotted path), else the Saleor plugin rows."""
    loader = app_settings.channel_settings_loader
    return (lambda channel_slug: None) if loader is None else loader


def default_sender() -> Sender:
    from ..delivery.sending import send_message

    return send_message


# --- delivering ------------------------------------------------------------------------


def deliver_message(
    message_id: int,
    claim_token: str,
    *,
    now: datetime | None = None,
    load_settings: ChannelSettingsLoader | None = None,
    send: Sender | None = None,
) -> str:
    """Send one claimed message, at most once.

    Returns what happened, for logs and tests: ``sent``, ``cancelled:<reason>``,
    ``deferred:<reason>``, ``retimed``, ``retry``, ``failed`` or ``claim_lost`` (another worker
    holds it now, or it is done).
    """
    now = now or timezone.now()
    load_settings = load_settings or channel_settings_loader()
    send = send or default_sender()
    start_lease_heartbeat(only_in_a_celery_worker=True)

    try:
        prepared = _prepare_under_lock(message_id, claim_token, now, load_settings)
    except (OperationalError, InterfaceError):
        # The database, not the flow: nothing was sent and the row is still claimed. The
        # task retries in seconds (tasks.TRANSIENT_DATABASE_ERRORS); booking it as the
        # flow's failure would hold it back FIRST_RETRY_DELAY, or cannot be booked at all.
        raise
    except Exception as error:
        # A flow, template context or coupon issuer that raised: nothing was sent, and
        # the row must not stay claimed for ever. Retried like a delivery failure.
        logger.exception("Preparing message %s failed", message_id)
        return _after_transient_failure(
            message_id, claim_token, f"{type(error).__name__}: {error}", now, count_attempt=True
        )
    if isinstance(prepared, str):
        return prepared
    message, settings = prepared

    outgoing = OutgoingMessage(
        idempotency_key=message.idempotency_key,
        flow=message.flow,
        step=message.step,
        channel_slug=message.channel_slug,
        customer_id=message.customer_id,
        recipient_email=message.recipient_email,
        language=message.language_code,
        context=message.context,
    )
    try:
        receipt = send(outgoing, settings)
    except TransientDeliveryError as error:
        return _after_transient_failure(message.pk, claim_token, error.reason, now)
    except PermanentDeliveryError as error:
        return _after_permanent_failure(message, claim_token, error.reason)
    except Exception as error:
        # A custom channel or a template that raised something of its own.
        logger.exception("Sending message %s failed unexpectedly", message.pk)
        return _after_transient_failure(
            message.pk, claim_token, f"{type(error).__name__}: {error}", now
        )

    # It went out: a database restart now must not leave it in doubt (and resent).
    updated = retry_database_blips(
        FlowMessage.objects.filter(
            pk=message.pk, claim_token=claim_token, state=MessageState.CLAIMED
        ).update,
        state=MessageState.SENT,
        sent_at=now,
        delivery_channel=receipt.channel,
        provider_message_id=receipt.provider_message_id or "",
        last_error="",
        updated_at=timezone.now(),
    )
    if not updated:
        # Only possible if the send outlived CLAIM_TIMEOUT and another worker took over.
        logger.error("Message %s was sent but its claim had been taken over", message.pk)
        return "claim_lost"
    return "sent"


def _prepare_under_lock(
    message_id: int, claim_token: str, now: datetime, load_settings: ChannelSettingsLoader
) -> str | tuple[FlowMessage, ChannelSettings]:
    """Check, decide and reserve under the row lock: an outcome, or the message to send."""
    with transaction.atomic():
        claimed = (
            FlowMessage.objects.select_for_update()
            .filter(pk=message_id, claim_token=claim_token, state=MessageState.CLAIMED)
            # A task delivered twice (redelivered by the broker) never sends twice.
            .filter(send_started_at__isnull=True)
        )
        # The message with its enrolment, both locked, in one statement (every flow's
        # message has one; the filter makes the join an inner one, which PostgreSQL
        # needs to lock both rows). ``EnrolmentFlow.prepare`` reads it from there.
        message = (
            claimed.filter(enrolment__isnull=False)
            .select_related("enrolment")
            .select_for_update(of=("self", "enrolment"))
            .first()
        )
        if message is None:
            # Claim lost, or an old row without an enrolment.
            message = claimed.filter(enrolment__isnull=True).first()
        if message is None:
            return "claim_lost"
        flow = FLOWS.get(message.flow)
        if flow is None:
            # A worker that does not know the flow (an older release during a deploy, a
            # flow switched off in this process): another worker or a later run will.
            message.last_error = f"unknown flow {message.flow!r} in this worker"
            _release(message, MessageState.DEFERRED, now + CLAIM_TIMEOUT)
            logger.warning("Message %s belongs to unknown flow %s", message.pk, message.flow)
            return "deferred:unknown_flow"
        settings = load_settings(message.channel_slug)
        if settings is None or not flow.is_enabled(settings):
            return _cancel(message, "flow_disabled")
        prepared = flow.prepare(message, settings, now)
        if isinstance(prepared, Cancel):
            return _cancel(message, prepared.reason)
        if isinstance(prepared, Retime):
            _release(message, MessageState.SCHEDULED, prepared.at)
            return "retimed"
        if message.recipient_email is None and message.customer_id is None:
            return _cancel(message, "no_contact")

        keys = recipient_keys(message.customer_id, message.recipient_email)
        if connection.vendor == "postgresql":
            # Serialises cap decisions for one recipient across flows and workers (SQLite,
            # the sandbox's database, serialises every writer anyway). Sorted, so two
            # workers taking the same pair of keys never deadlock.
            with connection.cursor() as cursor:
                for key in keys:
                    cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [key])
        # Consent (an opt-out in any channel: ``consent.is_opted_out``) and the cap's last
        # contact, read in one statement.
        opted_out, last_contacted_at, reserved = contact_log.standing_before_send(
            keys, message.pk, customer_id=message.customer_id, email=message.recipient_email
        )
        if opted_out:
            flow.on_opt_out(message, now)
            return _cancel(message, "opted_out")
        decision = decide_contact(
            now=now,
            zone=prepared.zone,
            quiet_hours=settings.messaging.quiet_hours,
            cap=settings.messaging.frequency_cap,
            last_contacted_at=last_contacted_at,
            bypass_cap=prepared.bypass_frequency_cap,
        )
        if not decision.is_now(now):
            message.last_error = f"deferred: {decision.reason}"
            _release(message, MessageState.DEFERRED, decision.send_at, reserved=reserved)
            return f"deferred:{decision.reason}"
        if isinstance(prepared, Due):
            prepared = prepared.compose()
        # One upsert for every key: a retried send moves its reservation, never adds one.
        ContactLogEntry.objects.bulk_create(
            [
                ContactLogEntry(
                    message=message, recipient_key=key, flow=message.flow, contacted_at=now
                )
                for key in keys
            ],
            update_conflicts=True,
            unique_fields=["message", "recipient_key"],
            update_fields=["flow", "contacted_at"],
        )
        context = dict(prepared.context)
        if prepared.incentive is not None:
            if not message.coupon_code:
                message.coupon_code = coupon_issuer().issue(
                    CouponRequest(
                        idempotency_key=message.idempotency_key,
                        channel_slug=message.channel_slug,
                        currency=prepared.currency,
                        incentive=prepared.incentive,
                        valid_until=now + timedelta(days=prepared.incentive.valid_days),
                        purpose=f"{message.flow} reminder {message.step}",
                    )
                )
            context["coupon_discount"] = prepared.incentive.describe(prepared.currency)
            context["coupon_valid_days"] = prepared.incentive.valid_days
        context["coupon_code"] = message.coupon_code
        message.context = context
        message.attempts += 1
        # Committed with the checks, before anything leaves: from here on the row is in
        # doubt if this worker dies, and only the long claim timeout may take it over.
        message.send_started_at = timezone.now()
        message.claimed_by = worker_id()
        message.save(
            update_fields=[
                *PREPARED_FIELDS,
                "coupon_code",
                "context",
                "attempts",
                "send_started_at",
                "claimed_by",
                "updated_at",
            ]
        )
    return message, settings


def retry_delay(attempts: int) -> timedelta:
    return min(FIRST_RETRY_DELAY * (2 ** max(attempts - 1, 0)), MAX_RETRY_DELAY)


def _cancel(message: FlowMessage, reason: str) -> str:
    message.state = MessageState.CANCELLED
    message.cancel_reason = reason
    message.save(update_fields=[*PREPARED_FIELDS, "state", "cancel_reason", "updated_at"])
    ContactLogEntry.objects.filter(message=message).delete()
    return f"cancelled:{reason}"


def _release(
    message: FlowMessage,
    state: str,
    at: datetime,
    *,
    reserved: bool = True,
    changed: tuple[str, ...] = (),
) -> None:
    """Back to waiting: nothing went out, so the cap reservation goes too.

    Saves the fields it sets, ``last_error`` and what a flow's ``prepare`` may have changed
    (``PREPARED_FIELDS``), and the caller's other ``changed`` fields. ``reserved=False``:
    the caller read that the message holds no reservation.
    """
    message.state = state
    message.next_attempt_at = at
    message.send_started_at = None
    message.lease_expires_at = None
    message.save(
        update_fields=[
            *PREPARED_FIELDS,
            "state",
            "next_attempt_at",
            "send_started_at",
            "lease_expires_at",
            "last_error",
            "updated_at",
            *changed,
        ]
    )
    if reserved:
        ContactLogEntry.objects.filter(message=message).delete()


def _after_transient_failure(
    message_id: int, claim_token: str, reason: str, now: datetime, *, count_attempt: bool = False
) -> str:
    """Retry later with backoff, until the retry window after the first failure is over."""
    with transaction.atomic():
        current = (
            FlowMessage.objects.select_for_update()
            .filter(pk=message_id, claim_token=claim_token, state=MessageState.CLAIMED)
            .first()
        )
        if current is None:
            return "claim_lost"
        current.last_error = reason[:2000]
        if count_attempt:
            current.attempts += 1
        if current.first_failed_at is None:
            current.first_failed_at = now
        give_up_at = current.first_failed_at + retry_window()
        if now >= give_up_at:
            current.state = MessageState.FAILED
            current.save(
                update_fields=["last_error", "attempts", "first_failed_at", "state", "updated_at"]
            )
            ContactLogEntry.objects.filter(message=current).delete()
            logger.warning(
                "Giving up on message %s after %s attempts since %s: %s",
                current.pk,
                current.attempts,
                current.first_failed_at,
                reason,
            )
            return "failed"
        # The last try falls on the end of the window, not some hours after it.
        retry_at = min(now + retry_delay(current.attempts), give_up_at)
        _release(current, MessageState.DEFERRED, retry_at, changed=("attempts", "first_failed_at"))
    logger.info("Message %s will be retried: %s", message_id, reason)
    return "retry"


def _after_permanent_failure(message: FlowMessage, claim_token: str, reason: str) -> str:
    with transaction.atomic():
        updated = FlowMessage.objects.filter(
            pk=message.pk, claim_token=claim_token, state=MessageState.CLAIMED
        ).update(state=MessageState.FAILED, last_error=reason[:2000], updated_at=timezone.now())
        if updated:
            # Nothing reached the customer: the contact must not count against the cap.
            ContactLogEntry.objects.filter(message_id=message.pk).delete()
    logger.warning("Message %s failed for good: %s", message.pk, reason)
    return "failed" if updated else "claim_lost"


def requeue_failed_messages(
    *, channel_slug: str | None = None, since: datetime | None = None, now: datetime | None = None
) -> int:
    """Put failed messages back in the outbox.

    For when the SMTP password or a template was fixed. They are checked again before sending, like
    any other. Returns how many.
    """
    now = now or timezone.now()
    failed = FlowMessage.objects.filter(state=MessageState.FAILED)
    if channel_slug:
        failed = failed.filter(channel_slug=channel_slug)
    if since is not None:
        failed = failed.filter(updated_at__gte=since)
    return failed.update(
        state=MessageState.SCHEDULED,
        next_attempt_at=now,
        first_failed_at=None,
        claim_token=None,
        claimed_at=None,
        claimed_by="",
        lease_expires_at=None,
        send_started_at=None,
        updated_at=now,
    )
