"""BG/NBD and Gamma-Gamma reproduce Fader, Hardie and Lee's published CDNOW results.

CDNOW sample: 2,357 customers, calibration period 1 January to 30 September 1997
(39 weeks), time in weeks. Published: BG/NBD r=0.243, alpha=4.414, a=0.793, b=2.426,
LL=-9582.4 (Marketing Science 2005, section 4); Gamma-Gamma p=6.25, q=3.74, gamma=15.44
on the 946 repeat buyers (JMR 2005, section "Spend"); and for a customer with x=2,
t_x=30.43, T=38.86, 1.226 expected purchases in the next 39 weeks (Marketing Science 2005).
"""

from __future__ import annotations

import csv
import os
from datetime import date
from typing import Any

import pytest

pytest.importorskip("scipy", reason="the BTYD models need the analytics extra (SciPy)")

from saleor_retention_plugin.domain import btyd
from saleor_retention_plugin.sandbox import cdnow

CALIBRATION_END = date(1997, 9, 30)


def sample_purchases() -> list[tuple[str, date, float]]:
    """The sample file read by hand: (index in the sample, day, dollars)."""
    try:
        path = cdnow.dataset_path("sample")
    except cdnow.DatasetMissing as missing:
        pytest.skip(f"CDNOW data not installed: {missing}")
    rows = []
    with open(path) as handle:
        for text in handle:
            _, index, day, _, dollars = text.split()
            rows.append(
                (str(int(index)), date(int(day[:4]), int(day[4:6]), int(day[6:])), float(dollars))
            )
    return rows


@pytest.fixture(scope="module")
def calibration() -> list[btyd.CustomerSummary]:
    return btyd.summarise_purchases(sample_purchases(), CALIBRATION_END)


def test_the_summary_matches_hardies_published_calibration_summary(calibration):
    published_path = os.path.join(
        os.path.dirname(cdnow.dataset_path("sample")),
        "cdnow_customers_summary_with_transactions.csv",
    )
    with open(published_path) as handle:
        published = {row["ID"]: row for row in csv.DictReader(handle)}
    ours = {c.customer: c for c in calibration}

    assert len(ours) == len(published) == 2357
    for customer, row in published.items():
        mine = ours[customer]
        assert mine.frequency == int(row["x"])
        assert mine.recency == pytest.approx(float(row["t_x"]), abs=0.006)
        assert mine.age == pytest.approx(float(row["T"]), abs=0.006)
        assert mine.monetary == pytest.approx(float(row["zbar"]), abs=0.006)


def test_bg_nbd_fit_reproduces_the_published_parameters(calibration):
    fitted = btyd.fit_bg_nbd(calibration)

    assert (round(fitted.r, 3), round(fitted.alpha, 3), round(fitted.a, 3), round(fitted.b, 3)) == (
        0.243,
        4.414,
        0.793,
        2.426,
    )
    assert fitted.log_likelihood == pytest.approx(-9582.4, abs=0.05)


def test_expected_purchases_and_probability_alive_of_the_papers_example_customer():
    params = btyd.BgNbdParameters(r=0.243, alpha=4.414, a=0.793, b=2.426, log_likelihood=0)
    customer = btyd.CustomerSummary("1", frequency=2, recency=30.43, age=38.86)

    assert btyd.expected_purchases(params, customer, 39) == pytest.approx(1.226, abs=0.001)
    # P(alive) = 1 / (1 + a/(b+x-1) * ((alpha+T)/(alpha+t_x))^(r+x)), computed by hand.
    odds = 0.793 / (2.426 + 1) * ((4.414 + 38.86) / (4.414 + 30.43)) ** (0.243 + 2)
    assert btyd.probability_alive(params, customer) == pytest.approx(1 / (1 + odds))


def test_a_customer_who_never_came_back_is_alive_by_the_model_and_expects_fewer_orders():
    params = btyd.BgNbdParameters(r=0.243, alpha=4.414, a=0.793, b=2.426, log_likelihood=0)
    one_off = btyd.CustomerSummary("2", frequency=0, recency=0, age=38.86)
    regular = btyd.CustomerSummary("3", frequency=5, recency=38, age=38.86)

    assert btyd.probability_alive(params, one_off) == 1.0
    assert (
        0
        < btyd.expected_purchases(params, one_off, 39)
        < btyd.expected_purchases(params, regular, 39)
    )


def test_gamma_gamma_fit_reproduces_the_published_parameters(calibration):
    fitted = btyd.fit_gamma_gamma(calibration)

    assert (round(fitted.p, 2), round(fitted.q, 2), round(fitted.gamma, 2)) == (6.25, 3.74, 15.44)
    # JMR 2005: the population mean of average spend is p*gamma/(q-1) = 35.2 dollars.
    assert fitted.expected_average_value(0, 0) == pytest.approx(6.25 * 15.44 / 2.74, rel=0.01)


def test_too_little_data_is_refused_with_a_reason():
    only_one_off_buyers = [btyd.CustomerSummary(str(n), 0, 0, 10) for n in range(5)]
    with pytest.raises(btyd.ModelFitError, match="repeat purchase"):
        btyd.fit_bg_nbd(only_one_off_buyers)
    with pytest.raises(btyd.ModelFitError, match="two repeat buyers"):
        btyd.fit_gamma_gamma(only_one_off_buyers)


def test_same_day_purchases_are_one_purchase_and_later_ones_are_ignored():
    rows = [
        ("ann", date(2026, 1, 1), 10),
        ("ann", date(2026, 1, 1), 5),
        ("ann", date(2026, 1, 8), 20),
        ("ann", date(2026, 1, 22), 30),
        ("ann", date(2026, 3, 1), 99),
    ]
    (ann,) = btyd.summarise_purchases(rows, date(2026, 1, 29))
    assert (ann.frequency, ann.recency, ann.age, ann.monetary) == (2, 3.0, 4.0, 25.0)


def test_the_fits_follow_the_exact_gradient_of_their_likelihoods() -> None:
    """The analytic gradients the optimiser uses agree with finite differences."""
    import numpy
    from scipy import optimize

    x = numpy.array([0.0, 0.0, 1.0, 2.0, 7.0])
    t_x = numpy.array([0.0, 0.0, 3.5, 20.0, 30.4])
    big_t = numpy.array([10.0, 38.9, 30.0, 38.9, 31.0])
    weights = numpy.array([40.0, 3.0, 2.0, 1.0, 1.0])
    point: Any = numpy.array([0.243, 4.414, 0.793, 2.426])

    def total(params: Any) -> float:
        return float((weights * btyd.bg_nbd_log_likelihood(params, x, t_x, big_t)).sum())

    columns = (btyd._Distinct(x), btyd._Distinct(t_x), btyd._Distinct(big_t))

    def gradient(params: Any) -> Any:
        return btyd._bg_nbd_terms(params, *columns, weights)[1]

    assert optimize.check_grad(total, gradient, point) < 1e-4 * numpy.abs(gradient(point)).sum()
    assert btyd._bg_nbd_terms(point, *columns, weights)[0] == pytest.approx(
        btyd.bg_nbd_log_likelihood(point, x, t_x, big_t)
    )


def test_weighted_rows_fit_as_the_customers_they_stand_for() -> None:
    """Grouping identical customers (as the report does in SQL) changes no estimate."""
    summaries = btyd.summarise_purchases(sample_purchases(), CALIBRATION_END)
    counts: dict[tuple[float, float, float, float], int] = {}
    for s in summaries:
        key = (s.frequency, s.recency, s.age, s.monetary)
        counts[key] = counts.get(key, 0) + 1
    rows = list(counts)
    weights = [counts[row] for row in rows]
    x, t_x, big_t, m = (list(column) for column in zip(*rows, strict=True))

    bg = btyd.fit_bg_nbd_weighted(x, t_x, big_t, weights)
    gg = btyd.fit_gamma_gamma_weighted(x, m, weights)

    one_by_one = btyd.fit_bg_nbd(summaries)
    assert (bg.r, bg.alpha, bg.a, bg.b) == pytest.approx(
        (one_by_one.r, one_by_one.alpha, one_by_one.a, one_by_one.b), rel=1e-3
    )
    assert bg.log_likelihood == pytest.approx(one_by_one.log_likelihood, abs=0.01)
    alone = btyd.fit_gamma_gamma(summaries)
    assert (gg.p, gg.q, gg.gamma) == pytest.approx((alone.p, alone.q, alone.gamma), rel=1e-3)
    assert len(rows) < len(summaries)


def test_group_days_counts_the_customers_of_each_distinct_row():
    pytest.importorskip("numpy")
    x, t_x, big_t, counts = btyd.group_days(
        [0, 2, 0, 2, 1], [0, 30, 0, 30, 30], [90, 90, 90, 90, 5]
    )
    assert list(zip(x, t_x, big_t, counts, strict=True)) == [
        (0, 0, 90, 2),
        (1, 30, 5, 1),
        (2, 30, 90, 2),
    ]
    assert [len(column) for column in btyd.group_days([], [], [])] == [0, 0, 0, 0]
