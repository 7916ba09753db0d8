"""Tier rules as specifications: qualifying, windows, upgrades now, downgrades after grace."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TypeVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from saleor_retention_plugin.domain.tiers import (
    DEFAULT_TIERS,
    Activity,
    Basis,
    Move,
    TierRule,
    Totals,
    benefit_errors,
    decide,
    localised,
    points_multiplier,
    progress_to_next_tier,
    qualifying_tier,
    totals_from_activity,
    validate_thresholds,
    window_start,
)

NOW = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)

T = TypeVar("T")


def present(value: T | None) -> T:
    """The value, failing the test (not the type checker) when it is missing."""
    assert value is not None
    return value


def rule(
    tier_id: int, rank: int, threshold: int, *, basis=Basis.POINTS_EARNED, window=12
) -> TierRule:
    return TierRule(tier_id, rank, basis, Decimal(threshold), window)


MEMBER, SILVER, GOLD = rule(1, 0, 0), rule(2, 1, 1000), rule(3, 2, 5000)
LADDER = [GOLD, MEMBER, SILVER]  # deliberately unordered


def totals(points: int = 0, amount: str = "0", window: int = 12) -> dict[int, Totals]:
    return {window: Totals(points, Decimal(amount))}


@pytest.mark.parametrize(
    ("points", "expected"),
    [(0, MEMBER), (999, MEMBER), (1000, SILVER), (4999, SILVER), (5000, GOLD), (10**9, GOLD)],
)
def test_the_best_tier_whose_threshold_is_reached_wins(points, expected):
    assert qualifying_tier(LADDER, totals(points)) == expected


def test_amount_spent_tiers_count_money_not_points():
    ladder = [rule(1, 0, 0, basis=Basis.AMOUNT_SPENT), rule(2, 1, 500, basis=Basis.AMOUNT_SPENT)]
    assert present(qualifying_tier(ladder, totals(points=10_000, amount="499.99"))).rank == 0
    assert present(qualifying_tier(ladder, totals(points=0, amount="500.00"))).rank == 1


def test_each_tier_reads_its_own_window():
    lifetime_gold = rule(3, 2, 5000, window=0)
    by_window = {12: Totals(1200, Decimal(0)), 0: Totals(6000, Decimal(0))}
    assert qualifying_tier([MEMBER, SILVER, lifetime_gold], by_window) == lifetime_gold


def test_no_tier_when_even_the_entry_tier_needs_something():
    assert qualifying_tier([rule(1, 0, 10)], totals(5)) is None


@pytest.mark.parametrize(
    ("now", "months", "start"),
    [
        (datetime(2026, 3, 31, tzinfo=UTC), 1, datetime(2026, 2, 28, tzinfo=UTC)),
        (datetime(2024, 3, 31, tzinfo=UTC), 1, datetime(2024, 2, 29, tzinfo=UTC)),
        (datetime(2026, 1, 15, tzinfo=UTC), 12, datetime(2025, 1, 15, tzinfo=UTC)),
        (datetime(2026, 1, 15, tzinfo=UTC), 13, datetime(2024, 12, 15, tzinfo=UTC)),
    ],
)
def test_rolling_window_starts_the_same_day_months_ago_clamped_to_short_months(now, months, start):
    assert window_start(now, months) == start


def test_lifetime_window_has_no_start():
    assert window_start(NOW, 0) is None


def test_orders_outside_the_window_do_not_count():
    activity = [
        Activity(NOW - timedelta(days=400), 3000, Decimal(300)),
        Activity(NOW - timedelta(days=10), 800, Decimal(80)),
        Activity(NOW + timedelta(days=1), 999, Decimal(99)),  # clock skew: not yet
    ]
    by_window = totals_from_activity(activity, [12, 0], NOW)
    assert by_window[12] == Totals(800, Decimal(80))
    assert by_window[0] == Totals(3800, Decimal(380))


class TestDecide:
    def test_an_order_upgrades_at_once(self):
        decision = decide(
            current=MEMBER,
            qualified=GOLD,
            downgrade_due_at=None,
            now=NOW,
            grace_days=30,
            allow_downgrade=False,
        )
        assert decision.move is Move.UPGRADE
        assert decision.tier == GOLD

    def test_an_order_never_downgrades(self):
        decision = decide(
            current=GOLD,
            qualified=MEMBER,
            downgrade_due_at=None,
            now=NOW,
            grace_days=0,
            allow_downgrade=False,
        )
        assert decision.move is Move.STAY
        assert decision.tier == GOLD

    def test_reevaluation_below_the_tier_starts_the_grace_period(self):
        decision = decide(
            current=GOLD,
            qualified=SILVER,
            downgrade_due_at=None,
            now=NOW,
            grace_days=30,
            allow_downgrade=True,
        )
        assert decision.move is Move.START_GRACE
        assert decision.tier == GOLD
        assert decision.downgrade_due_at == NOW + timedelta(days=30)

    def test_still_inside_the_grace_period_keeps_the_tier(self):
        due = NOW + timedelta(days=1)
        decision = decide(
            current=GOLD,
            qualified=SILVER,
            downgrade_due_at=due,
            now=NOW,
            grace_days=30,
            allow_downgrade=True,
        )
        assert decision.move is Move.STAY
        assert decision.tier == GOLD
        assert decision.downgrade_due_at == due

    def test_after_the_grace_period_the_tier_drops_to_what_qualifies(self):
        decision = decide(
            current=GOLD,
            qualified=SILVER,
            downgrade_due_at=NOW,
            now=NOW,
            grace_days=30,
            allow_downgrade=True,
        )
        assert decision.move is Move.DOWNGRADE
        assert decision.tier == SILVER

    def test_without_grace_days_the_downgrade_happens_at_the_check(self):
        decision = decide(
            current=GOLD,
            qualified=MEMBER,
            downgrade_due_at=None,
            now=NOW,
            grace_days=0,
            allow_downgrade=True,
        )
        assert decision.move is Move.DOWNGRADE
        assert decision.tier == MEMBER

    def test_qualifying_again_during_grace_cancels_the_downgrade(self):
        decision = decide(
            current=GOLD,
            qualified=GOLD,
            downgrade_due_at=NOW + timedelta(days=3),
            now=NOW,
            grace_days=30,
            allow_downgrade=True,
        )
        assert decision.move is Move.CANCEL_GRACE
        assert decision.downgrade_due_at is None

    def test_a_new_account_joins_its_qualifying_tier(self):
        decision = decide(
            current=None,
            qualified=MEMBER,
            downgrade_due_at=None,
            now=NOW,
            grace_days=30,
            allow_downgrade=False,
        )
        assert decision.move is Move.UPGRADE
        assert decision.tier == MEMBER


@given(
    current_rank=st.sampled_from([0, 1, 2]),
    qualified_rank=st.sampled_from([0, 1, 2]),
    grace=st.integers(0, 400),
    due_offset=st.one_of(st.none(), st.integers(-400, 400)),
    periodic=st.booleans(),
)
def test_a_tier_never_drops_before_its_grace_period_ends(
    current_rank, qualified_rank, grace, due_offset, periodic
):
    ladder = {0: MEMBER, 1: SILVER, 2: GOLD}
    due = None if due_offset is None else NOW + timedelta(days=due_offset)
    decision = decide(
        current=ladder[current_rank],
        qualified=ladder[qualified_rank],
        downgrade_due_at=due,
        now=NOW,
        grace_days=grace,
        allow_downgrade=periodic,
    )
    assert decision.tier is not None
    if decision.tier.rank < current_rank:
        assert periodic
        assert (due is not None and due <= NOW) or (due is None and grace == 0)
    # Whatever happens, nobody ends above what they qualify for unless they held it before.
    assert decision.tier.rank <= max(current_rank, qualified_rank)


@given(st.lists(st.integers(0, 5_000), max_size=15), st.integers(0, 5_000))
def test_more_activity_never_lowers_the_qualifying_tier(points, extra):
    activity = [Activity(NOW - timedelta(days=i), p, Decimal(0)) for i, p in enumerate(points)]
    more = [*activity, Activity(NOW, extra, Decimal(0))]
    before = qualifying_tier(LADDER, totals_from_activity(activity, [12], NOW))
    after = qualifying_tier(LADDER, totals_from_activity(more, [12], NOW))
    assert present(after).rank >= present(before).rank


class TestProgress:
    def test_progress_to_the_next_tier(self):
        progress = present(progress_to_next_tier(LADDER, SILVER, totals(2000)))
        assert progress.tier == GOLD
        assert progress.remaining == Decimal(3000)
        assert progress.ratio == Decimal("0.4")

    def test_no_next_tier_at_the_top(self):
        assert progress_to_next_tier(LADDER, GOLD, totals(99999)) is None

    def test_remaining_never_negative(self):
        # Held Member (not yet re-evaluated) but already past Silver.
        progress = present(progress_to_next_tier(LADDER, MEMBER, totals(1500)))
        assert progress.remaining == 0
        assert progress.ratio == 1


class TestLadderValidation:
    def test_the_default_ladder_is_valid(self):
        assert validate_thresholds(LADDER) == {}

    def test_entry_tier_must_be_free(self):
        assert 1 in validate_thresholds([rule(1, 0, 10), rule(2, 1, 100)])

    def test_higher_tiers_need_more(self):
        errors = validate_thresholds([MEMBER, rule(2, 1, 1000), rule(3, 2, 1000)])
        assert set(errors) == {3}

    def test_points_thresholds_are_whole(self):
        bad = TierRule(2, 1, Basis.POINTS_EARNED, Decimal("10.5"), 12)
        assert "whole" in validate_thresholds([MEMBER, bad])[2]

    def test_different_scales_are_not_compared(self):
        money = TierRule(3, 2, Basis.AMOUNT_SPENT, Decimal(500), 12)
        assert validate_thresholds([MEMBER, SILVER, money]) == {}


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("zh-Hans", "黄金会员"),
        ("zh_CN", "黄金会员"),
        ("ZH", "黄金会员"),
        ("en-GB", "Gold"),
        ("fr", "Gold"),
        (None, "Gold"),
    ],
)
def test_names_fall_back_from_language_to_base_language_to_english(language, expected):
    assert localised({"en": "Gold", "zh-Hans": "黄金会员"}, language) == expected


def test_a_name_only_in_chinese_is_shown_to_everyone():
    assert localised({"zh-Hans": "黄金会员"}, "de") == "黄金会员"
    assert localised({}, "en") == ""


def test_default_tiers_mirror_the_seeds_in_both_languages():
    assert [tier.name["zh-Hans"] for tier in DEFAULT_TIERS] == ["普通会员", "白银会员", "黄金会员"]
    assert [tier.name["en"] for tier in DEFAULT_TIERS] == ["Member", "Silver", "Gold"]
    rules = [
        TierRule(t.rank, t.rank, Basis.POINTS_EARNED, Decimal(t.points_threshold), 12)
        for t in DEFAULT_TIERS
    ]
    assert validate_thresholds(rules) == {}
    for tier in DEFAULT_TIERS:
        for kind, value, title in tier.benefits:
            assert benefit_errors(kind, value, {}, title) == {}
            assert title["en"]
            assert title["zh-Hans"]


@pytest.mark.parametrize(
    ("benefits", "expected"),
    [
        ([], Decimal(1)),
        ([("free_shipping", None)], Decimal(1)),
        ([("points_multiplier", Decimal("1.5"))], Decimal("1.5")),
        ([("points_multiplier", Decimal("1.5")), ("points_multiplier", Decimal(2))], Decimal(2)),
    ],
)
def test_multipliers_do_not_compound(benefits, expected):
    assert points_multiplier(benefits) == expected


@pytest.mark.parametrize(
    ("kind", "value", "config", "title", "field"),
    [
        ("percentage_discount", None, {}, {}, "value"),
        ("percentage_discount", Decimal(0), {}, {}, "value"),
        ("percentage_discount", Decimal(101), {}, {}, "value"),
        ("points_multiplier", Decimal("0.5"), {}, {}, "value"),
        ("birthday_gift", Decimal("10.5"), {}, {}, "value"),
        ("birthday_gift", None, {}, {}, "value"),
        ("early_access", Decimal(0), {}, {}, "value"),
        ("member_only_products", None, {}, {}, "config"),
        ("custom", None, {}, {"en": "  "}, "title"),
        ("cashback", None, {}, {}, "kind"),
    ],
)
def test_benefits_a_storefront_could_not_act_on_are_refused(kind, value, config, title, field):
    assert field in benefit_errors(kind, value, config, title)


@pytest.mark.parametrize(
    "config",
    [
        {"product_ids": ["UHJvZHVjdDox"]},
        {"product_ids": [12, "UHJvZHVjdDox"]},
        {"collection_ids": ["Q29sbGVjdGlvbjox"]},
        {"product_ids": [], "collection_ids": [3]},
    ],
)
def test_member_only_products_list_their_products(config):
    assert benefit_errors("member_only_products", None, config, {}) == {}


@pytest.mark.parametrize(
    "config",
    [
        {"product_ids": "UHJvZHVjdDox"},  # a string is not a list of its characters
        {"product_ids": 12},
        {"product_ids": None},
        {"product_ids": {"id": 1}},
        {"product_ids": []},
        {"product_ids": [""]},
        {"product_ids": ["  "]},
        {"product_ids": [True]},
        {"product_ids": [1.5]},
        {"product_ids": [["nested"]]},
        {"collection_ids": "Q29sbGVjdGlvbjox"},
        {"product_ids": ["UHJvZHVjdDox"], "collection_ids": 3},
    ],
)
def test_member_only_products_need_a_list_of_ids(config):
    assert set(benefit_errors("member_only_products", None, config, {})) == {"config"}


@given(
    placed_at=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)
    ),
    months=st.integers(1, 120),
)
def test_an_order_leaves_its_window_on_the_first_day_it_no_longer_counts(placed_at, months):
    from saleor_retention_plugin.domain.tiers import leaves_window_at, window_start

    leaves = leaves_window_at(placed_at, months)

    assert leaves is not None
    assert window_start(leaves, months) > placed_at  # no longer counted
    assert window_start(leaves - timedelta(days=1), months) <= placed_at  # counted the day before


def test_the_next_reevaluation_is_the_first_order_to_leave_or_the_end_of_grace():
    from saleor_retention_plugin.domain.tiers import next_reevaluation

    january = datetime(2026, 1, 15, tzinfo=UTC)
    grace_end = datetime(2026, 6, 1, tzinfo=UTC)

    assert next_reevaluation({12: january, 3: january}, None) == datetime(2026, 4, 16, tzinfo=UTC)
    assert next_reevaluation({12: january}, grace_end) == grace_end
    assert next_reevaluation({0: january, 12: None}, None) is None  # lifetime never leaves
