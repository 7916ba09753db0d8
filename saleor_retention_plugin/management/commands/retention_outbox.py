"""``manage.py retention_outbox --requeue-failed [--channel SLUG] [--since DATE]``.

Messages are given up after the retry window (``RETENTION_DELIVERY_RETRY_HOURS``); once
the cause is fixed (SMTP credentials, a broken template override, a gateway back up)
this puts them back in the outbox. Each is checked again before it is sent (the cart
may have become an order meanwhile), with its original idempotency key and coupon.
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from ...services.flows import requeue_failed_messages


def parse_since(value: str) -> datetime:
    moment = parse_datetime(value)
    if moment is None:
        day = parse_date(value)
        if day is None:
            raise CommandError(f"--since takes a date or a date and time (ISO 8601), not {value!r}")
        moment = datetime.combine(day, time.min)
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


class Command(BaseCommand):
    help = "Put failed flow messages (cart reminders...) back in the outbox, the cause fixed."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--requeue-failed", action="store_true", help="Schedule failed messages again."
        )
        parser.add_argument("--channel", help="Only messages of this channel (slug).")
        parser.add_argument(
            "--since", help="Only messages that failed at or after this date (ISO 8601)."
        )

    def handle(
        self,
        *args: Any,
        requeue_failed: bool = False,
        channel: str | None = None,
        since: str | None = None,
        **options: Any,
    ) -> None:
        if not requeue_failed:
            raise CommandError("Nothing to do: pass --requeue-failed.")
        moment = parse_since(since) if since else None
        count = requeue_failed_messages(channel_slug=channel, since=moment)
        self.stdout.write(self.style.SUCCESS(f"Requeued {count} failed message(s)."))
