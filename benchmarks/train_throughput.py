"""Training throughput (images/second) of the VAE and RAE-L2 on Fashion-MNIST, batch 100, a 32-64-128 conv net with
16 latents: the binaries' Trainer loop, `model.fit` on a tf.data pipeline and `model.fit` on a NumPy array, and
optionally the same network in PyTorch (benchmarks/torch_reference.py) side by side.

    python -m benchmarks.train_throughput [--repeats=5] [--examples=10000] [--epochs=3]
        [--paths=trainer,fit_dataset,fit_numpy,pytorch]

Every (model, path) pair is run `repeats` times, alternating the paths, each run in a fresh model; a run's rate is the
median over its epochs after the first (which pays for tracing). The table shows the median of the runs and their
range; benchmarks/results/train_throughput.json keeps every number.
"""
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf
from absl import app, flags

from benchmarks.common import median_and_spread, print_table, write_json
from tfvae import data, models, training
from tfvae.data import DataSplits

flags.DEFINE_integer("repeats", 5, "Runs of each (model, path) pair.")
flags.DEFINE_integer("examples", 10000, "Training images per epoch.")
flags.DEFINE_integer("epochs", 3, "Epochs per run (the first is discarded).")
flags.DEFINE_list("models", ["vae", "rae_l2"], "Models to time.")
flags.DEFINE_list("paths", ["trainer", "fit_dataset", "fit_numpy"],
                  "Training paths to time; add `pytorch` for the PyTorch reference (needs torch installed).")
FLAGS = flags.FLAGS
BATCH = 100


def _build(name):
    return models.build(name, (28, 28, 1), latent_dim=16, network="conv")


def _trainer_rate(name, splits):
    with tempfile.TemporaryDirectory() as workdir:
        trainer = training.Trainer(lambda: _build(name), splits, workdir, epochs=FLAGS.epochs, batch_size=BATCH,
                                   log_images=False)
        history = trainer.fit()
    return [record["examples_per_second"] for record in history[1:]]


class _EpochTimer(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.started)


def _fit_rate(name, splits, numpy_input):
    model = _build(name)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    timer = _EpochTimer()
    if numpy_input:
        x = splits.as_float("train")
        model.fit(x, batch_size=BATCH, epochs=FLAGS.epochs, verbose=0, shuffle=True, callbacks=[timer])
    else:
        dataset = data.make_dataset(splits, "train", BATCH, shuffle=True)
        model.fit(dataset, epochs=FLAGS.epochs, verbose=0, callbacks=[timer])
    return [len(splits.train) // BATCH * BATCH / s for s in timer.seconds[1:]]


def _torch_rate(name, splits):
    from benchmarks import torch_reference

    return [torch_reference.rate(name, splits.as_float("train"), FLAGS.epochs)]


PATHS = {"trainer": lambda n, s: _trainer_rate(n, s), "fit_dataset": lambda n, s: _fit_rate(n, s, False),
         "fit_numpy": lambda n, s: _fit_rate(n, s, True), "pytorch": _torch_rate}


def main(argv):
    del argv
    full = data.load("fashion_mnist")
    splits = DataSplits(name="fashion_mnist", train=full.train[:FLAGS.examples], validation=full.validation[:1000],
                        test=full.test[:1000])
    runs = {(m, p): [] for m in FLAGS.models for p in FLAGS.paths}
    for repeat in range(FLAGS.repeats):
        for name in FLAGS.models:
            for path in FLAGS.paths:  # Alternating paths inside each repeat spreads machine noise evenly.
                rate = float(np.median(PATHS[path](name, splits)))
                runs[(name, path)].append(rate)
                print(f"repeat {repeat + 1}/{FLAGS.repeats} {name:7s} {path:12s} {rate:7.1f} images/s", flush=True)
    rows = []
    for (name, path), rates in runs.items():
        median, low, high = median_and_spread(rates)
        rows.append({"model": name, "path": path, "median images/s": median, "min": low, "max": high,
                     "runs": len(rates)})
    print_table("Training throughput, Fashion-MNIST, batch 100, conv 32-64-128, 16 latents", rows,
                ["model", "path", "median images/s", "min", "max", "runs"])
    print("\nwrote", write_json("train_throughput", {
        "settings": {"repeats": FLAGS.repeats, "examples": FLAGS.examples, "epochs": FLAGS.epochs, "batch": BATCH,
                     "tensorflow": tf.__version__, "keras": keras.__version__},
        "rows": rows, "runs": {f"{m}/{p}": r for (m, p), r in runs.items()}}))


if __name__ == "__main__":
    app.run(main)
