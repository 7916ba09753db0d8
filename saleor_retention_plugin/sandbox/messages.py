"""The sandbox's lifecycle flows and campaign, a part of ``SimulatedStore``.

What the merchant schedules (birthdays on file, a member day, a campaign), what the local
mail sink received, and how customers answer what they read (``behaviour.py``'s
assumptions).
"""

from __future__ import annotations

import functools
import hashlib
import re
import weakref
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, unquote, urlsplit

from django.core import mail
from django.db.models import Q

from ..config_fields import DeliveryChannelName
from ..constants import CART_FLOW
from ..delivery.channels.email import IDEMPOTENCY_HEADER
from ..delivery.rating_links import InvalidRatingLink, read_rating_token
from ..delivery.tracking import (
    CLICK_PATH,
    OPEN_PATH,
    InvalidTrackingLink,
    read_click_token,
    read_open_token,
)
from ..domain.customers import normalise_email
from ..models import Campaign, CampaignState, FlowMessage, MessageState
from ..services import campaigns, engagement, member_days, tiers
from ..services.care import award_review_points, record_rating
from ..services.enrolments import local_zone
from .behaviour import (
    COUPON_USE,
    IMAGES_SHOWN,
    ORDER_AFTER_MESSAGE,
    RATING_CLICKED,
    RATING_SCORES,
    RETURN_AFTER_REMINDER,
    REVIEW_WRITTEN,
)
from .records import Customer, MailLinks, SampleEmail
from .shop import CAMPAIGN, CHANNELS, MEMBER_DAY

if TYPE_CHECKING:
    from .store import SimulatedStore

# A customer moved by a message orders within this many hours of reading it (inside the
# default 7-day attribution window).
ORDER_AFTER_MESSAGE_HOURS = (2, 6 * 24)
CARE_STEPS = {1: "satisfaction", 2: "review"}
CLICK_URL = re.compile(re.escape(CLICK_PATH) + r"\?token=([^\s\"<&]+)")
OPEN_URL = re.compile(re.escape(OPEN_PATH) + r"\?token=([^\s\"<&]+)")
# The states a message can still leave for ``sent``; sent, failed and cancelled are final.
MAY_STILL_SEND = (MessageState.SCHEDULED, MessageState.DEFERRED, MessageState.CLAIMED)


def read_messages(store: SimulatedStore, since: datetime | None) -> None:
    """Customers read what the sweep just sent.

    Some come back for their cart, some answer a lifecycle message or the campaign
    (``behaviour.py``'s assumptions).
    """
    window = Q(state=MessageState.SENT, sent_at__lte=store._now)
    if since is not None:
        window &= Q(sent_at__gt=since)
    # Only the outbox from its oldest message that could still be sent: ``sent_at`` has no
    # index (nothing else looks messages up by it), and reading the whole outbox after every
    # sweep made a long story quadratic. Below that floor every message is sent, failed or
    # cancelled for good; new messages come above it (ids only grow).
    # One statement reads both: the still-unsent ones' ids move the floor, the ones sent in
    # the window are read (the same fields for both; the unsent are few).
    found = list(
        FlowMessage.objects.filter(pk__gte=store.outbox_floor)
        .filter(window | Q(state__in=MAY_STILL_SEND))
        .only(
            "state",
            "idempotency_key",
            "sent_at",
            "flow",
            "step",
            "subject_key",
            "recipient_email",
            "coupon_code",
            "context",
            "channel_slug",
            "customer_id",
        )
    )
    waiting = [message.pk for message in found if message.state != MessageState.SENT]
    highest = max((message.pk for message in found), default=store.outbox_floor - 1)
    store.outbox_floor = min(waiting, default=highest + 1)
    sent = [message for message in found if message.state == MessageState.SENT]
    # In the order they were sent (ties by id), as ``ORDER BY sent_at, id`` would read them.
    sent.sort(key=lambda message: (message.sent_at, message.pk))
    for message in sent:
        links = _received(store).pop(message.idempotency_key, None)
        if message.flow != CART_FLOW:
            react(store, message, links)
            continue
        cart = store.carts.get(str(message.subject_key))
        step = message.step
        if cart is None or cart.return_planned:
            continue
        store.log.reminders_read += 1
        open_mail(store, message, links)
        if store.random.random() < RETURN_AFTER_REMINDER.get(step, 0):
            cart.return_planned = True
            click(store, links)  # back through the reminder's checkout link
            store._at(
                store._now + timedelta(hours=store.random.randint(1, 8)),
                f"{cart.customer.name} comes back after reminder {step}",
                functools.partial(store._come_back, cart, after_reminder=True),
            )


def react(store: SimulatedStore, message: FlowMessage, links: MailLinks | None) -> None:
    """One customer reads one lifecycle or campaign message."""
    customer = store._by_email.get(normalise_email(message.recipient_email or ""))
    if customer is None:
        return
    store.log.messages_read += 1
    open_mail(store, message, links)
    care_step = CARE_STEPS.get(message.step) if message.flow == "care" else None
    if care_step == "satisfaction" and store.random.random() < RATING_CLICKED:
        rate(store, customer, message, links)
    if (
        care_step == "review"
        and customer.customer_id is not None
        and store.random.random() < REVIEW_WRITTEN
    ):
        award_review_points(
            message.channel_slug,
            customer.customer_id,
            f"sandbox-review-{message.pk}",
            settings=customer.channel.settings,
            actor="sandbox",
            now=store._now,
        )
        store.log.reviews += 1
    if not customer.habits.active:
        return  # dropped out for good: no message brings them back (BG/NBD)
    if store.random.random() < ORDER_AFTER_MESSAGE.get(message.flow, 0):
        coupon = message.coupon_code
        use = coupon is not None and store.random.random() < COUPON_USE
        moment = store._now + timedelta(hours=store.random.randint(*ORDER_AFTER_MESSAGE_HOURS))
        if moment > store.horizon:
            return  # after the story's end
        click(store, links)  # they came through the message's first link
        cart = store._new_cart(customer)
        store._at(
            moment - timedelta(minutes=20),
            f"{customer.name} fills a cart after a {message.flow} message",
            functools.partial(store._touch_cart, cart),
        )
        store._plan_order(cart, moment, voucher_code=coupon if use else None)
        store.log.orders_after_message += 1
        store.log.coupons_used += use


def rate(
    store: SimulatedStore, customer: Customer, message: FlowMessage, links: MailLinks | None
) -> None:
    """The customer clicks one of the message's signed rating links (through its redirect)."""
    ratings = {int(link["score"]): link["url"] for link in message.context["rating_links"]}
    score = store.random.choices(list(RATING_SCORES), weights=list(RATING_SCORES.values()))[0]
    target = ratings[score]
    tracked = [url for url in (links.clicks if links else ()) if _target(store, url) == target]
    if tracked:
        target = click(store, MailLinks(clicks=(tracked[0],), pixel=None)) or target
    token = parse_qs(urlsplit(target).query)["token"][0]
    try:
        link = read_rating_token(token, now=store._now)
    except InvalidRatingLink:
        return
    record_rating(link, customer.channel.settings, now=store._now)
    store.log.ratings += 1


def images_shown(message: FlowMessage) -> bool:
    """Whether the reader's mail app loads images: ``IMAGES_SHOWN`` of messages, by a hash.

    Of who got which message when, not of row ids or keys (which differ between SQLite and
    PostgreSQL), so the same seed tells the same story on both.
    """
    sent_at = message.sent_at.isoformat() if message.sent_at else ""
    who = f"{message.recipient_email}|{message.flow}|{message.step}|{sent_at}"
    digest = int(hashlib.sha256(who.encode()).hexdigest()[:8], 16)
    return digest < IMAGES_SHOWN * 0x100000000


def open_mail(store: SimulatedStore, message: FlowMessage, links: MailLinks | None) -> None:
    """A mail app that shows images loads the message's open pixel (its real token)."""
    if links is None or links.pixel is None or not images_shown(message):
        return
    try:
        opening = read_open_token(links.pixel, now=store._now)
    except InvalidTrackingLink:
        return
    engagement.record_open(opening.message_key, now=store._now)
    store.log.opens += 1


def click(store: SimulatedStore, links: MailLinks | None) -> str | None:
    """Follow the mail's first tracked link as the click endpoint does; its target.

    A rating link is followed here only when the mail has no other kind.
    """
    try:
        tracked = [read_click_token(token, now=store._now) for token in (links or _NONE).clicks]
    except InvalidTrackingLink:
        return None
    if not tracked:
        return None
    link = next((link for link in tracked if link.kind != "rating"), tracked[0])
    engagement.record_click(link, now=store._now)
    store.log.clicks += 1
    return link.target


_NONE = MailLinks(clicks=(), pixel=None)
# Per store: the tracking links of each mail the sink received, by idempotency key, until
# the customer reads it (``read_messages`` pops them).
_MAIL_LINKS: weakref.WeakKeyDictionary[SimulatedStore, dict[str, MailLinks]] = (
    weakref.WeakKeyDictionary()
)


def _received(store: SimulatedStore) -> dict[str, MailLinks]:
    return _MAIL_LINKS.setdefault(store, {})


def _target(store: SimulatedStore, token: str) -> str | None:
    try:
        return read_click_token(token, now=store._now).target
    except InvalidTrackingLink:
        return None


def mail_links(html: str) -> MailLinks:
    """The click tokens (in order, once each) and the open pixel's token of a mail's HTML."""
    clicks = tuple(dict.fromkeys(unquote(token) for token in CLICK_URL.findall(html)))
    pixels = [unquote(token) for token in OPEN_URL.findall(html)]
    return MailLinks(clicks=clicks, pixel=pixels[0] if pixels else None)


def tell_birthdays(store: SimulatedStore) -> None:
    for customer in store.customers:
        tell_birthday(store, customer)


def tell_birthday(store: SimulatedStore, customer: Customer) -> None:
    """A registered customer's birthday on file (Saleor's profile, as staff enter it)."""
    if customer.birthday is not None and customer.customer_id is not None:
        month, day = customer.birthday
        tiers.set_birthday(customer.customer_id, month=month, day=day, staff=True)


def plan_member_day(store: SimulatedStore) -> None:
    """The merchant's member day, halfway through the story (each shop's local day)."""
    day = max(MEMBER_DAY["earliest_day"], store.weeks * 7 // 2)
    for channel in CHANNELS:
        tiers.seed_default_tiers(channel.slug)  # the ladder the early access names
        zone = local_zone(channel.settings.ledger.timezone)
        starts = datetime.combine(store.start.date() + timedelta(days=day), time.min, zone)
        member_days.schedule_member_day(
            channel.slug,
            name=MEMBER_DAY["name"],
            starts_at=starts,
            ends_at=starts + timedelta(days=1),
            multiplier=MEMBER_DAY["multiplier"],
            early_access_hours=MEMBER_DAY["early_access_hours"],
            announce_hours=MEMBER_DAY["announce_hours"],
        )


def plan_campaign(store: SimulatedStore) -> None:
    """Staff schedule one campaign per channel, two thirds into the story."""
    day = max(CAMPAIGN["earliest_day"], store.weeks * 7 * 2 // 3)
    store._campaigns_waiting = True
    for channel in CHANNELS:
        values = {key: value for key, value in CAMPAIGN.items() if key != "earliest_day"}
        campaigns.schedule_campaign(
            channel.slug,
            channel.settings,
            now=store._now,
            created_by="sandbox",
            send_on=store.start.date() + timedelta(days=day),
            **values,
        )


def next_campaign_moment(store: SimulatedStore) -> datetime | None:
    """When the next scheduled campaign starts, if any.

    At the first moment its wall time comes anywhere (the campaign flow's scan looks
    for it then); a campaign a scan already took sends through its enrolments. Read
    again only when the merchant scheduled campaigns (``_campaigns_waiting`` turned on)
    or a sweep ran at or after the moment read (its scan took that campaign): nothing
    else changes a scheduled campaign.
    """
    from ..domain.campaigns import first_moment

    if store._campaign_moment is not None:
        (sweeps, waiting), moment = store._campaign_moment
        # The scan takes a scheduled campaign only once its moment has come: until a sweep
        # ran at or after that moment, the scheduled ones are the ones read.
        last_sweep = store._last_sweep_at
        taken = (
            store.log.sweeps != sweeps
            and moment is not None
            and last_sweep is not None
            and moment <= last_sweep
        )
        if waiting == store._campaigns_waiting and not taken:
            return moment
    moment = None
    if store._campaigns_waiting:
        scheduled = Campaign.objects.filter(state=CampaignState.SCHEDULED)
        moments = [first_moment(c.send_on, c.send_time) for c in scheduled.order_by("pk")]
        store._campaigns_waiting = bool(moments)
        moment = min(moments, default=None)
    store._campaign_moment = ((store.log.sweeps, store._campaigns_waiting), moment)
    return moment


def collect_mail(store: SimulatedStore) -> int:
    """Count what the mail backend received and keep one sample per language.

    Returns how many mails it received since the last look.
    """
    outbox = getattr(mail, "outbox", None)
    if not outbox:
        return 0
    received = len(outbox)
    for message in outbox:
        store.log.emails += 1
        key = message.extra_headers.get(IDEMPOTENCY_HEADER, "")
        html = next(
            (
                str(body)
                for body, kind in getattr(message, "alternatives", [])
                if kind == "text/html"
            ),
            "",
        )
        _received(store)[key] = mail_links(html)
        # retention:<flow>:<subject>:<step>, as the outbox keys each message.
        flow = key.split(":")[1:2]
        flow_name = flow[0] if flow else ""
        store.emails_by_flow[flow_name] = store.emails_by_flow.get(flow_name, 0) + 1
        if flow_name != CART_FLOW:
            continue  # the samples are cart reminders
        language = message.extra_headers.get("Content-Language", "").lower()[:2]
        if language and language not in store.sample_emails:
            store.sample_emails[language] = SampleEmail(
                to=message.to[0], subject=message.subject, body=message.body
            )
    outbox.clear()
    return received


def every_message_mailed() -> bool:
    """Whether every channel sends its messages by email.

    Through Django's mail backend, which the sandbox reads: then a sweep that mailed
    nothing sent nothing to read.
    """
    return all(
        channel.settings.delivery.delivery_channel == DeliveryChannelName.EMAIL.value
        and not channel.settings.delivery.smtp_host
        for channel in CHANNELS
    )


# What happens when the shop opens, besides the points mall: (description, plan).
AT_THE_START = (
    ("customers tell their birthdays", tell_birthdays),
    ("the merchant schedules a member day", plan_member_day),
    ("the merchant schedules a campaign", plan_campaign),
)
