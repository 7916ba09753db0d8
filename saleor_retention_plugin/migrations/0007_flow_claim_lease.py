# Claims with a worker lease: a dead worker's unsent claims are taken over in about a
# minute instead of the 15-minute claim timeout (services/flows.py explains the design).

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('saleor_retention_plugin', '0006_purchase_history'),
    ]

    operations = [
        migrations.AddField(
            model_name='flowmessage',
            name='claimed_by',
            field=models.CharField(blank=True, default='', max_length=128),
        ),
        migrations.AddField(
            model_name='flowmessage',
            name='lease_expires_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='flowmessage',
            name='send_started_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddIndex(
            model_name='flowmessage',
            index=models.Index(condition=models.Q(('send_started_at__isnull', True), ('state', 'claimed')), fields=['lease_expires_at'], name='retention_message_lease_idx'),
        ),
    ]
