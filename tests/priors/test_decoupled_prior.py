"""The RealNVP chain (decoupled prior, posterior flow, flow density) and the decoupled prior's KL of dpVAE eq. 5."""
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tfvae import models
from tfvae.priors import CouplingNetwork, DecoupledPrior
from tfvae.priors.real_nvp import real_nvp_chain

tfd = tfp.distributions


def _randomize(weights, seed):
    # Move every coupling away from the identity it starts as (x0.1: larger random weights send z0 to 1e5, where
    # float32 round-off, not the flow, decides the test).
    rng = np.random.default_rng(seed)
    for weight in weights:
        weight.assign(rng.normal(size=weight.shape).astype(np.float32) * 0.1)


@pytest.fixture(scope="module")
def prior():
    prior = DecoupledPrior(4)
    prior.build()
    _randomize(prior.trainable_weights, 0)
    return prior


@pytest.fixture(scope="module")
def odd_networks():
    """Three couplings over 5 dimensions: each keeps 2 and transforms 3."""
    networks = [CouplingNetwork(3, hidden_units=8, name=f"odd_{k}") for k in range(3)]
    for network in networks:
        network.build((None, 2))
        _randomize(network.trainable_weights, 1)
    return networks


@pytest.fixture(scope="module", params=["decoupled_prior", "odd_width_chain"])
def chain(request, prior, odd_networks):
    """(a builder of the bijector from the live weights, latent_dim)."""
    if request.param == "decoupled_prior":
        return prior.bijector, 4
    return (lambda: real_nvp_chain(odd_networks, 5)), 5


def _reference_forward(networks, z0):
    """The chain written out in numpy: coupling k keeps the first L // 2 dimensions and maps the others to
    x * exp(log_scale) + shift (computed from the kept ones), then the dimensions are reversed."""
    x = np.asarray(z0, np.float64)
    kept = x.shape[1] // 2
    for network in networks:
        shift, log_scale = (t.numpy().astype(np.float64) for t in network(tf.constant(x[:, :kept], tf.float32)))
        x = np.concatenate([x[:, :kept], x[:, kept:] * np.exp(log_scale) + shift], axis=1)[:, ::-1]
    return x


def test_fixture_is_far_from_the_identity(chain):
    bijector, dim = chain
    z = tf.random.stateless_normal([64, dim], seed=[1, 2])
    assert float(tf.reduce_max(tf.abs(bijector().inverse(z) - z))) > 0.5


def test_inverse_of_forward_is_identity(chain):
    bijector, dim = chain
    z = tf.random.stateless_normal([64, dim], seed=[1, 2]) * 2.0
    np.testing.assert_allclose(bijector().forward(bijector().inverse(z)), z, atol=1e-4)
    z0 = tf.random.stateless_normal([64, dim], seed=[3, 4])
    np.testing.assert_allclose(bijector().inverse(bijector().forward(z0)), z0, atol=1e-4)


def test_log_determinant_matches_autodiff_jacobian(chain):
    bijector, dim = chain
    z = tf.random.stateless_normal([8, dim], seed=[5, 6])
    with tf.GradientTape(persistent=True) as tape:  # persistent: a loop over rows, 5x faster here than pfor
        tape.watch(z)
        z0 = bijector().inverse(z)
    jacobian = tape.batch_jacobian(z0, z, experimental_use_pfor=False)
    _, expected = np.linalg.slogdet(jacobian.numpy().astype(np.float64))
    np.testing.assert_allclose(bijector().inverse_log_det_jacobian(z, event_ndims=1), expected, atol=1e-4)


def test_every_flow_of_the_library_is_the_same_chain(prior, odd_networks):
    """Masking and permutation order are pinned: checkpoints of the posterior flow, the decoupled prior and the flow
    density keep their meaning."""
    z0 = tf.random.stateless_normal([16, 5], seed=[7, 7])
    np.testing.assert_allclose(real_nvp_chain(odd_networks, 5).forward(z0), _reference_forward(odd_networks, z0),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(prior.from_generation(z0[:, :4]), _reference_forward(prior.networks, z0[:, :4]),
                               rtol=1e-5, atol=1e-5)
    vae = models.build("vae", (4, 4, 1), latent_dim=3, network_kwargs={"hidden_units": (8,)},
                       posterior_flow_couplings=2)
    _randomize([w for network in vae.posterior_flow for w in network.trainable_weights], 2)
    np.testing.assert_allclose(vae._flow().forward(z0[:, :3]), _reference_forward(vae.posterior_flow, z0[:, :3]),
                               rtol=1e-5, atol=1e-5)


def test_builder_refuses_networks_of_the_wrong_width(odd_networks):
    with pytest.raises(ValueError, match="must output 2 shifts and log-scales"):
        real_nvp_chain(odd_networks, 4)
    with pytest.raises(ValueError, match="latent_dim >= 2"):
        real_nvp_chain([], 1)


def test_density_is_the_change_of_variables_of_eq2(prior):
    z = tf.random.stateless_normal([8, 4], seed=[5, 6])
    z0 = prior.to_generation(z)
    log_det = prior.bijector().inverse_log_det_jacobian(z, event_ndims=1)
    base = tfd.MultivariateNormalDiag(tf.zeros(4)).log_prob(z0)
    np.testing.assert_allclose(prior.log_prob(z), base + log_det, atol=1e-4)


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


def test_starts_as_standard_normal():
    prior = DecoupledPrior(3)
    prior.build()
    z = tf.random.stateless_normal([10, 3], seed=[0, 1])
    np.testing.assert_allclose(prior.log_prob(z), tfd.MultivariateNormalDiag(tf.zeros(3)).log_prob(z), atol=1e-5)


def test_rejects_one_latent_dimension():
    with pytest.raises(ValueError, match="latent_dim >= 2"):
        DecoupledPrior(1)


def test_build_after_a_call_keeps_the_weights_the_call_made():
    """A call builds the coupling networks lazily; a later build (what `VAE.build_for` does) must keep them."""
    prior = DecoupledPrior(4, num_couplings=2)
    log_p = prior.log_prob(tf.zeros((2, 4)))
    weights = [id(w) for w in prior.trainable_weights]
    prior.build()
    assert prior.built and [id(w) for w in prior.trainable_weights] == weights and len(weights) == 2 * 6
    np.testing.assert_allclose(prior.log_prob(tf.zeros((2, 4))), log_p)


def test_vae_build_for_leaves_the_prior_built_with_every_weight():
    model = models.build("vae", (2,), latent_dim=2, prior="decoupled", network_kwargs={"hidden_units": (4,)})
    model.build_for()
    assert model.prior.built and len(model.prior.trainable_weights) == 6 * 6
