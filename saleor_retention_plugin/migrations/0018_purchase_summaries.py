"""Kept purchase summaries for the report (issue 9, speed), and the refresh's stored fit.

``PurchaseDay``, ``PurchaseKindDay`` and ``PurchaseSummary`` (models/summaries.py) are kept
by statement-level triggers on the purchase history (PostgreSQL), in the writer's own
transaction, and filled here from the orders already recorded. Each trigger recomputes
the customers its statement touched (``retention_resummarise``): per-customer advisory
locks queue concurrent writers of one customer; a statement touching more than
``BULK`` customers (a backfill batch, this fill) locks the three tables instead.
A summary's ``updated_at`` is the clock when it was written (``clock_timestamp()``, not
the transaction's start), so a fit taken after it can tell it saw it.
``SegmentFit`` and the prediction columns of ``CustomerSegment`` hold what the periodic
segment refresh fitted and predicted, for the report to reuse.

On other databases (the SQLite sandbox) no trigger is created: the report reads orders.
Re-chained by the lead at merge.
"""

from django.db import migrations, models

ORDERS = "saleor_retention_plugin_purchasedorder"
LINES = "saleor_retention_plugin_purchasedline"
DAYS = "saleor_retention_plugin_purchaseday"
KINDS = "saleor_retention_plugin_purchasekindday"
SUMMARIES = "saleor_retention_plugin_purchasesummary"
ZONES = "saleor_retention_plugin_purchasesummaryzone"
BULK = 1000

# The customers' counted orders with their local day; ``k`` holds the (channel, key) pairs.
_COUNTED = f"""
    SELECT po.id, po.channel_slug, po.currency, po.customer_key, po.placed_at,
           (po.placed_at AT TIME ZONE coalesce(z.tz, 'UTC'))::date AS d,
           po.net_goods_amount AS a, po.used_discount AS disc
    FROM k JOIN {ORDERS} po ON po.channel_slug = k.ch AND po.customer_key = k.c
    LEFT JOIN {ZONES} z ON z.channel_slug = po.channel_slug
    WHERE po.counts AND po.net_goods_amount > 0
"""
_KEYS = "k AS (SELECT DISTINCT ch, c FROM unnest(channels, keys) AS u(ch, c))"

KEEP = f"""
CREATE OR REPLACE FUNCTION retention_lock_customers(channels text[], keys text[], tables text)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    pair record;
BEGIN
    IF cardinality(keys) > {BULK} THEN
        EXECUTE 'LOCK TABLE ' || tables || ' IN SHARE ROW EXCLUSIVE MODE';
        RETURN;
    END IF;
    -- In one order, so two writers of overlapping customers cannot deadlock.
    FOR pair IN SELECT DISTINCT ch, c FROM unnest(channels, keys) AS u(ch, c) ORDER BY 1, 2
    LOOP
        PERFORM pg_advisory_xact_lock(hashtextextended(pair.ch || ' ' || pair.c, 9009));
    END LOOP;
END $$;

CREATE OR REPLACE FUNCTION retention_resummarise_kinds(channels text[], keys text[])
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM retention_lock_customers(channels, keys, '{KINDS}');
    WITH {_KEYS}
    DELETE FROM {KINDS} t USING k WHERE t.channel_slug = k.ch AND t.customer_key = k.c;
    INSERT INTO {KINDS} (channel_slug, currency, customer_key, dimension, kind, day, prev_day)
    WITH {_KEYS}, o AS ({_COUNTED}), kinds AS (
        SELECT o.channel_slug, o.currency, o.customer_key, 'product_type' AS dimension,
               l.product_type_id AS kind, o.d
        FROM o JOIN {LINES} l ON l.order_id = o.id WHERE l.product_type_id IS NOT NULL
        UNION
        SELECT o.channel_slug, o.currency, o.customer_key, 'category', l.category_id, o.d
        FROM o JOIN {LINES} l ON l.order_id = o.id WHERE l.category_id IS NOT NULL)
    SELECT channel_slug, currency, customer_key, dimension, kind, d,
           lag(d) OVER (PARTITION BY channel_slug, currency, customer_key, dimension, kind
                        ORDER BY d)
    FROM kinds;
END $$;

CREATE OR REPLACE FUNCTION retention_resummarise(channels text[], keys text[])
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM retention_lock_customers(channels, keys, '{DAYS}, {SUMMARIES}, {KINDS}');
    WITH {_KEYS}
    DELETE FROM {DAYS} t USING k WHERE t.channel_slug = k.ch AND t.customer_key = k.c;
    WITH {_KEYS}
    DELETE FROM {SUMMARIES} t USING k WHERE t.channel_slug = k.ch AND t.customer_key = k.c;
    INSERT INTO {DAYS} (channel_slug, currency, customer_key, day, revenue, orders,
                        discount_orders, first_day, prev_day)
    WITH {_KEYS}, o AS ({_COUNTED})
    SELECT channel_slug, currency, customer_key, d, sum(a), count(*),
           count(*) FILTER (WHERE disc), first_value(d) OVER w, lag(d) OVER w
    FROM o GROUP BY channel_slug, currency, customer_key, d
    WINDOW w AS (PARTITION BY channel_slug, currency, customer_key ORDER BY d);
    INSERT INTO {SUMMARIES} (channel_slug, currency, customer_key, first_day, second_day,
                             last_day, first_order_at, last_order_at, orders, order_days,
                             revenue, repeat_revenue, discount_orders, updated_at)
    WITH {_KEYS},
    days AS (
        SELECT t.channel_slug, t.currency, t.customer_key, min(t.day) AS first_day,
               min(t.day) FILTER (WHERE t.prev_day IS NOT NULL) AS second_day,
               max(t.day) AS last_day, sum(t.orders) AS n, count(*) AS days,
               sum(t.revenue) AS rev,
               coalesce(sum(t.revenue) FILTER (WHERE t.prev_day IS NOT NULL), 0) AS repeat_rev,
               sum(t.discount_orders) AS disc_n
        FROM k JOIN {DAYS} t ON t.channel_slug = k.ch AND t.customer_key = k.c
        GROUP BY 1, 2, 3),
    times AS (
        SELECT po.channel_slug, po.currency, po.customer_key,
               min(po.placed_at) AS first_at, max(po.placed_at) AS last_at
        FROM k JOIN {ORDERS} po ON po.channel_slug = k.ch AND po.customer_key = k.c
        WHERE po.counts AND po.net_goods_amount > 0 GROUP BY 1, 2, 3)
    SELECT channel_slug, currency, customer_key, first_day, second_day, last_day, first_at,
           last_at, n, days, rev, repeat_rev, disc_n, clock_timestamp()
    FROM days JOIN times USING (channel_slug, currency, customer_key);
    PERFORM retention_resummarise_kinds(channels, keys);
END $$;

-- Which customers a statement on the orders touched: for an update, only rows whose
-- counted facts changed (a repeated event rewrites ``recorded_at`` alone), old and new key.
CREATE OR REPLACE FUNCTION retention_keep_purchase_summaries() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    channels text[];
    keys text[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(ch), array_agg(c) INTO channels, keys FROM (
            SELECT DISTINCT channel_slug AS ch, customer_key AS c FROM new_rows
            WHERE counts AND net_goods_amount > 0) x;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(ch), array_agg(c) INTO channels, keys FROM (
            SELECT DISTINCT channel_slug AS ch, customer_key AS c FROM old_rows
            WHERE counts AND net_goods_amount > 0) x;
    ELSE
        SELECT array_agg(ch), array_agg(c) INTO channels, keys FROM (
            SELECT o.channel_slug AS ch, o.customer_key AS c
            FROM old_rows o JOIN new_rows n USING (id)
            WHERE o.counts AND o.net_goods_amount > 0
              AND (o.channel_slug, o.customer_key, o.placed_at, o.counts, o.currency,
                   o.net_goods_amount, o.used_discount)
                  IS DISTINCT FROM (n.channel_slug, n.customer_key, n.placed_at, n.counts,
                                    n.currency, n.net_goods_amount, n.used_discount)
            UNION
            SELECT n.channel_slug, n.customer_key
            FROM old_rows o JOIN new_rows n USING (id)
            WHERE n.counts AND n.net_goods_amount > 0
              AND (o.channel_slug, o.customer_key, o.placed_at, o.counts, o.currency,
                   o.net_goods_amount, o.used_discount)
                  IS DISTINCT FROM (n.channel_slug, n.customer_key, n.placed_at, n.counts,
                                    n.currency, n.net_goods_amount, n.used_discount)) x;
    END IF;
    IF keys IS NOT NULL THEN
        PERFORM retention_resummarise(channels, keys);
    END IF;
    RETURN NULL;
END $$;

-- Lines are replaced (deleted and inserted) when an order is recorded again.
CREATE OR REPLACE FUNCTION retention_keep_purchase_kinds() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    channels text[];
    keys text[];
BEGIN
    IF TG_OP = 'DELETE' THEN
        SELECT array_agg(ch), array_agg(c) INTO channels, keys FROM (
            SELECT DISTINCT po.channel_slug AS ch, po.customer_key AS c
            FROM old_rows l JOIN {ORDERS} po ON po.id = l.order_id
            WHERE po.counts AND po.net_goods_amount > 0) x;
    ELSE
        SELECT array_agg(ch), array_agg(c) INTO channels, keys FROM (
            SELECT DISTINCT po.channel_slug AS ch, po.customer_key AS c
            FROM new_rows l JOIN {ORDERS} po ON po.id = l.order_id
            WHERE po.counts AND po.net_goods_amount > 0) x;
    END IF;
    IF keys IS NOT NULL THEN
        PERFORM retention_resummarise_kinds(channels, keys);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER retention_purchase_summaries_insert AFTER INSERT ON {ORDERS}
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION retention_keep_purchase_summaries();
CREATE TRIGGER retention_purchase_summaries_update AFTER UPDATE ON {ORDERS}
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION retention_keep_purchase_summaries();
CREATE TRIGGER retention_purchase_summaries_delete AFTER DELETE ON {ORDERS}
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION retention_keep_purchase_summaries();
CREATE TRIGGER retention_purchase_kinds_insert AFTER INSERT ON {LINES}
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION retention_keep_purchase_kinds();
CREATE TRIGGER retention_purchase_kinds_update AFTER UPDATE ON {LINES}
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION retention_keep_purchase_kinds();
CREATE TRIGGER retention_purchase_kinds_delete AFTER DELETE ON {LINES}
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION retention_keep_purchase_kinds();

SELECT retention_resummarise(array_agg(channel_slug), array_agg(customer_key))
FROM (SELECT DISTINCT channel_slug, customer_key FROM {ORDERS}
      WHERE counts AND net_goods_amount > 0) x;
"""

FORGET = f"""
DROP TRIGGER IF EXISTS retention_purchase_summaries_insert ON {ORDERS};
DROP TRIGGER IF EXISTS retention_purchase_summaries_update ON {ORDERS};
DROP TRIGGER IF EXISTS retention_purchase_summaries_delete ON {ORDERS};
DROP TRIGGER IF EXISTS retention_purchase_kinds_insert ON {LINES};
DROP TRIGGER IF EXISTS retention_purchase_kinds_update ON {LINES};
DROP TRIGGER IF EXISTS retention_purchase_kinds_delete ON {LINES};
DROP FUNCTION IF EXISTS retention_keep_purchase_summaries();
DROP FUNCTION IF EXISTS retention_keep_purchase_kinds();
DROP FUNCTION IF EXISTS retention_resummarise(text[], text[]);
DROP FUNCTION IF EXISTS retention_resummarise_kinds(text[], text[]);
DROP FUNCTION IF EXISTS retention_lock_customers(text[], text[], text);
"""


def keep_summaries(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(KEEP)


def forget_summaries(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORGET)


class Migration(migrations.Migration):

    dependencies = [
        ('saleor_retention_plugin', '0017_cart_conversions'),
    ]

    operations = [
        migrations.CreateModel(
            name='PurchaseSummaryZone',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('channel_slug', models.SlugField(max_length=255, unique=True)),
                ('tz', models.CharField(max_length=64)),
            ],
        ),
        migrations.CreateModel(
            name='SegmentFit',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('channel_slug', models.SlugField(max_length=255, unique=True)),
                ('currency', models.CharField(max_length=3)),
                ('tz', models.CharField(max_length=64)),
                ('as_of', models.DateField()),
                ('fitted_at', models.DateTimeField()),
                ('customers', models.PositiveIntegerField()),
                ('repeat_customers', models.PositiveIntegerField()),
                ('distinct_rows', models.PositiveIntegerField()),
                ('horizon_weeks', models.PositiveIntegerField()),
                ('bg_nbd', models.JSONField(blank=True, null=True)),
                ('gamma_gamma', models.JSONField(blank=True, null=True)),
                ('unavailable', models.TextField(blank=True, default='')),
                ('fit_seconds', models.FloatField(default=0)),
            ],
        ),
        migrations.AddField(
            model_name='customersegment',
            name='expected_orders',
            field=models.FloatField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='customersegment',
            name='expected_value',
            field=models.FloatField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='customersegment',
            name='probability_alive',
            field=models.FloatField(blank=True, null=True),
        ),
        migrations.CreateModel(
            name='PurchaseDay',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('channel_slug', models.SlugField(max_length=255)),
                ('currency', models.CharField(max_length=3)),
                ('customer_key', models.CharField(max_length=300)),
                ('day', models.DateField()),
                ('revenue', models.DecimalField(decimal_places=2, max_digits=16)),
                ('orders', models.PositiveIntegerField()),
                ('discount_orders', models.PositiveIntegerField()),
                ('first_day', models.DateField()),
                ('prev_day', models.DateField(blank=True, null=True)),
            ],
            options={
                'indexes': [models.Index(fields=['channel_slug', 'currency', 'day'], name='retention_purchase_day_idx')],
                'constraints': [models.UniqueConstraint(fields=('channel_slug', 'customer_key', 'currency', 'day'), name='retention_purchase_day_once')],
            },
        ),
        migrations.CreateModel(
            name='PurchaseKindDay',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('channel_slug', models.SlugField(max_length=255)),
                ('currency', models.CharField(max_length=3)),
                ('customer_key', models.CharField(max_length=300)),
                ('dimension', models.CharField(max_length=16)),
                ('kind', models.CharField(max_length=64)),
                ('day', models.DateField()),
                ('prev_day', models.DateField(blank=True, null=True)),
            ],
            options={
                'indexes': [models.Index(fields=['channel_slug', 'currency', 'dimension', 'day'], name='retention_kind_day_idx')],
                'constraints': [models.UniqueConstraint(fields=('channel_slug', 'customer_key', 'currency', 'dimension', 'kind', 'day'), name='retention_purchase_kind_day_once')],
            },
        ),
        migrations.CreateModel(
            name='PurchaseSummary',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('channel_slug', models.SlugField(max_length=255)),
                ('currency', models.CharField(max_length=3)),
                ('customer_key', models.CharField(max_length=300)),
                ('first_day', models.DateField()),
                ('second_day', models.DateField(blank=True, null=True)),
                ('last_day', models.DateField()),
                ('first_order_at', models.DateTimeField()),
                ('last_order_at', models.DateTimeField()),
                ('orders', models.PositiveIntegerField()),
                ('order_days', models.PositiveIntegerField()),
                ('revenue', models.DecimalField(decimal_places=2, max_digits=16)),
                ('repeat_revenue', models.DecimalField(decimal_places=2, max_digits=16)),
                ('discount_orders', models.PositiveIntegerField()),
                ('updated_at', models.DateTimeField()),
            ],
            options={
                'indexes': [models.Index(fields=['channel_slug', 'updated_at'], name='retention_summary_updated_idx')],
                'constraints': [models.UniqueConstraint(fields=('channel_slug', 'customer_key', 'currency'), name='retention_purchase_summary_once')],
            },
        ),
        migrations.RunPython(keep_summaries, forget_summaries),
    ]
