"""Limits checked before a query runs: its size, and how deep its selections nest.

Depth follows fragments (a cycle counts as too deep) and does not count introspection
(``__schema``/``__type``), so tools like GraphiQL keep working.
"""

from __future__ import annotations

from graphql.error import GraphQLSyntaxError
from graphql.language import ast
from graphql.language.lexer import Lexer, TokenKind
from graphql.language.source import Source

MAX_QUERY_SIZE = 20_000  # characters
# The deepest query the schema allows today is 6 levels (_entities/loyalty/history/edges/
# node/field); the margin leaves room for new fields, not for abuse.
MAX_QUERY_DEPTH = 10


class QueryRejected(ValueError):
    pass


def check_size(query: str, limit: int = MAX_QUERY_SIZE) -> None:
    if len(query) > limit:
        raise QueryRejected(f"The query is {len(query)} characters long; the limit is {limit}.")


def check_nesting(query: str, limit: int = MAX_QUERY_DEPTH) -> None:
    """Refuse text that nests brackets far deeper than any allowed query, before parsing.

    graphql-core's parser is recursive: a small but deeply nested document would exhaust
    Python's stack. The lexer is not, so it can count safely; strings and comments are
    tokens of their own and do not count. Selections, arguments and literal values all
    nest, hence the margin over the selection depth limit.
    """
    ceiling = 3 * limit
    lexer = Lexer(Source(query))
    opening = {TokenKind.BRACE_L, TokenKind.BRACKET_L, TokenKind.PAREN_L}
    closing = {TokenKind.BRACE_R, TokenKind.BRACKET_R, TokenKind.PAREN_R}
    nesting = 0
    try:
        while True:
            token = lexer.next_token()
            if token.kind == TokenKind.EOF:
                return
            if token.kind in opening:
                nesting += 1
                if nesting > ceiling:
                    raise QueryRejected(f"The query nests deeper than the limit of {limit} levels.")
            elif token.kind in closing:
                nesting -= 1
    except GraphQLSyntaxError:
        return  # the parser reports syntax errors with their position


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
