"""The contract every registered prior keeps, checked on its golden (tests/goldens.py)."""
import numpy as np
import pytest
import tensorflow as tf

from tests import goldens
from tfvae import registry


def test_every_registered_prior_has_a_golden():
    registered = set(registry.names("prior"))
    assert registered - set(goldens.PRIOR_GOLDENS) == set(), "add a golden to tests/goldens.py PRIOR_GOLDENS"
    assert set(goldens.PRIOR_GOLDENS) - registered == set(), "a golden names no registered prior"


@pytest.mark.parametrize("name", sorted(goldens.PRIOR_GOLDENS))
def test_prior_contract(name):
    prior = goldens.build_prior_golden(name)
    dim = goldens.PRIOR_GOLDENS[name]["latent_dim"]
    assert prior.latent_dim == dim
    # The config rebuilds the same prior (models save their prior through it).
    assert type(prior).from_config(prior.get_config()).get_config() == prior.get_config()

    samples = prior.sample(6, tf.constant([1, 2])).numpy()
    assert samples.shape == (6, dim) and np.isfinite(samples).all()
    np.testing.assert_array_equal(prior.sample(6, tf.constant([1, 2])), samples)
    assert not np.allclose(prior.sample(6, tf.constant([1, 3])), samples)

    log_prob = prior.log_prob(tf.constant(samples)).numpy()
    assert log_prob.shape == (6,) and np.isfinite(log_prob).all()
    np.testing.assert_allclose(prior(tf.constant(samples)), log_prob, rtol=1e-6)  # calling the layer is log_prob

    z_mean, z_log_var = tf.constant(samples), tf.fill([6, dim], -1.0)
    kl = prior.kl_divergence(z_mean, z_log_var, tf.constant(samples)).numpy()
    assert kl.shape == (6,) and np.isfinite(kl).all()

    # Row b of sample_from_seeds depends on seeds[b] only (requests batched together get their own samples).
    together = prior.sample_from_seeds(tf.constant([[1, 2], [3, 4], [5, 6], [1, 2]], tf.int32)).numpy()
    alone = prior.sample_from_seeds(tf.constant([[3, 4]], tf.int32)).numpy()
    assert together.shape == (4, dim)
    np.testing.assert_allclose(together[1], alone[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(together[0], together[3], rtol=1e-5, atol=1e-6)
    assert not np.allclose(together[0], together[1])
