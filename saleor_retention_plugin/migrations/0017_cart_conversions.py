# Cart attribution moves to the engine's one table: every CartRecovery row becomes a
# FlowConversion of the cart's enrolment (flow "cart", subject "cart:<token>"), written
# here when the cart has none, then CartRecovery is dropped. Reversible: going back
# writes CartRecovery from the cart conversions and removes what this wrote.
# Re-chained by the lead at merge.

from django.db import migrations, models
from django.db.models import Min

CART_FLOW = "cart"
VIA = {"checkout": "subject", "same_customer": "same_customer"}
VIA_BACK = {value: key for key, value in VIA.items()}


def window_start(cart, FlowMessage):
    if cart.is_holdout:
        return cart.holdout_window_starts_at
    return FlowMessage.objects.filter(cart=cart, state="sent").aggregate(at=Min("sent_at"))["at"]


def copy_recoveries(apps, schema_editor):
    CartRecovery = apps.get_model("saleor_retention_plugin", "CartRecovery")
    FlowConversion = apps.get_model("saleor_retention_plugin", "FlowConversion")
    FlowEnrolment = apps.get_model("saleor_retention_plugin", "FlowEnrolment")
    FlowMessage = apps.get_model("saleor_retention_plugin", "FlowMessage")
    for recovery in CartRecovery.objects.select_related("cart").order_by("pk").iterator():
        cart = recovery.cart
        enrolment, _ = FlowEnrolment.objects.get_or_create(
            flow=CART_FLOW,
            channel_slug=cart.channel_slug,
            subject_key=f"cart:{cart.checkout_token}",
            cycle=1,
            defaults={
                "subject_kind": "cart",
                "customer_id": cart.customer_id,
                "email": cart.email,
                "language_code": cart.language_code,
                "anchor_at": cart.abandoned_at or cart.last_activity_at,
                "state": "stopped",
                "next_step": cart.next_step,
                "next_check_at": None,
                "is_holdout": cart.is_holdout,
                "window_opens_at": window_start(cart, FlowMessage),
                "stop_reason": cart.stop_reason or "ordered",
                "stopped_at": cart.series_stopped_at or recovery.recovered_at,
            },
        )
        FlowConversion.objects.get_or_create(
            enrolment=enrolment,
            defaults={
                "flow": CART_FLOW,
                "channel_slug": recovery.channel_slug,
                "order_id": recovery.order_id,
                "revenue": recovery.revenue,
                "currency": recovery.currency,
                "step": recovery.recovered_by_step,
                "is_holdout": recovery.is_holdout,
                "via": VIA[recovery.via],
                "converted_at": recovery.recovered_at,
            },
        )


def restore_recoveries(apps, schema_editor):
    CartRecovery = apps.get_model("saleor_retention_plugin", "CartRecovery")
    FlowConversion = apps.get_model("saleor_retention_plugin", "FlowConversion")
    FlowEnrolment = apps.get_model("saleor_retention_plugin", "FlowEnrolment")
    TrackedCart = apps.get_model("saleor_retention_plugin", "TrackedCart")
    conversions = FlowConversion.objects.filter(flow=CART_FLOW).select_related("enrolment")
    for conversion in conversions.order_by("pk").iterator():
        token = conversion.enrolment.subject_key.removeprefix("cart:")
        cart = TrackedCart.objects.filter(checkout_token=token).first()
        if cart is None:
            continue
        CartRecovery.objects.get_or_create(
            cart=cart,
            defaults={
                "channel_slug": conversion.channel_slug,
                "order_id": conversion.order_id,
                "revenue": conversion.revenue,
                "currency": conversion.currency,
                "recovered_by_step": conversion.step,
                "is_holdout": conversion.is_holdout,
                "via": VIA_BACK[conversion.via],
                "recovered_at": conversion.converted_at,
            },
        )
    # The cart enrolments only ever held attribution so far: drop them with it.
    FlowEnrolment.objects.filter(flow=CART_FLOW).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("saleor_retention_plugin", "0016_campaigns"),
    ]

    operations = [
        migrations.RunPython(copy_recoveries, restore_recoveries),
        migrations.DeleteModel(name="CartRecovery"),
    ]
