"""Improved precision and recall of k-nearest-neighbour manifolds (Kynkaanniemi et al. 2019)."""
from tfvae import registry
from tfvae.metrics.metric import Measurement, Metric
from tfvae.metrics.precision_recall import improved_precision_recall

_K = 3


@registry.register("metric", "precision_recall")
class PrecisionRecall(Metric):
    """Share of samples inside the real data's k-NN balls (precision) and of real data inside the samples' (recall).

    References:
        Kynkaanniemi et al. 2019, Improved precision and recall metric for assessing generative models
        (arXiv:1904.06991).
    """

    def measure(self, context):
        for extractor in context.images.extractors:
            reference = context.features(extractor, "test")
            for set_name in context.images.sets:
                features = context.features(extractor, set_name)
                result = improved_precision_recall(reference, features, k=_K)
                protocol = {**context.set_protocol(extractor, len(features)), "k": _K,
                            "definition": "improved precision and recall (Kynkaanniemi et al. 2019)"}
                for key in ("precision", "recall"):
                    yield Measurement(f"{key}_{extractor}", set_name, result[key], protocol)
