"""The retention report: tables a merchant reads, JSON, and an HTML file that opens offline."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tests.unit.test_metrics import SHOP

from .test_metrics_sql import store

pytestmark = pytest.mark.django_db

CHARTS = [
    "cohort-heatmap",
    "repurchase-curve",
    "cycle-histogram",
    "ltv-by-cohort",
    "segment-sizes",
    "points-flows",
    "cart-uplift",
]


def report(*args: str) -> str:
    out = StringIO()
    call_command(
        "retention_report", "--channel", "default-channel", "--start", "2026-01-01",
        "--end", "2026-03-01", "--as-of", "2026-03-15", "--within-days", "30", *args,
        stdout=out,
    )  # fmt: skip
    return out.getvalue()


def squeeze(text: str) -> str:
    return re.sub(r" +", " ", text)


def test_the_text_report_shows_the_hand_counted_figures():
    store(SHOP)
    text = squeeze(report("--no-prediction"))

    assert "came back within 30 days 1 3 33.3 %" in text
    assert "ordered on 2+ days 1 4 25.0 %" in text
    assert "returning customers 2 90.00" in text
    assert "all 6 460.00" in text
    assert "returning share 19.6 %" in text
    assert "2026-01 2 100.0 % 0.0 % 50.0 %" in text
    assert "76.67 9.28 3 2134.32" in text
    assert "No comparison yet: one of the groups is empty." in text


def test_json_holds_the_same_figures(tmp_path):
    store(SHOP)
    report("--no-prediction", "--json", str(tmp_path / "report.json"))
    figures = json.loads((tmp_path / "report.json").read_text())

    assert figures["repurchase"]["rate"] == "0.3333"
    assert figures["revenue"]["returning_revenue"] == "90.00"
    assert figures["cohorts"][0]["retention"] == ["1.0000", "0.0000", "0.5000"]
    assert figures["segments"]["customers"] == 5
    assert figures["points"]["ledger_agrees"] is True


def test_the_html_report_is_one_file_with_every_chart_and_no_network(tmp_path):
    store(SHOP)
    report("--no-prediction", "--html", str(tmp_path / "report.html"))
    html = (tmp_path / "report.html").read_text()

    for chart in CHARTS:
        assert f'id="{chart}"' in html
    assert not re.search(r"<script[^>]+src=", html)
    assert not re.search(r"<link[^>]+href=\"https?:", html)


def test_bad_options_are_refused_with_a_message():
    with pytest.raises(CommandError, match="Unknown timezone"):
        report("--timezone", "Mars/Olympus")
    with pytest.raises(CommandError, match="--end must be after --start"):
        call_command(
            "retention_report", "--channel", "c", "--start", "2026-02-01", "--end", "2026-01-01"
        )


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    pytest.skip("Chromium is not installed (apt-get install -y chromium)")


def test_the_html_report_renders_in_headless_chromium_without_console_errors(tmp_path):
    browser = chromium()
    store(SHOP)
    report("--html", str(tmp_path / "report.html"))

    run = subprocess.run(
        [
            browser, "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-background-networking", "--enable-logging=stderr", "--v=0",
            "--virtual-time-budget=10000", "--dump-dom", f"file://{tmp_path / 'report.html'}",
        ],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip

    assert run.returncode == 0, run.stderr[-2000:]
    dom = run.stdout
    for chart in CHARTS:
        # Plotly replaces each chart's empty div by an SVG plot once its script ran.
        match = re.search(rf'<div id="{chart}"[^>]*class="[^"]*js-plotly-plot', dom)
        assert match, f"chart {chart} did not render"
    console = [line for line in run.stderr.splitlines() if "CONSOLE" in line]
    assert not [line for line in console if "ERROR" in line or "Uncaught" in line], console
