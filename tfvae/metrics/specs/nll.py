"""The importance-sampled negative log-likelihood (IWAE bound; dpVAE section 5.1)."""
import numpy as np

from tfvae import registry
from tfvae.metrics.likelihood import bits_per_dim, importance_sampled_nll
from tfvae.metrics.metric import LIKELIHOOD, Measurement, Metric


@registry.register("metric", "nll")
class NegativeLogLikelihood(Metric):
    """-log p(x) of test examples in nats with K importance samples from the Gaussian posterior; bits per
    dimension in the protocol.

    References:
        Burda et al. 2016, Importance weighted autoencoders (arXiv:1509.00519).
    """

    requires = LIKELIHOOD

    def measure(self, context):
        likelihood = context.likelihood
        examples = likelihood.examples
        nll = importance_sampled_nll(examples, likelihood.posterior, likelihood.log_likelihood, likelihood.log_prior,
                                     num_samples=context.nll_samples, seed=context.seed)
        dims = int(np.prod(examples.shape[1:]))
        yield Measurement("nll", "test", float(nll.mean()), {
            "num_examples": len(examples), "importance_samples": context.nll_samples, "units": "nats per example",
            **likelihood.description, "bits_per_dim": float(bits_per_dim(nll, dims).mean()), "seed": context.seed})
