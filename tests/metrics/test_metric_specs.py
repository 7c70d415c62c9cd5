"""The metric registry as a contract: every registered spec runs on a small synthetic context, says how it measured,
declares what it needs, and gives the known answer on an input built to have one (closed forms, quadrature, designed
sets); `test_every_metric_is_checked_on_a_known_value` fails for a registered spec without such a check."""
import math

import numpy as np
import pytest
import tensorflow as tf
from scipy import integrate, stats

from tfvae import metrics, registry
from tfvae.density import latent_samplers
from tfvae.metrics import metric as metric_lib

_LATENT_DIM = 3

# metric name -> the test of this module that checks it on an input with a known value (`known_value`); metrics
# checked elsewhere are listed with their test. `test_every_metric_is_checked_on_a_known_value` fails for a
# registered metric that has none.
KNOWN_VALUE_TESTS = {"pockets": "tests/metrics/test_latent_metrics.py::"
                                "test_pockets_metric_measures_the_aggregate_posterior_of_the_training_codes"}


def known_value(*names):
    def mark(test):
        KNOWN_VALUE_TESTS.update({name: test.__name__ for name in names})
        return test
    return mark


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
            description={"likelihood": "gaussian", "prior": "standard"},
            scored_sets={"low_posterior": 3.0 * rng.normal(size=(7, _LATENT_DIM)).astype(np.float32)},
            scored_sets_description="low_posterior: far-out points (test stand-in)")
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


@known_value("fd", "prd")
def test_set_metrics_cover_every_set_and_the_copy_of_the_reference_is_perfect(measured):
    by_key = {(m.metric, m.key): m for ms in measured.values() for m in ms}
    for metric in ("fd_pixels", "kid_pixels", "prd_f8_pixels", "precision_pixels", "is_pixels"):
        assert {(metric, "samples/prior"), (metric, "copy_of_test")} <= set(by_key), metric
    assert by_key[("fd_pixels", "copy_of_test")].value == pytest.approx(0.0, abs=1e-6)
    assert by_key[("fd_pixels", "samples/prior")].value > 0.1
    assert by_key[("precision_pixels", "copy_of_test")].value == 1.0
    assert by_key[("recall_pixels", "copy_of_test")].value == 1.0
    assert by_key[("prd_f8_pixels", "copy_of_test")].value == pytest.approx(1.0)
    assert by_key[("prd_f1/8_pixels", "copy_of_test")].value == pytest.approx(1.0)
    assert by_key[("fd_pixels", "copy_of_test")].protocol["reference"] == "test split (60 examples)"
    assert by_key[("kid_pixels", "samples/prior")].uncertainty is not None
    assert {("diversity", "test"), ("diversity", "test_noised")} <= set(by_key)  # the reference levels


@known_value("nll")
def test_nll_of_a_linear_gaussian_model_equals_the_closed_form(measured):
    """x = z + e, z, e ~ N(0, I): the proposal N(x/2, 1/2) is the exact posterior, so every importance weight is
    p(x) and the estimate is exact for any K, for the test examples and for a scored set of other images alike."""
    context = _context(np.random.default_rng(0))
    by_key = {nll.key: nll for nll in measured["nll"]}
    assert list(by_key) == ["test", "low_posterior"]
    for key, x in (("test", context.likelihood.examples), ("low_posterior",
                                                           context.likelihood.scored_sets["low_posterior"])):
        x = x.astype(np.float64)
        exact = np.mean(0.5 * np.sum(np.square(x) / 2.0 + math.log(2 * math.pi * 2.0), axis=1))
        assert by_key[key].value == pytest.approx(exact, rel=1e-5), key
        assert by_key[key].protocol["num_examples"] == len(x)
    assert by_key["low_posterior"].value > by_key["test"].value + 2  # the far-out points are less likely (9.8 vs 4.6)
    assert by_key["test"].protocol["scored_sets"] == "low_posterior: far-out points (test stand-in)"


@known_value("diversity")
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


# ------------------------------------------------------------------------------------------ known values
def _measure(name, context):
    """{(metric, key): Measurement} of the registered metric `name` on `context`."""
    return {(m.metric, m.key): m for m in registry.get("metric", name)().measure(context)}


def _image_context(sets, reference, validation=None, default_set=None):
    images = metrics.ImageSets(sets=sets, reference=reference, extractors={"pixels": _ProbabilitiesOfPixels()},
                               validation=reference if validation is None else validation,
                               default_set=default_set or next(iter(sets)))
    return metrics.EvaluationContext(images=images, critic_steps=100)


def _log_standard_normal(z):
    return -0.5 * np.sum(np.square(z) + math.log(2 * math.pi), axis=1)


def _gaussian_latents(shift, count, log_variance=0.0, test_means=None):
    """Latents whose every training posterior is N(shift, exp(log_variance) I): the aggregate posterior is exactly
    that Gaussian, which `log_aggregate_posterior` returns in closed form."""
    shift = np.asarray(shift, np.float64)
    means, log_variances = np.tile(shift, (count, 1)), np.full((count, len(shift)), float(log_variance))
    std = math.exp(0.5 * log_variance)
    return metrics.Latents(
        train_means=means, train_log_variances=log_variances,
        test_means=means if test_means is None else test_means,
        test_log_variances=log_variances if test_means is None else None,
        log_prior=_log_standard_normal,
        sample_prior=lambda n, seed: np.random.default_rng(seed).standard_normal((n, len(shift))),
        log_aggregate_posterior=lambda z: np.sum(stats.norm.logpdf(np.asarray(z, np.float64), shift, std), axis=1))


@known_value("fd", "kid")
def test_distances_of_sets_with_known_feature_statistics(rng):
    """FD of a set shifted by c in each of D pixels: the covariances are equal, so FD = ||m_a - m_b||^2 = D c^2.
    KID of two constant sets a and b: every kernel value is fixed, so each subset's unbiased MMD^2 is exactly
    k(a, a) + k(b, b) - 2 k(a, b) with k(x, y) = (x.y / D + 1)^3."""
    reference = rng.uniform(0.0, 0.8, size=(60, 8, 8, 1)).astype(np.float32)
    fd = _measure("fd", _image_context({"shifted": reference + np.float32(0.1)}, reference))
    assert fd[("fd_pixels", "shifted")].value == pytest.approx(64 * 0.1 ** 2, rel=1e-4)
    kid = _measure("kid", _image_context({"grey": np.full((40, 8, 8, 1), 0.2, np.float32)},
                                         np.full((40, 8, 8, 1), 0.7, np.float32)))[("kid_pixels", "grey")]
    kernel = lambda u, v: (u * v * 64 / 64 + 1.0) ** 3  # noqa: E731  (x.y / D for constant vectors)
    assert kid.value == pytest.approx(kernel(0.2, 0.2) + kernel(0.7, 0.7) - 2 * kernel(0.2, 0.7), rel=1e-6)
    assert kid.uncertainty == pytest.approx(0.0, abs=1e-9)  # the same value in every subset


@known_value("precision_recall")
def test_samples_that_cover_half_of_the_data():
    """20 tight, far-apart blobs of data, and samples that repeat the data points of 10 of them: every sample lies
    on a data point (inside its k-NN ball), and the data of the other 10 blobs lie far from every sample's ball:
    precision 1, recall 1/2. (PRD's known values: the copy above, and its curve on these histograms in
    test_sample_metrics.test_prd_curve_of_a_half_covered_distribution.)"""
    rng = np.random.default_rng(4)
    data = np.repeat(rng.uniform(size=(20, 64)), 10, axis=0) + 0.01 * rng.normal(size=(200, 64))
    samples = np.repeat(data[:100], 2, axis=0)
    context = _image_context({"half": samples.reshape(200, 8, 8, 1).astype(np.float32)},
                             data.reshape(200, 8, 8, 1).astype(np.float32))
    measured = _measure("precision_recall", context)
    assert measured[("precision_pixels", "half")].value == 1.0
    assert measured[("recall_pixels", "half")].value == 0.5


@known_value("inception_score")
def test_inception_score_of_evenly_spread_predictions():
    """Images of 4 kinds in turn (kind k: pixel k is 1, the other first pixels 0): p(y|x) = softmax(3 e_k), every
    split of 4 holds each kind once, so p(y) is uniform and the score is exp(sum_y p log(4 p)) in every split."""
    images = np.zeros((40, 8, 8, 1), np.float32)
    images.reshape(40, -1)[np.arange(40), np.arange(40) % 4] = 1.0
    p = np.array([math.exp(3.0), 1.0, 1.0, 1.0]) / (math.exp(3.0) + 3)
    score = _measure("inception_score", _image_context({"kinds": images}, images))[("is_pixels", "kinds")]
    assert score.value == pytest.approx(math.exp(np.sum(p * np.log(4 * p))), rel=1e-9)
    assert score.uncertainty == pytest.approx(0.0, abs=1e-12)
    single = _measure("inception_score", _image_context({"one_kind": images[::4]}, images))
    assert single[("is_pixels", "one_kind")].value == pytest.approx(1.0)  # one prediction everywhere


@known_value("critic")
def test_independent_critic_between_two_point_masses():
    """Data at 0 and samples at c in every one of D pixels: W1 = c sqrt(D) = L. The gradient-penalty critic's optimum
    is not L itself: along the segment it maximizes s L - lambda (s - 1)^2 over its slope s, so s = 1 + L / (2 lambda)
    and the estimate converges to L + L^2 / (2 lambda) = 2.2 for L = 2, lambda = 10 (within 0.04 after 100 steps
    here; it oscillates by about 0.15 around it as Adam runs on)."""
    zeros, samples = np.zeros((32, 8, 8, 1), np.float32), np.full((64, 8, 8, 1), 0.25, np.float32)
    distance = _measure("critic", _image_context({"samples": samples}, zeros))[("critic", "samples")]
    assert distance.value == pytest.approx(2.0 + 2.0 ** 2 / 20, abs=0.2)


@known_value("active_latents", "singular_values")
def test_latent_statistics_of_designed_codes():
    """Test means (a, 0, u), (-a, 0, u), (0, b, -u), (0, -b, -u): centered orthogonal columns, so per-dimension
    variances a^2 / 2, b^2 / 2 and u^2, and singular values sqrt(2) a, sqrt(2) b and 2 u over sqrt(N - 1)."""
    a, b, u = 1.0, 0.1, 0.05
    codes = np.array([[a, 0, u], [-a, 0, u], [0, b, -u], [0, -b, -u]])
    context = metrics.EvaluationContext(latents=_gaussian_latents(np.zeros(3), 4, test_means=codes))
    active = _measure("active_latents", context)[("active_latents", "test")]
    np.testing.assert_allclose(active.extra, [a * a / 2, b * b / 2, u * u], rtol=1e-12)
    assert active.value == 1  # only a^2 / 2 = 0.5 exceeds 0.01
    values = _measure("singular_values", context)
    assert values[("singular_values", "largest")].value == pytest.approx(math.sqrt(2) * a / math.sqrt(3))
    assert values[("singular_values", "smallest")].value == pytest.approx(2 * u / math.sqrt(3))
    np.testing.assert_allclose(values[("singular_values", "largest")].extra,
                               np.array([math.sqrt(2) * a, math.sqrt(2) * b, 2 * u]) / math.sqrt(3), rtol=1e-9)


@known_value("sample_spectrum")
def test_sample_spectrum_of_an_orthogonal_design():
    """Deterministic codes whose matrix has orthogonal columns of norms sqrt(N) sigma_j: the spectrum (singular values
    over sqrt(N)) is sigma exactly, and the distance is the RMS log-ratio to the N(0, I) matrix's spectrum."""
    sigma = np.array([3.0, 1.0, 0.5])
    codes = np.kron(np.array([[1, 1, 1], [1, -1, 1], [1, 1, -1], [1, -1, -1]]) * sigma, np.ones((50, 1)))
    codes[1::2] *= -1  # columns stay orthogonal, now centered as well
    context = metrics.EvaluationContext(latents=_gaussian_latents(np.zeros(3), 4, test_means=codes),
                                        num_latent_samples=200)
    (measurement,) = _measure("sample_spectrum", context).values()
    spectra = measurement.protocol["spectra"]
    np.testing.assert_allclose(spectra["posterior"], sigma, rtol=1e-12)
    reference = np.asarray(spectra["N(0, I)"])
    np.testing.assert_allclose(reference, 1.0, atol=4 / math.sqrt(200) * 2)  # an N(0, I) matrix of 200 x 3
    assert measurement.value == pytest.approx(math.sqrt(np.mean(np.log(sigma / reference) ** 2)), rel=1e-9)


def _imq_expectation(scale_sum, dim, noncentrality, variance):
    """E[sum_s C_s / (C_s + ||w||^2)] for w ~ N(mu, variance I_dim), ||mu||^2 / variance = noncentrality, by
    quadrature over the (noncentral) chi-square law of ||w||^2 / variance."""
    law = stats.ncx2(dim, noncentrality) if noncentrality > 0 else stats.chi2(dim)
    return sum(integrate.quad(lambda t, c=c: c / (c + variance * t) * law.pdf(t), 0, np.inf)[0]
               for c in scale_sum)


@known_value("mmd")
def test_mmd_of_a_shifted_gaussian_aggregate_posterior():
    """q = N(mu, I), p = N(0, I). Gaussian kernel with h^2 = L: E_qq k = (h^2 / (h^2 + 2))^(L/2) = E_pp k,
    E_qp k = (h^2 / (h^2 + 2))^(L/2) exp(-||mu||^2 / (2 (h^2 + 2))). IMQ: x - x' ~ N(0, 2 I) and x - y ~ N(mu, 2 I),
    integrated over the chi-square laws of their norms. Tolerances: 4 standard deviations of the same estimators
    on 10 independent sample sets of the same size."""
    mu, dim, count = np.array([1.0, 0.0]), 2, 500
    context = metrics.EvaluationContext(latents=_gaussian_latents(mu, count), num_latent_samples=count)
    measured = _measure("mmd", context)
    h2 = float(dim)
    same = (h2 / (h2 + 2)) ** (dim / 2)
    rbf = 2 * same - 2 * same * math.exp(-mu @ mu / (2 * (h2 + 2)))
    scales = [2.0 * dim * s for s in (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)]
    imq = 2 * _imq_expectation(scales, dim, 0.0, 2.0) - 2 * _imq_expectation(scales, dim, mu @ mu / 2.0, 2.0)
    spread = {"rbf": [], "imq": []}
    rng = np.random.default_rng(5)
    for _ in range(10):
        x, y = rng.normal(size=(count, dim)) + mu, rng.normal(size=(count, dim))
        for kernel in ("rbf", "imq"):
            spread[kernel].append(_numpy_mmd(x, y, kernel, scales))
    for kernel, exact in (("rbf", rbf), ("imq", imq)):
        assert exact > 0.05
        assert measured[(f"mmd_{kernel}", "posterior")].value == pytest.approx(exact, abs=4 * np.std(spread[kernel]))


def _numpy_mmd(x, y, kernel, scales):
    """The unbiased MMD^2 of two samples (Gretton et al. 2012, eq. 3) in NumPy, for the tolerance above."""
    def k(a, b):
        d = np.sum(a ** 2, 1)[:, None] - 2 * a @ b.T + np.sum(b ** 2, 1)[None, :]
        return np.exp(-d / (2 * a.shape[1])) if kernel == "rbf" else sum(c / (c + d) for c in scales)
    n, m = len(x), len(y)
    kxx, kyy = k(x, x), k(y, y)
    return ((kxx.sum() - np.trace(kxx)) / (n * (n - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
            - 2 * k(x, y).mean())


@known_value("skl")
def test_symmetric_kl_of_a_shifted_gaussian_aggregate_posterior():
    """q = N(mu, I), p = N(0, I): KL[q || p] = KL[p || q] = ||mu||^2 / 2. Each side averages log-ratios that are
    linear in z with variance ||mu||^2 under either law: standard error ||mu|| sqrt(1 / N_p + 1 / N_q)."""
    mu = np.array([1.5, -1.0])
    measurement = _measure("skl", metrics.EvaluationContext(latents=_gaussian_latents(mu, 2000)))[
        ("skl", "prior_vs_posterior")]
    error = math.sqrt(mu @ mu) * math.sqrt(1 / 5000 + 1 / 2000)
    assert measurement.value == pytest.approx(mu @ mu, abs=4 * error)
    assert measurement.protocol["kl_prior_posterior"] == pytest.approx(mu @ mu / 2, abs=4 * error)


@known_value("marginal_kl")
def test_marginal_kl_spec_finds_a_known_divergence_three_ways():
    """Every training posterior N(mu, I): q = N(mu, I) and KL[q || p] = ||mu||^2 / 2 = 2.5 nats. The per-sample
    log-ratio mu.z - ||mu||^2 / 2 has variance ||mu||^2 under q: 4 standard errors of the averages (0.28 nats), plus
    0.15 nats for the density-ratio classifier's own error (measured here: -0.01, -0.13 and -0.20 nats after 100,
    200 and 300 steps)."""
    mu, count = np.array([2.0, 1.0]), 1000
    context = metrics.EvaluationContext(latents=_gaussian_latents(mu, count), num_latent_samples=count,
                                        ratio_steps=100)
    measured = _measure("marginal_kl", context)
    error = math.sqrt(mu @ mu / count)
    assert measured[("marginal_kl", "monte_carlo")].value == pytest.approx(2.5, abs=4 * error)
    assert measured[("marginal_kl", "density_model")].value == pytest.approx(2.5, abs=4 * error)
    assert measured[("marginal_kl", "density_ratio")].value == pytest.approx(2.5, abs=4 * error + 0.15)


def test_marginal_kl_of_a_flow_posterior_includes_the_flows_jacobian():
    """Every training posterior N(mu, s^2 I) goes through the affine flow f(u) = a u + b (a RealNVP posterior whose
    couplings have constant outputs): q(z) = N(a mu + b, diag(a^2 s^2)) exactly, and KL[q || N(0, I)] =
    1/2 sum(v + m^2 - 1 - log v) with m = a mu + b, v = a^2 s^2 (3.14 nats here). log q(z) must include
    -log|det df/du| = -sum log a (0.69 nats: the error of an estimate that drops it) and the draws must be f's.
    Tolerance: 4 standard errors of the per-draw log-ratios (computed from the closed form)."""
    mu, variance, a, b, count = np.array([0.5, -0.3]), 0.25, np.array([2.0, 0.25]), np.array([0.5, 1.0]), 2000
    mean, var = a * mu + b, a * a * variance
    exact = 0.5 * np.sum(var + mean ** 2 - 1.0 - np.log(var))
    assert exact == pytest.approx(3.140, abs=1e-3)
    log_det = float(np.sum(np.log(a)))
    flow = metrics.PosteriorFlow(forward=lambda u: (a * u + b, np.full(len(u), log_det)),
                                 inverse=lambda z: ((z - b) / a, np.full(len(z), log_det)))
    means, log_variances = np.tile(mu, (count, 1)), np.full((count, 2), math.log(variance))
    latents = metrics.Latents(
        train_means=means, train_log_variances=log_variances, test_means=means, test_log_variances=log_variances,
        log_prior=_log_standard_normal,
        sample_prior=lambda n, seed: np.random.default_rng(seed).standard_normal((n, 2)),
        log_aggregate_posterior=lambda z: latent_samplers.aggregate_posterior_log_density(
            z, means, log_variances, flow_inverse=flow.inverse),
        posterior_flow=flow)
    z = np.random.default_rng(4).normal(size=(50, 2)) * 2.0
    log_q = np.sum(stats.norm.logpdf(z, mean, np.sqrt(var)), axis=1)
    np.testing.assert_allclose(latents.log_aggregate_posterior(z), log_q, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(latents.codes("test"), np.tile(mean, (count, 1)), rtol=1e-6)
    draws = latents.posterior_samples("train", count, [0, 15])
    np.testing.assert_allclose(draws.mean(axis=0), mean, atol=4 * np.sqrt(var / count).max())
    assert "posterior flow" in latents.aggregate_posterior_description()

    context = metrics.EvaluationContext(latents=latents, num_latent_samples=count, ratio_steps=100)
    measured = _measure("marginal_kl", context)
    log_ratio = np.sum(stats.norm.logpdf(draws, mean, np.sqrt(var)), axis=1) - _log_standard_normal(draws)
    error = float(np.std(log_ratio) / math.sqrt(count))
    assert 4 * error < abs(log_det) / 2  # the tolerance would see a dropped Jacobian term
    assert measured[("marginal_kl", "monte_carlo")].value == pytest.approx(exact, abs=4 * error)
    assert measured[("marginal_kl", "density_model")].value == pytest.approx(exact, abs=4 * error + 0.05)
    assert "posterior flow" in measured[("marginal_kl", "monte_carlo")].protocol["aggregate_posterior"]


@known_value("leakage")
def test_leakage_of_a_wide_gaussian_aggregate_posterior():
    """q = N(0, s^2 I_L), p = N(0, I_L): log q - log p = -L log s + ||z||^2 (1 - 1/s^2) / 2, and log p(z) < tau
    where ||z||^2 > r^2 = -2 tau - L log 2 pi. With ||z||^2 / s^2 ~ chi2(L) under q, and E[X 1{X > t}] = L P[chi2(L + 2)
    > t] for X ~ chi2(L): LS(tau) = -L log s P[chi2(L) > t] + (s^2 - 1) L / 2 P[chi2(L + 2) > t], t = r^2 / s^2."""
    s, dim, count = 1.5, 2, 4000
    context = metrics.EvaluationContext(latents=_gaussian_latents(np.zeros(dim), count, 2 * math.log(s)),
                                        num_latent_samples=count)
    measured = sorted(_measure("leakage", context).values(), key=lambda m: float(m.key.split("_")[-1]))
    thresholds = measured[0].extra["thresholds"]
    assert len(thresholds) == len(measured) == 7
    z = np.random.default_rng(9).normal(size=(100000, dim)) * s  # the per-sample terms' spread, for tolerances
    for tau, measurement in zip(thresholds, measured):
        t = (-2 * tau - dim * math.log(2 * math.pi)) / s ** 2
        exact = (-dim * math.log(s) * stats.chi2(dim).sf(t) + (s ** 2 - 1) * dim / 2 * stats.chi2(dim + 2).sf(t))
        terms = np.where(_log_standard_normal(z) < tau,
                         -dim * math.log(s) + 0.5 * np.sum(z ** 2, 1) * (1 - 1 / s ** 2), 0.0)
        assert measurement.value == pytest.approx(exact, abs=4 * terms.std() / math.sqrt(count) + 1e-9)
    assert measured[-1].value > 0.3  # half the prior's mass: a real leak


def test_every_metric_is_checked_on_a_known_value():
    missing = set(registry.names("metric")) - set(KNOWN_VALUE_TESTS)
    assert not missing, f"Registered metrics without a known-value test in {__name__}: {sorted(missing)}"
    for name, test in KNOWN_VALUE_TESTS.items():
        module, _, function = test.rpartition("::")
        if module:  # a test of another module
            import importlib

            assert hasattr(importlib.import_module(module[:-3].replace("/", ".")), function), (name, test)
        else:
            assert function in globals(), (name, test)
