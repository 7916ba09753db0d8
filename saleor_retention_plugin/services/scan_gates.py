"""Scan gates: a sweep skips a flow's scan when it cannot find anything new.

The periodic sweep runs every minute, and every scan-started flow (``EnrolmentFlow.scan``)
used to scan at each: almost every scan found only subjects enrolled before. A flow opts in
by declaring what its scan reads and when time alone can change its answer:

* ``scan_inputs``: the topics below whose change may let the scan find someone new (a
  birthday set, an account opened, a campaign scheduled, the plan refreshed, the plugin
  configuration saved). The service writing such a change calls ``inputs_changed`` in
  its own transaction: one ``UPDATE`` bumps the ``generation`` of the gates reading it;
* ``scan_quiet_until(now)``: after a complete scan at ``now``, the moment before which,
  with no input changed, the scan would find nothing new (the next UTC or local day, the
  greeting hour, a campaign's first moment, the next scan period); None: only an input
  change can make it find someone; ``now`` or earlier: scan again at the next sweep.

The engine keeps one ``ScanGate`` row per flow: the generation the last complete scan
started from (read *before* it scanned, so a change committed while it scanned re-opens
the gate), its ``quiet_until`` and a ``signature`` of the code and settings it ran with.
One statement reads every gate of a sweep with who is due (``flow_sweep.gates_and_due``;
``read_gates`` alone outside the sweep). A gate is closed only when
its row says so for the current generation and signature; a missing row (the first
sweep, a table emptied), a scan that raised (nothing recorded), a bumped input or a
deploy that changed the signature let the next sweep scan. So a gate can cost a scan,
never skip one that would have found someone: the same enrolments at the same moments.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce
from operator import or_
from typing import TYPE_CHECKING

from django.db.models import F, Q

from ..models import ScanGate

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import datetime

# Topics (``scan_inputs``); a bump names every topic the write changed.
BIRTHDAYS = "birthdays"  # a customer's birthday set or changed
ACCOUNTS = "accounts"  # a registered customer's loyalty account opened in a channel
CHANNEL_SETTINGS = "settings"  # a channel's plugin configuration saved
CAMPAIGNS = "campaigns"  # a campaign scheduled, changed or cancelled
MEMBER_DAYS = "member_days"  # a member day scheduled, moved or cancelled
TIERS = "tiers"  # a channel's tier ladder changed (member-day announcements follow it)
REPURCHASE_PLAN = "repurchase_plan"  # the replenishment / win-back plan refreshed

# Bumped when the meaning of a stored gate changes: every gate of an older format opens.
GATE_FORMAT = "1"


Gates = dict[str, ScanGate]


@dataclass(frozen=True)
class Ticket:
    """A scan let through: the generation it started from (None: the flow is not gated)."""

    flow: str
    generation: int | None


def inputs_changed(*topics: str) -> int:
    """Re-open the gates of every flow whose scan reads one of ``topics``; returns how many.

    Call it in the transaction that writes the change (it commits or rolls back with it;
    a sweep that read the old generation scans again). One ``UPDATE`` of the few gate
    rows; nothing when no gate reads the topics yet.
    """
    if not topics:
        return 0
    reads = reduce(or_, (Q(inputs__contains=f",{topic},") for topic in topics))
    return ScanGate.objects.filter(reads).update(generation=F("generation") + 1)


def read_gates() -> Gates:
    """Every flow's gate by flow name, in one statement (the sweep reads them once)."""
    return {gate.flow: gate for gate in ScanGate.objects.all()}


def inputs_text(flow: GatedScan) -> str:
    return "," + ",".join(sorted(flow.scan_inputs or ())) + ","


def signature_of(flow: GatedScan) -> str:
    kind = type(flow)
    return f"{GATE_FORMAT}:{kind.__module__}.{kind.__qualname__}:{flow.scan_signature()}"[:255]


def is_closed(flow: GatedScan, gate: ScanGate | None, now: datetime) -> bool:
    """Whether ``gate`` (the flow's row, None if missing) lets the sweep at ``now`` skip."""
    # The row's own fields first: the signature (settings read) only for a gate still quiet.
    return (
        gate is not None
        and gate.scanned_generation is not None
        and gate.scanned_generation == gate.generation
        and (gate.quiet_until is None or now < gate.quiet_until)
        and gate.inputs == inputs_text(flow)
        and gate.signature == signature_of(flow)
    )


def take(flow: GatedScan, now: datetime, gates: Gates | None = None) -> Ticket | None:
    """None when the flow's scan may be skipped at ``now``; else the ticket to record it with.

    ``gates``: what ``read_gates`` read at the start of this sweep (read here when None).
    A flow without ``scan_inputs`` is not gated (no statement). The first scan of a flow
    (or the first after its inputs changed) writes its row first, so a change committed
    while that scan runs bumps it.
    """
    if flow.scan_inputs is None:
        return Ticket(flow.name, None)
    gate = (read_gates() if gates is None else gates).get(flow.name)
    if is_closed(flow, gate, now):
        return None
    if gate is None or gate.inputs != inputs_text(flow):
        # Its inputs written before it scans, so a change committed meanwhile bumps it.
        gate, _ = ScanGate.objects.update_or_create(
            flow=flow.name, defaults={"inputs": inputs_text(flow)}
        )
    return Ticket(flow.name, gate.generation)


def record(flow: GatedScan, ticket: Ticket, now: datetime) -> None:
    """After a complete scan at ``now``: close the gate until ``flow.scan_quiet_until``.

    A scan that raised records nothing, so its gate stays open. One ``UPDATE``.
    """
    if ticket.generation is None:
        return
    ScanGate.objects.filter(flow=ticket.flow).update(
        inputs=inputs_text(flow),
        scanned_generation=ticket.generation,
        quiet_until=flow.scan_quiet_until(now),
        signature=signature_of(flow),
        scanned_at=now,
    )


def earliest(moments: Iterable[datetime | None]) -> datetime | None:
    """The earliest of ``moments`` that is not None; None when there is none."""
    return min((moment for moment in moments if moment is not None), default=None)


class GatedScan:
    """The scan gate's part of ``EnrolmentFlow`` (its defaults: no gate, scan every sweep).

    A flow sets ``scan_inputs`` (a tuple of the topics above, possibly empty) to have its
    scans gated, and writes ``scan_quiet_until``; ``scan_signature`` names whatever else
    the answer depends on that no topic covers (a period, a Django setting), so a deploy
    that changes it opens the gate.
    """

    name: str
    scan_inputs: tuple[str, ...] | None = None

    def scan_signature(self) -> str:
        return ""

    def scan_quiet_until(self, now: datetime) -> datetime | None:
        """After a complete scan at ``now``: before when it would find nothing new.

        None: only a change of ``scan_inputs`` can make it find someone; ``now`` (or
        earlier): scan at the next sweep. Called only after a scan that completed; it may
        read the database (a gated flow scans rarely).
        """
        return now
