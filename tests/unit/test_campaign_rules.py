"""Pure campaign rules: merchant text variables, local send moments, variant split."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from saleor_retention_plugin.domain import campaigns as rules


def test_known_variables_render_and_literal_braces_stay():
    text = "Hi {tier} member: {points} points {{not a variable}}"
    assert rules.text_problems(text) == []
    assert rules.render_text(text, {"tier": "Gold", "points": 12}) == (
        "Hi Gold member: 12 points {not a variable}"
    )


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("Hi {name}", "Unknown template variable {name}"),
        ("{points.real}", "Unknown template variable"),
        ("{points:>5}", "without a format"),
        ("{points!r}", "without a format"),
        ("unbalanced {", "Braces do not match"),
        ("{0}", "Unknown template variable"),
    ],
)
def test_bad_texts_are_named(text, needle):
    problems = rules.text_problems(text)
    assert problems
    assert needle in problems[0]
    with pytest.raises(ValueError, match=re.escape(problems[0])):
        rules.render_text(text, {})


def test_the_wall_time_comes_per_zone_and_first_in_utc_plus_14():
    send_on, ten = date(2026, 3, 3), time(10)
    assert rules.local_moment(send_on, ten, ZoneInfo("Asia/Shanghai")) == datetime(
        2026, 3, 3, 2, tzinfo=UTC
    )
    assert rules.local_moment(send_on, ten, ZoneInfo("America/New_York")) == datetime(
        2026, 3, 3, 15, tzinfo=UTC
    )
    assert rules.first_moment(send_on, ten) == datetime(2026, 3, 2, 20, tzinfo=UTC)
    assert rules.last_moment(send_on, ten) == datetime(2026, 3, 3, 22, tzinfo=UTC)


def test_variants_split_in_halves_reproducibly_and_differ_per_campaign():
    keys = [f"customer:{n}" for n in range(2000)]
    split = Counter(rules.variant_of(7, key, variants=2) for key in keys)
    assert set(split) == {"a", "b"}
    assert abs(split["a"] - split["b"]) < 200
    assert [rules.variant_of(7, k, variants=2) for k in keys] == [
        rules.variant_of(7, k, variants=2) for k in keys
    ]
    assert [rules.variant_of(7, k, variants=2) for k in keys] != [
        rules.variant_of(8, k, variants=2) for k in keys
    ]
    assert rules.variant_of(7, "customer:1", variants=1) == ""


@pytest.mark.parametrize(
    ("share", "ok"), [("0", True), ("50", True), ("50.01", False), ("-1", False)]
)
def test_holdout_share_is_0_to_50(share, ok):
    from decimal import Decimal

    assert (rules.holdout_problem(Decimal(share)) == "") is ok
