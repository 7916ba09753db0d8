"""Enrolling a campaign's segment set-based on PostgreSQL: ``INSERT ... SELECT`` per batch.

The same recipients, holdout, variants, zones and languages as ``campaign_flow.recipients``
(which the SQLite sandbox and the preview use; a test holds the two equal), without a
Python object per member: per batch of ``SQL_BATCH`` segment rows, three statements in
one transaction:

1. the batch's recipients into a temporary table: the stored segment rows after the
   cursor (``selectors.segments.customers_in_segment``), their contact (``customer:<id>``
   keys: the email of their latest order in the purchase history; ``email:<address>``
   keys: the address) and their latest cart's zone and language, each one index seek
   (``retention_purchase_customer_idx``-style ``(channel, customer key, placed_at)``,
   ``retention_cart_customer_idx``, ``retention_cart_email_idx``);
2. the last key read and the batch's distinct zones, which Python turns into the send
   instant of each (``domain.campaigns.local_moment``: the same wall-time rule, invalid or
   empty zones falling back to the shop's, as the Python path does);
3. the enrolments: ``INSERT ... SELECT ... ON CONFLICT DO NOTHING``, opted-out members
   left out by two index seeks (``retention_optout_customer_idx``,
   ``retention_optout_email_idx``), holdout and variant drawn in SQL by the bucket rule of
   ``domain.holdout`` (the first 8 bytes of SHA-256 of ``salt NUL subject``, unsigned,
   modulo 10,000), so a member lands in the same group whichever path enrolled them.

The cost per member is a few index seeks and no Python: it follows the segment's size,
never the order history (``benchmarks/lifecycle_due.py``, ``campaign_enrolment``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from django.db import connection, transaction
from django.utils import timezone

from ..constants import CAMPAIGN_FLOW
from ..domain import campaigns as rules
from ..domain.holdout import BUCKETS
from ..models import (
    EnrolmentState,
    FlowEnrolment,
    MarketingOptOut,
    PurchasedOrder,
    SubjectKind,
    TrackedCart,
)
from ..selectors.segments import customers_in_segment
from .enrolments import local_zone

if TYPE_CHECKING:
    from ..models import Campaign

SQL_BATCH = 5_000


def holdout_salt(channel_slug: str) -> str:
    """The engine's holdout salt for the campaign flow (``enrolments.enrol_request``)."""
    return f"{CAMPAIGN_FLOW}-holdout:{channel_slug}"


def variant_count(campaign: Campaign) -> int:
    return 2 if campaign.variant_b else 1


def _table(model: type) -> str:
    return connection.ops.quote_name(model._meta.db_table)  # type: ignore[attr-defined]


def _bucket(salt_param: str, subject: str) -> str:
    """SQL for ``domain.holdout.holdout_bucket(subject, salt=...)``."""
    digest = (
        f"encode(substring(sha256(convert_to({salt_param}, 'UTF8') || '\\x00'::bytea "
        f"|| convert_to({subject}, 'UTF8')) from 1 for 8), 'hex')"
    )
    return (
        f"((('x' || substr({digest}, 1, 8))::bit(32)::bigint * 4294967296::numeric "
        f"+ ('x' || substr({digest}, 9, 8))::bit(32)::bigint) %% {BUCKETS})"
    )


# The segment's rows with their contact: customer id from ``customer:<id>`` keys, the
# email of the latest order (customers) or of the key (guests).
_KNOWN = """
WITH batch AS ({segment}),
contacts AS (
    SELECT
        batch.customer_key,
        batch.currency,
        CASE WHEN batch.customer_key ~ '^customer:[0-9]{{1,18}}$'
             THEN substr(batch.customer_key, 10)::bigint END AS customer_id,
        CASE WHEN batch.customer_key LIKE 'email:%%@%%'
             THEN lower(btrim(substr(batch.customer_key, 7))) END AS guest_email
    FROM batch
),
known AS (
    SELECT
        contacts.customer_key,
        contacts.currency,
        contacts.customer_id,
        COALESCE(contacts.guest_email, (
            SELECT lower(btrim(o.email)) FROM {orders} AS o
            WHERE o.channel_slug = %(channel)s AND o.customer_key = contacts.customer_key
              AND o.email IS NOT NULL
            ORDER BY o.placed_at DESC LIMIT 1
        )) AS email
    FROM contacts
)
"""

_SUBJECT_KEY = """
    CASE WHEN known.customer_id IS NOT NULL THEN 'customer:' || known.customer_id
         ELSE 'email:' || encode(sha256(convert_to(known.email, 'UTF8')), 'hex') END
"""

_OPTED_OUT = """
    EXISTS (SELECT 1 FROM {opt_outs} AS o WHERE {who}.customer_id IS NOT NULL
            AND o.customer_id = {who}.customer_id)
    OR EXISTS (SELECT 1 FROM {opt_outs} AS o WHERE {who}.email IS NOT NULL
            AND o.email_digest = encode(sha256(convert_to({who}.email, 'UTF8')), 'hex'))
"""

_RECIPIENTS = (
    "CREATE TEMPORARY TABLE retention_campaign_batch ON COMMIT DROP AS"
    + _KNOWN
    + """
SELECT
    known.*,"""
    + _SUBJECT_KEY
    + """ AS subject_key,
    COALESCE(by_customer.timezone, by_email.timezone, '') AS zone,
    COALESCE(NULLIF(COALESCE(by_customer.language_code, by_email.language_code), ''), 'en')
        AS language_code
FROM known
LEFT JOIN LATERAL (
    SELECT c.timezone, c.language_code FROM {carts} AS c
    WHERE c.channel_slug = %(channel)s AND c.customer_id = known.customer_id
    ORDER BY c.last_activity_at DESC LIMIT 1
) AS by_customer ON known.customer_id IS NOT NULL
LEFT JOIN LATERAL (
    SELECT c.timezone, c.language_code FROM {carts} AS c
    WHERE c.channel_slug = %(channel)s AND c.email = known.email
    ORDER BY c.last_activity_at DESC LIMIT 1
) AS by_email ON by_customer.timezone IS NULL AND known.email IS NOT NULL
"""
)

# Recipients and holdout of the whole segment, counted (a campaign's preview).
_COUNT = (
    _KNOWN
    + """
, counted AS (
    SELECT {holdout} < %(holdout_below)s AS is_holdout
    FROM (SELECT known.*, """
    + _SUBJECT_KEY
    + """ AS subject_key FROM known) AS r
    WHERE (r.customer_id IS NOT NULL OR r.email IS NOT NULL) AND NOT ("""
    + _OPTED_OUT.format(opt_outs="{opt_outs}", who="r")
    + """)
)
SELECT count(*) FILTER (WHERE NOT is_holdout), count(*) FILTER (WHERE is_holdout)
FROM counted
"""
)

_LAST_KEY_AND_ZONES = """
SELECT (SELECT max(customer_key) FROM retention_campaign_batch),
       ARRAY(SELECT DISTINCT zone FROM retention_campaign_batch
             WHERE customer_id IS NOT NULL OR email IS NOT NULL)
"""

_INSERT = (
    """
INSERT INTO {enrolments} (
    flow, channel_slug, subject_kind, subject_key, cycle, customer_id, email,
    language_code, anchor_at, data, state, next_step, next_check_at, is_holdout, variant,
    failures, leased_by, stop_reason, created_at, updated_at
)
SELECT
    %(flow)s, %(channel)s, %(kind)s, r.subject_key, %(cycle)s, r.customer_id, r.email,
    left(r.language_code, 35), z.moment,
    jsonb_build_object('timezone', z.resolved, 'currency', r.currency),
    %(active)s, 1, z.moment,
    {holdout} < %(holdout_below)s,
    CASE WHEN %(variants)s < 2 THEN ''
         WHEN {variant} %% 2 = 0 THEN 'a' ELSE 'b' END,
    0, '', '', %(now)s, %(now)s
FROM retention_campaign_batch AS r
JOIN unnest(%(zones)s::text[], %(resolved)s::text[], %(moments)s::timestamptz[])
    AS z(zone, resolved, moment) ON z.zone = r.zone
WHERE (r.customer_id IS NOT NULL OR r.email IS NOT NULL) AND NOT ("""
    + _OPTED_OUT.format(opt_outs="{opt_outs}", who="r")
    + """)
ON CONFLICT DO NOTHING
"""
)


def enrol_next_batch(
    campaign: Campaign, shop_zone: str, *, after: str = "", limit: int = SQL_BATCH
) -> tuple[int, str | None]:
    """Enrol the next ``limit`` segment rows after the key ``after`` (PostgreSQL only).

    Returns how many enrolments were new and the last key read (None when the segment is
    exhausted). Idempotent: a batch enrolled again inserts nothing (the unique
    ``(flow, channel, subject, cycle)``).
    """
    segment_sql, segment_params = (
        customers_in_segment(campaign.channel_slug, campaign.segment)
        .filter(customer_key__gt=after)
        .values("customer_key", "currency")[:limit]
        .query.sql_with_params()
    )
    channel_param = {"channel": campaign.channel_slug}
    with transaction.atomic(), connection.cursor() as cursor:
        # Dropped at commit; also here, for a caller's enclosing transaction (tests).
        cursor.execute("DROP TABLE IF EXISTS pg_temp.retention_campaign_batch")
        cursor.execute(
            _RECIPIENTS.format(
                segment=_named_placeholders(segment_sql),
                orders=_table(PurchasedOrder),
                carts=_table(TrackedCart),
            ),
            {**channel_param, **{f"p{n}": value for n, value in enumerate(segment_params)}},
        )
        cursor.execute(_LAST_KEY_AND_ZONES)
        last_key, zones = cursor.fetchone()
        if last_key is None:
            return 0, None
        resolved = [local_zone(zone, shop_zone) for zone in zones]
        share = Decimal(str(campaign.holdout_percent))
        cursor.execute(
            _INSERT.format(
                enrolments=_table(FlowEnrolment),
                opt_outs=_table(MarketingOptOut),
                holdout=_bucket("%(holdout_salt)s", "r.subject_key || ':' || %(cycle)s"),
                variant=_bucket("%(variant_salt)s", "r.subject_key"),
            ),
            {
                "flow": CAMPAIGN_FLOW,
                "channel": campaign.channel_slug,
                "kind": SubjectKind.CUSTOMER.value,
                "cycle": campaign.pk,
                "active": EnrolmentState.ACTIVE.value,
                "holdout_salt": holdout_salt(campaign.channel_slug),
                "holdout_below": int(share * BUCKETS / 100),
                "variant_salt": f"campaign-variant:{campaign.pk}",
                "variants": variant_count(campaign),
                "zones": list(zones),
                "resolved": [zone.key for zone in resolved],
                "moments": [
                    rules.local_moment(campaign.send_on, campaign.send_time, zone)
                    for zone in resolved
                ],
                "now": timezone.now(),
            },
        )
        inserted = max(cursor.rowcount, 0)
        cursor.execute("DROP TABLE pg_temp.retention_campaign_batch")
        return inserted, last_key


def _named_placeholders(sql: str) -> str:
    """The segment query's positional ``%s`` as ``%(p0)s``, ``%(p1)s``...

    The statement around it uses named parameters; psycopg takes one style per statement.
    """
    parts = sql.split("%s")
    return "".join(
        part + (f"%(p{n})s" if n < len(parts) - 1 else "") for n, part in enumerate(parts)
    )


def count_recipients(campaign: Campaign) -> tuple[int, int]:
    """``(messaged, held out)`` over the whole segment, in one statement (PostgreSQL only).

    The same people ``enrol_next_batch`` would enrol (opted-out and contactless members
    left out), split by the campaign's holdout; ``campaign`` may be unsaved (drawn as if
    its id were 0, like ``campaign_flow.recipients``). Zones and languages are not read.
    """
    segment_sql, segment_params = (
        customers_in_segment(campaign.channel_slug, campaign.segment)
        .values("customer_key", "currency")
        .query.sql_with_params()
    )
    share = Decimal(str(campaign.holdout_percent))
    with connection.cursor() as cursor:
        cursor.execute(
            _COUNT.format(
                segment=_named_placeholders(segment_sql),
                orders=_table(PurchasedOrder),
                opt_outs=_table(MarketingOptOut),
                holdout=_bucket("%(holdout_salt)s", "r.subject_key || ':' || %(cycle)s"),
            ),
            {
                "channel": campaign.channel_slug,
                "cycle": campaign.pk or 0,
                "holdout_salt": holdout_salt(campaign.channel_slug),
                "holdout_below": int(share * BUCKETS / 100),
                **{f"p{n}": value for n, value in enumerate(segment_params)},
            },
        )
        messaged, held = cursor.fetchone()
    return messaged, held
