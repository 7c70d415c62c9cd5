"""Symmetric KL between the prior and the aggregate posterior (dpVAE, section 5.1)."""
from tfvae import registry
from tfvae.metrics.latent import symmetric_kl
from tfvae.metrics.metric import LATENTS, Measurement, Metric
from tfvae.metrics.specs._latent_protocol import latent_protocol

_NUM_SAMPLES = 5000


@registry.register("metric", "skl")
class SymmetricKL(Metric):
    """KL[p(z) || q(z)] + KL[q(z) || p(z)] by Monte Carlo on 5000 prior draws and one posterior draw for each of (at
    most 5000) test examples, q(z) the aggregate posterior of the training examples.

    References:
        Bhalodia et al. 2020, dpVAEs: fixing sample generation for regularized VAEs (docs/references.md),
        section 5.1.
    """

    requires = LATENTS

    def measure(self, context):
        latents = context.latents
        prior_samples = latents.sample_prior(_NUM_SAMPLES, [context.seed, 3])
        # Test posteriors: a sample of a training posterior would meet its own component in the mixture q(z) and
        # overrate log q, most for narrow posteriors.
        posterior_samples = latents.posterior_samples("test", _NUM_SAMPLES, [context.seed, 11])
        result = symmetric_kl(prior_samples, posterior_samples, latents.log_prior, latents.log_aggregate_posterior)
        yield Measurement("skl", "prior_vs_posterior", result["symmetric_kl"], {
            **latent_protocol(context, len(posterior_samples)), "num_prior_samples": _NUM_SAMPLES,
            "kl_prior_posterior": result["kl_prior_posterior"], "kl_posterior_prior": result["kl_posterior_prior"]})
