"""Settings for the unit and integration tiers: Django + PostgreSQL + Celery, no Saleor."""

import hashlib
import os
from pathlib import Path

import dj_database_url

SECRET_KEY = "tests-only-not-secret"
USE_TZ = True
TIME_ZONE = "UTC"
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "saleor_retention_plugin",
]
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/retention"),
        conn_max_age=0,
    )
}
# Each checkout gets its own test database, named after its path, so two clones testing at
# once never share one; RETENTION_TEST_DB names another.
CHECKOUT = Path(__file__).resolve().parents[1]
CHECKOUT_TEST_DB = "test_retention_" + hashlib.sha1(str(CHECKOUT).encode()).hexdigest()[:8]
DATABASES["default"]["TEST"] = {"NAME": os.environ.get("RETENTION_TEST_DB", CHECKOUT_TEST_DB)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {},
    }
]
ROOT_URLCONF = "tests.urls"
LOGGING_CONFIG = None

# Tasks run in-process unless a test starts a real worker (tests/integration/celery_worker).
CELERY_BROKER_URL = os.environ.get("RETENTION_BROKER_URL", "redis://127.0.0.1:6379/15")
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
