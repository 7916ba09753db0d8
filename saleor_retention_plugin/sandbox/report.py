"""What the ledger holds at the end of a sandbox run, as plain text tables."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from django.core import mail
from django.db.models import Count, F, Sum

from ..models import CustomerTier, LoyaltyAccount, PointsEntry, Redemption, TierChange
from ..selectors.carts import cart_recovery_summary
from ..services import mall
from ..services.ledger import summarise_account
from ..services.ledger_audit import find_balance_drift
from .shop import CHANNELS

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from datetime import datetime

    from .store import SimulatedStore


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    cells = [list(map(str, headers)), *[[str(cell) for cell in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(
            cell.rjust(width) if i else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        )
        for row in cells
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def ledger_report(store: SimulatedStore, now: datetime, history_for: int = 2) -> str:
    names = {customer.email.lower(): customer.name for customer in store.customers}
    log = store.log
    out = [
        f"Simulated {store.weeks} weeks: {log.orders} orders, {log.cancellations} cancellations, "
        f"{log.refunds} refunds, {log.redemptions} rewards redeemed "
        f"({log.redemptions_refused} refused), {log.registrations} guests registered, "
        f"{log.duplicate_deliveries} duplicate event deliveries (ignored by the ledger).",
    ]
    for channel in CHANNELS:
        accounts = LoyaltyAccount.objects.in_channel(channel.slug).live().order_by("email")
        settings = channel.settings.ledger
        out.append("")
        out.append(
            f"== {channel.slug} ({channel.currency}): {settings.points_per_currency_unit} point "
            f"per {channel.currency}, credit on {settings.credit_trigger.value}, "
            f"pending {settings.pending_days} days, "
            + (
                f"expiry after {settings.expiry_months} months"
                if settings.expiry_months
                else "no expiry"
            )
            + f", {settings.overdraft_policy.value}"
        )
        rows = []
        for account in accounts:
            summary = summarise_account(account, now=now)
            kinds = dict(
                PointsEntry.objects.filter(account=account)
                .values_list("kind")
                .annotate(total=Sum("points"))
                .values_list("kind", "total")
            )
            written_off = PointsEntry.objects.filter(account=account).aggregate(
                total=Sum("written_off")
            )["total"]
            expiring = (
                ", ".join(
                    f"{item.points} on {item.expires_at:%Y-%m-%d}" for item in summary.expiring_soon
                )
                or "-"
            )
            rows.append(
                (
                    names.get(account.email or "", account.email),
                    "guest" if account.is_guest else f"#{account.customer_id}",
                    summary.balance,
                    summary.spendable,
                    summary.pending,
                    summary.lifetime_earned,
                    -(kinds.get("redeem") or 0),
                    -(kinds.get("expire") or 0),
                    -(kinds.get("reverse") or 0),
                    written_off or 0,
                    expiring,
                )
            )
        out.append(
            table(
                [
                    "customer",
                    "id",
                    "balance",
                    "spendable",
                    "pending",
                    "earned",
                    "spent",
                    "expired",
                    "taken back",
                    "written off",
                    "expiring within 30 days",
                ],
                rows,
            )
        )
    out.append("")
    out.append(membership_report())
    out.append("")
    out.append(cart_report(store))
    merged = LoyaltyAccount.objects.filter(merged_into__isnull=False).count()
    out.append("")
    out.append(f"Guest accounts merged into registered customers: {merged}")
    totals = (
        PointsEntry.objects.values("kind")
        .annotate(points=Sum("points"), entries=Count("id"))
        .order_by("kind")
    )
    out.append(
        table(
            ["entry kind", "entries", "points"],
            [(row["kind"], row["entries"], row["points"]) for row in totals],
        )
    )
    for account in LoyaltyAccount.objects.live().order_by("-lifetime_earned")[:history_for]:
        out.append("")
        owner = names.get(account.email or "", account.email)
        out.append(f"History of {owner} in {account.channel_slug} (newest first):")
        entries = PointsEntry.objects.history_of(account)[:12]
        out.append(
            table(
                ["when (UTC)", "kind", "points", "order", "note"],
                [
                    (
                        f"{entry.created_at:%Y-%m-%d %H:%M}",
                        entry.kind,
                        f"{entry.points:+d}",
                        entry.order_number or "-",
                        entry.reason
                        or (f"written off {entry.written_off}" if entry.written_off else ""),
                    )
                    for entry in entries
                ],
            )
        )
    drift = find_balance_drift()
    out.append("")
    out.append(
        "Ledger audit: every cached balance matches its entries."
        if not drift
        else f"Ledger audit: {len(drift)} accounts drifted: {drift}"
    )
    return "\n".join(out)


def money(amount: object, currency: str) -> str:
    # SQLite sums decimals as floats; show what a merchant reads on an invoice.
    return f"{Decimal(str(amount)).quantize(Decimal('0.01'))} {currency}"


def cart_report(store: SimulatedStore) -> str:
    log = store.log
    out = [
        "== Abandoned carts and reminders",
        f"Simulated behaviour: {log.carts_left} carts left behind; "
        f"{log.carts_back_by_themselves} came back by themselves, "
        f"{log.carts_back_after_reminder} after a reminder ({log.reminders_read} reminders read).",
    ]
    rows = []
    for channel in CHANNELS:
        summary = cart_recovery_summary(channel.slug)
        for group in ("reminded", "holdout"):
            numbers = summary["groups"][group]
            rows.append(
                (
                    channel.slug,
                    group,
                    numbers["abandoned_carts"],
                    numbers["recovered_carts"],
                    f"{numbers['recovery_rate']}%",
                    ", ".join(
                        money(amount, currency) for currency, amount in numbers["revenue"].items()
                    )
                    or money("0", channel.currency),
                )
            )
    out.append(table(["channel", "group", "abandoned", "recovered", "rate", "revenue"], rows))
    step_rows = [
        (channel.slug, row["step"] or "-", row["carts"], money(row["revenue"], row["currency"]))
        for channel in CHANNELS
        for row in cart_recovery_summary(channel.slug)["recovered_by_step"]
    ]
    out.append("Recovered carts by the last reminder before the order:")
    out.append(table(["channel", "step", "carts", "revenue"], step_rows))
    message_rows = [
        (channel.slug, state, count)
        for channel in CHANNELS
        for state, count in sorted(cart_recovery_summary(channel.slug)["messages"].items())
    ]
    out.append(table(["channel", "reminder state", "messages"], message_rows))
    outbox = getattr(mail, "outbox", [])
    out.append(f"Emails handed to the mail backend: {len(outbox)}")
    for language in ("en", "zh"):
        sample = next(
            (
                message
                for message in outbox
                if message.extra_headers.get("Content-Language", "").lower().startswith(language)
            ),
            None,
        )
        if sample is not None:
            out.append("")
            out.append(f"A reminder as sent ({language}) to {sample.to[0]}: {sample.subject}")
            out.extend("    " + line for line in sample.body.strip().splitlines()[:14])
    return "\n".join(out)


def membership_report() -> str:
    out = ["== Membership tiers and the points mall"]
    tier_rows = []
    for channel in CHANNELS:
        members = dict(
            CustomerTier.objects.filter(channel_slug=channel.slug)
            .values_list("tier__code")
            .annotate(count=Count("id"))
            .values_list("tier__code", "count")
        )
        changes = TierChange.objects.filter(account__channel_slug=channel.slug)
        upgrades = changes.filter(
            from_tier__isnull=False, to_tier__rank__gt=F("from_tier__rank")
        ).count()
        downgrades = changes.filter(
            from_tier__isnull=False, to_tier__rank__lt=F("from_tier__rank")
        ).count()
        tier_rows.append(
            (
                channel.slug,
                members.get("member", 0),
                members.get("silver", 0),
                members.get("gold", 0),
                upgrades,
                downgrades,
            )
        )
    out.append(table(["channel", "member", "silver", "gold", "upgrades", "downgrades"], tier_rows))
    for change in (
        TierChange.objects.filter(from_tier__isnull=False)
        .select_related("account", "from_tier", "to_tier")
        .order_by("-changed_at")[:4]
    ):
        out.append(
            f"  {change.changed_at:%Y-%m-%d} {change.account.email}: "
            f"{change.from_tier.code if change.from_tier else '-'} -> "
            f"{change.to_tier.code if change.to_tier else '-'} "
            f"({change.reason})"
        )
    redemption_rows = (
        Redemption.objects.values("channel_slug", "reward__kind", "status")
        .annotate(count=Count("id"), points=Sum("points_spent"))
        .order_by("channel_slug", "reward__kind", "status")
    )
    out.append(
        table(
            ["channel", "reward", "status", "redemptions", "points"],
            [
                (
                    row["channel_slug"],
                    row["reward__kind"],
                    row["status"],
                    row["count"],
                    row["points"],
                )
                for row in redemption_rows
            ],
        )
    )
    draws = Redemption.objects.filter(reward__kind="prize_draw").select_related("reward")
    seeds: dict[int, str] = {}
    verified = 0
    for draw in draws:
        seed = seeds.setdefault(draw.reward_id, mall.reveal_draw_seed(draw.reward_id))
        verified += mall.verify_draw(draw, seed)
    out.append(
        f"Prize draws re-derived from their published seeds: {verified} of {draws.count()} match."
    )
    return "\n".join(out)
