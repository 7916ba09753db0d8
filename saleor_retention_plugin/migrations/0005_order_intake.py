"""Lifetime points and each order's tier points become net of what orders took back;
the daily tier re-evaluation visits only accounts due (``next_reevaluation_at``).

Until now ``LoyaltyAccount.lifetime_earned`` kept the points of cancelled and refunded
orders, and an order's ``QualifyingOrder.points_earned`` ignored points written off under
clamp-to-zero. Both are recomputed from the entries (only rows a take-back touched).
"""

from django.db import migrations, models
from django.db.models import Q, Sum


def net_points(entries):
    row = entries.aggregate(
        earned=Sum("points", filter=Q(kind="earn")),
        reversed=Sum("points", filter=Q(kind="reverse")),
        written_off=Sum("written_off", filter=Q(kind="reverse")),
    )
    total = (row["earned"] or 0) + (row["reversed"] or 0) - (row["written_off"] or 0)
    return max(total, 0)


def recompute_net_points(apps, schema_editor):
    LoyaltyAccount = apps.get_model("saleor_retention_plugin", "LoyaltyAccount")
    PointsEntry = apps.get_model("saleor_retention_plugin", "PointsEntry")
    QualifyingOrder = apps.get_model("saleor_retention_plugin", "QualifyingOrder")
    taken_back = PointsEntry.objects.filter(kind="reverse")
    account_ids = taken_back.values_list("account_id", flat=True).distinct()
    for account_id in list(account_ids):
        lifetime = net_points(PointsEntry.objects.filter(account_id=account_id))
        LoyaltyAccount.objects.filter(pk=account_id).update(lifetime_earned=lifetime)
    written_off = taken_back.filter(written_off__gt=0).exclude(order_id=None)
    for order_id in list(written_off.values_list("order_id", flat=True).distinct()):
        points = net_points(PointsEntry.objects.filter(order_id=order_id))
        QualifyingOrder.objects.filter(order_id=order_id).update(points_earned=points)


def every_tier_due_once(apps, schema_editor):
    # The first daily run after the upgrade evaluates everyone and sets the real moment.
    from django.utils import timezone

    CustomerTier = apps.get_model("saleor_retention_plugin", "CustomerTier")
    CustomerTier.objects.update(next_reevaluation_at=timezone.now())


class Migration(migrations.Migration):
    dependencies = [
        ("saleor_retention_plugin", "0004_cart_sweep_failures_retry_window_contact_keys"),
    ]

    operations = [
        migrations.RunPython(recompute_net_points, migrations.RunPython.noop, elidable=True),
        migrations.AddField(
            model_name="customertier",
            name="next_reevaluation_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddIndex(
            model_name="customertier",
            index=models.Index(
                condition=models.Q(("next_reevaluation_at__isnull", False)),
                fields=["channel_slug", "next_reevaluation_at"],
                name="retention_reevaluation_due_idx",
            ),
        ),
        migrations.RunPython(every_tier_due_once, migrations.RunPython.noop, elidable=True),
    ]
