"""Fixtures for the loyalty GraphQL API tests (integration tier, no Saleor).

Saleor's token check is the true outside boundary here: instead of Saleor's JWTs the
tests sign their own short-lived tokens with Django's signer, and a resolver turns them
into ``Requestor``s exactly where ``integrations.saleor.auth`` does inside Saleor. A
token of a different signature, an expired token, or no token behave as they would.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pytest
from django.core import signing
from django.test import RequestFactory

from saleor_retention_plugin.conf import ChannelSettings
from saleor_retention_plugin.endpoints import route_plugin_request
from saleor_retention_plugin.graphql.ids import to_global_id
from saleor_retention_plugin.graphql.requestor import (
    MANAGE_USERS,
    AuthenticationFailed,
    Requestor,
    RequestorKind,
)

if TYPE_CHECKING:
    from collections.abc import Iterable

TOKEN_SALT = "tests.loyalty-api"
TOKEN_TTL_SECONDS = 300


def issue_token(
    kind: str,
    *,
    user_id: int | None = None,
    email: str | None = None,
    app_id: int | None = None,
    permissions: Iterable[str] = (),
    channels: Iterable[str] | None = None,
) -> str:
    return signing.dumps(
        {
            "kind": kind,
            "user_id": user_id,
            "email": email,
            "app_id": app_id,
            "permissions": sorted(permissions),
            "channels": sorted(channels) if channels is not None else None,
        },
        salt=TOKEN_SALT,
    )


def resolve_test_requestor(request: Any, channel_slug: str) -> Requestor:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, token = header.partition(" ")
    if not token or scheme.lower() != "bearer":
        return Requestor.anonymous()
    try:
        claims = signing.loads(token, salt=TOKEN_SALT, max_age=TOKEN_TTL_SECONDS)
    except signing.SignatureExpired:
        raise AuthenticationFailed(
            "Signature has expired.", code="ExpiredSignatureError", zh="令牌已过期。"
        ) from None
    except signing.BadSignature:
        raise AuthenticationFailed(
            "Invalid token.", code="DecodeError", zh="无效的令牌。"
        ) from None
    return Requestor(
        RequestorKind(claims["kind"]),
        user_id=claims["user_id"],
        email=claims["email"],
        app_id=claims["app_id"],
        permissions=frozenset(claims["permissions"]),
        channel_slugs=frozenset(claims["channels"]) if claims["channels"] is not None else None,
    )


@dataclass
class ApiResponse:
    status: int
    body: dict[str, Any]

    @property
    def data(self) -> dict[str, Any]:
        assert self.status == 200, (self.status, self.body)
        assert "errors" not in self.body, self.body["errors"]
        return self.body["data"]

    @property
    def error_messages(self) -> list[str]:
        return [error["message"] for error in self.body.get("errors", [])]


class LoyaltyApi:
    """Posts to the plugin endpoint the way Saleor routes it: through ``route_plugin_request``."""

    def __init__(self, channel_settings: ChannelSettings):
        self.factory = RequestFactory()
        self.channel_settings = channel_settings

    def plugin(self, channel: str) -> Any:
        return SimpleNamespace(
            channel=SimpleNamespace(slug=channel), settings=self.channel_settings
        )

    def post(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        token: str | None = None,
        channel: str = "main",
        raw_body: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> ApiResponse:
        body = (
            raw_body
            if raw_body is not None
            else json.dumps({"query": query, "variables": variables or {}})
        )
        extra: dict[str, Any] = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
        extra.update(headers or {})
        request = self.factory.post(
            f"/plugins/channel/{channel}/saleor.retention/graphql/",
            data=body,
            content_type="application/json",
            **extra,
        )
        response = route_plugin_request(self.plugin(channel), request, "graphql/")
        return ApiResponse(response.status_code, json.loads(response.content))

    def get(self, channel: str = "main") -> Any:
        request = self.factory.get(f"/plugins/channel/{channel}/saleor.retention/graphql/")
        return route_plugin_request(self.plugin(channel), request, "graphql/")


@pytest.fixture
def loyalty_api(settings: Any) -> LoyaltyApi:
    settings.RETENTION_GRAPHQL_REQUESTOR_RESOLVER = (
        "tests.integration.graphql_fixtures.resolve_test_requestor"
    )
    return LoyaltyApi(ChannelSettings())


@dataclass(frozen=True)
class Caller:
    token: str
    user_id: int | None = None
    email: str | None = None

    @property
    def global_user_id(self) -> str:
        return to_global_id("User", self.user_id)


@pytest.fixture
def customer_token():
    """``customer_token(user_id, email)``: a signed-in customer's token."""

    def make(user_id: int = 1001, email: str = "li.na@example.com") -> Caller:
        return Caller(issue_token("customer", user_id=user_id, email=email), user_id, email)

    return make


@pytest.fixture
def staff_token():
    """``staff_token(permissions=..., channels=...)``; MANAGE_USERS by default."""

    def make(
        *,
        user_id: int = 9001,
        permissions: Iterable[str] = (MANAGE_USERS,),
        channels: Iterable[str] | None = None,
    ) -> Caller:
        token = issue_token(
            "staff",
            user_id=user_id,
            email="staff@example.com",
            permissions=permissions,
            channels=channels,
        )
        return Caller(token, user_id, "staff@example.com")

    return make


@pytest.fixture
def app_token():
    def make(*, app_id: int = 7, permissions: Iterable[str] = (MANAGE_USERS,)) -> Caller:
        return Caller(issue_token("app", app_id=app_id, permissions=permissions))

    return make


@pytest.fixture
def shop_user():
    """``shop_user(pk)``: a user of the host shop (Django's ``auth.User`` in this tier)."""
    from django.contrib.auth import get_user_model

    def make(pk: int) -> Any:
        return get_user_model().objects.create(pk=pk, username=f"user{pk}")

    return make
