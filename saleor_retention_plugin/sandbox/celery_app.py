"""The sandbox's Celery app: configured from the sandbox settings, tasks run eagerly.

Every task still goes through Celery's ``apply_async`` (its arguments through the JSON
serializer and back, as a broker would carry them) and its tracer (retries, the task
base's hooks). Two things Celery does per task that only a worker needs are made cheap:
acquiring a producer from the broker pool (an eager task only reads its serializer), and
the success log's repr of the task's result (built token by token up to 1,024 characters
for every task, read by nobody here). Together about half of Celery's cost per task.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from celery import Celery

from ..integrations.saleor.compat import RetentionTask

if TYPE_CHECKING:
    from celery.utils.objects import FallbackContext

# Characters of a task's result in Celery's "succeeded" log line (Celery's default: 1,024).
RESULT_REPR_CHARACTERS = 64


class SandboxCelery(Celery):
    """A Celery app whose eager tasks share one producer for the whole run."""

    _held_producer: Any = None

    def producer_or_acquire(self, producer: Any = None) -> FallbackContext[Any, Any]:
        if producer is None and self.conf.task_always_eager:
            if self._held_producer is None:
                self._held_producer = self.producer_pool.acquire(block=True)
            producer = self._held_producer
        return super().producer_or_acquire(producer)


app = SandboxCelery("retention_sandbox")
app.config_from_object("django.conf:settings", namespace="CELERY")
# shared_task binds to the current app: make it this one, not Celery's default (which
# would send the tasks to a broker on localhost).
app.set_current()
app.set_default()
RetentionTask.resultrepr_maxsize = RESULT_REPR_CHARACTERS
