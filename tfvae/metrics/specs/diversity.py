"""Sample diversity as 1 - MS-SSIM of random pairs (Rosca et al., section 6), the test split's own beside."""
from tfvae import registry
from tfvae.metrics.diversity import ms_ssim_diversity
from tfvae.metrics.metric import Measurement, Metric


@registry.register("metric", "diversity")
class Diversity(Metric):
    """1 - mean MS-SSIM over random pairs of each set, and of the test split as the reference level.

    References:
        Wang et al. 2003, Multiscale structural similarity for image quality assessment; Odena et al. 2017,
        Conditional image synthesis with auxiliary classifier GANs (arXiv:1610.09585); Rosca et al. 2018,
        Distribution matching in variational inference (arXiv:1802.06847).
    """

    def applies_to(self, context):
        return super().applies_to(context) and context.images.is_image

    def measure(self, context):
        for set_name in ("test", *context.images.sets):
            images = context.images_of(set_name)
            result = ms_ssim_diversity(images, num_pairs=min(1000, 10 * len(images)), seed=context.seed)
            yield Measurement("diversity", set_name, result["diversity"],
                              {**result["protocol"], "definition": "1 - mean MS-SSIM of random pairs"})
