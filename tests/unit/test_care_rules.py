"""Post-purchase care rules: the step schedule, when a step is due, scores."""

from datetime import UTC, datetime, timedelta

import pytest

from saleor_retention_plugin.conf import ChannelSettings, InvalidConfiguration
from saleor_retention_plugin.domain.care import (
    DEFAULT_CARE_STEPS,
    CareAnchor,
    CareStep,
    CareStepKind,
    care_anchor,
    due_care_step,
    format_care_steps,
    is_low_score,
    parse_care_steps,
    valid_score,
)

ANCHOR = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
STEPS = parse_care_steps(DEFAULT_CARE_STEPS)


def test_the_default_schedule_is_day_3_7_15_30():
    assert (
        CareStep(CareStepKind.SATISFACTION, 3),
        CareStep(CareStepKind.REVIEW, 7),
        CareStep(CareStepKind.RELATED, 15),
        CareStep(CareStepKind.COUPON, 30),
    ) == STEPS
    assert format_care_steps(STEPS) == DEFAULT_CARE_STEPS


def test_a_step_left_out_is_switched_off_and_days_are_editable():
    assert parse_care_steps("satisfaction:2, coupon:20") == (
        CareStep(CareStepKind.SATISFACTION, 2),
        CareStep(CareStepKind.COUPON, 20),
    )
    assert parse_care_steps("") == ()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("satisfaction:0", "from 1 to 365"),
        ("satisfaction:3, review:3", "Days must increase"),
        ("satisfaction:7, review:3", "Days must increase"),
        ("survey:3", "Unknown step 'survey'"),
        ("satisfaction", "name:day"),
        ("satisfaction:three", "whole number"),
        ("satisfaction:3, satisfaction:9", "named twice"),
        ("coupon:366", "from 1 to 365"),
        ("coupon:-1", "from 1 to 365"),
    ],
)
def test_bad_schedules_are_refused_with_a_message(raw, message):
    with pytest.raises(ValueError, match=message):
        parse_care_steps(raw)


def test_a_bad_schedule_is_a_field_error_of_the_configuration():
    with pytest.raises(InvalidConfiguration) as refused:
        ChannelSettings.from_configuration({"care_steps": "satisfaction:0"})
    assert set(refused.value.errors) == {"care_steps"}


def test_settings_round_trip_through_the_dashboard_text():
    settings = ChannelSettings.from_configuration(
        {"care_steps": "review:5, coupon:40", "review_points": "50", "care_anchor": "payment"}
    )
    again = ChannelSettings.from_configuration(settings.as_configuration())
    assert again.care == settings.care
    assert again.care.steps == (
        CareStep(CareStepKind.REVIEW, 5),
        CareStep(CareStepKind.COUPON, 40),
    )
    assert again.care.review_points == 50


@pytest.mark.parametrize("threshold", ["0", "5", "x"])
def test_the_low_score_threshold_is_1_to_4(threshold):
    with pytest.raises(InvalidConfiguration) as refused:
        ChannelSettings.from_configuration({"care_low_score_threshold": threshold})
    assert set(refused.value.errors) == {"care_low_score_threshold"}


def test_the_clock_starts_at_fulfilment_or_at_payment_plus_the_delay():
    paid = datetime(2026, 3, 1, tzinfo=UTC)
    fulfilled = datetime(2026, 3, 2, tzinfo=UTC)
    delay = timedelta(days=4)
    assert (
        care_anchor(
            CareAnchor.FULFILMENT, fulfilled_at=fulfilled, paid_at=paid, payment_delay=delay
        )
        == fulfilled
    )
    assert (
        care_anchor(CareAnchor.FULFILMENT, fulfilled_at=None, paid_at=paid, payment_delay=delay)
        is None
    )
    assert care_anchor(
        CareAnchor.PAYMENT, fulfilled_at=None, paid_at=paid, payment_delay=delay
    ) == datetime(2026, 3, 5, tzinfo=UTC)
    assert (
        care_anchor(CareAnchor.PAYMENT, fulfilled_at=fulfilled, paid_at=None, payment_delay=delay)
        is None
    )


@pytest.mark.parametrize(
    ("days_after", "expected"),
    [
        (2.9, None),  # nothing before day 3
        (3, CareStepKind.SATISFACTION),
        (6.99, CareStepKind.SATISFACTION),
        (7, CareStepKind.REVIEW),
        (14, CareStepKind.REVIEW),
        (15, CareStepKind.RELATED),
        (30, CareStepKind.COUPON),
        (44.9, CareStepKind.COUPON),  # the last step stays due as long as 15 -> 30
        (45, None),  # and then it is too late
    ],
)
def test_the_newest_step_whose_day_has_come_is_due(days_after, expected):
    step = due_care_step(STEPS, ANCHOR, ANCHOR + timedelta(days=days_after), done=frozenset())
    assert (step.kind if step else None) == expected


def test_a_step_already_sent_is_not_due_again_and_a_missed_one_is_skipped():
    now = ANCHOR + timedelta(days=8)
    assert due_care_step(STEPS, ANCHOR, now, done=frozenset({CareStepKind.REVIEW})) is None
    # Day 3 was missed (the shop was off): on day 8 only the review invitation goes out.
    step = due_care_step(STEPS, ANCHOR, now, done=frozenset())
    assert step is not None
    assert step.kind is CareStepKind.REVIEW


def test_a_single_step_schedule_stays_due_for_as_many_days_as_its_day():
    steps = parse_care_steps("coupon:10")
    assert due_care_step(steps, ANCHOR, ANCHOR + timedelta(days=19), done=frozenset())
    assert due_care_step(steps, ANCHOR, ANCHOR + timedelta(days=20), done=frozenset()) is None


@pytest.mark.parametrize(
    ("score", "ok"), [(0, False), (1, True), (5, True), (6, False), (True, False), ("3", False)]
)
def test_scores_are_whole_numbers_1_to_5(score, ok):
    assert valid_score(score) is ok


def test_a_score_at_or_below_the_threshold_is_low():
    assert [is_low_score(score, 2) for score in range(1, 6)] == [True, True, False, False, False]


def test_each_kind_has_a_fixed_step_number_for_messages_and_templates():
    assert [kind.number for kind in CareStepKind] == [1, 2, 3, 4]
    assert CareStepKind.COUPON.number == 4
