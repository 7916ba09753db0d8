"""Who is calling the plugin's endpoints, decided the way Saleor's own API decides it.

* A Saleor access token (JWT, from ``tokenCreate``) in ``Authorization: Bearer <token>``
  or ``Authorization-Bearer``: ``django.contrib.auth.authenticate(request=request)`` runs
  Saleor's JWT backend. Invalid or expired tokens raise ``jwt.PyJWTError`` there, which
  become ``AuthenticationFailed`` (answered with 401).
* A Saleor app token (30 characters, as in ``saleor.graphql.app.dataloaders.promise_app``):
  checked with Saleor's own ``AppByTokenLoader`` (hashed tokens, active apps only).
* Nothing: anonymous.

Staff members whose permission groups all restrict them to some channels may manage
loyalty only in those channels.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import jwt
from django.contrib.auth import authenticate

from ...graphql.requestor import MANAGE_USERS, AuthenticationFailed, Requestor, RequestorKind

if TYPE_CHECKING:
    from django.http import HttpRequest

APP_TOKEN_LENGTH = 30


def resolve_saleor_requestor(request: HttpRequest, channel_slug: str) -> Requestor:
    from saleor.core.auth import get_token_from_request

    token = get_token_from_request(request)
    if not token:
        return Requestor.anonymous()
    if len(token) == APP_TOKEN_LENGTH:
        return _app_requestor(request, token)
    try:
        user = authenticate(request=request)
    except jwt.ExpiredSignatureError:
        raise AuthenticationFailed(
            "Signature has expired: refresh your token (tokenRefresh) and try again.",
            code="ExpiredSignatureError",
            zh="令牌已过期：请刷新令牌（tokenRefresh）后重试。",
        ) from None
    except jwt.PyJWTError as error:
        raise AuthenticationFailed(
            f"Invalid token: {error}", code=type(error).__name__, zh=f"无效的令牌：{error}"
        ) from None
    if user is None or not user.is_active:
        raise AuthenticationFailed(
            "Invalid token: send a Saleor access token from tokenCreate or an app token.",
            zh="无效的令牌：请发送 tokenCreate 得到的 Saleor 访问令牌或应用令牌。",
        )
    return _user_requestor(user)


def _user_requestor(user: Any) -> Requestor:
    from saleor.permission.enums import AccountPermissions

    if not user.is_staff:
        return Requestor(RequestorKind.CUSTOMER, user_id=user.pk, email=user.email)
    permissions = (
        frozenset({MANAGE_USERS}) if user.has_perm(AccountPermissions.MANAGE_USERS) else frozenset()
    )
    return Requestor(
        RequestorKind.STAFF,
        user_id=user.pk,
        email=user.email,
        permissions=permissions,
        channel_slugs=_accessible_channels(user) if permissions else None,
    )


def _accessible_channels(user: Any) -> frozenset[str] | None:
    """None (every channel) unless each of the staff member's groups is channel-restricted."""
    groups = list(user.groups.all())
    if not groups or any(not group.restricted_access_to_channels for group in groups):
        return None
    from saleor.channel.models import Channel

    return frozenset(Channel.objects.filter(group__in=groups).values_list("slug", flat=True))


def _app_requestor(request: HttpRequest, token: str) -> Requestor:
    from saleor.graphql.app.dataloaders.app import AppByTokenLoader
    from saleor.permission.enums import AccountPermissions

    app = AppByTokenLoader(request).load(token).get()
    if app is None:
        raise AuthenticationFailed(
            "Invalid token: no active app has this token.",
            zh="无效的令牌：没有使用此令牌的有效应用。",
        )
    permissions = (
        frozenset({MANAGE_USERS}) if app.has_perm(AccountPermissions.MANAGE_USERS) else frozenset()
    )
    return Requestor(RequestorKind.APP, app_id=app.pk, permissions=permissions)
