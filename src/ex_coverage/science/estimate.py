"""The continuous answer (SPEC §9): a dose–response fit of pass/fail on log10 coverage, ED80 and the upper
edge with 95 % profile-likelihood intervals, the fit's checks (SPEC §9c: goodness of fit by parametric bootstrap,
the probit and complementary log-log estimates, extrapolation), and where refinement should place new runs
(SPEC §9a: at the edge with the wider interval).

The GLM fits use statsmodels; the crossing transform and the profile intervals are ours:
to profile a crossing θ (in x = log10 c) the model is reparametrised so that θ is a parameter,
``logit p = logit(0.8) + β1 (x − θ) [+ β2 (x² − θ²) [+ β3 (x³ − θ³)]]``, the other coefficients are re-fitted
with θ held fixed (the curve must rise through 0.8 at θ for ED80 and fall through it for the upper edge), and the
interval is every θ whose likelihood-ratio statistic is ≤ χ²₁(0.95). The cubic term enters only with a downturn
and where a likelihood-ratio test asks for it: it lets the rise and the fall differ in steepness, which a single
quadratic forces to be equal (README: "Why a cubic term").

Degenerate data never raise and never give a silent number: the fit carries a ``reason``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

TARGET = 0.8
LOGIT_TARGET = math.log(TARGET / (1 - TARGET))
#: The 95 % quantile of χ² with one degree of freedom (``scipy.stats.chi2.ppf(0.95, 1)``; scipy is imported
#: where it is used: it adds half a second to every ``kedro`` command that merely imports this module).
CHI2_95 = 3.841458820694124
ALPHA = 0.05
#: How far (decades) beyond the data an interval is searched before it is called unbounded on that side.
SEARCH_MARGIN = 3.0
#: The other links each estimate is compared with (SPEC §9c), and the value each gives p = 0.8 on its scale:
#: probit Φ⁻¹(0.8), complementary log-log log(−log(1 − 0.8)).
OTHER_LINKS = {"probit": 0.8416212335729143, "cloglog": math.log(-math.log(1 - TARGET))}
#: The models by degree in x = log10 c. The cubic lets the rise and the fall differ in steepness (SPEC §9, see
#: :func:`fit_dose_response`).
MODELS = {1: "linear", 2: "quadratic", 3: "cubic"}
#: The highest degree the fit may choose (each higher term only where a likelihood-ratio test asks for it).
MAX_DEGREE = 3
#: Parametric-bootstrap draws of the goodness-of-fit test: its p is resolved to 1/(draws + 1).
GOF_DRAWS = 999


@dataclass(frozen=True)
class Crossing:
    """A crossing of p = 0.8 in x = log10(c), with its 95 % profile interval (None = unbounded on that side)."""

    x: float
    low: float | None
    high: float | None

    @property
    def coverage(self) -> float:
        return 10.0**self.x

    def coverage_interval(self) -> tuple[float | None, float | None]:
        return (None if self.low is None else 10.0**self.low, None if self.high is None else 10.0**self.high)

    @property
    def width(self) -> float:
        """Interval width in decades (inf when unbounded)."""
        return math.inf if self.low is None or self.high is None else self.high - self.low


@dataclass
class DoseResponse:
    """The fit for one criterion. ``reason`` says why ED80 is not given (None when it is)."""

    runs: int
    passes: int
    model: str | None = None  # "linear" or "quadratic"
    coefficients: list[float] = field(default_factory=list)  # β0, β1[, β2] on x = log10 c
    covariance: list[list[float]] = field(default_factory=list)
    slope: float | None = None
    slope_p: float | None = None
    curvature_p: float | None = None
    ed80: Crossing | None = None
    upper: Crossing | None = None
    reason: str | None = None
    bracket: list[float] | None = None  # with separation: (highest failing, lowest passing) coverage
    notes: list[str] = field(default_factory=list)  # secondary statements (curvature, upper edge, intervals)
    tested: list[float] | None = None  # (lowest, highest) tested coverage > 0: the range an estimate is read from
    gof_statistic: float | None = None  # deviance over levels against the saturated model (SPEC §9c)
    gof_p: float | None = None  # its parametric-bootstrap p (see :func:`bootstrap_gof`)
    links: dict[str, list[float | None]] = field(default_factory=dict)  # link → [ED80, upper edge] in x = log10 c
    asymmetry_p: float | None = (
        None  # LR test of a cubic term against the quadratic (rise and fall of unequal steepness)
    )

    def extrapolated(self, edge: str) -> bool | None:
        """Whether ``edge`` ("ed80" or "upper") or a bound of its interval lies outside the tested coverages (an
        unbounded side counts as outside); None without that estimate."""
        crossing = self.ed80 if edge == "ed80" else self.upper
        if crossing is None or self.tested is None:
            return None
        low, high = (math.log10(v) for v in self.tested)
        ends = (crossing.low, crossing.x, crossing.high)
        return any(v is None or v < low - 1e-9 or v > high + 1e-9 for v in ends)

    def link_estimate(self, link: str, edge: str) -> float | None:
        """The ``edge`` crossing (coverage) of the same model under ``link`` ("probit", "cloglog"), or None."""
        value = (self.links.get(link) or [None, None])[0 if edge == "ed80" else 1]
        return None if value is None else 10.0**value

    def links_disagree(self, edge: str) -> list[str]:
        """The other links whose ``edge`` estimate lies outside the logit's 95 % interval."""
        crossing = self.ed80 if edge == "ed80" else self.upper
        if crossing is None:
            return []
        low = -math.inf if crossing.low is None else crossing.low
        high = math.inf if crossing.high is None else crossing.high
        out = []
        for link, values in self.links.items():
            value = values[0 if edge == "ed80" else 1]
            if value is not None and not low <= value <= high:
                out.append(link)
        return out

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DoseResponse:
        data = dict(data)
        for key in ("ed80", "upper"):
            if data.get(key) is not None:
                data[key] = Crossing(**data[key])
        return cls(**data)

    def probability(self, x: NDArray) -> NDArray:
        return expit(_design(np.asarray(x, dtype=float), len(self.coefficients) - 1) @ np.asarray(self.coefficients))

    def band(self, x: NDArray, z: float = 1.959963984540054) -> tuple[NDArray, NDArray]:
        """Pointwise 95 % band of the fitted probability (Wald, on the logit scale)."""
        design = _design(np.asarray(x, dtype=float), len(self.coefficients) - 1)
        eta = design @ np.asarray(self.coefficients)
        se = np.sqrt(np.einsum("ij,jk,ik->i", design, np.asarray(self.covariance), design))
        return expit(eta - z * se), expit(eta + z * se)


def expit(eta: NDArray) -> NDArray:
    """The logistic function, clipped so that it neither overflows nor warns."""
    return 1.0 / (1.0 + np.exp(-np.clip(eta, -700, 700)))


def _design(x: NDArray, degree: int) -> NDArray:
    return np.stack([x**k for k in range(degree + 1)], axis=1)


def binomial_deviance(eta: NDArray, y: NDArray, weight: NDArray | None = None) -> float:
    """Binomial deviance of 0/1 outcomes (= 2 × negative log-likelihood); ``weight`` counts repeated rows."""
    terms = np.logaddexp(0.0, eta) - y * eta
    return float(2.0 * np.sum(terms if weight is None else weight * terms))


def separated(design: NDArray, y: NDArray) -> bool:
    """True when the outcomes are (quasi-)completely separated by the design, so the MLE does not exist.

    Linear programme (Konis 2007): is there a β ≠ 0 with (2y − 1)·Xβ ≥ 0 for every run, > 0 for some?
    """
    signed = (2 * np.asarray(y, dtype=float) - 1)[:, None] * design
    scale = np.abs(design).max(axis=0)
    scale[scale == 0] = 1.0
    a = signed / scale
    from scipy import optimize

    result = optimize.linprog(
        -a.sum(axis=0), A_ub=-a, b_ub=np.zeros(len(a)), bounds=[(-1, 1)] * design.shape[1], method="highs"
    )
    return result.status == 0 and -result.fun > 1e-7 * len(a)


def _glm(design: NDArray, y: NDArray):
    from statsmodels.genmod.families import Binomial  # not statsmodels.api: that imports everything (seconds)
    from statsmodels.genmod.generalized_linear_model import GLM

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return GLM(y, design, family=Binomial()).fit()


def newton_logit(
    X: NDArray,
    y: NDArray,
    offset: float = 0.0,
    start: NDArray | None = None,
    max_steps: int = 100,
    tolerance: float = 1e-9,
    step_tolerance: float = math.inf,
) -> tuple[NDArray, float, bool]:
    """Maximum-likelihood b of ``logit p = offset + X @ b`` for 0/1 outcomes ``y`` by damped Newton:
    (b, deviance, converged).

    Stops when a step lowers the deviance by less than ``tolerance`` and moves no coefficient by more than
    ``step_tolerance`` (converged, unless b has run off to |b| ≥ 1e3), when no step along Newton's direction lowers
    it, or after ``max_steps`` (not converged). Under separation the deviance still decreases to its infimum
    while b grows.
    """
    b = np.zeros(X.shape[1]) if start is None else np.array(start, dtype=float)
    ridge = 1e-10 * np.eye(len(b))
    eta = offset + X @ b
    current = binomial_deviance(eta, y)
    for _ in range(max_steps):
        p = expit(eta)
        hessian = X.T @ (X * (p * (1 - p))[:, None]) + ridge
        step = np.linalg.solve(hessian, X.T @ (p - y))
        t = 1.0
        while t > 1e-8:
            candidate_eta = offset + X @ (b - t * step)
            candidate = binomial_deviance(candidate_eta, y)
            if candidate <= current + 1e-12:
                break
            t /= 2
        if t <= 1e-8:
            break
        b, eta = b - t * step, candidate_eta
        improvement, current = current - candidate, candidate
        if improvement < tolerance and np.max(np.abs(t * step)) < step_tolerance:
            return b, current, bool(np.max(np.abs(b)) < 1e3)
    return b, current, False


def _profile_fit(regressors: NDArray, y: NDArray) -> tuple[float, NDArray]:
    """Smallest deviance of ``logit p = logit(0.8) + regressors @ b`` over b, and that b."""
    b, deviance, _ = newton_logit(regressors, y, offset=LOGIT_TARGET)
    return deviance, b


def profile_deviance(theta: float, x: NDArray, y: NDArray, degree: int, rising: bool) -> float:
    """Smallest deviance among curves of ``degree`` that cross 0.8 at x = θ, rising (ED80) or falling (upper edge).

    The curve is ``logit p = logit(0.8) + Σₖ bₖ (xᵏ − θᵏ)``. With θ fixed the deviance is convex in the b and the
    side condition (slope at θ, Σₖ k bₖ θᵏ⁻¹, ≥ 0 for a rising crossing, ≤ 0 for a falling one) is linear, so the
    constrained minimum is the unconstrained one when that satisfies the condition, else on the boundary (slope 0
    at θ: b₁ eliminated, the other regressors become xᵏ − θᵏ − kθᵏ⁻¹(x − θ)).
    """
    sign = 1.0 if rising else -1.0
    if degree == 1:
        deviance, b = _profile_fit((x - theta)[:, None], y)
        if sign * b[0] >= 0:
            return deviance
        return binomial_deviance(np.full(len(y), LOGIT_TARGET), y)  # boundary: flat at 0.8
    powers = range(1, degree + 1)
    deviance, b = _profile_fit(np.stack([x**k - theta**k for k in powers], axis=1), y)
    if sign * sum(k * b[k - 1] * theta ** (k - 1) for k in powers) >= 0:
        return deviance
    boundary = np.stack([x**k - theta**k - k * theta ** (k - 1) * (x - theta) for k in powers[1:]], axis=1)
    return _profile_fit(boundary, y)[0]  # boundary: p'(θ) = 0


def profile_interval(
    estimate: float, x: NDArray, y: NDArray, degree: int, rising: bool, minimum: float, limits: tuple[float, float]
) -> tuple[float | None, float | None]:
    """The θ around ``estimate`` whose profile LR statistic is ≤ χ²₁(0.95); a side is None when the statistic
    stays below the critical value out to ``limits``."""
    from scipy import optimize

    def excess(theta: float) -> float:
        return profile_deviance(theta, x, y, degree, rising) - minimum - CHI2_95

    bounds = []
    for direction, limit in ((-1, limits[0]), (1, limits[1])):
        inside, step, found = estimate, 0.02, None
        while (direction < 0 and inside > limit) or (direction > 0 and inside < limit):
            candidate = inside + direction * step
            candidate = max(candidate, limit) if direction < 0 else min(candidate, limit)
            if excess(candidate) > 0:
                found = optimize.brentq(excess, *sorted((inside, candidate)), xtol=1e-5)
                break
            inside, step = candidate, min(step * 1.5, 0.25)
        bounds.append(found)
    return bounds[0], bounds[1]


def _roots(coefficients: Sequence[float], target: float = LOGIT_TARGET) -> list[float]:
    """x where the fitted linear predictor equals ``target`` (the link's value of p = 0.8), ascending."""
    if len(coefficients) == 2:
        b0, b1 = coefficients
        return [] if b1 == 0 else [(target - b0) / b1]
    if len(coefficients) == 3:
        b0, b1, b2 = coefficients
        discriminant = b1**2 - 4 * b2 * (b0 - target)
        if discriminant < 0:
            return []
        root = math.sqrt(discriminant)
        return sorted([(-b1 - root) / (2 * b2), (-b1 + root) / (2 * b2)])
    shifted = [coefficients[0] - target, *coefficients[1:]]
    roots = np.roots(shifted[::-1])
    return sorted(float(r.real) for r in roots if abs(r.imag) < 1e-9 * max(1.0, abs(r.real)))


def crossings(coefficients: Sequence[float], target: float = LOGIT_TARGET) -> tuple[float | None, float | None]:
    """(lower, upper) crossing of p = 0.8 in x for β0, β1[, β2[, β3]]: the first rising one and the first falling
    one above it (a downturn). None where the curve does not cross. ``target``: p = 0.8 on the link's scale."""
    roots = _roots(coefficients, target)
    if len(coefficients) == 2:
        b1 = coefficients[1]
        return (roots[0] if b1 > 0 else None), (roots[0] if b1 < 0 else None)
    if len(coefficients) == 3:
        if not roots:
            return None, None
        if coefficients[2] < 0:
            return roots[0], roots[1]
        return roots[1], roots[0]  # a convex curve rises through 0.8 at its upper root
    slope = np.polynomial.Polynomial(coefficients).deriv()
    rising = [r for r in roots if slope(r) > 0]
    if not rising:
        return None, None
    falling = [r for r in roots if r > rising[0] and slope(r) < 0]
    return rising[0], (falling[0] if falling else None)


def grouped(x: NDArray, y: NDArray) -> tuple[NDArray, NDArray, NDArray]:
    """Runs pooled by level: (levels ascending, passes, trials)."""
    levels, index = np.unique(np.asarray(x, dtype=float), return_inverse=True)
    passes = np.bincount(index, weights=np.asarray(y, dtype=float), minlength=len(levels))
    return levels, passes, np.bincount(index, minlength=len(levels)).astype(float)


def grouped_deviance(passes: NDArray, trials: NDArray, fitted: NDArray) -> NDArray:
    """Binomial deviance against the saturated model over groups (the last axis): 2 Σ k log(k / nμ) +
    (n − k) log((n − k) / n(1 − μ)). Broadcasts over leading axes (e.g. bootstrap draws)."""
    from scipy.special import xlogy

    mu = np.clip(fitted, 1e-12, 1 - 1e-12)
    failures = trials - passes
    terms = xlogy(passes, passes / (trials * mu)) + xlogy(failures, failures / (trials * (1 - mu)))
    return 2.0 * np.sum(terms, axis=-1)


def pearson_gof(passes: Sequence[float], trials: Sequence[float], fitted: Sequence[float], parameters: int):
    """Pearson χ² over groups with ``groups − parameters`` degrees of freedom: (statistic, asymptotic p).

    Poorly calibrated when expected counts are small (few seeds per level, probabilities near 0 or 1): then
    use :func:`bootstrap_gof`."""
    from scipy import stats

    k, n, mu = (np.asarray(v, dtype=float) for v in (passes, trials, fitted))
    variance = np.clip(n * mu * (1 - mu), 1e-12, None)
    statistic = float(np.sum((k - n * mu) ** 2 / variance))
    df = len(k) - parameters
    return statistic, (float(stats.chi2.sf(statistic, df)) if df > 0 else None)


def _fit_logit_batch(passes: NDArray, trials: NDArray, design: NDArray, start: NDArray, steps: int = 30) -> NDArray:
    """Maximum-likelihood logit fits of many grouped binomial data sets (rows of ``passes``) on one design, at
    once (Newton from ``start``, steps capped so that a separated data set drifts instead of overflowing).
    Returns the fitted probabilities, one row per data set."""
    beta = np.tile(start, (len(passes), 1))
    ridge = 1e-9 * np.eye(design.shape[1])
    for _ in range(steps):
        mu = expit(beta @ design.T)
        weights = trials * mu * (1 - mu)
        hessian = np.einsum("bg,gi,gj->bij", weights, design, design) + ridge
        step = np.linalg.solve(hessian, ((passes - trials * mu) @ design)[..., None])[..., 0]
        size = np.abs(step).max(axis=1, keepdims=True)
        beta = beta + step * np.minimum(1.0, 5.0 / np.maximum(size, 1e-300))
        if size.max() < 1e-8:
            break
    return expit(beta @ design.T)


def bootstrap_gof(
    passes: Sequence[float],
    trials: Sequence[float],
    fitted: Sequence[float],
    design: NDArray,
    draws: int = GOF_DRAWS,
    seed: int = 0,
) -> tuple[float, float]:
    """Goodness of fit of a logit binomial GLM by parametric bootstrap (SPEC §9c): (deviance over groups against
    the saturated model, p).

    ``passes``/``trials`` per group (a level, a cell), ``fitted`` the model's probabilities there, ``design`` its
    design matrix, one row per group (the model's terms). ``draws`` data sets are drawn from the fitted model, each
    re-fitted, and p = (1 + #{bootstrap deviance ≥ observed}) / (draws + 1). With a few seeds per level the χ²
    approximation of the deviance (or Pearson's statistic) is poor — most levels pass or fail almost surely, so
    expected counts are tiny — and the bootstrap calibrates it instead. Deterministic for a given ``seed``.
    """
    k, n, mu = (np.asarray(v, dtype=float) for v in (passes, trials, fitted))
    design = np.asarray(design, dtype=float)
    observed = float(grouped_deviance(k, n, mu))
    rng = np.random.default_rng(seed)
    simulated = rng.binomial(n.astype(np.int64), np.clip(mu, 0, 1), size=(draws, len(n))).astype(float)
    clipped = np.clip(mu, 1e-9, 1 - 1e-9)
    start = np.linalg.lstsq(design, np.log(clipped / (1 - clipped)), rcond=None)[0]
    refitted = _fit_logit_batch(simulated, n, design, start)
    statistics = grouped_deviance(simulated, n, refitted)
    return observed, float((1 + np.sum(statistics >= observed - 1e-9)) / (draws + 1))


def _link_crossings(x: NDArray, y: NDArray, degree: int) -> dict[str, list[float | None]]:
    """ED80 and the upper edge (x = log10 c) of the same model under each of :data:`OTHER_LINKS` (SPEC §9c)."""
    from statsmodels.genmod.families import Binomial, links
    from statsmodels.genmod.generalized_linear_model import GLM

    classes = {"probit": links.Probit, "cloglog": links.CLogLog}
    result: dict[str, list[float | None]] = {}
    for name, target in OTHER_LINKS.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                params = GLM(y, _design(x, degree), family=Binomial(link=classes[name]())).fit().params
        except Exception:
            result[name] = [None, None]
            continue
        if not np.all(np.isfinite(params)):
            result[name] = [None, None]
            continue
        lower, upper = crossings([float(b) for b in params], target)
        result[name] = [lower, upper if degree >= 2 else None]
    return result


def check_fit(fit: DoseResponse, x: NDArray, y: NDArray, seed: int = 0) -> None:
    """Fill in the fit's checks (SPEC §9c): goodness of fit over levels by parametric bootstrap, and the
    estimates under the probit and complementary log-log links."""
    degree = len(fit.coefficients) - 1
    levels, passes, trials = grouped(x, y)
    design = _design(levels, degree)
    fitted = expit(design @ np.asarray(fit.coefficients))
    if len(levels) > degree + 1:
        fit.gof_statistic, fit.gof_p = bootstrap_gof(passes, trials, fitted, design, seed=seed)
    fit.links = _link_crossings(x, y, degree)
    if fit.gof_p is not None and fit.gof_p < ALPHA:
        fit.notes.append(
            f"the {fit.model} logistic fit is rejected by its goodness-of-fit test (p = {fit.gof_p:.2g}): read its "
            "estimates with care"
        )
    for edge, name in (("ed80", "ED80"), ("upper", "upper edge")):
        for link in fit.links_disagree(edge):
            value = fit.link_estimate(link, edge)
            fit.notes.append(f"the {link} {name} ({value:.3g}) lies outside the logit's 95 % interval")
        if fit.extrapolated(edge):
            fit.notes.append(
                f"the {name} or its interval lies outside the tested coverages ({fit.tested[0]:g}–{fit.tested[1]:g}): "
                "extrapolated"
            )


def fit_dose_response(coverage: Sequence[float], passed: Sequence[bool], checks: bool = True) -> DoseResponse:
    """Binomial GLM of ``passed`` on log10(coverage) over runs with coverage > 0 (SPEC §9), with its checks
    (SPEC §9c: goodness of fit, other links, extrapolation) unless ``checks`` is False (refinement's rounds and
    simulations, which need the intervals only)."""
    c = np.asarray(coverage, dtype=float)
    keep = c > 0
    x, y = np.log10(c[keep]), np.asarray(passed, dtype=float)[keep]
    fit = _fit_logit(x, y)
    if checks and fit.coefficients:
        check_fit(fit, x, y)
    return fit


def _fit_logit(x: NDArray, y: NDArray) -> DoseResponse:
    """The logit fit of SPEC §9 on x = log10 c (c > 0 only); degenerate data give a reason."""
    from scipy import stats

    fit = DoseResponse(runs=len(y), passes=int(y.sum()))
    if len(y):
        fit.tested = [float(10 ** x.min()), float(10 ** x.max())]
    if len(y) == 0:
        fit.reason = "no runs with coverage > 0"
        return fit
    if fit.passes == 0:
        fit.reason = f"no run passes ({fit.runs} runs): the curve never reaches 0.8 in the tested range"
        return fit
    if fit.passes == fit.runs:
        fit.reason = (
            f"every run passes ({fit.runs} runs): no dose–response to fit; ED80 lies below the lowest level tested "
            f"({10 ** x.min():g})"
        )
        return fit
    if len(np.unique(x)) < 2:
        fit.reason = "only one coverage level with c > 0: a slope cannot be estimated"
        return fit
    linear_design = _design(x, 1)
    if separated(linear_design, y):
        failing, passing = x[y == 0], x[y == 1]
        if failing.max() <= passing.min():
            fit.bracket = [float(10 ** failing.max()), float(10 ** passing.min())]
        where = (
            f": every run below c = {10 ** passing.min():g} fails and every run from it up passes "
            f"(ED80 lies between {10 ** failing.max():g} and {10 ** passing.min():g})"
            if failing.max() <= passing.min()
            else ""
        )
        fit.reason = f"perfect separation{where}; the maximum-likelihood slope is infinite"
        return fit
    linear = _glm(linear_design, y)
    chosen, degree = linear, 1
    if len(np.unique(x)) >= 3:
        quadratic_design = _design(x, 2)
        if separated(quadratic_design, y):
            fit.notes.append("the quadratic term is not estimable (perfect separation by a window); linear model used")
        else:
            quadratic = _glm(quadratic_design, y)
            statistic = max(0.0, linear.deviance - quadratic.deviance)
            fit.curvature_p = float(stats.chi2.sf(statistic, 1))
            if fit.curvature_p < ALPHA and quadratic.params[2] < 0:
                chosen, degree = quadratic, 2
    if degree == 2 and MAX_DEGREE >= 3 and len(np.unique(x)) >= 4 and not separated(_design(x, 3), y):
        cubic = _glm(_design(x, 3), y)
        fit.asymmetry_p = float(stats.chi2.sf(max(0.0, chosen.deviance - cubic.deviance), 1))
        lower, upper = crossings([float(b) for b in cubic.params])
        if fit.asymmetry_p < ALPHA and lower is not None and upper is not None:
            chosen, degree = cubic, 3
    fit.model = MODELS[degree]
    fit.coefficients = [float(b) for b in chosen.params]
    fit.covariance = np.asarray(chosen.cov_params()).tolist()
    fit.slope, fit.slope_p = float(chosen.params[1]), float(chosen.pvalues[1])
    if degree == 1 and not (fit.slope > 0 and fit.slope_p < ALPHA):
        fit.reason = f"no significant rise with coverage (β1 = {fit.slope:.3g}, p = {fit.slope_p:.2g})"
        return fit
    if degree >= 2:
        null = binomial_deviance(np.full(len(y), math.log(y.mean() / (1 - y.mean()))), y)
        overall_p = float(stats.chi2.sf(max(0.0, null - chosen.deviance), degree))
        if overall_p >= ALPHA:
            fit.reason = f"no significant dependence on coverage (likelihood-ratio p = {overall_p:.2g})"
            return fit
    lower, upper = crossings(fit.coefficients)
    if lower is None:
        grid = np.linspace(float(x.min()), float(x.max()), 400)
        curve = fit.probability(grid)
        fit.reason = (
            f"the fitted pass probability never reaches {TARGET:g} (peak {float(curve.max()):.2f} "
            f"at c = {10 ** grid[int(np.argmax(curve))]:.3g})"
        )
        return fit
    if lower >= 0:
        fit.reason = f"the fitted curve reaches {TARGET:g} only above c = 1 (log10 c = {lower:.2f})"
        return fit
    minimum = binomial_deviance(_design(x, degree) @ np.asarray(fit.coefficients), y)
    limits = (float(x.min()) - SEARCH_MARGIN, 0.0)
    fit.ed80 = Crossing(lower, *profile_interval(lower, x, y, degree, True, minimum, limits))
    if upper is not None:
        if upper < 0:
            fit.upper = Crossing(upper, *profile_interval(upper, x, y, degree, False, minimum, limits))
        else:
            fit.notes.append("the downturn crosses 0.8 only above c = 1")
    for name, crossing in (("ED80", fit.ed80), ("upper edge", fit.upper)):
        if crossing is not None and crossing.low is None:
            fit.notes.append(f"the {name} interval is unbounded below (not closed within the search range)")
        if crossing is not None and crossing.high is None:
            fit.notes.append(f"the {name} interval is unbounded above (not closed within the search range)")
    return fit


def edge_to_refine(fit: DoseResponse) -> str:
    """The edge whose interval refinement shrinks next (SPEC §9a): "upper" when the fit has an upper edge and its
    interval is the wider (an unbounded side is infinitely wide), else "ed80". A round's runs all go to one edge:
    its estimate and interval ends are where they inform it most."""
    if fit.upper is not None and fit.ed80 is not None and fit.upper.width > fit.ed80.width:
        return "upper"
    return "ed80"


def refinement_points(
    fit: DoseResponse, observed: Sequence[float], step: float = 0.3, edge: str | None = None
) -> list[float]:
    """Coverages (ascending, > 0) where new runs inform an edge most: at its estimate and the ends of its interval
    (an unbounded side at ``step`` decades from the estimate); ``edge`` "ed80" or "upper" (default: the wider,
    :func:`edge_to_refine`). Without ED80 but with separation, between the bracketing levels. Empty when more runs
    near the current data cannot help (nothing passes, no rise)."""
    observed = np.asarray([c for c in observed if c > 0], dtype=float)
    edge = edge or edge_to_refine(fit)
    crossing = fit.upper if edge == "upper" else fit.ed80
    if crossing is not None:
        xs = [
            crossing.x,
            crossing.low if crossing.low is not None else crossing.x - step,
            crossing.high if crossing.high is not None else crossing.x + step,
        ]
        xs = [min(v, math.log10(0.5)) for v in xs]
    elif fit.bracket is not None:
        lo, hi = (math.log10(v) for v in fit.bracket)
        xs = [lo + (hi - lo) * f for f in (0.25, 0.5, 0.75)]
    elif fit.reason and fit.reason.startswith("every run passes") and len(observed):
        lowest = math.log10(observed.min())
        xs = [lowest - step, lowest - 2 * step]
    else:
        return []
    return sorted({float(f"{10**v:.3g}") for v in xs})


#: Rows of ed80.csv: criterion → the per-run boolean column of the run table (SPEC §8 naming).
CRITERIA = {
    "effective": "effective",
    "structured": "structured",
    "controllable": "controllable",
    "m1": "pass_m1",
    "m2": "pass_m2",
    "m3": "pass_m3",
    "m4": "pass_m4",
    "m5": "pass_m5",
}
ED80_COLUMNS = [
    "criterion", "model", "ed80", "ci_low", "ci_high", "upper", "upper_low", "upper_high",
    "slope", "slope_p", "curvature_p", "runs",
    "gof_p", "ed80_probit", "ed80_cloglog", "upper_probit", "upper_cloglog", "ed80_extrapolated", "upper_extrapolated",
]  # fmt: skip
NOT_MEASURED = "not measured"


def ed80_row(criterion: str, fit: DoseResponse | None) -> dict[str, Any]:
    """One row of ed80.csv, coverages as fractions; None (an empty cell) wherever a value is not estimable."""
    row: dict[str, Any] = dict.fromkeys(ED80_COLUMNS)
    row["criterion"] = criterion
    if fit is None:
        return row
    row.update(model=fit.model, slope=fit.slope, slope_p=fit.slope_p, curvature_p=fit.curvature_p, runs=fit.runs)
    row.update(
        gof_p=fit.gof_p, ed80_extrapolated=fit.extrapolated("ed80"), upper_extrapolated=fit.extrapolated("upper")
    )
    for link in OTHER_LINKS:
        for edge in ("ed80", "upper"):
            if (fit.ed80 if edge == "ed80" else fit.upper) is not None:
                row[f"{edge}_{link}"] = fit.link_estimate(link, edge)
    for prefix, crossing in (("ed80", fit.ed80), ("upper", fit.upper)):
        if crossing is not None:
            low, high = crossing.coverage_interval()
            names = ("ed80", "ci_low", "ci_high") if prefix == "ed80" else ("upper", "upper_low", "upper_high")
            row.update(dict(zip(names, (crossing.coverage, low, high))))
    return row


def fit_criteria(coverage: Sequence[float], columns: dict[str, Sequence[bool]]) -> dict[str, DoseResponse | None]:
    """A fit per criterion of :data:`CRITERIA`; None for a criterion whose column is absent (not measured)."""
    return {
        name: fit_dose_response(coverage, columns[column]) if column in columns else None
        for name, column in CRITERIA.items()
    }
