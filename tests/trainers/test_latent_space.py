"""Every consumer of latents sees the space the decoder reads, also with a RealNVP posterior ("VAE + Flow").

Before this was fixed, ex-post densities and latent metrics of a VAE + Flow were fitted on the Gaussian parameters
before the flow, while the decoder reads f(z): the GMM then sampled codes the decoder never saw."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from tests import goldens
from trainers import jobs


@pytest.fixture(scope="module")
def flow_vae():
    """The VAE + Flow golden with its (zero-initialized, i.e. identity) couplings moved to random weights."""
    model, _ = goldens.build_golden("vae_flow_posterior")
    rng = np.random.default_rng(0)
    for network in model.posterior_flow:
        for weight in network.weights:
            weight.assign(rng.normal(scale=0.5, size=weight.shape).astype(np.float32))
    return model


def test_densities_are_fitted_on_the_codes_the_decoder_reads(flow_vae, digits, tmp_path):
    x = tf.constant(digits.as_float("train")[:64])
    z_mean, _ = flow_vae.posterior_parameters(x)
    codes = flow_vae.encode(x).numpy()
    assert np.abs(codes - z_mean.numpy()).max() > 0.1  # the flow is not the identity

    means, log_variances = jobs.encode_split(flow_vae, digits, "train")
    np.testing.assert_allclose(means[:64], codes, atol=1e-5)
    assert log_variances is None  # not Gaussian in the decoder's space: consumers treat the means as codes

    reports = jobs.fit_densities(str(tmp_path), ["gaussian"], model=flow_vae, splits=digits)
    from tfvae.density import DensityEstimator

    gaussian = DensityEstimator.load(str(tmp_path / "density" / "gaussian"))
    np.testing.assert_allclose(gaussian.params["loc"].numpy(), means.mean(axis=0), atol=1e-4)
    assert np.isfinite(reports["gaussian"]["validation_log_likelihood"])


def _log_standard_normal(z):
    """log N(z; 0, I) per row, written out here rather than read from the model's prior."""
    z = np.asarray(z, np.float64)
    return -0.5 * np.sum(z ** 2 + np.log(2.0 * np.pi), axis=-1)


def _real_nvp(networks, u):
    """f(u) written from the RealNVP equations, independently of TFP's bijectors: each coupling keeps the first
    L // 2 dimensions and maps the rest to rest * exp(log_scale) + shift (both computed by its network from the
    kept ones), then the dimensions are reversed (`tfvae.priors.real_nvp.real_nvp_chain`'s documented order)."""
    kept_size = u.shape[-1] // 2
    for network in networks:
        kept, rest = u[:, :kept_size], u[:, kept_size:]
        shift, log_scale = network(kept)
        u = tf.reverse(tf.concat([kept, rest * tf.exp(log_scale) + shift], axis=-1), axis=[-1])
    return u


def test_importance_sampling_terms_of_an_identity_flow_equal_the_plain_vae(digits):
    """With zero-initialized couplings f is the identity (log-det 0): the flow VAE's importance-sampling terms, and
    the NLL estimated from them, equal those of the same VAE without a flow (same encoder and decoder weights). With
    random couplings the terms follow the change of variables, checked against f written out here and its autodiff
    Jacobian: log_prior(u) = log N(f(u); 0, I) + log|det df/du| and log_likelihood(x, u) = log p(x | f(u))."""
    from tests.conftest import assert_same_values
    from tfvae.metrics import likelihood

    keras.utils.set_random_seed(0)  # the goldens' encoders and decoders start at random: one reproducible draw
    with_flow, _ = goldens.build_golden("vae_flow_posterior")
    plain, _ = goldens.build_golden("vae")
    assert with_flow.posterior_flow and not plain.posterior_flow
    for network in ("encoder", "decoder"):
        getattr(with_flow, network).set_weights(getattr(plain, network).get_weights())
        assert_same_values(getattr(with_flow, network).weights, getattr(plain, network).weights, what=network)
    x = tf.constant(digits.as_float("test")[:8])
    (flow_posterior, flow_likelihood, flow_prior), (posterior, log_likelihood, log_prior) = (
        with_flow.importance_sampling_terms(), plain.importance_sampling_terms())
    mean, log_var = posterior(x)
    assert_same_values(flow_posterior(x), (mean, log_var), what="proposal")
    u = mean + tf.exp(0.5 * log_var) * tf.random.stateless_normal(mean.shape, seed=[3, 8])
    np.testing.assert_allclose(flow_prior(u), log_prior(u), rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(flow_likelihood(x, u), log_likelihood(x, u), rtol=1e-6, atol=1e-4)
    nll = [likelihood.importance_sampled_nll(x.numpy(), *terms, num_samples=16, chunk_size=16, seed=5)
           for terms in (with_flow.importance_sampling_terms(), plain.importance_sampling_terms())]
    np.testing.assert_allclose(nll[0], nll[1], rtol=1e-6, atol=1e-4)

    rng = np.random.default_rng(0)
    for network in with_flow.posterior_flow:
        for weight in network.weights:
            weight.assign(rng.normal(scale=0.5, size=weight.shape).astype(np.float32))
    flow_posterior, flow_likelihood, flow_prior = with_flow.importance_sampling_terms()
    with tf.GradientTape() as tape:
        tape.watch(u)
        f_u = _real_nvp(with_flow.posterior_flow, u)
    log_det = np.linalg.slogdet(tape.batch_jacobian(f_u, u).numpy().astype(np.float64))[1]
    # Guards that the comparison below can see a missing or misapplied flow or log-determinant.
    assert np.abs(f_u - u).max() > 0.1 and np.abs(log_det).max() > 0.5, (f_u - u, log_det)
    assert_same_values(flow_posterior(x), (mean, log_var), what="proposal")  # the proposal is over u, before f
    np.testing.assert_allclose(flow_prior(u), _log_standard_normal(f_u) + log_det, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(flow_likelihood(x, u), log_likelihood(x, f_u), rtol=1e-6, atol=1e-4)


def test_the_latent_metrics_see_the_flow_posteriors_mixture_with_its_jacobian(flow_vae, digits):
    """The evaluation's latents of a VAE + Flow: the Gaussian parameters before the flow, the flow itself, and
    log q(z) = log 1/N sum_n N(f^-1(z); mu_n, sigma_n^2) - log|det df/du|, checked at z = f(u) against f written out
    here (`_real_nvp`) and the log-determinant of its autodiff Jacobian. Before, a flow posterior's latents were its
    codes f(mu) and its aggregate posterior a kernel density of them (algorithm 2 did not apply)."""
    from scipy.special import logsumexp

    from trainers import evaluation

    flow = evaluation._posterior_flow(flow_vae)
    assert flow is not None and evaluation._posterior_flow(goldens.build_golden("vae")[0]) is None
    means, log_variances = jobs.encode_split(flow_vae, digits, "train", encode=flow_vae.posterior_parameters)
    assert log_variances is not None
    means, log_variances = means[:40], log_variances[:40]
    log_q = evaluation._aggregate_posterior((means, log_variances), flow)
    latents = evaluation._latents(flow_vae, digits, (means, log_variances), {}, flow, log_q)
    assert latents.variational and latents.posterior_flow is flow
    assert "posterior flow" in latents.aggregate_posterior_description()

    # Points near the posteriors (where q is not negligible) and away from them.
    rng = np.random.default_rng(1)
    u = np.concatenate([means[:6] + np.exp(0.5 * log_variances[:6]) * rng.normal(size=means[:6].shape),
                        rng.normal(size=(4, means.shape[1]))]).astype(np.float32)
    u_tensor = tf.constant(u)
    with tf.GradientTape() as tape:
        tape.watch(u_tensor)
        f_u = _real_nvp(flow_vae.posterior_flow, u_tensor)
    log_det = np.linalg.slogdet(tape.batch_jacobian(f_u, u_tensor).numpy().astype(np.float64))[1]
    assert np.abs(log_det).max() > 0.5, log_det  # the term a missing Jacobian would drop is visible
    z, forward_log_det = flow.forward(u)
    np.testing.assert_allclose(z, f_u.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(forward_log_det, log_det, rtol=1e-4, atol=1e-4)
    back, inverse_log_det = flow.inverse(z)
    np.testing.assert_allclose(back, u, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(inverse_log_det, log_det, rtol=1e-4, atol=1e-4)

    u64, means64, variances = u.astype(np.float64), means.astype(np.float64), np.exp(log_variances.astype(np.float64))
    components = -0.5 * np.sum((u64[:, None] - means64[None]) ** 2 / variances[None] + np.log(2 * np.pi * variances)[
        None], axis=-1)
    exact = logsumexp(components, axis=1) - np.log(len(means)) - log_det
    np.testing.assert_allclose(latents.log_aggregate_posterior(z), exact, rtol=1e-4, atol=2e-3)

    # Draws of q(z | x) are f(mu + sigma * eps); codes are f(mu), the model's encodings.
    noise = np.random.default_rng([0, 15]).standard_normal(means.shape)
    np.testing.assert_allclose(latents.posterior_samples("train", 40, [0, 15]),
                               _real_nvp(flow_vae.posterior_flow, tf.constant(
                                   (means + np.exp(0.5 * log_variances) * noise).astype(np.float32))).numpy(),
                               rtol=1e-5, atol=1e-5)
    test_codes = flow_vae.encode(tf.constant(digits.as_float("test"))).numpy()
    np.testing.assert_allclose(latents.codes("test"), test_codes, rtol=1e-5, atol=1e-5)
