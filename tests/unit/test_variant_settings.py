"""Each flow's variant B in the channel settings: off unless set, parsed once, refused when bad."""

from __future__ import annotations

from collections import Counter

import pytest

from saleor_retention_plugin.conf import ChannelSettings, InvalidConfiguration
from saleor_retention_plugin.config_variants import VARIANT_FLOWS, IncentiveSize, VariantB
from saleor_retention_plugin.domain.holdout import is_in_holdout, variant_of
from saleor_retention_plugin.services.flow_variants import draw_variant, settings_for

INCENTIVES = {
    IncentiveSize.COUPON: "15%",
    IncentiveSize.STEP_COUPONS: "15%, 20%, 25%",
    IncentiveSize.POINTS: "500",
}


def test_no_flow_has_a_variant_b_until_one_is_set():
    settings = ChannelSettings.from_configuration({"welcome_variant_b_share": "30"})

    assert settings.variants.variants == ()
    assert draw_variant("welcome", "customer:1", 1, "tea", settings) == ""


@pytest.mark.parametrize("flow", VARIANT_FLOWS, ids=lambda flow: flow.flow)
def test_every_flow_takes_a_subject_and_its_incentive_and_round_trips(flow):
    raw = {
        flow.field("subject_en"): "Hello " + " ".join(f"{{{name}}}" for name in flow.variables),
        flow.field("share"): "25",
    }
    if flow.incentive is not None:
        raw[flow.field("incentive")] = INCENTIVES[flow.incentive]

    settings = ChannelSettings.from_configuration(raw)

    variant = settings.variants.for_flow(flow.flow)
    assert variant is not None
    assert (variant.share, variant.incentive) == (25, raw.get(flow.field("incentive"), ""))
    assert variant.subject_for("en").startswith("Hello ")
    assert variant.subject_for("zh_hans") == ""
    assert ChannelSettings.from_configuration(settings.as_configuration()) == settings
    assert variant.label == "B: subject" + (
        f", {'points' if flow.incentive is IncentiveSize.POINTS else 'coupon'} {variant.incentive}"
        if flow.incentive
        else ""
    )


@pytest.mark.parametrize(
    ("flow", "section", "field"),
    [(f.flow, *f.replaces) for f in VARIANT_FLOWS if f.replaces is not None],
)
def test_at_send_variant_b_s_incentive_stands_in_for_the_flows_own(flow, section, field):
    size = next(f.incentive for f in VARIANT_FLOWS if f.flow == flow)
    assert size is not None
    incentive = INCENTIVES[size]
    settings = ChannelSettings.from_configuration(
        {f"{flow}_variant_b_incentive": incentive, "cart_incentive_step": "2"}
    )

    assert getattr(getattr(settings_for(flow, "b", settings), section), field) == incentive
    assert settings_for(flow, "a", settings) is settings
    assert settings_for(flow, "", settings) is settings


def test_only_a_subject_changes_no_incentive():
    settings = ChannelSettings.from_configuration(
        {"welcome_variant_b_subject_zh_hans": "欢迎", "welcome_coupon_discount": "10%"}
    )

    assert settings_for("welcome", "b", settings) is settings
    assert settings.variants.for_flow("welcome") == VariantB("welcome", (("zh_hans", "欢迎"),))


@pytest.mark.parametrize(
    ("raw", "field", "message"),
    [
        ({"welcome_variant_b_share": "0"}, "welcome_variant_b_share", "1 to 99"),
        ({"welcome_variant_b_share": "100"}, "welcome_variant_b_share", "at most 99"),
        ({"cart_variant_b_subject_en": "{points}"}, "cart_variant_b_subject_en", "{points}"),
        ({"care_variant_b_subject_zh_hans": "{x"}, "care_variant_b_subject_zh_hans", "Braces"),
        ({"welcome_variant_b_incentive": "-10%"}, "welcome_variant_b_incentive", "greater"),
        ({"welcome_variant_b_incentive": "150%"}, "welcome_variant_b_incentive", "at most"),
        ({"birthday_variant_b_incentive": "-5"}, "birthday_variant_b_incentive", "zero or"),
        ({"winback_variant_b_incentive": "-5%, 1, 2"}, "winback_variant_b_incentive", "greater"),
        ({"winback_variant_b_incentive": "5%"}, "winback_variant_b_incentive", "per step (3)"),
        ({"member_day_variant_b_incentive": "5%"}, "member_day_variant_b_incentive", "no"),
        ({"tier_upgrade_variant_b_incentive": "9"}, "tier_upgrade_variant_b_incentive", "no"),
        (
            {"cart_variant_b_incentive": "20%", "cart_incentive_step": "0"},
            "cart_variant_b_incentive",
            "carries a coupon",
        ),
        (
            {"care_variant_b_incentive": "20%", "care_steps": "satisfaction:3, review:7"},
            "care_variant_b_incentive",
            "coupon step",
        ),
    ],
)
def test_a_bad_variant_is_refused_with_an_error_under_its_field(raw, field, message):
    with pytest.raises(InvalidConfiguration) as refused:
        ChannelSettings.from_configuration(raw)

    assert set(refused.value.errors) == {field}
    assert message in refused.value.errors[field]
    ChannelSettings.from_configuration(raw, strict=False)  # a stored row still loads


def test_the_split_follows_the_share_and_is_independent_of_the_holdout():
    subjects = [f"customer:{n}:1" for n in range(20_000)]
    draws = {
        subject: variant_of(subject, salt="welcome-variant:tea", variants=2, share_b=30)
        for subject in subjects
    }
    held = {s for s in subjects if is_in_holdout(s, salt="welcome-holdout:tea", percent=10)}

    share_b = Counter(draws.values())["b"] / len(subjects)
    assert 0.29 < share_b < 0.31
    share_b_in_holdout = Counter(draws[s] for s in held)["b"] / len(held)
    assert 0.27 < share_b_in_holdout < 0.33
    assert variant_of("customer:1:1", salt="welcome-variant:tea", variants=1) == ""
    with pytest.raises(ValueError, match="1 and 99"):
        variant_of("customer:1:1", salt="s", variants=2, share_b=0)
