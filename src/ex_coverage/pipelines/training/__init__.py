"""Train and score every seed at one coverage level; instantiated once per level under its namespace."""

from .pipeline import create_pipeline, level_pipeline

__all__ = ["create_pipeline", "level_pipeline"]
