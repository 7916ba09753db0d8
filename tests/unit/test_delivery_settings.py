import pytest

from saleor_retention_plugin.conf import (
    ChannelSettings,
    DeliveryChannelName,
    FieldType,
    InvalidConfiguration,
    config_structure,
)


def errors_for(configuration):
    with pytest.raises(InvalidConfiguration) as raised:
        ChannelSettings.from_configuration(configuration)
    return raised.value.errors


def test_defaults_send_email_through_the_server_mail_settings():
    delivery = ChannelSettings.from_configuration({}).delivery

    assert delivery.delivery_channel == DeliveryChannelName.EMAIL
    assert delivery.smtp_host == ""
    assert (delivery.smtp_port, delivery.smtp_use_tls, delivery.smtp_use_ssl) == (587, True, False)


def test_secrets_are_saleor_secret_fields():
    structure = config_structure()
    assert structure["smtp_password"]["type"] == FieldType.SECRET.value
    assert structure["webhook_secret"]["type"] == FieldType.SECRET.value


def test_a_full_configuration_round_trips():
    settings = ChannelSettings.from_configuration(
        {
            "delivery_channel": "webhook",
            "smtp_host": "smtp.example.com",
            "smtp_port": "465",
            "smtp_use_tls": "false",
            "smtp_use_ssl": "true",
            "from_email": "Shop <hello@shop.example>",
            "webhook_url": "https://gateway.example/hooks/retention",
            "webhook_secret": "0123456789abcdef",
            "checkout_url_template": "https://shop.example/checkout?token={token}",
            "public_api_url": "https://api.shop.example/",
        }
    )

    assert ChannelSettings.from_configuration(settings.as_configuration()) == settings
    assert settings.delivery.public_api_url == "https://api.shop.example"
    assert settings.delivery.checkout_url("abc") == "https://shop.example/checkout?token=abc"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("smtp_port", "0", "between 1 and 65535"),
        ("smtp_port", "70000", "between 1 and 65535"),
        ("smtp_port", "smtp", "port number"),
        ("from_email", "not an address", "email address"),
        ("reply_to", "Shop <nope>", "email address"),
        ("webhook_url", "ftp://gateway.example", "http"),
        ("public_api_url", "api.shop.example", "http"),
        ("checkout_url_template", "https://shop.example/checkout", "{token}"),
        ("checkout_url_template", "https://shop.example/c/{token}/{other}", "only the {token}"),
        ("checkout_url_template", "not a url {token}", "http"),
        ("delivery_channel", "sms", "Choose one of"),
    ],
)
def test_bad_values_become_field_errors(field, value, message):
    assert message in errors_for({field: value})[field]


def test_webhook_channel_needs_an_address_and_a_long_enough_secret():
    errors = errors_for({"delivery_channel": "webhook", "webhook_secret": "short"})

    assert set(errors) == {"webhook_url", "webhook_secret"}


def test_starttls_and_ssl_cannot_both_be_on():
    assert (
        "not both" in errors_for({"smtp_use_tls": "true", "smtp_use_ssl": "true"})["smtp_use_ssl"]
    )


def test_lenient_parsing_keeps_a_stored_bad_row_from_breaking_the_shop():
    settings = ChannelSettings.from_configuration({"smtp_port": "0"}, strict=False)
    assert settings.delivery.smtp_port == 587
