"""The flow engine's scheduler: enrolments, the due sweep with leases and backoff, ``enrol``.

A flow built on the engine subclasses ``EnrolmentFlow`` and writes two rules:
``advance`` (under the enrolment's row lock, in the sweep: what is due now?) and
``compose`` (under the outbox row's lock, right before the send: is it still right,
and what does the message say?). Everything else is the engine's:

* ``enrol(flow_key, subject, anchor_at, ...)`` puts a subject in a flow once (an event
  delivered twice, or a periodic scan that sees it again, enrols once: the row is unique
  per flow, channel, subject and cycle), draws its holdout group, and arms it;
* ``advance_due_enrolments`` claims the flow's due enrolments in batches, ``FOR UPDATE
  SKIP LOCKED`` on PostgreSQL (concurrent sweeps share the work; SQLite serialises
  writers), by moving their ``next_check_at`` a lease ahead, then advances each in a short
  transaction; a failing one is logged and backed off exponentially, the others go on,
  and a dead sweep's enrolments go to the next sweep when the lease ends;
* opt-outs, a lost contact and a flow switched off in the channel stop enrolments
  before the flow is asked; the holdout never gets a message, but its attribution
  window opens when its first one would have gone out;
* due steps become ``FlowMessage`` rows (``step_messages``: already deferred when quiet
  hours or the cap hold them back), which the outbox (``services.flows``) claims,
  checks again (``EnrolmentFlow.prepare`` -> ``compose``), caps, times and sends once.

Hooks (``check``, ``look``/``advance_looked``, ``reads_outside_lock``, ``message_subject_key``,
``idempotency_key``, ``attributes_own_orders``; the cart reminders use them all) park, read
before the lock, key messages, credit orders. ``SingleMessageFlow``: one message, fixed moment.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from ..domain.contact_rules import local_zone as local_zone  # re-exported
from ..domain.customers import normalise_email
from ..domain.holdout import is_in_holdout
from ..models import EnrolmentState, FlowEnrolment, FlowMessage, MessageState, SubjectKind
from . import consent, flow_variants, scan_gates

# Re-exported: flows import the subjects and decisions from here.
from .enrolment_steps import Complete as Complete
from .enrolment_steps import Decision as Decision
from .enrolment_steps import EnrolmentRequest as EnrolmentRequest
from .enrolment_steps import SendStep as SendStep
from .enrolment_steps import StopEnrolment as StopEnrolment
from .enrolment_steps import Subject as Subject
from .enrolment_steps import WaitUntil as WaitUntil
from .enrolment_steps import enrolled_already as enrolled_already
from .enrolment_steps import step_in_series as step_in_series
from .enrolment_stops import naming as naming
from .enrolment_stops import stop_enrolments as stop_enrolments
from .flow_leases import worker_id
from .flows import FLOWS, Cancel, ChannelSettingsLoader, Due, Preparation, Ready
from .flows import channel_settings_loader as channel_settings_loader
from .step_messages import first_send_at, write_step_message

if TYPE_CHECKING:
    from collections.abc import Iterable
    from decimal import Decimal
    from zoneinfo import ZoneInfo

    from ..conf import ChannelSettings

logger = logging.getLogger(__name__)

SWEEP_BATCH_SIZE = 200
# How long a claimed enrolment is kept from other sweeps while this one works on it.
SWEEP_LEASE = timedelta(minutes=10)
FIRST_FAILURE_DELAY = timedelta(minutes=5)
MAX_FAILURE_DELAY = timedelta(hours=6)


# --- the flow base class ---------------------------------------------------------------


class EnrolmentFlow(scan_gates.GatedScan):
    """Base of every flow on the enrolment scheduler (see docs/flows.md).

    Subclasses set ``name`` (the ``FlowMessage.flow`` and template folder), ``subject_kind``
    and ``events`` (``flow_events`` names they enrol from), and implement ``is_enabled``,
    ``advance`` and ``compose``; ``on_event`` / ``scan`` when they enrol from events or a
    periodic scan. ``stops_on_order``: an order by the enrolled customer stops it.
    """

    name: str = ""
    subject_kind: str = SubjectKind.CUSTOMER
    events: tuple[str, ...] = ()
    stops_on_order: bool = False
    # The flow credits orders to its enrolments itself (the cart flow, from the order
    # intake's cart part): ``flow_events.attribute_order`` leaves them alone.
    attributes_own_orders: bool = False
    # ``look`` reads something slow (the shop) before the enrolment is locked.
    reads_outside_lock: bool = False

    # -- what a flow writes --

    def is_enabled(self, settings: ChannelSettings) -> bool:
        raise NotImplementedError

    def holdout_percent(self, settings: ChannelSettings) -> Decimal:
        """This flow's holdout share (0-50); the messaging settings' default unless overridden."""
        return settings.messaging.holdout_percent

    def variant_draw(self, request: EnrolmentRequest, settings: ChannelSettings) -> str:
        """``"a"`` / ``"b"`` when the merchant set the flow a variant B, else ``""``.

        Drawn at enrolment per flow, channel, subject and cycle and kept on the enrolment
        (and on its ``FlowConversion``); ``prepare`` sends a ``"b"`` enrolment variant
        B's subject and incentive (``services.flow_variants``). The report compares
        each with the holdout and B with A.
        """
        return flow_variants.draw_variant(
            self.name, request.subject.key, request.cycle, request.channel_slug, settings
        )

    def first_check_at(self, request: EnrolmentRequest, settings: ChannelSettings) -> datetime:
        """When the scheduler first looks at a new enrolment (its first step's time)."""
        return request.anchor_at

    def advance(
        self, enrolment: FlowEnrolment, settings: ChannelSettings, now: datetime
    ) -> Decision:
        """What is due for this active enrolment now (under its row lock, in the sweep)."""
        raise NotImplementedError

    def compose(
        self,
        enrolment: FlowEnrolment,
        message: FlowMessage,
        settings: ChannelSettings,
        now: datetime,
    ) -> Preparation:
        """Check again right before the send: ``Due``, ``Ready``, ``Cancel`` or ``Retime``."""
        raise NotImplementedError

    # -- optional hooks (the defaults suit most flows) --

    def check(self, enrolment: FlowEnrolment, settings: ChannelSettings | None) -> Decision | None:
        """Under the row lock, before ``advance``: a decision that ends the look, or None.

        The default stops the enrolment when the flow is off in the channel (or the
        plugin has no settings there: ``flow_disabled``), the subject has no contact
        (``no_contact``) or the recipient opted out (``opted_out``).
        """
        reason = _why_stop(self, enrolment, settings)
        return StopEnrolment(reason) if reason or settings is None else None

    def look(
        self, enrolment: FlowEnrolment, settings: ChannelSettings | None, now: datetime
    ) -> Any:
        """With ``reads_outside_lock``: read what is slow (the shop) before the row lock.

        ``enrolment`` is an unlocked copy; the result is handed to ``advance_looked``.
        """
        return None

    def advance_looked(
        self, enrolment: FlowEnrolment, settings: ChannelSettings, now: datetime, looked: Any
    ) -> Decision:
        """``advance`` with what ``look`` read; flows without ``look`` leave it alone."""
        return self.advance(enrolment, settings, now)

    def message_subject_key(self, enrolment: FlowEnrolment) -> str:
        """The outbox row's subject (unique with the flow and the step)."""
        return f"enrolment:{enrolment.pk}"

    def idempotency_key(self, enrolment: FlowEnrolment, step: int) -> str:
        """The message's key for receivers, stable across every retry of the step."""
        return f"retention:{self.name}:{self.message_subject_key(enrolment)}:{step}"

    def on_event(self, event: Any, settings: ChannelSettings) -> Iterable[EnrolmentRequest]:
        """Enrolments an event (``flow_events.FlowEvent``) starts; none by default."""
        return ()

    def scan(self, now: datetime) -> Iterable[EnrolmentRequest]:
        """Enrolments the periodic sweep starts (set-based queries, batched); none by default."""
        return ()

    def zone(self, enrolment: FlowEnrolment, settings: ChannelSettings) -> ZoneInfo:
        """The recipient's zone for quiet hours: the shop's unless a flow knows better.

        The zone ``compose`` answers with: a new step's message is timed with it.
        """
        return local_zone(enrolment.data.get("timezone", ""), settings.ledger.timezone)

    def bypasses_frequency_cap(self, settings: ChannelSettings) -> bool:
        """Whether the flow's messages ignore the frequency cap (as ``compose`` answers)."""
        return False

    # -- what the engine provides --

    def schedule_due(self, now: datetime) -> dict[str, int]:  # all at once: ``flow_sweep``
        enrolled = self.enrol_scanned(now)
        return {**advance_due_enrolments(self, now=now), "enrolled": enrolled}

    def enrol_scanned(self, now: datetime, gates: scan_gates.Gates | None = None) -> int:
        """Enrol what ``scan`` finds now; returns how many of its requests enrolled.

        Not when its gate says nothing is new (``scan_gates``; ``gates``: the sweep's read).
        One read tells what was enrolled before; a failing scan enrols what it found, gate open.
        """
        ticket = scan_gates.take(self, now, gates)
        if ticket is None:
            return 0
        found: list[EnrolmentRequest] = []
        try:
            found.extend(self.scan(now))
        finally:
            known = enrolled_already(self.name, found)
            enrolled = sum(
                enrol_request(self, request, now=now, known=known) is not None for request in found
            )
        scan_gates.record(self, ticket, now)
        return enrolled

    def prepare(
        self, message: FlowMessage, settings: ChannelSettings, now: datetime
    ) -> Preparation:
        enrolment = None
        if message.enrolment_id is not None:
            if FlowMessage.enrolment.is_cached(message):
                # Read and locked with the message (``flows._prepare_under_lock``).
                enrolment = message.enrolment
            else:
                enrolment = (
                    FlowEnrolment.objects.select_for_update()
                    .filter(pk=message.enrolment_id)
                    .first()
                )
        if enrolment is None:
            return Cancel("enrolment_deleted")
        if enrolment.state == EnrolmentState.STOPPED:
            return Cancel(enrolment.stop_reason or "stopped")
        if enrolment.is_holdout:
            return Cancel("holdout")
        if enrolment.email is None and enrolment.customer_id is None:
            return Cancel("no_contact")
        message.customer_id = enrolment.customer_id
        message.recipient_email = enrolment.email
        message.language_code = enrolment.language_code
        # Variant B's incentive stands in for the flow's own; its subject for the template's.
        variant_settings = flow_variants.settings_for(self.name, enrolment.variant, settings)
        prepared = self.compose(enrolment, message, variant_settings, now)

        def with_subject(ready: Ready) -> Ready:
            if subject := flow_variants.variant_subject(
                self.name, enrolment.variant, settings, message.language_code, ready
            ):
                ready.context[flow_variants.SUBJECT_KEY] = subject
            return ready

        if isinstance(prepared, Due):  # built once the contact rules let it go out now
            build = prepared.compose
            return replace(prepared, compose=lambda: with_subject(build()))
        return with_subject(prepared) if isinstance(prepared, Ready) else prepared

    def on_opt_out(self, message: FlowMessage, now: datetime) -> None:
        if message.enrolment_id is not None:
            stop_enrolments(FlowEnrolment.objects.filter(pk=message.enrolment_id), "opted_out")


class SingleMessageFlow(EnrolmentFlow):
    """A flow whose message goes out at a fixed moment (welcome, tier upgrade, member day).

    ``send_times``: when each message is due (the anchor; points expiring: one per
    warning). It owns the step (``step_in_series``: the latest due time sends, once) and
    ``compose``; a subclass writes ``content``, which needs no outbox row.
    """

    def send_times(self, enrolment: FlowEnrolment, settings: ChannelSettings) -> list[datetime]:
        return [enrolment.anchor_at]

    def advance(
        self, enrolment: FlowEnrolment, settings: ChannelSettings, now: datetime
    ) -> Decision:
        return step_in_series(self.send_times(enrolment, settings), enrolment, now)

    def compose(
        self,
        enrolment: FlowEnrolment,
        message: FlowMessage,
        settings: ChannelSettings,
        now: datetime,
    ) -> Preparation:
        return self.content(enrolment, settings, now)

    def content(
        self, enrolment: FlowEnrolment, settings: ChannelSettings, now: datetime
    ) -> Preparation:
        """Checked again right before the send: ``Ready(context, zone)``, or ``Cancel``."""
        raise NotImplementedError


# --- enrolling -------------------------------------------------------------------------


def enrol(
    flow_key: str,
    subject: Subject,
    anchor_at: datetime,
    *,
    channel_slug: str,
    customer_id: int | None = None,
    email: str | None = None,
    language_code: str = "en",
    cycle: int = 1,
    data: dict[str, Any] | None = None,
    settings: ChannelSettings | None = None,
    now: datetime | None = None,
) -> FlowEnrolment | None:
    """Put ``subject`` in the flow ``flow_key`` once; returns its enrolment.

    Idempotent: the same (flow, channel, subject, cycle) returns the existing row
    unchanged. Returns None, writing nothing, when the flow is unknown in this process,
    the channel has no settings (plugin not configured) or the flow is off there, or the
    subject has neither a customer id nor an email. ``settings`` defaults to the
    channel's, loaded. Raises ``ValueError`` for a cycle below 1.
    """
    flow = FLOWS.get(flow_key)
    if not isinstance(flow, EnrolmentFlow):
        logger.warning("Cannot enrol into unknown flow %r", flow_key)
        return None
    request = EnrolmentRequest(
        subject=subject,
        channel_slug=channel_slug,
        anchor_at=anchor_at,
        customer_id=customer_id,
        email=email,
        language_code=language_code,
        cycle=cycle,
        data=dict(data or {}),
    )
    return enrol_request(flow, request, settings=settings, now=now)


def enrol_request(
    flow: EnrolmentFlow,
    request: EnrolmentRequest,
    *,
    settings: ChannelSettings | None = None,
    now: datetime | None = None,
    known: dict[tuple[str, str, int], FlowEnrolment] | None = None,
) -> FlowEnrolment | None:
    """``enrol`` for a flow object and a request (what events and scans produce).

    ``known``: the flow's enrolments by (channel, subject key, cycle), read beforehand
    (``enrolled_already``), so a request needs no read of its own.
    """
    if request.cycle < 1:
        raise ValueError("An enrolment's cycle is 1 or more.")
    settings = settings or channel_settings_loader()(request.channel_slug)
    if settings is None or not flow.is_enabled(settings):
        return None
    email = normalise_email(request.email)
    if request.customer_id is None and not email:
        return None
    key: dict[str, Any] = {
        "flow": flow.name,
        "channel_slug": request.channel_slug,
        "subject_key": request.subject.key,
        "cycle": request.cycle,
    }
    existing = (
        FlowEnrolment.objects.filter(**key).first()
        if known is None
        else known.get((request.channel_slug, request.subject.key, request.cycle))
    )
    if existing is not None:
        return existing
    defaults: dict[str, Any] = {
        "subject_kind": request.subject.kind,
        "customer_id": request.customer_id,
        "email": email,
        "language_code": (request.language_code or "en")[:35],
        "anchor_at": request.anchor_at,
        "data": request.data,
        "is_holdout": is_in_holdout(
            f"{request.subject.key}:{request.cycle}",
            salt=f"{flow.name}-holdout:{request.channel_slug}",
            percent=flow.holdout_percent(settings),
        ),
        "variant": flow.variant_draw(request, settings),
        "next_check_at": flow.first_check_at(request, settings),
    }
    try:
        with transaction.atomic():  # absent a moment ago (read above): no second read
            created = FlowEnrolment.objects.create(**key, **defaults)
        if known is not None:  # a scan naming the subject twice reads it here
            known[(request.channel_slug, request.subject.key, request.cycle)] = created
        return created
    except IntegrityError:  # a concurrent enrol of the same subject won
        enrolment = FlowEnrolment.objects.filter(**key).first()
        if enrolment is None:
            raise  # not the unique key: a real error
        return enrolment


# --- the sweep -------------------------------------------------------------------------


def advance_due_enrolments(
    flow: EnrolmentFlow,
    *,
    now: datetime | None = None,
    batch_size: int = SWEEP_BATCH_SIZE,
    max_batches: int = 50,
    load_settings: ChannelSettingsLoader | None = None,
    report: dict[str, int] | None = None,
) -> dict[str, int]:
    """Advance every due enrolment of ``flow`` once; returns counts for the sweep's report.

    Reads only due rows (a partial index on active ``next_check_at``), so the cost follows
    what is due. When several steps are overdue the flow's ``advance`` decides (most send
    only the latest: a late message is fine, three at once are spam). ``report``: the
    counters to fill (outcomes without a counter are not counted).
    """
    now = now or timezone.now()
    load_settings = load_settings or channel_settings_loader()
    cache: dict[str, ChannelSettings | None] = {}
    if report is None:
        report = {"looked_at": 0, "scheduled": 0, "held_out": 0, "stopped": 0, "failed": 0}
    lease_until = now + SWEEP_LEASE
    for _ in range(max_batches):
        ids = _claim_due(flow.name, now, lease_until, batch_size)
        for enrolment_id in ids:
            report["looked_at"] += 1
            try:
                outcome = _advance_one(flow, enrolment_id, lease_until, now, cache, load_settings)
            except Exception:
                logger.exception("Could not advance %s enrolment %s", flow.name, enrolment_id)
                report["failed"] += 1
                _push_back_after_failure(enrolment_id, lease_until, now)
                continue
            if outcome in report:
                report[outcome] += 1
        if len(ids) < batch_size:
            break
    return report


def _claim_due(flow: str, now: datetime, lease_until: datetime, batch_size: int) -> list[int]:
    """Take a batch of due enrolments and commit at once (no lock is kept)."""
    with transaction.atomic():
        ids = list(
            FlowEnrolment.objects.filter(
                flow=flow, state=EnrolmentState.ACTIVE, next_check_at__lte=now
            )
            .select_for_update(skip_locked=True)
            .order_by("next_check_at", "pk")
            .values_list("pk", flat=True)[:batch_size]
        )
        FlowEnrolment.objects.filter(pk__in=ids).update(
            next_check_at=lease_until, leased_by=worker_id()
        )
    return ids


def failure_delay(failures: int) -> timedelta:
    """How long to wait after ``failures`` sweeps in a row failed on a subject (1-based)."""
    doublings = min(max(failures - 1, 0), 16)  # capped: weeks of failures never overflow
    return min(FIRST_FAILURE_DELAY * 2**doublings, MAX_FAILURE_DELAY)


def _push_back_after_failure(enrolment_id: int, lease_until: datetime, now: datetime) -> None:
    with transaction.atomic():
        enrolment = FlowEnrolment.objects.select_for_update().filter(pk=enrolment_id).first()
        if (
            enrolment is None
            or enrolment.state != EnrolmentState.ACTIVE
            or enrolment.next_check_at != lease_until
        ):
            return
        enrolment.failures += 1
        enrolment.next_check_at = now + failure_delay(enrolment.failures)
        enrolment.leased_by = ""
        enrolment.save(update_fields=["failures", "next_check_at", "leased_by", "updated_at"])


def _advance_one(
    flow: EnrolmentFlow,
    enrolment_id: int,
    lease_until: datetime,
    now: datetime,
    cache: dict[str, ChannelSettings | None],
    load_settings: ChannelSettingsLoader,
) -> str:
    looked: Any = None
    if flow.reads_outside_lock:
        # The slow part (a flow reading the shop) runs outside any transaction, so the
        # customer's requests writing the subject never wait behind it.
        copy = FlowEnrolment.objects.filter(pk=enrolment_id).first()
        if not _still_ours(copy, lease_until):
            return "gone"
        assert copy is not None
        looked = flow.look(copy, _settings(copy.channel_slug, cache, load_settings), now)
    with transaction.atomic():
        enrolment = FlowEnrolment.objects.select_for_update().filter(pk=enrolment_id).first()
        if not _still_ours(enrolment, lease_until):
            return "gone"  # stopped meanwhile, or re-armed (new activity): its new check decides
        assert enrolment is not None
        settings = _settings(enrolment.channel_slug, cache, load_settings)
        enrolment.failures = 0
        enrolment.leased_by = ""
        decision = flow.check(enrolment, settings)
        if decision is None:
            assert settings is not None
            decision = flow.advance_looked(enrolment, settings, now, looked)
        return _apply(flow, enrolment, decision, settings, now)


def _still_ours(enrolment: FlowEnrolment | None, lease_until: datetime) -> bool:
    return (
        enrolment is not None
        and enrolment.state == EnrolmentState.ACTIVE
        and enrolment.next_check_at == lease_until
    )


def _settings(
    channel_slug: str,
    cache: dict[str, ChannelSettings | None],
    load_settings: ChannelSettingsLoader,
) -> ChannelSettings | None:
    if channel_slug not in cache:
        cache[channel_slug] = load_settings(channel_slug)
    return cache[channel_slug]


def _why_stop(
    flow: EnrolmentFlow, enrolment: FlowEnrolment, settings: ChannelSettings | None
) -> str:
    if settings is None or not flow.is_enabled(settings):
        return "flow_disabled"
    if enrolment.customer_id is None and not enrolment.email:
        return "no_contact"
    if consent.is_opted_out(
        enrolment.channel_slug, email=enrolment.email, customer_id=enrolment.customer_id
    ):
        return "opted_out"
    return ""


def _apply(
    flow: EnrolmentFlow,
    enrolment: FlowEnrolment,
    decision: Decision,
    settings: ChannelSettings | None,
    now: datetime,
) -> str:
    if isinstance(decision, StopEnrolment):  # ``stop_enrolments`` for the locked row, one save
        enrolment.state, enrolment.next_check_at = EnrolmentState.STOPPED, None
        enrolment.stop_reason, enrolment.stopped_at = decision.reason, now
        enrolment.save()
        FlowMessage.objects.waiting().filter(enrolment_id=enrolment.pk).update(
            state=MessageState.CANCELLED, cancel_reason=decision.reason, updated_at=now
        )
        return "stopped"
    if isinstance(decision, WaitUntil):
        enrolment.next_check_at = decision.at
        enrolment.save()
        return decision.outcome
    if isinstance(decision, Complete):
        enrolment.state = EnrolmentState.COMPLETED
        enrolment.next_check_at = None
        enrolment.save()
        return "completed"
    assert settings is not None
    outcome = "scheduled"
    if enrolment.is_holdout:
        if enrolment.window_opens_at is None:
            # When its first message would have gone out (quiet hours apply, the cap not).
            enrolment.window_opens_at = first_send_at(flow, enrolment, settings, now)
        outcome = "held_out"
    else:
        write_step_message(flow, enrolment, decision, settings, now)
    enrolment.next_step = decision.step + 1
    enrolment.next_check_at = decision.next_check_at
    if decision.next_check_at is None:
        enrolment.state = EnrolmentState.COMPLETED
    enrolment.save()
    return outcome
