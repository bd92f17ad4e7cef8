"""Colour grids for training, validation and evaluation, with label probabilities."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
