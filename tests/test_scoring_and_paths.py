"""tfvae.scoring and tfvae.latent_paths against closed forms and their row-by-row contract."""
import math

import numpy as np
import pytest
import tensorflow as tf

from tfvae import latent_paths, scoring


class _LinearGaussian:
    """x = z + e with z, e ~ N(0, I): p(x) = N(0, 2I) and the exact posterior is N(x / 2, I / 2), the proposal here,
    so every importance weight equals p(x)."""

    def importance_sampling_terms(self):
        def posterior(x):
            return x / 2.0, tf.fill(tf.shape(x), math.log(0.5))

        def log_likelihood(x, z):
            return -0.5 * tf.reduce_sum(tf.square(x - z) + math.log(2 * math.pi), axis=-1)

        def log_prior(z):
            return -0.5 * tf.reduce_sum(tf.square(z) + math.log(2 * math.pi), axis=-1)

        return posterior, log_likelihood, log_prior


def _seeds(rows, first=0):
    return tf.constant([[first, row] for row in range(rows)], tf.int32)


def test_importance_bounds_equal_the_exact_log_likelihood_for_the_exact_posterior():
    x = tf.constant(np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32))
    exact = -0.5 * np.sum(np.square(x.numpy()) / 2.0 + math.log(2 * math.pi * 2.0), axis=1)
    elbo, iwae = scoring.importance_bounds(_LinearGaussian(), x, _seeds(5), tf.constant([1, 2, 7, 30, 3]))
    np.testing.assert_allclose(elbo, exact, rtol=1e-5)
    np.testing.assert_allclose(iwae, exact, rtol=1e-5)


class _ShiftedPosterior(_LinearGaussian):
    """The same model with a proposal shifted by 1: the weights vary, so IWAE > ELBO and IWAE grows with K."""

    def importance_sampling_terms(self):
        posterior, log_likelihood, log_prior = super().importance_sampling_terms()
        return (lambda x: (posterior(x)[0] + 1.0, posterior(x)[1])), log_likelihood, log_prior


def test_iwae_bound_tightens_with_more_samples_and_rows_are_independent():
    model = _ShiftedPosterior()
    x = tf.constant(np.random.default_rng(1).normal(size=(4, 3)).astype(np.float32))
    exact = -0.5 * np.sum(np.square(x.numpy()) / 2.0 + math.log(2 * math.pi * 2.0), axis=1)
    elbo, iwae = scoring.importance_bounds(model, x, _seeds(4), tf.fill([4], 1))
    np.testing.assert_allclose(elbo, iwae, rtol=1e-6)  # K = 1: the two are one weight
    # Traced once: eagerly, tf.while_loop runs its 2000 steps op by op.
    bounds = tf.function(lambda *args: scoring.importance_bounds(model, *args))
    elbo, iwae = bounds(x, _seeds(4), tf.fill([4], 2000))
    # ELBO = log p(x) - KL(q || p(z | x)) = log p(x) - |shift|^2 / (2 * 1/2) in expectation: 3 dimensions -> 3 nats.
    np.testing.assert_allclose(elbo, exact - 3.0, atol=0.15)
    assert np.all(iwae > elbo) and np.all(np.abs(iwae - exact) < 0.5)
    # Row 2 alone, with its own seed, gets the value it gets in the batch.
    alone = bounds(x[2:3], _seeds(4)[2:3], tf.constant([2000]))
    np.testing.assert_allclose(alone[1], iwae[2:3], rtol=1e-5)


def test_reconstruction_error_is_the_sum_of_squares():
    class Halves:
        def reconstruct(self, x):
            return x / 2.0

    x = tf.constant(np.arange(8, dtype=np.float32).reshape(2, 2, 2, 1))
    np.testing.assert_allclose(scoring.reconstruction_error(Halves(), x), [np.sum((np.arange(4) / 2) ** 2),
                                                                             np.sum((np.arange(4, 8) / 2) ** 2)])


def test_paths_closed_forms():
    start, end = np.array([[2.0, 0.0]] * 3, np.float32), np.array([[0.0, 2.0]] * 3, np.float32)
    t = np.array([0.0, 0.5, 1.0], np.float32)
    line = latent_paths.interpolate(start, end, t, spherical=False).numpy()
    arc = latent_paths.interpolate(start, end, t, spherical=True).numpy()
    np.testing.assert_allclose(line, [[2, 0], [1, 1], [0, 2]], atol=1e-6)
    np.testing.assert_allclose(arc, [[2, 0], [math.sqrt(2), math.sqrt(2)], [0, 2]], atol=1e-5)  # norm 2 throughout
    same = latent_paths.interpolate(start, start, t, spherical=True).numpy()  # zero angle: no division by sin 0
    np.testing.assert_allclose(same, start, atol=1e-6)
    moved = latent_paths.traverse(np.zeros((2, 3)), [2, 0], [1.5, -1.0]).numpy()
    np.testing.assert_array_equal(moved, [[0, 0, 1.5], [-1, 0, 0]])



def test_slerp_stays_on_the_sphere_and_splits_the_angle_as_t():
    """On unit vectors a, b at angle w the slerp point at t is a unit vector at angle t w from a and (1 - t) w from
    b; for codes of other norms the midpoint is (a + b) / (2 cos(w / 2)) (the RAE authors' interpolation FID point)."""
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(2, 16))
    a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
    omega = np.arccos(a @ b)
    t = np.linspace(0.0, 1.0, 11)
    path = latent_paths.interpolate(np.tile(a, (11, 1)), np.tile(b, (11, 1)), t, spherical=True).numpy()
    np.testing.assert_allclose(path[0], a, atol=1e-6)
    np.testing.assert_allclose(path[-1], b, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(path, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.arccos(np.clip(path @ a, -1, 1)), t * omega, atol=1e-3)
    np.testing.assert_allclose(np.arccos(np.clip(path @ b, -1, 1)), (1 - t) * omega, atol=1e-3)
    u, v = 3.0 * a, 0.5 * b  # the angle comes from the directions; the weights act on the codes as they are
    middle = latent_paths.interpolate(u[None], v[None], [0.5], spherical=True).numpy()[0]
    np.testing.assert_allclose(middle, (u + v) / (2 * np.cos(omega / 2)), rtol=1e-5)

@pytest.mark.parametrize("spherical", [False, True])
def test_interpolate_codes_follows_the_model_family(spherical):
    from tests import goldens

    model, _ = goldens.build_golden("vae" if spherical else "rae")
    assert model.spherical_codes is spherical
    a = tf.constant([[1.0, 0.0, 0.0]])
    b = tf.constant([[0.0, 3.0, 0.0]])
    middle = model.interpolate_codes(a, b, tf.constant([0.5])).numpy()
    expected = latent_paths.interpolate(a, b, [0.5], spherical=spherical).numpy()
    np.testing.assert_allclose(middle, expected, atol=1e-6)
