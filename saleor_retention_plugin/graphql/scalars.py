"""Input scalars stricter than graphene's own, and safe to call with anything.

graphene 2's ``Int`` coerces variables with ``int(value)``: ``1.5`` becomes 1 and ``"12"``
becomes 12. For points that silently changes what the caller asked for, so amounts of
points use ``PointsAmount``, which accepts JSON integers only (any size: the services
give a clear error for amounts out of range).

graphene's ``Decimal``, ``DateTime`` and ``JSONString`` raise on some bad input
(``Decimal("abc")`` raises ``InvalidOperation``, a JSONString of ``"{"`` raises
``JSONDecodeError``), and graphql-core 2 lets that exception escape validation: the
endpoint answered 500. The scalars here keep graphene's names and output, and answer
``None`` for any value they cannot read, which graphql-core reports as
``Expected type "Decimal", found "abc".``. ``DateTime`` also refuses moments outside
``EARLIEST_MOMENT``..``LATEST_MOMENT``: Python cannot read back a PostgreSQL timestamp
past year 9999 (or before year 1) once converted to UTC, so such a value stored once
would break every list that shows it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal as PythonDecimal
from decimal import InvalidOperation
from typing import Any

import graphene
from aniso8601 import parse_datetime
from graphql.language import ast

# Bounds of every DateTime a caller may send (inclusive), whatever its offset.
EARLIEST_MOMENT = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_MOMENT = datetime(2200, 1, 1, tzinfo=UTC)
# Longer texts are not amounts anyone types; refusing them keeps Decimal parsing cheap.
MAX_DECIMAL_TEXT = 64


class PointsAmount(graphene.Scalar):
    """A whole number of points, e.g. 250 or -40. Fractions and strings are refused."""

    @staticmethod
    def serialize(value: Any) -> int:
        return int(value)

    @staticmethod
    def parse_value(value: Any) -> int | None:
        # None tells graphql-core the value is invalid ("Expected type PointsAmount").
        if isinstance(value, bool) or not isinstance(value, int):
            return None
        return value

    @staticmethod
    def parse_literal(node: ast.Node) -> int | None:
        if isinstance(node, ast.IntValue):
            return int(node.value)
        return None


def read_decimal(value: Any) -> PythonDecimal | None:
    """A finite decimal from text (``"12.50"``) or a JSON number.

    None for anything else (``"abc"``, ``""``, ``"1,5"``, ``"NaN"``, booleans, objects).
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        value = str(value)
    if not isinstance(value, str) or len(value) > MAX_DECIMAL_TEXT:
        return None
    try:
        number = PythonDecimal(value.strip())
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def read_moment(value: Any) -> datetime | None:
    """An ISO 8601 date and time between 1970 and 2200; None for anything else.

    A value without an offset is read as UTC for the bounds check and kept as sent.
    """
    if not isinstance(value, str):
        return None
    try:
        moment = parse_datetime(value)
        in_utc = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError, TypeError, ArithmeticError):
        return None
    except Exception:  # aniso8601 raises its own error types for malformed text
        return None
    if not EARLIEST_MOMENT <= in_utc <= LATEST_MOMENT:
        return None
    return moment


class Decimal(graphene.Scalar):
    """A decimal number as text, e.g. ``"12.50"``. Finite; a comma is not a decimal point."""

    @staticmethod
    def serialize(value: Any) -> str:
        if isinstance(value, str):
            value = PythonDecimal(value)
        return str(value)

    @staticmethod
    def parse_value(value: Any) -> PythonDecimal | None:
        return read_decimal(value)

    @staticmethod
    def parse_literal(node: ast.Node) -> PythonDecimal | None:
        if isinstance(node, ast.StringValue | ast.IntValue | ast.FloatValue):
            return read_decimal(node.value)
        return None


class DateTime(graphene.Scalar):
    """An ISO 8601 date and time, e.g. ``"2026-11-29T09:00:00+08:00"``; from 1970 to 2200."""

    @staticmethod
    def serialize(value: datetime) -> str:
        return value.isoformat()

    @staticmethod
    def parse_value(value: Any) -> datetime | None:
        return read_moment(value)

    @staticmethod
    def parse_literal(node: ast.Node) -> datetime | None:
        if isinstance(node, ast.StringValue):
            return read_moment(node.value)
        return None


def read_json(value: Any) -> Any:
    if not isinstance(value, str):
        return None
    try:
        return json.loads(value)
    except (ValueError, RecursionError):
        return None


class JSONString(graphene.Scalar):
    r"""A JSON document sent as a string, e.g. ``"{\"points\": 100}"``."""

    @staticmethod
    def serialize(value: Any) -> str:
        return json.dumps(value)

    @staticmethod
    def parse_value(value: Any) -> Any:
        return read_json(value)

    @staticmethod
    def parse_literal(node: ast.Node) -> Any:
        if isinstance(node, ast.StringValue):
            return read_json(node.value)
        return None
