"""The jobs behind the binaries: train (the main job), fit ex-post densities, export, write a sample grid.

Each job reads and writes one workdir (its layout: docs/training.md, "The workdir").
"""
import dataclasses
import json
import os
import time

import numpy as np
import tensorflow as tf
from absl import logging

from tfvae import checkpoints, data, files, fingerprints, models, registry, training
from tfvae import images as image_utils
from tfvae import workdir as workdirs
from tfvae.density import DensityEstimator, PriorSampler
from tfvae.export import saved_model
from tfvae.models import Autoencoder
from tfvae.training.trainer import HISTORY_FILE
from trainers.config import TrainConfig, read_config, write_config

SAMPLES_FILE = "samples.png"
# WORKDIR/DENSITY_CHECKPOINTS/NAME: the checkpoints of a density fit in progress, removed once the density is saved.
DENSITY_CHECKPOINTS = "density-checkpoints"
_GRID_SEEDS = 64


@dataclasses.dataclass(frozen=True)
class Run:
    """One run's resolved configuration, data splits and strategy, built once by `prepare_run`."""

    config: TrainConfig
    splits: data.DataSplits
    strategy: tf.distribute.Strategy
    is_chief: bool


def prepare_run(config):
    """Validates `config`, builds the strategy, loads the data and resolves the data-dependent defaults.

    The strategy comes first: a multi-worker strategy configures TensorFlow's collective ops, which must happen
    before any TensorFlow op runs, and loading a streamed data set runs ops (its checking pass)."""
    config.validate()
    strategy = training.make_strategy(config.strategy, tpu=config.tpu)
    splits = load_data(config)
    return Run(config.resolve(splits), splits, strategy, training.is_chief(strategy))


def run_main_job(config, restart=False, callbacks=None):
    """Trains, fits the ex-post densities, exports the SavedModel and writes samples.png, holding the workdir for
    the whole job on the chief (`tfvae.workdir.job`: one writer, clean errors on a full or read-only disk).

    Args:
        config: TrainConfig.
        restart: bool. Move the workdir's previous run aside first (`tfvae.workdir.restart`) and train from scratch.
        callbacks: list of keras.callbacks.Callback or None. Attached to the training (`tfvae.training.Trainer`).

    Returns:
        dict with the training history, density fit reports, export path and sample grid path.
    """
    run = prepare_run(config)
    config = run.config
    with workdirs.job(config.workdir, lock=run.is_chief):
        trainer, model, result = _train_and_fit(run, restart, callbacks)
        if not run.is_chief:
            return result
        export_path = export(config.workdir, model=model, config=config)
        grid_path = write_sample_grid(export_path, os.path.join(config.workdir, SAMPLES_FILE), run.splits.is_image,
                                      seed=config.seed)
    logging.info("Main job done: export %s, samples %s", export_path, grid_path)
    return {**result, "export": export_path, "samples": grid_path}


def train_and_fit_densities(config, restart=False, callbacks=None):
    """The main job's first half: trains (or resumes) the model and fits its ex-post densities on the chief, which
    holds the workdir meanwhile (workers of a multi-worker run write only their own checkpoint folders).

    Returns:
        (trainer, the trained model (in float32 on the chief: `float32_model`), data splits, resolved config,
         {"history": ..., "densities": fit reports (chief only)}).
    """
    run = prepare_run(config)
    with workdirs.job(run.config.workdir, lock=run.is_chief):
        trainer, model, result = _train_and_fit(run, restart, callbacks)
    return trainer, model, run.splits, run.config, result


def _train_and_fit(run, restart, callbacks=None):
    config, splits = run.config, run.splits
    if restart and run.is_chief:
        workdirs.restart(config.workdir)
    write_config(config)
    trainer = training.Trainer(
        lambda: models.build(config.model, splits.element_shape, **config.model_arguments(splits)),
        splits, config.workdir, strategy=run.strategy, epochs=config.epochs, batch_size=config.batch_size,
        learning_rate=config.learning_rate, seed=config.seed, patience=config.patience,
        halve_every_epochs=config.halve_every_epochs,
        steps_per_execution=config.steps_per_execution, jit_compile=config.jit_compile,
        mixed_precision=config.mixed_precision, callbacks=callbacks)
    result = {"history": trainer.fit()}
    model = trainer.model
    if trainer.is_chief:  # only the chief fits densities and exports: the others need no float32 rebuild
        model = float32_model(model, config, splits)
        result["densities"] = fit_densities(config.workdir, config.densities, components=config.components,
                                            model=model, splits=splits)
    return trainer, model, result


def float32_model(model, config, splits):
    """`model` if it computes in float32, else its float32 twin with the same weights (mixed policies keep float32
    variables), built from the run's configuration in memory. Ex-post densities and exports use it, so that the
    latents they fit and the SavedModel's endpoints do not depend on the training policy."""
    if model.mixed_precision == "float32":
        return model
    twin = models.build(config.model, splits.element_shape, mixed_precision="float32",
                        **config.model_arguments(splits))
    twin.set_weights(model.get_weights())
    return twin


def load_data(config):
    """The run's data splits, with the training and validation splits cut to `max_train_examples` and
    `max_validation_examples` when set (the test split is never cut; a streamed split is cut to its first examples,
    `StreamedSplit.take`), and streamed splits cached as `config.cache` says."""
    splits = data.load(config.dataset, data_dir=config.data_dir, pad_to=config.pad_to, resize_to=config.resize_to,
                       download=config.download, cache=config.cache)
    for split, limit in (("train", config.max_train_examples), ("validation", config.max_validation_examples)):
        if limit:
            splits = splits.take(split, limit)
    return splits


def load_run(workdir, checkpoint=None):
    """Rebuilds the config, data and model of a workdir, with the weights of its latest (or given) checkpoint."""
    config = read_config(workdir)
    splits = load_data(config)
    model = models.build(config.model, splits.element_shape, mixed_precision="float32",
                         **config.model_arguments(splits))
    checkpoint = checkpoint or checkpoints.newest_readable(os.path.join(workdir, "checkpoints"))
    if checkpoint is None:
        raise FileNotFoundError(f"No checkpoint in {workdir}/checkpoints; train first. Received: workdir={workdir!r}")
    training.restore_weights(model, checkpoint)  # the optimizer state in the checkpoint is skipped on purpose
    return config, splits, model


def read_history(workdir):
    """The per-epoch records of the workdir's training (WORKDIR/logs/history.jsonl, one JSON object per epoch, in
    epoch order: loss terms, learning rate, the model's `state/` values), or [] before the first epoch."""
    path = os.path.join(workdir, "logs", HISTORY_FILE)
    if not tf.io.gfile.exists(path):
        return []
    return [json.loads(line) for line in files.read_text(path).splitlines() if line.strip()]


def encode_split(model, splits, split, batch_size=500, encode=None):
    """Encodes a whole split batch by batch with `model.encode_posterior` (a streamed split is read once, never held):
    (means [N, L], log-variances [N, L] or None) as NumPy arrays, in the space the decoder reads.

    `encode`: another callable x -> (means, log-variances or None), e.g. a VAE's `posterior_parameters` for the
    Gaussian before its posterior flow."""
    encode = tf.function(encode or model.encode_posterior, autograph=False)
    means, log_variances = [], []
    for batch in splits.float_batches(split, batch_size):
        mean, log_variance = encode(tf.constant(batch))
        means.append(mean.numpy())
        if log_variance is not None:
            log_variances.append(log_variance.numpy())
    return np.concatenate(means), (np.concatenate(log_variances) if log_variances else None)


def make_density(name, model, components=10):
    """The estimator `name` with this run's settings and the model's own (the two-stage VAE's second stage)."""
    arguments = {"gmm": {"num_components": components}, **model.ex_post_density_arguments()}
    return registry.get("density", name)(**arguments.get(name, {}))


@workdirs.holding
def fit_densities(workdir, names, components=10, model=None, splits=None, latents="mean", seed=0):
    """Fits each named ex-post density on the training latents, validates it, saves it to WORKDIR/density/NAME.

    `latents` chooses the training latents of a VAE: "mean" (posterior means, the RAE protocol) or "sample" (one
    posterior sample z = mu + sigma * eps per example). Deterministic encoders have means only. The second stage
    of the two-stage VAE always draws fresh posterior samples every epoch.

    Returns:
        dict name -> fit report (fit seconds, train / validation mean log-likelihood).
    """
    if model is None:
        config, splits, model = load_run(workdir)
        del config
    if latents not in ("mean", "sample"):
        raise ValueError(f"latents must be 'mean' or 'sample'. Received: {latents!r}")
    if not isinstance(model, Autoencoder):
        logging.info("%s has no encoder: no ex-post density to fit; it samples from its prior.", type(model).__name__)
        return {}
    train_means, train_log_variances = encode_split(model, splits, "train")
    validation_latents, _ = encode_split(model, splits, "validation")
    latents_fingerprint = fingerprints.of_arrays(
        (name, value) for name, value in (("train_means", train_means), ("validation", validation_latents),
                                          ("train_log_variances", train_log_variances)) if value is not None)
    reports = {}
    for name in names:
        directory = os.path.join(workdir, "density", name)
        inputs = {"latents_sha256": latents_fingerprint, "components": components, "latents": latents, "seed": seed}
        reused = _fit_on(directory, inputs)
        if reused is not None:  # a re-run of a finished job, or a restart after a kill during a later fit
            logging.info("%s is already fitted on these latents with these settings; kept.", name)
            reports[name] = reused
            continue
        estimator = make_density(name, model, components)
        # Epoch-trained densities (the two-stage VAE's second stage) checkpoint here: a fit killed midway resumes.
        # Outside WORKDIR/density, whose every folder is a fitted density for `load_samplers`.
        checkpoint_dir = os.path.join(workdir, DENSITY_CHECKPOINTS, name)
        started = time.perf_counter()
        report = estimator.fit(train_means, validation_latents, posterior_log_variances=train_log_variances,
                               use_posterior_samples=latents == "sample", seed=seed, checkpoint_dir=checkpoint_dir)
        report["fit_seconds"] = time.perf_counter() - started
        report["inputs"] = inputs
        estimator.fit_info = report
        estimator.save(directory)
        _remove_density_checkpoint(workdir, name)
        logging.info("Fitted %s in %.2fs: train log-likelihood %.3f, validation %.3f", name, report["fit_seconds"],
                     report["train_log_likelihood"], report.get("validation_log_likelihood", float("nan")))
        reports[name] = report
    return reports


def _remove_density_checkpoint(workdir, name):
    """Removes a saved density's fit checkpoint, and the checkpoints' folder once it is empty."""
    folder = os.path.join(workdir, DENSITY_CHECKPOINTS)
    files.remove_tree(os.path.join(folder, name), ignore_errors=True)
    if tf.io.gfile.isdir(folder) and not files.listdir(folder):  # another density's checkpoint may still be there
        files.remove_tree(folder, ignore_errors=True)


def _fit_on(directory, inputs):
    """The fit report of the density saved in `directory` when it was fitted on exactly `inputs` (latents
    fingerprint and settings) and its files are whole; else None."""
    if not DensityEstimator.is_saved(directory):
        return None
    try:
        fit_info = DensityEstimator.load(directory).fit_info
    except (OSError, tf.errors.OpError, ValueError) as error:  # a half-written or foreign pair: refit it
        logging.info("Refitting the density in %s: %s", directory, error)
        return None
    return fit_info if fit_info.get("inputs") == inputs else None


def load_samplers(workdir, model, names=None):
    """The prior sampler plus every density fitted in WORKDIR/density (or only `names`)."""
    samplers = {"prior": PriorSampler(model.prior)}
    density_dir = os.path.join(workdir, "density")
    available = workdirs.fitted_densities(workdir)
    for name in names or available:
        if name == "prior":
            continue
        if name not in available:
            raise ValueError(f"Sampler {name!r} is not fitted in {density_dir}; fitted: {available}. Run "
                             f"`python -m trainers.fit_density --workdir={workdir} --density={name}`. "
                             f"Received: {name!r}")
        samplers[name] = DensityEstimator.load(os.path.join(density_dir, name))
    return samplers


@workdirs.holding
def export(workdir, export_base=None, samplers=None, checkpoint=None, model=None, config=None):
    """Exports the workdir's model with its samplers to EXPORT_BASE/MODEL/VERSION; returns the version path.

    The main job hands down its trained `model` and resolved `config`; the export binary reads them from the
    workdir (its latest readable checkpoint, or `checkpoint`)."""
    if model is None:
        config, _, model = load_run(workdir, checkpoint)
    elif config is None:
        config = read_config(workdir)
    bundled = load_samplers(workdir, model, samplers)
    default = config.default_sampler if config.default_sampler in bundled else "prior"
    metadata = {"dataset": config.dataset, "training_config": json.loads(config.to_json())}
    report = os.path.join(workdir, "eval", "report.json")
    if tf.io.gfile.exists(report):
        metadata["metrics"] = json.loads(files.read_text(report)).get("metrics", {})
    path = saved_model.export_saved_model(model, bundled, default, export_base or config.export_base, config.model,
                                          metadata=metadata)
    logging.info("Exported %s with samplers %s (default %s)", path, sorted(bundled), default)
    return path


def write_sample_grid(export_path, output_path, is_image=True, seed=0):
    """Samples from the exported SavedModel's default endpoint and writes a PNG grid (a scatter plot for points)."""
    loaded = tf.saved_model.load(export_path)
    count = _GRID_SEEDS if is_image else 1000
    seeds = tf.stack([tf.fill([count], seed), tf.range(count)], axis=1)
    return image_utils.write_picture(output_path, loaded.signatures["sample"](seed=tf.cast(seeds, tf.int32))["images"])
