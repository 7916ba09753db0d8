# Kept state of the replenishment and win-back flows (next run-out, dormancy) and the
# co-purchase pairs of recommendations, rebuilt by periodic refreshes; lines indexed by product.

from django.db import migrations, models

from saleor_retention_plugin.models.constraints import check_constraint


class Migration(migrations.Migration):

    dependencies = [
        ('saleor_retention_plugin', '0009_customer_segments'),
    ]

    operations = [
        migrations.CreateModel(
            name='CoPurchasePair',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('channel_slug', models.SlugField(max_length=255)),
                ('product_a', models.CharField(max_length=64)),
                ('product_b', models.CharField(max_length=64)),
                ('support', models.PositiveIntegerField()),
                ('confidence', models.FloatField()),
                ('lift', models.FloatField()),
                ('computed_at', models.DateTimeField()),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('channel_slug', 'product_a', 'product_b'), name='retention_copurchase_once'), check_constraint(condition=models.Q(('product_a', models.F('product_b')), _negated=True), name='retention_copurchase_two_products'), check_constraint(condition=models.Q(('support__gte', 1), ('confidence__gt', 0), ('confidence__lte', 1), ('lift__gt', 0)), name='retention_copurchase_measures')],
            },
        ),
        migrations.CreateModel(
            name='ReplenishmentDue',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('channel_slug', models.SlugField(max_length=255)),
                ('customer_key', models.CharField(max_length=300)),
                ('customer_id', models.BigIntegerField(blank=True, null=True)),
                ('email', models.CharField(blank=True, max_length=254, null=True)),
                ('product_id', models.CharField(max_length=64)),
                ('last_order_id', models.CharField(max_length=64)),
                ('last_purchased_at', models.DateTimeField()),
                ('last_quantity', models.PositiveIntegerField()),
                ('purchases', models.PositiveIntegerField()),
                ('interval_days', models.FloatField()),
                ('interval_source', models.CharField(max_length=16)),
                ('run_out_at', models.DateTimeField()),
                ('due_at', models.DateTimeField()),
                ('computed_at', models.DateTimeField()),
            ],
            options={
                'indexes': [models.Index(fields=['channel_slug', 'due_at'], name='retention_replenish_due_idx')],
                'constraints': [models.UniqueConstraint(fields=('channel_slug', 'customer_key', 'product_id'), name='retention_replenish_one_per_product'), check_constraint(condition=models.Q(('interval_days__gt', 0)), name='retention_replenish_interval_positive'), check_constraint(condition=models.Q(('due_at__gte', models.F('last_purchased_at'))), name='retention_replenish_due_after_purchase'), check_constraint(condition=models.Q(('customer_key__startswith', 'anonymised:'), _negated=True), name='retention_replenish_not_anonymised')],
            },
        ),
        migrations.CreateModel(
            name='WinbackDue',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('channel_slug', models.SlugField(max_length=255)),
                ('customer_key', models.CharField(max_length=300)),
                ('customer_id', models.BigIntegerField(blank=True, null=True)),
                ('email', models.CharField(blank=True, max_length=254, null=True)),
                ('last_order_id', models.CharField(max_length=64)),
                ('last_order_at', models.DateTimeField()),
                ('usual_interval_days', models.FloatField(blank=True, null=True)),
                ('dormant_at', models.DateTimeField()),
                ('high_value', models.BooleanField(default=False)),
                ('price_sensitive', models.BooleanField(default=False)),
                ('computed_at', models.DateTimeField()),
            ],
            options={
                'indexes': [models.Index(fields=['channel_slug', 'dormant_at'], name='retention_winback_due_idx')],
                'constraints': [models.UniqueConstraint(fields=('channel_slug', 'customer_key'), name='retention_winback_one_per_customer'), check_constraint(condition=models.Q(('dormant_at__gt', models.F('last_order_at'))), name='retention_winback_dormant_after_order'), check_constraint(condition=models.Q(('customer_key__startswith', 'anonymised:'), _negated=True), name='retention_winback_not_anonymised')],
            },
        ),
        migrations.AddIndex(
            model_name='purchasedline',
            index=models.Index(fields=['product_id'], name='retention_purchase_product_idx'),
        ),
    ]
