"""Who is calling the loyalty API, independent of how they proved it.

Inside Saleor, ``integrations.saleor.auth.resolve_saleor_requestor`` checks Saleor's access
tokens (JWT) and app tokens and returns a ``Requestor``; outside Saleor (tests, other
hosts) any callable ``(request, channel_slug) -> Requestor`` can be plugged in through the
``RETENTION_GRAPHQL_REQUESTOR_RESOLVER`` setting. Everything after that point only asks
the ``Requestor`` questions.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django.http import HttpRequest

# Saleor's permission (``AccountPermissions.MANAGE_USERS``); Saleor's list is fixed, so
# the loyalty API reuses it for every staff operation.
MANAGE_USERS = "MANAGE_USERS"


class RequestorKind(enum.StrEnum):
    ANONYMOUS = "anonymous"
    CUSTOMER = "customer"
    STAFF = "staff"
    APP = "app"


class AuthenticationFailed(Exception):
    """A token was sent but is invalid or expired: the request is answered with 401."""

    def __init__(self, message: str, code: str = "InvalidTokenError", *, zh: str | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        # The Simplified Chinese text, shown when the request asks for Chinese.
        self.zh = zh


@dataclass(frozen=True)
class Requestor:
    kind: RequestorKind
    # The Saleor user's pk (customers and staff); None for apps and anonymous callers.
    user_id: int | None = None
    email: str | None = None
    # The app's pk for apps.
    app_id: int | None = None
    # Saleor permission names, e.g. "MANAGE_USERS".
    permissions: frozenset[str] = field(default_factory=frozenset)
    # Channels a staff member's groups restrict them to; None means every channel.
    channel_slugs: frozenset[str] | None = None

    @classmethod
    def anonymous(cls) -> Requestor:
        return cls(RequestorKind.ANONYMOUS)

    @property
    def is_authenticated(self) -> bool:
        return self.kind is not RequestorKind.ANONYMOUS

    @property
    def has_own_account(self) -> bool:
        """Customers and staff members are Saleor users and can hold points themselves."""
        return self.user_id is not None

    def can_manage_loyalty(self, channel_slug: str) -> bool:
        """Staff and apps with MANAGE_USERS, limited to the channels they may access."""
        if self.kind not in (RequestorKind.STAFF, RequestorKind.APP):
            return False
        if MANAGE_USERS not in self.permissions:
            return False
        return self.channel_slugs is None or channel_slug in self.channel_slugs

    @property
    def actor(self) -> str:
        """Recorded on audited changes: ``user:<id>`` or ``app:<id>``."""
        if self.kind is RequestorKind.APP:
            return f"app:{self.app_id}"
        if self.user_id is not None:
            return f"user:{self.user_id}"
        return "anonymous"


RequestorResolver = Callable[["HttpRequest", str], Requestor]
