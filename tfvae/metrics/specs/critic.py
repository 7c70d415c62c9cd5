"""The independent Wasserstein critic (Rosca et al., section 6; Danihelka et al. 2017)."""
from tfvae import registry
from tfvae.metrics.critic import independent_critic_distance
from tfvae.metrics.metric import Measurement, Metric

_PENALTY = 10.0


@registry.register("metric", "critic")
class IndependentCritic(Metric):
    """A WGAN-GP critic trained on validation data vs half of the default sampler's samples, scored on the test
    split vs the other half: an estimate of the Wasserstein-1 distance that no model was trained against.

    References:
        Danihelka et al. 2017, Comparison of maximum likelihood and GAN-based training of Real NVPs
        (arXiv:1705.05263); Rosca et al. 2018 (arXiv:1802.06847).
    """

    def applies_to(self, context):
        return super().applies_to(context) and context.images.default_set in context.images.sets

    def measure(self, context):
        images = context.images
        fake = images.sets[images.default_set]
        half = len(fake) // 2
        result = independent_critic_distance(images.validation, fake[:half], images.reference, fake[half:],
                                             steps=context.critic_steps, penalty_weight=_PENALTY,
                                             seed=context.seed)
        yield Measurement("critic", images.default_set, result["distance"], {
            "trained_on": f"validation split ({len(images.validation)}) vs {half} samples",
            "scored_on": f"test split ({len(images.reference)}) vs {len(fake) - half} other samples",
            "steps": context.critic_steps, "penalty_weight": _PENALTY, "standard_error": result["standard_error"],
            "seed": context.seed})
