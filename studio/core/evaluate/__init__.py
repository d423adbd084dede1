"""Evaluation as a job: measure a model on folders of images and write the figures into its card.

- :mod:`.paired` (pix2pix): PSNR, SSIM and L1 of each translation against the target with the same file name;
- :mod:`.unpaired` (CycleGAN, CUT): cycle-consistency error both ways (CycleGAN), KID and FID between translated and
  real target images, and a nearest-neighbour memorisation check against the training images;
- :mod:`.latent_models` (VAE, flow, PixelCNN): held-out reconstruction PSNR and ELBO, or bits per dimension;
- :mod:`.metrics`: the metrics themselves; :mod:`.job`: the job that picks the evaluator.

Translations are made by the same :class:`~studio.core.translate.Translator` that ``studio translate``
uses, at native size, and quantised to 8 bits as a saved file would be. Every figure in the card says
what it was measured on: folders, image counts, date, device and feature space. The text report of
a record is :func:`studio.core.report.eval_lines`.
"""

from .inputs import EvalError, select
from .job import evaluate, evaluate_job

__all__ = ["EvalError", "evaluate", "evaluate_job", "select"]
