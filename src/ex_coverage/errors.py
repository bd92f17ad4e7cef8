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


class StaleResultsError(RuntimeError):
    """Results were produced by a configuration other than the current one."""


EXPECTED_ERRORS: tuple[type[BaseException], ...] = (
    ScheduleError,
    SweepConfigError,
    CoverageError,
    TrainingDiverged,
    ConfigurationError,
    StaleResultsError,
    DatasetError,  # the innermost one names the unreadable file
)


def root_cause(error: BaseException) -> BaseException:
    """The innermost expected error in the exception chain (Kedro wraps node errors)."""
    found = error
    current: BaseException | None = error
    while current is not None:
        if isinstance(current, EXPECTED_ERRORS):
            found = current
        current = current.__cause__ or current.__context__
    return found


def describe(error: BaseException) -> str:
    return str(root_cause(error))
