"""Limits checked before a query runs: its size, and how deep its selections nest.

Depth follows fragments (a cycle counts as too deep) and does not count introspection
(``__schema``/``__type``), so tools like GraphiQL keep working.
"""

from __future__ import annotations

from graphql.language import ast

MAX_QUERY_SIZE = 20_000  # characters
MAX_QUERY_DEPTH = 10


class QueryRejected(ValueError):
    pass


def check_size(query: str, limit: int = MAX_QUERY_SIZE) -> None:
    if len(query) > limit:
        raise QueryRejected(
            f"The query is {len(query)} characters long; the limit is {limit}."
        )


def check_depth(document: ast.Document, limit: int = MAX_QUERY_DEPTH) -> None:
    fragments = {
        definition.name.value: definition
        for definition in document.definitions
        if isinstance(definition, ast.FragmentDefinition)
    }
    for definition in document.definitions:
        if isinstance(definition, ast.OperationDefinition):
            depth = _depth(definition.selection_set, fragments, 0, limit, frozenset())
            if depth > limit:
                name = definition.name.value if definition.name else "anonymous"
                raise QueryRejected(
                    f"The query {name!r} nests deeper than the limit of {limit} levels."
                )


def _depth(
    selection_set: ast.SelectionSet | None,
    fragments: dict[str, ast.FragmentDefinition],
    depth: int,
    limit: int,
    visiting: frozenset[str],
) -> int:
    if selection_set is None:
        return depth
    if depth > limit:
        return depth  # already too deep; no need to walk further
    deepest = depth
    for selection in selection_set.selections:
        if isinstance(selection, ast.Field):
            if selection.name.value.startswith("__"):
                continue
            if selection.selection_set is None:
                deepest = max(deepest, depth + 1)
            else:
                deepest = max(
                    deepest, _depth(selection.selection_set, fragments, depth + 1, limit, visiting)
                )
        elif isinstance(selection, ast.FragmentSpread):
            name = selection.name.value
            if name in visiting:
                return limit + 1
            fragment = fragments.get(name)
            if fragment is not None:
                deepest = max(
                    deepest,
                    _depth(fragment.selection_set, fragments, depth, limit, visiting | {name}),
                )
        elif isinstance(selection, ast.InlineFragment):
            deepest = max(
                deepest, _depth(selection.selection_set, fragments, depth, limit, visiting)
            )
    return deepest
