"""The decoupled prior (dpVAE): flow invariants and the KL of eq. 5 against a Monte Carlo oracle."""
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tfvae.priors import DecoupledPrior

tfd = tfp.distributions


@pytest.fixture(scope="module")
def prior():
    prior = DecoupledPrior(4)
    prior.build()
    rng = np.random.default_rng(0)
    # Move every coupling away from the identity it starts as (x0.1: larger random weights send z0 to 1e5, where
    # float32 round-off, not the flow, decides the test).
    for weight in prior.trainable_weights:
        weight.assign(rng.normal(size=weight.shape).astype(np.float32) * 0.1)
    return prior


def test_fixture_is_far_from_the_identity(prior):
    z = tf.random.stateless_normal([64, 4], seed=[1, 2])
    assert float(tf.reduce_max(tf.abs(prior.to_generation(z) - z))) > 0.5


def test_inverse_of_forward_is_identity(prior):
    z = tf.random.stateless_normal([64, 4], seed=[1, 2]) * 2.0
    np.testing.assert_allclose(prior.from_generation(prior.to_generation(z)), z, atol=1e-4)
    z0 = tf.random.stateless_normal([64, 4], seed=[3, 4])
    np.testing.assert_allclose(prior.to_generation(prior.from_generation(z0)), z0, atol=1e-4)


def test_log_determinant_matches_autodiff_jacobian(prior):
    z = tf.random.stateless_normal([8, 4], seed=[5, 6])
    with tf.GradientTape() as tape:
        tape.watch(z)
        z0 = prior.to_generation(z)
    jacobian = tape.batch_jacobian(z0, z)
    _, expected = np.linalg.slogdet(jacobian.numpy().astype(np.float64))
    log_det = prior.bijector().inverse_log_det_jacobian(z, event_ndims=1)
    np.testing.assert_allclose(log_det, expected, atol=1e-4)
    # And the density is the change of variables of eq. 2.
    base = tfd.MultivariateNormalDiag(tf.zeros(4)).log_prob(z0)
    np.testing.assert_allclose(prior.log_prob(z), base + expected, atol=1e-4)


def test_kl_of_eq5_equals_monte_carlo_kl(prior):
    z_mean = tf.constant([[0.3, -0.5, 1.0, 0.2]])
    z_log_var = tf.constant([[-1.0, -0.5, -2.0, 0.1]])
    posterior = tfd.MultivariateNormalDiag(z_mean[0], tf.exp(0.5 * z_log_var[0]))
    samples = posterior.sample(40000, seed=[7, 8])
    # Oracle: E_q[log q(z|x) - log p(z)] with p the TFP TransformedDistribution of the prior.
    oracle = tf.reduce_mean(posterior.log_prob(samples) - prior.distribution().log_prob(samples))
    ours = prior.kl_divergence(tf.repeat(z_mean, 40000, 0), tf.repeat(z_log_var, 40000, 0), samples)
    standard_error = float(tf.math.reduce_std(ours)) / np.sqrt(40000)
    assert abs(float(tf.reduce_mean(ours)) - float(oracle)) < 4 * standard_error + 1e-3


def test_starts_as_standard_normal_and_samples_are_seeded():
    prior = DecoupledPrior(3)
    prior.build()
    z = tf.random.stateless_normal([10, 3], seed=[0, 1])
    np.testing.assert_allclose(prior.log_prob(z), tfd.MultivariateNormalDiag(tf.zeros(3)).log_prob(z), atol=1e-5)
    np.testing.assert_array_equal(prior.sample(5, tf.constant([1, 2])), prior.sample(5, tf.constant([1, 2])))
    seeds = tf.constant([[1, 2], [3, 4]])
    np.testing.assert_array_equal(prior.sample_from_seeds(seeds)[1], prior.sample_from_seeds(seeds[1:])[0])


def test_rejects_one_latent_dimension():
    with pytest.raises(ValueError, match="latent_dim >= 2"):
        DecoupledPrior(1)
