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


def aggregate_posterior_samples(context):
    """Exact draws of q(z), the mixture of the training posteriors: one draw from each of the first
    `num_latent_samples` training posteriors (its own random stream). Metrics that evaluate log q(z) at their
    samples use these: test posteriors are draws of another distribution, at which the training mixture can be far
    lower than at its own draws (for narrow posteriors, by hundreds of nats)."""
    return context.latents.posterior_samples("train", context.num_latent_samples, [context.seed, 15])


def latent_spaces(context):
    """{set name: samples} of every space the latent metrics compare with N(0, I): "posterior" (the test posterior
    samples z) and "generation/NAME" (u ~ q(u | z) of each ex-post density with a generation space of its own, for
    the same z)."""
    samples = test_posterior_samples(context)
    latents = context.latents
    return {"posterior": samples,
            **{f"generation/{name}": latents.generation_samples(name, samples, [context.seed, 11])
               for name in sorted(latents.generation_posteriors)}}


GENERATION_SPACES = ("generation/NAME: u ~ q(u | z) of the NAME density's encoder (its generation space, prior "
                     "N(0, I)) for the same test posterior samples z")
