"""The order intake's first read as one hand-written statement (PostgreSQL; issue 12).

Before an order intake writes anything it needs: the order's points entries (was it
booked already, and on which account), that account (or the customer's) locked with its
tier row, and the channel's tier ladder with each tier's largest active points
multiplier and the member-day multiplier at the moment the order was placed. The ORM
read these in three statements, and compiling them cost the worker more time than the
database spent answering. ``open_order`` reads them in one statement whose SQL is built
once per process from the models' own columns, and hands back model instances as the
ORM would (its database converters applied).

Which account is locked is decided inside the statement, the way the ledger decides it:

- the order has entries: the account holding the newest one (the ledger follows a
  merged guest's account to its target itself, locking that too);
- otherwise the customer's account in the channel and, for a confirmed email
  (``merge_guests``), the email's open guest accounts, locked in id order as a merge
  locks them; for a guest order, the email's open guest account.

The entries are read with the statement's snapshot, taken before the lock is granted:
the same as reading them just before locking. A first booking is then decided by the
earning entry's unique key; any later event reads the entries again under the lock.

Only for PostgreSQL (``row locks``, ``json_agg``, ``AS MATERIALIZED``); elsewhere the
ledger and tiers read with the ORM as before.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db import connection

from ..models import (
    BenefitKind,
    CustomerTier,
    LoyaltyAccount,
    MemberDay,
    MembershipTier,
    PointsEntry,
    TierBenefit,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from django.db.models import Model

    from ..domain.orders import OrderSnapshot


@dataclass(frozen=True)
class OrderOpening:
    """What ``open_order`` read, in one statement, inside the caller's transaction."""

    # The order's entries, newest first, as ``PointsEntry.objects.for_order(...).values(
    # "kind", "points", "written_off", "account_id")`` gives them.
    entries: list[dict[str, Any]]
    # The accounts the statement locked (see the module docstring), in id order, each
    # with its tier row cached as ``account.membership`` (None without one).
    accounts: list[LoyaltyAccount]
    channel_slug: str
    # The channel's tiers by rank, each with ``multiplier`` (the largest active points
    # multiplier benefit, None without one), as ``tiers.tier_standing`` reads them.
    tiers: list[MembershipTier]
    # The channel's member-day multiplier when the order was placed (1 outside a window).
    member_day_multiplier: Decimal

    def locked(self, account_id: int) -> LoyaltyAccount | None:
        """The locked account of that id, if the statement locked it."""
        return next((account for account in self.accounts if account.pk == account_id), None)


def available() -> bool:
    return connection.vendor == "postgresql"


def open_order(order: OrderSnapshot, *, merge_guests: bool, email: str | None) -> OrderOpening:
    """Read the order's entries, lock its account and read the ladder: one statement.

    ``email`` is the order's email normalised (``domain.customers.normalise_email``);
    ``merge_guests`` as ``ledger.account_for`` takes it. Call inside a transaction (the
    lock lasts until it ends), on PostgreSQL only (``available()``). Raises only what
    the database raises.
    """
    statement = _statement()
    ops = connection.ops
    params = {
        "order_id": order.order_id,
        "channel": order.channel_slug,
        "customer": order.customer_id,
        "guests": email is not None and (order.customer_id is None or merge_guests),
        "email": email,
        "placed_at": ops.adapt_datetimefield_value(order.created_at),
        "multiplier_kind": BenefitKind.POINTS_MULTIPLIER.value,
    }
    with connection.cursor() as cursor:
        cursor.execute(statement.sql, params)
        rows = cursor.fetchall()
    entries = [
        {"kind": kind, "points": points, "written_off": written_off, "account_id": account_id}
        for kind, points, written_off, account_id in (rows[0][0] or [])
    ]
    member_day = rows[0][1]
    accounts: dict[int, LoyaltyAccount] = {}
    tiers: dict[int, MembershipTier] = {}
    for row in rows:
        account_values = row[statement.account_at : statement.membership_at]
        if account_values[0] is not None and account_values[0] not in accounts:
            account = statement.account(account_values)
            membership_values = row[statement.membership_at : statement.tier_at]
            membership = (
                statement.membership(membership_values)
                if membership_values[0] is not None
                else None
            )
            if membership is not None:
                CustomerTier.account.field.set_cached_value(membership, account)
            LoyaltyAccount.membership.related.set_cached_value(account, membership)
            accounts[account.pk] = account
        tier_values = row[statement.tier_at : statement.multiplier_at]
        if tier_values[0] is not None and tier_values[0] not in tiers:
            tier = statement.tier(tier_values)
            multiplier = row[statement.multiplier_at]
            tier.multiplier = multiplier  # type: ignore[attr-defined]
            tiers[tier.pk] = tier
    return OrderOpening(
        entries=entries,
        accounts=sorted(accounts.values(), key=lambda account: account.pk),
        channel_slug=order.channel_slug,
        tiers=sorted(tiers.values(), key=lambda tier: (tier.rank, tier.pk)),
        member_day_multiplier=Decimal(member_day) if member_day is not None else Decimal(1),
    )


@dataclass(frozen=True)
class _Statement:
    sql: str
    account_at: int
    membership_at: int
    tier_at: int
    multiplier_at: int
    account: Callable[[Sequence[Any]], LoyaltyAccount]
    membership: Callable[[Sequence[Any]], CustomerTier]
    tier: Callable[[Sequence[Any]], MembershipTier]


def _builder(model: type[Model]) -> tuple[list[str], Callable[[Sequence[Any]], Any]]:
    """The model's columns, and a function making an instance from their values.

    As the ORM does: each field's database converters, then ``Model.from_db``.
    """
    fields = list(model._meta.concrete_fields)
    columns = [str(field.column) for field in fields]
    names = [field.attname for field in fields]
    alias = connection.alias
    converters = []
    for index, field in enumerate(fields):
        expression = field.get_col(model._meta.db_table)
        found = connection.ops.get_db_converters(expression) + expression.get_db_converters(
            connection
        )
        if found:
            converters.append((index, expression, found))

    def build(values: Sequence[Any]) -> Any:
        converted = list(values)
        for index, expression, field_converters in converters:
            for converter in field_converters:
                converted[index] = converter(converted[index], expression, connection)
        return model.from_db(alias, names, converted)

    return columns, build


@functools.cache
def _statement() -> _Statement:
    account_columns, account = _builder(LoyaltyAccount)
    membership_columns, membership = _builder(CustomerTier)
    tier_columns, tier = _builder(MembershipTier)
    entries = PointsEntry._meta.db_table
    accounts = LoyaltyAccount._meta.db_table
    memberships = CustomerTier._meta.db_table
    ladder = MembershipTier._meta.db_table
    benefits = TierBenefit._meta.db_table
    member_days = MemberDay._meta.db_table

    def listed(alias: str, columns: list[str], prefix: str) -> str:
        return ", ".join(f'{alias}."{column}" AS "{prefix}{column}"' for column in columns)

    def outer(columns: list[str], prefix: str) -> str:
        return ", ".join(f'"{prefix}{column}"' for column in columns)

    sql = f"""
WITH entries AS MATERIALIZED (
    SELECT id, kind, points, written_off, account_id, created_at
    FROM {entries} WHERE order_id = %(order_id)s
), locked AS MATERIALIZED (
    SELECT {listed("a", account_columns, "a_")}, {listed("m", membership_columns, "m_")}
    FROM {accounts} AS a LEFT JOIN {memberships} AS m ON m.account_id = a.id
    WHERE a.id = (SELECT account_id FROM entries ORDER BY created_at DESC, id DESC LIMIT 1)
       OR (NOT EXISTS (SELECT 1 FROM entries) AND a.channel_slug = %(channel)s AND (
            a.customer_id = %(customer)s
            OR (%(guests)s AND a.customer_id IS NULL AND a.merged_into_id IS NULL
                AND a.email = %(email)s)))
    ORDER BY a.id
    FOR UPDATE OF a
), ladder AS MATERIALIZED (
    SELECT {listed("t", tier_columns, "t_")},
        (SELECT b.value FROM {benefits} AS b
         WHERE b.tier_id = t.id AND b.kind = %(multiplier_kind)s AND b.is_active
           AND b.value IS NOT NULL
         ORDER BY b.value DESC LIMIT 1) AS multiplier
    FROM {ladder} AS t WHERE t.channel_slug = %(channel)s
)
SELECT
    (SELECT json_agg(json_build_array(kind, points, written_off, account_id)
                     ORDER BY created_at DESC, id DESC) FROM entries),
    (SELECT d.multiplier FROM {member_days} AS d
     WHERE d.channel_slug = %(channel)s AND d.starts_at <= %(placed_at)s
       AND d.ends_at > %(placed_at)s LIMIT 1),
    {outer(account_columns, "a_")}, {outer(membership_columns, "m_")},
    {outer(tier_columns, "t_")}, ladder.multiplier
FROM (SELECT 1) AS one
LEFT JOIN locked ON true
LEFT JOIN ladder ON true
ORDER BY "a_id", "t_rank", "t_id"
"""
    account_at = 2
    membership_at = account_at + len(account_columns)
    tier_at = membership_at + len(membership_columns)
    multiplier_at = tier_at + len(tier_columns)
    return _Statement(
        sql, account_at, membership_at, tier_at, multiplier_at, account, membership, tier
    )
