"""Query limits are pure functions over the parsed document."""

import pytest
from graphql import parse
from graphql.utils.build_ast_schema import build_ast_schema

from saleor_retention_plugin.graphql.limits import (
    QueryRejected,
    check_cost,
    check_depth,
    check_introspection,
    check_nesting,
    check_selections,
    check_size,
    reads_database,
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


# --- cost ------------------------------------------------------------------------------------

COST_SCHEMA = build_ast_schema(
    parse(
        """
        schema { query: Query }
        type Query {
          me: Account
          account(id: ID): Account
          rewards(first: Int, after: String): RewardConnection
          entities(representations: [String!]!): [Account]
        }
        type Account { id: ID history(first: Int): EntryConnection }
        type EntryConnection { edges: [EntryEdge] }
        type EntryEdge { node: Entry }
        type Entry { id: ID points: Int }
        type RewardConnection { edges: [RewardEdge] }
        type RewardEdge { node: Reward }
        type Reward { id: ID }
        """
    )
)


def cost_check(query: str, variables=None, **limits):
    check_cost(COST_SCHEMA, parse(query), None, variables or {}, **limits)


def aliases(count: int, selection: str) -> str:
    return "{ " + " ".join(f"a{n}: {selection}" for n in range(count)) + " }"


def test_an_account_page_fits_the_limits():
    cost_check(
        "{ me { history(first: 100) { edges { node { id } } } }"
        " rewards(first: 100) { edges { node { id } } } }"
    )


def test_too_many_top_level_fields_are_rejected_aliases_and_fragments_included():
    with pytest.raises(QueryRejected, match="selects 11 top-level fields; the limit is 10"):
        cost_check(aliases(11, "me { id }"))
    spread = "{ a: me { id } b: me { id } ...more } fragment more on Query { " + (
        " ".join(f"c{n}: account {{ id }}" for n in range(10)) + " }"
    )
    with pytest.raises(QueryRejected, match="selects 12 top-level fields"):
        cost_check(spread)


@pytest.mark.parametrize(
    ("query", "variables", "cost"),
    [
        (aliases(10, "me { history(first: 100) { edges { node { id } } } }"), {}, 1000),
        (aliases(10, "me { history { edges { node { id } } } }"), {}, 200),
        ("query($n: Int) { me { history(first: $n) { edges { node { id } } } } }", {"n": 70}, 70),
        (
            "{ me { " + aliases(11, "history(first: 100) { edges { node { id } } }")[1:-1] + " } }",
            {},
            1100,
        ),
        (
            "query($r: [String!]!) { entities(representations: $r) {"
            " history(first: 50) { edges { node { id } } } } }",
            {"r": ["a"] * 30},
            1500,
        ),
    ],
)
def test_the_cost_is_the_rows_connections_may_return(query, variables, cost):
    if cost > 1000:
        with pytest.raises(QueryRejected, match=f"up to {cost} rows"):
            cost_check(query, variables)
    else:
        cost_check(query, variables)
        with pytest.raises(QueryRejected, match=f"up to {cost} rows"):
            cost_check(query, variables, max_cost=cost - 1)


# --- fields that read the database ------------------------------------------------------------

DATABASE_SCHEMA = build_ast_schema(
    parse(
        """
        schema { query: Query }
        type Query { entities(representations: [String!]!): [User] me: User }
        type User { id: ID loyalty: Account }
        type Account { balance: Int birthday: Birthday }
        type Birthday { month: Int }
        """
    )
)
for type_name, field_name in (("User", "loyalty"), ("Account", "birthday")):
    DATABASE_SCHEMA.get_type(type_name).fields[field_name].resolver = reads_database(
        lambda root, info: None
    )


@pytest.mark.parametrize(
    ("representations", "aliases_", "cost"),
    [(1, 1, 2), (10, 5, 60), (100, 200, 20_100)],
)
def test_each_alias_of_a_database_field_counts_times_the_representations(
    representations, aliases_, cost
):
    birthdays = " ".join(f"b{n}: birthday {{ month }}" for n in range(aliases_))
    query = (
        f"query($r: [String!]!) {{ entities(representations: $r) {{ loyalty {{ {birthdays} }} }} }}"
    )
    variables = {"r": ["User"] * representations}

    check_cost(DATABASE_SCHEMA, parse(query), None, variables, max_cost=cost)
    with pytest.raises(QueryRejected, match=f"up to {cost} rows or database fields"):
        check_cost(DATABASE_SCHEMA, parse(query), None, variables, max_cost=cost - 1)


def test_fields_read_from_a_loaded_row_cost_nothing():
    query = "{ me { id loyalty { balance } } }"

    check_cost(DATABASE_SCHEMA, parse(query), None, {}, max_cost=1)
    with pytest.raises(QueryRejected):
        check_cost(DATABASE_SCHEMA, parse(query), None, {}, max_cost=0)


# --- introspection ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "{ __schema { types { name fields { name type { name ofType { name } } } } } }",
        'query { __type(name: "Reward") { name fields { name } } me { id } }',
        "{ __schema { ...T } } fragment T on __Schema { types { name } }",
    ],
)
def test_one_copy_of_the_schema_may_be_introspected(query):
    check_introspection(parse(query), None)


@pytest.mark.parametrize(
    ("query", "refusal"),
    [
        ("{ a: __schema { types { name } } b: __schema { types { name } } }", "once per"),
        ("{ __schema { a: types { name } b: types { name } } }", "Aliases are not allowed"),
        ('{ __type(name: "X") { fields { n1: name n2: name } } }', "Aliases are not allowed"),
        (
            "{ __schema { ...T } } fragment T on __Schema { a: types { name } }",
            "Aliases are not allowed",
        ),
    ],
)
def test_introspection_that_repeats_the_schema_is_refused(query, refusal):
    with pytest.raises(QueryRejected, match=refusal):
        check_introspection(parse(query), None)


# --- number of selections ----------------------------------------------------------------------


def test_a_document_may_hold_up_to_the_limit_of_selections_fragments_included():
    fields = " ".join(f"f{n}" for n in range(8))
    check_selections(parse(f"{{ a {{ {fields} }} ...F }} fragment F on Q {{ b }}"), limit=11)
    with pytest.raises(QueryRejected, match="more than 10 fields and fragments"):
        check_selections(parse(f"{{ a {{ {fields} }} ...F }} fragment F on Q {{ b }}"), limit=10)


def test_repeats_of_one_field_count_each_time():
    with pytest.raises(QueryRejected, match="more than 300 fields"):
        check_selections(parse("{ me { " + " balance" * 301 + " } }"))
