"""The interface of every evaluation metric: a registered spec that says what it needs and how it was measured.

A metric is a subclass of `Metric` registered with `@registry.register("metric", NAME)`. It declares what it applies
to (`requires`: image sets against a reference, latents of an encoder, or a model with a likelihood) and yields
`Measurement`s: a value under a report key with the protocol that produced it. The evaluation job builds one
`EvaluationContext` (arrays and callables, never a model class) and loops over the selected names:

    for name in names:
        metric = registry.get("metric", name)()
        if metric.applies_to(context):
            measurements += list(metric.measure(context))

Adding a metric is one file under `tfvae/metrics/specs/` plus its test.
"""
import abc
import dataclasses
from typing import Any, Optional

# What a metric needs from the evaluation context.
IMAGES, LATENTS, LIKELIHOOD = "images", "latents", "likelihood"


@dataclasses.dataclass(frozen=True)
class Measurement:
    """One number of a report.

    Attributes:
        metric: str. Report key of the metric, e.g. "fid", "fd_domain", "prd_f8_domain".
        key: str. What was measured, e.g. a set name ("samples/gmm") or a variant ("monte_carlo").
        value: float.
        protocol: dict. How it was measured (N, reference, extractor and weights hash, kernel, seeds, ...); the
            first protocol of a metric key is the one the report keeps.
        uncertainty: float or None. Standard error or deviation, where the metric has one.
        extra: any JSON-able value for figures (a curve, a spectrum), or None.
    """

    metric: str
    key: str
    value: float
    protocol: dict
    uncertainty: Optional[float] = None
    extra: Any = None


class Metric(metaclass=abc.ABCMeta):
    """Base of the metric specs.

    Subclasses set `requires` (IMAGES, LATENTS or LIKELIHOOD) and implement `measure(context)`, a generator of
    `Measurement`s. `applies_to` is true when the context carries what the metric requires; a metric may narrow it
    (e.g. the Inception-style score needs an extractor with class probabilities).
    """

    requires = IMAGES

    def applies_to(self, context):
        """Whether this metric can be computed from `context`."""
        return context.has(self.requires)

    @abc.abstractmethod
    def measure(self, context):
        """Yields the `Measurement`s of this metric on `context`."""
