"""Experiment tracking: every run that writes the report (a sweep, the reporting pipeline alone), every budget map
and every ``kedro refine`` is one MLflow run, so earlier answers stay comparable after ``data/`` is overwritten.

Configured in ``conf/<env>/tracking.yml``; by default a local SQLite store, ``mlflow.db`` at the
project root, its artifacts in ``mlartifacts/`` beside it, experiment ``ex_coverage``. ``MLFLOW_TRACKING_URI``,
where set, overrides the configured store, as everywhere in MLflow.

:class:`TrackingHooks` logs from the main process only, with MLflow's client API: the pipeline hooks run there,
never in a runner's worker processes (SweepRunner's, Dask's), so a parallel run leaves exactly one MLflow run.
The store is opened in a background thread while the pipeline runs (a new SQLite store takes seconds to set up),
and the run is created when the pipeline ends, with the time it started: a run stopped by the
project's checks before anything ran records nothing, and one that fails is recorded as FAILED with its
parameters. A store that cannot be reached or written costs one warning line; the run's results are written as
usual.

``kedro refine`` opens one Kedro session per round: :func:`tracked_command` around its rounds makes them one
MLflow run, which the sessions' hooks join, and :func:`log_round` logs each round's fit as a step.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import subprocess
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from kedro.framework.hooks import hook_impl

from ex_coverage.science.errors import ExCoverageError

log = logging.getLogger(__name__)

#: The configuration key (``conf/<env>/tracking.yml``) and what it may hold.
CONFIG_NAME = "tracking"
SETTINGS_KEYS = ("enabled", "uri", "experiment", "credentials")
#: A local store's artifacts live in this folder beside its database file.
ARTIFACTS_FOLDER = "mlartifacts"
#: How long a store may take to answer before tracking is given up for the run (MLflow's own HTTP settings, where
#: set, win: ``MLFLOW_HTTP_REQUEST_TIMEOUT``, ``MLFLOW_HTTP_REQUEST_MAX_RETRIES``).
PROBE_TIMEOUT_S = 5
CONNECT_WAIT_S = 60
#: Retries of a logging call once the store has answered (MLflow's default, 7 with exponential backoff, would hold
#: a finished run for minutes if a server went away meanwhile).
LOGGING_RETRIES = 2

#: Run outputs whose catalog entries are files logged as artifacts: the outputs outside any namespace in this layer.
ARTIFACT_LAYER = "reporting"
#: The budget map's answer (SPEC §9b), from ``budget_fit.csv`` where the catalog has it, else from the cheapest
#: cell of ``budget_binding.json``.
BUDGET_METRICS = ("cheapest_labels", "cheapest_labels_low", "cheapest_labels_high", "cheapest_red", "cheapest_vibrant")


@dataclass(frozen=True)
class TrackingSettings:
    """Where runs go: ``uri`` with MLFLOW_TRACKING_URI applied and a relative SQLite path made absolute against the
    project folder; ``artifact_location`` for an experiment created in a local store (None: the server's)."""

    enabled: bool
    uri: str
    experiment: str
    artifact_location: str | None = None
    credentials: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_config(
        cls,
        config: Mapping[str, Any],
        project_path: str | Path,
        credentials: Mapping[str, Any] | None = None,
        source: str = "conf/<env>/tracking.yml",
    ) -> TrackingSettings:
        """Settings from ``tracking.yml`` (``credentials`` names an entry of the credentials configuration whose
        keys become environment variables, e.g. ``MLFLOW_TRACKING_TOKEN``)."""
        unknown = sorted(set(config) - set(SETTINGS_KEYS))
        if unknown:
            raise ExCoverageError(f"{source}: unknown key '{unknown[0]}' (known: {', '.join(SETTINGS_KEYS)})")
        enabled = config.get("enabled", True)
        if not isinstance(enabled, bool):
            raise ExCoverageError(f"{source}: 'enabled' must be true or false, not {enabled!r}")
        for key in ("uri", "experiment"):
            if enabled and not (isinstance(config.get(key), str) and config[key]):
                raise ExCoverageError(f"{source}: '{key}' must be a non-empty string")
        uri = local_store_uri(os.environ.get("MLFLOW_TRACKING_URI") or str(config.get("uri") or ""), Path(project_path))
        name = config.get("credentials")
        entries = dict((credentials or {}).get(name) or {}) if name else {}
        return cls(enabled, uri, str(config.get("experiment") or ""), artifact_location(uri), entries)


def local_store_uri(uri: str, project_path: Path) -> str:
    """A ``sqlite:///`` URI whose path is relative made absolute against the project folder (so every working
    directory, ``notebooks/`` included, opens the same store); any other URI as it is."""
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri[len(prefix) :].startswith("/"):
        return prefix + (project_path / uri[len(prefix) :]).resolve().as_posix()
    return uri


def artifact_location(uri: str) -> str | None:
    """The artifact folder beside a local SQLite store's file, as a ``file://`` URI; None for other stores."""
    prefix = "sqlite:///"
    if uri.startswith(prefix) and uri[len(prefix) :].startswith("/"):
        return (Path(uri[len(prefix) :]).parent / ARTIFACTS_FOLDER).as_uri()
    return None


def tracking_settings(config_loader: Any, project_path: str | Path) -> TrackingSettings:
    """The session's tracking settings from its configuration (``conf/base/tracking.yml`` and the environment's);
    tracking is off where there is none."""
    from kedro.config import MissingConfigException

    try:
        config = config_loader[CONFIG_NAME]
    except MissingConfigException:
        config = {}
    if not config:
        return TrackingSettings(False, "", "")
    credentials: Mapping[str, Any] = {}
    if config.get("credentials"):
        try:
            credentials = config_loader["credentials"]
        except MissingConfigException:
            credentials = {}
    return TrackingSettings.from_config(config, project_path, credentials)


def redacted(uri: str) -> str:
    """``uri`` without a user name or password (it is printed)."""
    parts = urlsplit(uri)
    if parts.username is None and parts.password is None:
        return uri
    netloc = f"***@{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def describe(error: BaseException) -> str:
    """One line for a failed store call: the innermost cause (e.g. ``ConnectionRefusedError: [Errno 111] ...``)."""
    seen, current = [], error
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    inner = seen[-1]
    text = " ".join(str(inner).split())
    text = text if len(text) <= 200 else text[:197] + "..."
    return f"{type(inner).__name__}: {text}" if text else type(inner).__name__


@contextmanager
def environment_defaults(**values: str) -> Iterator[None]:
    """Set environment variables that are not set, for the block (an explicit setting of the user's wins)."""
    added = [name for name in values if name not in os.environ]
    for name in added:
        os.environ[name] = values[name]
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


class Tracker:
    """One MLflow run. The store is opened in a background thread from construction on; the run is created on the
    first call that logs, with the construction time as its start. Every call after a failure does nothing: the
    first failure is reported in one warning line."""

    def __init__(self, settings: TrackingSettings, run_name: str, tags: Mapping[str, str]) -> None:
        self.settings = settings
        self.run_name = run_name
        self.tags = dict(tags)
        self.start_ms = int(time.time() * 1000)
        self.started = time.perf_counter()
        self.client: Any = None
        self.experiment_id: str | None = None
        self.run_id: str | None = None
        self.step = 0
        self.off = False
        self.lock = threading.Lock()
        # MLflow is imported here, in the calling thread: importing it runs code that enters
        # `warnings.catch_warnings()`, which is not thread-safe (Python < 3.14) and, from a second thread, could
        # leave the main thread's warning filters changed. Opening the store (seconds for a new SQLite file) runs
        # in the background.
        try:
            import_mlflow()
        except Exception as error:
            self.give_up(describe(error))
        self.thread = threading.Thread(target=self.connect, name="mlflow-store")
        if not self.off:
            self.thread.start()

    def connect(self) -> None:
        """Open the store and the experiment (created with its artifact folder if new)."""
        try:
            from mlflow import MlflowClient

            for name, value in self.settings.credentials.items():
                os.environ.setdefault(str(name), str(value))
            limits = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": str(PROBE_TIMEOUT_S)}
            with environment_defaults(**limits):
                client = MlflowClient(tracking_uri=self.settings.uri)
                self.experiment_id = self.open_experiment(client)
            self.client = client
        except Exception as error:
            self.give_up(describe(error))

    def open_experiment(self, client: Any) -> str:
        name = self.settings.experiment
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            try:
                return client.create_experiment(name, artifact_location=self.settings.artifact_location)
            except Exception:  # created meanwhile by another process
                experiment = client.get_experiment_by_name(name)
                if experiment is None:
                    raise
        if experiment.lifecycle_stage == "deleted":
            client.restore_experiment(experiment.experiment_id)
        return experiment.experiment_id

    def give_up(self, problem: str) -> None:
        with self.lock:
            if self.off:
                return
            self.off = True
        log.warning(
            "Tracking skipped: MLflow store %s: %s. The run's results are written as usual.",
            redacted(self.settings.uri),
            problem.rstrip("."),
        )

    def ready(self) -> bool:
        """Whether the store answered (waiting for it at most CONNECT_WAIT_S); creates the run on first use."""
        if self.thread.ident is not None:
            self.thread.join(CONNECT_WAIT_S)
        if self.thread.is_alive():
            self.give_up(f"no answer within {CONNECT_WAIT_S} s")
        if self.off or self.client is None:
            return False
        if self.run_id is None:
            return self.attempt(self.create_run)
        return True

    def create_run(self) -> None:
        run = self.client.create_run(
            self.experiment_id, start_time=self.start_ms, tags=self.tags, run_name=self.run_name
        )
        self.run_id = run.info.run_id

    def attempt(self, call: Any, *args: Any) -> bool:
        """``call(*args)`` against the store; on failure, the warning, and a run already created is marked FAILED
        (best effort) rather than left RUNNING."""
        try:
            with environment_defaults(MLFLOW_HTTP_REQUEST_MAX_RETRIES=str(LOGGING_RETRIES)):
                call(*args)
        except Exception as error:
            self.give_up(describe(error))
            if self.run_id is not None and call != self.client.set_terminated:
                with suppress(Exception), environment_defaults(MLFLOW_HTTP_REQUEST_MAX_RETRIES="0"):
                    self.client.set_terminated(self.run_id, "FAILED", int(time.time() * 1000))
            return False
        return True

    def log(
        self,
        params: Mapping[str, Any] | None = None,
        metrics: Mapping[str, float] | None = None,
        tags: Mapping[str, str] | None = None,
        step: int | None = None,
    ) -> None:
        """Params, metrics (at ``step``, by default the last step logged) and tags, in one batch."""
        if not self.ready():
            return
        from mlflow.entities import Metric, Param, RunTag

        now = int(time.time() * 1000)
        step = self.step if step is None else step
        self.step = max(self.step, step)
        self.attempt(
            self.client.log_batch,
            self.run_id,
            [Metric(k, float(v), now, step) for k, v in (metrics or {}).items()],
            [Param(k, v) for k, v in (params or {}).items()],
            [RunTag(k, str(v)) for k, v in (tags or {}).items()],
        )

    def log_files(self, paths: Iterable[Path]) -> None:
        """Files as the run's artifacts (at the top of its artifact folder)."""
        for path in paths:
            if not self.ready() or not self.attempt(self.client.log_artifact, self.run_id, str(path)):
                return

    def end(self, status: str) -> None:
        """Mark the run ``FINISHED`` or ``FAILED`` (creating it first if nothing was logged)."""
        if self.ready():
            self.attempt(self.client.set_terminated, self.run_id, status, int(time.time() * 1000))


def import_mlflow() -> None:
    """Import MLflow, leaving the console to Kedro's logging configuration (conf/logging.yml: no INFO lines)."""
    os.environ.setdefault("MLFLOW_CONFIGURE_LOGGING", "false")
    import mlflow  # noqa: F401


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested parameters as MLflow params: dotted keys, values as JSON (lists included) or plain strings."""
    flat: dict[str, str] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, name + "."))
        else:
            text = value if isinstance(value, str) else json.dumps(value, default=str)
            flat[name] = text if len(text) <= 6000 else text[:5997] + "..."
    return flat


def number_or_none(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


#: ed80.csv's columns for the effective criterion, by metric name.
ED80_METRICS = {
    "ed80": "ed80",
    "ed80_ci_low": "ci_low",
    "ed80_ci_high": "ci_high",
    "upper_edge": "upper",
    "upper_edge_ci_low": "upper_low",
    "upper_edge_ci_high": "upper_high",
}


def report_metrics(
    ed80: Any | None,
    ed80_fits: Mapping[str, Any] | None,
    critical: Mapping[str, Any] | None,
    coverage_runs: Any | None,
    coverage_summary: Any | None,
) -> tuple[dict[str, float], dict[str, str]]:
    """The report's answer as metrics, and as ``<metric>_statement`` tags where it is a statement, not a number
    (ED80 not estimable, no downturn, an unbounded interval, no level reaching the pass rate)."""
    from ex_coverage.science.records import level_namespace

    metrics: dict[str, float] = {}
    statements: dict[str, str] = {}
    fits = dict(ed80_fits or {})
    if ed80 is not None and "criterion" in ed80.columns:
        for row in ed80.to_dict("records"):
            criterion = row["criterion"]
            reason = (fits.get(criterion) or {}).get("reason") or "not estimable"
            if criterion != "effective":
                value = number_or_none(row.get("ed80"))
                if value is None:
                    statements[f"ed80_{criterion}"] = reason
                else:
                    metrics[f"ed80_{criterion}"] = value
                continue
            values = {name: number_or_none(row.get(column)) for name, column in ED80_METRICS.items()}
            metrics.update({name: value for name, value in values.items() if value is not None})
            if values["ed80"] is None:
                statements["ed80"] = statements["upper_edge"] = reason
                continue
            if values["upper_edge"] is None:
                statements["upper_edge"] = upper_edge_statement(fits.get(criterion) or {})
            for edge in ("ed80", "upper_edge"):
                for bound in ("ci_low", "ci_high"):
                    if values[edge] is not None and values[f"{edge}_{bound}"] is None:
                        statements[f"{edge}_{bound}"] = "unbounded"
    if critical is not None:
        c_star = number_or_none(critical.get("coverage"))
        if c_star is None:
            statements["c_star"] = f"no tested coverage reaches a pass rate of {critical.get('min_pass_rate', 0.8):g}"
        else:
            metrics["c_star"] = c_star
    if coverage_runs is not None:
        metrics["runs"] = float(len(coverage_runs))
        if "effective" in coverage_runs.columns:
            metrics["effective_runs"] = float(coverage_runs["effective"].astype(bool).sum())
    if coverage_summary is not None and "pass_rate" in coverage_summary.columns:
        for row in coverage_summary.to_dict("records"):
            rate = number_or_none(row["pass_rate"])
            if rate is not None:
                metrics[f"pass_rate_{level_namespace(float(row['coverage']))}"] = rate
    return metrics, {f"{name}_statement": text for name, text in statements.items()}


def upper_edge_statement(fit: Mapping[str, Any]) -> str:
    """Why there is no upper edge although ED80 is given (the report's wording)."""
    if fit.get("model") == "quadratic":
        return "the downturn does not cross 0.8 below c = 1"
    curvature = fit.get("curvature_p")
    return "no significant downturn" + (f" (curvature p = {curvature:.2g})" if curvature is not None else "")


def budget_metrics(budget_fit: Any | None, budget_binding: Mapping[str, Any] | None) -> dict[str, float]:
    """The budget map's answer: the fitted surface's cheapest point for ``effective`` with its cost interval
    (``budget_fit.csv``); without that table (an older map), the map's cheapest passing cell. A criterion with no
    contour logs nothing (the report says why)."""
    metrics: dict[str, float] = {}
    if budget_fit is not None:
        rows = budget_fit[budget_fit["criterion"] == "effective"] if "criterion" in budget_fit else budget_fit.iloc[:0]
        found = rows.iloc[0].to_dict() if len(rows) else {}
        for name in BUDGET_METRICS:
            if number_or_none(found.get(name)) is not None:
                metrics[name] = float(found[name])
        return metrics
    cheapest = (budget_binding or {}).get("cheapest") or {}
    for name, key in (
        ("cheapest_labels", "expected_labels"),
        ("cheapest_red", "red_coverage"),
        ("cheapest_vibrant", "vibrant_coverage"),
    ):
        if number_or_none(cheapest.get(key)) is not None:
            metrics[name] = float(cheapest[key])
    return metrics


def config_digest(fingerprints: Iterable[str]) -> str:
    """One digest of the runs' fingerprints: equal digests, the same runs under the same configuration."""
    return hashlib.sha256("\n".join(sorted(map(str, fingerprints))).encode()).hexdigest()[:16]


def git_commit(project_path: Path) -> str | None:
    """The project folder's git commit, or None outside a git work tree (or without git)."""
    try:
        result = subprocess.run(
            ["git", "-C", str(project_path), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


def runner_name(runner: Any) -> str:
    """``SweepRunner`` from what Kedro records (a class name, or an instance's ``<module.Class object at ...>``)."""
    text = str(runner or "")
    match = re.match(r"<([\w.]+) object", text)
    return (match.group(1) if match else text).rsplit(".", 1)[-1]


class Command:
    """One MLflow run for a command that opens several Kedro sessions (``kedro refine``)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.tracker: Tracker | None = None
        self.started = time.perf_counter()
        self.steps = 0  # the next step log_round logs


#: The command in progress (:func:`tracked_command`), whose run the sessions' hooks join.
current_command: Command | None = None


@contextmanager
def tracked_command(name: str) -> Iterator[Command]:
    """Make every Kedro session inside the block one MLflow run, named ``name``, ended FINISHED or (on any
    exception, Ctrl-C included) FAILED."""
    global current_command
    command = current_command = Command(name)
    try:
        yield command
    except BaseException:
        if command.tracker is not None:
            command.tracker.log(metrics={"wall_s": time.perf_counter() - command.started})
            command.tracker.end("FAILED")
        raise
    else:
        if command.tracker is not None:
            command.tracker.log(metrics={"wall_s": time.perf_counter() - command.started})
            command.tracker.end("FINISHED")
    finally:
        current_command = None


def log_round(fit: Any, runs: int) -> None:
    """A fit of ``effective`` during the command as its next step (0: before the first round, then 1, 2, …):
    ``ed80``, the widths in decades of its interval and of the upper edge's (where bounded) and ``runs``."""
    command = current_command
    if command is None or command.tracker is None:
        return
    metrics = {"runs": float(runs)}
    if fit.ed80 is not None:
        metrics["ed80"] = fit.ed80.coverage
    for name, crossing in (("ed80", fit.ed80), ("upper_edge", fit.upper)):
        if crossing is not None and math.isfinite(crossing.width):
            metrics[f"{name}_ci_width"] = crossing.width
    command.tracker.log(metrics=metrics, step=command.steps)
    command.steps += 1


class TrackingHooks:
    """Log each tracked run (see the module docstring) from Kedro's pipeline hooks, in the main process.

    The ``trylast`` hooks run after the project's checks (:class:`ex_coverage.hooks.SweepHooks`): a run that they
    stop starts no store connection, and the closing summary is printed before the line naming the MLflow run.
    """

    def __init__(self) -> None:
        self.settings: TrackingSettings | None = None
        self.project_path: Path | None = None
        self.tracker: Tracker | None = None
        self.joined = False

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        self.project_path = Path(context.project_path)
        self.settings = tracking_settings(context.config_loader, self.project_path)

    @hook_impl(trylast=True)
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        self.tracker, self.joined = None, False
        if self.settings is None or not self.settings.enabled:
            return
        command = current_command
        if command is None and not tracked(pipeline):
            return
        from ex_coverage.cli import command_line

        names = run_params.get("pipeline_names") or ["__default__"]
        tags = {
            "pipeline": ",".join(names),
            "environment": run_params.get("env") or default_environment(),
            "runner": runner_name(run_params.get("runner")),
            "command": command_line(),
            "mlflow.user": user(),
        }
        if command is not None:
            if command.tracker is None:
                command.tracker = Tracker(self.settings, command.name, {**tags, "pipeline": command.name})
            self.tracker, self.joined = command.tracker, True
        else:
            self.tracker = Tracker(self.settings, ",".join(names), tags)

    @hook_impl(trylast=True)
    def after_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        """Log what the run made: configuration, answer, files; a joined command's run is ended by the command."""
        tracker, self.tracker = self.tracker, None
        if tracker is None or not tracked(pipeline):
            return
        try:
            digest, metrics, tags = results(pipeline, catalog)
            params = {**run_parameters(catalog, self.project_path or Path.cwd()), **digest}
        except Exception as error:  # tracking never costs the run: its results are written
            if tracker.run_id is not None:  # a command's run, opened by its first round: not left RUNNING
                tracker.end("FAILED")
            tracker.give_up(f"the run's results could not be read for tracking: {describe(error)}")
            return
        if not self.joined:
            metrics["wall_s"] = time.perf_counter() - tracker.started
        if "git_commit" in params:
            tags["mlflow.source.git.commit"] = params["git_commit"]  # shown by MLflow's UI
        tracker.log(params=params, metrics=metrics, tags=tags)
        tracker.log_files(artifacts(pipeline, catalog))
        if not self.joined:
            tracker.end("FINISHED")
        if tracker.run_id is not None and not tracker.off:
            import click

            click.echo(
                f"Tracked: MLflow run {tracker.run_id[:8]} ({tracker.run_name}) in experiment "
                f"{tracker.settings.experiment}, {redacted(tracker.settings.uri)}"
            )

    @hook_impl
    def on_pipeline_error(self, error: Exception, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        """Record the failed run with its parameters (a joined command's run logs the error and is ended FAILED
        by the command; its parameters are logged once, with its report)."""
        tracker, self.tracker = self.tracker, None
        if tracker is None:
            return
        tags = {"error": describe(error)}
        if self.joined:
            tracker.log(tags=tags)
            return
        try:
            params = run_parameters(catalog, self.project_path or Path.cwd())
        except Exception:  # the input that failed may be one the parameters are read from (the schedule)
            params = {}
        tracker.log(params=params, metrics={"wall_s": time.perf_counter() - tracker.started}, tags=tags)
        tracker.end("FAILED")


def tracked(pipeline: Any) -> bool:
    """Whether a run of ``pipeline`` is tracked on its own: it writes the report or the budget map."""
    outputs = pipeline.all_outputs()
    return "report" in outputs or "budget_map" in outputs


def user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # no user name in the environment or the password database
        return "unknown"


def default_environment() -> str:
    from kedro.framework.project import settings

    return str(settings.CONFIG_LOADER_ARGS.get("default_run_env", "local"))


def run_parameters(catalog: Any, project_path: Path) -> dict[str, str]:
    """The configuration that made the results: every parameter (flattened), the schedule's SHA-256, the project
    version and, in a git work tree, the commit."""
    from ex_coverage import __version__
    from ex_coverage.pipelines.data_engineering.nodes import resolve_schedule

    params = flatten(catalog.load("parameters"))
    params["schedule_sha256"] = resolve_schedule(catalog.load("dopesheet")).digest
    params["project_version"] = __version__
    commit = git_commit(project_path)
    if commit:
        params["git_commit"] = commit
    return params


def results(pipeline: Any, catalog: Any) -> tuple[dict[str, str], dict[str, float], dict[str, str]]:
    """What the run's outputs answer: ``config_digest`` (a param), the metrics, and the statement tags."""
    outputs = pipeline.all_outputs()

    def load(name: str) -> Any | None:
        return catalog.load(name) if name in outputs and catalog.exists(name) else None

    metrics: dict[str, float] = {}
    tags: dict[str, str] = {}
    runs = None
    if "report" in outputs:
        runs = load("coverage_runs")
        metrics, tags = report_metrics(
            load("ed80"), load("ed80_fits"), load("critical_coverage"), runs, load("coverage_summary")
        )
    if "budget_map" in outputs:
        budget_fit = load("budget_fit") if "budget_fit" in catalog else None
        binding = load("budget_binding")
        metrics.update(budget_metrics(budget_fit, binding))
        if "cheapest_labels" not in metrics and binding is not None:
            tags["cheapest_labels_statement"] = (
                f"no cell of the map reaches an effective pass rate of {binding.get('min_pass_rate', 0.8):g}"
            )
        runs = load("budget_runs") if runs is None else runs
    params = {}
    if runs is not None and "fingerprint" in runs.columns:
        params["config_digest"] = config_digest(runs["fingerprint"])
    return params, metrics, tags


def artifacts(pipeline: Any, catalog: Any) -> list[Path]:
    """The files of the run's sweep-wide (or map-wide) outputs in the reporting layer: report, tables, JSON and
    figures (a level's own pages and figures stay in ``data/``)."""
    paths = []
    for name in sorted(pipeline.all_outputs()):
        if "." in name:  # a level's or a cell's (pipelines/levels.py)
            continue
        config = catalog.config_resolver.resolve_pattern(name)
        layer = ((config.get("metadata") or {}).get("kedro-viz") or {}).get("layer")
        path = Path(str(config.get("filepath", "")))
        if layer == ARTIFACT_LAYER and path.is_absolute() and path.is_file():
            paths.append(path)
    return paths
