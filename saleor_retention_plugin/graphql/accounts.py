"""Reading accounts for the caller: their own, or (staff, apps) anyone's in this channel."""

from __future__ import annotations

from typing import Any

from ..models import LoyaltyAccount
from ..services.ledger import account_for
from .errors import MutationError
from .ids import InvalidGlobalId, from_global_id
from .users import user_exists


def own_account(context: Any) -> LoyaltyAccount | None:
    """The caller's account in the endpoint's channel (created on first use); None when
    the caller is anonymous or an app."""
    requestor = context.requestor
    if not requestor.has_own_account:
        return None
    key = f"own_account:{requestor.user_id}"
    if key not in context.cache:
        account = (
            LoyaltyAccount.objects.in_channel(context.channel_slug)
            .for_customer(requestor.user_id)
            .first()
        )
        if account is None:
            account = account_for(context.channel_slug, requestor.user_id, requestor.email)
        context.cache[key] = account
    return context.cache[key]


def find_account(
    context: Any,
    *,
    account_id: str | None = None,
    user_id: str | None = None,
    email: str | None = None,
    create_for_user: bool = False,
) -> LoyaltyAccount:
    """An account of the endpoint's channel by one of its keys; ``MutationError`` otherwise.

    Accounts of other channels are "not found": an id is never a way into another channel.
    ``create_for_user`` opens an account for a ``userId`` without one, if that user exists.
    """
    given = [
        name for name, value in (("id", account_id), ("userId", user_id), ("email", email)) if value
    ]
    if len(given) != 1:
        raise MutationError(
            "Give exactly one of id, userId or email.",
            code="invalid",
            zh="请只提供 id、userId 或 email 其中之一。",
        )
    accounts = LoyaltyAccount.objects.in_channel(context.channel_slug).live()
    try:
        if account_id:
            found = accounts.filter(pk=from_global_id(account_id, "LoyaltyAccount")).first()
            field = "id"
        elif user_id:
            customer_id = from_global_id(user_id, "User")
            found = accounts.filter(customer_id=customer_id).first()
            if found is None and create_for_user and user_exists(customer_id):
                found = account_for(context.channel_slug, customer_id, None)
            field = "userId"
        else:
            from ..domain.customers import normalise_email

            found = (
                accounts.filter(email=normalise_email(email))
                .order_by("customer_id")  # a registered customer's account before a guest's
                .first()
            )
            field = "email"
    except InvalidGlobalId as error:
        raise MutationError(error.message, code="invalid", field=given[0], zh=error.zh) from None
    if found is None:
        raise MutationError(
            "No loyalty account found in this channel.",
            code="not_found",
            field=field,
            zh="在此渠道中找不到积分账户。",
        )
    return found
