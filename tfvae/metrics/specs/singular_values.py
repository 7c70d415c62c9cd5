"""Singular values of the test codes (two-stage VAE paper, figure 2): how many latent dimensions are used."""
from tfvae import registry
from tfvae.metrics.latent import singular_values
from tfvae.metrics.metric import LATENTS, Measurement, Metric


@registry.register("metric", "singular_values")
class SingularValues(Metric):
    """The spectrum of the centered matrix of test posterior means; the full spectrum is in the protocol.

    References:
        Dai & Wipf 2019, Diagnosing and enhancing VAE models (arXiv:1903.05789), figure 2.
    """

    requires = LATENTS

    def measure(self, context):
        means = context.latents.test_means
        values = singular_values(means).tolist()
        protocol = {"latents": f"posterior means of {len(means)} test examples", "all": values}
        yield Measurement("singular_values", "largest", float(values[0]), protocol, extra=values)
        yield Measurement("singular_values", "smallest", float(values[-1]), protocol, extra=values)
