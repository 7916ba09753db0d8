"""Settings of the real Celery worker that ``test_real_celery_worker`` starts.

The integration settings, plus: no eager tasks, the test's own database, broker and
queue, the fake shop's loaders, and mail written to files the test can read.
"""

import os

from tests.settings import *  # noqa: F403

CELERY_TASK_ALWAYS_EAGER = False
CELERY_BROKER_URL = os.environ["RETENTION_WORKER_BROKER_URL"]
CELERY_TASK_DEFAULT_QUEUE = os.environ["RETENTION_WORKER_QUEUE"]
RETENTION_CART_CONTENTS_LOADER = "tests.integration.carts.cart_shop.load_cart_contents"
RETENTION_CHANNEL_SETTINGS_LOADER = "tests.integration.carts.cart_shop.load_channel_settings"
RETENTION_COUPON_ISSUER = "saleor_retention_plugin.services.incentives.PlainCodeIssuer"
EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
EMAIL_FILE_PATH = os.environ["RETENTION_WORKER_MAIL_DIR"]
