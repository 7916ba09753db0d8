"""Claiming the outbox's due rows: step 1 of ``services.flows`` (see its docstring).

``claim_due_messages`` flips due rows, and rows whose claim went stale because a worker
died, to ``claimed``; the periodic sweep calls it every minute, mostly to find nothing,
so that case costs one read.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import connection, transaction
from django.db.models.functions import Coalesce
from django.utils import timezone

from .. import app_settings
from ..models import FlowMessage, MessageState
from .flow_leases import (
    CLAIM_TIMEOUT,
    abandoned_claims,
    claim_lease,
    start_lease_heartbeat,
    worker_id,
)

if TYPE_CHECKING:
    from datetime import datetime, timedelta


@dataclass(frozen=True)
class Claim:
    message_id: int
    claim_token: str


# A claimed row another worker may take: nothing was sent and the lease lapsed (the
# worker is gone), or the claim is older than the claim timeout (a send in doubt).
_ABANDONED = """state = 'claimed' AND (claimed_at < %(stale_before)s
    OR (send_started_at IS NULL AND lease_expires_at < %(now)s))"""

_GIVE_UP_STALE = """
UPDATE {table} SET state = 'failed', updated_at = %(now)s,
    last_error = 'gave up: its worker never finished (crashed or lost) until ' || %(now)s::text
WHERE {abandoned} AND first_failed_at < %(give_up_before)s
"""

_ANY_TO_CLAIM = """
SELECT 1 FROM {table}
WHERE (state IN ('scheduled', 'deferred') AND next_attempt_at <= %(now)s) OR ({abandoned})
LIMIT 1
"""

_CLAIM_DUE = """
UPDATE {table} SET state = 'claimed', claimed_at = %(now)s,
    -- an unsent claim keeps its token (every task queued for it stays good, and only one
    -- can start the send); a claim whose send is in doubt gets a new one
    claim_token = CASE WHEN state = 'claimed' AND send_started_at IS NULL THEN claim_token
        ELSE gen_random_uuid() END,
    updated_at = %(now)s, claimed_by = %(worker)s, lease_expires_at = %(lease_until)s,
    send_started_at = NULL,
    -- a stale claim means a worker died on it: that is a failure, and starts the clock
    first_failed_at = CASE WHEN state = 'claimed' THEN COALESCE(first_failed_at, %(now)s)
        ELSE first_failed_at END
WHERE id IN (
    SELECT id FROM {table}
    WHERE (state IN ('scheduled', 'deferred') AND next_attempt_at <= %(now)s)
       OR ({abandoned})
    ORDER BY COALESCE(next_attempt_at, claimed_at), id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
RETURNING id, claim_token, next_attempt_at
"""


_MARK_CLAIMED = """
UPDATE {table} SET state = %s, claim_token = %s, claimed_at = %s, updated_at = %s,
    first_failed_at = %s, claimed_by = %s, lease_expires_at = %s, send_started_at = %s
WHERE id = %s
"""


def claim_due_messages(
    *,
    now: datetime | None = None,
    limit: int = 100,
    claim_timeout: timedelta = CLAIM_TIMEOUT,
    worker: str | None = None,
) -> list[Claim]:
    """Atomically claim up to ``limit`` due messages, including abandoned claims.

    Abandoned claims are a dead worker's unsent ones once their lease lapsed, and any
    after ``claim_timeout``.

    ``worker`` (default: this process) holds them for ``claim_lease()``, renewed by a
    heartbeat in Celery workers. An abandoned claim whose first failure is older than the
    retry window is failed instead: a message that crashes every worker is not retried for ever.
    """
    now = now or timezone.now()
    worker = worker or worker_id()
    lease_until = now + claim_lease()
    give_up_before = now - app_settings.DELIVERY_RETRY_WINDOW  # ``flows.retry_window()``
    start_lease_heartbeat(only_in_a_celery_worker=True)
    if connection.vendor != "postgresql":
        return _claim_due_portably(
            now, now - claim_timeout, give_up_before, limit, worker, lease_until
        )
    table = FlowMessage._meta.db_table
    params: dict[str, Any] = {
        "now": now,
        "stale_before": now - claim_timeout,
        "give_up_before": give_up_before,
        "limit": limit,
        "worker": worker,
        "lease_until": lease_until,
    }
    with connection.cursor() as cursor:
        # The sweep claims every minute, mostly to find nothing: one read then, with no
        # transaction and no update.
        cursor.execute(_ANY_TO_CLAIM.format(table=table, abandoned=_ABANDONED), params)
        if cursor.fetchone() is None:
            return []
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_GIVE_UP_STALE.format(table=table, abandoned=_ABANDONED), params)
        cursor.execute(_CLAIM_DUE.format(table=table, abandoned=_ABANDONED), params)
        rows = cursor.fetchall()
    rows.sort(key=lambda row: (row[2] or now, row[0]))  # RETURNING has no order; due first
    return [Claim(message_id=row[0], claim_token=str(row[1])) for row in rows]


def _claim_due_portably(
    now: datetime,
    stale_before: datetime,
    give_up_before: datetime,
    limit: int,
    worker: str,
    lease_until: datetime,
) -> list[Claim]:
    """The claim above for databases without ``SKIP LOCKED`` (the sandbox's SQLite).

    SQLite has a single writer, so no other worker can claim between the read and the
    updates of this transaction.
    """
    claims = []
    with transaction.atomic():
        abandoned = abandoned_claims(now, stale_before)
        # The write first: it takes SQLite's write lock, so concurrent claimers wait here
        # (a read first would have them fail to upgrade their read locks).
        FlowMessage.objects.filter(abandoned, first_failed_at__lt=give_up_before).update(
            state=MessageState.FAILED,
            last_error=f"gave up: its worker never finished (crashed or lost) until {now}",
            updated_at=now,
        )
        due = FlowMessage.objects.due(now) | FlowMessage.objects.filter(abandoned)
        rows = list(
            due.order_by(Coalesce("next_attempt_at", "claimed_at"), "pk").values_list(
                "pk", "state", "first_failed_at", "claim_token", "send_started_at"
            )[:limit]
        )
        claimed = []
        for message_id, state, first_failed_at, token, send_started_at in rows:
            if state != MessageState.CLAIMED or send_started_at is not None:
                token = uuid.uuid4()
            if state == MessageState.CLAIMED and first_failed_at is None:
                first_failed_at = now
            claimed.append((message_id, token, first_failed_at))
            claims.append(Claim(message_id=message_id, claim_token=str(token)))
        _mark_claimed(claimed, now, worker, lease_until)
    return claims


def _mark_claimed(
    claimed: list[tuple[int, uuid.UUID, datetime | None]],
    now: datetime,
    worker: str,
    lease_until: datetime,
) -> None:
    """Write the claims ``(id, token, first_failed_at)`` in one ``executemany``.

    Not an ORM update per row (they differ in their token): building those was most of
    a busy claim's cost.
    """
    if not claimed:
        return
    fields = {field.name: field for field in FlowMessage._meta.concrete_fields}

    def value(name: str, python_value: Any) -> Any:
        return fields[name].get_db_prep_value(python_value, connection)

    sql = _MARK_CLAIMED.format(table=connection.ops.quote_name(FlowMessage._meta.db_table))
    with connection.cursor() as cursor:
        cursor.executemany(
            sql,
            [
                (
                    value("state", MessageState.CLAIMED.value),
                    value("claim_token", token),
                    value("claimed_at", now),
                    value("updated_at", now),
                    value("first_failed_at", first_failed_at),
                    value("claimed_by", worker),
                    value("lease_expires_at", lease_until),
                    None,
                    message_id,
                )
                for message_id, token, first_failed_at in claimed
            ],
        )
