"""A real Celery worker, a real Redis broker and PostgreSQL: the beat task sweeps and the
reminder reaches the customer's mailbox, once.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

import tests.celery_app
from saleor_retention_plugin.conf import ChannelSettings
from saleor_retention_plugin.domain.carts import CartActivity
from saleor_retention_plugin.models import FlowMessage, MessageState
from saleor_retention_plugin.services import carts
from saleor_retention_plugin.tasks import sweep_flows_task
from tests.integration.tracked_links import tracked_targets

from .cart_shop import BASE_CONFIGURATION, CHANNEL, CONFIGURATION_ENV, put_cart, tea_line

REPO_ROOT = Path(__file__).resolve().parents[3]
BROKER_URL = os.environ.get("RETENTION_WORKER_BROKER_URL", "redis://127.0.0.1:6379/11")


@dataclass(frozen=True)
class RunningWorker:
    directory: Path
    queue: str

    def log(self) -> str:
        return (self.directory / "worker.log").read_text()

    def sweep(self) -> None:
        """Publish a beat sweep to this worker's broker and queue.

        Explicitly: earlier tests may have built the app's producer pool for another
        broker, and a pool is not rebuilt when the broker setting changes.
        """
        app = tests.celery_app.app
        with app.connection_for_write(BROKER_URL) as broker:
            sweep_flows_task.apply_async(connection=broker, queue=self.queue)


@pytest.fixture
def worker(tmp_path):
    """Start ``celery worker --pool=solo`` on a queue of its own; stop it afterwards."""
    queue = f"retention-carts-{uuid.uuid4().hex[:8]}"
    database = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.integration.carts.worker_settings",
        "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}",
        "RETENTION_WORKER_BROKER_URL": BROKER_URL,
        "RETENTION_WORKER_QUEUE": queue,
        "RETENTION_WORKER_MAIL_DIR": str(tmp_path),
        CONFIGURATION_ENV: json.dumps(BASE_CONFIGURATION),
        "PYTHONPATH": str(REPO_ROOT),
    }
    log = (tmp_path / "worker.log").open("w")
    process = subprocess.Popen(
        tests.celery_app.worker_command(queue),
        cwd=REPO_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    app = tests.celery_app.app
    # The app reads Django settings with the CELERY_ namespace: override in that form.
    saved = {
        "CELERY_TASK_ALWAYS_EAGER": app.conf.task_always_eager,
        "CELERY_BROKER_URL": app.conf.broker_url,
        "CELERY_TASK_DEFAULT_QUEUE": app.conf.task_default_queue,
    }
    app.conf.update(
        CELERY_TASK_ALWAYS_EAGER=False,
        CELERY_BROKER_URL=BROKER_URL,
        CELERY_TASK_DEFAULT_QUEUE=queue,
    )
    try:
        yield RunningWorker(tmp_path, queue)
    finally:
        app.conf.update(saved)
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()


def wait_for(condition, *, timeout=60.0, every=0.25):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every)
    return False


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_the_beat_sweep_on_a_real_worker_sends_the_reminder_once(worker):
    token = str(uuid.uuid4())
    two_hours_ago = timezone.now() - timedelta(hours=2)
    configuration = ChannelSettings.from_configuration(BASE_CONFIGURATION)
    carts.record_cart_activity(
        CartActivity(token, CHANNEL, None, "ann@example.com", "zh-hans", "CNY", two_hours_ago),
        configuration,
        now=two_hours_ago,
    )
    # The snapshot a task stored is what the worker (another process) reads as the cart.
    carts.refresh_cart_contents(token, put_cart(token, tea_line(quantity=2)))

    worker.sweep()
    sent = wait_for(
        lambda: FlowMessage.objects.filter(subject_key=token, state=MessageState.SENT).exists()
    )
    assert sent, worker.log()

    # A second sweep finds nothing more to send for this cart.
    worker.sweep()
    assert wait_for(lambda: finished_sweeps(worker) >= 2), worker.log()
    mails = [
        path.read_text() for path in worker.directory.glob("*.log") if path.name != "worker.log"
    ]
    assert len(mails) == 1, mails
    assert "Longjing green tea" in mails[0]
    checkout = f"https://tea.example/checkout?token={token}"
    # In the text and the HTML part, through the click redirect.
    assert set(tracked_targets(mails[0])) == {("checkout", checkout)}
    assert FlowMessage.objects.filter(subject_key=token).count() == 1


def finished_sweeps(worker: RunningWorker) -> int:
    lines = worker.log().splitlines()
    return sum("sweep_flows_task[" in line and "succeeded" in line for line in lines)
