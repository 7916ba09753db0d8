"""The Celery app the tests (and a real test worker) use, configured from Django settings."""

import os
import sys

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

app = Celery("retention_tests")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["saleor_retention_plugin"])


def worker_command(queue: str) -> list[str]:
    """The command line of a real test worker on this app, listening on ``queue``.

    One process (solo pool), a queue of its own, none of the cluster chatter.
    """
    return [
        sys.executable,
        *("-m", "celery", "-A", "tests.celery_app", "worker"),
        *("--pool=solo", "--loglevel=INFO", "-Q", queue),
        *("--without-heartbeat", "--without-gossip", "--without-mingle"),
    ]
