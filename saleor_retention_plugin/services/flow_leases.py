"""Claim leases of the flow engine's outbox.

Who holds a claim, until when, the heartbeat that keeps a live worker's claims, and which
claims another worker may take.

The design (why a lapsed lease may be taken over only while nothing was sent) is in
``services.flows``; this module is the mechanics: ``claim_lease()``, ``claim_patience()``,
``worker_id()``, ``renew_leases()``, ``abandoned_claims()``, the per-process heartbeat
thread, and ``retry_database_blips()`` for the write that records a finished send.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from django.db import InterfaceError, OperationalError, connection
from django.db.models import Q
from django.utils import timezone

from .. import app_settings
from ..models import FlowMessage, MessageState

if TYPE_CHECKING:
    from collections.abc import Callable

logger = logging.getLogger(__name__)
T = TypeVar("T")

CLAIM_LEASE = app_settings.DEFAULT_CLAIM_LEASE
# How long a live worker keeps its unsent claims waiting for their delivery tasks.
CLAIM_PATIENCE = app_settings.DEFAULT_CLAIM_PATIENCE
# How long a claim with a send in doubt waits before another worker sends it again.
CLAIM_TIMEOUT = timedelta(minutes=15)


def abandoned_claims(now: datetime, stale_before: datetime) -> Q:
    """Claims another worker may take.

    Those with nothing sent and the lease lapsed, or older than the claim timeout
    (``services.flow_claims._ABANDONED`` for the ORM).
    """
    return Q(state=MessageState.CLAIMED) & (
        Q(claimed_at__lt=stale_before) | Q(send_started_at__isnull=True, lease_expires_at__lt=now)
    )


def claim_lease() -> timedelta:
    """How long a claim stands without renewal while nothing was sent.

    ``RETENTION_CLAIM_LEASE_SECONDS`` (Django setting), 60 seconds by default.

    It bounds how long a dead worker's unsent claims wait; shorter costs more renewals
    and, with a heartbeat slower than the lease, redundant delivery tasks (never a
    second send).
    """
    return app_settings.CLAIM_LEASE


def claim_patience() -> timedelta:
    """How long a live worker renews an unsent claim.

    ``RETENTION_CLAIM_PATIENCE_SECONDS`` (Django setting), 5 minutes by default.

    A claim's delivery task waits in the broker; the worker cannot see it vanish (a broker
    restarted without persistence). After this long the claim lapses even though its
    worker lives, and the next sweep hands it out again with a new token. Behind a
    backlog longer than this, that costs one redundant delivery task per claim (the old
    one finds ``claim_lost``), never a second send.
    """
    return app_settings.CLAIM_PATIENCE


def worker_id() -> str:
    """This process as a claim holder: ``host:pid`` (a restarted worker is another one)."""
    return f"{socket.gethostname()}:{os.getpid()}"[:128]


def renew_leases(worker: str | None = None, *, now: datetime | None = None) -> int:
    """Extend the leases of ``worker``'s unsent claims; returns how many.

    Claims older than ``claim_patience()`` are not renewed: their delivery task may
    have been lost although the worker lives, and they are taken over once they lapse.
    """
    now = now or timezone.now()
    return FlowMessage.objects.filter(
        state=MessageState.CLAIMED,
        claimed_by=worker or worker_id(),
        send_started_at__isnull=True,
        claimed_at__gte=now - claim_patience(),
    ).update(lease_expires_at=now + claim_lease())


_heartbeat_lock = threading.Lock()
_heartbeat_pid: int | None = None


def start_lease_heartbeat(*, only_in_a_celery_worker: bool = False) -> bool:
    """Renew this process's leases every third of the lease, in a daemon thread.

    The thread dies with the process, which is the point: a killed worker stops renewing.

    Started once per process (a forked child starts its own); returns whether it started
    now. Celery workers start it on their first claim or delivery.
    """
    global _heartbeat_pid
    if only_in_a_celery_worker and not in_celery_worker():
        return False
    with _heartbeat_lock:
        if _heartbeat_pid == os.getpid():
            return False
        _heartbeat_pid = os.getpid()
    worker = worker_id()
    period = claim_lease().total_seconds() / 3

    def beat() -> None:
        from django.db import close_old_connections
        from django.db import connection as thread_connection

        while True:
            time.sleep(period)
            try:
                renew_leases(worker)
            except Exception:
                logger.exception("Could not renew the claim leases of %s", worker)
                close_old_connections()
                thread_connection.close()

    threading.Thread(target=beat, name="retention-lease-heartbeat", daemon=True).start()
    return True


def in_celery_worker() -> bool:
    """Whether this code runs in a task of a real Celery worker.

    Not when the task runs eagerly, nor when its function is called directly (a test, a
    shell, the sandbox): ``task()`` pushes a request too, marked ``called_directly``.
    """
    from celery import current_task

    request = getattr(current_task, "request", None) if current_task else None
    return (
        request is not None
        and not getattr(request, "called_directly", True)
        and not getattr(request, "is_eager", False)
    )


def retry_database_blips(
    operation: Callable[..., T], *args: Any, patience_seconds: float = 60.0, **kwargs: Any
) -> T:
    """``operation(*args, **kwargs)``, retried on lost connections.

    Retried for up to ``patience_seconds`` (PostgreSQL restarting). For the write that records a
    finished send: failing it would leave a message that went out in doubt, to be sent again.
    """
    delay = 0.5
    deadline = time.monotonic() + patience_seconds
    while True:
        try:
            return operation(*args, **kwargs)
        except (OperationalError, InterfaceError):
            if connection.in_atomic_block or time.monotonic() + delay > deadline:
                raise
            logger.warning("The database is unreachable; retrying in %.1f s", delay)
            connection.close()
            time.sleep(delay)
            delay = min(delay * 2, 8.0)
