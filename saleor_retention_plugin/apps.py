from django.apps import AppConfig


class RetentionConfig(AppConfig):
    name = "saleor_retention_plugin"
    label = "saleor_retention_plugin"
    verbose_name = "Retention: loyalty points, tiers and reminders"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import flow_registry, metadata_display, receivers, schedule

        flow_registry.register_flows()
        schedule.register_periodic_tasks()
        receivers.connect_customer_receivers()
        receivers.connect_service_receivers()
        metadata_display.connect()
