"""On-device export: size and latency per sample of the TFLite model beside the SavedModel it mirrors.

    python -m benchmarks.tflite [--network=conv] [--batches=1,16,64] [--repeats=5] [--calls=20] [--threads=1]

Two models at 28x28x1 with 16 latents and untrained weights (speed does not depend on training): RAE-L2 with a
10-component GMM (fitted on random latents) as its default sampler, and a VAE with the decoupled prior (dpVAE's 6
couplings of 64 units) sampling its prior. Each is exported as a SavedModel (`tfvae.export.saved_model`) and as a
TFLite model (`tfvae.export.tflite`, builtin ops only). Reported per model: the SavedModel folder's and the .tflite
file's bytes; for every batch size, milliseconds per sample of `sample` and `decode` through `tf.saved_model.load`
(TensorFlow's own thread pools) and through `tf.lite.Interpreter` with --threads threads (XNNPACK on), timed
alternately: each repeat calls each path once to warm up and then --calls times; medians and ranges over --repeats.

This runs on the host CPU: a phone's or a board's numbers differ, but the ratio and the sizes carry over.
"""
import os
import tempfile
import time
import warnings

import numpy as np
import tensorflow as tf
from absl import app, flags

from benchmarks.common import median_and_spread, print_table, run_order, write_json
from tfvae import models
from tfvae.density import GaussianMixture, PriorSampler
from tfvae.export import saved_model, tflite

FLAGS = flags.FLAGS
LATENT_DIM = 16
SHAPE = (28, 28, 1)


def _folder_bytes(path):
    return sum(os.path.getsize(os.path.join(root, name)) for root, _, names in os.walk(path) for name in names)


def _built_models():
    """name -> (model, samplers, default sampler)."""
    rae = models.build("rae_l2", SHAPE, latent_dim=LATENT_DIM, network=FLAGS.network)
    gmm = GaussianMixture()
    gmm.fit(np.random.default_rng(0).normal(size=(5000, LATENT_DIM)))
    vae = models.build("vae", SHAPE, latent_dim=LATENT_DIM, network=FLAGS.network, prior="decoupled")
    return {"rae_l2 + gmm": (rae, {"gmm": gmm}, "gmm"),
            "vae + decoupled prior": (vae, {"prior": PriorSampler(vae.prior)}, "prior")}


def _paths(loaded, interpreter, batch):
    """path name -> a call of `batch` samples (sample) or decodes (decode) returning NumPy arrays."""
    seeds = np.stack([np.zeros(batch, np.int32), np.arange(batch, dtype=np.int32)], axis=1)
    latents = loaded.signatures["sample"](seed=tf.constant(seeds))["latents"].numpy()
    tf_sample, tf_decode = loaded.signatures["sample"], loaded.signatures["decode"]
    lite_sample, lite_decode = (interpreter.get_signature_runner(name) for name in ("sample", "decode"))
    return {"SavedModel sample": lambda: tf_sample(seed=tf.constant(seeds))["images"].numpy(),
            "TFLite sample": lambda: lite_sample(seed=seeds)["images"],
            "SavedModel decode": lambda: tf_decode(latents=tf.constant(latents))["images"].numpy(),
            "TFLite decode": lambda: lite_decode(latents=latents)["images"]}


def _ms_per_sample(call, batch):
    call()  # warm: the interpreter resizes its tensors for a new batch size, TensorFlow may retrace
    started = time.perf_counter()
    for _ in range(FLAGS.calls):
        call()
    return 1000 * (time.perf_counter() - started) / (FLAGS.calls * batch)


def measure(name, model, samplers, default, folder):
    exported = saved_model.export_saved_model(model, samplers, default, folder, "bench")
    lite_path = tflite.export_tflite(model, samplers, default, os.path.join(folder, "bench.tflite"))
    sizes = {"model": name, "SavedModel bytes": _folder_bytes(exported), "TFLite bytes": os.path.getsize(lite_path),
             "TFLite / SavedModel": os.path.getsize(lite_path) / _folder_bytes(exported)}
    loaded = tf.saved_model.load(exported)
    with warnings.catch_warnings():  # TF 2.21 announces the interpreter's move to the ai_edge_litert package
        warnings.simplefilter("ignore", UserWarning)
        interpreter = tf.lite.Interpreter(model_path=lite_path, num_threads=FLAGS.threads)
    rows = []
    for batch in [int(b) for b in FLAGS.batches]:
        paths = _paths(loaded, interpreter, batch)
        times = {path: [] for path in paths}
        for repeat in range(FLAGS.repeats):
            for path in run_order(paths, repeat):
                times[path].append(_ms_per_sample(paths[path], batch))
        for path, values in times.items():
            median, low, high = median_and_spread(values)
            rows.append({"model": name, "batch": batch, "path": path, "ms/sample (median)": median, "min": low,
                         "max": high, "samples/s": 1000 / median})
    return sizes, rows


def main(argv):
    del argv
    record = {"settings": {"network": FLAGS.network, "batches": FLAGS.batches, "repeats": FLAGS.repeats,
                           "calls": FLAGS.calls, "tflite_threads": FLAGS.threads,
                           "tensorflow": tf.__version__}, "sizes": [], "latency": []}
    with tempfile.TemporaryDirectory() as folder:
        for index, (name, (model, samplers, default)) in enumerate(_built_models().items()):
            sizes, rows = measure(name, model, samplers, default, os.path.join(folder, str(index)))
            record["sizes"].append(sizes)
            record["latency"].extend(rows)
    print_table("Size on disk", record["sizes"], ["model", "SavedModel bytes", "TFLite bytes", "TFLite / SavedModel"])
    print_table(f"Latency per sample (TFLite: {FLAGS.threads} thread(s); medians of {FLAGS.repeats} alternating "
                f"repeats of {FLAGS.calls} calls)", record["latency"],
                ["model", "batch", "path", "ms/sample (median)", "min", "max", "samples/s"])
    record["median_ratio_tflite_to_savedmodel"] = {
        f"{row['model']} / {kind} / {row['batch']}": row["ms/sample (median)"] / next(
            other["ms/sample (median)"] for other in record["latency"]
            if other["model"] == row["model"] and other["batch"] == row["batch"]
            and other["path"] == f"SavedModel {kind}")
        for row in record["latency"] for kind in ("sample", "decode") if row["path"] == f"TFLite {kind}"}
    print("\nwrote", write_json("tflite", record))


def define_flags():
    """The benchmark's flags, defined only when it runs as a program: the tests import its parts."""
    flags.DEFINE_string("network", "conv", "Network of both models (conv: the RAE CPU-scale conv net; mlp: tiny).")
    flags.DEFINE_list("batches", ["1", "16", "64"], "Samples per call.")
    flags.DEFINE_integer("repeats", 5, "Timed, alternating repeats of every path.")
    flags.DEFINE_integer("calls", 20, "Timed calls per path and repeat.")
    flags.DEFINE_integer("threads", 1, "Threads of the TFLite interpreter (1: one phone core).")


if __name__ == "__main__":
    define_flags()
    app.run(main)
