"""Kept totals for the account read (issue 12).

``QualifyingMonth``: an account's qualifying orders summed per UTC calendar month, kept by
statement-level triggers on the qualifying orders (PostgreSQL) in the writer's own
transaction, and filled here from the orders already recorded. A partial index on the
open lots by availability lets the account summary read only its pending lots.

On other databases (the SQLite sandbox) no trigger is created and tier progress is read
from the orders themselves, as before.
"""

import django.db.models.deletion
from django.db import migrations, models

from saleor_retention_plugin.models.constraints import check_constraint

ORDERS = "saleor_retention_plugin_qualifyingorder"
MONTHS = "saleor_retention_plugin_qualifyingmonth"
MONTH_OF = "date_trunc('month', placed_at AT TIME ZONE 'UTC')::date"
SUMS = "count(*), sum(points_earned), sum(amount_spent)"

KEEP_MONTHS = f"""
CREATE OR REPLACE FUNCTION retention_keep_qualifying_months() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE {MONTHS} AS kept
        SET orders = kept.orders - gone.orders,
            points_earned = kept.points_earned - gone.points_earned,
            amount_spent = kept.amount_spent - gone.amount_spent
        FROM (
            SELECT account_id, {MONTH_OF} AS month,
                   count(*) AS orders, sum(points_earned) AS points_earned,
                   sum(amount_spent) AS amount_spent
            FROM old_rows GROUP BY 1, 2
        ) AS gone
        WHERE kept.account_id = gone.account_id AND kept.month = gone.month;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO {MONTHS} AS kept (account_id, month, orders, points_earned, amount_spent)
        SELECT account_id, {MONTH_OF}, {SUMS} FROM new_rows GROUP BY 1, 2
        ON CONFLICT (account_id, month) DO UPDATE
        SET orders = kept.orders + excluded.orders,
            points_earned = kept.points_earned + excluded.points_earned,
            amount_spent = kept.amount_spent + excluded.amount_spent;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER retention_qualifying_months_insert AFTER INSERT ON {ORDERS}
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION retention_keep_qualifying_months();
CREATE TRIGGER retention_qualifying_months_update AFTER UPDATE ON {ORDERS}
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION retention_keep_qualifying_months();
CREATE TRIGGER retention_qualifying_months_delete AFTER DELETE ON {ORDERS}
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION retention_keep_qualifying_months();
INSERT INTO {MONTHS} (account_id, month, orders, points_earned, amount_spent)
SELECT account_id, {MONTH_OF}, {SUMS} FROM {ORDERS} GROUP BY 1, 2;
"""

FORGET_MONTHS = f"""
DROP TRIGGER IF EXISTS retention_qualifying_months_insert ON {ORDERS};
DROP TRIGGER IF EXISTS retention_qualifying_months_update ON {ORDERS};
DROP TRIGGER IF EXISTS retention_qualifying_months_delete ON {ORDERS};
DROP FUNCTION IF EXISTS retention_keep_qualifying_months();
"""


def keep_months(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(KEEP_MONTHS)


def forget_months(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORGET_MONTHS)


class Migration(migrations.Migration):
    dependencies = [
        ("saleor_retention_plugin", "0014_flow_enrolments"),
    ]

    operations = [
        migrations.CreateModel(
            name="QualifyingMonth",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("month", models.DateField()),
                ("orders", models.BigIntegerField(default=0)),
                ("points_earned", models.BigIntegerField(default=0)),
                (
                    "amount_spent",
                    models.DecimalField(decimal_places=2, default=0, max_digits=18),
                ),
                (
                    "account",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="qualifying_months",
                        to="saleor_retention_plugin.loyaltyaccount",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("account", "month"), name="retention_qualifying_month_unique"
                    ),
                    check_constraint(
                        condition=models.Q(orders__gte=0)
                        & models.Q(points_earned__gte=0)
                        & models.Q(amount_spent__gte=0),
                        name="retention_qualifying_month_not_negative",
                    ),
                ],
            },
        ),
        migrations.AddIndex(
            model_name="pointslot",
            index=models.Index(
                condition=models.Q(remaining__gt=0),
                fields=["account", "available_at"],
                name="retention_lot_pending_idx",
            ),
        ),
        migrations.RunPython(keep_months, forget_months),
    ]
