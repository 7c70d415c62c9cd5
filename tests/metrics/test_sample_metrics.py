"""Sample metrics against their definitions: PRD, improved precision/recall, Inception-style score, diversity,
the independent critic."""
import numpy as np
import pytest

from tfvae import metrics
from tfvae.metrics.diversity import ms_ssim_protocol
from tfvae.metrics.precision_recall import max_f_beta, prd_curve


def test_prd_identical_sets_are_perfect(rng):
    features = rng.normal(size=(600, 8))
    result = metrics.prd(features, features, num_runs=2)
    assert result["f_beta"] == pytest.approx(1.0) and result["f_beta_inv"] == pytest.approx(1.0)
    assert result["precision"].max() == pytest.approx(1.0) and result["recall"].max() == pytest.approx(1.0)


def test_prd_disjoint_sets_score_zero(rng):
    near, far = rng.normal(size=(300, 4)), rng.normal(size=(300, 4)) + 100.0
    result = metrics.prd(near, far, num_runs=2)
    assert result["f_beta"] == pytest.approx(0.0, abs=1e-9) and result["f_beta_inv"] == pytest.approx(0.0, abs=1e-9)


def test_prd_curve_of_a_half_covered_distribution():
    """Samples covering half the reference bins (mode dropping): max precision 1 and max recall 1/2 (Sajjadi et
    al., figure 1); F_8 follows recall, F_1/8 precision."""
    precision, recall = prd_curve([0.5, 0.5, 0.0, 0.0], [0.25, 0.25, 0.25, 0.25], num_angles=20001)
    assert precision.max() == pytest.approx(1.0, abs=1e-3) and recall.max() == pytest.approx(0.5, abs=1e-3)
    assert max_f_beta(precision, recall, 8) < 0.51 < 0.95 < max_f_beta(precision, recall, 1 / 8)


def test_improved_precision_recall_extremes_and_mode_dropping(rng):
    real = rng.normal(size=(500, 3))
    assert metrics.improved_precision_recall(real, real) == {"precision": 1.0, "recall": 1.0}
    assert metrics.improved_precision_recall(real, real + 50.0) == {"precision": 0.0, "recall": 0.0}
    # Fakes from one half of the real distribution: precise, but recalling only about half of it.
    half = real[real[:, 0] > 0]
    result = metrics.improved_precision_recall(real, half)
    assert result["precision"] == 1.0 and 0.35 < result["recall"] < 0.75


def test_inception_score_closed_cases(rng):
    classes = 10
    confident = np.eye(classes)[np.arange(1000) % classes]
    mean, std = metrics.inception_score(confident)
    assert mean == pytest.approx(classes) and std == pytest.approx(0.0, abs=1e-9)
    same = np.tile(rng.dirichlet(np.ones(classes)), (1000, 1))
    assert metrics.inception_score(same)[0] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="summing to 1"):
        metrics.inception_score(confident * 2)


def test_diversity_of_identical_and_independent_images(rng):
    same = np.repeat(rng.random((1, 28, 28, 1)), 10, axis=0).astype(np.float32)
    assert metrics.ms_ssim_diversity(same, num_pairs=20)["diversity"] == pytest.approx(0.0, abs=1e-5)
    noise = rng.random((10, 32, 32, 3)).astype(np.float32)
    result = metrics.ms_ssim_diversity(noise, num_pairs=50)
    assert result["diversity"] > 0.9 and result["protocol"]["filter_size"] == 5
    assert len(ms_ssim_protocol(28, 28)[2]) == 3 and len(ms_ssim_protocol(8, 8)[2]) == 1
    assert ms_ssim_protocol(256, 256) == (11, 1.5, ms_ssim_protocol(256, 256)[2]) and \
        len(ms_ssim_protocol(256, 256)[2]) == 5


def test_independent_critic_estimates_wasserstein_one(rng):
    """For N(0, 1) against N(m, 1) in one dimension W1 = |m|; the critic's held-out gap approaches it."""
    def draw(shift, count=2000):
        return rng.normal(size=(count, 1)) + shift

    far = metrics.independent_critic_distance(draw(0), draw(2), draw(0), draw(2), steps=600, hidden_units=(64, 64),
                                                   learning_rate=2e-3)
    near = metrics.independent_critic_distance(draw(0), draw(0), draw(0), draw(0), steps=600, hidden_units=(64, 64),
                                                   learning_rate=2e-3)
    assert 1.5 < far["distance"] < 2.2, far
    assert abs(near["distance"]) < 0.25, near
