"""The sandbox's Celery app: configured from the sandbox settings, tasks run eagerly."""

from celery import Celery

app = Celery("retention_sandbox")
app.config_from_object("django.conf:settings", namespace="CELERY")
# shared_task binds to the current app: make it this one, not Celery's default (which
# would send the tasks to a broker on localhost).
app.set_current()
app.set_default()
