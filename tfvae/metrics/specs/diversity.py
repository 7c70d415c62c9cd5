"""Sample diversity as 1 - MS-SSIM of random pairs (Rosca et al., section 6), the test split's own beside."""
import numpy as np

from tfvae import registry
from tfvae.metrics.diversity import ms_ssim_diversity
from tfvae.metrics.metric import Measurement, Metric

NOISE_STD = 0.1


@registry.register("metric", "diversity")
class Diversity(Metric):
    """1 - mean MS-SSIM over random pairs of each set, of the test split as the reference level, and of the test
    split with pixel noise (`test_noised`): Rosca et al. show a noised test set to mark diversity that is too high
    (their noise is not stated; tfvae adds Gaussian noise of std `NOISE_STD`).

    References:
        Wang et al. 2003, Multiscale structural similarity for image quality assessment; Odena et al. 2017,
        Conditional image synthesis with auxiliary classifier GANs (arXiv:1610.09585); Rosca et al. 2018,
        Distribution matching in variational inference (arXiv:1802.06847).
    """

    def applies_to(self, context):
        return super().applies_to(context) and context.images.is_image

    def measure(self, context):
        test = context.images_of("test")
        noise = np.random.default_rng([context.seed, 14]).normal(0.0, NOISE_STD, test.shape)
        noised = np.clip(test + noise, 0.0, 1.0).astype(np.float32)
        sets = {"test": test, "test_noised": noised, **context.images.sets}
        for set_name, images in sets.items():
            result = ms_ssim_diversity(images, num_pairs=min(1000, 10 * len(images)), seed=context.seed)
            protocol = {**result["protocol"], "definition": "1 - mean MS-SSIM of random pairs",
                        "test_noised": f"the test split plus N(0, {NOISE_STD}^2) pixel noise, clipped to [0, 1]"}
            yield Measurement("diversity", set_name, result["diversity"], protocol)
