"""Marketing consent: who unsubscribed, honoured by every flow of the plugin.

An unsubscribe is a person's objection to the shop's marketing, not to one channel's: it
covers every channel of the shop (a Saleor installation), every flow (cart reminders and
any later campaign), the email address (by its digest) and the customer account named in
the link. A customer who unsubscribes from a reminder of the CNY channel gets nothing from
the USD channel either. The opt-out row keeps the channel it was made in, as a record of
where it came from; it does not narrow what it covers.

``record_opt_out`` is what the unsubscribe endpoint calls; ``is_opted_out`` is asked
when a message is scheduled and again right before it is sent.
"""

from __future__ import annotations

import hashlib

from django.db import connection

from ..domain.customers import normalise_email
from ..models import MarketingOptOut


def email_digest(email: str | None) -> str | None:
    """SHA-256 of the normalised address, the only form in which opt-outs keep emails."""
    normalised = normalise_email(email)
    if normalised is None:
        return None
    return hashlib.sha256(normalised.encode()).hexdigest()


def record_opt_out(
    channel_slug: str,
    *,
    email: str | None = None,
    customer_id: int | None = None,
    source: str = "unsubscribe_link",
) -> None:
    """Remember that this customer wants no marketing messages from the shop.

    The customer is named by id, by email, or both; the opt-out covers every channel.
    ``channel_slug`` records where the opt-out was made.

    Idempotent: recording the same opt-out again changes nothing. Pending messages are
    not touched here; they are cancelled when a worker checks consent before sending.
    """
    digest = email_digest(email)
    if customer_id is None and digest is None:
        raise ValueError("An opt-out needs a customer id or a valid email address.")
    rows = []
    if customer_id is not None:
        rows.append(
            MarketingOptOut(
                channel_slug=channel_slug, customer_id=customer_id, email_digest=None, source=source
            )
        )
    if digest is not None:
        rows.append(
            MarketingOptOut(
                channel_slug=channel_slug, customer_id=None, email_digest=digest, source=source
            )
        )
    # ON CONFLICT DO NOTHING: a concurrent or repeated opt-out is not an error.
    MarketingOptOut.objects.bulk_create(rows, ignore_conflicts=True)


def is_opted_out(channel_slug: str, *, email: str | None, customer_id: int | None) -> bool:
    """True when the customer opted out, by id or by email, in any channel of the shop.

    ``channel_slug`` is the channel the message would go out in; callers name it, but an
    opt-out made in any channel covers it (see the module docstring). One statement
    (``SELECT 1 ... LIMIT 1``) over two channel-free partial indexes
    (``retention_optout_customer_idx``, ``retention_optout_email_idx``), so its cost does
    not grow with the opt-outs.
    """
    who = opt_out_match(email=email, customer_id=customer_id)
    if who is None:
        return False
    condition, params = who
    # Asked before every step and every send (thousands of times a sweep in a big shop):
    # written by hand, as building the ORM's query costs several times running it.
    table = connection.ops.quote_name(MarketingOptOut._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM {table} WHERE {condition} LIMIT 1", params)
        return cursor.fetchone() is not None


def opt_out_match(
    *, email: str | None, customer_id: int | None
) -> tuple[str, list[int | str]] | None:
    """The SQL condition on the opt-out table matching this customer, with its parameters.

    ``None`` when there is nobody to match (no customer id, no valid email). Shared by
    ``is_opted_out`` and the outbox's one-statement read before a send
    (``contact_log.standing_before_send``), so both mean the same.
    """
    digest = email_digest(email)
    if customer_id is None and digest is None:
        return None
    who: list[str] = []
    params: list[int | str] = []
    if customer_id is not None:
        who.append("customer_id = %s")
        params.append(customer_id)
    if digest is not None:
        who.append("email_digest = %s")
        params.append(digest)
    return " OR ".join(who), params


def recipient_key(customer_id: int | None, email: str | None) -> str:
    """Who the frequency cap counts messages for: the customer, else the email's digest."""
    if customer_id is not None:
        return f"customer:{customer_id}"
    return f"email:{email_digest(email)}"
