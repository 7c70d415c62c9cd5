"""The Inception score, official (FID network's softmax) or Inception-style (a domain classifier's)."""
from tfvae import registry
from tfvae.metrics.inception_score import inception_score
from tfvae.metrics.metric import Measurement, Metric

_SPLITS = 10


@registry.register("metric", "inception_score")
class InceptionScore(Metric):
    """exp(E_x KL[p(y|x) || p(y)]) over 10 splits, with the standard deviation over splits.

    Applies to every extractor with class probabilities: the Inception network when its weights carry the softmax
    layer (the official score), and the domain classifier (an Inception-style score on the data set's own classes,
    as Rosca et al. use on MNIST-like data).

    References:
        Salimans et al. 2016, Improved techniques for training GANs (arXiv:1606.03498).
    """

    def applies_to(self, context):
        return super().applies_to(context) and any(
            extractor.has_probabilities for extractor in context.images.extractors.values())

    def measure(self, context):
        for name, extractor in context.images.extractors.items():
            if not extractor.has_probabilities:
                continue
            for set_name in context.images.sets:
                images = context.images_of(set_name)
                mean, std = inception_score(extractor.probabilities(images, context.features(name, set_name)),
                                            num_splits=_SPLITS)
                note = ("the official Inception score (softmax layer of the FID network)" if name == "inception" else
                        "Inception-style score of the domain classifier's probabilities")
                yield Measurement(f"is_{name}", set_name, mean,
                                  {**context.set_protocol(name, len(images)), "splits": _SPLITS, "note": note},
                                  uncertainty=std)
