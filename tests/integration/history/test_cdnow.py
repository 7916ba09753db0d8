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


def test_cdnow_high_value_is_the_top_tenth_by_predicted_value(sample_frame, tmp_path):
    """The report's high-value customers and revenue, recomputed with pandas from the file.

    With the report's own fitted parameters: each customer's expected orders in 52 weeks
    times the Gamma-Gamma expected order value, ties by customer key.
    """
    from saleor_retention_plugin.domain import btyd

    assert cdnow.run_cdnow(json_path=str(tmp_path / "cdnow.json"), which="sample") == 0
    report = json.loads((tmp_path / "cdnow.json").read_text())
    fitted = report["predicted"]
    bg = btyd.BgNbdParameters(**fitted["bg_nbd"])
    gg = btyd.GammaGammaParameters(**fitted["gamma_gamma"])
    days = sample_frame.groupby(["customer", "day"])["dollars"].sum().reset_index()
    per = days.groupby("customer").agg(
        first=("day", "min"), last=("day", "max"), n=("day", "size"), revenue=("dollars", "sum")
    )
    first_day = days.groupby("customer")["dollars"].first()
    per["m"] = ((per["revenue"] - first_day) / (per["n"] - 1)).where(per["n"] > 1, 0.0)
    value = {
        f"customer:{customer}": btyd.expected_purchases(
            bg,
            btyd.CustomerSummary(
                "", int(row.n) - 1, (row.last - row.first).days / 7, (AS_OF - row.first).days / 7
            ),
            52,
        )
        * gg.expected_average_value(int(row.n) - 1, float(row.m))
        for customer, row in per.iterrows()
    }
    revenue = {f"customer:{customer}": r for customer, r in per["revenue"].items()}
    top = sorted(value, key=lambda key: (-value[key], key))[: -(-len(value) // 10)]

    assert report["segments"]["high_value_basis"] == "predicted_value"
    assert report["segments"]["high_value"] == len(top) == 235  # of 2,349 buyers
    assert float(report["segments"]["high_value_revenue"]) == pytest.approx(
        sum(revenue[key] for key in top), abs=0.005
    )
