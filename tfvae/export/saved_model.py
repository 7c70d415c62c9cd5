"""Exports a trained autoencoder and its samplers as one SavedModel, the contract below (docs/serving.md, "Using the
exported SavedModel" and "Serving", shows it in use).

Endpoints (named inputs, dict outputs, never XLA-compiled, stateless randomness driven by a seed input):

    sample / serving_default   seed int32 [B, 2]          -> images float32 [B, *shape] in [0, 1], latents [B, L]
    sample_<sampler>           seed int32 [B, 2]          -> images, latents        (one per bundled sampler)
    decode                     latents float32 [B, L]     -> images
    encode                     images float32 [B, *shape] -> latents
    reconstruct                images float32 [B, *shape] -> images, latents
    interpolate                seed_a, seed_b int32 [B, 2], t float32 [B] -> images, latents
                               (spherical path between the prior's generation-space draws of the two seeds)
    interpolate_images         images_a, images_b [B, *shape], t [B] -> images, latents
                               (between the two images' codes: `Autoencoder.interpolate_codes`)
    traverse                   seed [B, 2], dimension int32 [B], offset float32 [B] -> images, latents
    traverse_images            images [B, *shape], dimension [B], offset [B] -> images, latents
    score                      images -> reconstruction_error [B], log_density_<sampler> [B] (each servable density)
    score_likelihood           images, seed [B, 2], num_importance int32 [B] -> elbo [B], iwae [B] (VAE family)

GANs have no encoder: they export sample*, decode, interpolate and traverse. A path of S points is S rows with the
same end points and t = 0 ... 1 (the client helpers of `serving.client` build them).

Row b of every answer depends on row b of the inputs only, so TF Serving's request batching never changes what a
client gets.
Requests outside the contract fail with INVALID_ARGUMENT and a message naming what was expected (the latent width
of `decode` included: TF Serving does not check a signature's static shapes).
`assets.extra/` holds the metadata JSON and `tf_serving_warmup_requests` (one valid request per endpoint).
The SavedModel loads with TensorFlow alone: no tfvae, Keras or TensorFlow Probability import in the consumer.
"""
import json
import os
import re
import time

import tensorflow as tf
from absl import logging

from tfvae.export import warmup
from tfvae import files, fingerprints, latent_paths, scoring
from tfvae import workdir as workdirs
from tfvae.models.autoencoder import Autoencoder
from tfvae.models.vae import VAE

METADATA_FILE = "tfvae_metadata.json"
MAX_IMPORTANCE_SAMPLES = 4096  # per row of a score_likelihood request: K decoder passes of the batch
EXPORT_FORMAT = 4  # bumped when the endpoints change: an export of an older format is never reused (3: decode checks
# the latent width; 4: the image endpoints check the image shape)
DEFAULT_MAX_BATCH_SIZE = 1024
_VERSION = re.compile(r"^\d+$")
_TEMPORARY = re.compile(r"^\.tmp-\d+-(\d+)-\d+$")  # .tmp-VERSION-PID-TIME
_SAVED_MODEL_FILE = "saved_model.pb"


def _traced(fn, input_signature):
    """`fn` as a graph function of the export, traced as written: no endpoint holds tensor-dependent Python control
    flow, and AutoGraph's conversion of the model, prior and sampler code they call took over half of each export's
    time (a small VAE's: 4.2 s -> 1.7 s)."""
    return tf.function(fn, input_signature=input_signature, autograph=False)


def existing_versions(model_dir):
    """Integer versions present under BASE/MODEL_NAME (temporary folders are ignored)."""
    return sorted(int(name) for name in files.listdir(model_dir) if _VERSION.match(name))


def _checked_batch(tensor, max_batch_size, what):
    size = tf.shape(tensor)[0]
    return tf.debugging.assert_less_equal(
        size, max_batch_size, message=f"{what}: at most {max_batch_size} rows per request are served; split the "
                                      f"request. Received rows")


def _checked_width(latents, latent_dim):
    """An assertion that `latents` is [B, latent_dim].

    The signature's TensorSpec says so, but neither TF Serving nor a loaded signature checks static shapes: a request
    of another width reached the decoder's first layer and failed there ("Matrix size-incompatible"), naming no
    input. The check reads the dynamic shape: a TF1 session fed from C++ (as TF Serving feeds) runs it, the static
    width is not folded into it (tests/export/test_saved_model.py)."""
    shape = tf.shape(latents)
    matches = tf.logical_and(tf.equal(tf.size(shape), 2), tf.reduce_all(tf.equal(shape[1:], latent_dim)))
    return tf.debugging.Assert(matches, [f"latents must have shape [B, {latent_dim}]: {latent_dim} columns, the "
                                         f"latent_dim of the model. Received: shape", shape])


def _checked_shape(images, example_shape):
    """An assertion that `images` is [B, *example_shape], naming the shape expected (as `_checked_width`: the
    signature's static shape is not checked by TF Serving, and a wrong size failed deep in the encoder). Fed from
    C++ with a rank above the model's, the range checks' reductions may fail first, with TensorFlow's own message."""
    shape = tf.shape(images)
    expected = list(example_shape)
    # Padded to at least the expected rank first, so that an input of another rank compares without broadcasting.
    leading = tf.concat([shape, tf.zeros([len(expected)], tf.int32)], 0)[1:len(expected) + 1]
    matches = tf.logical_and(tf.equal(tf.size(shape), len(expected) + 1), tf.reduce_all(tf.equal(leading, expected)))
    return tf.debugging.Assert(matches, [f"images must have shape [B, {', '.join(map(str, expected))}], the "
                                         f"example shape of the model. Received: shape", shape], summarize=16)


def _checked_images(images, max_batch_size, example_shape):
    with tf.control_dependencies([_checked_shape(images, example_shape)]):  # before any other op reads the pixels
        images = tf.identity(images)
    checks = [
        _checked_batch(images, max_batch_size, "images"),
        tf.debugging.assert_all_finite(images, "images must be finite (no NaN or infinity)"),
        tf.debugging.assert_greater_equal(images, 0.0, message="images must lie in [0, 1]"),
        tf.debugging.assert_less_equal(images, 1.0, message="images must lie in [0, 1]"),
    ]
    with tf.control_dependencies(checks):
        return tf.identity(images)


def _same_rows(reference, tensor, name):
    return tf.debugging.assert_equal(tf.shape(tensor)[0], tf.shape(reference)[0],
                                     message=f"{name} must have one row per row of the first input")


def _finite(tensor, name):
    return tf.debugging.assert_all_finite(tensor, f"{name} must be finite (no NaN or infinity)")


def _scored_samplers(samplers):
    """The samplers whose log-density the `score` endpoint returns, sorted."""
    return sorted(name for name, sampler in samplers.items() if sampler.row_wise_log_prob)


class _TracedPrior:
    """A prior's generation-space maps and seeded draw as graph functions of their own (traced once per export)."""

    def __init__(self, prior, latent_dim):
        latents = [tf.TensorSpec([None, latent_dim], tf.float32)]
        self.to_generation = _traced(prior.to_generation, input_signature=latents)
        self.from_generation = _traced(prior.from_generation, input_signature=latents)
        self.sample_from_seeds = _traced(prior.sample_from_seeds, input_signature=[tf.TensorSpec([None, 2], tf.int32)])


class _Endpoints(tf.Module):
    """The functions of the SavedModel, closed over the model and its samplers."""

    def __init__(self, model, samplers, max_batch_size):
        super().__init__()
        self.model = model
        self.samplers = samplers
        self.max_batch_size = int(max_batch_size)
        # The decoder and the encoder as functions of their own, traced once and stored once in the SavedModel's
        # function library; every endpoint calls them (inlining them into each of the ~11 endpoints made an export
        # several times slower to trace and write).
        self._decode = _traced(model.decode, input_signature=[
            tf.TensorSpec([None, model.latent_dim], tf.float32)])
        if isinstance(model, Autoencoder):
            self._encode = _traced(model.encode, input_signature=[
                tf.TensorSpec([None, *model.example_shape], tf.float32)])
        # The same for the prior's maps and every sampler's draw: a decoupled prior's flow is the costliest graph to
        # trace, and ~6 endpoints use it.
        self.prior = _TracedPrior(model.prior, model.latent_dim)
        seed_spec = [tf.TensorSpec([None, 2], tf.int32)]
        self._sample_from_seeds = {
            name: (self.prior.sample_from_seeds if getattr(sampler, "prior", None) is model.prior  # the prior's own
                   else _traced(sampler.sample_from_seeds, input_signature=seed_spec))
            for name, sampler in samplers.items()}

    def decode(self, latents):
        width = _checked_width(latents, self.model.latent_dim)
        with tf.control_dependencies([width]):  # before any other op reads the columns
            check = _checked_batch(latents, self.max_batch_size, "latents")
            finite = tf.debugging.assert_all_finite(latents, "latents must be finite (no NaN or infinity)")
        with tf.control_dependencies([check, finite]):
            return {"images": self._decode(latents)}

    def encode(self, images):
        return {"latents": self._encode(_checked_images(images, self.max_batch_size, self.model.example_shape))}

    def reconstruct(self, images):
        latents = self._encode(_checked_images(images, self.max_batch_size, self.model.example_shape))
        return {"images": self._decode(latents), "latents": latents}

    def _decoded(self, latents):
        return {"images": self._decode(latents), "latents": latents}

    def interpolate(self, seed_a, seed_b, t):
        """Row b: the point at fraction t[b] of the spherical path between the prior's generation-space draws of
        seed_a[b] and seed_b[b] (t = 0 and 1 give `sample_prior`'s latents of the two seeds)."""
        checks = [_checked_batch(seed_a, self.max_batch_size, "seed_a"),
                  _same_rows(seed_a, seed_b, "seed_b"), _same_rows(seed_a, t, "t"), _finite(t, "t")]
        with tf.control_dependencies(checks):
            prior = self.prior
            start = prior.to_generation(prior.sample_from_seeds(seed_a))
            end = prior.to_generation(prior.sample_from_seeds(seed_b))
            return self._decoded(prior.from_generation(latent_paths.interpolate(start, end, t, spherical=True)))

    def interpolate_images(self, images_a, images_b, t):
        """Row b: the point at fraction t[b] of the path between the codes of images_a[b] and images_b[b]
        (`Autoencoder.interpolate_codes`: spherical in the generation space for the VAE family, else straight)."""
        checks = [_same_rows(images_a, images_b, "images_b"), _same_rows(images_a, t, "t"), _finite(t, "t")]
        with tf.control_dependencies(checks):
            start = self._encode(_checked_images(images_a, self.max_batch_size, self.model.example_shape))
            end = self._encode(_checked_images(images_b, self.max_batch_size, self.model.example_shape))
            return self._decoded(self.model.interpolate_codes(start, end, t, prior=self.prior))

    def traverse(self, seed, dimension, offset):
        """Row b: the prior draw of seed[b] with offset[b] added to latent coordinate dimension[b]."""
        checks = [_checked_batch(seed, self.max_batch_size, "seed"), *self._traversal_checks(seed, dimension, offset)]
        with tf.control_dependencies(checks):
            latents = self.prior.sample_from_seeds(seed)
            return self._decoded(latent_paths.traverse(latents, dimension, offset))

    def traverse_images(self, images, dimension, offset):
        """Row b: the code of images[b] with offset[b] added to latent coordinate dimension[b]."""
        with tf.control_dependencies(self._traversal_checks(images, dimension, offset)):
            latents = self._encode(_checked_images(images, self.max_batch_size, self.model.example_shape))
            return self._decoded(latent_paths.traverse(latents, dimension, offset))

    def _traversal_checks(self, rows, dimension, offset):
        return [_same_rows(rows, dimension, "dimension"), _same_rows(rows, offset, "offset"),
                _finite(offset, "offset"),
                tf.debugging.assert_greater_equal(dimension, 0, message=f"dimension must lie in [0, "
                                                                        f"{self.model.latent_dim})"),
                tf.debugging.assert_less(dimension, self.model.latent_dim,
                                         message=f"dimension must lie in [0, {self.model.latent_dim})")]

    def score(self, images):
        """Per-example scores: the squared reconstruction error and log q(encode(x)) under every sampler whose
        density is servable (`DensityEstimator.row_wise_log_prob`)."""
        x = _checked_images(images, self.max_batch_size, self.model.example_shape)
        latents = self._encode(x)
        scores = {"reconstruction_error": scoring.reconstruction_error(self.model, x)}
        for name in _scored_samplers(self.samplers):
            scores[f"log_density_{name}"] = self.samplers[name].log_prob(latents)
        return scores

    def score_likelihood(self, images, seed, num_importance):
        """Per-example ELBO and IWAE bound on log p(x) (nats) from num_importance[b] posterior samples."""
        checks = [_same_rows(images, seed, "seed"), _same_rows(images, num_importance, "num_importance"),
                  tf.debugging.assert_greater_equal(num_importance, 1, message="num_importance must be at least 1"),
                  tf.debugging.assert_less_equal(num_importance, MAX_IMPORTANCE_SAMPLES,
                                                 message=f"num_importance must be at most {MAX_IMPORTANCE_SAMPLES}")]
        with tf.control_dependencies(checks):
            x = _checked_images(images, self.max_batch_size, self.model.example_shape)
            elbo, iwae = scoring.importance_bounds(self.model, x, seed, num_importance)
            return {"elbo": elbo, "iwae": iwae}

    def sampler_endpoint(self, name):
        sample_from_seeds = self._sample_from_seeds[name]

        def sample(seed):
            with tf.control_dependencies([_checked_batch(seed, self.max_batch_size, "seed")]):
                latents = sample_from_seeds(seed)
            return {"images": self._decode(latents), "latents": latents}

        return sample


def export_fingerprint(model, samplers, default_sampler, metadata=None, max_batch_size=DEFAULT_MAX_BATCH_SIZE):
    """SHA-256 (hex) of everything an export serves: the model's weights and config, every sampler's fitted
    parameters, the default sampler, the batch limit and the metadata. Two exports with equal fingerprints answer
    every request alike."""
    return fingerprints.of_json({
        "format": EXPORT_FORMAT, "model": type(model).__name__, "model_config": model.get_config(),
        "weights": fingerprints.of_variables(model.weights),
        "samplers": {name: sampler.fingerprint() for name, sampler in samplers.items()},
        "default_sampler": default_sampler, "max_batch_size": int(max_batch_size), "metadata": metadata or {}})


def _remove_abandoned_temporaries(model_dir):
    """Removes temporary export folders left by processes that no longer run (killed during an export)."""
    for name in files.listdir(model_dir):
        match = _TEMPORARY.match(name)
        if match and not _process_runs(int(match.group(1))):
            files.remove_tree(os.path.join(model_dir, name), ignore_errors=True)


def _process_runs(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def export_saved_model(model, samplers, default_sampler, export_base, model_name, metadata=None,
                       max_batch_size=DEFAULT_MAX_BATCH_SIZE, version=None, reuse_unchanged=True):
    """Writes a new version BASE/MODEL_NAME/VERSION atomically and returns its path.

    The SavedModel is written into a hidden temporary folder beside the versions and moved into place
    (`tfvae.files.move`), so older versions are never touched and the next export removes the temporary folders of
    killed exports. On the local disk the move is one atomic rename: a crash never leaves a half-written version.
    An object store (gs://) has no folder rename: the files move one by one, saved_model.pb last, so a reader that
    waits for saved_model.pb (`serving.dev_server`; `tf.saved_model.load` fails without it) never loads a partial
    version, and a kill during the move leaves version VERSION without saved_model.pb, which is never reused:
    the next export takes VERSION + 1. When the latest version already serves the same content
    (`export_fingerprint`), no version is written and its path is returned: TF Serving rolls out every new
    version, so a re-run of a finished job must not create one.

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
        reuse_unchanged: bool. Return the latest version instead of writing an identical one (only when `version`
            is None). Defaults to True.

    Returns:
        str, the path of the new version (or of the unchanged latest one).
    """
    if default_sampler not in samplers:
        raise ValueError(f"default_sampler must be one of the bundled samplers {sorted(samplers)}. "
                         f"Received: {default_sampler!r}")
    for name in samplers:
        if not re.match(r"^[a-z][a-z0-9_]*$", name):
            raise ValueError(f"Sampler names become endpoint names and must match [a-z][a-z0-9_]*. Received: {name!r}")
    model_dir = os.path.join(export_base, model_name)
    tf.io.gfile.makedirs(model_dir)
    # One exporter at a time per model folder: two processes exporting into one base (two workdirs sharing a
    # serving base) would take the same next version. The lock file sits beside the model folder, which keeps the
    # TF Serving layout (integer versions only).
    with workdirs.hold(export_base, lock_file=f".{model_name}.lock"):
        _remove_abandoned_temporaries(model_dir)
        versions = existing_versions(model_dir)
        fingerprint = export_fingerprint(model, samplers, default_sampler, metadata, max_batch_size)
        if version is None and reuse_unchanged and versions:
            latest = os.path.join(model_dir, str(versions[-1]))
            try:
                # A version without saved_model.pb is one whose move a kill cut short (object stores).
                unchanged = (read_metadata(latest).get("fingerprint") == fingerprint
                             and tf.io.gfile.exists(os.path.join(latest, _SAVED_MODEL_FILE)))
            except (OSError, tf.errors.OpError, ValueError):  # written by hand or by another tool: never reused
                unchanged = False
            if unchanged:
                logging.info("%s already serves these weights and samplers; no new version exported.", latest)
                return latest
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
        rows_spec = {name: tf.TensorSpec([None], dtype, name=name)
                     for name, dtype in (("t", tf.float32), ("dimension", tf.int32), ("offset", tf.float32),
                                         ("num_importance", tf.int32))}
        functions = {}  # endpoint name -> tf.function with its input signature; the first becomes serving_default

        def add(name, fn, *specs):
            functions[name] = _traced(fn, input_signature=list(specs))

        add("sample", endpoints.sampler_endpoint(default_sampler), seed_spec)
        for name in sorted(samplers):
            add(f"sample_{name}", endpoints.sampler_endpoint(name), seed_spec)
        add("decode", endpoints.decode, latent_spec)
        add("interpolate", endpoints.interpolate, tf.TensorSpec([None, 2], tf.int32, name="seed_a"),
            tf.TensorSpec([None, 2], tf.int32, name="seed_b"), rows_spec["t"])
        add("traverse", endpoints.traverse, seed_spec, rows_spec["dimension"], rows_spec["offset"])
        if isinstance(model, Autoencoder):  # GANs (plain generators) have no encoder.
            add("encode", endpoints.encode, image_spec)
            add("reconstruct", endpoints.reconstruct, image_spec)
            add("interpolate_images", endpoints.interpolate_images,
                tf.TensorSpec([None, *model.example_shape], tf.float32, name="images_a"),
                tf.TensorSpec([None, *model.example_shape], tf.float32, name="images_b"), rows_spec["t"])
            add("traverse_images", endpoints.traverse_images, image_spec, rows_spec["dimension"], rows_spec["offset"])
            add("score", endpoints.score, image_spec)
        if isinstance(model, VAE):  # an explicit likelihood p(x | z)
            add("score_likelihood", endpoints.score_likelihood, image_spec, seed_spec, rows_spec["num_importance"])
        names = list(functions)

        full_metadata = {
            "model": type(model).__name__, "example_shape": list(model.example_shape), "latent_dim": model.latent_dim,
            "samplers": sorted(samplers), "default_sampler": default_sampler, "max_batch_size": int(max_batch_size),
            "endpoints": names, "scored_samplers": _scored_samplers(samplers) if isinstance(model, Autoencoder) else [],
            "max_importance_samples": MAX_IMPORTANCE_SAMPLES,
            "model_config": model.get_config(), **(metadata or {}), "fingerprint": fingerprint,
        }
        try:
            _write_saved_model(functions, temporary)
            extra = os.path.join(temporary, "assets.extra")
            tf.io.gfile.makedirs(extra)
            with tf.io.gfile.GFile(os.path.join(extra, METADATA_FILE), "w") as f:
                json.dump(full_metadata, f, indent=2, default=str)
            warmup.write_warmup_requests(temporary, model_name,
                                         warmup.warmup_inputs(names, model.latent_dim, model.example_shape))
            files.move(temporary, final, last=(_SAVED_MODEL_FILE,))
        except BaseException:
            files.remove_tree(temporary, ignore_errors=True)
            raise
        return final


def _write_saved_model(functions, path):
    """Saves the endpoint functions as the SavedModel's signatures (the first also as serving_default)."""
    concrete = {name: function.get_concrete_function() for name, function in functions.items()}
    save_signatures(concrete, path, serving_default=next(iter(concrete)))


def save_signatures(concrete, path, serving_default=None):
    """Saves concrete functions as a SavedModel's signatures with exactly the variables they read.

    Each function is traced once (attaching the functions to the root object as well made the save walk and re-wrap
    every one of them); no Keras object graph is saved, so the SavedModel loads without Keras.

    Args:
        concrete: dict signature name -> concrete function.
        path: str. The SavedModel folder to write.
        serving_default: str or None. The signature also saved as `serving_default`. Defaults to None.
    """
    variables = {}
    for function in concrete.values():
        for variable in function.variables:
            variables.setdefault(id(variable), variable)
    root = tf.__internal__.tracking.AutoTrackable()
    root.endpoint_variables = list(variables.values())
    signatures = dict(concrete)
    if serving_default is not None:
        signatures["serving_default"] = concrete[serving_default]
    tf.saved_model.save(root, path, signatures=signatures)


def read_metadata(version_dir):
    """Reads the metadata JSON bundled in an exported version (TensorFlow only, no tfvae objects)."""
    return json.loads(files.read_text(os.path.join(version_dir, "assets.extra", METADATA_FILE)))
