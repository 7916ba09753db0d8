"""What the flow engine's enrolments are about and what a flow decides for them.

``Subject`` / ``EnrolmentRequest``: who or what is enrolled (``enrol`` and a flow's
``on_event`` / ``scan`` build them); ``enrolled_already``: which of them are.
``SendStep`` / ``WaitUntil`` / ``StopEnrolment`` / ``Complete``: what a flow's
``advance`` returns (``Decision``), and ``step_in_series``, the ``advance`` of any flow
whose steps are fixed moments. Re-exported by
``services.enrolments``, where the engine that acts on them lives.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..models import FlowEnrolment, SubjectKind
from .consent import email_digest

if TYPE_CHECKING:
    from datetime import datetime


# --- subjects and requests -------------------------------------------------------------


@dataclass(frozen=True)
class Subject:
    """What an enrolment is about; ``key`` is unique per kind within a flow and channel."""

    kind: str
    key: str

    @classmethod
    def customer(cls, customer_id: int) -> Subject:
        return cls(SubjectKind.CUSTOMER, f"customer:{customer_id}")

    @classmethod
    def guest(cls, email: str) -> Subject:
        """A customer known only by email (a guest order): keyed by the email's digest."""
        return cls(SubjectKind.CUSTOMER, f"email:{email_digest(email)}")

    @classmethod
    def order(cls, order_id: str) -> Subject:
        return cls(SubjectKind.ORDER, f"order:{order_id}")

    @classmethod
    def cart(cls, checkout_token: str) -> Subject:
        return cls(SubjectKind.CART, f"cart:{checkout_token}")

    @classmethod
    def customer_product(cls, customer_id: int, product_key: str) -> Subject:
        return cls(SubjectKind.CUSTOMER_PRODUCT, f"customer:{customer_id}:product:{product_key}")


@dataclass(frozen=True)
class EnrolmentRequest:
    """One ``enrol`` call, as a flow's ``on_event`` or ``scan`` returns it."""

    subject: Subject
    channel_slug: str
    anchor_at: datetime
    customer_id: int | None = None
    email: str | None = None
    language_code: str = "en"
    cycle: int = 1
    data: dict[str, Any] = field(default_factory=dict)


def enrolled_already(
    flow: str, requests: list[EnrolmentRequest]
) -> dict[tuple[str, str, int], FlowEnrolment]:
    """The enrolments of ``flow`` the requests name, by (channel, subject key, cycle).

    One query per channel and 500 subjects (the unique key's index).
    """
    subjects: dict[str, set[str]] = {}
    for request in requests:
        subjects.setdefault(request.channel_slug, set()).add(request.subject.key)
    known: dict[tuple[str, str, int], FlowEnrolment] = {}
    for channel, keys in subjects.items():
        ordered = sorted(keys)
        for start in range(0, len(ordered), 500):
            for enrolment in FlowEnrolment.objects.filter(
                flow=flow, channel_slug=channel, subject_key__in=ordered[start : start + 500]
            ):
                known[(channel, enrolment.subject_key, enrolment.cycle)] = enrolment
    return known


# --- what ``advance`` decides ------------------------------------------------------------


@dataclass(frozen=True)
class SendStep:
    """Write the outbox row of ``step`` now; look again at ``next_check_at`` (None: done).

    ``context`` is stored on the message (``compose`` can read it from ``message.context``).
    """

    step: int
    next_check_at: datetime | None
    context: dict[str, Any] = field(default_factory=dict)
    # Stored on the message: the subject's last activity the step was timed from (a cart's
    # last change; newer activity re-times the message at send time).
    scheduled_for_activity_at: datetime | None = None


@dataclass(frozen=True)
class WaitUntil:
    """Look again at ``at``; None parks the enrolment (still active).

    A parked enrolment waits until something the flow writes re-arms it (a cart's next
    activity). ``outcome`` names the decision in the sweep's report.
    """

    at: datetime | None
    outcome: str = "waiting"


@dataclass(frozen=True)
class StopEnrolment:
    reason: str


@dataclass(frozen=True)
class Complete:
    """Nothing more to send (the series ran out)."""


Decision = SendStep | WaitUntil | StopEnrolment | Complete


def step_in_series(times: list[datetime], enrolment: FlowEnrolment, now: datetime) -> Decision:
    """``advance`` for a series of absolute step times (step 1 at ``times[0]``...).

    Sends the latest step that is due (a sweep that was down sends one, not a burst),
    waits for the next one, or completes when none is left.
    """
    remaining = range(enrolment.next_step, len(times) + 1)
    due = [step for step in remaining if times[step - 1] <= now]
    if due:
        step = due[-1]
        return SendStep(step, times[step] if step < len(times) else None)
    if enrolment.next_step > len(times):
        return Complete()
    return WaitUntil(times[enrolment.next_step - 1])
