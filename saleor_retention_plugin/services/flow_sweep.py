"""The periodic sweep's first half: every registered flow writes its due outbox rows.

``schedule_due_messages`` asks each flow of ``flows.FLOWS`` for its due messages (the
second half, claiming and delivering them, is ``flows.claim_due_messages`` and
``flows.deliver_message``). Flows on the enrolment scheduler (``enrolments``) are swept
together: each scans first, then one statement over the due index names those with an
enrolment due, and only they are advanced. A sweep in which nothing of theirs is due thus
costs one statement instead of one claim per flow, and the same statement reads the scan
gates that let it skip the scans that cannot find anyone new (``scan_gates``); the sweep
runs every minute in a shop (and at every due moment in the sandbox).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from django.db import connection

from ..models import EnrolmentState, FlowEnrolment, ScanGate
from . import scan_gates
from .enrolments import EnrolmentFlow, advance_due_enrolments
from .flows import FLOWS
from .stored_moments import stored_moment

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

logger = logging.getLogger(__name__)


def schedule_due_messages(now: datetime) -> dict[str, dict[str, int]]:
    """Let every registered flow write its due outbox rows; returns a report per flow.

    A flow that fails is logged and reported as ``{"error": 1}``: the others, and the
    delivery of what is already due, go on.
    """
    reports: dict[str, dict[str, int]] = {}
    on_scheduler = []
    for name, flow in list(FLOWS.items()):
        if isinstance(flow, EnrolmentFlow):
            on_scheduler.append(flow)
            continue
        try:
            reports[name] = flow.schedule_due(now)
        except Exception:
            logger.exception("Flow %s could not schedule its due messages", name)
            reports[name] = {"error": 1}
    reports.update(schedule_enrolment_flows(on_scheduler, now))
    return reports


def schedule_enrolment_flows(
    flows: Sequence[EnrolmentFlow], now: datetime
) -> dict[str, dict[str, int]]:
    """What ``EnrolmentFlow.schedule_due`` does for each flow, with one read of who is due.

    Every flow scans first (a scan may enrol subjects due at once; a gated flow whose gate
    is closed does not scan: ``scan_gates``), then the flows with a due enrolment are
    advanced. One statement reads the gates and who is due, asked again only after a scan
    that ran. A scan that fails does not keep the flow's due enrolments from advancing;
    either failure reports the flow as ``{"error": 1}``.
    """
    reports: dict[str, dict[str, int]] = {}
    names = [flow.name for flow in flows]
    gates, due = gates_and_due(flows, now)
    scanned = False
    for flow in flows:
        scanned = scanned or scans_now(flow, gates, now)
        try:
            reports[flow.name] = {"enrolled": flow.enrol_scanned(now, gates)}
        except Exception:
            logger.exception("Flow %s could not scan for new enrolments", flow.name)
            reports[flow.name] = {"error": 1}
    if scanned:  # a scan may have enrolled someone due at once: ask again
        due = flows_with_due_enrolments(names, now)
    for flow in flows:
        if flow.name not in due:
            continue
        try:
            reports[flow.name] = {**advance_due_enrolments(flow, now=now), **reports[flow.name]}
        except Exception:
            logger.exception("Flow %s could not advance its due enrolments", flow.name)
            reports[flow.name] = {"error": 1}
    return reports


def scans_now(flow: EnrolmentFlow, gates: scan_gates.Gates, now: datetime) -> bool:
    """Whether the flow's scan runs at this sweep: it is gated and open, or not gated."""
    if flow.scan_inputs is None:
        return type(flow).scan is not EnrolmentFlow.scan  # the base scan finds nobody
    return not scan_gates.is_closed(flow, gates.get(flow.name), now)


def gates_and_due(
    flows: Sequence[EnrolmentFlow], now: datetime
) -> tuple[scan_gates.Gates, set[str]]:
    """Every scan gate, and which of ``flows`` have an enrolment due by ``now``.

    One statement for both (``gates_and_due_sql``): each flow's gate row (ungated flows
    keep one too) with an ``EXISTS`` over the due index. When every scan is then skipped,
    nobody was enrolled in between, so the sweep asks nothing more of the flows it does
    not advance. A flow without a row yet gets one (a gated one with its inputs, so a
    change bumps it).
    """
    with connection.cursor() as cursor:
        cursor.execute(gates_and_due_sql(), [connection.ops.adapt_datetimefield_value(now)])
        rows = cursor.fetchall()
    gates: scan_gates.Gates = {}
    flows_due = set()
    for flow, inputs, generation, scanned, signature, until, due in rows:
        gates[flow] = ScanGate(
            flow=flow,
            inputs=inputs,
            generation=generation,
            scanned_generation=scanned,
            signature=signature,
            quiet_until=stored_moment(until),
        )
        if due:
            flows_due.add(flow)
    missing = [flow for flow in flows if flow.name not in gates]
    if missing:
        ScanGate.objects.bulk_create(
            [
                ScanGate(
                    flow=flow.name,
                    inputs=scan_gates.inputs_text(flow) if flow.scan_inputs is not None else "",
                )
                for flow in missing
            ],
            ignore_conflicts=True,
        )
        return gates, flows_with_due_enrolments([flow.name for flow in flows], now)
    return gates, {flow.name for flow in flows if flow.name in flows_due}


def gates_and_due_sql() -> str:
    """The statement of ``gates_and_due`` (one parameter: the sweep's moment).

    Written out, not built by the ORM at every sweep: it runs every minute, and building
    the ``EXISTS`` cost more than running it. The state is a constant, so the partial
    index on active ``next_check_at`` answers each ``EXISTS``.
    """
    quote = connection.ops.quote_name
    gates, enrolments = ScanGate._meta.db_table, FlowEnrolment._meta.db_table
    return (
        "SELECT g.flow, g.inputs, g.generation, g.scanned_generation, g.signature,"
        f" g.quiet_until, EXISTS (SELECT 1 FROM {quote(enrolments)} e"
        f" WHERE e.flow = g.flow AND e.state = '{EnrolmentState.ACTIVE.value}'"
        f" AND e.next_check_at <= %s) FROM {quote(gates)} g"
    )


def flows_with_due_enrolments(names: Sequence[str], now: datetime) -> set[str]:
    """Which of the flows ``names`` have an active enrolment due by ``now``.

    One statement, reading only due rows (the partial index on active ``next_check_at``).
    """
    return set(
        FlowEnrolment.objects.filter(
            flow__in=list(names), state=EnrolmentState.ACTIVE, next_check_at__lte=now
        )
        .order_by()
        .values_list("flow", flat=True)
        .distinct()
    )
