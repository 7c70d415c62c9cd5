"""The number of active latents (Burda et al. 2016), for Rosca et al.'s figure 5b: VAEs ignore extra latents."""
from tfvae import registry
from tfvae.metrics.latent import active_latents
from tfvae.metrics.metric import LATENTS, Measurement, Metric

THRESHOLD = 0.01


@registry.register("metric", "active_latents")
class ActiveLatents(Metric):
    """How many latents have Cov_x(E[z_u | x]) > 0.01 over the test split's posterior means (codes for a
    deterministic encoder, f(mu) for a posterior flow f: the codes in the decoder's space); the activities
    themselves are kept for figures.

    References:
        Burda et al. 2016, Importance weighted autoencoders (arXiv:1509.00519), section 5.2; Rosca et al. 2018,
        Distribution matching in variational inference (arXiv:1802.06847), section 4.2 and figure 5b.
    """

    requires = LATENTS

    def measure(self, context):
        means = context.latents.codes("test")
        result = active_latents(means, THRESHOLD)
        yield Measurement("active_latents", "test", result["count"], {
            "definition": "latents u with Var_x(E[z_u | x]) > threshold", "threshold": THRESHOLD,
            "examples": len(means), "latent_dim": means.shape[1]}, extra=result["activity"])
