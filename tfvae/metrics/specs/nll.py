"""The importance-sampled negative log-likelihood (IWAE bound; dpVAE section 5.1), of the test examples and of the
images a model generated (Rosca et al. figure 13)."""
import numpy as np

from tfvae import registry
from tfvae.metrics.likelihood import bits_per_dim, importance_sampled_nll
from tfvae.metrics.metric import LIKELIHOOD, Measurement, Metric


@registry.register("metric", "nll")
class NegativeLogLikelihood(Metric):
    """-log p(x) of test examples in nats with K importance samples from the Gaussian posterior; bits per
    dimension in the protocol. The context's `scored_sets` (images the model generated, e.g. its decoded
    low-posterior samples) are scored by the same estimator under their own keys: Rosca et al.'s figure 13 sets the
    model's likelihood of its low-posterior samples beside that of the data.

    References:
        Burda et al. 2016, Importance weighted autoencoders (arXiv:1509.00519); Rosca et al. 2018, Distribution
        matching in variational inference (arXiv:1802.06847), appendix A, figure 13.
    """

    requires = LIKELIHOOD

    def measure(self, context):
        likelihood = context.likelihood
        scored = {"test": likelihood.examples, **likelihood.scored_sets}
        shared = {"importance_samples": context.nll_samples, "units": "nats per example", **likelihood.description,
                  "seed": context.seed}
        if likelihood.scored_sets:
            shared["scored_sets"] = likelihood.scored_sets_description or ", ".join(likelihood.scored_sets)
        for name, examples in scored.items():
            nll = importance_sampled_nll(examples, likelihood.posterior, likelihood.log_likelihood,
                                         likelihood.log_prior, num_samples=context.nll_samples, seed=context.seed)
            dims = int(np.prod(examples.shape[1:]))
            yield Measurement("nll", name, float(nll.mean()), {
                "num_examples": len(examples), **shared, "bits_per_dim": float(bits_per_dim(nll, dims).mean())})
