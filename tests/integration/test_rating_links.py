"""The satisfaction check's signed 1-5 rating links, through the plugin's HTTP path."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.core import signing
from django.test import RequestFactory
from django.utils import timezone

from saleor_retention_plugin import signals
from saleor_retention_plugin.conf import ChannelSettings
from saleor_retention_plugin.delivery.base import PermanentDeliveryError
from saleor_retention_plugin.delivery.rating_links import (
    RATING_SALT,
    ExpiredRatingLink,
    InvalidRatingLink,
    RatingLink,
    rating_token,
    rating_urls,
    read_rating_token,
    satisfaction_rating_urls,
)
from saleor_retention_plugin.endpoints import route_plugin_request
from saleor_retention_plugin.models import SatisfactionRating

pytestmark = pytest.mark.django_db

BASE = "https://api.tea.example"
ORDER = "8b0c1c52-5a0e-4bd3-9d5e-2f0c6c8a9a11"


@pytest.fixture
def low_scores():
    received = []

    def receive(sender, **kwargs):
        kwargs.pop("signal", None)
        received.append(kwargs)

    signals.satisfaction_low_score.connect(receive, weak=False, dispatch_uid="test-low-score")
    yield received
    signals.satisfaction_low_score.disconnect(dispatch_uid="test-low-score")


@pytest.fixture
def visit():
    factory = RequestFactory()
    plugin = SimpleNamespace(channel=None, settings=ChannelSettings())

    def visit(method, url, *, data=None, **extra):
        parts = urlsplit(url)
        path = f"{parts.path}?{parts.query}" if parts.query else parts.path
        request = (
            factory.post(path, data or {}, **extra)
            if method == "POST"
            else (getattr(factory, method.lower())(path, **extra))
        )
        return route_plugin_request(plugin, request, parts.path.split("/saleor.retention/", 1)[1])

    return visit


def links(expires_in=timedelta(days=30), order_id=ORDER, language=None):
    return rating_urls(
        BASE,
        channel_slug="tea",
        order_id=order_id,
        customer_id=42,
        email="Ann@Example.com",
        expires_at=timezone.now() + expires_in,
        language=language,
    )


def token_of(url):
    return parse_qs(urlsplit(url).query)["token"][0]


def click(visit, url):
    """What a customer does: open the link, then press the button (POST to the same URL)."""
    return visit("POST", url, data={"token": token_of(url)})


def test_a_message_carries_five_distinct_links_one_per_score():
    urls = links()
    assert sorted(urls) == [1, 2, 3, 4, 5]
    assert len(set(urls.values())) == 5
    for score, url in urls.items():
        assert url.startswith(f"{BASE}/plugins/saleor.retention/rate/?token=")
        assert read_rating_token(token_of(url), now=timezone.now()).score == score


def test_opening_a_link_asks_for_confirmation_and_records_nothing(visit):
    response = visit("GET", links()[4])

    assert response.status_code == 200
    assert b'<form method="post"' in response.content
    assert b"4 out of 5" in response.content
    assert not SatisfactionRating.objects.exists()
    assert response["Cache-Control"] == "no-store"


def test_confirming_records_the_score_once_per_order(
    visit, low_scores, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = click(visit, links()[5])

    assert response.status_code == 200
    assert b"Thank you for your rating" in response.content
    rating = SatisfactionRating.objects.get()
    assert (rating.order_id, rating.score, rating.customer_id, rating.email) == (
        ORDER,
        5,
        42,
        "ann@example.com",
    )
    assert low_scores == []


def test_a_low_score_is_announced_once_with_the_documented_arguments(
    visit, low_scores, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = click(visit, links()[2])

    assert b"someone from the shop" in response.content
    rating = SatisfactionRating.objects.get()
    assert low_scores == [
        {
            "channel_slug": "tea",
            "order_id": ORDER,
            "customer_id": 42,
            "email": "ann@example.com",
            "score": 2,
            "rating_id": rating.pk,
        }
    ]
    # Changing from one low score to another does not announce it again.
    with django_capture_on_commit_callbacks(execute=True):
        click(visit, links()[1])
    assert len(low_scores) == 1
    assert SatisfactionRating.objects.get().score == 1


def test_a_second_click_on_another_score_updates_the_rating(
    visit, low_scores, django_capture_on_commit_callbacks
):
    urls = links()
    click(visit, urls[5])
    with django_capture_on_commit_callbacks(execute=True):
        response = click(visit, urls[1])

    assert response.status_code == 200
    rating = SatisfactionRating.objects.get()
    assert (rating.score, rating.times_rated) == (1, 2)
    assert [call["score"] for call in low_scores] == [1]


def test_a_replayed_link_is_refused_and_changes_nothing(
    visit, low_scores, django_capture_on_commit_callbacks
):
    url = links()[2]
    with django_capture_on_commit_callbacks(execute=True):
        click(visit, url)
    before = SatisfactionRating.objects.values().get()

    with django_capture_on_commit_callbacks(execute=True):
        response = click(visit, url)

    assert response.status_code == 200
    assert b"Already recorded" in response.content
    assert SatisfactionRating.objects.values().get() == before
    assert len(low_scores) == 1


def test_an_expired_link_is_refused_with_a_clear_page(visit):
    url = links(expires_in=timedelta(seconds=-1))[1]

    for method in ("GET", "POST"):
        response = click(visit, url) if method == "POST" else visit("GET", url)
        assert response.status_code == 410
        assert b"This link has expired" in response.content
    assert not SatisfactionRating.objects.exists()
    with pytest.raises(ExpiredRatingLink):
        read_rating_token(token_of(url), now=timezone.now())


def test_a_forged_link_is_refused(visit):
    forged = signing.dumps(
        {"c": "tea", "o": ORDER, "u": 42, "e": None, "s": 1, "x": 2_000_000_000},
        salt="someone-elses-salt",
    )
    url = f"{BASE}/plugins/saleor.retention/rate/?{urlencode({'token': forged})}"
    response = click(visit, url)

    assert response.status_code == 400
    assert b"This link does not work" in response.content
    assert not SatisfactionRating.objects.exists()


def test_a_link_whose_score_was_changed_is_refused(visit):
    token = token_of(links()[5])
    signature = token.rpartition(":")[2]
    # The score 1 payload under the signature of the score 5 link.
    tampered = (
        signing.dumps(
            {"c": "tea", "o": ORDER, "u": 42, "e": None, "s": 1, "x": 2_000_000_000},
            salt=RATING_SALT,
        ).rpartition(":")[0]
        + ":"
        + signature
    )
    for bad in (tampered, token[:-2] + "xx", "", "not-a-token"):
        response = visit("POST", f"{BASE}/plugins/saleor.retention/rate/", data={"token": bad})
        assert response.status_code == 400
    assert not SatisfactionRating.objects.exists()


@pytest.mark.parametrize("score", [0, 6, "5", None])
def test_a_genuinely_signed_token_with_an_impossible_score_is_refused(score):
    token = signing.dumps(
        {"c": "tea", "o": ORDER, "u": 42, "e": None, "s": score, "x": 2_000_000_000},
        salt=RATING_SALT,
        compress=True,
    )
    with pytest.raises(InvalidRatingLink):
        read_rating_token(token, now=timezone.now())


def test_a_link_cannot_be_made_for_an_impossible_score_or_no_recipient():
    expires = datetime(2030, 1, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="score"):
        rating_token(RatingLink("tea", ORDER, 42, None, 6, expires))
    with pytest.raises(ValueError, match="email or a customer"):
        rating_token(RatingLink("tea", ORDER, None, None, 3, expires))


def test_the_page_speaks_simplified_chinese(visit):
    response = visit("GET", links(language="zh-hans")[3])

    assert "提交评分".encode() in response.content
    assert b'lang="zh-Hans"' in response.content


def test_other_methods_are_refused_without_a_500(visit):
    response = visit("PUT", links()[3])
    assert response.status_code == 405
    assert response["Allow"] == "GET, POST"


def test_message_links_are_valid_for_the_configured_days():
    settings = ChannelSettings.from_configuration(
        {"public_api_url": BASE, "care_rating_link_days": "10"}
    )
    now = timezone.now()
    urls = satisfaction_rating_urls(
        settings, channel_slug="tea", order_id=ORDER, customer_id=42, email=None, now=now
    )
    link = read_rating_token(token_of(urls[3]), now=now + timedelta(days=9, hours=23))
    assert link.score == 3
    with pytest.raises(ExpiredRatingLink):
        read_rating_token(token_of(urls[3]), now=now + timedelta(days=10))


def test_message_links_need_the_public_address(settings):
    settings.PUBLIC_URL = None
    with pytest.raises(PermanentDeliveryError, match="Public address"):
        satisfaction_rating_urls(
            ChannelSettings(),
            channel_slug="tea",
            order_id=ORDER,
            customer_id=42,
            email=None,
            now=timezone.now(),
        )
