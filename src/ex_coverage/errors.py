"""The errors a researcher can cause with inputs, and how to describe them in one line."""

from __future__ import annotations

from kedro.io import DatasetError

from ex_coverage.labels import CoverageError
from ex_coverage.schedule import ScheduleError
from ex_coverage.sweep import SweepConfigError


class TrainingDiverged(RuntimeError):
    """A loss term became non-finite; the message names the term, the step and the seed."""


class ConfigurationError(ValueError):
    """A parameter outside the sweep grid is invalid; the message names the key."""


class NodeFailedError(RuntimeError):
    """A node failed on a remote worker; the message names the node, the worker and the error."""


class StaleResultsError(RuntimeError):
    """Results were produced by a configuration other than the current one."""


EXPECTED_ERRORS: tuple[type[BaseException], ...] = (
    ScheduleError,
    SweepConfigError,
    CoverageError,
    TrainingDiverged,
    ConfigurationError,
    StaleResultsError,
    NodeFailedError,
    DatasetError,  # the innermost one names the unreadable file
)


def _chain(error: BaseException) -> list[BaseException]:
    """The error and the ones it was raised from, outermost first (as a traceback would show them)."""
    chain, current = [], error
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return chain


def root_cause(error: BaseException) -> BaseException:
    """The error to show: the outermost of this project's errors (it carries the location), else the
    innermost dataset error (Kedro wraps ours, which names the file)."""
    chain = _chain(error)
    ours = [e for e in chain if isinstance(e, EXPECTED_ERRORS) and not isinstance(e, DatasetError)]
    if ours:
        return ours[0]
    datasets = [e for e in chain if isinstance(e, DatasetError)]
    return datasets[-1] if datasets else error


def describe(error: BaseException) -> str:
    return str(root_cause(error))
