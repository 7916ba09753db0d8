"""CDNOW through the backfill and the report agrees with an independent pandas computation.

The sample of the papers (2,357 customers, January 1997 to June 1998) is imported through
the same path as ``retention-sandbox --dataset cdnow``; pandas recomputes the headline
figures straight from the file.
"""

from __future__ import annotations

import json
from datetime import date

import pytest

from saleor_retention_plugin.sandbox import cdnow

pd = pytest.importorskip("pandas", reason="pandas cross-checks CDNOW (test extra, via lifetimes)")
pytest.importorskip("scipy", reason="the report's prediction needs the analytics extra")
pytestmark = pytest.mark.django_db

AS_OF = pd.Timestamp(cdnow.AS_OF)


@pytest.fixture
def sample_frame():
    try:
        path = cdnow.dataset_path("sample")
    except cdnow.DatasetMissing as missing:
        pytest.skip(str(missing))
    frame = pd.read_csv(
        path, sep=r"\s+", header=None, names=["customer", "index", "day", "cds", "dollars"]
    )
    frame["day"] = pd.to_datetime(frame["day"].astype(str), format="%Y%m%d")
    return frame[frame["dollars"] > 0]  # a $0 order is no purchase


def expected_figures(frame) -> dict[str, float]:
    first = frame.groupby("customer")["day"].transform("min")
    customers = frame.assign(first=first)
    per = customers.groupby("customer").agg(first=("first", "min"))
    later = customers[customers["day"] > customers["first"]]
    second = later.groupby("customer")["day"].min()
    per["second"] = second
    matured = per[per["first"] + pd.Timedelta(days=90) <= AS_OF]
    came_back = (matured["second"] <= matured["first"] + pd.Timedelta(days=90)).sum()
    days = customers[["customer", "day"]].drop_duplicates().sort_values(["customer", "day"])
    gaps = days.groupby("customer")["day"].diff().dropna().dt.days
    january = per[(per["first"] >= "1997-01-01") & (per["first"] < "1997-02-01")].index
    in_february = customers[
        customers["customer"].isin(january)
        & (customers["day"] >= "1997-02-01")
        & (customers["day"] < "1997-03-01")
    ]["customer"].nunique()
    return {
        "rate": came_back / len(matured),
        "simple_rate": (days.groupby("customer").size() >= 2).mean(),
        "returning_share": later["dollars"].sum() / customers["dollars"].sum(),
        "revenue": customers["dollars"].sum(),
        "median_gap": gaps.median(),
        "january_month_1": in_february / len(january),
        "customers": customers["customer"].nunique(),
    }


def test_cdnow_report_agrees_with_pandas(sample_frame, tmp_path, capsys):
    assert cdnow.run_cdnow(json_path=str(tmp_path / "cdnow.json"), which="sample") == 0
    report = json.loads((tmp_path / "cdnow.json").read_text())
    expected = expected_figures(sample_frame)

    assert report["period"]["as_of"] == date(1998, 6, 30).isoformat()
    assert float(report["repurchase"]["rate"]) == pytest.approx(expected["rate"], abs=5e-5)
    assert float(report["repurchase"]["simple_rate"]) == pytest.approx(
        expected["simple_rate"], abs=5e-5
    )
    assert float(report["revenue"]["revenue"]) == pytest.approx(expected["revenue"], abs=0.005)
    assert float(report["revenue"]["returning_share"]) == pytest.approx(
        expected["returning_share"], abs=5e-5
    )
    assert report["cycle"]["median_days"] == expected["median_gap"]
    assert float(report["cohorts"][0]["retention"][1]) == pytest.approx(
        expected["january_month_1"], abs=5e-5
    )
    assert report["segments"]["customers"] == expected["customers"]
    printed = capsys.readouterr().out
    assert "CDNOW headline" in printed
    assert f"median days between orders: {expected['median_gap']}" in printed
