"""The metric registry as a contract: every registered spec runs on a small synthetic context, says how it measured,
declares what it needs, and gives the closed-form answer where one exists (a set equal to the reference)."""
import math

import numpy as np
import pytest
import tensorflow as tf

from tfvae import metrics, registry
from tfvae.density import latent_samplers
from tfvae.metrics import metric as metric_lib

_LATENT_DIM = 3


class _ProbabilitiesOfPixels(metrics.FeatureExtractor):
    """A feature network stand-in with class probabilities: flattened pixels, softmax of the first 4 pixels."""

    short_name = "pixels"

    def features(self, images):
        return np.asarray(images, np.float64).reshape(len(images), -1)

    def protocol(self):
        return {"extractor": "flattened pixels (test stand-in)"}

    @property
    def has_probabilities(self):
        return True

    def probabilities(self, images, features):
        logits = 3.0 * features[:, :4]
        return np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)


def _context(rng, with_latents=True, with_likelihood=True):
    reference = rng.uniform(size=(60, 8, 8, 1)).astype(np.float32)
    sets = {"samples/prior": rng.uniform(size=(60, 8, 8, 1)).astype(np.float32), "copy_of_test": reference.copy()}
    images = metrics.ImageSets(sets=sets, reference=reference, validation=rng.uniform(size=(60, 8, 8, 1)),
                               extractors={"pixels": _ProbabilitiesOfPixels()}, default_set="samples/prior")
    latents = likelihood = None
    if with_latents:
        means, log_variances = rng.normal(size=(200, _LATENT_DIM)), np.full((200, _LATENT_DIM), -1.0)
        log_standard_normal = lambda z: -0.5 * np.sum(np.square(z) + math.log(2 * math.pi), axis=1)  # noqa: E731
        latents = metrics.Latents(
            train_means=means, train_log_variances=log_variances, test_means=means[:50],
            test_log_variances=log_variances[:50], log_prior=log_standard_normal,
            sample_prior=lambda count, seed: np.random.default_rng(seed).standard_normal((count, _LATENT_DIM)),
            log_aggregate_posterior=lambda z: latent_samplers.aggregate_posterior_log_density(z, means,
                                                                                                log_variances))
    if with_likelihood:
        # A linear-Gaussian model x = z + noise with everything in closed form: p(x) = N(0, 2 I).
        likelihood = metrics.Likelihood(
            examples=rng.normal(size=(10, _LATENT_DIM)).astype(np.float32),
            posterior=lambda x: (x / 2.0, tf.fill(tf.shape(x), math.log(0.5))),
            log_likelihood=lambda x, z: -0.5 * tf.reduce_sum(tf.square(x - z) + math.log(2 * math.pi), axis=-1),
            log_prior=lambda z: -0.5 * tf.reduce_sum(tf.square(z) + math.log(2 * math.pi), axis=-1),
            description={"likelihood": "gaussian", "prior": "standard"})
    return metrics.EvaluationContext(images=images, latents=latents, likelihood=likelihood, num_latent_samples=40,
                                     critic_steps=20, ratio_steps=20, nll_samples=20)


@pytest.fixture(scope="module")
def measured():
    """{metric name: [Measurement]} for every registered metric on one synthetic context."""
    context = _context(np.random.default_rng(0))
    return {name: list(registry.get("metric", name)().measure(context)) for name in registry.names("metric")}


def test_every_registered_metric_is_a_spec_with_a_valid_requirement():
    assert len(registry.names("metric")) >= 13
    for name in registry.names("metric"):
        spec = registry.get("metric", name)
        assert issubclass(spec, metrics.Metric), name
        assert spec.requires in (metric_lib.IMAGES, metric_lib.LATENTS, metric_lib.LIKELIHOOD), name


def test_every_metric_measures_finite_values_with_a_protocol(measured):
    for name, measurements in measured.items():
        assert measurements, name
        for m in measurements:
            assert isinstance(m, metrics.Measurement) and math.isfinite(m.value), (name, m)
            assert m.protocol and isinstance(m.protocol, dict), (name, m.metric)


def test_set_metrics_cover_every_set_and_the_copy_of_the_reference_is_perfect(measured):
    by_key = {(m.metric, m.key): m for ms in measured.values() for m in ms}
    for metric in ("fd_pixels", "kid_pixels", "prd_f8_pixels", "precision_pixels", "is_pixels"):
        assert {(metric, "samples/prior"), (metric, "copy_of_test")} <= set(by_key), metric
    assert by_key[("fd_pixels", "copy_of_test")].value == pytest.approx(0.0, abs=1e-6)
    assert by_key[("fd_pixels", "samples/prior")].value > 0.1
    assert by_key[("precision_pixels", "copy_of_test")].value == 1.0
    assert by_key[("prd_f8_pixels", "copy_of_test")].value == pytest.approx(1.0)
    assert by_key[("fd_pixels", "copy_of_test")].protocol["reference"] == "test split (60 examples)"
    assert by_key[("kid_pixels", "samples/prior")].uncertainty is not None
    assert {("diversity", "test"), ("diversity", "test_noised")} <= set(by_key)  # the reference levels


def test_nll_of_a_linear_gaussian_model_equals_the_closed_form(measured):
    """x = z + e, z, e ~ N(0, I): the proposal N(x/2, 1/2) is the exact posterior, so every importance weight is
    p(x) and the estimate is exact for any K."""
    context = _context(np.random.default_rng(0))
    x = context.likelihood.examples.astype(np.float64)
    exact = np.mean(0.5 * np.sum(np.square(x) / 2.0 + math.log(2 * math.pi * 2.0), axis=1))
    (nll,) = measured["nll"]
    assert nll.value == pytest.approx(exact, rel=1e-5)


def test_diversity_of_the_noised_test_set_lies_above_the_test_set():
    """Identical test images have diversity 0; the noised copy (Rosca et al.'s upper reference level) is diverse."""
    context = _context(np.random.default_rng(1), with_latents=False, with_likelihood=False)
    context.images.reference = np.full((40, 32, 32, 1), 0.5, np.float32)
    by_key = {m.key: m.value for m in registry.get("metric", "diversity")().measure(context)}
    assert by_key["test"] == pytest.approx(0.0, abs=1e-5)
    assert by_key["test_noised"] > 0.05


def test_metrics_apply_only_to_what_the_context_has():
    context = _context(np.random.default_rng(1), with_latents=False, with_likelihood=False)
    applicable = {name for name in registry.names("metric") if registry.get("metric", name)().applies_to(context)}
    requirements = {name: registry.get("metric", name).requires for name in registry.names("metric")}
    assert applicable == {name for name, need in requirements.items() if need == metric_lib.IMAGES}
    with pytest.raises(ValueError, match="Unknown metric requirement 'pixels'"):
        context.has("pixels")


def test_sample_spectrum_closed_form():
    # Rows (a, 0), (-a, 0), (0, b), (0, -b): X^T X = diag(2a^2, 2b^2), so s / sqrt(4) = (b, a) / sqrt(2), descending.
    from tfvae.metrics.specs.sample_spectrum import spectrum

    a, b = 3.0, 5.0
    x = np.array([[a, 0], [-a, 0], [0, b], [0, -b]])
    np.testing.assert_allclose(spectrum(x), np.array([b, a]) / math.sqrt(2), rtol=1e-12)


def test_generation_space_metrics_see_the_second_stage_posterior():
    """A first stage whose q(z) is far from N(0, I) (means shrunk to 0.1 std, posterior std 0.6) and a second stage
    whose q(u | z) is N(0, I) whatever z: the latent metrics of "generation/two_stage" find q(u) = N(0, I) (MMD near 0,
    the spectrum of an N(0, I) matrix) and those of "posterior" do not (the two-stage VAE paper's table 3 and figure 2
    in miniature)."""
    rng = np.random.default_rng(3)
    means, log_variances = 0.1 * rng.normal(size=(2000, _LATENT_DIM)), np.full((2000, _LATENT_DIM), -1.0)
    context = _context(rng, with_likelihood=False)
    context.latents = metrics.Latents(
        train_means=means, train_log_variances=log_variances, test_means=means, test_log_variances=log_variances,
        log_prior=context.latents.log_prior, sample_prior=context.latents.sample_prior,
        log_aggregate_posterior=context.latents.log_aggregate_posterior,
        generation_posteriors={"two_stage": lambda z: (np.zeros_like(z), np.zeros_like(z))})
    context.num_latent_samples = 2000
    values = {(m.metric, m.key): m.value for name in ("mmd", "sample_spectrum")
              for m in registry.get("metric", name)().measure(context)}
    assert abs(values[("mmd_rbf", "generation/two_stage")]) < 0.01 < values[("mmd_rbf", "posterior")]
    assert values[("sample_spectrum", "generation/two_stage")] < 0.1 < values[("sample_spectrum", "posterior")]
