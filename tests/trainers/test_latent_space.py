"""Every consumer of latents sees the space the decoder reads, also with a RealNVP posterior ("VAE + Flow").

Before this was fixed, ex-post densities and latent metrics of a VAE + Flow were fitted on the Gaussian parameters
before the flow, while the decoder reads f(z): the GMM then sampled codes the decoder never saw."""
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


def test_importance_sampling_terms_of_an_identity_flow_equal_the_plain_vae(digits):
    """With zero-initialized couplings f is the identity (log-det 0): the flow VAE's NLL terms must equal those of
    the same VAE without a flow; with a non-identity flow the change of variables adds the log-determinant."""
    with_flow, _ = goldens.build_golden("vae_flow_posterior")
    x = tf.constant(digits.as_float("test")[:8])
    posterior, log_likelihood, log_prior = with_flow.importance_sampling_terms()
    mean, log_var = posterior(x)
    u = mean + tf.exp(0.5 * log_var)
    np.testing.assert_allclose(log_prior(u), with_flow.prior.log_prob(u), atol=1e-5)
    np.testing.assert_allclose(log_likelihood(x, u),
                               with_flow.likelihood.log_prob(x, with_flow.decoder(u, training=False)), atol=1e-4)
