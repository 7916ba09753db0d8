"""Staff campaigns (issue 10): one row per campaign; sending is the engine's."""

from django.db import migrations, models

from saleor_retention_plugin.models.constraints import check_constraint


class Migration(migrations.Migration):
    dependencies = [
        ("saleor_retention_plugin", "0015_kept_account_totals"),
    ]

    operations = [
        migrations.CreateModel(
            name="Campaign",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("channel_slug", models.SlugField(max_length=255)),
                ("name", models.CharField(max_length=255)),
                ("segment", models.CharField(max_length=32)),
                ("channel", models.CharField(default="email", max_length=16)),
                ("send_on", models.DateField()),
                ("send_time", models.TimeField()),
                ("template", models.CharField(max_length=32)),
                ("subject", models.JSONField(blank=True, default=dict)),
                ("body", models.JSONField(blank=True, default=dict)),
                ("coupon_discount", models.CharField(blank=True, default="", max_length=16)),
                ("coupon_valid_days", models.PositiveSmallIntegerField(default=14)),
                ("holdout_percent", models.DecimalField(decimal_places=2, max_digits=5)),
                ("variant_b", models.JSONField(blank=True, default=dict)),
                (
                    "state",
                    models.CharField(
                        choices=[
                            ("scheduled", "Scheduled"),
                            ("sending", "Sending"),
                            ("sent", "Sent"),
                            ("cancelled", "Cancelled"),
                        ],
                        default="scheduled",
                        max_length=16,
                    ),
                ),
                ("enrolled_through", models.CharField(blank=True, default="", max_length=300)),
                ("enrolment_done", models.BooleanField(default=False)),
                ("enrolled", models.PositiveIntegerField(default=0)),
                ("created_by", models.CharField(blank=True, default="", max_length=128)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("cancelled_at", models.DateTimeField(blank=True, null=True)),
                ("sent_at", models.DateTimeField(blank=True, null=True)),
            ],
            options={
                "indexes": [
                    models.Index(fields=["state", "send_on"], name="retention_campaign_due_idx"),
                    models.Index(
                        fields=["channel_slug", "send_on"], name="retention_campaign_chan_idx"
                    ),
                ],
                "constraints": [
                    check_constraint(
                        condition=models.Q(
                            ("state__in", ["scheduled", "sending", "sent", "cancelled"])
                        ),
                        name="retention_campaign_state_valid",
                    ),
                    check_constraint(
                        condition=models.Q(
                            ("holdout_percent__gte", 0), ("holdout_percent__lte", 50)
                        ),
                        name="retention_campaign_holdout_0_to_50",
                    ),
                ],
            },
        ),
    ]
