"""Inference: a model's translation at the photo's own size, tiled when it would not fit, with
whole-image normalisation statistics (``image_norms``) so tiles match the untiled result."""

from .translator import Translator, translate_job

__all__ = ["Translator", "translate_job"]
