"""Saleor's customers, as far as the loyalty API needs to know them."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable


def saleor_user_exists(customer_id: int) -> bool:
    from saleor.account.models import User

    return User.objects.filter(pk=customer_id).exists()


def saleor_user_languages(customer_ids: Iterable[int]) -> dict[int, str]:
    """``{user id: language code}`` from the customers' Saleor profiles (one query)."""
    from saleor.account.models import User

    return {
        user_id: language
        for user_id, language in User.objects.filter(pk__in=list(customer_ids)).values_list(
            "pk", "language_code"
        )
        if language
    }
