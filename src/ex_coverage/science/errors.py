"""The one base class of this project's own errors: problems a researcher can cause with inputs.

Every error that names a file, key, row or run derives from :class:`ExCoverageError`; the CLI shows
these as one ``Error: ...`` line instead of a traceback.
"""

from __future__ import annotations


class ExCoverageError(Exception):
    """Base class: the message alone tells the researcher what to fix."""


class ConfigurationError(ExCoverageError, ValueError):
    """A parameter is invalid; the message names the file or key and the allowed values."""


class TrainingDiverged(ExCoverageError, RuntimeError):
    """A loss term became non-finite; the message names the term, the step and the seed.

    ``member`` is the ensemble member that diverged (None when unknown), so that a caller training several
    levels together can name the level.
    """

    def __init__(self, message: str, member: int | None = None) -> None:
        super().__init__(message)
        self.member = member


class StaleResultsError(ExCoverageError, RuntimeError):
    """Results were produced by a configuration other than the current one."""


class ForeignModelError(StaleResultsError):
    """A model file was not made by the run whose record lies beside it (or by that place's run)."""
