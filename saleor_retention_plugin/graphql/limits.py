"""Limits checked before a query runs: its size, how deep its selections nest, and how
much it may ask for.

Depth follows fragments (a cycle counts as too deep) and does not count introspection
(``__schema``/``__type``), so tools like GraphiQL keep working.

Size and depth do not bound cost: 200 aliases of ``myLoyaltyAccount { history(first: 100) }``
fit in 20,000 characters. So an operation may select at most ``MAX_ROOT_FIELDS`` top-level
fields (aliases count), and its cost, the rows its connections may return, is capped:
each connection costs its page size (``first``, or the default) times the rows of the
lists around it (enclosing connections, ``_entities`` representations).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from graphql.error import GraphQLSyntaxError
from graphql.language import ast
from graphql.language.lexer import Lexer, TokenKind
from graphql.language.source import Source
from graphql.type import GraphQLList, GraphQLNonNull, GraphQLObjectType, GraphQLSchema

if TYPE_CHECKING:
    from collections.abc import Mapping

MAX_QUERY_SIZE = 20_000  # characters
MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20
MAX_ROOT_FIELDS = 10
# An account page with four full connections (history, redemptions, tier history,
# rewards) costs 400; the margin is for gateways batching a few users.
MAX_QUERY_COST = 1_000
# Arguments whose list length multiplies what the field returns (federation's _entities).
LIST_ARGUMENTS = frozenset({"representations"})
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


def check_cost(
    schema: GraphQLSchema,
    document: ast.Document,
    operation_name: str | None,
    variables: Mapping[str, Any],
    *,
    max_root_fields: int = MAX_ROOT_FIELDS,
    max_cost: int = MAX_QUERY_COST,
) -> None:
    """Refuse an operation with too many top-level fields or too many rows requested.

    Run after validation: fields and fragments are known to exist in the schema.
    """
    fragments = {
        definition.name.value: definition
        for definition in document.definitions
        if isinstance(definition, ast.FragmentDefinition)
    }
    operations = [d for d in document.definitions if isinstance(d, ast.OperationDefinition)]
    for operation in operations:
        if operation_name is not None and (
            operation.name is None or operation.name.value != operation_name
        ):
            continue
        root = (
            schema.get_mutation_type()
            if operation.operation == "mutation"
            else schema.get_query_type()
        )
        if root is None:
            continue
        fields = _fields(operation.selection_set, fragments, frozenset())
        roots = [field for field in fields if not field.name.value.startswith("__")]
        if len(roots) > max_root_fields:
            raise QueryRejected(
                f"The operation selects {len(roots)} top-level fields; the limit is "
                f"{max_root_fields}. Split it into several requests."
            )
        cost = _cost(schema, root, roots, fragments, variables, 1)
        if cost > max_cost:
            raise QueryRejected(
                f"The operation may return up to {cost} rows of lists; the limit is "
                f"{max_cost}. Ask for smaller pages (first) or fewer lists."
            )


def _fields(
    selection_set: ast.SelectionSet | None,
    fragments: dict[str, ast.FragmentDefinition],
    visiting: frozenset[str],
) -> list[ast.Field]:
    """The fields of a selection set, with fragments spread in place."""
    found: list[ast.Field] = []
    for selection in selection_set.selections if selection_set else ():
        if isinstance(selection, ast.Field):
            found.append(selection)
        elif isinstance(selection, ast.InlineFragment):
            found.extend(_fields(selection.selection_set, fragments, visiting))
        elif isinstance(selection, ast.FragmentSpread):
            name = selection.name.value
            fragment = fragments.get(name)
            if fragment is not None and name not in visiting:
                found.extend(_fields(fragment.selection_set, fragments, visiting | {name}))
    return found


def _cost(
    schema: GraphQLSchema,
    parent: Any,
    fields: list[ast.Field],
    fragments: dict[str, ast.FragmentDefinition],
    variables: Mapping[str, Any],
    multiplier: int,
) -> int:
    total = 0
    for field in fields:
        name = field.name.value
        definition = _field_definition(schema, parent, name)
        if definition is None or field.selection_set is None:
            continue
        arguments = {argument.name.value: argument.value for argument in field.arguments or ()}
        rows = 1
        if "first" in definition.args:
            rows = _page_size(arguments.get("first"), variables)
            total += rows * multiplier
        for list_argument in LIST_ARGUMENTS & set(arguments):
            rows *= _list_length(arguments[list_argument], variables)
        children = _fields(field.selection_set, fragments, frozenset())
        total += _cost(
            schema, _named_type(definition.type), children, fragments, variables, multiplier * rows
        )
    return total


def _field_definition(schema: GraphQLSchema, parent: Any, name: str) -> Any:
    candidates = [parent]
    if not isinstance(parent, GraphQLObjectType):
        # Interfaces and unions: a field may come from any of the possible types.
        candidates = list(schema.get_possible_types(parent)) if parent is not None else []
    for candidate in candidates:
        fields = getattr(candidate, "fields", None) or {}
        if name in fields:
            return fields[name]
    return None


def _named_type(type_: Any) -> Any:
    while isinstance(type_, GraphQLList | GraphQLNonNull):
        type_ = type_.of_type
    return type_


def _value(node: ast.Node | None, variables: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.Variable):
        return variables.get(node.name.value)
    if isinstance(node, ast.IntValue):
        return int(node.value)
    if isinstance(node, ast.ListValue):
        return node.values
    return None


def _page_size(node: ast.Node | None, variables: Mapping[str, Any]) -> int:
    value = _value(node, variables)
    if value is None:
        return DEFAULT_PAGE_SIZE
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_PAGE_SIZE:
        # Refused later with its own message; count it at its most.
        return MAX_PAGE_SIZE
    return value


def _list_length(node: ast.Node | None, variables: Mapping[str, Any]) -> int:
    value = _value(node, variables)
    return len(value) if isinstance(value, list) else 1
