"""Who has a birthday around a day: the birthday flow's candidates. No writes here.

Every zone's local day is within a day of UTC's, so the customers whose birthday is
``utc_day`` or a day either side are all who may be greeted on ``utc_day`` somewhere
(``domain.birthdays`` decides per zone). Source: ``CustomerProfile``'s birth month and day.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.db.models import Q, QuerySet

from ..domain.birthdays import birthdays_on
from ..models import CustomerProfile


def born_around(utc_day: date) -> QuerySet[Any]:
    """Ids (a values queryset of ``customer_id``) of those born around ``utc_day``."""
    born = Q(pk__in=[])
    for offset in (-1, 0, 1):
        for month, day in birthdays_on(utc_day + timedelta(days=offset)):
            born |= Q(birth_month=month, birth_day=day)
    return CustomerProfile.objects.filter(born).values("customer_id")


def is_born_around(customer_id: int, utc_day: date) -> bool:
    """Whether the customer's birthday on file is ``utc_day`` or a day either side. One query."""
    return born_around(utc_day).filter(customer_id=customer_id).exists()
