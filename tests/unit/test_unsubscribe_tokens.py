"""Unsubscribe links: signed, not forgeable, not enumerable, never expiring."""

from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.core import signing

from saleor_retention_plugin.delivery.unsubscribe import (
    UNSUBSCRIBE_SALT,
    InvalidUnsubscribeToken,
    read_unsubscribe_token,
    unsubscribe_token,
    unsubscribe_url,
)


def token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["token"][0]


@pytest.mark.parametrize(
    ("email", "customer_id"),
    [("Ann@Example.com", 42), (None, 42), ("guest@example.com", None)],
)
def test_token_round_trip_names_the_same_customer(email, customer_id):
    url = unsubscribe_url("https://api.shop.example/", "shop-cn", email, customer_id)

    request = read_unsubscribe_token(token_of(url))

    assert request.channel_slug == "shop-cn"
    assert request.customer_id == customer_id
    assert request.email == (email.lower() if email else None)


def test_link_lands_on_the_channel_less_plugin_path_that_works_when_switched_off():
    url = unsubscribe_url("https://api.shop.example/", "shop-cn", "a@example.com", 1, language="en")

    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc) == ("https", "api.shop.example")
    assert parts.path == "/plugins/saleor.retention/unsubscribe/"
    assert parse_qs(parts.query)["lang"] == ["en"]


def test_a_tampered_token_is_rejected():
    token = unsubscribe_token("shop-cn", "a@example.com", 1)
    payload, _, signature = token.rpartition(":")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]

    with pytest.raises(InvalidUnsubscribeToken):
        read_unsubscribe_token(f"{payload}:{flipped}")


def test_a_token_for_another_customer_cannot_be_made_by_editing_the_payload():
    genuine = unsubscribe_token("shop-cn", None, 1)
    other_payload = unsubscribe_token("shop-cn", None, 2).split(":")[0]
    forged = ":".join([other_payload, *genuine.split(":")[1:]])

    with pytest.raises(InvalidUnsubscribeToken):
        read_unsubscribe_token(forged)


def test_a_token_signed_with_another_salt_is_rejected():
    # Another part of the site signing a similar dict must not produce unsubscribe links.
    foreign = signing.dumps({"c": "shop-cn", "e": None, "u": 1}, salt="something.else")
    with pytest.raises(InvalidUnsubscribeToken):
        read_unsubscribe_token(foreign)


@pytest.mark.parametrize(
    "token",
    ["", "garbage", "1", signing.dumps({"c": "shop-cn"}, salt=UNSUBSCRIBE_SALT)],
)
def test_malformed_tokens_are_rejected(token):
    with pytest.raises(InvalidUnsubscribeToken):
        read_unsubscribe_token(token)


def test_a_signed_token_that_names_nobody_is_rejected():
    token = signing.dumps({"c": "shop-cn", "e": None, "u": None}, salt=UNSUBSCRIBE_SALT)
    with pytest.raises(InvalidUnsubscribeToken):
        read_unsubscribe_token(token)


def test_tokens_for_consecutive_customers_share_no_guessable_signature():
    signatures = {unsubscribe_token("shop-cn", None, n).rpartition(":")[2] for n in range(50)}
    assert len(signatures) == 50


def test_links_keep_working_years_later():
    with time_machine.travel("2026-01-01T00:00:00Z"):
        token = unsubscribe_token("shop-cn", "a@example.com", 1)
    with time_machine.travel("2031-06-01T00:00:00Z"):
        assert read_unsubscribe_token(token).customer_id == 1


def test_a_link_needs_someone_to_unsubscribe():
    with pytest.raises(ValueError, match="email or a customer id"):
        unsubscribe_token("shop-cn", None, None)
