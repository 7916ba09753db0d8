"""Saleor's customers, as far as the loyalty API needs to know them."""

from __future__ import annotations


def saleor_user_exists(customer_id: int) -> bool:
    from saleor.account.models import User

    return User.objects.filter(pk=customer_id).exists()
