"""Inference: a model's translation at the photo's own size, tiled when it would not fit, with
whole-image normalisation statistics (``image_norms``) so tiles match the untiled result."""

from .translator import Translator, collect_inputs, output_path, translate_job

__all__ = ["Translator", "collect_inputs", "output_path", "translate_job"]
