"""Sums of money columns at the column's own scale, on every database.

PostgreSQL returns ``SUM`` of a decimal column at the column's scale ("9466.500"); SQLite
adds the values as floats and Django hands the result back as a 15-digit decimal
("9466.50000000000", and on long sums a float's last-digit error). Reports print these
figures as decimal text, so both databases must give the same text for the same sum.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django.db.models import Model


def at_scale(total: Decimal | int | None, model: type[Model], field: str) -> Decimal:
    """``total`` at the decimal places of ``model.field``, whose ``Sum`` it is.

    None (no rows) is 0. The exact sum has at most those places, so rounding only drops
    SQLite's float noise. Raises FieldDoesNotExist for an unknown field.
    """
    places = model._meta.get_field(field).decimal_places  # type: ignore[union-attr]
    return Decimal(total or 0).quantize(Decimal(1).scaleb(-places))
