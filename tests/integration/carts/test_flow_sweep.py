"""The sweep's first half for flows on the enrolment scheduler: one read of who is due.

The sweep runs every minute in a shop and at every due moment in the sandbox; flows with
nothing due must not cost a claim each, and nothing due may be left for a later sweep.
"""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from saleor_retention_plugin import tasks
from saleor_retention_plugin.models import FlowEnrolment, FlowMessage
from saleor_retention_plugin.services import flow_sweep, flows
from saleor_retention_plugin.services.enrolments import (
    EnrolmentFlow,
    EnrolmentRequest,
    SendStep,
    Subject,
    enrol,
)

from .cart_shop import CHANNEL, T0

DAY = timedelta(days=1)
pytestmark = pytest.mark.django_db


class OneStepFlow(EnrolmentFlow):
    """One message a day after the anchor; ``scan`` enrols what ``to_scan`` lists."""

    def __init__(self, name, *, set_based_scan=False, broken_scan=False):
        self.name = name
        self.to_scan: list[int] = []
        self.set_based_scan = set_based_scan
        self.broken_scan = broken_scan

    def is_enabled(self, settings):
        return True

    def first_check_at(self, request, settings):
        return request.anchor_at + DAY

    def scan(self, now):
        if self.broken_scan:
            raise RuntimeError("a scan that fails")
        for customer_id in self.to_scan:
            request = EnrolmentRequest(
                subject=Subject.customer(customer_id),
                channel_slug=CHANNEL,
                anchor_at=now - DAY,
                customer_id=customer_id,
            )
            if self.set_based_scan:
                # As the campaign flow does: written directly, nothing yielded.
                enrol(
                    self.name,
                    request.subject,
                    request.anchor_at,
                    channel_slug=CHANNEL,
                    customer_id=customer_id,
                )
            else:
                yield request
        self.to_scan = []

    def advance(self, enrolment, settings, now):
        return SendStep(1, None)

    def compose(self, enrolment, message, settings, now):
        return flows.Ready(context={}, zone=ZoneInfo("UTC"))


@pytest.fixture
def register():
    registered = []

    def register(*flow_objects):
        for flow in flow_objects:
            registered.append(flows.register_flow(flow))
        return flow_objects

    yield register
    for flow in registered:
        flows.FLOWS.pop(flow.name, None)


def messages_of(flow_name):
    return FlowMessage.objects.filter(flow=flow_name).count()


def sweep_statements(at):
    with CaptureQueriesContext(connection) as queries:
        flow_sweep.schedule_due_messages(at)
    return len(queries)


def test_a_sweep_with_nothing_due_costs_the_same_however_many_flows_wait(register):
    register(OneStepFlow("waiting_a"))
    for customer_id in (1, 2):
        enrol(
            "waiting_a",
            Subject.customer(customer_id),
            T0,
            channel_slug=CHANNEL,
            customer_id=customer_id,
        )
    # The first sweep scans the built-in flows, then their gates close.
    sweep_statements(T0 + DAY / 2)
    with_one = sweep_statements(T0 + DAY / 2)
    register(*(OneStepFlow(f"waiting_{letter}") for letter in "bcdef"))
    sweep_statements(T0 + DAY / 2)  # the new flows' first sweep writes their gate rows
    with_six = sweep_statements(T0 + DAY / 2)

    assert FlowEnrolment.objects.filter(flow="waiting_a").count() == 2
    assert with_six == with_one
    assert messages_of("waiting_a") == 0


def test_only_the_flow_with_a_due_enrolment_is_advanced_and_it_sends_once(register):
    register(OneStepFlow("due_flow"), OneStepFlow("idle_flow"))
    enrol("due_flow", Subject.customer(1), T0, channel_slug=CHANNEL, customer_id=1)
    enrol("idle_flow", Subject.customer(2), T0 + DAY, channel_slug=CHANNEL, customer_id=2)

    reports = flow_sweep.schedule_due_messages(T0 + DAY)

    assert reports["due_flow"]["scheduled"] == 1
    assert reports["idle_flow"] == {"enrolled": 0}
    assert (messages_of("due_flow"), messages_of("idle_flow")) == (1, 0)
    flow_sweep.schedule_due_messages(T0 + DAY + timedelta(minutes=1))
    assert messages_of("due_flow") == 1


@pytest.mark.parametrize("set_based", [False, True], ids=["yielded", "written by the scan"])
def test_what_a_scan_enrols_due_at_once_is_advanced_in_the_same_sweep(register, set_based):
    # Another flow swept before it has nothing due: the read of who is due comes after
    # every scan, so it still sees this one.
    _, scanning = register(OneStepFlow("early"), OneStepFlow("scanning", set_based_scan=set_based))
    scanning.to_scan = [5]

    reports = flow_sweep.schedule_due_messages(T0)

    assert FlowEnrolment.objects.filter(flow="scanning").count() == 1
    assert messages_of("scanning") == 1
    assert reports["scanning"]["scheduled"] == 1
    assert reports["early"] == {"enrolled": 0}


def test_a_failing_scan_still_lets_its_due_enrolments_go_out(register):
    register(OneStepFlow("broken_scan", broken_scan=True))
    enrol("broken_scan", Subject.customer(1), T0, channel_slug=CHANNEL, customer_id=1)

    reports = flow_sweep.schedule_due_messages(T0 + DAY)

    assert messages_of("broken_scan") == 1
    assert reports["broken_scan"]["error"] == 1
    assert reports["broken_scan"]["scheduled"] == 1


def test_a_rescan_reads_the_subjects_it_enrolled_before_once_not_one_by_one(register):
    (flow,) = register(OneStepFlow("rescanned"))
    flow.to_scan = [1, 2, 3]
    assert flow.enrol_scanned(T0) == 3

    flow.to_scan = [1, 2, 3, 3]  # the third named twice, as a scan over two steps may
    with CaptureQueriesContext(connection) as queries:
        assert flow.enrol_scanned(T0) == 4

    assert len(queries) == 1
    assert FlowEnrolment.objects.filter(flow="rescanned").count() == 3


def test_a_new_subject_named_twice_in_one_scan_is_enrolled_once(register):
    (flow,) = register(OneStepFlow("named_twice"))
    flow.to_scan = [7, 7]

    assert flow.enrol_scanned(T0) == 2
    assert FlowEnrolment.objects.filter(flow="named_twice").count() == 1


def test_a_scan_that_fails_midway_still_enrols_what_it_found_before(register):
    class FailsAfterOne(OneStepFlow):
        def scan(self, now):
            yield from list(super().scan(now))[:1]
            raise RuntimeError("the scan broke after its first subject")

    (flow,) = register(FailsAfterOne("fails_midway"))
    flow.to_scan = [1, 2]

    with pytest.raises(RuntimeError):
        flow.enrol_scanned(T0)
    assert list(
        FlowEnrolment.objects.filter(flow="fails_midway").values_list("customer_id", flat=True)
    ) == [1]


def test_claiming_when_nothing_is_due_costs_one_read():
    with CaptureQueriesContext(connection) as queries:
        assert flows.claim_due_messages(now=T0) == []

    assert len(queries) == 1


def test_an_idle_sweep_of_the_built_in_flows_costs_one_statement_per_question():
    # The first sweep scans every scan-started flow (campaigns due; channels holding
    # replenishment and win-back rows; channels of today's birthdays; member-day
    # windows) and closes their gates; the next asks two questions: the scan gates with
    # the flows that have a due enrolment, and the messages due.
    with time_machine.travel(T0, tick=False):  # both sweeps at one moment
        tasks.sweep_flows_task()
        with CaptureQueriesContext(connection) as queries:
            report = tasks.sweep_flows_task()

    assert report["claimed"] == 0
    assert len(queries) == 2, [query["sql"][:60] for query in queries]
