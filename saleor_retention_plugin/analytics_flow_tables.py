"""The flows' experiment tables of the text report: each flow, its variants and campaigns.

Input is ``build_report(...)["flows"]`` (``selectors.flow_uplift.flow_uplifts`` entries);
output is plain text within 100 columns, with "n/a" for figures that do not exist.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any


def pct(value: Any) -> str:
    if value is None:
        return "n/a"
    return f"{Decimal(str(value)) * 100:.1f} %"


def table(title: str, header: list[str], rows: list[list[Any]]) -> str:
    cells = [header, *[[("n/a" if c is None else str(c)) for c in row] for row in rows]]
    cells = [row + [""] * (len(header) - len(row)) for row in cells]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = [title, "-" * len(title)]
    for number, row in enumerate(cells):
        lines.append("  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)))
        if number == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines) + "\n"


def _interval(value: Any, low: Any, high: Any) -> str:
    if value is None:
        return "n/a"
    return f"{pct(value)} ({pct(low)} to {pct(high)})"


def flows_table(flows: list[dict[str, Any]]) -> str:
    """Every flow against its holdout, then its relative uplift and verdict.

    Enrolled, held out and sent; converted with and without messages; the uplift. Reports
    saved before enrolled, held out and sent were kept show "n/a" there.
    """
    rows = [
        [
            entry["flow"],
            entry.get("enrolled"),
            entry.get("held_out"),
            entry.get("sent"),
            f"{u['treated_converted']}/{u['treated']} {pct(u['treated_rate'])}",
            f"{u['control_converted']}/{u['control']} {pct(u['control_rate'])}",
            _interval(u["absolute"], u["absolute_low"], u["absolute_high"]),
        ]
        for entry in flows
        for u in [entry["uplift"]]
    ]
    flows_part = table(
        "Flows against their holdout (with / without messages: converted/counted, rate; "
        "95 % intervals)",
        ["flow", "enrolled", "held out", "sent", "with", "without", "uplift"],
        rows,
    )
    verdicts = "".join(
        f"{entry['flow']}: relative uplift "
        f"{_interval(u['relative'], u['relative_low'], u['relative_high'])}. {u['verdict']}\n"
        for entry in flows
        for u in [entry["uplift"]]
    )
    parts = [flows_part + verdicts]
    engagement = _engagement_rows(flows)
    if engagement:
        parts.append(
            table(
                "Opens and clicks of the messages sent (n/a: no open reported by the channel)",
                [
                    "flow / campaign / variant",
                    "sent",
                    "opened",
                    "open rate",
                    "clicked",
                    "click/sent",
                    "click/open",
                ],
                engagement,
            )
            + "A clicked message counts as opened; clicks include mail security scanners "
            "that follow every link.\n"
        )
    split = _variant_rows(flows)
    if split:
        parts.append(
            table(
                "Campaigns and variants against the holdout (sent: enrolments messaged)",
                [
                    "flow / campaign / variant",
                    "sent",
                    "msgs",
                    "conv",
                    "rate",
                    "holdout",
                    "uplift (95 % interval)",
                ],
                [row for row, _ in split],
            )
            + "".join(f"{note}\n" for _, note in split)
        )
    against_a = _b_against_a_rows(flows)
    if against_a:
        parts.append(
            table(
                "Variant B against variant A (sent: enrolments messaged)",
                [
                    "flow / campaign",
                    "B sent",
                    "B conv",
                    "B rate",
                    "A rate",
                    "B - A (95 % interval)",
                ],
                [row for row, _ in against_a],
            )
            + "".join(f"{note}\n" for _, note in against_a)
        )
    return "\n".join(parts)


def _engagement_rows(flows: list[dict[str, Any]]) -> list[list[Any]]:
    """Each flow, then each campaign and variant: sent, opened, clicked and their rates.

    Reports saved before opens and clicks were tracked have no ``engagement``: no rows.
    """
    parts = [(entry["flow"], entry) for entry in flows] + [
        (label, part) for label, _, part in variant_parts(flows)
    ]
    return [
        [
            label,
            e["sent"],
            e["opened"],
            pct(e["open_rate"]),
            e["clicked"],
            pct(e["click_rate"]),
            pct(e["click_to_open_rate"]),
        ]
        for label, part in parts
        if (e := part.get("engagement")) is not None
    ]


def variant_parts(flows: list[dict[str, Any]]) -> list[tuple[str, str, dict[str, Any]]]:
    """Each campaign and each variant (of a flow or a campaign) in report order.

    ``(label, long label, figures)``: the label fits the table, the long one names the
    campaign and what the variant changes.
    """
    parts = []
    for entry in flows:
        for variant in entry.get("variants", []):
            label = f"{entry['flow']} variant {variant['variant'] or '-'}"
            parts.append((label, f"{label}{_changes(variant)}", variant))
        for campaign in entry.get("campaigns", []):
            label = f"campaign {campaign['campaign_id']}"
            named = f"{label} ({campaign['name']})" if campaign["name"] else label
            parts.append((label, named, campaign))
            for variant in campaign["variants"]:
                letter = f"variant {variant['variant'] or '-'}"
                parts.append((f"{label} {letter}", f"{named} {letter}{_changes(variant)}", variant))
    return parts


def _changes(variant: dict[str, Any]) -> str:
    """`` (B: subject)``: what a variant changes; "" for A and reports saved before labels."""
    label = variant.get("label")
    return f" ({label})" if label and label != variant["variant"].upper() else ""


def _b_against_a_rows(flows: list[dict[str, Any]]) -> list[tuple[list[Any], str]]:
    """A row per variant B (of a flow or a campaign) against its variant A, and a verdict."""
    rows = []
    for label, named, part in variant_parts(flows):
        u = part.get("against_a")
        if not u:
            continue
        relative = _interval(u["relative"], u["relative_low"], u["relative_high"])
        rows.append(
            (
                [
                    label.split(" variant ")[0],
                    u["treated"],
                    u["treated_converted"],
                    pct(u["treated_rate"]),
                    pct(u["control_rate"]),
                    _interval(u["absolute"], u["absolute_low"], u["absolute_high"]),
                ],
                f"{named} against variant A: relative {relative}. {u['verdict']}",
            )
        )
    return rows


def _variant_rows(flows: list[dict[str, Any]]) -> list[tuple[list[Any], str]]:
    """A table row per ``_variant_parts`` entry, and its relative uplift and verdict."""
    rows = []
    for label, named, part in variant_parts(flows):
        u = part["uplift"]
        relative = _interval(u["relative"], u["relative_low"], u["relative_high"])
        rows.append(
            (
                [
                    label,
                    u["treated"],
                    part.get("messages_sent", ""),
                    u["treated_converted"],
                    pct(u["treated_rate"]),
                    pct(u["control_rate"]),
                    _interval(u["absolute"], u["absolute_low"], u["absolute_high"]),
                ],
                f"{named}: relative {relative}. {u['verdict']}",
            )
        )
    return rows
