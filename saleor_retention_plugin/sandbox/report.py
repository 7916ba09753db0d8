"""What the ledger holds at the end of a sandbox run.

``collect`` reads everything into plain, JSON-ready data (what ``--json FILE`` writes);
``render`` prints it as text tables no wider than ``WIDTH`` columns, leaving the widest
details (every account of a big run, lots expiring soon) to the JSON.
"""

from __future__ import annotations

import dataclasses
import textwrap
import unicodedata
from collections import defaultdict
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db.models import Count, F, Sum

from ..models import CustomerTier, LoyaltyAccount, PointsEntry, Redemption, TierChange
from ..selectors.carts import cart_recovery_summary
from ..selectors.flow_uplift import flow_uplifts
from ..services import mall
from ..services.ledger import summarise_account
from ..services.ledger_audit import find_balance_drift
from .behaviour import BEHAVIOUR, describe_messages
from .behaviour import describe as describe_customers
from .store import CHANNELS, SimulatedStore

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from datetime import datetime

WIDTH = 100
ACCOUNT_ROWS_SHOWN = 12
KINDS = ("earn", "redeem", "expire", "reverse", "adjust")


# --- reading -------------------------------------------------------------------------------


def collect(store: SimulatedStore, now: datetime) -> dict[str, Any]:
    """Everything the report shows, as plain data (points are ints, money decimal text)."""
    names = {customer.email.lower(): customer.name for customer in store.customers}
    drift = find_balance_drift()
    return {
        "story": {
            "start": store.start.date().isoformat(),
            "end": now.isoformat(),
            "weeks": store.weeks,
            "customers": len(store.customers),
            **vars(store.log),
        },
        "behaviour": BEHAVIOUR,
        "channels": [_channel(channel, names, now) for channel in CHANNELS],
        "tiers": _tiers(),
        "tier_changes": [
            {
                "at": change.changed_at.isoformat(),
                "customer": names.get(change.account.email or "", change.account.email),
                "from": change.from_tier.code if change.from_tier else None,
                "to": change.to_tier.code if change.to_tier else None,
                "reason": change.reason,
            }
            for change in TierChange.objects.filter(from_tier__isnull=False)
            .select_related("account", "from_tier", "to_tier")
            .order_by("-changed_at", "account__channel_slug", "account__email")[:4]
        ],
        "redemptions": [
            {
                "channel": row["channel_slug"],
                "reward": row["reward__kind"],
                "status": row["status"],
                "redemptions": row["count"],
                "points": row["points"],
            }
            for row in Redemption.objects.values("channel_slug", "reward__kind", "status")
            .annotate(count=Count("id"), points=Sum("points_spent"))
            .order_by("channel_slug", "reward__kind", "status")
        ],
        "draws": _draws(),
        "carts": {
            channel.slug: cart_recovery_summary(channel.slug, now=now) for channel in CHANNELS
        },
        # Every flow and the campaign against its holdout, as the retention report shows it.
        "flows": {
            channel.slug: [
                {**entry, "uplift": dataclasses.asdict(entry["uplift"])}
                for entry in flow_uplifts(channel.slug, now=now)
            ]
            for channel in CHANNELS
        },
        "emails_by_flow": dict(sorted(store.emails_by_flow.items())),
        "sample_emails": {
            language: vars(sample) for language, sample in sorted(store.sample_emails.items())
        },
        "entry_kinds": [
            {"kind": row["kind"], "entries": row["entries"], "points": row["points"]}
            for row in PointsEntry.objects.values("kind")
            .annotate(points=Sum("points"), entries=Count("id"))
            .order_by("kind")
        ],
        "merged_guest_accounts": LoyaltyAccount.objects.filter(merged_into__isnull=False).count(),
        "histories": _histories(names),
        "audit": {"drifted_accounts": [str(item) for item in drift]},
    }


def _channel(channel: Any, names: dict[str, str], now: datetime) -> dict[str, Any]:
    """Every live account of the channel with each kind of entry summed, so that
    balance = earned - spent - expired - taken back + adjusted holds on every row.
    """
    settings = channel.settings.ledger
    totals: dict[int, dict[str, int]] = defaultdict(dict)
    written_off: dict[int, int] = {}
    for account_id, kind, points, off in (
        PointsEntry.objects.filter(account__channel_slug=channel.slug)
        .values("account_id", "kind")
        .annotate(points=Sum("points"), off=Sum("written_off"))
        .values_list("account_id", "kind", "points", "off")
        .order_by("account_id", "kind")
    ):
        totals[account_id][kind] = int(points or 0)
        written_off[account_id] = written_off.get(account_id, 0) + int(off or 0)
    accounts = []
    for account in LoyaltyAccount.objects.in_channel(channel.slug).live().order_by("email", "pk"):
        summary = summarise_account(account, now=now)
        kinds = totals.get(account.pk, {})
        accounts.append(
            {
                "customer": names.get(account.email or "", account.email),
                "email": account.email,
                "customer_id": account.customer_id,
                "balance": summary.balance,
                "spendable": summary.spendable,
                "pending": summary.pending,
                "earned": kinds.get("earn", 0),
                "spent": -kinds.get("redeem", 0),
                "expired": -kinds.get("expire", 0),
                "taken_back": -kinds.get("reverse", 0),
                "adjusted": kinds.get("adjust", 0),
                "written_off": written_off.get(account.pk, 0),
                "expiring_within_30_days": [
                    {"points": item.points, "on": item.expires_at.date().isoformat()}
                    for item in summary.expiring_soon
                ],
            }
        )
    return {
        "slug": channel.slug,
        "currency": channel.currency,
        "rules": (
            f"{settings.points_per_currency_unit} point per {channel.currency}, credit on "
            f"{settings.credit_trigger.value}, pending {settings.pending_days} days, "
            + (
                f"expiry after {settings.expiry_months} months"
                if settings.expiry_months
                else "no expiry"
            )
            + f", {settings.overdraft_policy.value}"
        ),
        "accounts": accounts,
    }


def row_adds_up(row: dict[str, Any]) -> bool:
    """Balance = earned - spent - expired - taken back + adjusted, and nothing is left in
    no column: spendable + pending = balance (the due expiry ran before the report).
    """
    derived = row["earned"] - row["spent"] - row["expired"] - row["taken_back"] + row["adjusted"]
    return bool(row["balance"] == derived == row["spendable"] + row["pending"])


def _tiers() -> list[dict[str, Any]]:
    """Customers per tier: live accounts only (a merged guest account is the same customer)."""
    rows = []
    for channel in CHANNELS:
        members = dict(
            CustomerTier.objects.filter(channel_slug=channel.slug)
            .filter(account__merged_into__isnull=True, account__anonymised_at__isnull=True)
            .values_list("tier__code")
            .annotate(count=Count("id"))
            .values_list("tier__code", "count")
            .order_by()
        )
        changes = TierChange.objects.filter(
            account__channel_slug=channel.slug, from_tier__isnull=False
        )
        rows.append(
            {
                "channel": channel.slug,
                "customers": LoyaltyAccount.objects.in_channel(channel.slug).live().count(),
                "member": members.get("member", 0),
                "silver": members.get("silver", 0),
                "gold": members.get("gold", 0),
                "upgrades": changes.filter(to_tier__rank__gt=F("from_tier__rank")).count(),
                "downgrades": changes.filter(to_tier__rank__lt=F("from_tier__rank")).count(),
            }
        )
    return rows


def _draws() -> dict[str, int]:
    draws = Redemption.objects.filter(reward__kind="prize_draw").select_related("reward")
    seeds: dict[int, str] = {}
    verified = total = 0
    for draw in draws.order_by("pk").iterator():
        seed = seeds.setdefault(draw.reward_id, mall.reveal_draw_seed(draw.reward_id))
        verified += mall.verify_draw(draw, seed)
        total += 1
    return {"draws": total, "re_derived": verified}


def _histories(names: dict[str, str], count: int = 2) -> list[dict[str, Any]]:
    histories = []
    for account in LoyaltyAccount.objects.live().order_by("-lifetime_earned", "pk")[:count]:
        histories.append(
            {
                "customer": names.get(account.email or "", account.email),
                "channel": account.channel_slug,
                "entries": [
                    {
                        "at": f"{entry.created_at:%Y-%m-%d %H:%M}",
                        "kind": entry.kind,
                        "points": entry.points,
                        "order": entry.order_number or "-",
                        "note": entry.reason
                        or (f"written off {entry.written_off}" if entry.written_off else ""),
                    }
                    for entry in PointsEntry.objects.history_of(account)[:12]
                ],
            }
        )
    return histories


# --- printing ------------------------------------------------------------------------------


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


def money(amount: object, currency: str) -> str:
    # SQLite sums decimals as floats; show what a merchant reads on an invoice.
    return f"{Decimal(str(amount)).quantize(Decimal('0.01'))} {currency}"


def columns(text: str) -> int:
    """Terminal columns the text takes: Chinese characters take two."""
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def fit(line: str, width: int = WIDTH) -> list[str]:
    """Prose wraps; an indented sample line (a link in an email) is cut short."""
    if columns(line) <= width:
        return [line]
    if line.startswith("    "):
        while columns(line) > width - 1:
            line = line[:-1]
        return [line + "…"]
    return textwrap.wrap(line, width, subsequent_indent="  ", break_on_hyphens=False)


def render(data: dict[str, Any], *, json_file: str | None = None) -> str:
    story = data["story"]
    out = [
        f"Simulated {story['weeks']} weeks from {story['start']}, {story['customers']} "
        f"customers: {story['orders']} orders, {story['cancellations']} cancellations, "
        f"{story['refunds']} refunds, {story['redemptions']} rewards redeemed "
        f"({story['redemptions_refused']} refused), {story['registrations']} guests "
        f"registered, {story['duplicate_deliveries']} duplicate event deliveries (ignored by "
        "the ledger). Points and codes due to expire by the end were expired first.",
    ]
    for channel in data["channels"]:
        out += ["", f"== {channel['slug']} ({channel['currency']}): {channel['rules']}"]
        out.append(_accounts_table(channel["accounts"], json_file))
    out += ["", _membership(data), "", _carts(data), "", _flows(data)]
    out += ["", f"Guest accounts merged into registered customers: {data['merged_guest_accounts']}"]
    out.append(
        table(
            ["entry kind", "entries", "points"],
            [(row["kind"], row["entries"], row["points"]) for row in data["entry_kinds"]],
        )
    )
    for history in data["histories"]:
        out += ["", f"History of {history['customer']} in {history['channel']} (newest first):"]
        out.append(
            table(
                ["when (UTC)", "kind", "points", "order", "note"],
                [
                    (e["at"], e["kind"], f"{e['points']:+d}", e["order"], e["note"])
                    for e in history["entries"]
                ],
            )
        )
    drift = data["audit"]["drifted_accounts"]
    out.append("")
    out.append(
        "Ledger audit: every cached balance matches its entries."
        if not drift
        else f"Ledger audit: {len(drift)} accounts drifted: {drift}"
    )
    if json_file:
        out.append(f"Every account, lot expiring soon and figure above: {json_file}")
    return "\n".join(
        fitted for text in out for line in text.splitlines() or [""] for fitted in fit(line)
    )


def _accounts_table(accounts: list[dict[str, Any]], json_file: str | None) -> str:
    shown = accounts[:ACCOUNT_ROWS_SHOWN]
    rows = [
        (
            row["customer"],
            f"#{row['customer_id']}" if row["customer_id"] is not None else "guest",
            row["balance"],
            row["spendable"],
            row["pending"],
            row["earned"],
            row["spent"],
            row["expired"],
            row["taken_back"],
            row["adjusted"],
        )
        for row in shown
    ]
    headers = ["customer", "id", "balance", "spendable", "pending", "earned", "spent"]
    headers += ["expired", "taken back", "adjusted"]
    out = [table(headers, rows)]
    adding_up = sum(row_adds_up(row) for row in accounts)
    out.append(
        f"balance = earned - spent - expired - taken back + adjusted = spendable + pending: "
        f"{adding_up} of {len(accounts)} accounts"
    )
    off = [row for row in accounts if row["written_off"]]
    if off:
        out.append(
            f"Written off under clamp_to_zero (taken back beyond the balance, not in it): "
            f"{sum(row['written_off'] for row in off)} points on {len(off)} accounts"
        )
    if len(accounts) > len(shown):
        where = json_file or "--json FILE"
        out.append(f"(first {len(shown)} of {len(accounts)} accounts; all of them in {where})")
    return "\n".join(out)


def _membership(data: dict[str, Any]) -> str:
    out = ["== Membership tiers and the points mall (customers per tier)"]
    out.append(
        table(
            ["channel", "customers", "member", "silver", "gold", "upgrades", "downgrades"],
            [
                [r[key] for key in ("channel", "customers", "member", "silver", "gold")]
                + [r["upgrades"], r["downgrades"]]
                for r in data["tiers"]
            ],
        )
    )
    for change in data["tier_changes"]:
        out.append(
            f"  {change['at'][:10]} {change['customer']}: {change['from'] or '-'} -> "
            f"{change['to'] or '-'} ({change['reason']})"
        )
    out.append(
        table(
            ["channel", "reward", "status", "redemptions", "points"],
            [
                (r["channel"], r["reward"], r["status"], r["redemptions"], r["points"])
                for r in data["redemptions"]
            ],
        )
    )
    draws = data["draws"]
    out.append(
        f"Prize draws re-derived from their published seeds: {draws['re_derived']} of "
        f"{draws['draws']} match."
    )
    return "\n".join(out)


def _carts(data: dict[str, Any]) -> str:
    story, behaviour = data["story"], data["behaviour"]
    steps = behaviour["return_after_reminder"]
    out = [
        "== Abandoned carts and reminders",
        f"The simulation: {story['carts_left']} carts left behind; "
        f"{story['carts_back_by_themselves']} came back by themselves, "
        f"{story['carts_back_after_reminder']} after a reminder "
        f"({story['reminders_read']} reminders read, {story['emails']} emails sent).",
        "Its assumptions (sandbox/behaviour.py, not measurements): a left cart comes back "
        "by itself "
        f"{_percent(behaviour['natural_return'])}, each reminder read brings it back "
        + ", ".join(f"{_percent(p)} (step {s})" for s, p in sorted(steps.items()))
        + f"; {describe_customers()}.",
        "What the plugin measured: carts reminded (or held out at the moment they would have "
        "been), then orders within the attribution window from there: the cart completed, or "
        "another order of the same customer.",
    ]
    rows = []
    for slug, summary in data["carts"].items():
        for group in ("reminded", "holdout"):
            g = summary["groups"][group]
            revenue = ", ".join(money(a, c) for c, a in g["revenue"].items()) or "-"
            completed = (g["completed_carts"], f"{g['completion_rate']}%")
            other = (g["other_orders"], f"{g['other_order_rate']}%")
            rows.append((slug, group, g["abandoned_carts"], *completed, *other, revenue))
    headers = ["channel", "group", "carts", "completed", "rate", "other orders", "rate"]
    out.append(table([*headers, "revenue"], rows))
    for slug, summary in data["carts"].items():
        reminded, held = summary["groups"]["reminded"], summary["groups"]["holdout"]
        lift = Decimal(reminded["completion_rate"]) - Decimal(held["completion_rate"])
        out.append(
            f"{slug}: reminders added {lift:+} points of completed carts "
            f"({reminded['abandoned_carts']} reminded against {held['abandoned_carts']} held "
            "out; a small holdout is a noisy comparison)."
        )
    step_rows = [
        (slug, row["step"] or "-", row["carts"], money(row["revenue"], row["currency"]))
        for slug, summary in data["carts"].items()
        for row in summary["recovered_by_step"]
    ]
    out.append("Recovered carts by the last reminder before the order:")
    out.append(table(["channel", "step", "carts", "revenue"], step_rows))
    message_rows = [
        (slug, state, count)
        for slug, summary in data["carts"].items()
        for state, count in sorted(summary["messages"].items())
    ]
    out.append(table(["channel", "reminder state", "messages"], message_rows))
    for language, sample in data["sample_emails"].items():
        out += ["", f"A reminder as sent ({language}) to {sample['to']}: {sample['subject']}"]
        out.extend("    " + line for line in sample["body"].strip().splitlines()[:14])
    return "\n".join(out)


def _flows(data: dict[str, Any]) -> str:
    """What the simulation did with the lifecycle messages and the campaign; each flow
    against its holdout is in the flows table of each channel's retention report below.
    """
    story = data["story"]
    sent = {
        flow: sum(
            entry["sent"]
            for entries in data["flows"].values()
            for entry in entries
            if entry["flow"] == flow
        )
        for flow in sorted({e["flow"] for entries in data["flows"].values() for e in entries})
    }
    received = data["emails_by_flow"]
    opened: dict[str, int | None] = {}
    clicked: dict[str, int] = {}
    for entries in data["flows"].values():
        for entry in entries:
            figures = entry.get("engagement") or {}
            flow = entry["flow"]
            clicked[flow] = clicked.get(flow, 0) + (figures.get("clicked") or 0)
            if figures.get("opened") is not None:
                opened[flow] = (opened.get(flow) or 0) + figures["opened"]
            else:
                opened.setdefault(flow, None)
    out = [
        "== Lifecycle flows and the campaign",
        f"The simulation: customers read {story['messages_read']} lifecycle and campaign "
        f"messages; {story['orders_after_message']} orders followed one "
        f"({story['coupons_used']} with its coupon); {story['ratings']} satisfaction checks "
        f"were rated through their links and {story['reviews']} reviews written.",
        f"Its assumptions (sandbox/behaviour.py, not measurements): {describe_messages()}.",
        f"Through the tracking links of the mails received: {story.get('opens', 0)} open "
        f"pixels loaded and {story.get('clicks', 0)} clicks.",
        "Sent per flow (the outbox) against what the mail sink received, and the messages "
        "opened and clicked as the retention report counts them (a click counts as an open):",
        table(
            ["flow", "sent", "received", "opened", "clicked"],
            [
                (
                    flow,
                    count,
                    received.get(flow, 0),
                    "n/a" if opened.get(flow) is None else opened[flow],
                    clicked.get(flow, 0),
                )
                for flow, count in sent.items()
            ],
        ),
        "Each flow and the campaign against its holdout (enrolled, held out, sent, converted, "
        "uplift with its 95 % interval): the flows table of each channel's retention report "
        "below.",
    ]
    return "\n".join(out)


def _percent(share: float) -> str:
    return f"{share * 100:g}%"
