"""Regularizers of the model zoo against closed forms, invariants and finite differences."""
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfvae import losses, models
from tfvae.models.beta_vae_b import batch_capacity_penalty, capacity
from tfvae.models.factor_vae import permute_dims


def _correlated_posteriors(rng, correlation, batch, posterior_variance=0.5):
    """Posteriors N(mu_n, s^2 I) whose aggregate is N(0, R): mu_n ~ N(0, R - s^2 I)."""
    dim = correlation.shape[0]
    means = rng.multivariate_normal(np.zeros(dim), correlation - posterior_variance * np.eye(dim), size=batch)
    log_vars = np.full_like(means, np.log(posterior_variance))
    z = means + np.sqrt(posterior_variance) * rng.normal(size=means.shape)
    return [tf.constant(a, tf.float32) for a in (z, means, log_vars)]


@pytest.mark.parametrize("rho", [0.0, 0.4])
def test_total_correlation_estimators_on_correlated_gaussians(rng, rho):
    correlation = np.array([[1.0, rho, 0.0], [rho, 1.0, 0.0], [0.0, 0.0, 1.0]])
    truth = -0.5 * np.log(np.linalg.det(correlation))  # TC of N(0, R): -1/2 log det R.
    estimates, errors = {}, {}
    for estimator in ("mss", "mws"):
        values = []
        for _ in range(5):
            z, means, log_vars = _correlated_posteriors(rng, correlation, batch=1000)
            log_qz, log_prod = losses.log_aggregate_posteriors(z, means, log_vars, dataset_size=50000,
                                                               estimator=estimator)
            values.append(float(tf.reduce_mean(log_qz - log_prod)))
        estimates[estimator] = np.mean(values)
        errors[estimator] = np.std(values, ddof=1) / np.sqrt(len(values))
    # MWS's documented bias (tfvae.losses.total_correlation): its weights 1/(N B) sum to 1/N per row, so log q(z)
    # is low by log N and each of the L marginals too, leaving (L - 1) log N = 21.64 nats in the difference.
    # Measured here (batch 1000, N = 50000, posterior variance 0.5, mean of 5 batches, L = 3), minus the truth:
    #   rho = 0.0: MSS -0.002, MWS 21.643;  rho = 0.4: MSS -0.01, MWS 21.640
    # Both are pinned within 4 standard errors over the 5 batches plus 0.02 nats for estimating q(z) from a batch.
    mws_bias = (3 - 1) * math.log(50000)
    assert abs(estimates["mss"] - truth) < 4 * errors["mss"] + 0.02, (estimates, errors)
    assert abs(estimates["mws"] - (truth + mws_bias)) < 4 * errors["mws"] + 0.02, (estimates, errors)


def test_stratified_weights_rows_sum_to_one_and_own_weight_on_diagonal():
    weights = np.exp(losses.stratified_log_weights(6, 1000).numpy())
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(np.diag(weights), 1 / 1000, rtol=1e-6)
    assert not np.allclose(weights[:, 0], 1 / 1000)  # The widely copied bug puts them in column 0.


def test_mmd_is_unbiased_for_equal_distributions(rng):
    values = [float(losses.mmd(tf.constant(rng.normal(size=(64, 3)), tf.float32),
                               tf.constant(rng.normal(size=(64, 3)), tf.float32), kernel))
              for kernel in ("rbf", "imq") for _ in range(200)]
    rbf, imq = np.array(values[:200]), np.array(values[200:])
    for v in (rbf, imq):
        assert abs(v.mean()) < 4 * v.std() / np.sqrt(len(v))
    assert (rbf < 0).any()  # The unbiased estimator can be negative; a biased one never is.


def test_mmd_against_standard_normal_closed_form(rng):
    # For k(x, y) = exp(-||x - y||^2 / (2 h^2)) and y ~ N(0, I_L):
    #   E_y k(x, y) = (h^2 / (h^2 + 1))^(L/2) exp(-||x||^2 / (2 (h^2 + 1))),  E_{y,y'} k = (h^2 / (h^2 + 2))^(L/2).
    dim, h = 2, 1.5
    x = rng.normal(size=(300, dim)) * 0.6 + 0.8
    h2 = h * h
    kxx = np.exp(-((x[:, None] - x[None]) ** 2).sum(-1) / (2 * h2))
    within = (kxx.sum() - np.trace(kxx)) / (300 * 299)
    cross = np.mean((h2 / (h2 + 1)) ** (dim / 2) * np.exp(-(x ** 2).sum(1) / (2 * (h2 + 1))))
    closed_form = within - 2 * cross + (h2 / (h2 + 2)) ** (dim / 2)
    estimates = []
    for seed in range(300):
        y = tf.random.stateless_normal([300, dim], seed=[seed, 0])
        estimates.append(float(losses.mmd(tf.constant(x, tf.float32), y, "rbf", bandwidth=h)))
    assert abs(np.mean(estimates) - closed_form) < 4 * np.std(estimates) / np.sqrt(len(estimates))
    assert closed_form > 0.05  # The shifted sample is really different from N(0, I).


def test_decoder_gradient_penalty_matches_finite_differences(rng):
    decoder = keras.Sequential([keras.Input((3,)), keras.layers.Dense(5, activation="tanh"), keras.layers.Dense(4)])
    decoder = tf.function(decoder)
    z = rng.normal(size=(2, 3))
    penalty = losses.decoder_gradient_penalty(lambda c: decoder(c), tf.constant(z, tf.float32)).numpy()
    eps = 1e-3
    for i in range(2):
        grad = []
        for j in range(3):
            up, down = z[i].copy(), z[i].copy()
            up[j] += eps
            down[j] -= eps
            f = lambda v: float(tf.reduce_sum(tf.square(decoder(tf.constant(v[None], tf.float32)))))  # noqa: E731
            grad.append((f(up) - f(down)) / (2 * eps))
        np.testing.assert_allclose(penalty[i], np.sum(np.square(grad)), rtol=2e-2)


def test_spectral_normalized_decoder_has_unit_largest_singular_value(digits):
    from tfvae import data

    keras.utils.set_random_seed(0)  # power iteration lags the moving kernel by an amount that depends on the init
    model = models.build("rae_sn", (8, 8, 1), latent_dim=4, network_kwargs={"hidden_units": (32,)})
    model.compile(optimizer="adam")
    model.fit(data.make_dataset(digits, "train", 100), epochs=3, verbose=0)
    wrapped = [layer for layer in model.decoder.layers if isinstance(layer, keras.layers.SpectralNormalization)]
    assert len(wrapped) == 2
    for layer in wrapped:
        # The effective kernel is kernel / sigma_estimate (the layer normalizes in place when training).
        kernel = layer.layer.kernel.numpy()
        largest = np.linalg.svd(kernel.reshape(-1, kernel.shape[-1]), compute_uv=False)[0]
        assert abs(largest - 1.0) < 0.05, largest


def test_capacity_schedule():
    np.testing.assert_allclose([float(capacity(s, 25.0, 100)) for s in (0, 50, 100, 1000)], [0, 12.5, 25, 25])


@pytest.mark.parametrize("target", [0.5, 2.0, 3.0])  # C below and above the batch's mean KL (2.2)
def test_capacity_penalty_is_the_batch_means_with_its_gradient(target):
    """beta-VAE-B's penalty is gamma |mean KL - C| over the batch (Burgess et al., the dpVAE authors' code): the
    per-example terms average to it and carry its gradient, also when examples' KL lie on both sides of C."""
    weights = tf.Variable([0.5, 1.0, 2.0, 4.0, 8.0])
    with tf.GradientTape(persistent=True) as tape:
        kl = weights * tf.constant([0.2, 0.5, 1.0, 1.5, 0.3])  # KL_b from 0.1 to 6: straddles every target
        terms = batch_capacity_penalty(kl, tf.constant(target), gamma=3.0)
        batch_form = 3.0 * tf.abs(tf.reduce_mean(kl) - target)
        mean_of_terms = tf.reduce_mean(terms)
    assert float(mean_of_terms) == pytest.approx(float(batch_form), rel=1e-6)
    np.testing.assert_allclose(tape.gradient(mean_of_terms, weights), tape.gradient(batch_form, weights), rtol=1e-6)
    # The per-example form it replaces is larger when the examples straddle C.
    assert float(tf.reduce_mean(3.0 * tf.abs(kl - target))) > float(batch_form)


def test_permute_dims_permutes_each_column_independently():
    z = tf.reshape(tf.range(40, dtype=tf.float32), (10, 4))
    permuted = permute_dims(z, tf.constant([1, 2], tf.int64)).numpy()
    for column in range(4):
        assert sorted(permuted[:, column]) == sorted(z.numpy()[:, column])
    assert not all(np.array_equal(permuted[:, 0] - permuted[:, 0].min(), permuted[:, c] - permuted[:, c].min())
                   for c in range(1, 4))


@pytest.mark.parametrize("prior", ["standard", "decoupled"])
def test_beta_vae_b_takes_the_capacity_penalty_of_the_batch(prior):
    from tests import goldens

    model, shape = goldens.build_golden("beta_vae_b" if prior == "standard" else "beta_vae_b_decoupled")
    x = tf.constant(np.random.default_rng(0).uniform(size=(16, *shape)), tf.float32)
    model.compile(optimizer="adam")
    model.optimizer.iterations.assign(model.capacity_steps)  # the ramp is over: C = max_capacity
    # C between the examples' KL values, where the batch's and the per-example penalties differ.
    model.max_capacity = float(np.median(model.per_example_losses(x, training=False)["kl"]))
    terms = model.per_example_losses(x, training=False)
    kl, capacity_now = terms["kl"].numpy(), float(terms["capacity"][0])
    assert capacity_now == pytest.approx(model.max_capacity) and kl.min() < capacity_now < kl.max()
    expected = model.gamma * abs(kl.mean() - capacity_now)
    penalty = float(tf.reduce_mean(terms["loss"] - terms["reconstruction"]))
    assert penalty == pytest.approx(expected, rel=1e-4)
    assert model.gamma * np.abs(kl - capacity_now).mean() > expected * 1.01  # what the per-example form gives
