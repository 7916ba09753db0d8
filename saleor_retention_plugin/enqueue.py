"""Enqueueing Celery tasks from request code, after the transaction commits."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from django.db import transaction

if TYPE_CHECKING:
    from celery import Task

logger = logging.getLogger(__name__)


def enqueue_after_commit(task: Task, *args: Any) -> None:
    """Send ``task`` once the current transaction commits (at once outside one).

    A broker that is down is logged instead of raising into the request that committed
    (Saleor's, for hooks); the order's next event reconciles its points again.

    Saleor runs order hooks from its own on-commit callbacks; its test client runs those
    with autocommit off outside any atomic block, where ``on_commit`` refuses to work.
    Nothing is left to wait for there, so the task is sent at once.
    """
    connection = transaction.get_connection()
    if connection.in_atomic_block or connection.get_autocommit():
        transaction.on_commit(lambda: _send(task, args))
    else:
        _send(task, args)


def _send(task: Task, args: tuple[Any, ...]) -> None:
    try:
        task.delay(*args)
    except Exception:
        logger.exception("Could not enqueue %s; the next event will catch up", task.name)
