"""Precision and recall for distributions (Sajjadi et al. 2018): the F8 and F1/8 summaries of the PRD curve."""
from tfvae import registry
from tfvae.metrics.metric import Measurement, Metric
from tfvae.metrics.precision_recall import prd


@registry.register("metric", "prd")
class PRD(Metric):
    """F8 (recall-weighted) and F1/8 (precision-weighted) of the PRD curve on 20 k-means clusters, averaged over
    `context.prd_runs` clusterings (the authors' 10 by default).

    The RAE paper (table 2) reports these for its GMM samples.

    References:
        Sajjadi et al. 2018, Assessing generative models via precision and recall (arXiv:1806.00035).
    """

    def measure(self, context):
        for extractor in context.images.extractors:
            reference = context.features(extractor, "test")
            for set_name in context.images.sets:
                features = context.features(extractor, set_name)
                result = prd(features, reference, num_runs=context.prd_runs, seed=context.seed)
                base = {**context.set_protocol(extractor, len(features)), "clusters": 20, "runs": context.prd_runs}
                yield Measurement(f"prd_f8_{extractor}", set_name, result["f_beta"], {**base, "beta": 8})
                yield Measurement(f"prd_f1/8_{extractor}", set_name, result["f_beta_inv"], {**base, "beta": 0.125})
