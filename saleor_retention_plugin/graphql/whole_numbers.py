"""Every ``Int`` a caller sends in variables must be a JSON integer.

graphene 2 / graphql-core 2 coerce ``Int`` variables with ``int(value)``: ``9.9`` becomes
9, ``"2"`` becomes 2 and ``true`` becomes 1, so a stock, a page size or a birthday would
silently differ from what the caller sent. Literals in the query text are already strict
(only ``IntValue`` parses as ``Int``).

The check walks the variables against their declared types (lists and input objects
included) before anything executes. It keeps the schema's ``Int`` as it is, so storefront
queries written the Saleor way (``$first: Int``) keep working, and every integer input,
present or future, is strict without having to remember a special scalar.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphql.language import ast
from graphql.type import (
    GraphQLInputObjectType,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLSchema,
)
from graphql.utils.type_from_ast import type_from_ast

from ..services.inputs import is_whole_number


def non_integer_variables(
    schema: GraphQLSchema,
    document: ast.Document,
    operation_name: str | None,
    variables: Mapping[str, Any],
) -> list[tuple[str, Any]]:
    """``(path, value)`` of every value sent for an ``Int`` that is not a whole number,
    e.g. ``("$input.stock", 9.9)``."""
    operation = _operation(document, operation_name)
    if operation is None:
        return []  # execution reports the unknown or ambiguous operation
    problems: list[tuple[str, Any]] = []
    for definition in operation.variable_definitions or ():
        name = definition.variable.name.value
        if name not in variables:
            continue
        declared = type_from_ast(schema, definition.type)
        if declared is not None:
            _walk(declared, variables[name], f"${name}", problems)
    return problems


def _operation(document: ast.Document, name: str | None) -> ast.OperationDefinition | None:
    operations = [d for d in document.definitions if isinstance(d, ast.OperationDefinition)]
    if name is None:
        return operations[0] if len(operations) == 1 else None
    return next((o for o in operations if o.name and o.name.value == name), None)


def _walk(type_: Any, value: Any, path: str, problems: list[tuple[str, Any]]) -> None:
    if value is None:
        return
    if isinstance(type_, GraphQLNonNull):
        _walk(type_.of_type, value, path, problems)
    elif isinstance(type_, GraphQLList):
        # A single value where a list is expected counts as a list of one (GraphQL's rule).
        items = value if isinstance(value, list) else [value]
        for index, item in enumerate(items):
            _walk(type_.of_type, item, f"{path}[{index}]", problems)
    elif isinstance(type_, GraphQLInputObjectType):
        if isinstance(value, Mapping):
            for field_name, field in type_.fields.items():
                if field_name in value:
                    _walk(field.type, value[field_name], f"{path}.{field_name}", problems)
    elif type_ is GraphQLInt and not is_whole_number(value):
        problems.append((path, value))
