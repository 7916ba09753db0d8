"""The sandbox's year holds every flow and the campaign, and its flow table adds up.

One run (PostgreSQL, eight weeks, six customers per channel) read through its ``--json``: every
lifecycle flow, the cart series and the campaign sent messages, each flow's ``sent`` in
the report's flows table is what the outbox holds and what the local mail sink received,
and every figure of a row fits inside the others (held out within enrolled, converted
within counted). The run also leaves its database behind for reading the outbox rows.
"""

from __future__ import annotations

import json
import secrets
from collections import Counter

import psycopg
import pytest
from psycopg import sql

from .test_sandbox import POSTGRES_SERVER, run_sandbox

EVERY_FLOW = {
    "birthday",
    "campaign",
    "care",
    "cart",
    "member_day",
    "points_expiring",
    "replenishment",
    "tier_upgrade",
    "welcome",
    "winback",
}


# Per channel and flow, from the tracking tables: sent messages opened (an open or a
# click: every sandbox message is an email) and clicked.
ENGAGEMENT_ROWS = """
SELECT m.channel_slug, m.flow,
       count(*) FILTER (WHERE o.opened_at IS NOT NULL OR c.message_id IS NOT NULL),
       count(*) FILTER (WHERE c.message_id IS NOT NULL)
FROM saleor_retention_plugin_flowmessage m
LEFT JOIN saleor_retention_plugin_messageopen o ON o.message_id = m.id
LEFT JOIN (SELECT DISTINCT message_id FROM saleor_retention_plugin_messageclick) c
       ON c.message_id = m.id
WHERE m.state = 'sent'
GROUP BY m.channel_slug, m.flow
"""


@pytest.fixture(scope="module")
def flows_story(tmp_path_factory):
    """One run on PostgreSQL: its JSON, its text and the outbox rows it left."""
    name = f"retention_sandbox_flows_{secrets.token_hex(4)}"
    with psycopg.connect(POSTGRES_SERVER + "/postgres", autocommit=True) as server:
        server.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = f"{POSTGRES_SERVER}/{name}"
    json_file = tmp_path_factory.mktemp("flows") / "story.json"
    try:
        result = run_sandbox(
            *("--weeks", "8", "--customers", "6", "--seed", "6", "--json", str(json_file)),
            extra_env={"DATABASE_URL": url},
            timeout=1200,  # about 30 CPU s: every flow runs, on a loaded machine several times
        )
        assert result.returncode == 0, result.stderr
        with psycopg.connect(url) as connection:
            outbox = connection.execute(
                "SELECT channel_slug, flow, count(*) FROM saleor_retention_plugin_flowmessage "
                "WHERE state = 'sent' GROUP BY channel_slug, flow"
            ).fetchall()
            engagement = connection.execute(ENGAGEMENT_ROWS).fetchall()
        yield json.loads(json_file.read_text()), result.stdout, outbox, engagement
    finally:
        with psycopg.connect(POSTGRES_SERVER + "/postgres", autocommit=True) as server:
            server.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def test_the_sandbox_year_sends_every_flow_and_the_campaign(flows_story):
    data, report, _, _ = flows_story

    sent = {flow for flow, count in data["emails_by_flow"].items() if count > 0}
    assert sent == EVERY_FLOW
    # Customers answered them as the stated assumptions say, and the report says so.
    story = data["story"]
    assert story["messages_read"] > 0
    assert story["orders_after_message"] > 0
    assert story["ratings"] > 0
    assert story["reviews"] > 0
    assert "== Lifecycle flows and the campaign" in report
    prose = " ".join(report.split())  # wrapped at 100 columns
    assert "a message read brings an order within 6 days (welcome 10%" in prose
    assert "Flows against their holdout" in report


def test_the_flow_table_adds_up_against_the_outbox_and_the_mail_sink(flows_story):
    data, _, outbox, _ = flows_story

    in_outbox = {(channel, flow): count for channel, flow, count in outbox}
    in_table = {
        (channel, entry["flow"]): entry["sent"]
        for channel, entries in data["flows"].items()
        for entry in entries
        if entry["sent"]
    }
    assert in_table == in_outbox
    received: Counter[str] = Counter()
    for (_, flow), count in in_outbox.items():
        received[flow] += count
    assert dict(received) == data["emails_by_flow"]


def test_every_flow_row_fits_inside_itself(flows_story):
    data, _, _, _ = flows_story

    for entries in data["flows"].values():
        for entry in entries:
            uplift = entry["uplift"]
            assert entry["held_out"] <= entry["enrolled"], entry
            # Counted: messaged enrolments whose window opened, and held-out ones.
            assert uplift["treated"] + uplift["control"] <= entry["enrolled"], entry
            assert uplift["control"] <= entry["held_out"], entry
            assert uplift["treated_converted"] <= uplift["treated"], entry
            assert uplift["control_converted"] <= uplift["control"], entry
            if entry["flow"] != "cart":
                # A messaged enrolment counts once its first message went out.
                assert uplift["treated"] <= entry["sent"], entry


def test_opens_and_clicks_went_through_the_tracking_links_and_add_up(flows_story):
    data, report, _, engagement = flows_story

    story = data["story"]
    assert story["opens"] > 0
    assert story["clicks"] > 0
    in_tables = {
        (channel, flow): (opened, clicked) for channel, flow, opened, clicked in engagement
    }
    in_report = {
        (channel, entry["flow"]): (entry["engagement"]["opened"], entry["engagement"]["clicked"])
        for channel, entries in data["flows"].items()
        for entry in entries
        if entry["sent"]
    }
    assert in_report == in_tables
    assert sum(clicked for _, clicked in in_tables.values()) > 0
    for entries in data["flows"].values():
        for entry in entries:
            figures = entry["engagement"]
            assert figures["clicked"] <= figures["opened"] <= figures["sent"], entry
    assert "Through the tracking links of the mails received" in report
    assert "Opens and clicks of the messages sent" in report
