"""Staff read the retention figures through the loyalty API and open the HTML report."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from saleor_retention_plugin.endpoints import route_plugin_request
from tests.unit.test_metrics import SHOP

from .test_metrics_sql import store

pytestmark = pytest.mark.django_db

REPORT = """
query Report($start: String, $end: String, $asOf: String, $withinDays: Int) {
  retentionReport(start: $start, end: $end, asOf: $asOf, withinDays: $withinDays) {
    currency customers repurchaseRate repeatBuyerRate returningRevenueShare revenue
    medianCycleDays ltv segments { new active dormant highValue discountDriven } figures
  }
}
"""
PERIOD = {"start": "2026-01-01", "end": "2026-03-01", "asOf": "2026-03-15", "withinDays": 30}


def test_staff_read_the_hand_counted_figures(loyalty_api, staff_token):
    store(SHOP, channel="main")

    response = loyalty_api.post(REPORT, PERIOD, token=staff_token().token)

    report = response.data["retentionReport"]
    assert report["currency"] == "USD"
    assert (report["repurchaseRate"], report["repeatBuyerRate"]) == ("0.3333", "0.2500")
    assert (report["revenue"], report["returningRevenueShare"]) == ("460.00", "0.1957")
    assert report["medianCycleDays"] == 20.5
    assert report["ltv"] == "2134.32"
    assert report["customers"] == 5
    assert sum(report["segments"][name] for name in ("new", "active", "dormant")) == 5
    assert '"returning_revenue": "90.00"' in report["figures"]


def test_customers_and_anonymous_callers_are_refused(loyalty_api, customer_token):
    for token in (customer_token().token, None):
        response = loyalty_api.post(REPORT, PERIOD, token=token)
        assert response.error_messages == [
            "You need one of the following permissions: MANAGE_USERS."
        ]
        assert response.body["data"] is None


def test_bad_dates_get_a_clear_message_not_a_server_error(loyalty_api, staff_token):
    response = loyalty_api.post(REPORT, {"start": "first of May"}, token=staff_token().token)
    assert response.status == 200
    assert response.error_messages == ["start must be a date such as 2026-01-31."]
    response = loyalty_api.post(
        REPORT, {"start": "2026-03-01", "end": "2026-01-01"}, token=staff_token().token
    )
    assert response.error_messages == ["end must be after start."]


def get_report(loyalty_api, token, query="?start=2026-01-01&end=2026-03-01&as_of=2026-03-15"):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = RequestFactory().get(
        f"/plugins/channel/main/saleor.retention/report/{query}", headers=headers
    )
    return route_plugin_request(loyalty_api.plugin("main"), request, "report/")


def test_staff_open_the_html_report_on_the_plugin_path(loyalty_api, staff_token):
    store(SHOP, channel="main")
    response = get_report(loyalty_api, staff_token().token)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    assert 'id="cohort-heatmap"' in page
    assert "460.00" in page


def test_the_html_report_refuses_customers_and_strangers(loyalty_api, customer_token):
    assert get_report(loyalty_api, customer_token().token).status_code == 403
    assert get_report(loyalty_api, None).status_code == 401
    assert get_report(loyalty_api, "not-a-token").status_code == 401
