"""Input scalars stricter than graphene's own.

graphene 2's ``Int`` coerces variables with ``int(value)``: ``1.5`` becomes 1 and ``"12"``
becomes 12. For points that silently changes what the caller asked for, so amounts of
points use ``PointsAmount``, which accepts JSON integers only (any size: the services
give a clear error for amounts out of range).
"""

from __future__ import annotations

from typing import Any

import graphene
from graphql.language import ast


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
