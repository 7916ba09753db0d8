"""Django settings of the sandbox: the plugin alone, on an embedded database by default.

``DATABASE_URL`` (e.g. ``postgres://postgres@127.0.0.1:5432/retention_sandbox``) points the
sandbox at another database; otherwise it uses a fresh SQLite file.
"""

import os

import dj_database_url

SECRET_KEY = "sandbox-only-not-secret"
USE_TZ = True
TIME_ZONE = "UTC"
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "saleor_retention_plugin",
]
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL")
        or "sqlite:///" + os.environ.get("RETENTION_SANDBOX_SQLITE", "retention-sandbox.sqlite3")
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
TEMPLATES = [
    {"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True, "OPTIONS": {}}
]
LOGGING_CONFIG = None
# Outside Saleor the flows read each channel's settings from here (in Saleor: its plugin rows).
RETENTION_CHANNEL_SETTINGS_LOADER = "saleor_retention_plugin.sandbox.shop.load_channel_settings"
# Replenishment and win-back scan their due rows once a simulated day (an hour in a shop),
# after the daily refresh of those rows: the clock jumps between sweeps, and an hourly
# scan would run at nearly every one of them.
RETENTION_REPURCHASE_SCAN_MINUTES = 24 * 60
# The sandbox runs every task in-process, in order, as a worker would run them one by one.
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BROKER_URL = "memory://"
