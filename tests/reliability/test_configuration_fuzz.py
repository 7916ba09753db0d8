"""Whatever a merchant types into the dashboard, saving the plugin's configuration gives
field errors or valid settings, never another exception (issue 12, bad input).

Hypothesis writes the configuration: every known field with arbitrary text (numbers,
signs, spaces, unicode, huge values, near-misses of the valid choices), unknown
fields, missing fields, non-text values.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from saleor_retention_plugin.conf import SETTING_FIELDS, ChannelSettings, InvalidConfiguration

NAMES = [field.name for field in SETTING_FIELDS]
NEAR_MISSES = st.sampled_from(
    [
        "",
        " ",
        "0",
        "-1",
        "1e309",
        "NaN",
        "inf",
        "10%",
        "101%",
        "-5%",
        "1,24,72",
        "1, 24, x",
        "0,0",
        "24:00",
        "25:61",
        "08:00",
        "Asia/Shanghai",
        "Mars/Olympus",
        "true",
        "TRUE",
        "yes",
        "order_created",
        "email",
        "https://shop.example/checkout?token={token}",
        "http://shop.example/{nope}",
        "9" * 400,
        "\x00",
        "\uff11\uff12",  # full-width digits
        "\u0663",  # Arabic-Indic digit
    ]
)
TEXT = st.one_of(NEAR_MISSES, st.text(max_size=60), st.integers().map(str))
VALUE = st.one_of(TEXT, st.none(), st.integers(), st.booleans(), st.floats(allow_nan=True))


def check(configuration) -> None:
    refusal: InvalidConfiguration | None = None
    try:
        settings_ = ChannelSettings.from_configuration(configuration, strict=True)
    except InvalidConfiguration as error:
        refusal = error
    if refusal is not None:
        assert refusal.errors, "refused without saying which field"
        assert set(refusal.errors) <= set(NAMES)
        assert all(isinstance(message, str) and message for message in refusal.errors.values())
        return
    # Valid settings survive the round trip the dashboard makes.
    again = ChannelSettings.from_configuration(settings_.as_configuration(), strict=True)
    assert again == settings_


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(NAMES), TEXT, max_size=len(NAMES)))
def test_any_text_in_any_field_is_a_field_error_or_valid_settings(values):
    check(values)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.fixed_dictionaries(
            {"name": st.one_of(st.sampled_from(NAMES), st.text(max_size=20)), "value": VALUE}
        ),
        max_size=12,
    )
)
def test_saleors_list_form_with_unknown_names_and_non_text_values_never_crashes(items):
    check(items)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=40, deadline=None)
@given(value=TEXT)
def test_each_field_alone_is_a_field_error_or_valid_settings(name, value):
    # A field may be refused together with the one it depends on (a password without a
    # user name is reported on the user name): the errors name fields, never crash.
    check({name: value})
