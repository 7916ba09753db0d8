"""Replenishment and win-back on the engine: fire when due, and only then, once.

Purchases go into the real purchase history, the kept due rows are rebuilt by the real
lifecycle refresh, and messages go through the real sweep, outbox and email rendering
(Django's locmem mail backend). Only the shop's catalogue (which products are still
sold, and their names) is a fake: it is the Saleor boundary.

The shop (days after 1 January 2026, noon UTC):

* replenishment: customer 1 buys tea (101) on days 0 (with cups, 102) and 30: own interval
  30 days, run-out day 60, reminder due day 57 (3 days' lead);
* win-back: customer 3 orders on days 0 and 2: usual interval 2 days, dormant on day
  2 + 14 (the minimum) = 16, steps on days 16, 30 and 46 (10%, 15%, 20% off).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.core.cache import cache

from saleor_retention_plugin.domain.holdout import is_in_holdout
from saleor_retention_plugin.models import FlowEnrolment, FlowMessage
from saleor_retention_plugin.services import consent, lifecycle, privacy
from saleor_retention_plugin.services.repurchase_flows import SCAN_EVERY
from tests.integration.tracked_links import tracked_targets

from ..lifecycle.factories import day, line, record
from ..lifecycle.factories import order as history_order
from ..lifecycle.test_winback import segment
from .cart_shop import CHANNEL, configure, sweep

pytestmark = pytest.mark.django_db
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
SOLD: set[str] = set()


class ListedProducts:
    """The shop's catalogue (the Saleor boundary): ``SOLD`` ids are sold, named "Product N"."""

    def sold(self, channel, product_ids, now):
        return SOLD & set(product_ids)

    def names(self, channel, product_ids):
        return {product_id: f"Product {product_id}" for product_id in SOLD & set(product_ids)}


@pytest.fixture(autouse=True)
def catalogue(settings):
    settings.RETENTION_PRODUCT_CATALOGUE = f"{__name__}.ListedProducts"
    SOLD.clear()
    SOLD.update({"101", "102", "103"})
    cache.clear()  # the scans' hourly gate
    yield
    SOLD.clear()
    cache.clear()


def buy(customer, at, *products, **changes):
    changes.setdefault("channel_slug", CHANNEL)
    record(history_order(customer, at, *(line(product) for product in products), **changes))


def on(**overrides):
    values = {
        "replenishment_enabled": "true",
        "winback_enabled": "true",
        "product_url_template": "https://tea.example/p/{product_id}",
        "recommendations_min_support": "1",
        **overrides,
    }
    return configure(**values)


def refresh(at, **overrides):
    lifecycle.refresh_lifecycle(CHANNEL, on(**overrides), now=at)


def sent(flow):
    return list(
        FlowMessage.objects.filter(flow=flow, state="sent")
        .order_by("step", "id")
        .values_list("recipient_email", "step")
    )


# --- replenishment -----------------------------------------------------------------------


@pytest.fixture
def tea_buyer():
    buy(1, 0, "101", "102")
    buy(1, 30, "101")
    buy(2, 10, "101", "103")  # honey goes with tea: recommended to customer 1


class TestReplenishment:
    def test_one_reminder_when_due_with_the_product_link_and_recommendations(self, tea_buyer):
        refresh(day(31), winback_enabled="false")
        assert sweep(day(56)) == []
        assert sweep(day(57) + HOUR) == ["sent"]
        [email] = mail.outbox
        assert email.to == ["c1@example.com"]
        assert email.subject == "Running low on Product 101?"
        assert ("product", "https://tea.example/p/101") in tracked_targets(email.body)
        assert "Product 103" in email.body  # bought with tea, not yet by customer 1
        assert "Product 102" not in email.body  # bought by them within 90 days
        assert sweep(day(57) + 2 * HOUR + SCAN_EVERY) == []
        assert sweep(day(63)) == []
        assert len(mail.outbox) == 1
        [enrolment] = FlowEnrolment.objects.filter(flow="replenishment", customer_id=1)
        assert enrolment.subject_key == "customer:1:product:101"
        assert enrolment.cycle == 20260131  # the anchor: the day-30 purchase

    def test_no_coupon_unless_the_merchant_sets_one(self, tea_buyer):
        refresh(day(31), winback_enabled="false")
        assert sweep(day(57) + HOUR) == ["sent"]
        assert FlowMessage.objects.get(flow="replenishment").coupon_code is None
        assert "code" not in mail.outbox[0].body

    @pytest.mark.parametrize(
        ("language", "says"),
        [("en", "(15% off, valid 10 days)"), ("zh-Hans", "(优惠 15%,10 天内有效)")],
    )
    def test_an_optional_single_use_coupon_in_the_reminder(self, tea_buyer, track, language, says):
        track(customer_id=1, email="c1@example.com", language=language, at=day(31))
        refresh(
            day(31),
            winback_enabled="false",
            cart_reminders_enabled="false",
            replenishment_coupon_discount="15%",
            replenishment_coupon_valid_days="10",
        )
        assert sweep(day(57) + HOUR) == ["sent"]
        message = FlowMessage.objects.get(flow="replenishment")
        assert message.coupon_code
        assert message.context["coupon_valid_days"] == 10
        [email] = mail.outbox
        assert message.coupon_code in email.body
        assert says in email.body
        assert sweep(day(58)) == []  # one message, one code
        assert FlowMessage.objects.filter(flow="replenishment").count() == 1

    def test_nothing_when_they_reordered_first(self, tea_buyer):
        refresh(day(31), winback_enabled="false")
        buy(1, 50, "101")  # after the refresh: the re-check sees it
        assert sweep(day(57) + HOUR) == []
        assert not FlowEnrolment.objects.filter(flow="replenishment", customer_id=1).exists()

    def test_a_reorder_while_the_message_waits_cancels_it(self, tea_buyer):
        refresh(
            day(31), winback_enabled="false", quiet_hours_start="12:00", quiet_hours_end="20:00"
        )
        assert sweep(day(57) + HOUR) == []  # timed for the end of quiet hours
        buy(1, 57.2, "101")
        assert sweep(day(57) + 9 * HOUR) == ["cancelled:no_longer_due"]
        assert mail.outbox == []

    def test_quiet_hours_hold_it_until_morning(self, tea_buyer):
        refresh(
            day(31), winback_enabled="false", quiet_hours_start="12:00", quiet_hours_end="20:00"
        )
        assert sweep(day(57) + HOUR) == []  # timed for the end of quiet hours
        assert sweep(day(57) + 8 * HOUR) == ["sent"]
        assert len(mail.outbox) == 1

    def test_nothing_for_a_product_no_longer_sold(self, tea_buyer):
        SOLD.discard("101")
        refresh(day(31), winback_enabled="false")
        assert sweep(day(57) + HOUR) == []
        assert not FlowEnrolment.objects.filter(flow="replenishment").exists()

    def test_nothing_for_an_opted_out_customer(self, tea_buyer):
        refresh(day(31), winback_enabled="false")
        consent.record_opt_out(CHANNEL, email="c1@example.com", customer_id=1)
        sweep(day(57) + HOUR)
        assert mail.outbox == []
        assert FlowEnrolment.objects.get(customer_id=1).stop_reason == "opted_out"

    def test_nothing_for_an_anonymised_customer(self, tea_buyer):
        refresh(day(31), winback_enabled="false")
        privacy.anonymise_customer_everywhere(1, "c1@example.com")
        assert sweep(day(57) + HOUR) == []
        assert mail.outbox == []

    def test_nothing_when_the_flow_is_switched_off(self, tea_buyer):
        refresh(day(31), winback_enabled="false")
        on(replenishment_enabled="false", winback_enabled="false")
        assert sweep(day(57) + HOUR) == []
        assert mail.outbox == []

    def test_the_frequency_cap_defers_the_second_reminder_of_the_day(self):
        buy(1, 0, "101", "103")
        buy(1, 30, "101", "103")
        refresh(day(31), winback_enabled="false", frequency_cap_hours="24")
        assert sorted(sweep(day(57) + HOUR)) == ["deferred:frequency_cap", "sent"]
        assert sweep(day(58) + 2 * HOUR) == ["sent"]
        assert len(mail.outbox) == 2

    def test_the_holdout_gets_nothing(self):
        held = next(
            customer
            for customer in range(1, 200)
            if is_in_holdout(
                f"customer:{customer}:product:101:20260131",
                salt=f"replenishment-holdout:{CHANNEL}",
                percent=50,
            )
        )
        buy(held, 0, "101")
        buy(held, 30, "101")
        refresh(day(31), winback_enabled="false", holdout_percent="50")
        assert sweep(day(57) + HOUR) == []
        assert FlowEnrolment.objects.get(flow="replenishment").is_holdout
        assert mail.outbox == []

    def test_it_speaks_the_language_they_shop_in(self, tea_buyer, track):
        track(customer_id=1, email="c1@example.com", language="zh-Hans", at=day(31))
        refresh(day(31), winback_enabled="false", cart_reminders_enabled="false")
        assert sweep(day(57) + HOUR) == ["sent"]
        assert mail.outbox[0].subject == "您的Product 101快用完了吗?"

    def test_the_scan_looks_once_an_hour_and_catches_up_the_next(self, tea_buyer):
        refresh(day(31), winback_enabled="false")
        assert sweep(day(57) + 5 * MINUTE) == ["sent"]  # customer 1
        buy(5, 0, "101")
        buy(5, 30, "101")
        refresh(day(57) + 6 * MINUTE, winback_enabled="false")  # customer 5: due at noon
        assert sweep(day(57) + 10 * MINUTE) == []  # this hour's scan already ran
        assert sweep(day(57) + HOUR) == ["sent"]
        assert [email.to for email in mail.outbox] == [["c1@example.com"], ["c5@example.com"]]

    def test_a_guest_is_reminded_by_email_and_keyed_by_its_digest(self):
        buy(None, 0, "101")
        buy(None, 30, "101")
        refresh(day(31), winback_enabled="false")
        assert sweep(day(57) + HOUR) == ["sent"]
        assert mail.outbox[0].to == ["guest@example.com"]
        enrolment = FlowEnrolment.objects.get(flow="replenishment")
        assert "guest@" not in enrolment.subject_key


# --- win-back ----------------------------------------------------------------------------


@pytest.fixture
def quiet_customer():
    buy(3, 0, "101")
    buy(3, 2, "101")


def winback_refresh(at=None, **overrides):
    refresh(at or day(10), replenishment_enabled="false", **overrides)


class TestWinback:
    def test_three_escalating_steps_with_a_new_coupon_each(self, quiet_customer):
        winback_refresh()
        assert sweep(day(15)) == []
        assert sweep(day(16) + HOUR) == ["sent"]
        assert sweep(day(29)) == []
        assert sweep(day(30) + HOUR) == ["sent"]
        assert sweep(day(46) + HOUR) == ["sent"]
        assert sweep(day(80)) == []
        subjects = [email.subject for email in mail.outbox]
        assert subjects == [
            "We miss you, with 10% off",
            "It has been a while: something for you, with 15% off",
            "One last note from us, with 20% off",
        ]
        codes = list(
            FlowMessage.objects.filter(flow="winback").values_list("coupon_code", flat=True)
        )
        assert len(set(codes)) == 3
        assert all(codes)
        assert str(codes[0]) in str(mail.outbox[0].body)
        assert FlowEnrolment.objects.get(flow="winback").state == "completed"

    def test_high_value_customers_get_the_perk_and_no_coupon(self, quiet_customer):
        stored = segment(3, high_value=True, driven=True)  # both: the perk wins
        stored.channel_slug = CHANNEL
        stored.save()
        winback_refresh(winback_perk="A private tasting")
        assert sweep(day(16) + HOUR) == ["sent"]
        assert "A private tasting" in mail.outbox[0].body
        assert FlowMessage.objects.get(flow="winback").coupon_code is None

    def test_an_order_stops_the_series(self, quiet_customer):
        winback_refresh()
        assert sweep(day(16) + HOUR) == ["sent"]
        buy(3, 20, "101")
        assert sweep(day(30) + HOUR) == []
        assert sweep(day(46) + HOUR) == []
        assert len(mail.outbox) == 1
        assert FlowEnrolment.objects.get(flow="winback").stop_reason == "no_longer_due"

    def test_a_sweep_that_was_down_sends_only_the_latest_step(self, quiet_customer):
        winback_refresh(winback_step_days="0, 3, 30")  # steps on days 16, 19, 46
        assert sweep(day(20)) == ["sent"]
        assert sent("winback") == [("c3@example.com", 2)]
        assert sweep(day(21)) == []
        assert sweep(day(46) + HOUR) == ["sent"]
        assert sent("winback") == [("c3@example.com", 2), ("c3@example.com", 3)]

    def test_nothing_for_an_opted_out_or_anonymised_customer(self, quiet_customer):
        buy(4, 0, "101")
        buy(4, 2, "101")
        winback_refresh()
        consent.record_opt_out(CHANNEL, email="c3@example.com", customer_id=3)
        privacy.anonymise_customer_everywhere(4, "c4@example.com")
        assert sweep(day(16) + HOUR) == []
        assert mail.outbox == []

    def test_nothing_when_the_flow_is_switched_off(self, quiet_customer):
        winback_refresh()
        on(replenishment_enabled="false", winback_enabled="false")
        assert sweep(day(16) + HOUR) == []

    def test_a_fixed_discount_names_the_currency(self, quiet_customer):
        winback_refresh(winback_step_discounts="5, 10, 20")
        assert sweep(day(16) + HOUR) == ["sent"]
        assert mail.outbox[0].subject == "We miss you, with 5 USD off"
        message = FlowMessage.objects.get(flow="winback")
        assert message.context["coupon_discount"] == "5.00 USD"
        assert message.context["coupon_valid_days"] == 14  # until the next step


def test_a_quarter_of_daily_refreshes_and_sweeps_sends_each_message_once(tea_buyer, quiet_customer):
    """Both flows over 90 days: the refresh daily, the sweep every six hours.

    Expected from the rules: customer 3's tea (own interval 2 days) is due on day 2,
    customer 1's on day 57; customer 3 goes dormant on day 16 (steps 16, 30, 46);
    customer 1 only on day 90 (usual interval 30) and customer 2 (one order) on day 100.
    """
    for n in range(90):
        refresh(day(n))
        for hours in (0, 6, 12, 18):
            sweep(day(n) + timedelta(hours=hours, minutes=1))
    assert sorted(sent("replenishment")) == [("c1@example.com", 1), ("c3@example.com", 1)]
    assert sent("winback") == [("c3@example.com", 1), ("c3@example.com", 2), ("c3@example.com", 3)]
    assert len(mail.outbox) == 5
