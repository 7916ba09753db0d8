"""Customer identity rules shared by every flow."""

from __future__ import annotations


def normalise_email(email: str | None) -> str | None:
    """The form emails are keyed by: stripped and lower-cased; None when there is none.

    Saleor lower-cases the domain only; lower-casing the whole address is what lets a guest
    who typed ``Ann@Shop.com`` find her points after registering as ``ann@shop.com``.
    """
    if email is None:
        return None
    cleaned = email.strip().lower()
    if not cleaned or "@" not in cleaned:
        return None
    return cleaned
