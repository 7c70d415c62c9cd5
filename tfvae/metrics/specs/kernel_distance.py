"""The kernel distance of features: KID with the Inception network (Binkowski et al. 2018)."""
from tfvae import registry
from tfvae.metrics.metric import Measurement, Metric
from tfvae.metrics.statistics import kernel_inception_distance

_NUM_SUBSETS = 50


@registry.register("metric", "kid")
class KernelDistance(Metric):
    """Unbiased MMD^2 with the polynomial kernel (x.y/d + 1)^3, averaged over random subsets; with its standard error.

    References:
        Binkowski et al. 2018, Demystifying MMD GANs (arXiv:1801.01401).
    """

    def measure(self, context):
        num_reference = len(context.images.reference)
        for extractor in context.images.extractors:
            reference = context.features(extractor, "test")
            for set_name in context.images.sets:
                features = context.features(extractor, set_name)
                subset = min(1000, len(features) // 2, num_reference // 2)  # subsets must differ to vary
                value, error = kernel_inception_distance(features, reference, num_subsets=_NUM_SUBSETS,
                                                         subset_size=subset, seed=context.seed)
                yield Measurement(f"kid_{extractor}", set_name, value,
                                  {**context.set_protocol(extractor, len(features)),
                                   "kernel": "polynomial (x.y/d + 1)^3, unbiased", "num_subsets": _NUM_SUBSETS,
                                   "subset_size": subset}, uncertainty=error)
