"""Loss functions and likelihood layers against TensorFlow Probability and closed forms."""
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfvae import likelihoods, losses

tfd = tfp.distributions


def test_kl_matches_tfp(rng):
    z_mean = rng.normal(size=(5, 4)).astype(np.float32)
    z_log_var = rng.normal(size=(5, 4)).astype(np.float32)
    expected = tfd.kl_divergence(tfd.MultivariateNormalDiag(z_mean, np.exp(0.5 * z_log_var)),
                                 tfd.MultivariateNormalDiag(np.zeros(4, np.float32), np.ones(4, np.float32)))
    np.testing.assert_allclose(losses.kl_diagonal_normal_standard(z_mean, z_log_var), expected, rtol=1e-5)


def test_learned_gamma_gaussian_log_likelihood_matches_tfp(rng):
    x = rng.random((3, 4, 4, 1)).astype(np.float32)
    raw = rng.normal(size=(3, 4, 4, 1)).astype(np.float32)
    layer = likelihoods.LearnedGaussianLikelihood()
    layer.log_gamma.assign(-1.7)
    mean = tf.sigmoid(raw)
    expected = tf.reduce_sum(tfd.Normal(mean, np.float32(np.sqrt(np.exp(-1.7)))).log_prob(x), axis=[1, 2, 3])
    np.testing.assert_allclose(layer.log_prob(x, raw), expected, rtol=1e-5)
    # The variance is a trained weight and the gradient reaches it.
    with tf.GradientTape() as tape:
        value = tf.reduce_sum(layer.log_prob(x, raw))
    assert tape.gradient(value, layer.log_gamma) is not None
    assert layer.log_gamma in layer.trainable_weights


def test_fixed_gaussian_unbounded_for_points(rng):
    x = rng.normal(size=(6, 2)).astype(np.float32)
    outputs = rng.normal(size=(6, 2)).astype(np.float32) * 3
    layer = likelihoods.GaussianLikelihood(variance=2.0, bounded=False)
    expected = tf.reduce_sum(tfd.Normal(outputs, np.float32(np.sqrt(2.0))).log_prob(x), axis=1)
    np.testing.assert_allclose(layer.log_prob(x, outputs), expected, rtol=1e-5)


def test_bernoulli_matches_tfp(rng):
    x = (rng.random((4, 3, 3, 1)) > 0.5).astype(np.float32)
    logits = rng.normal(size=x.shape).astype(np.float32)
    expected = tf.reduce_sum(tfd.Bernoulli(logits=logits, dtype=tf.float32).log_prob(x), axis=[1, 2, 3])
    np.testing.assert_allclose(likelihoods.BernoulliLikelihood().log_prob(x, logits), expected, rtol=1e-5)


def test_regularizers():
    z = tf.constant([[3.0, 4.0], [0.0, 1.0]])
    np.testing.assert_allclose(losses.latent_l2(z), [12.5, 0.5])
    np.testing.assert_allclose(losses.squared_weight_norm([tf.ones((2, 3)), tf.fill((2,), 2.0)]), 14.0)
