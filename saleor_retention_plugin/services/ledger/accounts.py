"""Loyalty accounts: finding or opening one, merging guests, forgetting owners."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from ...domain.customers import normalise_email
from ...models import LoyaltyAccount, PointsEntry, PointsLot
from ...selectors.birthdays import is_born_around
from .. import purchase_history, scan_gates
from .entries import LedgerError, _restore_lot_invariant

if TYPE_CHECKING:
    from ...querysets import LoyaltyAccountQuerySet

logger = logging.getLogger(__name__)


def account_for(
    channel_slug: str,
    customer_id: int | None,
    email: str | None,
    *,
    merge_guests: bool = False,
    lock: bool = False,
    locked_rows: list[LoyaltyAccount] | None = None,
) -> LoyaltyAccount:
    """The live account of a customer (or of a guest email) in a channel, created if needed.

    With ``lock`` (inside a transaction) the account is read with its row lock
    (``SELECT ... FOR UPDATE``), so a writer needs no second query to lock it, and with
    its tier row (``account.membership``, for the order intake); a merge below re-reads
    it, as the merge changed its balance.

    With ``merge_guests`` (only for an email the customer proved is theirs: a confirmed
    Saleor account), the customer's account first absorbs the guest account of that
    email, so points earned before registering are never stranded. Without proof, an
    email typed into a checkout or an unconfirmed registration must not claim a
    stranger's guest points.

    ``locked_rows``: the rows this function would read and lock, already read with their
    locks by the caller in this transaction, in id order (the order intake's first
    statement, ``services.order_opening``): the customer's account and, with
    ``merge_guests``, the email's open guest accounts; for a guest, the email's open guest
    account. Implies ``lock``; nothing is read again.
    """
    email = normalise_email(email)
    lock = lock or locked_rows is not None

    def accounts() -> LoyaltyAccountQuerySet:
        # Built only when a query is needed (not when the caller's rows answer).
        if lock:
            # The tier row comes along (not locked): an order's intake reads it next.
            return LoyaltyAccount.objects.select_for_update(of=("self",)).select_related(
                "membership"
            )
        return LoyaltyAccount.objects.all()

    if customer_id is not None:

        def theirs() -> LoyaltyAccountQuerySet:
            return accounts().filter(channel_slug=channel_slug, customer_id=customer_id)

        if not (email and merge_guests) and locked_rows is None:
            account, _ = _get_or_create(
                theirs(), channel_slug=channel_slug, customer_id=customer_id, email=email
            )
            return account
        # The customer's account and the email's open guest accounts in one statement
        # (locked in id order, as a merge locks them).
        rows = (
            locked_rows
            if locked_rows is not None
            else list(
                accounts()
                .in_channel(channel_slug)
                .filter(
                    Q(customer_id=customer_id)
                    | Q(customer_id__isnull=True, merged_into__isnull=True, email=email)
                )
                .order_by("pk")
            )
        )
        found = next((row for row in rows if row.customer_id == customer_id), None)
        account = found or _create_or_get(
            theirs(), channel_slug=channel_slug, customer_id=customer_id, email=email
        )
        guests = [row.pk for row in rows if row.customer_id is None]
        merged = bool(guests and email and merge_guests) and bool(
            _merge_guests_into(account, email or "", guests=guests)
        )
        if merged and lock:
            account.refresh_from_db()
        return account
    if email is None:
        raise LedgerError("A guest account needs an email address.")
    if locked_rows:
        return locked_rows[0]
    account, _ = _get_or_create(
        accounts().in_channel(channel_slug).open_guests_with_email(email),
        channel_slug=channel_slug,
        customer_id=None,
        email=email,
    )
    return account


def _get_or_create(
    queryset: QuerySet[LoyaltyAccount], **values: Any
) -> tuple[LoyaltyAccount, bool]:
    account = queryset.first()
    if account is not None:
        return account, False
    return _create_or_get(queryset, **values), True


def _create_or_get(queryset: QuerySet[LoyaltyAccount], **values: Any) -> LoyaltyAccount:
    """Open the account ``queryset`` did not find; another worker's, if it just did."""
    try:
        with transaction.atomic():
            customer_id = values.get("customer_id")
            # A birthday greeting may be due in this channel now: the birthday flow's scan
            # gate re-opens. Only then, so opening accounts does not queue on the gate row.
            if customer_id is not None and is_born_around(customer_id, timezone.now().date()):
                scan_gates.inputs_changed(scan_gates.ACCOUNTS)
            return LoyaltyAccount.objects.create(**values)
    except IntegrityError:
        # Another worker created it between our read and our insert: use theirs.
        return queryset.get()


def merge_guest_accounts(customer_id: int, email: str | None) -> list[int]:
    """Fold every channel's guest account of ``email`` into the customer's; once each.

    Returns the ids of the guest accounts merged now (an already merged guest is not
    merged again, so a repeated event changes nothing).
    """
    email = normalise_email(email)
    if email is None:
        return []
    merged: list[int] = []
    with transaction.atomic():
        guest_channels = (
            LoyaltyAccount.objects.open_guests_with_email(email)
            .values_list("channel_slug", flat=True)
            .distinct()
        )
        for channel_slug in list(guest_channels):
            account = account_for(channel_slug, customer_id, None)
            merged.extend(_merge_guests_into(account, email))
        # The purchase history follows the same person, even where no guest account exists.
        purchase_history.merge_guest_purchases(customer_id, email)
    return merged


def _merge_guests_into(
    account: LoyaltyAccount, email: str, *, guests: list[int] | None = None
) -> list[int]:
    """Merge the email's open guest accounts in the channel (``guests``: their ids, when
    the caller read them already) into ``account``; the ids merged now."""
    if guests is None:
        guests = list(
            LoyaltyAccount.objects.in_channel(account.channel_slug)
            .open_guests_with_email(email)
            .exclude(pk=account.pk)
            .values_list("pk", flat=True)
        )
    if not guests:
        return []
    with transaction.atomic():
        # Lock in id order so two merges can never deadlock each other.
        locked = list(
            LoyaltyAccount.objects.select_for_update()
            .filter(pk__in=[account.pk, *guests])
            .order_by("pk")
        )
        target = next(row for row in locked if row.pk == account.pk)
        merged = []
        for guest in locked:
            if guest.pk == target.pk or guest.merged_into_id is not None:
                continue
            PointsEntry.objects.filter(account=guest).update(account=target)
            PointsLot.objects.filter(account=guest).update(account=target)
            target.balance += guest.balance
            target.lifetime_earned += guest.lifetime_earned
            guest.balance = 0
            guest.lifetime_earned = 0
            guest.merged_into = target
            guest.save(update_fields=["balance", "lifetime_earned", "merged_into", "updated_at"])
            merged.append(guest.pk)
        if target.email is None:
            target.email = email
        target.save(update_fields=["balance", "lifetime_earned", "email", "updated_at"])
        _restore_lot_invariant(target)
        if target.customer_id is not None:
            purchase_history.merge_guest_purchases(target.customer_id, email)
    logger.info("Merged guest accounts %s into loyalty account %s", merged, target.pk)
    return merged


def anonymise_customer(customer_id: int, email: str | None = None) -> int:
    """Forget who owned the customer's accounts; keep the points totals for analytics.

    Clears the customer id and email of the customer's accounts, of the guest accounts
    merged into them and of any guest account still open under the email. Returns how
    many accounts were anonymised; calling it again changes nothing.
    """
    emails = {normalise_email(email)} - {None}
    now = timezone.now()
    with transaction.atomic():
        owned = LoyaltyAccount.objects.select_for_update().filter(customer_id=customer_id)
        ids = list(owned.values_list("pk", flat=True))
        emails |= {address for address in owned.values_list("email", flat=True) if address}
        personal = (
            Q(pk__in=ids)
            | Q(merged_into_id__in=ids)
            | Q(customer_id__isnull=True, email__in=emails)
        )
        return LoyaltyAccount.objects.filter(personal).update(
            customer_id=None, email=None, anonymised_at=now, updated_at=now
        )
