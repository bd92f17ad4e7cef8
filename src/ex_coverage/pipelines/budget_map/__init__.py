"""The label budget map (SPEC §9b): one namespace per (red coverage, vibrant coverage) cell, then the map."""

from .pipeline import cell_pipeline, create_pipeline

__all__ = ["cell_pipeline", "create_pipeline"]
