"""Channel settings: the seeds' defaults, per-field messages for bad values, one source of truth."""

from __future__ import annotations

import dataclasses
import typing
from decimal import Decimal

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from saleor_retention_plugin.conf import (
    SETTING_FIELDS,
    ChannelSettings,
    CreditTrigger,
    FieldType,
    InvalidConfiguration,
    LedgerSettings,
    OverdraftPolicy,
    config_structure,
    default_configuration,
    stored_settings,
)


def saleor_list(**values: object) -> list[dict[str, object]]:
    """Configuration as Saleor stores it: the defaults with some values overridden."""
    return [
        {"name": item["name"], "value": values.get(item["name"], item["value"])}
        for item in default_configuration()
    ]


def test_defaults_mirror_the_seeds_one_point_per_currency_unit_credited_at_once():
    settings = ChannelSettings.from_configuration(default_configuration())

    assert settings.ledger.points_per_currency_unit == Decimal(1)
    assert settings.ledger.pending_days == 0  # the customer sees spendable points at once
    assert settings.ledger.expiry_months == 0  # points never expire unless the merchant says so
    assert settings.ledger.credit_trigger is CreditTrigger.ORDER_FULLY_PAID
    assert settings.ledger.overdraft_policy is OverdraftPolicy.ALLOW_NEGATIVE
    assert settings.ledger.timezone == "UTC"


def test_declared_defaults_equal_the_dataclass_defaults():
    assert ChannelSettings.from_configuration(default_configuration()) == ChannelSettings()


@pytest.mark.parametrize("configuration", [[], {}], ids=["empty list", "empty mapping"])
def test_missing_keys_take_their_defaults(configuration):
    assert ChannelSettings.from_configuration(configuration) == ChannelSettings()


def test_reads_saleor_list_and_plain_mapping_alike():
    values = {"points_per_currency_unit": "2.5", "pending_days": "14", "timezone": "Asia/Shanghai"}

    from_list = ChannelSettings.from_configuration(saleor_list(**values))
    from_mapping = ChannelSettings.from_configuration(values)

    assert from_list == from_mapping
    assert from_list.ledger.points_per_currency_unit == Decimal("2.5")
    assert from_list.ledger.pending_days == 14
    assert from_list.ledger.timezone == "Asia/Shanghai"


@pytest.mark.parametrize(
    ("name", "raw", "expected"),
    [
        ("points_per_currency_unit", " 3 ", Decimal(3)),
        ("points_per_currency_unit", 2, Decimal(2)),
        ("points_per_currency_unit", "0", Decimal(0)),
        ("points_per_currency_unit", "1000", Decimal(1000)),
        ("pending_days", " 30 ", 30),
        ("pending_days", 7, 7),
        ("expiry_months", "120", 120),
        ("credit_trigger", "order_created", CreditTrigger.ORDER_CREATED),
        ("overdraft_policy", " clamp_to_zero ", OverdraftPolicy.CLAMP_TO_ZERO),
        ("timezone", " Europe/Berlin ", "Europe/Berlin"),
    ],
)
def test_accepts_good_values_with_stray_whitespace_or_as_numbers(name, raw, expected):
    settings = ChannelSettings.from_configuration({name: raw})

    assert getattr(settings.ledger, name) == expected


@pytest.mark.parametrize(
    ("name", "raw", "message"),
    [
        ("points_per_currency_unit", "one", "Enter a number"),
        ("points_per_currency_unit", "", "Enter a number"),
        ("points_per_currency_unit", "1,5", "Enter a number"),
        ("points_per_currency_unit", "-1", "zero or more"),
        ("points_per_currency_unit", "NaN", "zero or more"),
        ("points_per_currency_unit", "Infinity", "zero or more"),
        ("points_per_currency_unit", "1000.01", "at most 1000"),
        ("pending_days", "-1", "zero or more"),
        ("pending_days", "1.5", "whole number"),
        ("pending_days", "ten", "whole number"),
        ("pending_days", "366", "at most 365"),
        ("pending_days", "99999999999999999999999", "at most 365"),
        ("expiry_months", "-3", "zero or more"),
        ("expiry_months", "121", "at most 120"),
        ("timezone", "Mars/Olympus_Mons", "Unknown timezone"),
        ("timezone", "", "Unknown timezone"),
        ("timezone", "Asia", "Unknown timezone"),  # a directory of the tz database, not a zone
        ("timezone", "/etc/passwd", "Unknown timezone"),
        ("timezone", "../../etc/passwd", "Unknown timezone"),
        ("credit_trigger", "order_shipped", "Choose one of: order_created, order_fully_paid"),
        ("credit_trigger", "ORDER_CREATED", "Choose one of"),
        ("overdraft_policy", "forgive", "Choose one of: allow_negative, clamp_to_zero"),
    ],
)
def test_bad_value_becomes_a_message_on_its_own_field(name, raw, message):
    with pytest.raises(InvalidConfiguration) as caught:
        ChannelSettings.from_configuration(saleor_list(**{name: raw}))

    assert list(caught.value.errors) == [name]
    assert message in caught.value.errors[name]


def test_every_bad_field_is_reported_at_once():
    with pytest.raises(InvalidConfiguration) as caught:
        ChannelSettings.from_configuration(
            {"points_per_currency_unit": "lots", "pending_days": "-2", "timezone": "Nowhere"}
        )

    assert set(caught.value.errors) == {"points_per_currency_unit", "pending_days", "timezone"}
    assert "points_per_currency_unit" in str(caught.value)


def test_lenient_parsing_keeps_good_values_and_falls_back_on_bad_ones():
    settings = ChannelSettings.from_configuration(
        {"points_per_currency_unit": "2", "pending_days": "-5", "timezone": "Nowhere"},
        strict=False,
    )

    assert settings.ledger.points_per_currency_unit == Decimal(2)
    assert settings.ledger.pending_days == LedgerSettings.pending_days
    assert settings.ledger.timezone == LedgerSettings.timezone


def test_a_stored_configuration_is_parsed_once_and_a_changed_one_again():
    stored = saleor_list(points_per_currency_unit="2", pending_days="-5")
    first = stored_settings(stored)

    # Every task and plugin instance hands the same stored row in: one parse, shared.
    assert stored_settings([dict(item) for item in stored]) is first
    assert first == ChannelSettings.from_configuration(stored, strict=False)
    assert first.ledger.pending_days == LedgerSettings.pending_days  # lenient, as stored rows
    changed = stored_settings(saleor_list(points_per_currency_unit="3"))
    assert changed.ledger.points_per_currency_unit == Decimal(3)
    assert stored_settings(
        {"points_per_currency_unit": Decimal(4)}
    ).ledger.points_per_currency_unit == Decimal(4)


ledger_settings = st.builds(
    LedgerSettings,
    points_per_currency_unit=st.decimals(
        min_value=0, max_value=1000, places=3, allow_nan=False, allow_infinity=False
    ),
    credit_trigger=st.sampled_from(CreditTrigger),
    pending_days=st.integers(0, 365),
    expiry_months=st.integers(0, 120),
    timezone=st.sampled_from(["UTC", "Asia/Shanghai", "Europe/Berlin", "America/Santiago"]),
    overdraft_policy=st.sampled_from(OverdraftPolicy),
)


@given(ledger_settings)
def test_as_configuration_parses_back_to_the_same_settings(ledger):
    assume(not ledger.problems())  # combinations the dashboard refuses cannot be stored
    settings = ChannelSettings(ledger=ledger)

    raw = settings.as_configuration()

    assert all(isinstance(value, str) for value in raw.values())  # JSON-native, Saleor-shaped
    assert ChannelSettings.from_configuration(raw) == settings


def test_structure_defaults_and_parsed_sections_list_the_same_keys():
    declared = [field.name for field in SETTING_FIELDS]
    sections = typing.get_type_hints(ChannelSettings)
    parsed = []
    for section in dataclasses.fields(ChannelSettings):
        built = getattr(ChannelSettings(), section.name)
        if hasattr(built, "as_values"):  # a section built from its fields (the variants)
            parsed += list(built.as_values())
        else:
            parsed += [field.name for field in dataclasses.fields(sections[section.name])]

    assert len(set(declared)) == len(declared)
    assert list(config_structure()) == declared
    assert [item["name"] for item in default_configuration()] == declared
    assert list(ChannelSettings().as_configuration()) == declared
    assert sorted(parsed) == sorted(declared)


@pytest.mark.parametrize("name", [field.name for field in SETTING_FIELDS])
def test_every_field_explains_itself_to_the_merchant(name):
    field = config_structure()[name]

    assert field["label"].strip()
    assert len(field["help_text"].strip()) > 20
    assert field["type"] in {member.value for member in FieldType}


def test_every_declared_default_is_itself_valid():
    for field in SETTING_FIELDS:
        field.parse(field.default)  # raises on a default the dashboard would reject


def test_points_that_would_expire_before_they_can_be_spent_are_refused():
    with pytest.raises(InvalidConfiguration) as error:
        ChannelSettings.from_configuration({"pending_days": "60", "expiry_months": "2"})

    assert set(error.value.errors) == {"pending_days"}
    assert "expire before they can be spent" in error.value.errors["pending_days"]


def test_a_pending_period_shorter_than_the_expiry_is_accepted():
    settings = ChannelSettings.from_configuration({"pending_days": "55", "expiry_months": "2"})

    assert (settings.ledger.pending_days, settings.ledger.expiry_months) == (55, 2)


def test_secrets_never_travel_in_task_arguments():
    settings = ChannelSettings.from_configuration(
        {
            "smtp_username": "shop",
            "smtp_password": "hunter2-hunter2",
            "delivery_channel": "webhook",
            "webhook_url": "https://gateway.example/hooks",
            "webhook_secret": "s3cret-s3cret-s3cret",
        }
    )

    sent = settings.as_task_configuration()

    assert "hunter2-hunter2" not in sent.values()
    assert "s3cret-s3cret-s3cret" not in sent.values()
    assert {"smtp_password", "webhook_secret"}.isdisjoint(sent)
    assert sent["webhook_url"] == "https://gateway.example/hooks"


def test_task_arguments_parse_back_to_the_same_settings_and_skip_unset_variants():
    plain = ChannelSettings()
    split = ChannelSettings.from_configuration(
        {"welcome_variant_b_subject_en": "Hi {points}", "welcome_variant_b_share": "20"}
    )

    for settings in (plain, split):
        assert ChannelSettings.from_configuration(settings.as_task_configuration()) == settings
    assert not [name for name in plain.as_task_configuration() if "_variant_b_" in name]
    assert [name for name in split.as_task_configuration() if "_variant_b_" in name] == [
        "welcome_variant_b_subject_en",
        "welcome_variant_b_share",
    ]


def test_cart_reminders_need_a_link_back_to_the_cart():
    with pytest.raises(InvalidConfiguration) as error:
        ChannelSettings.from_configuration({"cart_reminders_enabled": "true"})

    assert set(error.value.errors) == {"checkout_url_template"}
