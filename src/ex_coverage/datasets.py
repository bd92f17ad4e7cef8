"""Catalog datasets for everything the project writes, each saved atomically.

A save writes a temporary file beside the target and renames it into place, so a run killed
mid-save leaves either the previous file or none — never a truncated one that loads as valid.
Tables, JSON and figures offer the previews kedro-viz shows.
"""

from __future__ import annotations

import base64
import io
import json
import os
import tempfile
from abc import abstractmethod
from pathlib import Path
from typing import Any

import pandas as pd
from kedro.io import AbstractDataset, DatasetError
from kedro_datasets._typing import ImagePreview, JSONPreview, TablePreview


def write_atomically(path: Path, payload: bytes) -> None:
    """Write ``payload`` to ``path`` through a temporary file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(payload)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class AtomicFileDataset(AbstractDataset):
    """A single local file, encoded and decoded by a subclass."""

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath)
        self.metadata = metadata

    @abstractmethod
    def _encode(self, data: Any) -> bytes: ...

    @abstractmethod
    def _decode(self, payload: bytes) -> Any: ...

    def load(self) -> Any:
        if not self._filepath.exists():
            raise DatasetError(f"{self._filepath} does not exist: run the pipeline that writes it first")
        try:
            return self._decode(self._filepath.read_bytes())
        except Exception as error:
            raise DatasetError(
                f"{self._filepath} is unreadable or corrupted ({type(error).__name__}: {error})"
            ) from error

    def save(self, data: Any) -> None:
        write_atomically(self._filepath, self._encode(data))

    def _exists(self) -> bool:
        return self._filepath.exists()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}


class TorchStateDictDataset(AtomicFileDataset):
    """A model's ``state_dict`` in a ``.pt`` file that loads with ``torch.load(weights_only=True)``."""

    def _encode(self, data: dict[str, Any]) -> bytes:
        import torch  # imported on use: keeps catalog creation light

        buffer = io.BytesIO()
        torch.save(data, buffer)
        return buffer.getvalue()

    def _decode(self, payload: bytes) -> dict[str, Any]:
        import torch

        return torch.load(io.BytesIO(payload), weights_only=True)


class JSONDataset(AtomicFileDataset):
    """A JSON document (run records, solved multipliers)."""

    def _encode(self, data: Any) -> bytes:
        return json.dumps(data, indent=2, sort_keys=True).encode()

    def _decode(self, payload: bytes) -> Any:
        return json.loads(payload)

    def preview(self) -> JSONPreview:
        return JSONPreview(json.dumps(self.load()))


class _TableDataset(AtomicFileDataset):
    def preview(self, nrows: int = 10) -> TablePreview:
        return TablePreview(self.load().head(nrows).to_dict(orient="split"))


class ParquetDataset(_TableDataset):
    """A pandas table in Parquet."""

    def _encode(self, data: pd.DataFrame) -> bytes:
        buffer = io.BytesIO()
        data.to_parquet(buffer, index=False)
        return buffer.getvalue()

    def _decode(self, payload: bytes) -> pd.DataFrame:
        return pd.read_parquet(io.BytesIO(payload))


class CSVDataset(_TableDataset):
    """A pandas table in CSV, for tables people open in a spreadsheet."""

    def _encode(self, data: pd.DataFrame) -> bytes:
        return data.to_csv(index=False).encode()

    def _decode(self, payload: bytes) -> pd.DataFrame:
        return pd.read_csv(io.BytesIO(payload))


class TextDataset(AtomicFileDataset):
    """Plain text or Markdown."""

    def _encode(self, data: str) -> bytes:
        return data.encode()

    def _decode(self, payload: bytes) -> str:
        return payload.decode()


class FigureDataset(AtomicFileDataset):
    """A matplotlib figure saved as PNG (loads back as PNG bytes); the figure is closed once saved."""

    def __init__(self, filepath: str, dpi: int = 110, metadata: dict[str, Any] | None = None) -> None:
        super().__init__(filepath, metadata)
        self._dpi = dpi

    def _encode(self, figure: Any) -> bytes:
        import matplotlib.pyplot as plt

        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=self._dpi, bbox_inches="tight")
        plt.close(figure)
        return buffer.getvalue()

    def _decode(self, payload: bytes) -> bytes:
        return payload

    def preview(self) -> ImagePreview:
        return ImagePreview(base64.b64encode(self.load()).decode())


class ScheduleDataset(AbstractDataset):
    """The training schedule ("dopesheet") CSV, loaded as a parsed :class:`~ex_coverage.science.schedule.Schedule`.

    A malformed file fails on load with the file, row and column in the message.
    """

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath)
        self.metadata = metadata

    def load(self) -> Any:
        from ex_coverage.science.schedule import read_schedule_csv

        return read_schedule_csv(self._filepath)

    def save(self, data: Any) -> None:
        raise DatasetError(f"{self._filepath} is a raw input: edit the CSV file itself")

    def _exists(self) -> bool:
        return self._filepath.exists()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}

    def preview(self, nrows: int = 20) -> TablePreview:
        return TablePreview(
            pd.read_csv(self._filepath, dtype=str, keep_default_na=False).head(nrows).to_dict(orient="split")
        )


class ResolvedScheduleDataset(AtomicFileDataset):
    """The parsed schedule as a per-step table in Parquet: ``step``, ``phase`` and one column per property.

    The SHA-256 of the dopesheet it was parsed from travels in the file's metadata, so that run
    records made from the resolved schedule carry the raw file's digest.
    """

    DIGEST_KEY = b"ex_coverage.dopesheet_sha256"

    def _encode(self, schedule: Any) -> bytes:
        import pyarrow as pa
        import pyarrow.parquet as pq

        frame = pd.DataFrame({"step": range(len(schedule)), "phase": list(schedule.phases) or [""] * len(schedule)})
        for name, values in schedule.values.items():
            frame[name] = values
        table = pa.Table.from_pandas(frame, preserve_index=False)
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), self.DIGEST_KEY: schedule.digest})
        buffer = io.BytesIO()
        pq.write_table(table, buffer)
        return buffer.getvalue()

    def _decode(self, payload: bytes) -> Any:
        import pyarrow.parquet as pq

        from ex_coverage.science.schedule import Schedule

        table = pq.read_table(io.BytesIO(payload))
        frame = table.to_pandas()
        values = {c: frame[c].to_numpy(dtype=float) for c in frame.columns if c not in ("step", "phase")}
        digest = (table.schema.metadata or {}).get(self.DIGEST_KEY, b"").decode()
        return Schedule(values=values, phases=frame["phase"].tolist(), digest=digest)

    def preview(self, nrows: int = 20) -> TablePreview:
        frame = pd.read_parquet(self._filepath)
        return TablePreview(frame.iloc[:: max(1, len(frame) // nrows)].head(nrows).to_dict(orient="split"))
