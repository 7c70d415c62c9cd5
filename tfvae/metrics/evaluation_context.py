"""What the metrics are computed from: image sets, latents and likelihood callables, with cached features."""
import dataclasses
from typing import Callable, Dict, Optional

import numpy as np

from tfvae.metrics import metric as metric_lib
from tfvae.metrics.statistics import RunningMoments


@dataclasses.dataclass
class ImageSets:
    """Generated image sets and the real data they are compared with.

    Attributes:
        sets: dict set name -> images [N, ...] (e.g. "samples/gmm", "reconstructions").
        reference: real examples [N, ...] of the test split (the reference of every set metric).
        validation: real examples of the validation split (the independent critic trains on them).
        extractors: dict name -> `FeatureExtractor`.
        default_set: str. The set of the default sampler (the critic scores it only).
        is_image: bool. False for point data (no image-only metric such as MS-SSIM).
        generated_preprocessing: str or None. What was done to every generated set before the metrics (e.g. Dai &
            Wipf's per-image stretch); None when the sets are the decoder's outputs as they are.
        held_out_sets: str or None. How the "reconstructions" and "interpolations" sets were made (which split's
            images, which code, which path); None when there are none (a model without an encoder).
    """

    sets: Dict[str, np.ndarray]
    reference: np.ndarray
    validation: np.ndarray
    extractors: Dict[str, object]
    default_set: str
    is_image: bool = True
    generated_preprocessing: Optional[str] = None
    held_out_sets: Optional[str] = None


@dataclasses.dataclass
class PosteriorFlow:
    """A bijection f applied to every Gaussian posterior draw (a RealNVP posterior, "VAE + RNVP"): the decoder reads
    z = f(u), u ~ N(mu(x), diag sigma(x)^2), so q(z | x) = N(f^-1(z); mu(x), sigma(x)^2) / |det df/du| at f^-1(z).

    Attributes:
        forward: callable u [N, L] -> (z = f(u) [N, L], log|det df/du| [N]) (NumPy in and out).
        inverse: callable z [N, L] -> (u = f^-1(z) [N, L], log|det df/du| at that u [N]) (NumPy in and out).
    """

    forward: Callable
    inverse: Callable


@dataclasses.dataclass
class Latents:
    """Codes of an encoder in the space the decoder reads, and the prior they are compared with.

    Attributes:
        train_means, train_log_variances: posterior means [N, L] and log-variances [N, L] (None for deterministic
            encoders) of training examples: the aggregate posterior q(z) is their mixture. With a `posterior_flow`
            they are those of the Gaussian before the flow (of u, where the decoder reads z = f(u)).
        test_means, test_log_variances: the same for the test split.
        log_prior: callable z [N, L] -> log p(z) [N] (NumPy in and out).
        sample_prior: callable (count, seed int) -> z [count, L] NumPy.
        to_generation: callable z -> the generation space of a decoupled prior, or None (the identity).
        log_aggregate_posterior: callable z [N, L] -> log q(z) [N] (with a posterior flow: the mixture of the
            training posteriors at f^-1(z) minus log|det df/du|, the flow's Jacobian term;
            `tfvae.density.aggregate_posterior_log_density` with its `flow_inverse`).
        generation_posteriors: dict name -> callable z [N, L] -> (means, log-variances) of q(u | z): the encoders
            of ex-post densities with a standard normal generation space of their own (the two-stage VAE's second
            stage), whose aggregate posterior q(u) the latent metrics also compare with N(0, I).
        posterior_flow: `PosteriorFlow` or None. The bijection every posterior draw goes through before the
            decoder (a VAE with a RealNVP posterior); None: the posteriors are Gaussian in the decoder's space.
    """

    train_means: np.ndarray
    train_log_variances: Optional[np.ndarray]
    test_means: np.ndarray
    test_log_variances: Optional[np.ndarray]
    log_prior: Callable
    sample_prior: Callable
    log_aggregate_posterior: Callable
    to_generation: Optional[Callable] = None
    generation_posteriors: Dict[str, Callable] = dataclasses.field(default_factory=dict)
    posterior_flow: Optional[PosteriorFlow] = None

    @property
    def variational(self):
        return self.train_log_variances is not None

    def aggregate_posterior_description(self):
        if not self.variational:
            return "Gaussian kernel density estimate of the training codes (deterministic encoder)"
        if self.posterior_flow is not None:
            return ("mixture of the training posteriors, each a Gaussian pushed through the posterior flow f: "
                    "log q(z | x_n) = log N(f^-1(z); mu_n, sigma_n^2) - log|det df/du| at f^-1(z)")
        return "mixture of the training posteriors"

    def posterior_samples(self, split, count, seed):
        """One posterior sample z = mu + sigma * eps for each of the first `count` examples of `split` ("train" or
        "test"), z = f(mu + sigma * eps) with a posterior flow; the means themselves for deterministic encoders.
        `seed` (int or int pair) fixes eps."""
        means = getattr(self, f"{split}_means")[:count]
        log_variances = getattr(self, f"{split}_log_variances")
        if log_variances is None:
            return means.astype(np.float32)
        noise = np.random.default_rng(seed).standard_normal(means.shape)
        samples = (means + np.exp(0.5 * log_variances[:count]) * noise).astype(np.float32)
        if self.posterior_flow is None:
            return samples
        return np.asarray(self.posterior_flow.forward(samples)[0], np.float32)

    def codes(self, split):
        """The posterior means of `split` in the decoder's space: f(mu) with a posterior flow (the codes the model
        encodes each example to), the means themselves otherwise."""
        means = getattr(self, f"{split}_means")
        if self.posterior_flow is None:
            return means
        return np.asarray(self.posterior_flow.forward(np.asarray(means, np.float32))[0])

    def generation_samples(self, name, z, seed):
        """One draw u ~ q(u | z) of the generation space `name` (`generation_posteriors`) per row of z."""
        means, log_variances = self.generation_posteriors[name](z)
        noise = np.random.default_rng(seed).standard_normal(means.shape)
        return (means + np.exp(0.5 * log_variances) * noise).astype(np.float32)


@dataclasses.dataclass
class Likelihood:
    """A model with an explicit decoder likelihood, as callables (importance-sampled NLL).

    Attributes:
        examples: test examples [N, ...].
        posterior: callable x -> (z_mean, z_log_var), the Gaussian proposal.
        log_likelihood: callable (x, z) -> log p(x | z) [B].
        log_prior: callable z -> log p(z) [B] (TensorFlow in and out).
        description: dict for the protocol (likelihood and prior names).
        scored_sets: dict set name -> images [M, ...] the model generated, scored beside the test examples by the
            same estimator (e.g. "low_posterior": decoded low-posterior samples, Rosca et al. figure 13).
        scored_sets_description: str or None. How the scored sets were made (which images, which decoder output),
            for the protocol.
    """

    examples: np.ndarray
    posterior: Callable
    log_likelihood: Callable
    log_prior: Callable
    description: dict
    scored_sets: Dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    scored_sets_description: Optional[str] = None


@dataclasses.dataclass
class EvaluationContext:
    """Everything a metric may read; parts a model cannot provide are None (a GAN has no latents).

    Attributes:
        images: `ImageSets` or None.
        latents: `Latents` or None.
        likelihood: `Likelihood` or None.
        seed: int. Seeds every draw.
        num_latent_samples: int. Test posteriors used by the latent metrics.
        critic_steps, ratio_steps, nll_samples: costs of the slower metrics.
        prd_runs: int. k-means clusterings averaged by PRD (the authors' 10; fewer only to save time).
    """

    images: Optional[ImageSets] = None
    latents: Optional[Latents] = None
    likelihood: Optional[Likelihood] = None
    seed: int = 0
    num_latent_samples: int = 1000
    critic_steps: int = 2000
    ratio_steps: int = 2000
    nll_samples: int = 100
    prd_runs: int = 10
    _features: dict = dataclasses.field(default_factory=dict, repr=False)
    _moments: dict = dataclasses.field(default_factory=dict, repr=False)

    def has(self, requirement):
        """Whether the context carries what a metric `requires` (metric.IMAGES, LATENTS or LIKELIHOOD)."""
        parts = {metric_lib.IMAGES: self.images, metric_lib.LATENTS: self.latents,
                 metric_lib.LIKELIHOOD: self.likelihood}
        if requirement not in parts:
            raise ValueError(f"Unknown metric requirement {requirement!r}; expected one of {sorted(parts)}. "
                             f"Received: {requirement!r}")
        return parts[requirement] is not None

    def images_of(self, set_name):
        """The images of a set, or the reference for "test"."""
        return self.images.reference if set_name == "test" else self.images.sets[set_name]

    def features(self, extractor_name, set_name):
        """Features of a set ("test" for the reference) under an extractor, computed once per evaluation."""
        key = (extractor_name, set_name)
        if key not in self._features:
            self._features[key] = np.asarray(self.images.extractors[extractor_name].features(
                self.images_of(set_name)), np.float64)
        return self._features[key]

    def moments(self, extractor_name, set_name):
        """(mean, covariance) in float64 of a set's features, computed once per evaluation."""
        key = (extractor_name, set_name)
        if key not in self._moments:
            features = self.features(extractor_name, set_name)
            running = RunningMoments(features.shape[1])
            running.update(features)
            self._moments[key] = running.result()
        return self._moments[key]

    def set_protocol(self, extractor_name, num_samples):
        """The protocol shared by every set metric: extractor, reference, sample count, seed."""
        protocol = {**self.images.extractors[extractor_name].protocol(),
                    "reference": f"test split ({len(self.images.reference)} examples)", "seed": self.seed,
                    "num_samples": int(num_samples)}
        if self.images.generated_preprocessing:
            protocol["generated_preprocessing"] = self.images.generated_preprocessing
        if self.images.held_out_sets:
            protocol["held_out_sets"] = self.images.held_out_sets
        return protocol
