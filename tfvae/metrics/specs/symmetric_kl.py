"""Symmetric KL between the prior and the aggregate posterior (dpVAE, section 5.1)."""
from tfvae import registry
from tfvae.metrics.latent import symmetric_kl
from tfvae.metrics.metric import LATENTS, Measurement, Metric
from tfvae.metrics.specs._latent_protocol import latent_protocol

_NUM_SAMPLES = 5000


@registry.register("metric", "skl")
class SymmetricKL(Metric):
    """KL[p(z) || q(z)] + KL[q(z) || p(z)] by Monte Carlo on 5000 prior draws and one posterior draw for each of (at
    most 5000) training examples, q(z) the aggregate posterior of those training examples.

    References:
        Bhalodia et al. 2020, dpVAEs: fixing sample generation for regularized VAEs (docs/references.md),
        section 5.1.
    """

    requires = LATENTS

    def measure(self, context):
        latents = context.latents
        prior_samples = latents.sample_prior(_NUM_SAMPLES, [context.seed, 3])
        # Draws of q(z) itself: q is the mixture of the training posteriors, so a draw of a random training
        # posterior is an exact draw of q and the average below is unbiased. Test posteriors are draws of another
        # distribution: with narrow posteriors the training mixture is near zero between its components and the
        # "KL" of test draws goes negative (measured: -162 nats for a weakly regularized beta-TCVAE).
        posterior_samples = latents.posterior_samples("train", _NUM_SAMPLES, [context.seed, 11])
        result = symmetric_kl(prior_samples, posterior_samples, latents.log_prior, latents.log_aggregate_posterior)
        yield Measurement("skl", "prior_vs_posterior", result["symmetric_kl"], {
            **latent_protocol(context, len(posterior_samples)), "num_prior_samples": _NUM_SAMPLES,
            "kl_prior_posterior": result["kl_prior_posterior"], "kl_posterior_prior": result["kl_posterior_prior"]})
