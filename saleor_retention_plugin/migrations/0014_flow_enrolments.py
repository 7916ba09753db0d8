# The flow engine: enrolments (one per flow, channel, subject, cycle), conversions,
# and outbox rows pointing at their enrolment. Re-chained by the lead at merge.

import django.db.models.deletion
from django.db import migrations, models

from saleor_retention_plugin.models.constraints import check_constraint


class Migration(migrations.Migration):

    dependencies = [
        ('saleor_retention_plugin', '0013_care_reviews_birthdays_member_days'),
    ]

    operations = [
        migrations.CreateModel(
            name='FlowEnrolment',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('flow', models.CharField(max_length=64)),
                ('channel_slug', models.SlugField(max_length=255)),
                ('subject_kind', models.CharField(choices=[('customer', 'A customer'), ('order', 'An order'), ('cart', 'A cart'), ('customer_product', 'A customer and a product')], max_length=16)),
                ('subject_key', models.CharField(max_length=191)),
                ('cycle', models.PositiveIntegerField(default=1)),
                ('customer_id', models.BigIntegerField(blank=True, null=True)),
                ('email', models.CharField(blank=True, max_length=254, null=True)),
                ('language_code', models.CharField(default='en', max_length=35)),
                ('anchor_at', models.DateTimeField()),
                ('data', models.JSONField(blank=True, default=dict)),
                ('state', models.CharField(choices=[('active', 'Active'), ('completed', 'Every step done'), ('stopped', 'Stopped (see stop_reason)')], default='active', max_length=16)),
                ('next_step', models.PositiveSmallIntegerField(default=1)),
                ('next_check_at', models.DateTimeField(blank=True, null=True)),
                ('is_holdout', models.BooleanField(default=False)),
                ('variant', models.CharField(blank=True, default='', max_length=16)),
                ('window_opens_at', models.DateTimeField(blank=True, null=True)),
                ('failures', models.PositiveSmallIntegerField(default=0)),
                ('leased_by', models.CharField(blank=True, default='', max_length=128)),
                ('stop_reason', models.CharField(blank=True, default='', max_length=64)),
                ('stopped_at', models.DateTimeField(blank=True, null=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
            ],
            options={
                'indexes': [models.Index(condition=models.Q(('next_check_at__isnull', False), ('state', 'active')), fields=['flow', 'next_check_at'], name='retention_enrol_due_idx'), models.Index(fields=['channel_slug', 'customer_id'], name='retention_enrol_customer_idx'), models.Index(fields=['channel_slug', 'email'], name='retention_enrol_email_idx')],
                'constraints': [models.UniqueConstraint(fields=('flow', 'channel_slug', 'subject_key', 'cycle'), name='retention_one_enrolment_per_subject'), check_constraint(condition=models.Q(('state__in', ['active', 'completed', 'stopped'])), name='retention_enrolment_state_valid'), check_constraint(condition=models.Q(('subject_kind__in', ['customer', 'order', 'cart', 'customer_product'])), name='retention_enrolment_subject_kind_valid'), check_constraint(condition=models.Q(('next_step__gte', 1)), name='retention_enrolment_step_from_one'), check_constraint(condition=models.Q(('cycle__gte', 1)), name='retention_enrolment_cycle_from_one'), check_constraint(condition=models.Q(('state', 'active'), ('next_check_at__isnull', True), _connector='OR'), name='retention_enrolment_only_active_is_due'), check_constraint(condition=models.Q(models.Q(('state', 'stopped'), _negated=True), models.Q(('stop_reason', ''), _negated=True), _connector='OR'), name='retention_enrolment_stopped_with_a_reason')],
            },
        ),
        migrations.AddField(
            model_name='flowmessage',
            name='enrolment',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='messages', to='saleor_retention_plugin.flowenrolment'),
        ),
        migrations.CreateModel(
            name='FlowConversion',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('flow', models.CharField(max_length=64)),
                ('channel_slug', models.SlugField(max_length=255)),
                ('order_id', models.CharField(max_length=64)),
                ('revenue', models.DecimalField(decimal_places=3, max_digits=20)),
                ('currency', models.CharField(max_length=3)),
                ('step', models.PositiveSmallIntegerField(blank=True, null=True)),
                ('is_holdout', models.BooleanField()),
                ('variant', models.CharField(blank=True, default='', max_length=16)),
                ('via', models.CharField(choices=[('subject', 'The subject itself converted (the cart was completed)'), ('same_customer', 'The same customer ordered within the window')], max_length=16)),
                ('converted_at', models.DateTimeField()),
                ('enrolment', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='conversion', to='saleor_retention_plugin.flowenrolment')),
            ],
            options={
                'indexes': [models.Index(fields=['flow', 'channel_slug', 'converted_at'], name='retention_conversion_idx'), models.Index(fields=['order_id'], name='retention_convert_order_idx')],
                'constraints': [check_constraint(condition=models.Q(('revenue__gte', 0)), name='retention_conversion_revenue_not_negative'), check_constraint(condition=models.Q(('is_holdout', False), ('step__isnull', True), _connector='OR'), name='retention_holdout_conversion_has_no_step')],
            },
        ),
    ]
