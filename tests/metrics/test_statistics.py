"""The statistics core against closed forms."""
import numpy as np
import pytest

from tfvae.metrics import RunningMoments, frechet_distance, kernel_inception_distance


def test_running_moments_match_numpy_in_batches(rng):
    features = rng.normal(size=(1000, 5)) * 3 + 100  # A large offset: float32 sums would lose digits.
    moments = RunningMoments(5)
    for start in range(0, 1000, 128):
        moments.update(features[start:start + 128])
    mean, covariance = moments.result()
    np.testing.assert_allclose(mean, features.mean(0), rtol=1e-12)
    np.testing.assert_allclose(covariance, np.cov(features, rowvar=False), rtol=1e-9)
    with pytest.raises(ValueError, match="shape"):
        moments.update(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="NaN"):
        moments.update(np.full((2, 5), np.nan))


def test_frechet_distance_of_a_set_with_itself_is_zero(rng):
    features = rng.normal(size=(500, 8))
    mean, covariance = features.mean(0), np.cov(features, rowvar=False)
    assert frechet_distance(mean, covariance, mean, covariance) == pytest.approx(0.0, abs=1e-8)


def test_frechet_distance_matches_the_closed_form(rng):
    # Commuting covariances (here diagonal): d^2 = ||m_a - m_b||^2 + sum (sigma_a - sigma_b)^2.
    mean_a, mean_b = rng.normal(size=6), rng.normal(size=6)
    sigma_a, sigma_b = rng.uniform(0.5, 2, 6), rng.uniform(0.5, 2, 6)
    expected = np.sum((mean_a - mean_b) ** 2) + np.sum((sigma_a - sigma_b) ** 2)
    assert frechet_distance(mean_a, np.diag(sigma_a ** 2), mean_b, np.diag(sigma_b ** 2)) == pytest.approx(expected)
    # A general pair against scipy's matrix square root (float64 reference).
    import scipy.linalg

    a, b = rng.normal(size=(6, 6)), rng.normal(size=(6, 6))
    cov_a, cov_b = a @ a.T + np.eye(6), b @ b.T + np.eye(6)
    reference = (np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a) + np.trace(cov_b)
                 - 2 * np.trace(scipy.linalg.sqrtm(cov_a @ cov_b)).real)
    assert frechet_distance(mean_a, cov_a, mean_b, cov_b) == pytest.approx(reference, rel=1e-8)
    # Symmetric, and a precomputed root of the first covariance gives the same number.
    from tfvae.metrics.statistics import symmetric_sqrt

    assert frechet_distance(mean_b, cov_b, mean_a, cov_a) == pytest.approx(reference, rel=1e-8)
    assert frechet_distance(mean_a, cov_a, mean_b, cov_b, root_a=symmetric_sqrt(cov_a)) == pytest.approx(
        reference, rel=1e-12)


def test_kid_with_a_linear_kernel_is_the_squared_mean_difference_in_expectation(rng):
    shift = np.array([0.5, -0.3, 0.0, 0.2])
    a = rng.normal(size=(4000, 4))
    b = rng.normal(size=(4000, 4)) + shift
    mean, standard_error = kernel_inception_distance(a, b, num_subsets=200, subset_size=200, kernel="linear")
    assert abs(mean - np.sum(shift ** 2)) < 4 * standard_error
    same, same_error = kernel_inception_distance(a[:2000], a[2000:], num_subsets=100, subset_size=200)
    assert abs(same) < 4 * same_error  # Unbiased: zero in expectation for one distribution.
    different, _ = kernel_inception_distance(a, b, num_subsets=20, subset_size=200)
    assert different > 10 * same_error
