"""The protocol entries every latent metric shares."""


def latent_protocol(context, num_posterior_samples):
    """What the latent metrics compare: how many test posteriors, which aggregate posterior, the seed."""
    latents = context.latents
    return {"posterior_samples": f"{num_posterior_samples} test examples",
            "aggregate_posterior": latents.aggregate_posterior_description(),
            "num_train_posteriors": len(latents.train_means), "seed": context.seed}


def test_posterior_samples(context):
    """The test posterior samples shared by the MMD, marginal KL and leakage metrics (their own random stream)."""
    return context.latents.posterior_samples("test", context.num_latent_samples, [context.seed, 10])
