"""Relay connections with keyset cursors: a bounded page size and a fixed number of queries."""

from __future__ import annotations

from base64 import b64decode, b64encode
from datetime import datetime
from typing import TYPE_CHECKING, Any

import graphene
from django.db.models import Q, QuerySet

from .errors import LocalisedGraphQLError
from .limits import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE

if TYPE_CHECKING:
    from collections.abc import Iterable


def validate_page_size(first: int | None) -> int:
    if first is None:
        return DEFAULT_PAGE_SIZE
    if first < 1 or first > MAX_PAGE_SIZE:
        raise LocalisedGraphQLError(
            f"'first' must be between 1 and {MAX_PAGE_SIZE}; {first} was given.",
            zh=f"'first' 必须在 1 到 {MAX_PAGE_SIZE} 之间；收到的是 {first}。",
        )
    return first


def invalid_cursor(cursor: str) -> LocalisedGraphQLError:
    return LocalisedGraphQLError(f"Invalid cursor: {cursor!r}.", zh=f"无效的游标：{cursor!r}。")


def _encode_cursor(kind: str, moment: datetime, pk: int) -> str:
    return b64encode(f"{kind}:{moment.isoformat()}|{pk}".encode()).decode()


def _decode_cursor(kind: str, cursor: str) -> tuple[datetime, int]:
    try:
        prefix, _, rest = b64decode(cursor.encode(), validate=True).decode().partition(":")
        moment_text, _, pk_text = rest.rpartition("|")
        if prefix != kind:
            raise ValueError(prefix)
        return datetime.fromisoformat(moment_text), int(pk_text)
    except (ValueError, UnicodeDecodeError):
        raise invalid_cursor(cursor) from None


def newest_first_page(
    queryset: QuerySet, *, kind: str, first: int | None, after: str | None, moment_field: str
) -> tuple[list[Any], bool, str]:
    """One page of ``queryset`` ordered newest first, with keyset ("seek") pagination.

    One query whatever the size of the history: ``LIMIT first + 1`` on an index, no OFFSET
    and no COUNT.
    """
    size = validate_page_size(first)
    if after:
        moment, pk = _decode_cursor(kind, after)
        queryset = queryset.filter(
            Q(**{f"{moment_field}__lt": moment}) | Q(**{moment_field: moment, "pk__lt": pk})
        )
    rows = list(queryset.order_by(f"-{moment_field}", "-pk")[: size + 1])
    return rows[:size], len(rows) > size, kind


class PageInfo(graphene.ObjectType):
    """Relay's page info. Lists page forward only (``first``/``after``), so
    ``hasPreviousPage`` is always false, as the Relay spec allows.
    """

    has_next_page = graphene.Boolean(required=True)
    has_previous_page = graphene.Boolean(required=True)
    start_cursor = graphene.String()
    end_cursor = graphene.String()

    @staticmethod
    def of(edges: list[Any], has_next: bool) -> PageInfo:
        return PageInfo(
            has_next_page=has_next,
            has_previous_page=False,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        )


def build_connection(
    connection_type: type[graphene.ObjectType],
    edge_type: type[graphene.ObjectType],
    rows: Iterable[Any],
    has_next: bool,
    kind: str,
    moment_field: str,
) -> Any:
    edges = [
        edge_type(node=row, cursor=_encode_cursor(kind, getattr(row, moment_field), row.pk))
        for row in rows
    ]
    return connection_type(
        edges=edges,
        page_info=PageInfo.of(edges, has_next),
    )
