"""MMD between the aggregate posterior and N(0, I) (two-stage VAE paper, table 3; WAE)."""
from tfvae import registry
from tfvae.metrics.latent import mmd_to_standard_normal
from tfvae.metrics.metric import LATENTS, Measurement, Metric
from tfvae.metrics.specs._latent_protocol import GENERATION_SPACES, latent_protocol, latent_spaces

_KERNELS = {"rbf": "Gaussian, h^2 = latent_dim, exact N(0, I) expectations",
            "imq": "WAE multi-scale IMQ, C = 2 L s, s in 0.1..10, as many N(0, I) draws as latents"}


@registry.register("metric", "mmd")
class MMDToStandardNormal(Metric):
    """Unbiased MMD^2 between test posterior samples and N(0, I), with a Gaussian and with a multi-scale IMQ kernel;
    also for the second stage's q(u) of a two-stage VAE (set "generation/two_stage": the paper's table 3).

    References:
        Gretton et al. 2012, A kernel two-sample test (JMLR 13); Dai & Wipf 2019, Diagnosing and enhancing VAE
        models (arXiv:1903.05789), table 3; Tolstikhin et al. 2018, Wasserstein auto-encoders (arXiv:1711.01558).
    """

    requires = LATENTS

    def measure(self, context):
        for set_name, samples in latent_spaces(context).items():
            for kernel, description in _KERNELS.items():
                yield Measurement(f"mmd_{kernel}", set_name, mmd_to_standard_normal(samples, kernel, seed=context.seed),
                                  {**latent_protocol(context, len(samples)), "kernel": description,
                                   "sets": GENERATION_SPACES})
