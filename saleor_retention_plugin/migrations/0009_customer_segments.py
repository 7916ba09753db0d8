# Stored customer segments (new / active / dormant, RFM, price sensitivity, high value),
# rewritten by the periodic refresh_segments_task.

from django.db import migrations, models

from saleor_retention_plugin.models.constraints import check_constraint


class Migration(migrations.Migration):

    dependencies = [
        ('saleor_retention_plugin', '0008_cart_attribution'),
    ]

    operations = [
        migrations.CreateModel(
            name='CustomerSegment',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('channel_slug', models.SlugField(max_length=255)),
                ('customer_key', models.CharField(max_length=300)),
                ('segment', models.CharField(max_length=16)),
                ('cycle_days', models.PositiveIntegerField()),
                ('orders', models.PositiveIntegerField()),
                ('revenue', models.DecimalField(decimal_places=2, max_digits=16)),
                ('currency', models.CharField(max_length=3)),
                ('first_order_on', models.DateField()),
                ('last_order_on', models.DateField()),
                ('recency_score', models.PositiveSmallIntegerField()),
                ('frequency_score', models.PositiveSmallIntegerField()),
                ('monetary_score', models.PositiveSmallIntegerField()),
                ('discount_share', models.DecimalField(decimal_places=4, max_digits=5)),
                ('discount_driven', models.BooleanField()),
                ('high_value', models.BooleanField()),
                ('as_of', models.DateField()),
                ('computed_at', models.DateTimeField()),
            ],
            options={
                'indexes': [models.Index(fields=['channel_slug', 'segment'], name='retention_segment_seg_idx'), models.Index(condition=models.Q(('high_value', True)), fields=['channel_slug', 'high_value'], name='retention_segment_hv_idx')],
                'constraints': [models.UniqueConstraint(fields=('channel_slug', 'customer_key'), name='retention_segment_one_per_customer'), check_constraint(condition=models.Q(('segment__in', ('new', 'active', 'dormant'))), name='retention_segment_known_segment'), check_constraint(condition=models.Q(('recency_score__range', (1, 5)), ('frequency_score__range', (1, 5)), ('monetary_score__range', (1, 5))), name='retention_segment_scores_1_to_5'), check_constraint(condition=models.Q(('discount_share__gte', 0), ('discount_share__lte', 1)), name='retention_segment_discount_share_0_to_1'), check_constraint(condition=models.Q(('orders__gte', 1), ('revenue__gt', 0)), name='retention_segment_is_a_buyer')],
            },
        ),
    ]
