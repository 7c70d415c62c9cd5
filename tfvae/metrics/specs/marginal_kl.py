"""The marginal KL[q(z) || p(z)] by Rosca et al.'s three estimators (their appendix E, algorithms 2-4)."""
from tfvae import registry
from tfvae.metrics.latent import marginal_kl_density_model, marginal_kl_density_ratio, marginal_kl_monte_carlo
from tfvae.metrics.metric import LATENTS, Measurement, Metric
from tfvae.metrics.specs._latent_protocol import (aggregate_posterior_samples, latent_protocol,
                                                     test_posterior_samples)


@registry.register("metric", "marginal_kl")
class MarginalKL(Metric):
    """KL between the aggregate posterior and the prior, three ways: `monte_carlo` (algorithm 2, the mixture of
    training posteriors, each through the posterior flow with its Jacobian where the model has one; for a
    deterministic encoder a Gaussian kernel density of the training codes, whose value depends on the kernel's
    bandwidth: not the same quantity, as the protocol says), `density_ratio` (algorithm 3, a classifier between
    posterior and prior samples) and `density_model` (algorithm 4, a GMM fitted to posterior samples).

    References:
        Rosca et al. 2018, Distribution matching in variational inference (arXiv:1802.06847), appendix E.
    """

    requires = LATENTS

    def measure(self, context):
        latents = context.latents
        samples = test_posterior_samples(context)
        draws = aggregate_posterior_samples(context)  # one per training posterior, at most num_latent_samples
        # A deterministic encoder has no posteriors to mix: "monte_carlo" is then a kernel density estimate.
        monte_carlo = "monte_carlo" if latents.variational else (
            "monte_carlo: log q(z) of a Gaussian kernel density of the codes, not a mixture of posteriors")
        protocol = {**latent_protocol(context, len(samples)), "reference": "Rosca et al. appendix E",
                    "algorithm": f"2 ({monte_carlo}), 3 (density_ratio: MLP 3x256, {context.ratio_steps} steps), "
                                 f"4 (density_model: GMM, 10 components)",
                    "monte_carlo_samples": f"{len(draws)} training examples (exact draws of q); the fitted "
                                           f"estimators are scored on the test examples"}
        # Algorithm 2 averages log q(z) - log p(z) over draws of q itself (the training posteriors whose mixture q
        # is); the fitted estimators below are scored on held-out test draws.
        yield Measurement("marginal_kl", "monte_carlo", marginal_kl_monte_carlo(
            draws, latents.log_aggregate_posterior, latents.log_prior), protocol)
        train_samples = latents.posterior_samples("train", len(latents.train_means), [context.seed, 12])
        prior_samples = latents.sample_prior(len(latents.train_means), [context.seed, 4])
        yield Measurement("marginal_kl", "density_ratio", marginal_kl_density_ratio(
            train_samples, prior_samples, samples, steps=context.ratio_steps, seed=context.seed), protocol)
        yield Measurement("marginal_kl", "density_model",
                          marginal_kl_density_model(train_samples, samples, latents.log_prior), protocol)
