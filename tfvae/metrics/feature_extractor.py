"""One interface for the feature networks the set metrics compare in: Inception, a domain classifier, raw points."""
import abc

import numpy as np


class FeatureExtractor(metaclass=abc.ABCMeta):
    """Maps examples to feature vectors; optionally to class probabilities (for an Inception-style score).

    Implementations: `tfvae.metrics.inception.InceptionExtractor` (the FID network), `tfvae.metrics.domain_classifier
    .DomainClassifier` (a classifier trained on the data set's labels) and `RawPoints` (the examples themselves).
    """

    #: Short name used in report keys ("fd_domain", "kid_inception"); set by each implementation.
    short_name = None

    @abc.abstractmethod
    def features(self, images):
        """Returns features [N, D] of examples [N, ...]."""

    @abc.abstractmethod
    def protocol(self):
        """Returns a dict saying what the features are (name, weights hash, accuracy) for the report."""

    @property
    def has_probabilities(self):
        """Whether `probabilities` gives class probabilities."""
        return False

    def probabilities(self, images, features):
        """Returns class probabilities [N, C] of `images` (whose `features` are already computed)."""
        raise ValueError(f"{type(self).__name__} gives no class probabilities. Received: {len(images)} examples")


class RawPoints(FeatureExtractor):
    """The examples themselves as features, for low-dimensional point data (e.g. two moons)."""

    short_name = "raw"

    def features(self, images):
        return np.asarray(images, np.float64).reshape(len(images), -1)

    def protocol(self):
        return {"extractor": "raw points (no feature network)"}
