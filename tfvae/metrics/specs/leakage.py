"""The leakage score LS(tau) of dpVAE (eq. 6): posterior mass that leaks into low-prior regions."""
import math

import numpy as np

from tfvae import registry
from tfvae.metrics.latent import leakage_score
from tfvae.metrics.metric import LATENTS, Measurement, Metric
from tfvae.metrics.specs._latent_protocol import aggregate_posterior_samples, latent_protocol

# Thresholds tau as the prior mass below them, so curves compare across latent sizes.
PRIOR_MASS_LEVELS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5)


def _log_standard_normal(z):
    return -0.5 * np.sum(np.square(z) + math.log(2 * math.pi), axis=1)


@registry.register("metric", "leakage")
class Leakage(Metric):
    """LS(tau) at the thresholds tau below which N(0, I) has 0.1% ... 50% of its mass, measured in the generation
    space h(z) (g(z) for a decoupled prior, the identity otherwise). The full result is the figure's curve.

    References:
        Bhalodia et al. 2020, dpVAEs: fixing sample generation for regularized VAEs, eq. 6 and figure 4.
    """

    requires = LATENTS

    def measure(self, context):
        latents = context.latents
        samples = aggregate_posterior_samples(context)
        to_generation = latents.to_generation or (lambda z: z)
        log_p_h = _log_standard_normal(np.asarray(to_generation(samples)))
        reference = _log_standard_normal(np.random.default_rng(context.seed).standard_normal((20000,
                                                                                              samples.shape[1])))
        result = leakage_score(latents.log_aggregate_posterior(samples), log_p_h,
                               np.quantile(reference, PRIOR_MASS_LEVELS))
        protocol = {**latent_protocol(context, len(samples)),
                    "posterior_samples": f"{len(samples)} training examples (exact draws of q)",
                    "thresholds": result["thresholds"],
                    "prior_mass_levels": list(PRIOR_MASS_LEVELS), "definition": "dpVAE eq. 6",
                    "h": "g (generation space)" if latents.to_generation else "identity"}
        for level, score in zip(PRIOR_MASS_LEVELS, result["scores"]):
            yield Measurement("leakage", f"prior_mass_{level:g}", score, protocol, extra=result)
