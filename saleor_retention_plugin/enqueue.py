"""Enqueueing Celery tasks from request code, after the transaction commits.

``coalesced_enqueues`` sends a task once however many times one piece of work asked for
it with the same arguments: the order intake wraps itself in it, so the ledger's signal
and the tier change of one order mirror the account once, not twice.
"""

from __future__ import annotations

import contextlib
import json
import logging
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from django.db import transaction

if TYPE_CHECKING:
    from collections.abc import Iterator

    from celery import Task

logger = logging.getLogger(__name__)

# (task name, arguments) -> (task, arguments), in the order first asked for; None outside
# a ``coalesced_enqueues`` block.
# Keyed by the task's name and its arguments as JSON (what the broker is sent): a flow
# event's arguments are a dict, which a tuple key cannot hold.
_Pending = dict[tuple[str, str], tuple["Task", tuple[Any, ...]]]
_pending: ContextVar[_Pending | None] = ContextVar("retention_pending_enqueues", default=None)


def enqueue_after_commit(task: Task, *args: Any) -> None:
    """Send ``task`` once the current transaction commits (at once outside one).

    A broker that is down is logged instead of raising into the request that committed
    (Saleor's, for hooks); the order's next event reconciles its points again. Inside a
    ``coalesced_enqueues`` block the send waits for the end of the block, and a second
    request for the same task and arguments joins the first.

    Saleor runs order hooks from its own on-commit callbacks; its test client runs those
    with autocommit off outside any atomic block, where ``on_commit`` refuses to work.
    Nothing is left to wait for there, so the task is sent at once.
    """
    connection = transaction.get_connection()
    if connection.in_atomic_block or connection.get_autocommit():
        transaction.on_commit(lambda: _send_or_hold(task, args))
    else:
        _send_or_hold(task, args)


@contextlib.contextmanager
def coalesced_enqueues() -> Iterator[None]:
    """Hold every task sent from inside the block and send each distinct one at its end.

    Only what committed is held (``enqueue_after_commit`` hands a task over at commit; a
    rolled-back transaction drops it), so the block changes when and how often a task is
    sent, never whether. Held tasks are sent even when the block raises: their work
    committed. A nested block joins the outer one. Tasks are idempotent, so sending
    one once instead of twice loses nothing.
    """
    if _pending.get() is not None:
        yield
        return
    pending: _Pending = {}
    token = _pending.set(pending)
    try:
        yield
    finally:
        _pending.reset(token)
        for task, args in pending.values():
            _send(task, args)


def _send_or_hold(task: Task, args: tuple[Any, ...]) -> None:
    pending = _pending.get()
    if pending is None:
        _send(task, args)
    else:
        key = json.dumps(args, sort_keys=True, default=str)
        pending.setdefault((task.name, key), (task, args))


def _send(task: Task, args: tuple[Any, ...]) -> None:
    try:
        task.delay(*args)
    except Exception:
        logger.exception("Could not enqueue %s; the next event will catch up", task.name)
