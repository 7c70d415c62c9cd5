"""The interface shared by every ex-post density estimator over latents."""
import abc
import json
import os
import tempfile

import numpy as np
import tensorflow as tf

from tfvae import registry

_PARAMS_FILE = "params.npz"
_CONFIG_FILE = "config.json"


class DensityEstimator(tf.Module, metaclass=abc.ABCMeta):
    """A density q(z) fitted to latent codes after training, used as a sampler (RAE paper, section 4).

    Subclasses implement `_fit(latents) -> (parameters, info)` (dicts of float arrays and of JSON values) and
    `distribution()`, a TFP
    distribution built from the parameter variables (built on each call so assignments and gradients flow).
    Everything else is shared: validation log-likelihood, stateless sampling, per-row seeded sampling for
    servable endpoints, and saving as weights plus JSON (never pickled).
    """

    name_in_registry = None

    def __init__(self, seed=0):
        super().__init__()
        self.seed = int(seed)
        self.params = {}
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
    @abc.abstractmethod
    def _fit(self, latents):
        """Returns (parameters: dict name -> array, info: dict of JSON values) fitted to `latents` [N, L]."""

    def distribution(self):
        """Returns the TFP distribution of the fitted parameters (estimators without one override the methods
        that use it: log_prob, sample, sample_from_seeds)."""
        raise TypeError(f"{type(self).__name__} has no closed-form TFP distribution; use log_prob and sample.")

    def get_config(self):
        return {"seed": self.seed}

    # ------------------------------------------------------------------------------------------- shared
    @property
    def is_fitted(self):
        return bool(self.params)

    @property
    def latent_dim(self):
        self._check_fitted()
        return int(self.params["loc"].shape[-1])

    def fit(self, latents, validation_latents=None):
        """Fits the density to `latents` [N, L]; reports the mean validation log-likelihood when given.

        Returns:
            dict with `train_log_likelihood` and, when validation latents are given, `validation_log_likelihood`
            (mean nats per latent vector): a validation value far below the training one means overfitting.
        """
        latents = _check_latents(latents, "latents")
        params, info = self._fit(latents)
        self.set_params(params)
        info = {**info, "num_train": int(len(latents)),
                "train_log_likelihood": float(np.mean(self.log_prob(latents).numpy()))}
        if validation_latents is not None:
            validation_latents = _check_latents(validation_latents, "validation_latents", latents.shape[1])
            info["num_validation"] = int(len(validation_latents))
            info["validation_log_likelihood"] = float(np.mean(self.log_prob(validation_latents).numpy()))
        self.fit_info = info
        return info

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
        self._check_fitted()
        os.makedirs(directory, exist_ok=True)
        config = {"name": self.name_in_registry, "config": self.get_config(), "fit_info": self.fit_info}
        _atomic_write(os.path.join(directory, _PARAMS_FILE),
                      lambda f: np.savez(f, **{k: v.numpy() for k, v in self.params.items()}))
        _atomic_write(os.path.join(directory, _CONFIG_FILE),
                      lambda f: f.write(json.dumps(config, indent=2).encode()))

    @classmethod
    def load(cls, directory):
        """Restores an estimator written by `save` (the class is read from config.json)."""
        config_path = os.path.join(directory, _CONFIG_FILE)
        params_path = os.path.join(directory, _PARAMS_FILE)
        for path in (config_path, params_path):
            if not os.path.isfile(path):
                raise FileNotFoundError(f"No fitted density at {directory}: {os.path.basename(path)} is missing. "
                                        f"Run `python -m trainers.fit_density --workdir=...` first. "
                                        f"Received: {directory}")
        with open(config_path) as f:
            config = json.load(f)
        estimator = registry.get("density", config["name"])(**config["config"])
        with np.load(params_path, allow_pickle=False) as params:
            estimator.set_params({name: params[name] for name in params.files})
        estimator.fit_info = config.get("fit_info", {})
        return estimator

    def set_params(self, arrays):
        """Holds fitted parameters (dict name -> array) as non-trainable variables."""
        self.params = {name: tf.Variable(np.asarray(value, np.float32), trainable=False, name=name)
                       for name, value in arrays.items()}

    def _check_fitted(self):
        if not self.is_fitted:
            raise ValueError(f"{type(self).__name__} is not fitted: call fit(latents) or load(directory) first.")


def _check_latents(latents, name, latent_dim=None):
    latents = np.asarray(latents, dtype=np.float64)
    if latents.ndim != 2 or len(latents) == 0:
        raise ValueError(f"{name} must be a non-empty matrix [num_latents, latent_dim]. Received: shape "
                         f"{latents.shape}")
    if latent_dim is not None and latents.shape[1] != latent_dim:
        raise ValueError(f"{name} must have {latent_dim} columns like the training latents. Received: shape "
                         f"{latents.shape}")
    if not np.isfinite(latents).all():
        raise ValueError(f"{name} contain NaN or infinite values; the encoder diverged or the data is corrupt. "
                         f"Received: {int((~np.isfinite(latents)).sum())} non-finite entries")
    return latents


def _atomic_write(path, write):
    handle, temporary = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
    try:
        with os.fdopen(handle, "wb") as f:
            write(f)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
