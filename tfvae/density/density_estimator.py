"""The interface shared by every ex-post density estimator over latents."""
import dataclasses
import datetime
import io
import json
import os
import sys
import time
from typing import Optional

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from tfvae import checkpoints, files, fingerprints, registry
from tfvae.files import atomic_write

_PARAMS_FILE = "params.npz"
_CONFIG_FILE = "config.json"
# Seconds between the progress lines of an estimator trained by epochs (`DensityEstimator.epoch_progress`).
PROGRESS_SECONDS = 15.0
# Seconds between the checkpoints of an estimator trained by epochs (`EpochCheckpoint`), when `fit` is given a
# checkpoint folder.
CHECKPOINT_SECONDS = 60.0
_CHECKPOINT_MARKER = "fit.json"
# Checkpoints an epoch-trained fit keeps: the newest and one to fall back to when the newest is damaged.
_KEEP = 2
# Latents per call when a fit reports its mean log-likelihoods: a mixture's log_prob holds [rows, components, L]
# intermediates, so all rows at once cost memory in proportion to the data set (10 components on 150k x 16 latents:
# about 100 MB each, a few hundred MB in all).
_LOG_PROB_ROWS = 8192


@dataclasses.dataclass(frozen=True)
class FitData:
    """What one call of `DensityEstimator.fit` trains on, handed to the `_fit` hook and never kept afterwards.

    The arrays are float64 read-only copies, validated by `fit` (matrices of one width, finite).

    Args:
        latents: np.ndarray [N, L]. The fixed training set: the posterior means (the codes of a deterministic
            encoder), or one posterior sample per example when `fit(use_posterior_samples=True)` got log-variances.
        validation_latents: np.ndarray [M, L] or None. Held-out posterior means, e.g. for keeping the best epoch.
        posterior_means: np.ndarray [N, L]. The posterior means mu_n as given to `fit`.
        posterior_log_variances: np.ndarray [N, L] or None. log sigma_n^2 of each training posterior; None for a
            deterministic encoder.
        seed: int. Seed of the posterior samples drawn from the means and log-variances.
        checkpoint_dir: str or None. Where an estimator trained by epochs keeps its progress (`EpochCheckpoint`).
    """

    latents: np.ndarray
    validation_latents: Optional[np.ndarray]
    posterior_means: np.ndarray
    posterior_log_variances: Optional[np.ndarray]
    seed: int
    checkpoint_dir: Optional[str] = None

    @property
    def latent_dim(self):
        """L, the width of the latents."""
        return int(self.latents.shape[1])

    def fingerprint(self):
        """SHA-256 (hex) of everything the fit trains on: equal fingerprints, equal fits."""
        arrays = [("latents", self.latents), ("posterior_means", self.posterior_means)]
        arrays += [(name, value) for name, value in (("validation_latents", self.validation_latents),
                                                     ("posterior_log_variances", self.posterior_log_variances))
                   if value is not None]
        return fingerprints.of_json({"arrays": fingerprints.of_arrays(arrays), "seed": self.seed})

    def epoch_latents(self, epoch):
        """The training set of `epoch` for estimators that draw new posterior samples every epoch.

        Math:
            z_n = mu_n + sigma_n * eps_n,  eps_n ~ N(0, I) from a numpy generator seeded by [seed, epoch]

        Args:
            epoch: int. The epoch index; each epoch gets its own noise.

        Returns:
            np.ndarray [N, L] float64: fresh posterior samples when log-variances are given, else `latents`.
        """
        if self.posterior_log_variances is None:
            return self.latents
        noise = np.random.default_rng([self.seed, int(epoch)]).standard_normal(self.posterior_means.shape)
        return self.posterior_means + np.exp(0.5 * self.posterior_log_variances) * noise


class EpochProgress:
    """Shows an epoch-trained fit's progress (a second-stage VAE on 60,000 latents trains for hours on a CPU): Keras'
    progress bar over the epochs when stdout is a terminal, else a log line with epoch, loss and an ETA at most
    every `PROGRESS_SECONDS`."""

    def __init__(self, name, epochs, first_epoch=0, progress_bar=None):
        self.name, self.epochs, self.first_epoch = name, int(epochs), int(first_epoch)
        self.started = self.last_report = time.perf_counter()
        self.bar = None
        if sys.stdout.isatty() if progress_bar is None else progress_bar:
            print(f"{name} density")
            self.bar = keras.utils.Progbar(self.epochs, unit_name="epoch", stateful_metrics=["loss"])
            self.bar.update(self.first_epoch)

    def epoch_done(self, epoch, loss):
        """Call after epoch `epoch` (0-based) with its mean training loss."""
        if self.bar is not None:
            self.bar.update(epoch + 1, values=[("loss", loss)])
            return
        now = time.perf_counter()
        if now - self.last_report < PROGRESS_SECONDS:
            return
        self.last_report = now
        remaining = (now - self.started) / (epoch + 1 - self.first_epoch) * (self.epochs - epoch - 1)
        logging.info("%s density: epoch %d/%d  loss %.4f  eta %s", self.name, epoch + 1, self.epochs, loss,
                     str(datetime.timedelta(seconds=round(remaining))))


class EpochCheckpoint:
    """Keeps an epoch-trained fit resumable: its state (`trackables`: networks, optimizer) and the number of epochs
    done, saved into `data.checkpoint_dir` at most every `CHECKPOINT_SECONDS` and after the last epoch.

    `restore` resumes from a checkpoint of the same fit (the estimator's class and settings and the data's
    fingerprint, recorded in the folder's fit.json) and discards any other, so a fit killed midway and started
    again on the same inputs continues where it stopped and ends with the weights of an uninterrupted fit. Epoch
    e's data and shuffling are functions of e alone, so nothing else needs saving. With no checkpoint folder it
    only counts epochs and keeps the last loss: nothing is read or written.
    """

    def __init__(self, estimator, data, **trackables):
        self.directory = data.checkpoint_dir
        # As JSON gives it back (tuples become lists), to compare with the folder's fit.json.
        self.identity = json.loads(json.dumps({"class": type(estimator).__name__, "config": estimator.get_config(),
                                               "data": data.fingerprint()}))
        self.epochs_done = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.last_loss = tf.Variable(float("nan"), dtype=tf.float32, trainable=False)
        self.last_save = time.perf_counter()
        if self.directory is not None:
            self.checkpoint = tf.train.Checkpoint(epochs_done=self.epochs_done, last_loss=self.last_loss,
                                                  **trackables)
            self.manager = None  # built by `restore`, once the index is known to be sound

    def restore(self):
        """Returns the number of epochs already done (0 for a new fit).

        A checkpoint of the same fit is found by its files even when the index is damaged, and a damaged newest one
        is skipped for the one before it (`tfvae.checkpoints.restore_newest_readable`); checkpoint files of the same
        fit none of which can be read stop the fit with `CheckpointsUnreadable` instead of restarting it."""
        if self.directory is None:
            return 0
        marker = os.path.join(self.directory, _CHECKPOINT_MARKER)
        if self._same_fit(marker):
            restored = checkpoints.restore_newest_readable(self.directory, self._restore_checkpoint,
                                                           what=f"{self.identity['class']} density fit")
            if restored is not None:
                self.manager = tf.train.CheckpointManager(self.checkpoint, self.directory, max_to_keep=_KEEP)
                logging.info("%s: resumed from %s after %d epochs.", self.identity["class"], restored,
                             int(self.epochs_done.numpy()))
                return int(self.epochs_done.numpy())
        else:  # another fit's (other latents or settings), or one cut before its first checkpoint
            files.remove_tree(self.directory)
        atomic_write(marker, json.dumps(self.identity, indent=2))
        self.manager = tf.train.CheckpointManager(self.checkpoint, self.directory, max_to_keep=_KEEP)
        return 0

    def _same_fit(self, marker):
        """Whether the folder's fit.json names this fit; a damaged fit.json moves the folder aside (kept, not
        trusted) and counts as another fit's."""
        if not tf.io.gfile.exists(marker):
            return False
        try:
            return json.loads(files.read_text(marker)) == self.identity
        except (OSError, tf.errors.OpError, ValueError) as error:
            aside = f"{self.directory}.damaged-{int(time.time())}"
            files.move(self.directory, aside)
            logging.warning("%s is damaged (%s): its checkpoints moved to %s; the fit starts again.", marker, error,
                            aside)
            return False

    def _restore_checkpoint(self, prefix):
        try:
            self.checkpoint.restore(prefix).assert_existing_objects_matched()
        except (AssertionError, ValueError) as error:
            raise checkpoints.CheckpointMismatch(f"{prefix} does not hold this fit's variables: {error}") from error

    def epoch_done(self, epochs_done, loss, last=False):
        """Records that `epochs_done` epochs are trained and the last one's loss; saves when due or `last`."""
        self.epochs_done.assign(epochs_done)
        self.last_loss.assign(loss)
        now = time.perf_counter()
        if self.directory is None or (not last and now - self.last_save < CHECKPOINT_SECONDS):
            return
        self.manager.save(checkpoint_number=epochs_done)
        self.last_save = now


class DensityEstimator(tf.Module):
    """A density q(z) fitted to latent codes after training, used as a sampler (RAE paper, section 4).

    Subclasses implement three hooks and inherit everything else (validation log-likelihood, stateless sampling,
    per-row seeded sampling for servable endpoints, saving as weights plus JSON, never pickled):

    - `_fit(data)`: returns (parameters: dict name -> float array, info: dict of JSON values) fitted to the
      `FitData` `data` (fixed training latents, validation latents, posterior means and log-variances, and
      `data.epoch_latents(epoch)` for estimators that resample the posteriors every epoch). It must not keep `data`.
    - `distribution()`: a TFP distribution built from the parameter variables on each call (so assignments and
      gradients flow), or overrides of `log_prob`, `sample` and `sample_from_seeds`.
    - `get_config()`: the constructor's arguments, as JSON values.

    Estimators with networks also override `_build(latent_dim)`, which creates the networks before `_fit` and before
    `set_params` restores saved weights, and `set_params`, which puts the arrays into the networks. Estimators
    trained by epochs report their progress through `epoch_progress` (a log line every `PROGRESS_SECONDS`).

    The registered name (`tfvae.registry`) is what config.json records, and `latent_dim` is stored at fit and load
    time, so every fitted estimator knows it.

    Class attributes:
        fitted_to_latents: bool. False for samplers that wrap a model's prior: they are neither fitted nor saved.
        resamples_posterior_every_epoch: bool. True for estimators whose `_fit` trains on
            `data.epoch_latents(epoch)`: given log-variances, they always train on fresh posterior samples.
        has_generation_encoder: bool. True for estimators that encode latents z into a generation space of their
            own, u ~ q(u | z) with a standard normal prior p(u) (the second stage of the two-stage VAE): they
            implement `generation_posterior`, which the latent metrics use to compare q(u) with N(0, I).

    Args:
        seed: int. Seed of the estimator's initialization and shuffling. Defaults to 0.

    References:
        Ghosh, Sajjadi, Vergari, Black and Schoelkopf 2020, "From Variational to Deterministic Autoencoders",
        arXiv:1903.12436 (ex-post density estimation, section 4).
    """

    fitted_to_latents = True
    resamples_posterior_every_epoch = False
    has_generation_encoder = False
    # log_prob of row b depends on row b only and traces into a SavedModel (the `score` endpoint bundles it).
    row_wise_log_prob = True

    def __init__(self, seed=0):
        super().__init__()
        self.seed = int(seed)
        self.params = {}
        self._latent_dim = None
        # Kept as JSON text: tf.Module would otherwise track a plain dict and refuse to export it once it changes.
        self._fit_info_json = "{}"

    @property
    def fit_info(self):
        """What the last fit reported (sizes, log-likelihoods, timings, convergence)."""
        return json.loads(self._fit_info_json)

    @fit_info.setter
    def fit_info(self, value):
        # tf.Module's __setattr__ hands the setter a tracking wrapper of the dict; `default=dict` unwraps it.
        self._fit_info_json = json.dumps(value, default=dict)

    # ---------------------------------------------------------------------------------------- to implement
    def _fit(self, data):
        """Returns (parameters: dict name -> array, info: dict of JSON values) fitted to `data` (a `FitData`)."""
        raise NotImplementedError(f"{type(self).__name__} must implement _fit(data) to be fitted to latents. "
                                  f"Received: data with latents of shape {data.latents.shape}")

    def _build(self, latent_dim):
        """Creates the estimator's networks for `latent_dim` (before `_fit`, and before `set_params` on load).

        Estimators whose parameters are plain arrays have nothing to build.
        """
        del latent_dim

    def distribution(self):
        """Returns the TFP distribution of the fitted parameters (estimators without one override the methods
        that use it: log_prob, sample, sample_from_seeds)."""
        raise TypeError(f"{type(self).__name__} has no closed-form TFP distribution; use its log_prob and sample "
                        f"methods. Received: {type(self).__name__}.distribution()")

    def get_config(self):
        return {"seed": self.seed}

    def generation_posterior(self, z):
        """(means [N, U], log-variances [N, U]) of q(u | z) in the estimator's generation space, as NumPy arrays;
        only for estimators with `has_generation_encoder`."""
        raise TypeError(f"{type(self).__name__} has no generation space of its own (has_generation_encoder is "
                        f"False). Received: latents of shape {np.shape(z)}")

    # ------------------------------------------------------------------------------------------- shared
    def epoch_progress(self, epochs, first_epoch=0):
        """An `EpochProgress` for a `_fit` that trains epochs `first_epoch`..`epochs - 1` (it may resume), named
        after the registered estimator."""
        return EpochProgress(registry.name_of("density", type(self)), epochs, first_epoch)

    @property
    def is_fitted(self):
        return self._latent_dim is not None

    @property
    def latent_dim(self):
        """L, the dimension of the latents the estimator was fitted to (stored by `fit` and `load`)."""
        self._check_fitted()
        return self._latent_dim

    def fit(self, latents, validation_latents=None, *, posterior_log_variances=None, use_posterior_samples=False,
            seed=0, checkpoint_dir=None):
        """Fits the density to the training set's posteriors; reports the mean log-likelihoods.

        Math:
            one posterior sample per example:  z_n = mu_n + sigma_n * eps_n,  eps ~ N(0, I) (numpy, seeded by seed)

        Args:
            latents: array [N, L]. The posterior means mu_n of the training examples (the codes of a deterministic
                encoder).
            validation_latents: array [M, L] or None. Posterior means of held-out examples, for the validation
                log-likelihood (and the best epoch of estimators trained by epochs). Defaults to None.
            posterior_log_variances: array [N, L] or None. log sigma_n^2 of each training posterior; None for a
                deterministic encoder. Defaults to None.
            use_posterior_samples: bool. With log-variances, fit one posterior sample per example instead of the
                means. Estimators with `resamples_posterior_every_epoch` (the two-stage VAE's second stage) train on
                fresh posterior samples every epoch whenever log-variances are given, whatever this flag.
                Defaults to False.
            seed: int. Seed of the posterior samples. Defaults to 0.
            checkpoint_dir: str or None. A folder where estimators trained by epochs (the two-stage VAE's second
                stage) keep checkpoints: a fit killed midway and called again with the same folder, inputs and
                settings resumes from its last one (`EpochCheckpoint`). The caller removes the folder once the
                fitted estimator is saved. Defaults to None (no checkpoints).

        Returns:
            dict with `latents` (what was fitted: "posterior means", "one posterior sample per example" or "fresh
            posterior samples every epoch"), `num_train`, `train_log_likelihood` (mean nats per latent vector of
            the fixed training set) and, with validation latents, `num_validation` and `validation_log_likelihood`
            (a validation value far below the training one means overfitting), plus the estimator's own entries.
        """
        if not self.fitted_to_latents:
            raise ValueError(f"{type(self).__name__} samples from a model's prior and is not fitted to latents; fit a "
                             f"density such as 'gmm' instead. Received: latents of shape {np.shape(latents)}")
        means = _check_latents(latents, "latents")
        validation = (None if validation_latents is None
                      else _check_latents(validation_latents, "validation_latents", means.shape[1]))
        log_variances = None
        if posterior_log_variances is not None:
            log_variances = _check_latents(posterior_log_variances, "posterior_log_variances")
            if log_variances.shape != means.shape:
                raise ValueError(f"posterior_log_variances must have the latents' shape {means.shape}. "
                                 f"Received: {log_variances.shape}")
        fitted, description = means, "posterior means"
        if log_variances is not None and self.resamples_posterior_every_epoch:
            description = "fresh posterior samples every epoch"
        elif log_variances is not None and use_posterior_samples:
            noise = np.random.default_rng(seed).standard_normal(means.shape)
            fitted = _read_only(means + np.exp(0.5 * log_variances) * noise)
            description = "one posterior sample per example"
        data = FitData(latents=fitted, validation_latents=validation, posterior_means=means,
                       posterior_log_variances=log_variances, seed=int(seed), checkpoint_dir=checkpoint_dir)
        # A failed refit leaves an unfitted estimator, not old parameters next to half-trained networks.
        self.params, self._latent_dim = {}, None
        self._build(data.latent_dim)
        params, info = self._fit(data)
        self.set_params(params)
        self._latent_dim = data.latent_dim
        info = {**info, "latents": description, "num_train": int(len(fitted)),
                "train_log_likelihood": self._mean_log_prob(fitted)}
        if validation is not None:
            info["num_validation"] = int(len(validation))
            info["validation_log_likelihood"] = self._mean_log_prob(validation)
        self.fit_info = info
        return info

    def fingerprint(self):
        """SHA-256 (hex) of the estimator's class, settings and fitted parameters: equal fingerprints sample alike."""
        return fingerprints.of_json({"class": type(self).__name__, "config": self.get_config(),
                                     "params": fingerprints.of_arrays(
                                         (name, self.params[name].numpy()) for name in sorted(self.params))})

    def _mean_log_prob(self, z):
        """Mean of log q(z) over the rows of z, computed `_LOG_PROB_ROWS` rows at a time (flat memory)."""
        return float(np.mean(np.concatenate([self.log_prob(z[start:start + _LOG_PROB_ROWS]).numpy()
                                             for start in range(0, len(z), _LOG_PROB_ROWS)])))

    def log_prob(self, z):
        """Returns log q(z), shape [N]."""
        self._check_fitted()
        return self.distribution().log_prob(tf.convert_to_tensor(z, tf.float32))

    def sample(self, num_samples, seed):
        """Draws `num_samples` latents; the same `seed` (int pair) gives the same latents in any process."""
        self._check_fitted()
        return self.distribution().sample(num_samples, seed=tf.convert_to_tensor(seed, tf.int32))

    def sample_from_seeds(self, seeds):
        """Draws one latent per row of `seeds` [B, 2] int32; row b depends on seeds[b] only.

        This is the servable form: TF Serving may batch rows of different requests together, and each request
        still gets the samples its seed determines. This generic form loops over rows with the TFP distribution's
        sampler; the estimators of tfvae override it with a vectorized form on `tfvae.rowwise_random` (the loop
        cost 20-30% of a `sample` endpoint's time).
        """
        self._check_fitted()
        distribution = self.distribution()
        # sample(1)[0], not sample(): flows run Keras layers, which need a batch dimension.
        return tf.map_fn(lambda s: distribution.sample(1, seed=s)[0], seeds, fn_output_signature=tf.float32)

    def save(self, directory):
        """Writes params.npz and config.json into `directory`, atomically (a crash leaves the old files)."""
        if not self.fitted_to_latents:
            raise ValueError(f"{type(self).__name__} is part of its model and is not saved separately. "
                             f"Received: directory={directory}")
        self._check_fitted()
        # params.npz first, then config.json with the params' SHA-256: config.json commits the pair, and `load`
        # refuses a params.npz that a kill between the two writes left beside an older config.json.
        params_path = atomic_write(os.path.join(directory, _PARAMS_FILE),
                                   lambda f: np.savez(f, **{k: v.numpy() for k, v in self.params.items()}))
        config = {"name": registry.name_of("density", type(self)), "latent_dim": self.latent_dim,
                  "config": self.get_config(), "fit_info": self.fit_info,
                  "params_sha256": fingerprints.of_file(params_path)}
        atomic_write(os.path.join(directory, _CONFIG_FILE), json.dumps(config, indent=2))

    @staticmethod
    def is_saved(directory):
        """Whether `directory` holds a density written by `save` (its config.json, written last, commits it)."""
        return tf.io.gfile.exists(os.path.join(directory, _CONFIG_FILE))

    @classmethod
    def load(cls, directory):
        """Restores an estimator written by `save` (the class is read from config.json)."""
        config_path = os.path.join(directory, _CONFIG_FILE)
        params_path = os.path.join(directory, _PARAMS_FILE)
        for path in (config_path, params_path):
            if not tf.io.gfile.exists(path):
                raise FileNotFoundError(f"No fitted density at {directory}: {os.path.basename(path)} is missing. "
                                        f"Run `python -m trainers.fit_density --workdir=...` first. "
                                        f"Received: {directory}")
        try:
            config = json.loads(files.read_text(config_path))
        except ValueError as error:
            raise ValueError(f"{config_path} is not valid JSON ({error}); refit the density with "
                             f"`python -m trainers.fit_density`. Received: {directory}") from error
        expected = config.get("params_sha256")  # absent in files written before tfvae recorded it
        if expected is not None and fingerprints.of_file(params_path) != expected:
            raise ValueError(f"{params_path} is not the file {config_path} was written with (a save was "
                             f"interrupted, or a file was replaced); refit the density with "
                             f"`python -m trainers.fit_density`. Received: {directory}")
        with np.load(io.BytesIO(files.read_bytes(params_path)), allow_pickle=False) as arrays:
            params = {name: arrays[name] for name in arrays.files}
        arguments = dict(config["config"])
        if "latent_dim" in config:
            latent_dim = int(config["latent_dim"])
        else:
            latent_dim = _legacy_latent_dim(arguments, params, directory)
        estimator = registry.get("density", config["name"])(**arguments)
        estimator._build(latent_dim)
        estimator.set_params(params)
        estimator._latent_dim = latent_dim
        estimator.fit_info = config.get("fit_info", {})
        return estimator

    def set_params(self, arrays):
        """Holds fitted parameters (dict name -> array) as non-trainable variables."""
        self.params = {name: tf.Variable(np.asarray(value, np.float32), trainable=False, name=name)
                       for name, value in arrays.items()}

    def _check_fitted(self):
        if not self.is_fitted:
            raise ValueError(f"{type(self).__name__} is not fitted: call fit(latents) or load(directory) first. "
                             f"Received: an unfitted {type(self).__name__}")


def _legacy_latent_dim(arguments, params, directory):
    """latent_dim of a file saved before config.json kept it at the top level (popped from `arguments`).

    Estimators with networks kept it among their arguments; the closed-form ones only in the last axis of "loc".
    """
    latent_dim = arguments.pop("latent_dim", None)
    if latent_dim is None and "loc" in params:
        latent_dim = params["loc"].shape[-1]
    if latent_dim is None:
        raise ValueError(f"config.json in {directory} records no latent_dim, and the parameters hold no 'loc' to read "
                         f"it from; save the estimator again. Received: parameters {sorted(params)}")
    return int(latent_dim)


def _check_latents(latents, name, latent_dim=None):
    """Returns `latents` as a read-only float64 copy after checking it is a finite non-empty [N, latent_dim]."""
    latents = np.array(latents, dtype=np.float64)
    if latents.ndim != 2 or len(latents) == 0:
        raise ValueError(f"{name} must be a non-empty matrix [num_latents, latent_dim]. Received: shape "
                         f"{latents.shape}")
    if latent_dim is not None and latents.shape[1] != latent_dim:
        raise ValueError(f"{name} must have {latent_dim} columns like the training latents. Received: shape "
                         f"{latents.shape}")
    if not np.isfinite(latents).all():
        raise ValueError(f"{name} contain NaN or infinite values; the encoder diverged or the data is corrupt. "
                         f"Received: {int((~np.isfinite(latents)).sum())} non-finite entries")
    return _read_only(latents)


def _read_only(array):
    array.setflags(write=False)
    return array
