"""Exports a trained autoencoder and its samplers as one SavedModel, the contract below (README.md, "Using the
exported SavedModel" and "Serving", shows it in use).

Endpoints (named inputs, dict outputs, never XLA-compiled, stateless randomness driven by a seed input):

    sample / serving_default   seed int32 [B, 2]          -> images float32 [B, *shape] in [0, 1], latents [B, L]
    sample_<sampler>           seed int32 [B, 2]          -> images, latents        (one per bundled sampler)
    decode                     latents float32 [B, L]     -> images
    encode                     images float32 [B, *shape] -> latents
    reconstruct                images float32 [B, *shape] -> images, latents

Row b of a `sample` answer depends on seed[b] only, so TF Serving's request batching never changes a client's samples.
Requests outside the contract fail with INVALID_ARGUMENT and a message naming what was expected.
`assets.extra/` holds the metadata JSON and `tf_serving_warmup_requests` (one valid request per endpoint).
The SavedModel loads with TensorFlow alone: no tfvae, Keras or TensorFlow Probability import in the consumer.
"""
import json
import os
import re
import shutil
import time

import keras
import tensorflow as tf

from export import warmup
from tfvae.models.autoencoder import Autoencoder

METADATA_FILE = "tfvae_metadata.json"
DEFAULT_MAX_BATCH_SIZE = 1024
_VERSION = re.compile(r"^\d+$")


def existing_versions(model_dir):
    """Integer versions present under BASE/MODEL_NAME (temporary folders are ignored)."""
    if not os.path.isdir(model_dir):
        return []
    return sorted(int(name) for name in os.listdir(model_dir) if _VERSION.match(name))


def _checked_batch(tensor, max_batch_size, what):
    size = tf.shape(tensor)[0]
    return tf.debugging.assert_less_equal(
        size, max_batch_size, message=f"{what}: at most {max_batch_size} rows per request are served; split the "
                                      f"request. Received rows")


def _checked_images(images, max_batch_size):
    checks = [
        _checked_batch(images, max_batch_size, "images"),
        tf.debugging.assert_all_finite(images, "images must be finite (no NaN or infinity)"),
        tf.debugging.assert_greater_equal(images, 0.0, message="images must lie in [0, 1]"),
        tf.debugging.assert_less_equal(images, 1.0, message="images must lie in [0, 1]"),
    ]
    with tf.control_dependencies(checks):
        return tf.identity(images)


class _Endpoints(tf.Module):
    """The functions of the SavedModel, closed over the model and its samplers."""

    def __init__(self, model, samplers, max_batch_size):
        super().__init__()
        self.model = model
        self.samplers = samplers
        self.max_batch_size = int(max_batch_size)

    def decode(self, latents):
        check = _checked_batch(latents, self.max_batch_size, "latents")
        finite = tf.debugging.assert_all_finite(latents, "latents must be finite (no NaN or infinity)")
        with tf.control_dependencies([check, finite]):
            return {"images": self.model.decode(latents)}

    def encode(self, images):
        return {"latents": self.model.encode(_checked_images(images, self.max_batch_size))}

    def reconstruct(self, images):
        latents = self.model.encode(_checked_images(images, self.max_batch_size))
        return {"images": self.model.decode(latents), "latents": latents}

    def sampler_endpoint(self, name):
        sampler = self.samplers[name]

        def sample(seed):
            with tf.control_dependencies([_checked_batch(seed, self.max_batch_size, "seed")]):
                latents = sampler.sample_from_seeds(seed)
            return {"images": self.model.decode(latents), "latents": latents}

        return sample


def export_saved_model(model, samplers, default_sampler, export_base, model_name, metadata=None,
                       max_batch_size=DEFAULT_MAX_BATCH_SIZE, version=None):
    """Writes a new version BASE/MODEL_NAME/VERSION atomically and returns its path.

    The SavedModel is written into a hidden temporary folder beside the versions and renamed into place, so a crash
    during export never leaves a half-written version and never touches older versions.

    Args:
        model: a trained tfvae Autoencoder.
        samplers: dict name -> sampler with `sample_from_seeds(seeds [B, 2]) -> latents [B, L]` (density estimators
            and the prior sampler of `tfvae.density`).
        default_sampler: str. The sampler behind `sample` / `serving_default`.
        export_base: str. TF Serving's base folder of all models.
        model_name: str. Folder name of this model under `export_base`.
        metadata: dict or None. Extra JSON-serializable metadata (training config, metric summary).
        max_batch_size: int. Requests with more rows fail with INVALID_ARGUMENT. Defaults to 1024.
        version: int or None. Version number; defaults to one more than the highest existing version.

    Returns:
        str, the path of the new version.
    """
    if default_sampler not in samplers:
        raise ValueError(f"default_sampler must be one of the bundled samplers {sorted(samplers)}. "
                         f"Received: {default_sampler!r}")
    for name in samplers:
        if not re.match(r"^[a-z][a-z0-9_]*$", name):
            raise ValueError(f"Sampler names become endpoint names and must match [a-z][a-z0-9_]*. Received: {name!r}")
    model_dir = os.path.join(export_base, model_name)
    os.makedirs(model_dir, exist_ok=True)
    versions = existing_versions(model_dir)
    version = int(version) if version is not None else (versions[-1] + 1 if versions else 1)
    if version in versions:
        raise FileExistsError(f"Version {version} already exists in {model_dir}; versions are immutable once "
                              f"served. Omit the version to take the next one. Received: version={version}")
    final = os.path.join(model_dir, str(version))
    temporary = os.path.join(model_dir, f".tmp-{version}-{os.getpid()}-{int(time.time())}")

    endpoints = _Endpoints(model, samplers, max_batch_size)
    latent_spec = tf.TensorSpec([None, model.latent_dim], tf.float32, name="latents")
    image_spec = tf.TensorSpec([None, *model.example_shape], tf.float32, name="images")
    seed_spec = tf.TensorSpec([None, 2], tf.int32, name="seed")
    archive = keras.export.ExportArchive()
    archive.track(model)
    for sampler in samplers.values():
        archive.track(sampler)
    # The first endpoint becomes serving_default.
    archive.add_endpoint("sample", tf.function(endpoints.sampler_endpoint(default_sampler)), [seed_spec])
    for name in sorted(samplers):
        archive.add_endpoint(f"sample_{name}", tf.function(endpoints.sampler_endpoint(name)), [seed_spec])
    archive.add_endpoint("decode", tf.function(endpoints.decode), [latent_spec])
    names = ["sample", *[f"sample_{n}" for n in sorted(samplers)], "decode"]
    if isinstance(model, Autoencoder):  # GANs (plain generators) have no encoder.
        archive.add_endpoint("encode", tf.function(endpoints.encode), [image_spec])
        archive.add_endpoint("reconstruct", tf.function(endpoints.reconstruct), [image_spec])
        names += ["encode", "reconstruct"]

    full_metadata = {
        "model": type(model).__name__, "example_shape": list(model.example_shape), "latent_dim": model.latent_dim,
        "samplers": sorted(samplers), "default_sampler": default_sampler, "max_batch_size": int(max_batch_size),
        "endpoints": names,
        "model_config": model.get_config(), **(metadata or {}),
    }
    try:
        archive.write_out(temporary, verbose=False)
        extra = os.path.join(temporary, "assets.extra")
        os.makedirs(extra, exist_ok=True)
        with open(os.path.join(extra, METADATA_FILE), "w") as f:
            json.dump(full_metadata, f, indent=2, default=str)
        warmup.write_warmup_requests(temporary, model_name,
                                     warmup.warmup_inputs(names, model.latent_dim, model.example_shape))
        os.rename(temporary, final)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    return final


def read_metadata(version_dir):
    """Reads the metadata JSON bundled in an exported version (TensorFlow only, no tfvae objects)."""
    with open(os.path.join(version_dir, "assets.extra", METADATA_FILE)) as f:
        return json.load(f)
