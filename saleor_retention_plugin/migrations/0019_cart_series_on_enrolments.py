# The cart series moves onto the engine: each tracked cart's progress (next step, next
# check, holdout, failures, abandonment, window, stop) becomes its FlowEnrolment (flow
# "cart", subject "cart:<token>", linked by FlowEnrolment.cart), cart messages point at
# that enrolment instead of the cart, and TrackedCart keeps only the cart's own facts
# (its state: open, converted, or forgotten when its customer was deleted).
# Reversible: going back writes the progress onto the carts again, points the messages at
# their carts, and keeps only the enrolments 0017 had (converted carts with a conversion).
# Re-chained by the lead at merge.

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import Case, IntegerField, Value, When

from saleor_retention_plugin.models.constraints import check_constraint

CART_FLOW = "cart"
BATCH = 2000


def _key(cart):
    return f"cart:{cart.checkout_token}"


def _series(cart):
    """The cart's progress, as its enrolment's fields."""
    if cart.state == "open":
        state, reason, stopped_at = "active", "", None
    else:  # converted, or closed (stopped for good, see stop_reason)
        state = "stopped"
        reason = cart.stop_reason or ("cart_ordered" if cart.state == "converted" else "closed")
        stopped_at = cart.series_stopped_at or cart.updated_at
    return {
        "subject_kind": "cart",
        "cart_id": cart.pk,
        "customer_id": cart.customer_id,
        "email": cart.email,
        "language_code": cart.language_code,
        "anchor_at": cart.last_activity_at,
        "data": {"abandoned_at": cart.abandoned_at.isoformat()} if cart.abandoned_at else {},
        "state": state,
        "next_step": cart.next_step,
        "next_check_at": cart.next_check_at if state == "active" else None,
        "is_holdout": cart.is_holdout,
        "window_opens_at": cart.holdout_window_starts_at,
        "failures": cart.sweep_failures,
        "leased_by": "",
        "stop_reason": reason,
        "stopped_at": stopped_at,
    }


def move_series(apps, schema_editor):
    TrackedCart = apps.get_model("saleor_retention_plugin", "TrackedCart")
    FlowEnrolment = apps.get_model("saleor_retention_plugin", "FlowEnrolment")
    FlowMessage = apps.get_model("saleor_retention_plugin", "FlowMessage")
    last = 0
    while True:
        carts = list(TrackedCart.objects.filter(pk__gt=last).order_by("pk")[:BATCH])
        if not carts:
            break
        last = carts[-1].pk
        keys = {_key(cart): cart for cart in carts}
        # 0017 wrote the enrolments of converted carts (attribution): they take the progress.
        existing = {
            enrolment.subject_key: enrolment
            for enrolment in FlowEnrolment.objects.filter(
                flow=CART_FLOW, cycle=1, subject_key__in=list(keys)
            )
        }
        new = []
        for key, cart in keys.items():
            fields = _series(cart)
            enrolment = existing.get(key)
            if enrolment is None:
                new.append(
                    FlowEnrolment(
                        flow=CART_FLOW,
                        channel_slug=cart.channel_slug,
                        subject_key=key,
                        cycle=1,
                        **fields,
                    )
                )
                continue
            window = enrolment.window_opens_at  # where 0017 saw a reminded cart's window open
            for name, value in fields.items():
                setattr(enrolment, name, value)
            enrolment.window_opens_at = enrolment.window_opens_at or window
            enrolment.save()
        FlowEnrolment.objects.bulk_create(new)
        ids = dict(
            FlowEnrolment.objects.filter(flow=CART_FLOW, cart_id__in=[c.pk for c in carts])
            .order_by("pk")
            .values_list("cart_id", "pk")
        )
        if ids:
            FlowMessage.objects.filter(cart_id__in=list(ids)).update(
                enrolment_id=Case(
                    *(When(cart_id=cart_id, then=Value(pk)) for cart_id, pk in ids.items()),
                    output_field=IntegerField(),
                )
            )
    # A cart's own state: forgotten with its customer, otherwise its series' business.
    TrackedCart.objects.filter(state="closed", stop_reason="customer_deleted").update(
        state="forgotten"
    )
    TrackedCart.objects.filter(state="closed").update(state="open")
    _check_now(schema_editor)


def restore_series(apps, schema_editor):
    TrackedCart = apps.get_model("saleor_retention_plugin", "TrackedCart")
    FlowEnrolment = apps.get_model("saleor_retention_plugin", "FlowEnrolment")
    FlowMessage = apps.get_model("saleor_retention_plugin", "FlowMessage")
    from django.utils.dateparse import parse_datetime

    series = FlowEnrolment.objects.filter(flow=CART_FLOW, cart__isnull=False).select_related(
        "cart"
    )
    for enrolment in series.order_by("pk").iterator(chunk_size=BATCH):
        cart = enrolment.cart
        running = enrolment.state != "stopped"
        if cart.state == "forgotten":
            cart.state, reason = "closed", "customer_deleted"
        elif cart.state == "converted":
            reason = enrolment.stop_reason or "cart_ordered"
        else:
            cart.state = "open" if running else "closed"
            reason = "" if running else enrolment.stop_reason
        abandoned_at = (enrolment.data or {}).get("abandoned_at")
        cart.stop_reason = reason
        cart.is_holdout = enrolment.is_holdout
        cart.next_step = enrolment.next_step
        cart.next_check_at = enrolment.next_check_at if cart.state == "open" else None
        cart.abandoned_at = parse_datetime(abandoned_at) if abandoned_at else None
        cart.holdout_window_starts_at = enrolment.window_opens_at if cart.is_holdout else None
        cart.series_stopped_at = None if cart.state == "open" else enrolment.stopped_at
        cart.sweep_failures = enrolment.failures
        cart.save()
        FlowMessage.objects.filter(enrolment=enrolment).update(cart=cart, enrolment=None)
    # Before 0019 a cart's enrolment existed only to hold its conversion, stopped.
    # (Plain SQL: nothing else points at them now, and the delete collector trips over the
    # historical models' one-to-one conversion.)
    enrolments = FlowEnrolment._meta.db_table
    conversions = apps.get_model("saleor_retention_plugin", "FlowConversion")._meta.db_table
    schema_editor.execute(
        f"DELETE FROM {enrolments} WHERE flow = %s "
        f"AND id NOT IN (SELECT enrolment_id FROM {conversions})",
        [CART_FLOW],
    )
    FlowEnrolment.objects.filter(flow=CART_FLOW).exclude(state="stopped").update(
        state="stopped", stop_reason="cart_ordered", next_check_at=None
    )
    # Forgotten carts with no enrolment (none are written so, but be safe).
    TrackedCart.objects.filter(state="forgotten").update(
        state="closed", stop_reason="customer_deleted"
    )
    _check_now(schema_editor)


def _check_now(schema_editor):
    """PostgreSQL defers foreign-key checks to the commit; the columns altered next cannot
    be while those checks are pending ("pending trigger events"): run them now.
    """
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")


class Migration(migrations.Migration):

    dependencies = [
        ("saleor_retention_plugin", "0018_purchase_summaries"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="trackedcart",
            name="retention_cart_state_valid",
        ),
        migrations.RemoveConstraint(
            model_name="trackedcart",
            name="retention_cart_step_from_one",
        ),
        migrations.RemoveConstraint(
            model_name="trackedcart",
            name="retention_cart_only_open_carts_are_due",
        ),
        migrations.RemoveConstraint(
            model_name="trackedcart",
            name="retention_cart_stopped_with_a_reason",
        ),
        migrations.RemoveIndex(
            model_name="trackedcart",
            name="retention_cart_due_idx",
        ),
        migrations.AddField(
            model_name="flowenrolment",
            name="cart",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="enrolments",
                to="saleor_retention_plugin.trackedcart",
            ),
        ),
        migrations.AlterField(
            model_name="trackedcart",
            name="state",
            field=models.CharField(
                choices=[
                    ("open", "Open"),
                    ("converted", "Became an order"),
                    ("forgotten", "Customer forgotten"),
                ],
                default="open",
                max_length=16,
            ),
        ),
        migrations.RunPython(move_series, restore_series),
        migrations.RemoveField(
            model_name="flowmessage",
            name="cart",
        ),
        migrations.RemoveField(
            model_name="trackedcart",
            name="abandoned_at",
        ),
        migrations.RemoveField(
            model_name="trackedcart",
            name="holdout_window_starts_at",
        ),
        migrations.RemoveField(
            model_name="trackedcart",
            name="is_holdout",
        ),
        migrations.RemoveField(
            model_name="trackedcart",
            name="next_check_at",
        ),
        migrations.RemoveField(
            model_name="trackedcart",
            name="next_step",
        ),
        migrations.RemoveField(
            model_name="trackedcart",
            name="series_stopped_at",
        ),
        migrations.RemoveField(
            model_name="trackedcart",
            name="stop_reason",
        ),
        migrations.RemoveField(
            model_name="trackedcart",
            name="sweep_failures",
        ),
        migrations.AddConstraint(
            model_name="flowenrolment",
            constraint=check_constraint(
                condition=models.Q(("subject_kind", "cart"), ("cart__isnull", True), _connector="OR"),
                name="retention_enrolment_only_carts_name_a_cart",
            ),
        ),
        migrations.AddConstraint(
            model_name="trackedcart",
            constraint=check_constraint(
                condition=models.Q(("state__in", ["open", "converted", "forgotten"])),
                name="retention_cart_state_valid",
            ),
        ),
    ]
