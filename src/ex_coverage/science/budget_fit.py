"""The budget map as a fitted surface (SPEC §9b, §9c): pass/fail on both label coverages, its 0.8 contour, the
cheapest labelling on that contour with a 95 % interval for its cost, and the surface's goodness of fit.

A grid cell with a few seeds cannot tell a pass rate of 0.8 from 1.0, so the map's answer is a binomial GLM
(logit link) of each run's pass/fail on x = log10 red-only coverage and y = log10 vibrant-only coverage (the
cells' target coverages), over the runs of the cells where both are > 0. The terms are chosen by
:func:`select_terms`; ``terms`` is the right-hand side of the model as ``statsmodels.formula.api.glm`` writes
it, so anyone can refit it from ``budget_runs.csv``. Fitting, the contour, the cost of a labelling and the
parametric bootstrap are plain numpy (the bootstrap refits the surface hundreds of times per criterion).

Degenerate data never raise and never give a silent number: a :class:`SurfaceFit` without a cheapest point
carries a ``reason``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ex_coverage.science.budget import CRITERIA, Criterion, present_criteria
from ex_coverage.science.estimate import (
    ALPHA,
    LOGIT_TARGET,
    TARGET,
    expit,
    newton_logit,
    separated,
)

#: The terms every surface has, then the candidates forward selection may add, in the order ties are broken.
BASE_TERMS = ("x", "y")
CANDIDATE_TERMS = ("x:y", "I(x**2)", "I(y**2)")
#: Each term's column of the design matrix (after the intercept), as statsmodels' formula builds it.
TERM_COLUMNS: dict[str, Callable[[NDArray, NDArray], NDArray]] = {
    "x": lambda x, y: x,
    "y": lambda x, y: y,
    "x:y": lambda x, y: x * y,
    "I(x**2)": lambda x, y: x**2,
    "I(y**2)": lambda x, y: y**2,
}
#: Columns of budget_fit.csv, one row per criterion.
BUDGET_FIT_COLUMNS = [
    "criterion", "terms", "cheapest_red", "cheapest_vibrant", "cheapest_labels", "cheapest_labels_low",
    "cheapest_labels_high", "gof_p", "runs",
]  # fmt: skip
#: Parametric bootstrap replicates per criterion (goodness of fit and the cost interval share them).
REPLICATES = 400
#: The links compared with the logit (SPEC §9c), each with its linear predictor at a pass probability of 0.8:
#: probit Φ⁻¹(0.8), complementary log-log log(−log(1 − 0.8)).
OTHER_LINKS = {"probit": 0.8416212335729143, "cloglog": math.log(-math.log(1 - TARGET))}
#: Points per parametrisation along which the contour is traced (in x and in y across the tested box).
CONTOUR_POINTS = 401
Z95 = 1.959963984540054


def criterion_name(criterion: Criterion) -> str:
    """The criterion's name in budget_fit.csv, as in ed80.csv: ``effective``, ``structured``, ``m1``, …"""
    return criterion.rate.removesuffix("_rate")


def design(x: NDArray, y: NDArray, terms: Sequence[str]) -> NDArray:
    """The design matrix of ``1 + terms`` at (x, y), columns in the order statsmodels' formula gives them."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    return np.stack([np.ones_like(x), *(TERM_COLUMNS[t](x, y) for t in terms)], axis=-1)


def formula(terms: Sequence[str]) -> str:
    """``x + y + x:y``: the right-hand side ``statsmodels.formula.api.glm`` reads."""
    return " + ".join(terms)


def fit_logit(X: NDArray, y: NDArray, start: NDArray | None = None) -> tuple[NDArray, float, bool]:
    """Maximum-likelihood logit coefficients of ``y`` on ``X`` by damped Newton: (β, deviance, converged).

    Under separation the deviance still decreases to its infimum while β grows; ``converged`` is then False.
    """
    return newton_logit(X, y, start=start, max_steps=60, tolerance=1e-10, step_tolerance=1e-6)


def fit_logits(X: NDArray, Y: NDArray, start: NDArray, iterations: int = 40) -> NDArray:
    """:func:`fit_logit` for many outcome vectors at once (the rows of ``Y``), each from ``start``: their
    coefficients, one row each (damped Newton; a separated row's coefficients grow until the iterations end)."""
    b = np.tile(np.asarray(start, dtype=float), (len(Y), 1))
    eta = b @ X.T
    deviance = 2.0 * np.sum(np.logaddexp(0.0, eta) - Y * eta, axis=1)
    ridge = 1e-10 * np.eye(X.shape[1])
    for _ in range(iterations):
        p = expit(eta)
        hessian = np.einsum("rn,ni,nj->rij", p * (1 - p), X, X) + ridge
        step = np.linalg.solve(hessian, ((p - Y) @ X)[..., None])[..., 0]
        t = np.ones(len(Y))
        for _ in range(30):
            candidate = b - t[:, None] * step
            candidate_eta = candidate @ X.T
            candidate_deviance = 2.0 * np.sum(np.logaddexp(0.0, candidate_eta) - Y * candidate_eta, axis=1)
            worse = candidate_deviance > deviance + 1e-12
            if not worse.any():
                break
            t = np.where(worse, t / 2, t)
        accept = ~worse
        b[accept], eta[accept], deviance[accept] = candidate[accept], candidate_eta[accept], candidate_deviance[accept]
        if np.max(np.abs(t[accept, None] * step[accept]), initial=0.0) < 1e-8:
            break
    return b


def fit_link(X: NDArray, y: NDArray, link: str) -> NDArray | None:
    """Maximum-likelihood coefficients of ``y`` on ``X`` under the ``probit`` or ``cloglog`` link (statsmodels);
    None if the fit fails."""
    import warnings

    from statsmodels.genmod import families
    from statsmodels.genmod.generalized_linear_model import GLM

    family = families.Binomial(link={"probit": families.links.Probit, "cloglog": families.links.CLogLog}[link]())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            result = GLM(y, X, family=family).fit()
        except (ValueError, np.linalg.LinAlgError):
            return None
    params = np.asarray(result.params, dtype=float)
    return params if np.all(np.isfinite(params)) else None


def covariance(X: NDArray, b: NDArray) -> NDArray:
    """The inverse Fisher information at β (statsmodels' ``cov_params`` for a binomial GLM)."""
    p = expit(X @ b)
    return np.linalg.inv(X.T @ (X * (p * (1 - p))[:, None]))


@dataclass(frozen=True)
class Step:
    """One step of forward selection: the candidate terms tried, their likelihood-ratio p, the term added (or None)."""

    tried: dict[str, float]
    added: str | None


def select_terms(x: NDArray, y: NDArray, passed: NDArray) -> tuple[list[str], list[Step], list[str]]:
    """The surface's terms by forward selection with likelihood-ratio tests at 5 %: (terms, steps, notes).

    Start from ``x + y``. At each step refit the model once with each of ``x:y``, ``I(x**2)``, ``I(y**2)`` not yet
    in it, take the candidate with the largest drop in deviance (the smallest χ²₁ p; ties go to the earlier
    candidate in that order), and add it if p < 0.05; stop when no candidate qualifies or all three are in. A
    candidate whose design separates the outcomes (its maximum-likelihood fit does not exist) is not tried.
    Deterministic: the same runs give the same terms.
    """
    from scipy import stats

    terms, steps, notes = list(BASE_TERMS), [], []
    _, current, _ = fit_logit(design(x, y, terms), passed)
    while len(terms) < len(BASE_TERMS) + len(CANDIDATE_TERMS):
        tried: dict[str, float] = {}
        best, best_deviance = None, math.inf
        for term in CANDIDATE_TERMS:
            if term in terms:
                continue
            X = design(x, y, [*terms, term])
            if separated(X, passed):
                notes.append(f"{term} not tried after {formula(terms)}: it separates passes from failures")
                continue
            _, deviance, _ = fit_logit(X, passed)
            tried[term] = float(stats.chi2.sf(max(0.0, current - deviance), 1))
            if deviance < best_deviance - 1e-9:
                best, best_deviance = term, deviance
        added = best if best is not None and tried[best] < ALPHA else None
        steps.append(Step(tried, added))
        if added is None:
            break
        terms.append(added)
        current = best_deviance
    return terms, steps, notes


class LabelCost:
    """Expected labelled samples per run of a labelling (red-only coverage r, vibrant-only coverage v): the
    run's drawn samples × the any-label coverage, so a sample carrying both labels counts once (SPEC §9b).

    With each label's multiplier m = coverage / mean(base) (no colour labelled with certainty), the any-label
    coverage is ``r + v − m_r m_v mean(base_r · base_v)``; where a label saturates, it is computed in full.
    """

    def __init__(self, base: Mapping[str, NDArray], samples_per_run: int):
        self.red = np.asarray(base["red"], dtype=float)
        self.vibrant = np.asarray(base["vibrant"], dtype=float)
        self.samples_per_run = samples_per_run
        self._mean = {"red": float(self.red.mean()), "vibrant": float(self.vibrant.mean())}
        self._overlap = float((self.red * self.vibrant).mean())

    def _multiplier(self, label: str, coverage: NDArray) -> NDArray:
        from ex_coverage.science.labels import solve_multiplier

        base = self.red if label == "red" else self.vibrant
        m = coverage / self._mean[label]
        for i in np.flatnonzero(m * base.max() > 1):
            m[i] = solve_multiplier(float(coverage[i]), {label: base}).multiplier
        return m

    def __call__(self, red: NDArray | float, vibrant: NDArray | float) -> NDArray:
        r, v = np.broadcast_arrays(np.atleast_1d(np.asarray(red, dtype=float)), np.asarray(vibrant, dtype=float))
        m_r, m_v = self._multiplier("red", r.copy()), self._multiplier("vibrant", v.copy())
        coverage = r + v - m_r * m_v * self._overlap
        full = (m_r * self.red.max() > 1) | (m_v * self.vibrant.max() > 1)
        for i in np.flatnonzero(full):
            p_r = np.minimum(1.0, m_r[i] * self.red)
            p_v = np.minimum(1.0, m_v[i] * self.vibrant)
            coverage[i] = float((1 - (1 - p_r) * (1 - p_v)).mean())
        return coverage * self.samples_per_run


@dataclass(frozen=True)
class Box:
    """The tested positive coverages in decades: x (red) and y (vibrant) from lowest to highest."""

    x: tuple[float, float]
    y: tuple[float, float]


def _quadratic_roots(a: NDArray, b: NDArray, c: NDArray) -> tuple[NDArray, NDArray]:
    """Both real roots of a·t² + b·t + c = 0 per element (NaN where none; linear where a = 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        linear = np.where(b != 0, -c / b, np.nan)
        disc = b**2 - 4 * a * c
        root = np.sqrt(np.where(disc >= 0, disc, np.nan))
        # the numerically stable pair: q = −(b + sign(b)·√disc)/2, roots q/a and c/q
        q = -0.5 * (b + np.where(b >= 0, 1.0, -1.0) * root)
        one = np.where(np.abs(a) > 1e-12, q / np.where(a == 0, 1, a), linear)
        two = np.where(np.abs(a) > 1e-12, np.where(q != 0, c / q, np.nan), np.nan)
    return one, two


def _coefficient(coefficients: NDArray, terms: Sequence[str], name: str) -> NDArray:
    """Column ``name`` ("1" for the intercept) of a (replicates, 1 + terms) coefficient array; 0 if not a term."""
    columns = ("1", *terms)
    return coefficients[:, columns.index(name)] if name in columns else np.zeros(len(coefficients))


def contours(
    coefficients: NDArray, terms: Sequence[str], box: Box, points: int = CONTOUR_POINTS, target: float = LOGIT_TARGET
) -> tuple[NDArray, NDArray]:
    """Per row of ``coefficients`` (replicates × (1 + terms)), points (x, y) inside ``box`` where the fitted pass
    probability is 0.8 (the linear predictor equals ``target``, logit 0.8 by default), traced along x and along y:
    two (replicates, 4·points) arrays, NaN where there is none.

    The logit is at most quadratic in each coordinate, so at a fixed x the crossings in y are the roots of a
    quadratic (and likewise in x at a fixed y).
    """
    g = {name: _coefficient(coefficients, terms, name)[:, None] for name in ("1", *BASE_TERMS, *CANDIDATE_TERMS)}
    xs, ys = np.linspace(*box.x, points)[None, :], np.linspace(*box.y, points)[None, :]
    along_x = _quadratic_roots(
        np.broadcast_to(g["I(y**2)"], (len(coefficients), points)),
        g["y"] + g["x:y"] * xs,
        g["1"] + g["x"] * xs + g["I(x**2)"] * xs**2 - target,
    )
    along_y = _quadratic_roots(
        np.broadcast_to(g["I(x**2)"], (len(coefficients), points)),
        g["x"] + g["x:y"] * ys,
        g["1"] + g["y"] * ys + g["I(y**2)"] * ys**2 - target,
    )
    shape = (len(coefficients), points)
    x = np.concatenate([np.broadcast_to(xs, shape), np.broadcast_to(xs, shape), *along_y], axis=1)
    y = np.concatenate([*along_x, np.broadcast_to(ys, shape), np.broadcast_to(ys, shape)], axis=1)
    with np.errstate(invalid="ignore"):
        inside = (x >= box.x[0]) & (x <= box.x[1]) & (y >= box.y[0]) & (y <= box.y[1])
    return np.where(inside, x, np.nan), np.where(inside, y, np.nan)


def contour(coefficients: Sequence[float], terms: Sequence[str], box: Box, points: int = CONTOUR_POINTS) -> NDArray:
    """The points (x, y) of one surface's 0.8 contour inside ``box`` (:func:`contours`), shape (n, 2)."""
    x, y = contours(np.asarray(coefficients, dtype=float)[None, :], terms, box, points)
    keep = np.isfinite(x[0])
    return np.stack([x[0][keep], y[0][keep]], axis=1)


@dataclass(frozen=True)
class Cheapest:
    """Where on a fitted surface the 0.8 contour is cheapest, or why there is no such point.

    ``status``: ``"contour"`` (a point found), ``"below"`` (the surface already passes 0.8 at the map's cheapest
    tested labelling, so the contour lies below the map) or ``"unreached"`` (the surface stays under 0.8 in the
    whole tested box).
    """

    status: str
    x: float | None = None
    y: float | None = None
    labels: float | None = None
    on_edge: tuple[str, ...] = ()  # the box's sides the point lies on: "lowest red", "highest vibrant", …


def cheapest_costs(
    coefficients: NDArray, terms: Sequence[str], box: Box, cost: LabelCost, target: float = LOGIT_TARGET
) -> tuple[NDArray, ...]:
    """Per row of ``coefficients``: (x, y, labelled samples per run) of the cheapest point of its 0.8 contour inside
    ``box``. Where the box's cheapest corner (lowest red, lowest vibrant) passes already, the cost is −inf (the
    cheapest labelling lies below the map); where the contour does not enter the box, +inf; x and y are NaN there.

    The cost rises with both coverages, so the cheapest labelling that reaches 0.8 lies on the contour unless that
    corner passes.
    """
    x, y = contours(coefficients, terms, box, target=target)
    labels = np.full(x.shape, np.inf)
    found = np.isfinite(x)
    labels[found] = cost(10.0 ** x[found], 10.0 ** y[found])
    best = np.argmin(labels, axis=1)
    rows = np.arange(len(coefficients))
    cheapest, at_x, at_y = labels[rows, best], x[rows, best], y[rows, best]
    corner = design(np.array([box.x[0]]), np.array([box.y[0]]), terms)[0] @ coefficients.T
    below = corner >= target
    cheapest[below], at_x[below], at_y[below] = -np.inf, np.nan, np.nan
    return at_x, at_y, cheapest


def cheapest_point(
    coefficients: Sequence[float], terms: Sequence[str], box: Box, cost: LabelCost, target: float = LOGIT_TARGET
) -> Cheapest:
    """The point of one surface's 0.8 contour inside ``box`` with the fewest expected labelled samples per run
    (:func:`cheapest_costs`), and the box's sides it lies on."""
    x_, y_, labels_ = cheapest_costs(np.asarray(coefficients, dtype=float)[None, :], terms, box, cost, target)
    x, y, labels = float(x_[0]), float(y_[0]), float(labels_[0])
    if not np.isfinite(labels):
        return Cheapest("below" if labels < 0 else "unreached")
    tolerance = 1e-9
    edges = tuple(
        name
        for name, hit in (
            ("lowest red", x <= box.x[0] + tolerance),
            ("highest red", x >= box.x[1] - tolerance),
            ("lowest vibrant", y <= box.y[0] + tolerance),
            ("highest vibrant", y >= box.y[1] - tolerance),
        )
        if hit
    )
    return Cheapest("contour", x, y, labels, edges)


def cells_of(x: NDArray, y: NDArray) -> tuple[NDArray, NDArray, NDArray]:
    """Runs grouped by cell: (cell x, cell y, each run's cell index), cells in sorted order."""
    keys, inverse = np.unique(np.stack([x, y], axis=1), axis=0, return_inverse=True)
    return keys[:, 0], keys[:, 1], inverse.ravel()


def pearson_chi2(runs: NDArray, passes: NDArray, probability: NDArray) -> NDArray:
    """Pearson's χ² of observed against fitted passes over cells (the last axis): Σ (O − n p)² / (n p (1 − p))."""
    expected = runs * probability
    variance = np.maximum(expected * (1 - probability), 1e-12)
    return np.sum((passes - expected) ** 2 / variance, axis=-1)


def goodness_of_fit(
    X: NDArray, passed: NDArray, cell: NDArray, cell_X: NDArray, coefficients: NDArray, drawn: NDArray
) -> tuple[float, float, NDArray]:
    """Pearson's χ² over cells of the fit ``coefficients`` of ``passed`` on ``X``, and its parametric-bootstrap p:
    each row of ``drawn`` (outcomes drawn from the fit) refitted and its χ² computed the same way; p is the share
    of them (counting the data's own, so never 0) at least as large as the data's. Returns (χ², p, the refitted
    coefficients, one row per drawn data set)."""
    runs = np.bincount(cell).astype(float)
    statistic = float(pearson_chi2(runs, np.bincount(cell, weights=passed), expit(cell_X @ coefficients)))
    refitted = fit_logits(X, drawn, coefficients)
    drawn_passes = drawn @ np.eye(len(runs))[cell]
    drawn_statistics = pearson_chi2(runs, drawn_passes, expit(refitted @ cell_X.T))
    p = (1 + np.sum(drawn_statistics >= statistic - 1e-9)) / (len(drawn) + 1)
    return statistic, float(p), refitted


@dataclass
class SurfaceFit:
    """The surface for one criterion. ``reason`` says why there is no cheapest point (None when there is)."""

    criterion: str
    runs: int
    passes: int
    cells: int
    terms: list[str] = field(default_factory=list)
    coefficients: list[float] = field(default_factory=list)
    covariance: list[list[float]] = field(default_factory=list)
    selection: list[dict[str, Any]] = field(default_factory=list)
    box: dict[str, list[float]] | None = None
    cheapest_red: float | None = None
    cheapest_vibrant: float | None = None
    cheapest_labels: float | None = None
    cheapest_labels_low: float | None = None
    cheapest_labels_high: float | None = None
    on_edge: list[str] = field(default_factory=list)
    gof_statistic: float | None = None
    gof_df: int | None = None
    gof_p: float | None = None  # parametric bootstrap of Pearson's χ²
    gof_p_asymptotic: float | None = None  # χ² with cells − parameters degrees of freedom, for comparison
    links: dict[str, float | None] = field(default_factory=dict)  # cheapest labels under probit / cloglog, same terms
    replicates: dict[str, int] = field(default_factory=dict)  # bootstrap outcomes: contour / below / unreached
    reason: str | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SurfaceFit:
        return cls(**data)

    @property
    def formula(self) -> str:
        return formula(self.terms)

    def logit(self, x: NDArray, y: NDArray) -> tuple[NDArray, NDArray]:
        """The fitted logit at (x, y) and its standard error (delta method on the coefficients' covariance)."""
        X = design(x, y, self.terms)
        eta = X @ np.asarray(self.coefficients)
        se = np.sqrt(np.maximum(np.einsum("...i,ij,...j->...", X, np.asarray(self.covariance), X), 0.0))
        return eta, se

    def row(self) -> dict[str, Any]:
        """One row of budget_fit.csv; None (an empty cell) wherever a value is not estimable."""
        row = {name: getattr(self, name, None) for name in BUDGET_FIT_COLUMNS}
        row["terms"] = self.formula if self.terms else None
        return row


def _box(x: NDArray, y: NDArray) -> Box:
    return Box((float(x.min()), float(x.max())), (float(y.min()), float(y.max())))


def _describe_box(box: Box) -> str:
    return (
        f"red {10 ** box.x[0]:g}–{10 ** box.x[1]:g}, vibrant {10 ** box.y[0]:g}–{10 ** box.y[1]:g} "
        "(the tested coverages with both labels)"
    )


def fit_surface(
    criterion: str,
    red_coverage: Sequence[float],
    vibrant_coverage: Sequence[float],
    passed: Sequence[bool],
    cost: LabelCost,
    replicates: int = REPLICATES,
    seed: int = 0,
) -> SurfaceFit:
    """The fitted surface of ``passed`` over the runs whose red and vibrant coverages are both > 0 (SPEC §9b):
    terms by :func:`select_terms`, the cheapest point of the 0.8 contour inside the tested coverages, and, from
    one parametric bootstrap (``replicates`` data sets drawn from the fit, refitted with the same terms):

    - a 95 % percentile interval for the cheapest point's cost (a replicate whose surface passes at the map's
      cheapest corner counts as cheaper than any point of the map, one that never reaches 0.8 as dearer; an
      interval side that falls on such a replicate is left open, None);
    - the goodness-of-fit p: the share of replicates whose Pearson χ² over cells is at least the data's (with a
      few seeds per cell the χ² distribution is a poor approximation; its p is kept beside it).

    The bootstrap holds the terms fixed: the interval does not include the uncertainty of the term selection.
    """
    from scipy import stats

    red, vibrant = np.asarray(red_coverage, dtype=float), np.asarray(vibrant_coverage, dtype=float)
    keep = (red > 0) & (vibrant > 0)
    x, y, outcome = np.log10(red[keep]), np.log10(vibrant[keep]), np.asarray(passed, dtype=float)[keep]
    cell_x, cell_y, cell = cells_of(x, y) if len(x) else (np.empty(0), np.empty(0), np.empty(0, dtype=int))
    cell_runs = np.bincount(cell).astype(float)
    fit = SurfaceFit(criterion, runs=len(outcome), passes=int(outcome.sum()), cells=len(cell_runs))
    if len(cell_runs) < len(BASE_TERMS) + 2 or len(np.unique(cell_x)) < 2 or len(np.unique(cell_y)) < 2:
        fit.reason = (
            f"{fit.cells} cell(s) with both labels: a surface in x and y needs at least two red and two vibrant "
            "coverages"
        )
        return fit
    box = _box(x, y)
    fit.box = {"x": list(box.x), "y": list(box.y)}
    if fit.passes == 0:
        fit.reason = f"no run passes ({fit.runs} runs): the surface never reaches {TARGET:g} in {_describe_box(box)}"
        return fit
    if fit.passes == fit.runs:
        fit.reason = (
            f"every run passes ({fit.runs} runs): the {TARGET:g} contour lies below the tested coverages "
            f"({_describe_box(box)})"
        )
        return fit
    if separated(design(x, y, BASE_TERMS), outcome):
        fit.reason = (
            "perfect separation: a line in (log red, log vibrant) splits every passing run from every failing one, "
            "so the maximum-likelihood surface is a step and its contour has no interval"
        )
        return fit
    terms, steps, notes = select_terms(x, y, outcome)
    fit.terms, fit.notes = terms, notes
    fit.selection = [{"tried": s.tried, "added": s.added} for s in steps]
    X = design(x, y, terms)
    b, _, converged = fit_logit(X, outcome)
    if not converged:
        fit.notes.append("the fit did not converge")
    fit.coefficients = [float(v) for v in b]
    fit.covariance = covariance(X, b).tolist()
    cell_X = design(cell_x, cell_y, terms)
    rng = np.random.default_rng(seed)
    drawn = (rng.random((replicates, len(outcome))) < expit(X @ b)).astype(float)
    fit.gof_statistic, fit.gof_p, refitted = goodness_of_fit(X, outcome, cell, cell_X, b, drawn)
    fit.gof_df = len(cell_runs) - len(b)
    if fit.gof_df > 0:
        fit.gof_p_asymptotic = float(stats.chi2.sf(fit.gof_statistic, fit.gof_df))

    found = cheapest_point(b, terms, box, cost)
    costs = cheapest_costs(refitted, terms, box, cost)[2]
    outcomes = {
        "contour": int(np.isfinite(costs).sum()),
        "below": int((costs == -np.inf).sum()),
        "unreached": int((costs == np.inf).sum()),
    }
    fit.replicates = outcomes
    if found.status != "contour":
        fit.reason = (
            f"the fitted surface already passes {TARGET:g} at the map's cheapest tested labelling (red "
            f"{10 ** box.x[0]:g}, vibrant {10 ** box.y[0]:g}): the contour lies below the tested coverages"
            if found.status == "below"
            else f"the fitted pass probability stays below {TARGET:g} in {_describe_box(box)}"
        )
        return fit
    for link, target in OTHER_LINKS.items():
        coefficients = fit_link(X, outcome, link)
        labels = None if coefficients is None else cheapest_point(coefficients, terms, box, cost, target).labels
        fit.links[link] = labels
    fit.cheapest_red, fit.cheapest_vibrant, fit.cheapest_labels = 10.0**found.x, 10.0**found.y, found.labels
    fit.on_edge = list(found.on_edge)
    if found.on_edge:
        fit.notes.append(
            f"the cheapest point lies on the map's edge ({', '.join(found.on_edge)}): the contour leaves the tested "
            "coverages there, and a cheaper labelling may lie beyond them"
        )
    low, high = np.quantile(costs, [0.025, 0.975], method="inverted_cdf")
    fit.cheapest_labels_low = float(low) if np.isfinite(low) else None
    fit.cheapest_labels_high = float(high) if np.isfinite(high) else None
    if fit.cheapest_labels_low is None:
        fit.notes.append(
            f"the cost interval is open below: {outcomes['below']} of {replicates} bootstrap surfaces pass "
            f"{TARGET:g} at the map's cheapest tested labelling"
        )
    if fit.cheapest_labels_high is None:
        fit.notes.append(
            f"the cost interval is open above: {outcomes['unreached']} of {replicates} bootstrap surfaces never "
            f"reach {TARGET:g} in the map"
        )
    for link, labels in fit.links.items():
        low = -math.inf if fit.cheapest_labels_low is None else fit.cheapest_labels_low
        high = math.inf if fit.cheapest_labels_high is None else fit.cheapest_labels_high
        if labels is None:
            fit.notes.append(f"under the {link} link the contour has no cheapest point in the map")
        elif not low <= labels <= high:
            fit.notes.append(
                f"under the {link} link the cheapest point costs {labels:.0f} labelled samples per run, outside the "
                "logit's 95 % interval"
            )
    return fit


def fit_surfaces(
    runs: pd.DataFrame,
    cost: LabelCost,
    replicates: int = REPLICATES,
    criteria: Sequence[Criterion] = CRITERIA,
) -> list[SurfaceFit]:
    """:func:`fit_surface` for every criterion whose pass flag the run table has (each its own bootstrap seed)."""
    return [
        fit_surface(
            criterion_name(c),
            runs["red_coverage"].to_numpy(),
            runs["vibrant_coverage"].to_numpy(),
            runs[c.column].astype(bool).to_numpy(),
            cost,
            replicates=replicates,
            seed=i,
        )
        for i, c in enumerate(present_criteria(runs.columns, criteria))
    ]


def budget_fit_table(fits: Sequence[SurfaceFit]) -> pd.DataFrame:
    """budget_fit.csv: one row per criterion, columns :data:`BUDGET_FIT_COLUMNS`."""
    return pd.DataFrame([f.row() for f in fits], columns=BUDGET_FIT_COLUMNS)
