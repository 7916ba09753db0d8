"""Query limits are pure functions over the parsed document."""

import pytest
from graphql import parse

from saleor_retention_plugin.graphql.limits import (
    QueryRejected,
    check_depth,
    check_nesting,
    check_size,
)


def nested(depth: int) -> str:
    selection = "leaf"
    for level in range(depth - 1):
        selection = f"f{level} {{ {selection} }}"
    return f"{{ {selection} }}"


@pytest.mark.parametrize("depth", [1, 5, 10])
def test_queries_within_the_depth_limit_pass(depth):
    check_depth(parse(nested(depth)), limit=10)


@pytest.mark.parametrize("depth", [31, 500, 5000])
def test_deeply_nested_text_is_rejected_before_the_recursive_parser_sees_it(depth):
    with pytest.raises(QueryRejected, match="deeper than the limit of 10 levels"):
        check_nesting(nested(depth), limit=10)


def test_brackets_inside_strings_and_comments_do_not_count():
    check_nesting('{ a(x: "' + "{" * 100 + '") { b } } # ' + "[" * 100, limit=10)


@pytest.mark.parametrize("depth", [11, 20, 30])
def test_queries_deeper_than_the_limit_are_rejected(depth):
    with pytest.raises(QueryRejected, match="deeper than the limit of 10 levels"):
        check_depth(parse(nested(depth)), limit=10)


def test_fragments_count_where_they_are_spread():
    document = parse(
        """
        query Q { a { ...F } }
        fragment F on A { b { c { d } } }
        """
    )
    check_depth(document, limit=4)
    with pytest.raises(QueryRejected):
        check_depth(document, limit=3)


def test_fragment_cycles_are_rejected_not_followed_forever():
    document = parse(
        """
        query Q { a { ...F } }
        fragment F on A { ...G }
        fragment G on A { ...F }
        """
    )
    with pytest.raises(QueryRejected):
        check_depth(document, limit=10)


def test_introspection_does_not_count_towards_depth():
    check_depth(
        parse("{ __schema { types { fields { type { ofType { ofType { name } } } } } } }"), limit=2
    )


def test_size_limit():
    check_size("x" * 100, limit=100)
    with pytest.raises(QueryRejected, match="101 characters long; the limit is 100"):
        check_size("x" * 101, limit=100)
