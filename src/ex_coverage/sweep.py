"""The sweep grid (coverage levels × seeds): validation and the namespace of each level.

The grid is read once from configuration (``sweep`` in ``conf/<env>/parameters_sweep.yml``); the
pipelines, kedro-viz and notebooks all see the same one.
"""

from __future__ import annotations

import inspect
import numbers
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import partial, update_wrapper
from pathlib import Path
from typing import Any

from ex_coverage.science.config import MAX_SEED, reject_unknown_keys
from ex_coverage.science.errors import ConfigurationError
from ex_coverage.science.labels import CoverageError, solve_multiplier
from ex_coverage.science.records import coverage_token, level_namespace

GRID_FILE = "conf/<env>/parameters_sweep.yml"
#: Levels added by `kedro refine` (SPEC §9a): results, kept with the data as a catalog entry (a dataset factory), one
#: per configuration environment; read with the grid.
REFINEMENT_ENTRY = "refinement_levels_{env}"
#: Parameters that shape the pipelines: the sweep grid and the budget map's grid.
GRID_KEYS = ("sweep", "budget_map")
#: The keys of ``sweep``.
SWEEP_KEYS = ("coverages", "seeds")


class SweepConfigError(ConfigurationError):
    """The sweep grid is invalid; the message names the key and the offending entry."""


@dataclass(frozen=True)
class SweepGrid:
    """The configured grid (``coverages`` ascending, every one trained with ``seeds``) and the levels added by
    refinement (``refinement``: (coverage, seeds) pairs, each with its own seeds; SPEC §9a)."""

    coverages: tuple[float, ...]
    seeds: tuple[int, ...]
    refinement: tuple[tuple[float, tuple[int, ...]], ...] = ()
    #: (coverage, seed, edge, round) of refinement runs: the edge they were added for ("ed80", "upper"; "" where
    #: not recorded) and their round (0 where not recorded).
    refinement_edges: tuple[tuple[float, int, str, int], ...] = ()

    @property
    def levels(self) -> tuple[float, ...]:
        """Every level, ascending: the grid's and refinement's."""
        return tuple(sorted(set(self.coverages) | {c for c, _ in self.refinement}))

    @property
    def namespaces(self) -> dict[str, float]:
        return {level_namespace(c): c for c in self.levels}

    def seeds_at(self, coverage: float) -> tuple[int, ...]:
        """The seeds trained at ``coverage``: the grid's seeds at a grid level, then any refinement seeds."""
        base = self.seeds if coverage in self.coverages else ()
        return base + tuple(s for c, seeds in self.refinement if c == coverage for s in seeds)

    @property
    def refinement_runs(self) -> tuple[tuple[float, int], ...]:
        """(coverage, seed) of every run added by refinement."""
        return tuple((c, s) for c, seeds in self.refinement for s in seeds)

    @property
    def n_runs(self) -> int:
        return len(self.coverages) * len(self.seeds) + len(self.refinement_runs)


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def parse_coverages(coverages: Any, key: str, source: str = GRID_FILE) -> tuple[float, ...]:
    """Validate a non-empty list of distinct coverages in [0, 1) found at ``key``; return them sorted."""
    if not isinstance(coverages, (list, tuple)) or not coverages:
        raise SweepConfigError(f"{source}: {key} must be a non-empty list of numbers, got {coverages!r}")
    for i, c in enumerate(coverages):
        if not _is_number(c):
            raise SweepConfigError(f"{source}: {key}[{i}] = {c!r} is not a number")
        if not 0.0 <= float(c) < 1.0:
            raise SweepConfigError(f"{source}: {key}[{i}] = {c!r} is outside [0, 1)")
    names = [coverage_token(c) for c in coverages]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise SweepConfigError(f"{source}: {key}[{i}] = {coverages[i]!r} is duplicated")
    return tuple(sorted(float(c) for c in coverages))


def parse_seeds(seeds: Any, key: str, source: str = GRID_FILE) -> tuple[int, ...]:
    """Validate a non-empty list of distinct non-negative integer seeds found at ``key``."""
    if not isinstance(seeds, (list, tuple)) or not seeds:
        raise SweepConfigError(f"{source}: {key} must be a non-empty list of integers, got {seeds!r}")
    for i, s in enumerate(seeds):
        if not isinstance(s, numbers.Integral) or isinstance(s, bool) or s < 0:
            raise SweepConfigError(f"{source}: {key}[{i}] = {s!r} is not a non-negative integer")
        if s > MAX_SEED:
            raise SweepConfigError(
                f"{source}: {key}[{i}] = {s!r} is too large: seeds must lie in [0, 2**63 - 1] "
                "(they are stored as 64-bit integers)"
            )
        if s in seeds[:i]:
            raise SweepConfigError(f"{source}: {key}[{i}] = {s!r} is duplicated")
    return tuple(int(s) for s in seeds)


def parse_grid(params: Mapping[str, Any], source: str = GRID_FILE) -> SweepGrid:
    """Validate ``{"coverages": [...], "seeds": [...]}`` and return the grid, coverages sorted."""
    if not isinstance(params, Mapping):
        raise SweepConfigError(f"{source}: 'sweep' must be a mapping with keys 'coverages' and 'seeds'")
    reject_unknown_keys(params, "sweep", SWEEP_KEYS, source, SweepConfigError)
    coverages = parse_coverages(params.get("coverages"), "sweep.coverages", source)
    return SweepGrid(coverages, parse_seeds(params.get("seeds"), "sweep.seeds", source))


def parse_refinement(params: Any, grid: SweepGrid, source: str = "refinement levels") -> SweepGrid:
    """Add the refinement levels ``{"levels": [{"coverage": c, "seeds": [...]}, ...]}`` to ``grid``.

    A refinement level may coincide with a grid level (its seeds are then trained in addition); a seed may
    not repeat within one level.
    """
    if params is None:
        return grid
    levels = params.get("levels") if isinstance(params, Mapping) else None
    if not isinstance(levels, (list, tuple)):
        raise SweepConfigError(f"{source}: 'refinement' must be a mapping with a list 'levels', got {params!r}")
    merged: dict[float, list[int]] = {}
    edges: list[tuple[float, int, str, int]] = []
    for i, entry in enumerate(levels):
        where = f"{source}: refinement.levels[{i}]"
        if not isinstance(entry, Mapping) or not _is_number(entry.get("coverage")):
            raise SweepConfigError(f"{where} must have a numeric 'coverage', got {entry!r}")
        c, seeds = float(entry["coverage"]), entry.get("seeds")
        if not 0.0 < c < 1.0:
            raise SweepConfigError(f"{where}.coverage = {c!r} is outside (0, 1)")
        if not isinstance(seeds, (list, tuple)) or not seeds:
            raise SweepConfigError(f"{where}.seeds must be a non-empty list of integers, got {seeds!r}")
        # one level per namespace: coverages that print alike are the same level
        c = next((known for known in (*grid.coverages, *merged) if level_namespace(known) == level_namespace(c)), c)
        taken = list(grid.seeds if c in grid.coverages else ()) + merged.setdefault(c, [])
        for s in seeds:
            if not isinstance(s, numbers.Integral) or isinstance(s, bool) or s < 0:
                raise SweepConfigError(f"{where}.seeds: {s!r} is not a non-negative integer")
            if s in taken:
                raise SweepConfigError(f"{where}.seeds: seed {s} is already trained at coverage {c:g}")
            taken.append(int(s))
            merged[c].append(int(s))
        edge = entry.get("edge")
        if edge is not None and edge not in ("ed80", "upper"):
            raise SweepConfigError(f"{where}.edge must be 'ed80' or 'upper', got {edge!r}")
        edges += [(c, int(s), edge or "", int(entry.get("round") or 0)) for s in seeds]
    return replace(
        grid,
        refinement=tuple((c, tuple(seeds)) for c, seeds in sorted(merged.items())),
        refinement_edges=tuple(edges),
    )


def check_reachable(grid: SweepGrid, base_probabilities: Mapping[str, Any], source: str = GRID_FILE) -> None:
    """Fail unless every coverage level can be produced by some label multiplier."""
    for c in grid.levels:
        try:
            solve_multiplier(c, base_probabilities)
        except CoverageError as error:
            raise SweepConfigError(f"{source}: sweep.coverages entry {c!r}: {error}") from None


class _Bound:
    """``function`` with some keyword arguments fixed; keeps its name and docstring through pickling.

    (A ``functools.partial`` loses the name ``update_wrapper`` gave it when ParallelRunner sends it to
    a spawned worker, and Kedro then warns about a nameless 'partial' node on every run.)
    """

    def __init__(self, function, kwargs: dict[str, Any]) -> None:
        self.function = function
        self.kwargs = kwargs
        update_wrapper(self, function)

    @property
    def __signature__(self) -> inspect.Signature:
        return inspect.signature(partial(self.function, **self.kwargs))

    def __call__(self, *args: Any) -> Any:
        return self.function(*args, **self.kwargs)

    def __reduce__(self):
        return (_Bound, (self.function, self.kwargs))


def bind(function, **kwargs):
    """``function`` with keyword arguments fixed, keeping its name and docstring so Kedro and kedro-viz show them.

    Used to give a level's nodes the values the grid fixes for it (its coverage, the seeds).
    """
    return _Bound(function, kwargs)


def config_env(env: str | None = None) -> str:
    """The configuration environment pipelines are built for: ``env``, else ``KEDRO_ENV`` (Kedro's own variable,
    which ``kedro run --env`` sets for its run, see ``cli.py``), else the project's default run environment."""
    from kedro.framework.project import settings

    return env or os.environ.get("KEDRO_ENV") or settings.CONFIG_LOADER_ARGS.get("default_run_env", "local")


def refinement_entry(env: str | None = None) -> str:
    """The catalog entry of the levels ``kedro refine`` added in this environment (``refinement_levels_<env>``)."""
    return REFINEMENT_ENTRY.format(env=config_env(env))


def load_configuration(env: str | None = None, project_path: Path | None = None) -> tuple[Mapping[str, Any], Any]:
    """The parameters and catalog of ``env`` (:func:`config_env`) in ``project_path`` (this folder), read with the
    project's config loader as a session reads them: what shapes the pipelines outside a session."""
    from kedro.framework.project import settings
    from kedro.io import DataCatalog

    loader = settings.CONFIG_LOADER_CLASS(
        conf_source=str(Path(project_path or Path.cwd()) / settings.CONF_SOURCE),
        env=config_env(env),
        **settings.CONFIG_LOADER_ARGS,
    )
    return loader["parameters"], DataCatalog.from_config(loader["catalog"])


def grid_from(parameters: Mapping[str, Any], catalog: Any, env: str | None = None) -> SweepGrid:
    """The sweep grid of ``parameters`` (``sweep``) with the levels refinement added in ``env`` (the catalog entry
    :func:`refinement_entry`, where it exists)."""
    if "sweep" not in parameters:
        raise SweepConfigError(f"{GRID_FILE}: no 'sweep' key (expected sweep.coverages and sweep.seeds)")
    grid = parse_grid(parameters["sweep"])
    refinement = recorded_refinement(catalog, env)
    if refinement is None:
        return grid
    source = str(catalog.config_resolver.resolve_pattern(refinement_entry(env))["filepath"])
    return parse_refinement(refinement, grid, source=source)


def recorded_refinement(catalog: Any, env: str | None = None) -> Mapping[str, Any] | None:
    """What ``kedro refine`` recorded in ``env`` (``{"levels": [...]}``), or None where it has added nothing."""
    name = refinement_entry(env)
    return catalog.load(name) if catalog.exists(name) else None


def configured_grid(env: str | None = None, project_path: Path | None = None) -> SweepGrid:
    """The sweep grid of ``env`` (:func:`config_env`), refinement levels included: the one every pipeline, kedro-viz
    and notebook is built from."""
    parameters, catalog = load_configuration(env, project_path)
    return grid_from(parameters, catalog, env)


def refuse_grid_params(params: Mapping[str, Any] | None) -> None:
    """``--params`` cannot change what shapes the pipelines (they are built from configuration before a run starts):
    refuse a grid key in one line that names where to set it."""
    keys = sorted(set(params or {}) & set(GRID_KEYS))
    if keys:
        raise SweepConfigError(
            f"--params {', '.join(keys)}: the grid shapes the pipelines, which are built from the configuration "
            f"files before the run; set it in conf/local/ (e.g. {GRID_FILE.replace('<env>', 'local')}) or in "
            "another environment (--env) instead"
        )


def rebuild_pipelines() -> None:
    """Have Kedro build the project's pipelines again on next use (its registry is built once per process): after
    ``KEDRO_ENV`` or the refinement levels changed."""
    from kedro.framework.project import PACKAGE_NAME, pipelines

    pipelines.configure(f"{PACKAGE_NAME}.pipeline_registry")


@contextmanager
def pipelines_for(env: str | None) -> Iterator[None]:
    """Within the block, the pipelines are built for ``env`` (``KEDRO_ENV``; unchanged when ``env`` is None)."""
    previous = os.environ.get("KEDRO_ENV")
    if env:
        os.environ["KEDRO_ENV"] = env
    rebuild_pipelines()
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("KEDRO_ENV", None)
        else:
            os.environ["KEDRO_ENV"] = previous
        rebuild_pipelines()
