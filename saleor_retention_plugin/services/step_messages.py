"""A due step's outbox row, written for when the contact rules let it go out.

A step that came due in the recipient's quiet hours, or within the frequency cap of their
last message, used to be written for "now", claimed by the same sweep, checked under lock
and deferred: a claim, a lock and the flow's checks for nothing. When the row is written
the engine knows what that delivery would decide (the flow's ``zone`` and
``bypasses_frequency_cap`` are what its ``compose`` answers with; the recipient's last
contact is one read), so it writes the row already deferred to that moment, as the
delivery would have left it.

Only when nothing can come between: if another message of the recipient is due by now
(or claimed), it is delivered first and may move the cap, so the new row is written for
now and its delivery decides, as before. The outbox applies every rule again when it
delivers (the settings, or the recipient's contacts, may change in between): this saves
work and is never the only guard.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from ..domain.contact_rules import ContactDecision, decide_contact
from ..models import FlowMessage, MessageState
from . import contact_log

if TYPE_CHECKING:
    from ..conf import ChannelSettings
    from ..models import FlowEnrolment
    from .enrolment_steps import SendStep
    from .enrolments import EnrolmentFlow


def first_send_at(
    flow: EnrolmentFlow, enrolment: FlowEnrolment, settings: ChannelSettings, now: datetime
) -> datetime:
    """When a message due at ``now`` may first go out, quiet hours alone: ``now`` or their end.

    Quiet hours in the recipient's zone (``flow.zone(enrolment, settings)``); the cap is
    left out. When a holdout enrolment's attribution window opens.
    """
    return _decide(flow, enrolment, settings, now, last_contacted_at=None, bypass_cap=True).send_at


def delivery_decision(
    flow: EnrolmentFlow, enrolment: FlowEnrolment, settings: ChannelSettings, now: datetime
) -> ContactDecision:
    """What delivering a new message of ``enrolment`` at ``now`` would decide.

    Quiet hours and, unless the flow bypasses it or it is off, the frequency cap with the
    recipient's last contact (one statement). ``now`` itself when another message of the
    recipient is due by now or claimed: its delivery comes first and may move the cap.
    """
    bypass_cap = flow.bypasses_frequency_cap(settings)
    if bypass_cap or settings.messaging.frequency_cap.window <= timedelta(0):
        return _decide(flow, enrolment, settings, now, last_contacted_at=None, bypass_cap=True)
    keys = contact_log.recipient_keys(enrolment.customer_id, enrolment.email)
    last_contacted_at, other_due = contact_log.contact_before_delivery(
        keys, enrolment.customer_id, enrolment.email, now
    )
    if other_due:
        return ContactDecision(send_at=now)
    return _decide(
        flow, enrolment, settings, now, last_contacted_at=last_contacted_at, bypass_cap=False
    )


def _decide(
    flow: EnrolmentFlow,
    enrolment: FlowEnrolment,
    settings: ChannelSettings,
    now: datetime,
    *,
    last_contacted_at: datetime | None,
    bypass_cap: bool,
) -> ContactDecision:
    return decide_contact(
        now=now,
        zone=flow.zone(enrolment, settings),
        quiet_hours=settings.messaging.quiet_hours,
        cap=settings.messaging.frequency_cap,
        last_contacted_at=last_contacted_at,
        bypass_cap=bypass_cap,
    )


def write_step_message(
    flow: EnrolmentFlow,
    enrolment: FlowEnrolment,
    decision: SendStep,
    settings: ChannelSettings,
    now: datetime,
) -> None:
    """The outbox row of the step ``decision`` sends: due now, or deferred as delivery would.

    Exactly once per step: the row is unique per subject, flow and step (and its
    idempotency key, made of the same), so one ``INSERT ... ON CONFLICT DO NOTHING``
    leaves a row written by an earlier sweep (one that died after it) as it was.
    """
    contact = delivery_decision(flow, enrolment, settings, now)
    deferred = not contact.is_now(now)
    FlowMessage.objects.bulk_create(
        [
            FlowMessage(
                subject_key=flow.message_subject_key(enrolment),
                flow=flow.name,
                step=decision.step,
                enrolment=enrolment,
                channel_slug=enrolment.channel_slug,
                customer_id=enrolment.customer_id,
                recipient_email=enrolment.email,
                language_code=enrolment.language_code,
                state=MessageState.DEFERRED if deferred else MessageState.SCHEDULED,
                next_attempt_at=contact.send_at if deferred else now,
                # As the outbox writes a deferral (``flows._prepare_under_lock``).
                last_error=f"deferred: {contact.reason}" if deferred else "",
                idempotency_key=flow.idempotency_key(enrolment, decision.step),
                scheduled_for_activity_at=decision.scheduled_for_activity_at,
                context=decision.context,
            )
        ],
        ignore_conflicts=True,
    )
