"""The API's input scalars read what a person means, refuse the rest with None, and never
raise, whatever JSON they are given.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from saleor_retention_plugin.graphql.inputs import text_problem, variables_too_deep
from saleor_retention_plugin.graphql.scalars import (
    EARLIEST_MOMENT,
    LATEST_MOMENT,
    read_decimal,
    read_json,
    read_moment,
)

json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text()),
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(), children, max_size=3)
    ),
    max_leaves=8,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("12.50", Decimal("12.50")), (" 5 ", Decimal(5)), (7, Decimal(7)), ("1e2", Decimal(100))],
)
def test_decimals_people_write_are_read(raw, expected):
    assert read_decimal(raw) == expected


@pytest.mark.parametrize(
    "raw", ["abc", "", "1,5", "NaN", "Infinity", "-inf", True, None, [1], {"a": 1}, "9" * 65]
)
def test_text_that_is_not_a_finite_number_is_no_decimal(raw):
    assert read_decimal(raw) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-11-29T09:00:00+08:00", datetime(2026, 11, 29, 1, tzinfo=UTC)),
        ("1970-01-01T00:00:00Z", EARLIEST_MOMENT),
        ("2200-01-01T08:00:00+08:00", LATEST_MOMENT),
    ],
)
def test_moments_from_1970_to_2200_are_read_with_their_offset(raw, expected):
    assert read_moment(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "0001-01-01T00:00:00+05:00",
        "9999-12-31T23:59:59-05:00",
        "1969-12-31T23:59:59Z",
        "2200-01-01T00:00:01Z",
        "2026-02-30T00:00:00Z",
        "tomorrow",
        "",
        1764403200,
    ],
)
def test_moments_python_cannot_read_back_or_outside_the_range_are_refused(raw):
    assert read_moment(raw) is None


@given(json_values)
def test_no_scalar_raises_whatever_json_arrives(value):
    read_decimal(value)
    read_json(value)
    moment = read_moment(value)
    if moment is not None:
        assert moment.tzinfo is None or EARLIEST_MOMENT <= moment <= LATEST_MOMENT


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("fine 好的 🎁", None),
        ("a\x00b", "contains a NUL character"),
        ("a\ud800b", "contains a lone surrogate (invalid Unicode)"),
        ("\udfff", "contains a lone surrogate (invalid Unicode)"),
    ],
)
def test_text_that_cannot_be_stored_is_named(text, problem):
    found = text_problem(text)
    assert (found[0] if found else None) == problem


def test_variables_nesting_is_measured_without_recursion():
    deep: object = 1
    for _ in range(100_000):
        deep = [deep]
    assert variables_too_deep(deep, limit=20)
    assert not variables_too_deep({"input": {"prizes": [{"name": [{"text": "x"}]}]}}, limit=20)
