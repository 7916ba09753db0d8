"""Real Celery workers a test can start, kill with SIGKILL and restart, and due reminders.

Each worker is ``celery worker --pool=solo`` in its own process on a queue of the test's
own, with the test's database, broker and channel configuration (the SMTP server the
test runs). The app's producer is pointed at the same broker and queue while a test runs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.db import connection
from django.utils import timezone

import tests.celery_app
from saleor_retention_plugin.conf import ChannelSettings
from saleor_retention_plugin.domain.carts import CartActivity
from saleor_retention_plugin.services import carts
from saleor_retention_plugin.tasks import sweep_flows_task
from tests.integration.carts.cart_shop import (
    BASE_CONFIGURATION,
    CHANNEL,
    CONFIGURATION_ENV,
    put_cart,
    tea_line,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

REPO_ROOT = Path(__file__).resolve().parents[2]
# Redis database 9 is this suite's (other suites use others): RETENTION_RELIABILITY_BROKER_URL.
BROKER_URL = os.environ.get("RETENTION_RELIABILITY_BROKER_URL", "redis://127.0.0.1:6379/9")


def smtp_configuration(port: int) -> dict[str, str]:
    return {
        **BASE_CONFIGURATION,
        "smtp_host": "127.0.0.1",
        "smtp_port": str(port),
        "smtp_use_tls": "false",
    }


def make_due_reminders(count: int, configuration: dict[str, str]) -> list[str]:
    """``count`` carts, each left two hours ago by its own customer: one reminder due each."""
    settings = ChannelSettings.from_configuration(configuration)
    two_hours_ago = timezone.now() - timedelta(hours=2)
    tokens = []
    for number in range(count):
        token = str(uuid.uuid4())
        email = f"customer{number}@example.com"
        carts.record_cart_activity(
            CartActivity(token, CHANNEL, None, email, "en", "CNY", two_hours_ago),
            settings,
            now=two_hours_ago,
        )
        carts.refresh_cart_contents(token, put_cart(token, tea_line(), email=email))
        tokens.append(token)
    return tokens


@dataclass
class Workers:
    """Starts workers one after another on one queue; the test kills or stops them."""

    directory: Path
    configuration: dict[str, str]
    broker_url: str = BROKER_URL
    database_url: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    queue: str = field(default_factory=lambda: f"retention-rel-{uuid.uuid4().hex[:8]}")
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        database = connection.settings_dict
        return {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.reliability.worker_settings",
            "DATABASE_URL": self.database_url
            or f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}",
            "RETENTION_WORKER_BROKER_URL": self.broker_url,
            "RETENTION_WORKER_QUEUE": self.queue,
            "RETENTION_WORKER_MAIL_DIR": str(self.directory),
            CONFIGURATION_ENV: json.dumps(self.configuration),
            "PYTHONPATH": str(REPO_ROOT),
            **self.extra_env,
        }

    def start(self) -> subprocess.Popen[bytes]:
        log = (self.directory / f"worker{len(self.processes)}.log").open("wb")
        process = subprocess.Popen(
            tests.celery_app.worker_command(self.queue),
            cwd=REPO_ROOT,
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.processes.append(process)
        return process

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        """SIGKILL: no cleanup, no acknowledgements, the heartbeat thread dies with it."""
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)

    def sweep(self) -> None:
        """What beat does every minute: publish a sweep to this queue."""
        app = tests.celery_app.app
        with app.connection_for_write(self.broker_url) as broker:
            sweep_flows_task.apply_async(connection=broker, queue=self.queue, retry=False)

    def logs(self) -> str:
        return "\n".join(
            path.read_text(errors="replace") for path in sorted(self.directory.glob("worker*.log"))
        )

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)


@contextmanager
def workers_on(directory: Path, configuration: dict[str, str], **options: Any) -> Iterator[Workers]:
    app = tests.celery_app.app
    workers = Workers(directory, configuration, **options)
    saved = {
        "CELERY_TASK_ALWAYS_EAGER": app.conf.task_always_eager,
        "CELERY_BROKER_URL": app.conf.broker_url,
        "CELERY_TASK_DEFAULT_QUEUE": app.conf.task_default_queue,
    }
    app.conf.update(
        CELERY_TASK_ALWAYS_EAGER=False,
        CELERY_BROKER_URL=workers.broker_url,
        CELERY_TASK_DEFAULT_QUEUE=workers.queue,
    )
    try:
        yield workers
    finally:
        app.conf.update(saved)
        workers.stop_all()


def wait_for(condition: Callable[[], bool], *, timeout: float, every: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every)
    return condition()
