"""Catalog datasets: kedro-datasets types whose saves to local files are atomic.

Each ``Atomic*Dataset`` is the kedro-datasets class of the same kind (``filepath`` with any fsspec
protocol, ``load_args``, ``save_args``, ``fs_args``, ``credentials``, ``version``, ``metadata`` and
the kedro-viz preview all work as documented there) with two additions:

- a save to a local file writes a temporary file beside the target (``.NAME.<random>.partial``) and
  renames it into place, so a run killed mid-save leaves either the previous file or none — never a
  truncated one that loads as valid. Remote stores (``s3://``, ``gs://``, ``abfs://`` …) make an
  object visible only once its upload completes, so there the parent's save is used as it is;
- a failed load says which file, and whether it is missing or unreadable.

:class:`TorchStateDictDataset` and :class:`ResolvedScheduleDataset` are this project's own formats, built the
same way on fsspec.
"""

from __future__ import annotations

import base64
import errno
import inspect
import io
import os
import re
import tempfile
from copy import deepcopy
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar, NewType

import fsspec
from kedro.io.core import (
    AbstractVersionedDataset,
    DatasetError,
    Version,
    get_filepath_str,
    get_protocol_and_path,
)
from kedro_datasets.json import JSONDataset
from kedro_datasets.matplotlib import MatplotlibDataset
from kedro_datasets.pandas import CSVDataset, ParquetDataset
from kedro_datasets.text import TextDataset

#: kedro-viz picks a preview's renderer by the name of its return type, as kedro-datasets' own datasets declare it.
TablePreview = NewType("TablePreview", dict)
ImagePreview = NewType("ImagePreview", str)

#: Temporary names of saves in progress: ``.<target name>.<random>.partial`` beside the target. The
#: one definition of this project's temporary names; :func:`ex_coverage.lock.remove_partial_files`
#: removes leftovers matching it (and nothing else) at the start of a writing run.
PARTIAL_PREFIX, PARTIAL_SUFFIX = ".", ".partial"
PARTIAL_NAME = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.partial$")


def dataset_filepath(catalog: Any, name: str) -> str | None:
    """The ``filepath`` catalog entry ``name`` was made with (a pattern entry's resolved), or None (an entry held in
    memory): read from the catalog's configuration, or for an entry added in code, from its ``to_config``."""
    filepath = catalog.config_resolver.resolve_pattern(name).get("filepath")
    if filepath is None and name in catalog:
        entry = catalog.to_config()[0].get(name) or {}
        filepath = entry.get("filepath", (entry.get("kwargs") or {}).get("filepath"))
    return None if filepath is None else str(filepath)


def is_partial_file(name: str) -> bool:
    """Whether a file name is one of this project's temporary save names."""
    return PARTIAL_NAME.match(name) is not None


def partial_path(target: Path) -> Path:
    """A new, empty temporary file beside ``target`` for an atomic save (the folder is created); its name
    matches :data:`PARTIAL_NAME`."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(
        dir=target.parent, prefix=f"{PARTIAL_PREFIX}{target.name}.", suffix=PARTIAL_SUFFIX
    )
    os.close(handle)
    return Path(temporary)


def replace_atomically(temporary: Path, target: Path) -> None:
    """Flush ``temporary`` to disk and rename it onto ``target``."""
    with open(temporary, "rb+") as stream:
        os.fsync(stream.fileno())
    os.replace(temporary, target)


def save_failed(target: Path, error: OSError) -> DatasetError:
    """The error for a local save that failed (disk full, quota, permissions): the previous file is intact."""
    hint = " (disk full: free some space)" if error.errno in (errno.ENOSPC, errno.EDQUOT) else ""
    kept = "the previous file is unchanged" if target.exists() else "nothing was written"
    return DatasetError(f"{target}: could not be saved: {error.strerror or error}{hint}; {kept}. Rerun once fixed.")


def write_atomically(path: Path, payload: bytes) -> None:
    """Write ``payload`` to ``path`` through a temporary file in the same folder and a rename; a failed write
    leaves the previous file as it was."""
    temporary = partial_path(path)
    try:
        temporary.write_bytes(payload)
        replace_atomically(temporary, path)
    except BaseException as error:
        temporary.unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise save_failed(path, error) from error
        raise


def _unwrapped(method: Any) -> Any:
    """The plain function behind a dataset method that Kedro wrapped with its logging and error handling."""
    return inspect.unwrap(getattr(method, "__func__", method))


class _AtomicLocalSave:
    """Mixin for a kedro-datasets file dataset (``_protocol``, ``_get_save_path``, ``_get_load_path``).

    Place it before the kedro-datasets class: ``class AtomicXDataset(_AtomicLocalSave, XDataset)``.
    """

    _protocol: str
    _atomic_target: PurePosixPath | None = None

    def _display_path(self) -> str:
        """The file as the user wrote it: a relative local path stays relative; remote ones keep their protocol."""
        try:
            path = self._get_load_path()  # type: ignore[attr-defined]
        except DatasetError:
            path = self._filepath  # type: ignore[attr-defined]
        return get_filepath_str(path, self._protocol)

    def load(self) -> Any:
        parent_load = _unwrapped(super().load)  # type: ignore[misc]
        if not self._exists():  # type: ignore[attr-defined]
            raise DatasetError(f"{self._display_path()} does not exist: run the pipeline that writes it first")
        try:
            return parent_load(self)
        except Exception as error:
            raise DatasetError(
                f"{self._display_path()} is unreadable or corrupted ({type(error).__name__}: {error})"
            ) from error

    def save(self, data: Any) -> None:
        parent_save = _unwrapped(super().save)  # type: ignore[misc]
        if self._protocol != "file":
            parent_save(self, data)  # the object store's put is atomic
            return
        target = Path(get_filepath_str(super()._get_save_path(), self._protocol))  # type: ignore[misc]
        temporary = partial_path(target)
        self._atomic_target = PurePosixPath(temporary)
        try:
            parent_save(self, data)
            replace_atomically(temporary, target)
        except BaseException as error:
            temporary.unlink(missing_ok=True)
            cause = error if isinstance(error, OSError) else error.__cause__ or error.__context__
            if isinstance(cause, OSError):
                raise save_failed(target, cause) from error
            raise
        finally:
            self._atomic_target = None

    def _get_save_path(self) -> PurePosixPath:
        if self._atomic_target is not None:
            return self._atomic_target
        return super()._get_save_path()  # type: ignore[misc]


class AtomicParquetDataset(_AtomicLocalSave, ParquetDataset):
    """:class:`kedro_datasets.pandas.ParquetDataset`, atomic for local files; saves without the index by default."""

    DEFAULT_SAVE_ARGS: ClassVar[dict[str, Any]] = {"index": False}

    def preview(self, nrows: int = 10) -> TablePreview:
        """The first ``nrows`` rows for kedro-viz (read through the dataset's filesystem, so remote files work)."""
        return TablePreview(self.load().head(nrows).to_dict(orient="split"))


class AtomicCSVDataset(_AtomicLocalSave, CSVDataset):
    """:class:`kedro_datasets.pandas.CSVDataset`, atomic for local files; for tables people open in a spreadsheet."""


class AtomicJSONDataset(_AtomicLocalSave, JSONDataset):
    """:class:`kedro_datasets.json.JSONDataset`, atomic for local files; sorted keys by default (stable diffs)."""

    DEFAULT_SAVE_ARGS: ClassVar[dict[str, Any]] = {"indent": 2, "sort_keys": True}


class AtomicTextDataset(_AtomicLocalSave, TextDataset):
    """:class:`kedro_datasets.text.TextDataset`, atomic for local files: plain text or Markdown."""


class AtomicFigureDataset(_AtomicLocalSave, MatplotlibDataset):
    """:class:`kedro_datasets.matplotlib.MatplotlibDataset`, atomic for local files: a figure saved as PNG.

    Unlike its parent it loads, as the PNG bytes (for notebooks and the kedro-viz image preview).
    """

    # No bbox_inches="tight": the project's figures are laid out when made (science/plots.py ``_laid_out``),
    # and a tight bounding box costs a second drawing of every figure.
    DEFAULT_SAVE_ARGS: ClassVar[dict[str, Any]] = {"format": "png", "dpi": 110}

    def load(self) -> bytes:
        if not self._exists():
            raise DatasetError(f"{self._display_path()} does not exist: run the pipeline that writes it first")
        with self._fs.open(get_filepath_str(self._get_load_path(), self._protocol), mode="rb") as stream:
            return stream.read()

    def save(self, data: Any) -> None:
        if self._protocol != "file" or not isinstance(data, (list, dict)):
            super().save(data)  # one figure: one file, saved atomically by the mixin
            return
        # A list or dict of figures is a folder of files (``0.png`` … or the keys), each saved atomically.
        folder = Path(get_filepath_str(self._get_save_path(), self._protocol))
        figures = data.items() if isinstance(data, dict) else ((f"{i}.png", f) for i, f in enumerate(data))
        for name, figure in figures:
            buffer = io.BytesIO()
            figure.savefig(buffer, **self._save_args)
            write_atomically(folder / name, buffer.getvalue())

    def preview(self) -> ImagePreview:
        return ImagePreview(base64.b64encode(self.load()).decode())


class _FsspecFileDataset(AbstractVersionedDataset):
    """One file on any fsspec filesystem, set up as kedro-datasets' file datasets are."""

    DEFAULT_LOAD_ARGS: ClassVar[dict[str, Any]] = {}
    DEFAULT_SAVE_ARGS: ClassVar[dict[str, Any]] = {}

    def __init__(
        self,
        *,
        filepath: str,
        load_args: dict[str, Any] | None = None,
        save_args: dict[str, Any] | None = None,
        version: Version | None = None,
        credentials: dict[str, Any] | None = None,
        fs_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        _fs_args = deepcopy(fs_args or {})
        self._fs_open_args_load = {"mode": "rb", **_fs_args.pop("open_args_load", {})}
        self._fs_open_args_save = {"mode": "wb", **_fs_args.pop("open_args_save", {})}
        protocol, path = get_protocol_and_path(filepath, version)
        if protocol == "file":
            _fs_args.setdefault("auto_mkdir", True)
        self._protocol = protocol
        self._fs = fsspec.filesystem(protocol, **deepcopy(credentials or {}), **_fs_args)
        self.metadata = metadata
        super().__init__(
            filepath=PurePosixPath(path), version=version, exists_function=self._fs.exists, glob_function=self._fs.glob
        )
        self._load_args = {**self.DEFAULT_LOAD_ARGS, **(load_args or {})}
        self._save_args = {**self.DEFAULT_SAVE_ARGS, **(save_args or {})}

    def _describe(self) -> dict[str, Any]:
        return {
            "filepath": self._filepath,
            "protocol": self._protocol,
            "load_args": self._load_args,
            "save_args": self._save_args,
            "version": self._version,
        }

    def _read(self) -> bytes:
        with self._fs.open(get_filepath_str(self._get_load_path(), self._protocol), **self._fs_open_args_load) as f:
            return f.read()

    def _write(self, payload: bytes) -> None:
        with self._fs.open(get_filepath_str(self._get_save_path(), self._protocol), **self._fs_open_args_save) as f:
            f.write(payload)
        self._fs.invalidate_cache(get_filepath_str(self._filepath, self._protocol))

    def _exists(self) -> bool:
        try:
            return self._fs.exists(get_filepath_str(self._get_load_path(), self._protocol))
        except DatasetError:
            return False


class _TorchFile(_FsspecFileDataset):
    def load(self) -> dict[str, Any]:
        import torch  # imported on use: keeps catalog creation light

        return torch.load(io.BytesIO(self._read()), **{"weights_only": True, **self._load_args})

    def save(self, data: dict[str, Any]) -> None:
        import torch

        buffer = io.BytesIO()
        torch.save(data, buffer, **self._save_args)
        self._write(buffer.getvalue())


class TorchStateDictDataset(_AtomicLocalSave, _TorchFile):
    """A model's ``state_dict`` in a ``.pt`` file that loads with ``torch.load(weights_only=True)``.

    ``save_args`` go to ``torch.save``, ``load_args`` to ``torch.load`` (``weights_only`` stays True
    unless set).
    """


class _ResolvedScheduleFile(_FsspecFileDataset):
    DIGEST_KEY = b"ex_coverage.dopesheet_sha256"

    def load(self) -> Any:
        import pyarrow.parquet as pq

        from ex_coverage.science.schedule import Schedule

        table = pq.read_table(io.BytesIO(self._read()))
        frame = table.to_pandas()
        values = {c: frame[c].to_numpy(dtype=float) for c in frame.columns if c not in ("step", "phase")}
        digest = (table.schema.metadata or {}).get(self.DIGEST_KEY, b"").decode()
        return Schedule(values=values, phases=frame["phase"].tolist(), digest=digest)

    def save(self, schedule: Any) -> None:
        import pandas as pd
        import pyarrow as pa
        import pyarrow.parquet as pq

        frame = pd.DataFrame({"step": range(len(schedule)), "phase": list(schedule.phases) or [""] * len(schedule)})
        for name, values in schedule.values.items():
            frame[name] = values
        table = pa.Table.from_pandas(frame, preserve_index=False)
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), self.DIGEST_KEY: schedule.digest})
        buffer = io.BytesIO()
        pq.write_table(table, buffer)
        self._write(buffer.getvalue())


class ResolvedScheduleDataset(_AtomicLocalSave, _ResolvedScheduleFile):
    """The parsed schedule as a per-step table in Parquet: ``step``, ``phase`` and one column per property.

    The SHA-256 of the dopesheet it was parsed from travels in the file's metadata, so that run
    records made from the resolved schedule carry the raw file's digest.
    """

    def preview(self, nrows: int = 20) -> TablePreview:
        import pandas as pd

        frame = pd.read_parquet(io.BytesIO(self._read()))
        return TablePreview(frame.iloc[:: max(1, len(frame) // nrows)].head(nrows).to_dict(orient="split"))
