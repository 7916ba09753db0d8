"""Every value a caller sends is checked against its declared type before anything runs.

One place for every input, variables and literals alike, so no resolver, service or
database ever sees a value that cannot be stored or read back:

- **Text** anywhere (strings, ids, emails, keys and values of ``_entities``
  representations, literals in the query) must not contain NUL (PostgreSQL refuses it in
  text) or a lone surrogate (not encodable as UTF-8). Refused with the path of the value.
- **Int** variables must be JSON integers (graphene 2 would round ``9.9`` to 9, read
  ``"2"`` as 2 and ``true`` as 1) within 32 bits (graphql-core raises on anything larger,
  which answered 500). Literals in the query text are already strict.
- **String, ID, Boolean, Float** take only their own JSON type (graphql-core 2 would read
  ``{"a": 1}`` as the text ``"{'a': 1}"`` and ``"false"`` as true).
- **Every other scalar** is asked to read the value, and anything it cannot read (a
  ``Decimal`` of ``"abc"``, ``""`` or ``"1,5"``, a ``DateTime`` past 2200) is refused here
  with the path of the value, instead of raising inside graphql-core.

Each problem is ``InputProblem(path, english, chinese)``: the endpoint answers 400 with one
error per problem and runs nothing, so nothing changes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphql.language import ast
from graphql.language.visitor import Visitor, visit
from graphql.type import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
    GraphQLSchema,
)
from graphql.utils.type_from_ast import type_from_ast

from ..services.inputs import is_whole_number

MIN_INT = -(2**31)
MAX_INT = 2**31 - 1
# How deeply variables may nest (lists in input objects in lists...). No input of this
# schema nests beyond 4; the bound keeps every walk over variables short.
MAX_VARIABLE_NESTING = 20

# What each scalar expects, in both languages, for the refusal message.
EXPECTED: dict[str, tuple[str, str]] = {
    "Decimal": (
        'a number as text with a point for decimals, for example "12.50"',
        '以文本表示的数字，小数用点号，例如 "12.50"',
    ),
    "DateTime": (
        'an ISO 8601 date and time from 1970 to 2200, for example "2026-11-29T09:00:00+08:00"',
        '1970 至 2200 年之间的 ISO 8601 日期时间，例如 "2026-11-29T09:00:00+08:00"',
    ),
    "JSONString": ("a string holding valid JSON", "包含有效 JSON 的字符串"),
    "PointsAmount": ("a whole number of points, for example 250", "整数积分，例如 250"),
}


# graphql-core 2 reads these with str()/bool()/float(): an object becomes the text
# "{'a': 1}" and the string "false" becomes True. Each takes only its own JSON type.
STRICT_JSON_TYPES: dict[str, tuple[tuple[type, ...], str, str]] = {
    "String": ((str,), "a string", "字符串"),
    "ID": ((str, int), "an id (a string)", "ID（字符串）"),
    "Boolean": ((bool,), "true or false", "true 或 false"),
    "Float": ((int, float), "a number", "数字"),
}


@dataclass(frozen=True)
class InputProblem:
    path: str  # "$input.reason", "$representations[3].email" or "the query text"
    english: str
    chinese: str

    def message_for(self, language: str | None) -> str:
        from .errors import in_language

        return in_language(language, self.english, self.chinese)

    @property
    def field(self) -> str:
        """The input field the problem is about, e.g. ``reason`` for ``$input.reason``."""
        tail = self.path.rsplit(".", 1)[-1].lstrip("$")
        return tail.split("[", 1)[0]


def text_problem(text: str) -> tuple[str, str] | None:
    """Why ``text`` cannot be stored, in English and Chinese; None when it can."""
    if "\x00" in text:
        return "contains a NUL character", "包含 NUL 字符"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate (invalid Unicode)", "包含孤立的代理字符（无效的 Unicode）"
    return None


def variables_too_deep(value: Any, limit: int = MAX_VARIABLE_NESTING) -> bool:
    """True when ``value`` nests lists/objects deeper than ``limit`` (checked without recursion)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, Mapping | list):
            if depth >= limit:
                return True
            children = item.values() if isinstance(item, Mapping) else item
            stack.extend((child, depth + 1) for child in children)
    return False


def variable_problems(
    schema: GraphQLSchema,
    document: ast.Document,
    operation_name: str | None,
    variables: Mapping[str, Any],
) -> list[InputProblem]:
    """Problems with the variables the operation declares, in declaration order."""
    operation = _operation(document, operation_name)
    if operation is None:
        return []  # execution reports the unknown or ambiguous operation
    problems: list[InputProblem] = []
    for definition in operation.variable_definitions or ():
        name = definition.variable.name.value
        if name not in variables:
            continue
        declared = type_from_ast(schema, definition.type)
        if declared is not None:
            _walk(declared, variables[name], f"${name}", problems)
    return problems


def literal_problems(document: ast.Document) -> list[InputProblem]:
    r"""Problems with strings written in the query text itself (``\u0000`` escapes)."""
    collector = _StringLiterals()
    visit(document, collector)
    problems = []
    for node in collector.found:
        problem = text_problem(node.value)
        if problem is not None:
            offset = node.loc.start if node.loc else 0
            problems.append(
                InputProblem(
                    "the query text",
                    f"The string at character {offset} of the query {problem[0]}.",
                    f"查询第 {offset} 个字符处的字符串{problem[1]}。",
                )
            )
    return problems


class _StringLiterals(Visitor):
    def __init__(self) -> None:
        self.found: list[ast.StringValue] = []

    def enter_StringValue(self, node: ast.StringValue, *args: Any) -> None:
        self.found.append(node)


def _operation(document: ast.Document, name: str | None) -> ast.OperationDefinition | None:
    operations = [d for d in document.definitions if isinstance(d, ast.OperationDefinition)]
    if name is None:
        return operations[0] if len(operations) == 1 else None
    return next((o for o in operations if o.name and o.name.value == name), None)


def _shown(value: Any) -> str:
    shown = json.dumps(value, ensure_ascii=True)
    return shown if len(shown) <= 80 else shown[:77] + "..."


def _walk(type_: Any, value: Any, path: str, problems: list[InputProblem]) -> None:
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
            for key in value:
                _check_texts(key, f"{path}.<key>", problems)
            for field_name, field in type_.fields.items():
                if field_name in value:
                    _walk(field.type, value[field_name], f"{path}.{field_name}", problems)
    elif isinstance(type_, GraphQLEnumType):
        _check_texts(value, path, problems)
    elif isinstance(type_, GraphQLScalarType):
        _check_scalar(type_, value, path, problems)


def _check_texts(value: Any, path: str, problems: list[InputProblem]) -> bool:
    """Record a problem for the first string inside ``value`` that cannot be stored."""
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            problem = text_problem(item)
            if problem is not None:
                problems.append(
                    InputProblem(
                        where,
                        f"Variable {where} {problem[0]}: send text without it.",
                        f"变量 {where} {problem[1]}：请去掉后再发送。",
                    )
                )
                return False
        elif isinstance(item, Mapping):
            for key, child in item.items():
                stack.append((key, f"{where}.<key>"))
                stack.append((child, f"{where}.{key}" if isinstance(key, str) else where))
        elif isinstance(item, list):
            stack.extend((child, f"{where}[{index}]") for index, child in enumerate(item))
    return True


def _check_scalar(
    type_: GraphQLScalarType, value: Any, path: str, problems: list[InputProblem]
) -> None:
    if not _check_texts(value, path, problems):
        return
    if type_ is GraphQLInt:
        if not is_whole_number(value):
            shown = _shown(value)
            problems.append(
                InputProblem(
                    path,
                    f"Variable {path} got {shown}: send a whole number "
                    "(no fractions, strings or booleans).",
                    f"变量 {path} 的值 {shown} 无效：请发送整数（不能是小数、字符串或布尔值）。",
                )
            )
        elif not MIN_INT <= value <= MAX_INT:
            problems.append(
                InputProblem(
                    path,
                    f"Variable {path} got {value}: send a whole number from {MIN_INT} to "
                    f"{MAX_INT} (GraphQL's Int is 32 bits).",
                    f"变量 {path} 的值 {value} 超出范围：请发送 {MIN_INT} 到 {MAX_INT} 之间的整数"
                    "（GraphQL 的 Int 为 32 位）。",
                )
            )
        return
    expected_json = STRICT_JSON_TYPES.get(type_.name)
    if expected_json is not None:
        python_types, english, chinese = expected_json
        if isinstance(value, bool) is not (bool in python_types) or not isinstance(
            value, python_types
        ):
            shown = _shown(value)
            problems.append(
                InputProblem(
                    path,
                    f"Variable {path} got {shown}: send {english}.",
                    f"变量 {path} 的值 {shown} 无效：请发送{chinese}。",
                )
            )
        return
    try:
        readable = type_.parse_value(value) is not None
    except Exception:  # a scalar of graphql-core's that raises instead of answering None
        readable = False
    if not readable:
        english, chinese = EXPECTED.get(type_.name, (f"a {type_.name}", f"{type_.name} 类型的值"))
        shown = _shown(value)
        problems.append(
            InputProblem(
                path,
                f"Variable {path} got {shown}: send {english}.",
                f"变量 {path} 的值 {shown} 无效：请发送{chinese}。",
            )
        )
