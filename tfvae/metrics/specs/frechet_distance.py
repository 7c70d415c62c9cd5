"""The Frechet distance of feature statistics: FID with the Inception network (Heusel et al. 2017)."""
from tfvae import registry
from tfvae.metrics.metric import Measurement, Metric
from tfvae.metrics.statistics import frechet_distance, symmetric_sqrt


@registry.register("metric", "fd")
class FrechetDistance(Metric):
    """||m_a - m_b||^2 + tr(C_a + C_b - 2 (C_a C_b)^(1/2)) between each set's features and the test split's.

    Reported as `fid` with the Inception extractor and `fd_<extractor>` otherwise. Biased by the sample count: the
    protocol records N and the reference split.

    References:
        Heusel et al. 2017, GANs trained by a two time-scale update rule converge to a local Nash equilibrium
        (arXiv:1706.08500).
    """

    def measure(self, context):
        for extractor in context.images.extractors:
            reference = context.moments(extractor, "test")
            root = symmetric_sqrt(reference[1])  # once per extractor: the reference is every distance's first side
            for set_name in context.images.sets:
                mean, covariance = context.moments(extractor, set_name)
                yield Measurement(
                    "fid" if extractor == "inception" else f"fd_{extractor}", set_name,
                    frechet_distance(*reference, mean, covariance, root_a=root),
                    {**context.set_protocol(extractor, len(context.images_of(set_name))),
                     "statistic": "Frechet distance of float64 moments"})
