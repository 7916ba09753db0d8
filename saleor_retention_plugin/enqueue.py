"""Enqueueing Celery tasks from request code, after the transaction commits."""

from __future__ import annotations

from typing import Any

from celery import Task
from django.db import transaction


def enqueue_after_commit(task: Task, *args: Any) -> None:
    """Send ``task`` once the current transaction commits (at once outside one).

    ``robust=True``: a broker that is down is logged by Django instead of raising into
    the request that committed (Saleor's, for hooks); the order's next event reconciles
    its points again.
    """
    transaction.on_commit(lambda: task.delay(*args), robust=True)
