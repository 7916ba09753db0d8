"""Buy-till-you-die models: BG/NBD (how many more orders) and Gamma-Gamma (worth how much).

Sources:

* BG/NBD: Fader, Hardie and Lee, "Counting your customers the easy way: an alternative
  to the Pareto/NBD model", Marketing Science 24(2), 2005 (likelihood eq. 6, P(alive)
  eq. in section 5 / note "Computing P(alive)", conditional expectation eq. 10).
* Gamma-Gamma: Fader, Hardie and Lee, "RFM and CLV: using iso-value curves for customer
  base analysis", Journal of Marketing Research 42(4), 2005 (eqs. 1-5), and Fader &
  Hardie, "The Gamma-Gamma model of monetary value" (2013 note).

Inputs per customer (``CustomerSummary``): ``frequency`` x = repeat purchases (distinct
purchase days after the first), ``recency`` t_x = time from the first to the last
purchase, ``age`` T = time from the first purchase to the end of the observation period,
all in one time unit (weeks for CDNOW; the report uses days), and ``monetary`` = mean value
of the repeat purchases. Fitting is maximum likelihood with SciPy (the optional
``analytics`` extra); without SciPy ``AnalyticsUnavailable`` is raised with the fix.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from datetime import date
    from decimal import Decimal


class AnalyticsUnavailable(ImportError):
    """SciPy is not installed: ``pip install saleor-retention-plugin[analytics]``."""


class ModelFitError(ValueError):
    """The data cannot fit the model (too few customers or repeat buyers); says why."""


@dataclass(frozen=True)
class CustomerSummary:
    customer: str
    frequency: int
    recency: float
    age: float
    monetary: float = 0.0


@dataclass(frozen=True)
class BgNbdParameters:
    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float


@dataclass(frozen=True)
class GammaGammaParameters:
    p: float
    q: float
    gamma: float
    log_likelihood: float

    def expected_average_value(self, frequency: int, monetary: float) -> float:
        """E(M | x, m̄) (JMR 2005 eq. 5): shrinks a customer's mean towards the population's."""
        p, q, gamma = self.p, self.q, self.gamma
        if frequency <= 0:
            return p * gamma / (q - 1) if q > 1 else float("nan")
        return p * (gamma + frequency * monetary) / (p * frequency + q - 1)


def summarise_purchases(
    purchases: Iterable[tuple[str, date, Decimal | float]],
    end: date,
    *,
    days_per_unit: float = 7.0,
) -> list[CustomerSummary]:
    """Frequency, recency, age and mean repeat value per customer from (customer, day, value).

    Purchases on the same day are one purchase (their values add up), as in the papers.
    Purchases after ``end`` are ignored. Time is in units of ``days_per_unit`` days.
    """
    days: dict[str, dict[date, float]] = {}
    for customer, day, value in purchases:
        if day > end:
            continue
        per_day = days.setdefault(customer, {})
        per_day[day] = per_day.get(day, 0.0) + float(value)
    summaries = []
    for customer, per_day in days.items():
        ordered = sorted(per_day)
        first, last = ordered[0], ordered[-1]
        repeats = [per_day[day] for day in ordered[1:]]
        summaries.append(
            CustomerSummary(
                customer=customer,
                frequency=len(repeats),
                recency=(last - first).days / days_per_unit,
                age=(end - first).days / days_per_unit,
                monetary=sum(repeats) / len(repeats) if repeats else 0.0,
            )
        )
    return summaries


def _scipy() -> tuple[Any, Any, Any]:
    try:
        import numpy
        from scipy import optimize, special
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise AnalyticsUnavailable(
            "The BG/NBD and Gamma-Gamma models need SciPy: "
            "pip install 'saleor-retention-plugin[analytics]'"
        ) from error
    return numpy, optimize, special


def _arrays(customers: Sequence[CustomerSummary]) -> tuple[Any, Any, Any]:
    numpy, _, _ = _scipy()
    x = numpy.array([c.frequency for c in customers], dtype=float)
    t_x = numpy.array([c.recency for c in customers], dtype=float)
    big_t = numpy.array([c.age for c in customers], dtype=float)
    return x, t_x, big_t


def bg_nbd_log_likelihood(params: Sequence[float], x: Any, t_x: Any, big_t: Any) -> Any:
    """Per-customer log-likelihood of BG/NBD (Marketing Science 2005, eq. 6)."""
    numpy, _, special = _scipy()
    r, alpha, a, b = params
    a1 = special.gammaln(r + x) - special.gammaln(r) + r * numpy.log(alpha)
    a2 = special.gammaln(a + b) + special.gammaln(b + x) - special.gammaln(b)
    a2 = a2 - special.gammaln(a + b + x)
    a3 = -(r + x) * numpy.log(alpha + big_t)
    repeat = x > 0
    a4 = numpy.full_like(x, -numpy.inf)
    with numpy.errstate(divide="ignore", invalid="ignore"):
        a4_all = numpy.log(a) - numpy.log(b + x - 1) - (r + x) * numpy.log(alpha + t_x)
    a4[repeat] = a4_all[repeat]
    return a1 + a2 + numpy.logaddexp(a3, a4)


# Estimates are searched between e^-LOG_BOUND and e^LOG_BOUND (6e-8 to 2e7, in units near
# ten periods): an estimate on a bound means the likelihood keeps rising towards 0 or
# infinity, so the model does not describe the history (say, steady buying and no dropout).
LOG_BOUND = 16.5


def _minimise(optimize: Any, negative: Any, start: Any) -> Any:
    """L-BFGS-B with the analytic gradient within the bounds, restarted once from its own
    answer; ``ModelFitError`` when an estimate ends on a bound.
    """
    bounds = [(-LOG_BOUND, LOG_BOUND)] * len(start)
    result = optimize.minimize(negative, start, method="L-BFGS-B", jac=True, bounds=bounds)
    result = optimize.minimize(negative, result.x, method="L-BFGS-B", jac=True, bounds=bounds)
    if any(abs(float(v)) >= LOG_BOUND - 1e-6 for v in result.x):
        raise ModelFitError(
            "The model does not fit this history: its estimates run off to 0 or infinity "
            "(steady buying without dropout looks like this)."
        )
    return result


def _dot(left: Any, right: Any) -> Any:
    """Σ left·right of two vectors, without BLAS: on a busy machine its threads made one
    dot product of 200 thousand numbers 50 times slower than multiplying and summing.
    """
    return (left * right).sum()


class _Distinct:
    """A column and its distinct values: a function of the column computes once per value.

    ``values[inverse]`` is the column. Order counts and days take few distinct values, so
    the likelihood's logs and gamma functions run on a few hundred numbers, not on every
    customer.
    """

    def __init__(self, column: Any) -> None:
        numpy, _, _ = _scipy()
        self.full = column
        self.values, self.inverse = numpy.unique(column, return_inverse=True)

    def spread(self, per_value: Any) -> Any:
        return per_value[self.inverse]


def _bg_nbd_terms(
    params: Sequence[float], x: _Distinct, t_x: _Distinct, big_t: _Distinct, weights: Any
) -> tuple[Any, Any]:
    """Per-row log-likelihood (eq. 6) and the weighted sum of its gradient in (r, alpha, a, b).

    The gradient differentiates eq. 6 term by term (digamma for the gamma functions; the
    log-sum-exp of its last two terms splits by their shares ``w3`` and ``w4``). Terms of
    x alone are summed per distinct x, with the weights of its rows.
    """
    numpy, _, special = _scipy()
    r, alpha, a, b = (float(v) for v in params)
    ux, xs = x.values, x.full
    repeat = xs > 0
    per_x = (
        special.gammaln(r + ux) - special.gammaln(r) + r * numpy.log(alpha)
        + special.gammaln(a + b) + special.gammaln(b + ux) - special.gammaln(b)
        - special.gammaln(a + b + ux)
    )  # fmt: skip
    with numpy.errstate(divide="ignore", invalid="ignore"):
        inverse_b = numpy.where(ux > 0, 1.0 / (b + ux - 1), 0.0)
        log_b = numpy.where(ux > 0, numpy.log(b + ux - 1), 0.0)
    log_t = big_t.spread(numpy.log(alpha + big_t.values))
    log_tx = t_x.spread(numpy.log(alpha + t_x.values))
    a3 = -(r + xs) * log_t
    a4 = numpy.where(repeat, numpy.log(a) - x.spread(log_b) - (r + xs) * log_tx, -numpy.inf)
    mix = numpy.logaddexp(a3, a4)
    each = x.spread(per_x) + mix
    # w3 below e^-40 is 0 to double precision next to w4 = 1 - w3; computing it would
    # fill the arrays with subnormal numbers, which the CPU handles many times slower.
    share = a3 - mix
    w3 = numpy.where(share > -40.0, numpy.exp(numpy.maximum(share, -40.0)), 0.0)
    ww3 = weights * w3
    ww4 = numpy.where(repeat, weights - ww3, 0.0)
    per_x_weight = numpy.bincount(x.inverse, weights, minlength=len(ux))
    d_ab = special.digamma(a + b) - special.digamma(a + b + ux)
    inverse_t = big_t.spread(1.0 / (alpha + big_t.values))
    inverse_tx = t_x.spread(1.0 / (alpha + t_x.values))
    gradient = numpy.array(
        [
            _dot(per_x_weight, special.digamma(r + ux) - special.digamma(r) + numpy.log(alpha))
            - _dot(ww3, log_t) - _dot(ww4, log_tx),
            per_x_weight.sum() * r / alpha - _dot(r + xs, ww3 * inverse_t + ww4 * inverse_tx),
            _dot(per_x_weight, d_ab) + ww4.sum() / a,
            _dot(per_x_weight, d_ab + special.digamma(b + ux) - special.digamma(b))
            - _dot(ww4, x.spread(inverse_b)),
        ]
    )  # fmt: skip
    return each, gradient


def fit_bg_nbd(customers: Sequence[CustomerSummary]) -> BgNbdParameters:
    """Maximum-likelihood r, alpha, a, b. Raises ``ModelFitError`` without repeat buyers."""
    numpy, _, _ = _scipy()
    if len(customers) < 2 or not any(c.frequency > 0 for c in customers):
        raise ModelFitError("BG/NBD needs at least two customers and one repeat purchase.")
    # Customers with the same (x, t_x, T) have the same likelihood: fit on the distinct
    # triples, weighted by how many customers share each (most one-off buyers do).
    triples, weights = numpy.unique(
        numpy.column_stack(_arrays(customers)), axis=0, return_counts=True
    )
    return fit_bg_nbd_weighted(triples[:, 0], triples[:, 1], triples[:, 2], weights)


def group_days(x: Any, t_x: Any, big_t: Any) -> tuple[Any, Any, Any, Any]:
    """Distinct (x, t_x, T) of whole numbers (days) and how many rows share each.

    One integer key per row, so the grouping is a sort of numbers, not of rows.
    """
    numpy, _, _ = _scipy()
    x, t_x, big_t = (numpy.asarray(v, dtype=numpy.int64) for v in (x, t_x, big_t))
    if not len(x):
        return x, t_x, big_t, numpy.zeros(0)
    span = int(max(t_x.max(), big_t.max())) + 1
    keys, counts = numpy.unique((x * span + t_x) * span + big_t, return_counts=True)
    return keys // (span * span), keys // span % span, keys % span, counts


def fit_bg_nbd_weighted(x: Any, t_x: Any, big_t: Any, weights: Any) -> BgNbdParameters:
    """``fit_bg_nbd`` on rows (x, t_x, T) each standing for ``weights`` customers (arrays).

    Raises ``ModelFitError`` for fewer than two customers or no repeat purchase.
    """
    numpy, optimize, _ = _scipy()
    x, t_x, big_t = (numpy.asarray(v, dtype=float) for v in (x, t_x, big_t))
    weights = numpy.asarray(weights, dtype=float)
    if weights.sum() < 2 or not (weights[x > 0] > 0).any():
        raise ModelFitError("BG/NBD needs at least two customers and one repeat purchase.")
    scale = max(float(big_t.max()), 1e-9) / 10  # fit in a unit near 10 periods: stabler
    columns = (_Distinct(x), _Distinct(t_x / scale), _Distinct(big_t / scale))

    def negative(log_params: Any) -> tuple[float, Any]:
        params = numpy.exp(log_params)
        with numpy.errstate(over="ignore", invalid="ignore", divide="ignore"):
            each, gradient = _bg_nbd_terms(params, *columns, weights)
            value = -_dot(weights, each)
        if not numpy.isfinite(value) or not numpy.isfinite(gradient).all():
            return 1e300, numpy.zeros(4)
        return float(value), -gradient * params  # chain rule: d/d log θ = θ d/dθ

    # Quasi-Newton with the analytic gradient from r = alpha = a = b = 1 (log 0), restarted
    # once from its own answer: converges on CDNOW to the published estimates.
    result = _minimise(optimize, negative, numpy.zeros(4))
    r, alpha, a, b = (float(v) for v in numpy.exp(result.x))
    log_likelihood = float(
        (weights * bg_nbd_log_likelihood((r, alpha * scale, a, b), x, t_x, big_t)).sum()
    )
    return BgNbdParameters(r, alpha * scale, a, b, log_likelihood)


def probability_alive(params: BgNbdParameters, customer: CustomerSummary) -> float:
    """P(still active | x, t_x, T) under BG/NBD; 1 for a customer who never came back."""
    x = customer.frequency
    if x == 0:
        return 1.0
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    log_ratio = (r + x) * (math.log(alpha + customer.age) - math.log(alpha + customer.recency))
    odds = a / (b + x - 1) * math.exp(log_ratio)
    return 1.0 / (1.0 + odds)


def expected_purchases(params: BgNbdParameters, customer: CustomerSummary, horizon: float) -> float:
    """E[orders in the next ``horizon`` periods | x, t_x, T] (Marketing Science 2005, eq. 10)."""
    _, _, special = _scipy()
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    x, t_x, big_t = customer.frequency, customer.recency, customer.age
    if horizon <= 0:
        return 0.0
    z = horizon / (alpha + big_t + horizon)
    hyp = special.hyp2f1(r + x, b + x, a + b + x - 1, z)
    first = (a + b + x - 1) / (a - 1)  # a < 1 is fine: the bracket is negative too
    term = 1 - ((alpha + big_t) / (alpha + big_t + horizon)) ** (r + x) * hyp
    odds = 0.0
    if x > 0:
        odds = a / (b + x - 1) * ((alpha + big_t) / (alpha + t_x)) ** (r + x)
    return float(first * term / (1 + odds))


def gamma_gamma_log_likelihood(params: Sequence[float], x: Any, m: Any) -> Any:
    """Per-customer log-likelihood of mean spend m̄ over x transactions (JMR 2005)."""
    numpy, _, special = _scipy()
    p, q, gamma = params
    return (
        special.gammaln(p * x + q)
        - special.gammaln(p * x)
        - special.gammaln(q)
        + q * numpy.log(gamma)
        + (p * x - 1) * numpy.log(m)
        + (p * x) * numpy.log(x)
        - (p * x + q) * numpy.log(gamma + m * x)
    )


def fit_gamma_gamma(customers: Sequence[CustomerSummary]) -> GammaGammaParameters:
    """Maximum-likelihood p, q, gamma over repeat buyers with a positive mean repeat value."""
    numpy, _, _ = _scipy()
    buyers = [c for c in customers if c.frequency > 0 and c.monetary > 0]
    x = numpy.array([c.frequency for c in buyers], dtype=float)
    m = numpy.array([c.monetary for c in buyers], dtype=float)
    return fit_gamma_gamma_weighted(x, m, numpy.ones(len(buyers)))


def fit_gamma_gamma_weighted(x: Any, m: Any, weights: Any) -> GammaGammaParameters:
    """``fit_gamma_gamma`` on rows (x, m̄) each standing for ``weights`` customers (arrays);
    rows without a repeat purchase or spend are left out. Raises ``ModelFitError`` for
    fewer than two repeat buyers with spend.
    """
    numpy, optimize, special = _scipy()
    x, m, weights = (numpy.asarray(v, dtype=float) for v in (x, m, weights))
    keep = (x > 0) & (m > 0)
    x, m, weights = x[keep], m[keep], weights[keep]
    if weights.sum() < 2:
        raise ModelFitError("Gamma-Gamma needs at least two repeat buyers with spend.")
    column = _Distinct(x)
    ux = column.values
    per_x_weight = numpy.bincount(column.inverse, weights, minlength=len(ux))
    # The terms without the parameters' logs of spend, summed once.
    fixed = _dot(weights, x * numpy.log(m) + x * numpy.log(x)), _dot(weights, numpy.log(m))

    def negative(log_params: Any) -> tuple[float, Any]:
        with numpy.errstate(over="ignore", invalid="ignore", divide="ignore"):
            p, q, gamma = params = numpy.exp(log_params)
            # JMR 2005: log-likelihood of mean spend m̄ over x transactions, summed.
            log_spent = numpy.log(gamma + m * x)
            per_x = special.gammaln(p * ux + q) - special.gammaln(p * ux) - special.gammaln(q)
            total = weights.sum()
            value = (
                _dot(per_x_weight, per_x) + total * q * numpy.log(gamma) + p * fixed[0] - fixed[1]
                - _dot(weights * (p * x + q), log_spent)
            )  # fmt: skip
            d_pxq = special.digamma(p * ux + q)
            gradient = numpy.array(
                [
                    _dot(per_x_weight * ux, d_pxq - special.digamma(p * ux)) + fixed[0]
                    - _dot(weights * x, log_spent),
                    _dot(per_x_weight, d_pxq - special.digamma(q)) + total * numpy.log(gamma)
                    - _dot(weights, log_spent),
                    total * q / gamma - _dot(weights * (p * x + q), 1.0 / (gamma + m * x)),
                ]
            )  # fmt: skip
        if not numpy.isfinite(value) or not numpy.isfinite(gradient).all():
            return 1e300, numpy.zeros(3)
        return float(-value), -gradient * params

    start = numpy.log([1.0, 1.0, float(numpy.average(m, weights=weights))])
    result = _minimise(optimize, negative, start)
    p, q, gamma = (float(v) for v in numpy.exp(result.x))
    log_likelihood = float(_dot(weights, gamma_gamma_log_likelihood((p, q, gamma), x, m)))
    return GammaGammaParameters(p, q, gamma, log_likelihood)


def expected_purchases_many(
    params: BgNbdParameters, customers: Sequence[CustomerSummary], horizon: float
) -> list[float]:
    """``expected_purchases`` for many customers at once (vectorised)."""
    if not customers or horizon <= 0:
        return [0.0] * len(customers)
    return [float(v) for v in expected_purchases_arrays(params, *_arrays(customers), horizon)]


def expected_purchases_arrays(
    params: BgNbdParameters, x: Any, t_x: Any, big_t: Any, horizon: float
) -> Any:
    """``expected_purchases`` over arrays of x, t_x and T (eq. 10): an array."""
    numpy, _, special = _scipy()
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    if horizon <= 0:
        return numpy.zeros_like(x)
    z = horizon / (alpha + big_t + horizon)
    hyp = special.hyp2f1(r + x, b + x, a + b + x - 1, z)
    term = 1 - ((alpha + big_t) / (alpha + big_t + horizon)) ** (r + x) * hyp
    with numpy.errstate(divide="ignore", invalid="ignore"):
        odds = numpy.where(
            x > 0, a / (b + x - 1) * ((alpha + big_t) / (alpha + t_x)) ** (r + x), 0.0
        )
    return (a + b + x - 1) / (a - 1) * term / (1 + odds)


def probability_alive_arrays(params: BgNbdParameters, x: Any, t_x: Any, big_t: Any) -> Any:
    """``probability_alive`` over arrays of x, t_x and T: an array (1 where x = 0)."""
    numpy, _, _ = _scipy()
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    with numpy.errstate(divide="ignore", invalid="ignore", over="ignore"):
        odds = (
            a
            / (b + x - 1)
            * numpy.exp((r + x) * (numpy.log(alpha + big_t) - numpy.log(alpha + t_x)))
        )
    return numpy.where(x > 0, 1.0 / (1.0 + odds), 1.0)


def expected_average_value_arrays(params: GammaGammaParameters, x: Any, m: Any) -> Any:
    """``GammaGammaParameters.expected_average_value`` over arrays of x and m̄."""
    numpy, _, _ = _scipy()
    p, q, gamma = params.p, params.q, params.gamma
    population = p * gamma / (q - 1) if q > 1 else float("nan")
    with numpy.errstate(divide="ignore", invalid="ignore"):
        return numpy.where(x > 0, p * (gamma + x * m) / (p * x + q - 1), population)
