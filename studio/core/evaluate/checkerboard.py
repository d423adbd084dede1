"""The checkerboard index: how much more of an image's power sits at the Nyquist frequencies than a target's.

Stride-2 transposed convolutions leave a period-2 pattern in their output (Odena et al., Distill
2016). A period-2 pattern is power at the three Nyquist points of the spectrum: (H/2, 0), (0, W/2)
and (H/2, W/2). :func:`nyquist_fraction` is the share of an image's (mean-removed, Hann-windowed)
spectral power within ``band`` bins of those points, summed over channels; the window keeps the
edges of a non-periodic image from leaking power onto the axes. :func:`checkerboard_index` divides
the output's share by the target's: about 1 when the output is no more checkered than what it
should look like, and well above 1 (issue 16 measured 6-18 for transposed-conv models) when it
carries the pattern. Being a ratio of shares, the index also rises when an output has less contrast
than its target; :func:`nyquist_power_ratio` compares the Nyquist power itself, to tell a pattern
from a washed-out picture.
"""

from __future__ import annotations

import numpy as np

TINY = 1e-12  # a share below this is no share: keeps the index finite for a perfectly smooth target


def nyquist_power(image: np.ndarray, band: int = 1) -> tuple[float, float]:
    """``image``'s (mean-removed, Hann-windowed) spectral power within ``band`` bins of the Nyquist points,
    and its total power, summed over channels (H×W or H×W×C)."""
    x = np.asarray(image, dtype=np.float64)
    if x.ndim == 2:
        x = x[:, :, None]
    if x.ndim != 3 or x.shape[0] < 4 or x.shape[1] < 4:
        raise ValueError(f"expected an H×W or H×W×C image of at least 4×4 pixels, got shape {x.shape}")
    h, w = x.shape[0] // 2 * 2, x.shape[1] // 2 * 2  # even sides, so the Nyquist bins exist
    x = x[:h, :w]
    x = x - x.mean(axis=(0, 1), keepdims=True)
    window = np.outer(np.hanning(h), np.hanning(w))[:, :, None]
    power = np.abs(np.fft.fft2(x * window, axes=(0, 1))) ** 2
    rows = np.zeros(h, bool)
    cols = np.zeros(w, bool)
    offsets = np.arange(-band, band + 1)
    rows_nyq, cols_nyq = rows.copy(), cols.copy()
    rows[offsets % h] = True  # near 0
    cols[offsets % w] = True
    rows_nyq[(h // 2 + offsets) % h] = True  # near Nyquist
    cols_nyq[(w // 2 + offsets) % w] = True
    mask = np.outer(rows_nyq, cols) | np.outer(rows, cols_nyq) | np.outer(rows_nyq, cols_nyq)
    return float(power[mask].sum()), float(power.sum())


def nyquist_fraction(image: np.ndarray, band: int = 1) -> float:
    """Share of ``image``'s spectral power within ``band`` bins of the Nyquist points (H×W or H×W×C)."""
    nyquist, total = nyquist_power(image, band)
    if total <= 0.0:
        return 0.0  # a flat image has no power anywhere, so none at Nyquist
    return nyquist / total


def checkerboard_index(image: np.ndarray, reference: np.ndarray, band: int = 1) -> float:
    """``image``'s Nyquist share over ``reference``'s (the target it should resemble); ~1: no checkerboard."""
    return nyquist_fraction(image, band) / max(nyquist_fraction(reference, band), TINY)


def nyquist_power_ratio(image: np.ndarray, reference: np.ndarray, band: int = 1) -> float:
    """``image``'s Nyquist power over ``reference``'s, not divided by either's total power.

    The index divides shares, so an output with less contrast than its target (less power at every
    frequency) scores high even with no pattern: half the target's contrast and the target's own grain
    is an index of 4. This ratio tells the two apart: ~1 or below, no more period-2 energy than the
    target has; well above 1, a pattern the target does not have."""
    return nyquist_power(image, band)[0] / max(nyquist_power(reference, band)[0], TINY)
