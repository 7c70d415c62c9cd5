"""The prior mass of the latent space's pockets (dpVAE figures 1 and 3), as a number."""
from tfvae import registry
from tfvae.metrics.latent import pocket_mass
from tfvae.metrics.metric import LATENTS, Measurement, Metric

RATIOS = (0.01, 0.1)  # q(z) under 1% and under 10% of p(z)
_NUM_SAMPLES = 5000


@registry.register("metric", "pockets")
class Pockets(Metric):
    """P_{z ~ p}[q(z) / p(z) < r] for r = 0.01 and 0.1: the share of prior samples drawn where the aggregate
    posterior q(z) (the mixture of the training posteriors) is nearly empty. Their decodings are the paper's
    low-posterior samples; a decoupled prior is meant to shrink this mass. q(z) is a mixture of as many narrow
    Gaussians as there are training examples, so the gaps between its components count as pockets too: compare
    models trained on the same examples.

    References:
        Bhalodia et al. 2020, dpVAEs: fixing sample generation for regularized VAEs, section 4.1 and figures 1
        and 3 (docs/references.md).
    """

    requires = LATENTS

    def measure(self, context):
        latents = context.latents
        samples = latents.sample_prior(_NUM_SAMPLES, [context.seed, 13])
        result = pocket_mass(latents.log_aggregate_posterior(samples), latents.log_prior(samples), RATIOS)
        protocol = {"aggregate_posterior": latents.aggregate_posterior_description(),
                    "num_train_posteriors": len(latents.train_means), "seed": context.seed,
                    "prior_samples": _NUM_SAMPLES, "ratios": list(RATIOS),
                    "definition": "share of prior samples with q(z) / p(z) < ratio (q: aggregate posterior of "
                                  "the training posteriors)", "standard_error": result["standard_error"]}
        for ratio, mass, error in zip(RATIOS, result["mass"], result["standard_error"]):
            yield Measurement("pockets", f"ratio_{ratio:g}", mass, protocol, uncertainty=error)
