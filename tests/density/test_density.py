"""Ex-post density estimators against scikit-learn and closed forms."""
import numpy as np
import pytest
import tensorflow as tf

from tfvae.density import DensityEstimator, Gaussian, GaussianMixture


def _two_blobs(rng, count=600):
    centers = np.array([[-3.0, 0.0, 1.0], [3.0, 1.0, -1.0]])
    labels = rng.integers(0, 2, count)
    return centers[labels] + rng.normal(size=(count, 3)) * np.array([0.5, 1.0, 0.3])


def test_gmm_log_prob_equals_sklearn(rng):
    latents = _two_blobs(rng)
    gmm = GaussianMixture(num_components=2, seed=1)
    gmm.fit(latents)
    from sklearn.mixture import GaussianMixture as Sk

    reference = Sk(2, covariance_type="full", random_state=1, max_iter=100, reg_covar=1e-6).fit(latents)
    probe = rng.normal(size=(50, 3)) * 3
    np.testing.assert_allclose(gmm.log_prob(probe), reference.score_samples(probe), rtol=1e-4, atol=1e-3)


def test_gmm_sample_moments_match_the_mixture(rng):
    gmm = GaussianMixture(num_components=2)
    gmm.fit(_two_blobs(rng))
    samples = gmm.sample(20000, seed=[1, 2]).numpy()
    weights = np.exp(gmm.params["logits"].numpy())
    means = gmm.params["loc"].numpy()
    tril = gmm.params["scale_tril"].numpy()
    mixture_mean = weights @ means
    covariances = tril @ np.transpose(tril, (0, 2, 1))
    second = sum(w * (c + np.outer(m, m)) for w, c, m in zip(weights, covariances, means))
    mixture_cov = second - np.outer(mixture_mean, mixture_mean)
    standard_error = np.sqrt(np.diag(mixture_cov) / len(samples))
    assert np.all(np.abs(samples.mean(0) - mixture_mean) < 4 * standard_error)
    np.testing.assert_allclose(np.cov(samples, rowvar=False), mixture_cov, atol=0.15)


def test_save_load_same_samples(rng, tmp_path):
    for estimator in (GaussianMixture(num_components=3), Gaussian()):
        estimator.fit(_two_blobs(rng), _two_blobs(rng, 100))
        estimator.save(str(tmp_path / estimator.name_in_registry))
        loaded = DensityEstimator.load(str(tmp_path / estimator.name_in_registry))
        assert type(loaded) is type(estimator) and loaded.fit_info == estimator.fit_info
        np.testing.assert_array_equal(loaded.sample(7, seed=[4, 5]), estimator.sample(7, seed=[4, 5]))
        seeds = tf.constant([[1, 2], [3, 4]], tf.int32)
        np.testing.assert_array_equal(loaded.sample_from_seeds(seeds), estimator.sample_from_seeds(seeds))
        assert not any(p.suffix == ".pkl" for p in (tmp_path / estimator.name_in_registry).iterdir())


def test_per_row_seeds_are_independent_of_batching(rng):
    gmm = GaussianMixture(num_components=2)
    gmm.fit(_two_blobs(rng))
    together = gmm.sample_from_seeds(tf.constant([[1, 2], [3, 4], [5, 6]], tf.int32)).numpy()
    alone = gmm.sample_from_seeds(tf.constant([[3, 4]], tf.int32)).numpy()
    np.testing.assert_allclose(together[1], alone[0], rtol=1e-6, atol=1e-7)  # last-bit rounding may differ
    assert not np.array_equal(together[0], together[1])


def test_gaussian_is_the_maximum_likelihood_fit(rng):
    latents = rng.normal(size=(500, 2)) @ np.array([[1.0, 0.5], [0.0, 2.0]]) + 3
    gaussian = Gaussian()
    info = gaussian.fit(latents)
    np.testing.assert_allclose(gaussian.params["loc"].numpy(), latents.mean(0), rtol=1e-5)
    import scipy.stats

    expected = scipy.stats.multivariate_normal(latents.mean(0), np.cov(latents, rowvar=False, bias=True))
    np.testing.assert_allclose(info["train_log_likelihood"], expected.logpdf(latents).mean(), rtol=1e-4)


def test_mixture_beats_single_gaussian_on_a_mixture(rng):
    train, validation = _two_blobs(rng), _two_blobs(rng, 300)
    gmm_ll = GaussianMixture(num_components=2).fit(train, validation)["validation_log_likelihood"]
    gauss_ll = Gaussian().fit(train, validation)["validation_log_likelihood"]
    assert gmm_ll > gauss_ll + 0.5


def test_errors(rng, tmp_path):
    with pytest.raises(ValueError, match="needs at least as many latents"):
        GaussianMixture(num_components=10).fit(rng.normal(size=(5, 2)))
    with pytest.raises(ValueError, match="NaN or infinite"):
        Gaussian().fit(np.array([[0.0, np.nan], [1.0, 2.0]]))
    with pytest.raises(ValueError, match="columns like the training latents"):
        Gaussian().fit(rng.normal(size=(20, 2)), rng.normal(size=(5, 3)))
    with pytest.raises(ValueError, match="not fitted"):
        Gaussian().sample(3, seed=[0, 0])
    with pytest.raises(FileNotFoundError, match="No fitted density"):
        DensityEstimator.load(str(tmp_path))
