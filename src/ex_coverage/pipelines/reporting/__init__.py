"""Metrics across the sweep, figures, and the answer: c*."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
