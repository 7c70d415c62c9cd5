"""The standard normal prior N(0, I) against its closed forms: NLL, beta-TCVAE, the VAE family's KL and the score
endpoints all read these numbers."""
import math

import numpy as np
import pytest
import tensorflow as tf
from scipy import stats

from tfvae.priors.standard_normal import StandardNormal


def test_log_prob_is_the_closed_form(rng):
    z = (rng.normal(size=(7, 3)) * 2.0 + 0.5).astype(np.float32)
    expected = stats.multivariate_normal(np.zeros(3), np.eye(3)).logpdf(z)
    np.testing.assert_allclose(StandardNormal(3).log_prob(tf.constant(z)), expected, rtol=1e-6)
    # By hand at two points: log N(0 | 0, I_3) = -3/2 log 2 pi and one unit further away 1/2 less.
    values = StandardNormal(3).log_prob(tf.constant([[0.0, 0.0, 0.0], [0.0, -1.0, 0.0]])).numpy()
    np.testing.assert_allclose(values, [-1.5 * math.log(2 * math.pi), -1.5 * math.log(2 * math.pi) - 0.5],
                               rtol=1e-6)


def test_kl_divergence_is_the_closed_form(rng):
    """KL[N(m, diag s^2) || N(0, I)] = 1/2 (tr diag s^2 + ||m||^2 - L - log det diag s^2), row by row against
    scipy's entropy and cross-entropy of the two Gaussians."""
    means = rng.normal(size=(5, 3))
    log_vars = rng.normal(size=(5, 3))
    kl = StandardNormal(3).kl_divergence(tf.constant(means, tf.float32), tf.constant(log_vars, tf.float32)).numpy()
    for row in range(5):
        covariance = np.diag(np.exp(log_vars[row]))
        entropy = stats.multivariate_normal(means[row], covariance).entropy()
        cross_entropy = 0.5 * (np.trace(covariance) + means[row] @ means[row] + 3 * math.log(2 * math.pi))
        assert kl[row] == pytest.approx(cross_entropy - entropy, rel=1e-5)


def test_samples_have_the_moments_of_a_standard_normal():
    samples = StandardNormal(2).sample(20000, tf.constant([3, 4])).numpy().astype(np.float64)
    standard_error = 1.0 / math.sqrt(len(samples))
    np.testing.assert_allclose(samples.mean(axis=0), 0.0, atol=4 * standard_error)
    # The sample covariance's entries have standard errors sqrt(2 / n) (variances) and sqrt(1 / n) (covariance).
    np.testing.assert_allclose(np.cov(samples.T), np.eye(2), atol=4 * math.sqrt(2) * standard_error)
    for column in samples.T:  # the shape too: no uniform or heavy-tailed draws with the right moments
        assert stats.kstest(column, "norm").pvalue > 1e-3
