"""Exports a trained model's samplers and decoder as one TensorFlow Lite model, for generation on a device.

Signatures (a TFLite `SignatureRunner` each; names, inputs and outputs as the SavedModel's endpoints of the same names,
tfvae/export/saved_model.py):

    sample             seed int32 [B, 2]       -> images float32 [B, *shape] in [0, 1], latents [B, L]  (default)
    sample_<sampler>   seed int32 [B, 2]       -> images, latents                     (one per bundled sampler)
    decode             latents float32 [B, L]  -> images

For the same seeds the numbers are the SavedModel's to float round-off: the random bits are the same Philox words
(`tfvae.rowwise_random`), and only the float kernels differ (TFLite's and XNNPACK's log, cos, matmul and convolution
against TensorFlow's). The model needs TFLite's builtin ops only (no `SELECT_TF_OPS`, no Flex delegate): it runs on
the plain TFLite / LiteRT runtime of a phone or an embedded Linux board. One thing is
traced differently from the SavedModel to get there, with the same results: Philox's 32x32-bit products in 32-bit
integer ops (`rowwise_random.thirty_two_bit_integer_ops`; TFLite has no 64-bit unsigned multiply). Every bundled
sampler kind converts (prior with either prior, gaussian, gmm, flow, two_stage); a sampler whose ops have no TFLite
kernel is refused with the ops named.

The SavedModel's request checks (at most `max_batch_size` rows, finite latents) are not in the TFLite model: an
on-device caller owns its inputs. Every export is checked before it is written: the interpreter's answers for a few
seeds must equal the live model's (what the SavedModel serves) within `TOLERANCE`.

A JSON file beside the model (`metadata_path`) records the model, shapes, samplers, signatures, the differences
measured by that check, the export's fingerprint (`saved_model.export_fingerprint`) and the model file's SHA-256, so
an unchanged export is not converted again (and a model file the JSON does not describe is never reused).
"""
import hashlib
import json
import os
import re
import shutil
import tempfile
import warnings

import numpy as np
import tensorflow as tf
from absl import logging

from tfvae import files, fingerprints, rowwise_random
from tfvae.export import saved_model
from tfvae.files import atomic_write

TFLITE_FORMAT = 1  # bumped when the signatures change: an export of an older format is never reused
# Largest |TFLite - TensorFlow| accepted by the check of every export, relative to max(1, |TensorFlow|): float
# round-off of a few kernels is ~1e-6 (tests/export/test_tflite.py); a wrong conversion is off by far more.
TOLERANCE = 1e-4
# The rows of the check: small, negative and extreme seeds (every bit of the Philox key in use).
CHECK_SEEDS = ((0, 0), (1, 2), (-1, -1), (2 ** 31 - 1, -2 ** 31), (12345, 678), (-77, 2 ** 30))
_SAMPLER_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def metadata_path(path):
    """The JSON file written beside the TFLite model `path`: MODEL.tflite -> MODEL.json."""
    root, extension = os.path.splitext(path)
    return (root if extension == ".tflite" else path) + ".json"


def signature_names(samplers):
    """The signatures of an export with these samplers, in order: sample, sample_<name> (sorted), decode."""
    return ["sample", *(f"sample_{name}" for name in sorted(samplers)), "decode"]


def _check_arguments(model, samplers, default_sampler):
    if not samplers:
        raise ValueError(f"At least one sampler is needed (a `tfvae.density.PriorSampler(model.prior)` samples the "
                         f"prior). Received: samplers={samplers!r}")
    if default_sampler not in samplers:
        raise ValueError(f"default_sampler must be one of the bundled samplers {sorted(samplers)}. "
                         f"Received: {default_sampler!r}")
    for name, sampler in samplers.items():
        if not _SAMPLER_NAME.match(name):
            raise ValueError(f"Sampler names become signature names and must match [a-z][a-z0-9_]*. "
                             f"Received: {name!r}")
        if int(sampler.latent_dim) != int(model.latent_dim):
            raise ValueError(f"Sampler {name!r} draws {sampler.latent_dim}-dimensional latents but the model decodes "
                             f"{model.latent_dim}; fit it to this model's latents. Received: latent_dim="
                             f"{sampler.latent_dim}")


def _functions(model, samplers, default_sampler):
    """name -> tf.function with its input signature: the computation of the SavedModel endpoint of that name
    (sampler draw, then the decoder), without its request checks."""
    seed_spec = tf.TensorSpec([None, 2], tf.int32, name="seed")
    latent_spec = tf.TensorSpec([None, model.latent_dim], tf.float32, name="latents")

    def sampler_function(sampler):
        def sample(seed):
            latents = sampler.sample_from_seeds(seed)
            return {"images": model.decode(latents), "latents": latents}

        return tf.function(sample, input_signature=[seed_spec], autograph=False)

    functions = {"sample": sampler_function(samplers[default_sampler])}
    for name in sorted(samplers):
        functions[f"sample_{name}"] = sampler_function(samplers[name])
    functions["decode"] = tf.function(lambda latents: {"images": model.decode(latents)},
                                      input_signature=[latent_spec], autograph=False)
    return functions


def _convert(functions, names):
    """TFLite flatbuffer (bytes) of the signatures `names` of `functions`, builtin ops only.

    The converter names the signatures of a multi-function model after the SavedModel's signature keys only, so
    the functions go through a temporary SavedModel (on local disk, whatever the destination's filesystem).
    """
    workspace = tempfile.mkdtemp(prefix="tfvae-tflite-")
    try:
        with rowwise_random.thirty_two_bit_integer_ops():
            concrete = {name: functions[name].get_concrete_function() for name in names}
        saved_model.save_signatures(concrete, workspace)
        converter = tf.lite.TFLiteConverter.from_saved_model(workspace, signature_keys=list(names))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        return converter.convert()
    finally:
        shutil.rmtree(workspace, ignore_errors=True)


def _missing_ops(error):
    """The TensorFlow ops a converter error names as having no TFLite kernel, else its last line."""
    text = str(error)
    match = re.search(r"TF Select ops: ([^\n]+)", text)
    if match:
        return f"no TFLite builtin kernel for {match.group(1).strip()}"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else type(error).__name__


def _refusal(functions, names, samplers, error):
    """A ValueError naming the signatures that do not convert alone and why (each is converted on its own to find
    them; `sample` is its default sampler's `sample_<name>` again and is skipped); None when each converts alone."""
    failures = {}
    for name in names:
        if name == "sample":
            continue
        try:
            _convert(functions, [name])
        except Exception as single_error:  # the converter raises several types; each is only reported here
            failures[name] = _missing_ops(single_error)
    if not failures:
        return None
    if "decode" in failures:
        what = f"The model's decoder does not convert to TensorFlow Lite ({failures['decode']})"
        fix = ("a decoder needs ops TFLite has kernels for (every tfvae network has); serve this model's "
               "SavedModel instead")
    else:
        listed = "; ".join(f"{name[len('sample_'):]}: {reason}" for name, reason in sorted(failures.items()))
        what = f"These samplers do not convert to TensorFlow Lite's builtin ops: {listed}"
        fix = ("leave them out of `samplers` (the binary's --samplers), or give the sampler a `sample_from_seeds` "
               "written with `tfvae.rowwise_random` and ops TFLite has kernels for (every tfvae sampler is); the "
               "SavedModel serves them all")
    return ValueError(f"{what}. TFLite models of tfvae use builtin ops only, so that they run on the plain TFLite "
                      f"runtime without the Flex delegate; {fix}. Received: samplers={sorted(samplers)}")


def _interpreter(flatbuffer):
    # TensorFlow 2.21 warns that tf.lite.Interpreter moves to the ai_edge_litert package (LiteRT, the same
    # flatbuffer format); it is the interpreter TensorFlow itself ships, and only this check uses it.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*tf\.lite\.Interpreter is deprecated", category=UserWarning)
        return tf.lite.Interpreter(model_content=flatbuffer)


def _checked_differences(flatbuffer, model, samplers, default_sampler):
    """Runs every signature on `CHECK_SEEDS` in the TFLite interpreter and against the live model (the
    SavedModel's computation); returns {signature: max abs difference} or raises when one exceeds `TOLERANCE`."""
    interpreter = _interpreter(flatbuffer)
    seeds = np.array(CHECK_SEEDS, np.int32)
    differences, latents = {}, None
    for name in signature_names(samplers):
        if name == "decode":
            inputs = {"latents": latents}
            expected = {"images": model.decode(tf.constant(latents)).numpy()}
        else:
            sampler = samplers[default_sampler if name == "sample" else name[len("sample_"):]]
            drawn = sampler.sample_from_seeds(tf.constant(seeds))
            expected = {"images": model.decode(drawn).numpy(), "latents": drawn.numpy()}
            inputs = {"seed": seeds}
            if name == "sample":
                latents = expected["latents"]
        answer = interpreter.get_signature_runner(name)(**inputs)
        worst = 0.0
        for key, want in expected.items():
            got = answer[key]
            if got.shape != want.shape or not np.all(np.isfinite(got)) or not np.all(
                    np.abs(got - want) <= TOLERANCE * np.maximum(1.0, np.abs(want))):
                raise ValueError(
                    f"The TFLite model's {name}/{key} differs from TensorFlow's for the same inputs (max abs "
                    f"difference {np.max(np.abs(got - want)) if got.shape == want.shape else 'n/a'}, expected at "
                    f"most {TOLERANCE} relative to max(1, |value|)); the conversion is wrong: export the SavedModel "
                    f"instead and report this with the model and sampler. Received: TFLite shape {got.shape}, "
                    f"TensorFlow shape {want.shape}")
            worst = max(worst, float(np.max(np.abs(got - want))))
        differences[name] = worst
    return differences


def _signature_description(flatbuffer):
    """{signature: {"inputs": {name: [shape, dtype]}, "outputs": ...}} as the interpreter reports them."""
    interpreter = _interpreter(flatbuffer)
    described = {}
    for name in interpreter.get_signature_list():
        runner = interpreter.get_signature_runner(name)
        described[name] = {
            side: {key: {"shape": [int(d) for d in detail["shape_signature"]], "dtype": np.dtype(detail["dtype"]).name}
                   for key, detail in sorted(details.items())}
            for side, details in (("inputs", runner.get_input_details()), ("outputs", runner.get_output_details()))}
    return described


def export_tflite(model, samplers, default_sampler, path, metadata=None, reuse_unchanged=True):
    """Writes the TFLite model of the samplers and the decoder to `path` and its metadata JSON beside it.

    Both files are written atomically (the model first, then the JSON that names it), after the check that the
    interpreter's numbers equal TensorFlow's for `CHECK_SEEDS`.

    Args:
        model: a trained tfvae model (an Autoencoder or a generator) in float32.
        samplers: dict name -> sampler with `sample_from_seeds(seeds [B, 2]) -> latents [B, L]` (the density
            estimators and the prior sampler of `tfvae.density`).
        default_sampler: str. The sampler behind the `sample` signature.
        path: str. The .tflite file to write (a local path or a URL such as gs://); its folder is created if
            missing.
        metadata: dict or None. Extra JSON-serializable metadata (dataset, training config). Defaults to None.
        reuse_unchanged: bool. Keep an existing export of the same content (`saved_model.export_fingerprint` and
            `TFLITE_FORMAT`) instead of converting again. Defaults to True.

    Returns:
        str, `path`.

    Raises:
        ValueError: an unknown default sampler, a bad sampler name or latent size, a sampler or decoder whose ops
            have no TFLite builtin kernel (named, with the ops), or a conversion whose numbers differ.
    """
    _check_arguments(model, samplers, default_sampler)
    fingerprint = saved_model.export_fingerprint(model, samplers, default_sampler, metadata)
    sidecar = metadata_path(path)
    if reuse_unchanged and tf.io.gfile.exists(path) and tf.io.gfile.exists(sidecar):
        try:
            previous = json.loads(files.read_text(sidecar))
        except (OSError, tf.errors.OpError, ValueError):  # damaged or written by hand: converted again
            previous = {}
        # The file's hash too: a kill between the two writes leaves a new model beside the old JSON.
        if (previous.get("fingerprint") == fingerprint and previous.get("format") == TFLITE_FORMAT
                and previous.get("sha256") == fingerprints.of_file(path)):
            logging.info("%s already holds this model and these samplers; not converted again.", path)
            return path
    names = signature_names(samplers)
    functions = _functions(model, samplers, default_sampler)
    try:
        flatbuffer = _convert(functions, names)
    except Exception as error:  # the converter raises several types: find the signatures that fail and say why
        refusal = _refusal(functions, names, samplers, error)
        if refusal is None:
            raise
        raise refusal from error
    differences = _checked_differences(flatbuffer, model, samplers, default_sampler)
    description = {
        "format": TFLITE_FORMAT, "model": type(model).__name__, "example_shape": list(model.example_shape),
        "latent_dim": int(model.latent_dim), "samplers": sorted(samplers), "default_sampler": default_sampler,
        "signatures": _signature_description(flatbuffer), "ops": "TFLITE_BUILTINS",
        "tensorflow_version": tf.__version__, "size_bytes": len(flatbuffer),
        "sha256": hashlib.sha256(flatbuffer).hexdigest(),
        "check": {"seeds": [list(seed) for seed in CHECK_SEEDS], "tolerance": TOLERANCE,
                  "max_abs_difference": differences},
        **(metadata or {}), "fingerprint": fingerprint}
    atomic_write(path, flatbuffer)
    atomic_write(sidecar, json.dumps(description, indent=2, default=str))
    logging.info("Wrote %s (%d bytes; signatures %s; largest difference from TensorFlow %.2g)", path,
                 len(flatbuffer), names, max(differences.values()))
    return path


def read_metadata(path):
    """Reads the metadata JSON written beside the TFLite model `path`."""
    return json.loads(files.read_text(metadata_path(path)))
