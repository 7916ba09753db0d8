"""Kept purchase summaries: the trigger functions plan each statement for the call at hand.

Migration 0018's functions are PL/pgSQL, which keeps a statement's plan for the rest of the
session once it has run a few times. A backfill's session starts on empty tables, and
nothing gives them statistics while it runs (autovacuum may not have analysed them yet,
or is off): the plans kept were made for a few rows with a guessed handful of customers,
and hashed a scan of the whole table for every call after. Each of a backfill's orders
was its own statement, so each order scanned every order, day and summary row already
written: 92 orders/s at 100 thousand orders, 949 before 0018 (measured in EXPLAIN ANALYZE
of the nested statements with auto_explain: the per-call cost grew with the table).

The functions here compute exactly the same rows, and:

- plan every statement for each call (``plan_cache_mode = force_custom_plan``), on the
  tables' current size and the real number of customers in the call, as every statement
  the application itself sends is planned: a call for one customer probes the
  ``(channel_slug, customer_key, ...)`` indexes, a batch of a thousand hashes a scan
  only while the table is small enough for that to be cheaper;
- write a customer's days and summary in one statement (one read of the orders, not
  two, and no read of the days just written);
- the lines' trigger finds its orders by primary key with the ids as an argument.

The backfill now writes a batch's orders and lines in one statement each
(``services.purchase_history.record_purchases``), so a batch is recomputed once.
Going back restores 0018's definitions. PostgreSQL only, as 0018.
"""

import importlib

from django.db import migrations

ORDERS = "saleor_retention_plugin_purchasedorder"
LINES = "saleor_retention_plugin_purchasedline"
DAYS = "saleor_retention_plugin_purchaseday"
KINDS = "saleor_retention_plugin_purchasekindday"
SUMMARIES = "saleor_retention_plugin_purchasesummary"
ZONES = "saleor_retention_plugin_purchasesummaryzone"

_KEYS = "k AS (SELECT DISTINCT ch, c FROM unnest(channels, keys) AS u(ch, c))"
# Plans made for each call (see the module's docstring).
_PER_CALL = "SET plan_cache_mode = force_custom_plan"

# The customers' counted orders with their local day; ``k`` holds the (channel, key) pairs.
_COUNTED = f"""
    SELECT po.id, po.channel_slug, po.currency, po.customer_key, po.placed_at,
           (po.placed_at AT TIME ZONE coalesce(z.tz, 'UTC'))::date AS d,
           po.net_goods_amount AS a, po.used_discount AS disc
    FROM k JOIN {ORDERS} po ON po.channel_slug = k.ch AND po.customer_key = k.c
    LEFT JOIN {ZONES} z ON z.channel_slug = po.channel_slug
    WHERE po.counts AND po.net_goods_amount > 0
"""

KEEP = f"""
CREATE OR REPLACE FUNCTION retention_resummarise_kinds(channels text[], keys text[])
RETURNS void LANGUAGE plpgsql {_PER_CALL} AS $$
BEGIN
    PERFORM retention_lock_customers(channels, keys, '{KINDS}');
    WITH {_KEYS}
    DELETE FROM {KINDS} t USING k WHERE t.channel_slug = k.ch AND t.customer_key = k.c;
    INSERT INTO {KINDS} (channel_slug, currency, customer_key, dimension, kind, day, prev_day)
    WITH {_KEYS}, o AS ({_COUNTED}),
    lines AS (
        SELECT o.channel_slug, o.currency, o.customer_key, o.d, l.product_type_id,
               l.category_id
        FROM o JOIN {LINES} l ON l.order_id = o.id
        WHERE l.product_type_id IS NOT NULL OR l.category_id IS NOT NULL),
    kinds AS (
        SELECT channel_slug, currency, customer_key, 'product_type' AS dimension,
               product_type_id AS kind, d
        FROM lines WHERE product_type_id IS NOT NULL
        UNION
        SELECT channel_slug, currency, customer_key, 'category', category_id, d
        FROM lines WHERE category_id IS NOT NULL)
    SELECT channel_slug, currency, customer_key, dimension, kind, d,
           lag(d) OVER (PARTITION BY channel_slug, currency, customer_key, dimension, kind
                        ORDER BY d)
    FROM kinds;
END $$;

CREATE OR REPLACE FUNCTION retention_resummarise(channels text[], keys text[])
RETURNS void LANGUAGE plpgsql {_PER_CALL} AS $$
BEGIN
    PERFORM retention_lock_customers(channels, keys, '{DAYS}, {SUMMARIES}, {KINDS}');
    WITH {_KEYS}
    DELETE FROM {DAYS} t USING k WHERE t.channel_slug = k.ch AND t.customer_key = k.c;
    WITH {_KEYS}
    DELETE FROM {SUMMARIES} t USING k WHERE t.channel_slug = k.ch AND t.customer_key = k.c;
    WITH {_KEYS}, o AS ({_COUNTED}),
    days AS (
        SELECT channel_slug, currency, customer_key, d AS day, sum(a) AS revenue,
               count(*) AS orders, count(*) FILTER (WHERE disc) AS discount_orders,
               first_value(d) OVER w AS first_day, lag(d) OVER w AS prev_day,
               min(placed_at) AS first_at, max(placed_at) AS last_at
        FROM o GROUP BY channel_slug, currency, customer_key, d
        WINDOW w AS (PARTITION BY channel_slug, currency, customer_key ORDER BY d)),
    kept_days AS (
        INSERT INTO {DAYS} (channel_slug, currency, customer_key, day, revenue, orders,
                            discount_orders, first_day, prev_day)
        SELECT channel_slug, currency, customer_key, day, revenue, orders, discount_orders,
               first_day, prev_day
        FROM days)
    INSERT INTO {SUMMARIES} (channel_slug, currency, customer_key, first_day, second_day,
                             last_day, first_order_at, last_order_at, orders, order_days,
                             revenue, repeat_revenue, discount_orders, updated_at)
    SELECT channel_slug, currency, customer_key, min(day),
           min(day) FILTER (WHERE prev_day IS NOT NULL), max(day), min(first_at),
           max(last_at), sum(orders), count(*), sum(revenue),
           coalesce(sum(revenue) FILTER (WHERE prev_day IS NOT NULL), 0),
           sum(discount_orders), clock_timestamp()
    FROM days GROUP BY channel_slug, currency, customer_key;
    PERFORM retention_resummarise_kinds(channels, keys);
END $$;

-- Lines are replaced (deleted and inserted) when an order is recorded again.
CREATE OR REPLACE FUNCTION retention_keep_purchase_kinds() RETURNS trigger
LANGUAGE plpgsql {_PER_CALL} AS $$
DECLARE
    ids bigint[];
    channels text[];
    keys text[];
BEGIN
    IF TG_OP = 'DELETE' THEN
        SELECT array_agg(DISTINCT order_id) INTO ids FROM old_rows;
    ELSE
        SELECT array_agg(DISTINCT order_id) INTO ids FROM new_rows;
    END IF;
    IF ids IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT array_agg(ch), array_agg(c) INTO channels, keys FROM (
        SELECT DISTINCT po.channel_slug AS ch, po.customer_key AS c
        FROM {ORDERS} po
        WHERE po.id = ANY(ids) AND po.counts AND po.net_goods_amount > 0) x;
    IF keys IS NOT NULL THEN
        PERFORM retention_resummarise_kinds(channels, keys);
    END IF;
    RETURN NULL;
END $$;
"""


def _previous() -> str:
    """0018's definitions of the same functions (its SQL up to the triggers)."""
    before = importlib.import_module(
        "saleor_retention_plugin.migrations.0018_purchase_summaries"
    ).KEEP
    functions, _triggers = before.split("CREATE TRIGGER", 1)
    return functions


def plan_per_call(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(KEEP)


def plan_once(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(_previous())


class Migration(migrations.Migration):

    dependencies = [
        ("saleor_retention_plugin", "0025_incremental_lifecycle_refresh"),
    ]

    operations = [
        migrations.RunPython(plan_per_call, plan_once),
    ]
