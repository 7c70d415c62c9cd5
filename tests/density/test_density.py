"""Ex-post density estimators against scikit-learn and closed forms, and the fit protocol's errors and options."""
import numpy as np
import pytest

from tfvae import registry
from tfvae.density import DensityEstimator, Gaussian, GaussianMixture, PriorSampler
from tfvae.priors import StandardNormal


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


def test_gaussian_is_the_maximum_likelihood_fit(rng):
    latents = rng.normal(size=(500, 2)) @ np.array([[1.0, 0.5], [0.0, 2.0]]) + 3
    gaussian = Gaussian()
    info = gaussian.fit(latents)
    np.testing.assert_allclose(gaussian.params["loc"].numpy(), latents.mean(0), rtol=1e-5)
    import scipy.stats

    expected = scipy.stats.multivariate_normal(latents.mean(0), np.cov(latents, rowvar=False, bias=True))
    np.testing.assert_allclose(info["train_log_likelihood"], expected.logpdf(latents).mean(), rtol=1e-4)


def test_the_reported_log_likelihood_covers_every_latent_in_bounded_chunks(rng):
    # More rows than one chunk of the report (density_estimator._LOG_PROB_ROWS), the last one an outlier: a
    # chunking that skipped rows would move the mean by hundredths of a nat, far beyond the tolerance.
    latents = np.concatenate([rng.normal(size=(20000, 2)), [[40.0, -40.0]]]).astype(np.float32)
    mixture = GaussianMixture(num_components=2)
    info = mixture.fit(latents, latents[-9000:])
    at_once = mixture.log_prob(latents).numpy()
    assert at_once[-1] < -500
    np.testing.assert_allclose(info["train_log_likelihood"], at_once.mean(), rtol=1e-6)
    np.testing.assert_allclose(info["validation_log_likelihood"], at_once[-9000:].mean(), rtol=1e-6)


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
    with pytest.raises(ValueError, match="must have the latents' shape"):
        Gaussian().fit(rng.normal(size=(20, 2)), posterior_log_variances=np.zeros((20, 3)))
    sampler = PriorSampler(StandardNormal(2))
    with pytest.raises(ValueError, match="not fitted to latents"):
        sampler.fit(rng.normal(size=(20, 2)))
    with pytest.raises(ValueError, match="not saved separately"):
        sampler.save(str(tmp_path))
    with pytest.raises(ValueError, match="is not registered as a density"):
        registry.name_of("density", StandardNormal)


def test_posterior_samples_or_means_are_fitted_as_asked(rng):
    means = rng.normal(size=(400, 2)) * 3
    log_variances = np.full_like(means, np.log(4.0))
    one_sample = means + 2.0 * np.random.default_rng(5).standard_normal(means.shape)
    for flag, fitted, description in ((False, means, "posterior means"),
                                      (True, one_sample, "one posterior sample per example")):
        gaussian = Gaussian()
        report = gaussian.fit(means, posterior_log_variances=log_variances, use_posterior_samples=flag, seed=5)
        assert report["latents"] == description
        np.testing.assert_allclose(gaussian.params["loc"].numpy(), fitted.mean(0), rtol=1e-5)
    # A deterministic encoder has no posterior variances: its codes are fitted whatever the flag.
    assert Gaussian().fit(means, use_posterior_samples=True)["latents"] == "posterior means"
