"""Limits checked before a query runs.

Its size, how deep its selections nest, and how much it may ask for.

Depth follows fragments (a cycle counts as too deep) and does not count introspection
(``__schema``/``__type``), so tools like GraphiQL keep working.

Size and depth do not bound cost: 200 aliases of ``myLoyaltyAccount { history(first: 100) }``
fit in 20,000 characters. So an operation may select at most ``MAX_ROOT_FIELDS`` top-level
fields (aliases count), and its cost is capped. The cost counts the work the database
does: each connection costs its page size (``first``, or the default), and each other
field whose resolver reads the database (marked ``@reads_database``: ``birthday``,
``tier``, ``spendablePoints``, ``loyalty``...) costs 1, both times the rows of the lists around it
(enclosing connections, ``_entities`` representations). Top-level fields are bounded by
their number instead. Each alias is a field of its own:
100 representations times 200 aliases of ``birthday`` cost 20,000 and are refused before
anything runs.

Validation itself is quadratic in the fields of a selection set (graphql-core 2 compares
every pair of fields with the same response name: 3,000 repeats of ``balance`` took 14 s),
so a document may hold at most ``MAX_SELECTIONS`` fields, spreads and inline fragments,
counted in its text before validation. The full GraphiQL introspection query holds under
80, a complete account page under 100.

Introspection is open to every caller, as in Saleor (the dashboard, code generators and
GraphiQL rely on it), but bounded to about one copy of the schema per request: at most
one ``__schema`` per operation, ``__schema``/``__type`` count as top-level fields, and no
alias inside them (aliases are the only way to make an answer repeat the schema).
A federation gateway reads the schema with ``_service { sdl }``, which is a plain field.
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
# Fields, fragment spreads and inline fragments in a document's text (see the docstring):
# 300 repeats of one field validate in about 0.15 s on a 2-core machine.
MAX_SELECTIONS = 300
# The deepest query the schema allows today is 6 levels (_entities/loyalty/history/edges/
# node/field); the margin leaves room for new fields, not for abuse.
MAX_QUERY_DEPTH = 10


class QueryRejected(ValueError):
    pass


def reads_database(resolver: Any) -> Any:
    """Mark a resolver that queries the database.

    Each time it runs costs 1 (times the rows of the lists around it) in ``check_cost``.
    Put it under ``@staticmethod``.
    """
    resolver.reads_database = True
    return resolver


def _reads_database(definition: Any) -> bool:
    return bool(getattr(definition.resolver, "reads_database", False))


def check_introspection(document: ast.Document, operation_name: str | None) -> None:
    """Refuse introspection that would repeat the schema.

    That is several ``__schema`` fields, or aliases inside ``__schema``/``__type``.
    """
    fragments = _fragments(document)
    for operation in _operations(document, operation_name):
        roots = _fields(operation.selection_set, fragments, frozenset())
        schemas = [field for field in roots if field.name.value == "__schema"]
        if len(schemas) > 1:
            raise QueryRejected("Ask for __schema once per operation.")
        for field in roots:
            if field.name.value in ("__schema", "__type") and _has_alias(
                field.selection_set, fragments, frozenset()
            ):
                raise QueryRejected(
                    f"Aliases are not allowed inside {field.name.value}: ask for each "
                    "introspection field once."
                )


def _has_alias(
    selection_set: ast.SelectionSet | None,
    fragments: dict[str, ast.FragmentDefinition],
    visiting: frozenset[str],
) -> bool:
    for selection in selection_set.selections if selection_set else ():
        if isinstance(selection, ast.Field):
            if selection.alias is not None or _has_alias(
                selection.selection_set, fragments, visiting
            ):
                return True
        elif isinstance(selection, ast.InlineFragment):
            if _has_alias(selection.selection_set, fragments, visiting):
                return True
        elif isinstance(selection, ast.FragmentSpread):
            name = selection.name.value
            fragment = fragments.get(name)
            if (
                fragment is not None
                and name not in visiting
                and _has_alias(fragment.selection_set, fragments, visiting | {name})
            ):
                return True
    return False


def _fragments(document: ast.Document) -> dict[str, ast.FragmentDefinition]:
    return {
        definition.name.value: definition
        for definition in document.definitions
        if isinstance(definition, ast.FragmentDefinition)
    }


def _operations(
    document: ast.Document, operation_name: str | None
) -> list[ast.OperationDefinition]:
    return [
        definition
        for definition in document.definitions
        if isinstance(definition, ast.OperationDefinition)
        and (
            operation_name is None
            or (definition.name is not None and definition.name.value == operation_name)
        )
    ]


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


def check_selections(document: ast.Document, limit: int = MAX_SELECTIONS) -> None:
    """Refuse a document with more than ``limit`` selections in its text, before validation."""
    count = 0
    pending: list[ast.SelectionSet | None] = [
        definition.selection_set
        for definition in document.definitions
        if isinstance(definition, ast.OperationDefinition | ast.FragmentDefinition)
    ]
    while pending:
        selection_set = pending.pop()
        for selection in selection_set.selections if selection_set else ():
            count += 1
            if count > limit:
                raise QueryRejected(
                    f"The query holds more than {limit} fields and fragments; ask for each "
                    "field once, or split it into several requests."
                )
            if isinstance(selection, ast.Field | ast.InlineFragment):
                pending.append(selection.selection_set)


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
    fragments = _fragments(document)
    for operation in _operations(document, operation_name):
        root = (
            schema.get_mutation_type()
            if operation.operation == "mutation"
            else schema.get_query_type()
        )
        if root is None:
            continue
        fields = _fields(operation.selection_set, fragments, frozenset())
        # Introspection roots count (each may answer a large part of the schema);
        # __typename answers a constant.
        roots = [field for field in fields if field.name.value != "__typename"]
        if len(roots) > max_root_fields:
            raise QueryRejected(
                f"The operation selects {len(roots)} top-level fields; the limit is "
                f"{max_root_fields}. Split it into several requests."
            )
        cost = _cost(schema, root, roots, fragments, variables, 1)
        if cost > max_cost:
            raise QueryRejected(
                f"The operation may read up to {cost} rows or database fields; the limit is "
                f"{max_cost}. Ask for smaller pages (first), fewer lists or fewer aliases."
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
        if definition is None:
            continue
        if _reads_database(definition):
            total += multiplier
        if field.selection_set is None:
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
