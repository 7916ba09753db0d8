"""Post-purchase care on the engine: day 3, 7, 15 and 30 after the fulfilment, once each.

Only while the order still counts; after an outage only the newest overdue step.

Orders go through the real order intake, messages through the real outbox and email
rendering (Django's locmem mail backend).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core import mail

from saleor_retention_plugin.delivery.rating_links import read_rating_token
from saleor_retention_plugin.domain.holdout import is_in_holdout
from saleor_retention_plugin.models import FlowEnrolment, FlowMessage, SatisfactionRating
from saleor_retention_plugin.services import consent, privacy
from saleor_retention_plugin.services.recommendations import refresh_co_purchases
from tests.integration.carts.cart_shop import CHANNEL, T0, sweep
from tests.integration.tracked_links import tracked_targets

from .shop import care_on, order, refulfil, sent

pytestmark = pytest.mark.django_db
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)


def fulfilled(customer_id=7, *, at=T0, **kwargs):
    placed = order(customer_id, at=at - DAY, **kwargs)
    return refulfil(placed, at)


def sweep_days(first, last, *, hour=HOUR):
    outcomes = []
    for day in range(first, last + 1):
        outcomes += sweep(T0 + day * DAY + hour)
    return outcomes


class TestSeries:
    def test_four_steps_on_their_days_with_their_content(self):
        care_on(product_url_template="https://tea.example/p/{product_id}")
        # Others bought tea with a teapot: the related step recommends the teapot.
        for customer in (20, 21):
            order(customer, at=T0 - 10 * DAY, products=("tea", "teapot"))
        refresh_co_purchases(CHANNEL, min_support=2, now=T0)
        placed = fulfilled()
        assert sweep(T0 + 2 * DAY) == []
        assert sweep(T0 + 3 * DAY) == ["sent"]
        rating = mail.outbox[-1]
        assert "How was your order" in rating.body
        # Each rating link goes through the click redirect, to the signed rating page.
        urls = [target for kind, target in tracked_targets(rating.body) if kind == "rating"]
        assert len(urls) == 5
        token = parse_qs(urlsplit(urls[0]).query)["token"][0]
        link = read_rating_token(token, now=T0 + 3 * DAY)
        assert (link.order_id, link.score) == (placed.order_id, 1)

        assert sweep_days(4, 6) == []
        assert sweep(T0 + 7 * DAY) == ["sent"]
        assert "review" in mail.outbox[-1].body

        assert sweep(T0 + 15 * DAY) == ["sent"]
        assert ("product", "https://tea.example/p/teapot") in tracked_targets(mail.outbox[-1].body)

        assert sweep(T0 + 30 * DAY) == ["sent"]
        coupon = FlowMessage.objects.get(flow="care", step=4).coupon_code
        assert coupon
        assert coupon in mail.outbox[-1].body
        assert "10% off" in mail.outbox[-1].body
        assert sweep_days(31, 70) == []
        assert [step for _, step, _ in sent("care")] == [1, 2, 3, 4]
        assert FlowEnrolment.objects.get(flow="care").state == "completed"

    def test_no_recommendations_leave_the_block_out_but_send_the_step(self):
        care_on(care_steps="related:15")
        fulfilled()
        assert sweep(T0 + 15 * DAY) == ["sent"]
        assert "Picked for you" in mail.outbox[0].body
        assert "- " not in mail.outbox[0].body.split("--")[0]

    def test_after_an_outage_only_the_newest_overdue_step_goes(self):
        care_on()
        fulfilled()
        assert sweep(T0 + 16 * DAY) == ["sent"]  # days 3 and 7 were missed
        assert [step for _, step, _ in sent("care")] == [3]
        assert sweep(T0 + 30 * DAY) == ["sent"]
        assert [step for _, step, _ in sent("care")] == [3, 4]

    def test_an_outage_past_the_last_step_sends_nothing_stale(self):
        care_on()
        fulfilled()
        assert sweep(T0 + 90 * DAY) == []
        assert sent() == []

    def test_a_rated_order_skips_the_satisfaction_check(self):
        care_on()
        placed = fulfilled()
        SatisfactionRating.objects.create(
            channel_slug=CHANNEL, order_id=placed.order_id, customer_id=7, score=5, rated_at=T0
        )
        assert sweep(T0 + 3 * DAY) == []
        assert sweep(T0 + 7 * DAY) == ["sent"]
        assert [step for _, step, _ in sent("care")] == [2]

    def test_rated_between_schedule_and_send_cancels_the_check(self):
        care_on(quiet_hours_start="08:00", quiet_hours_end="12:00")
        placed = fulfilled()
        assert sweep(T0 + 3 * DAY) == []  # timed for the end of quiet hours; T0 is 09:00 UTC
        SatisfactionRating.objects.create(
            channel_slug=CHANNEL, order_id=placed.order_id, customer_id=7, score=4, rated_at=T0
        )
        assert sweep(T0 + 3 * DAY + 4 * HOUR) == ["cancelled:rated_already"]
        assert mail.outbox == []


class TestWhenNot:
    @pytest.mark.parametrize(
        "change",
        [{"status": "canceled"}, {"refunded_amount": Decimal("120")}],
        ids=["cancelled", "refunded"],
    )
    def test_a_cancelled_or_refunded_order_gets_no_care(self, change):
        care_on()
        placed = fulfilled()
        refulfil(placed, T0 + DAY, **change)
        assert sweep_days(2, 40) == []
        assert FlowEnrolment.objects.get().stop_reason == "order_not_counted"

    def test_refunded_between_schedule_and_send(self):
        care_on(quiet_hours_start="08:00", quiet_hours_end="12:00")
        placed = fulfilled()
        assert sweep(T0 + 3 * DAY) == []  # timed for the end of quiet hours
        refulfil(placed, T0 + 3 * DAY + HOUR, refunded_amount=Decimal("120"))
        assert sweep(T0 + 3 * DAY + 4 * HOUR) == ["cancelled:order_not_counted"]

    def test_an_unfulfilled_order_starts_nothing(self):
        care_on()
        order(at=T0)
        assert not FlowEnrolment.objects.filter(flow="care").exists()

    def test_an_old_order_seen_again_after_care_was_switched_on(self):
        placed = fulfilled(at=T0 - 40 * DAY)  # care off then
        care_on()
        refulfil(placed, T0)  # a later update: the intake sees it fulfilled again
        assert not FlowEnrolment.objects.filter(flow="care").exists()
        fulfilled(8, at=T0 + 29 * DAY, order_id="o-slow")  # placed 1 day before: cared for
        assert FlowEnrolment.objects.filter(flow="care").count() == 1

    def test_a_fulfilment_older_than_the_series_starts_nothing(self):
        care_on()
        placed = order(at=T0 - 41 * DAY)
        # Fulfilled 40 days ago, seen only now (a backfill, a late re-sync): every step
        # would be late.
        refulfil(placed, T0, fulfilled_at=T0 - 40 * DAY)
        assert not FlowEnrolment.objects.filter(flow="care").exists()

    def test_off_in_the_channel(self):
        fulfilled()  # care_enabled defaults to false
        assert not FlowEnrolment.objects.exists()
        care_on()
        fulfilled(8, order_id="o-8")
        care_on(care_enabled="false")
        assert sweep_days(3, 31) == []

    def test_opted_out(self):
        care_on()
        consent.record_opt_out(CHANNEL, customer_id=7)
        fulfilled()
        assert sweep_days(3, 31) == []
        assert FlowEnrolment.objects.get().stop_reason == "opted_out"

    def test_anonymised(self):
        care_on()
        fulfilled()
        privacy.anonymise_customer_everywhere(7, "c7@example.com")
        assert sweep_days(3, 31) == []
        assert mail.outbox == []

    def test_the_holdout_gets_nothing_but_is_measured(self):
        care_on(holdout_percent="50")
        held = next(
            n
            for n in range(100, 300)
            if is_in_holdout(f"order:o-{n}:1", salt=f"care-holdout:{CHANNEL}", percent=50)
        )
        fulfilled(held, order_id=f"o-{held}")
        assert sweep_days(3, 31) == []
        enrolment = FlowEnrolment.objects.get()
        assert enrolment.is_holdout
        assert enrolment.window_opens_at == T0 + 3 * DAY + HOUR

    def test_capped_steps_wait(self):
        care_on(frequency_cap_hours="72")
        fulfilled()
        assert sweep(T0 + 3 * DAY) == ["sent"]
        fulfilled(at=T0 + 4 * DAY, order_id="o-second")  # its own series
        # Day 7 of the first (review) and day 3 of the second (rating) meet: one waits.
        assert sorted(sweep(T0 + 7 * DAY)) == ["deferred:frequency_cap", "sent"]
        waiting = FlowMessage.objects.get(state="deferred")
        assert waiting.next_attempt_at == T0 + 10 * DAY
        assert sweep(T0 + 10 * DAY) == ["sent"]
        assert len(sent("care")) == 3


class TestOnce:
    def test_repeated_sweeps_and_a_redelivered_fulfilment(self):
        care_on()
        placed = fulfilled()
        refulfil(placed, T0 + HOUR)  # Saleor's hook fired again
        refulfil(placed, T0 + 2 * DAY)
        assert FlowEnrolment.objects.count() == 1
        for _ in range(3):
            sweep(T0 + 3 * DAY)
            sweep(T0 + 3 * DAY + HOUR)
        assert sent() == [("care", 1, 7)]
        assert len(mail.outbox) == 1

    def test_counted_from_the_shops_fulfilment_when_the_intake_sees_it_later(self):
        care_on()
        placed = order(at=T0 - DAY)
        # Saleor fulfilled it at T0; its task ran only five hours later (a retry).
        refulfil(placed, T0 + 5 * HOUR, fulfilled_at=T0)
        [enrolment] = FlowEnrolment.objects.filter(flow="care")
        assert enrolment.anchor_at == T0
        assert sweep(T0 + 3 * DAY - HOUR) == []
        assert sweep(T0 + 3 * DAY) == ["sent"]

    def test_counted_from_payment_when_the_shop_does_not_fulfil(self):
        care_on(care_anchor="payment", care_payment_delay_days="2")
        order(at=T0, paid=False)
        assert not FlowEnrolment.objects.exists()
        placed = order(at=T0, order_id="o-1", paid=False)
        order(at=T0, order_id=placed.order_id, now=T0 + DAY)  # paid a day later
        order(at=T0, order_id=placed.order_id, now=T0 + 2 * DAY)  # the hook again
        [enrolment] = FlowEnrolment.objects.all()
        assert enrolment.anchor_at == T0 + 3 * DAY
        assert sweep(T0 + 5 * DAY) == []
        assert sweep(T0 + 6 * DAY) == ["sent"]
