"""Training throughput (images/second) of the VAE and RAE-L2 on Fashion-MNIST, batch 100, 16 latents: the binaries'
Trainer loop, `model.fit` on a tf.data pipeline and `model.fit` on a NumPy array, and optionally the same network in
PyTorch (benchmarks/torch_reference.py, the `conv` net only) side by side; over the axes of networks (`conv`, the
32-64-128 CPU-scale net at 28 px; `rae_conv`, the RAE paper's at 32 px; `infogan`, the two-stage VAE paper's at
28 px), dtype policies (`tfvae.precision`) and XLA.

    python -m benchmarks.train_throughput [--repeats=5] [--examples=10000] [--epochs=3]
        [--paths=trainer,fit_dataset,fit_numpy,pytorch] [--models=vae,rae_l2] [--networks=conv]
        [--mixed_precision=float32,mixed_bfloat16] [--jit_compile=false,true]

Every (model, network, policy, XLA, path) setting is run `repeats` times, alternating the settings inside each
repeat, each run in a fresh model; a run's rate is the median over its epochs after the first (which pays for
tracing). The table shows the median of the runs and their range; benchmarks/results/train_throughput.json keeps
every number.
"""
import dataclasses
import itertools
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf
from absl import app, flags

from benchmarks.common import cpu_flags, median_and_spread, print_table, write_json
from tfvae import data, models, precision, training
from tfvae.data import DataSplits

flags.DEFINE_integer("repeats", 5, "Runs of each (model, path) pair.")
flags.DEFINE_integer("examples", 10000, "Training images per epoch.")
flags.DEFINE_integer("epochs", 3, "Epochs per run (the first is discarded).")
flags.DEFINE_list("models", ["vae", "rae_l2"], "Models to time.")
flags.DEFINE_list("paths", ["trainer", "fit_dataset", "fit_numpy"],
                  "Training paths to time; add `pytorch` for the PyTorch reference (needs torch installed).")
flags.DEFINE_list("networks", ["conv"], "Networks to time: conv (28 px), rae_conv (32 px), infogan (28 px).")
flags.DEFINE_list("mixed_precision", ["float32"], "Dtype policies to time (tfvae.precision.POLICIES).")
flags.DEFINE_list("jit_compile", ["false"], "XLA settings to time: false, true.")
FLAGS = flags.FLAGS
BATCH = 100
# Image side of each network's data (the RAE paper's net reads 32 px: Fashion-MNIST padded).
SIDES = {"conv": 28, "rae_conv": 32, "infogan": 28}


@dataclasses.dataclass(frozen=True)
class Setting:
    model: str
    network: str
    policy: str
    jit_compile: bool
    path: str

    def label(self):
        return f"{self.model:7s} {self.network:8s} {self.policy:14s} xla={int(self.jit_compile)} {self.path:12s}"


def _build(setting, side):
    with precision.policy_scope(setting.policy):
        return models.build(setting.model, (side, side, 1), latent_dim=16, network=setting.network)


def _trainer_rate(setting, splits, side):
    with tempfile.TemporaryDirectory() as workdir:
        trainer = training.Trainer(lambda: _build(setting, side), splits, workdir, epochs=FLAGS.epochs,
                                   batch_size=BATCH, log_images=False, mixed_precision=setting.policy,
                                   jit_compile=setting.jit_compile)
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


def _fit_rate(setting, splits, side, numpy_input):
    model = _build(setting, side)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=setting.jit_compile)
    timer = _EpochTimer()
    if numpy_input:
        x = splits.as_float("train")
        model.fit(x, batch_size=BATCH, epochs=FLAGS.epochs, verbose=0, shuffle=True, callbacks=[timer])
    else:
        dataset = data.make_dataset(splits, "train", BATCH, shuffle=True)
        model.fit(dataset, epochs=FLAGS.epochs, verbose=0, callbacks=[timer])
    return [len(splits.train) // BATCH * BATCH / s for s in timer.seconds[1:]]


def _torch_rate(setting, splits, side):
    from benchmarks import torch_reference

    del side
    return [torch_reference.rate(setting.model, splits.as_float("train"), FLAGS.epochs)]


PATHS = {"trainer": _trainer_rate, "fit_dataset": lambda *a: _fit_rate(*a, numpy_input=False),
         "fit_numpy": lambda *a: _fit_rate(*a, numpy_input=True), "pytorch": _torch_rate}


def _settings():
    for policy in FLAGS.mixed_precision:
        precision.check_policy(policy)
    unknown = sorted(set(FLAGS.networks) - set(SIDES)) + sorted(set(FLAGS.paths) - set(PATHS))
    if unknown:
        raise ValueError(f"Unknown networks or paths {unknown}; networks: {sorted(SIDES)}, paths: {sorted(PATHS)}")
    xla = [{"false": False, "true": True}[value.lower()] for value in FLAGS.jit_compile]
    settings = []
    for model, network, policy, jit, path in itertools.product(FLAGS.models, FLAGS.networks, FLAGS.mixed_precision,
                                                                xla, FLAGS.paths):
        if path == "pytorch" and (network != "conv" or policy != "float32" or jit):
            continue  # the PyTorch reference is the conv net in float32, timed once per model
        settings.append(Setting(model, network, policy, jit, path))
    return settings


def main(argv):
    del argv
    settings = _settings()
    full = data.load("fashion_mnist")
    splits_by_side = {}
    for side in {SIDES[s.network] for s in settings}:
        padded = full if side == 28 else data.load("fashion_mnist", pad_to=side)
        splits_by_side[side] = DataSplits(name="fashion_mnist", train=padded.train[:FLAGS.examples],
                                          validation=padded.validation[:1000], test=padded.test[:1000])
    runs = {setting: [] for setting in settings}
    for repeat in range(FLAGS.repeats):
        for setting in settings:  # Alternating settings inside each repeat spreads machine noise evenly.
            side = SIDES[setting.network]
            rate = float(np.median(PATHS[setting.path](setting, splits_by_side[side], side)))
            runs[setting].append(rate)
            print(f"repeat {repeat + 1}/{FLAGS.repeats} {setting.label()} {rate:7.1f} images/s", flush=True)
    rows = []
    for setting, rates in runs.items():
        median, low, high = median_and_spread(rates)
        rows.append({**dataclasses.asdict(setting), "median images/s": median, "min": low, "max": high,
                     "runs": len(rates)})
    print_table("Training throughput, Fashion-MNIST, batch 100, 16 latents", rows,
                ["model", "network", "policy", "jit_compile", "path", "median images/s", "min", "max", "runs"])
    print("\nwrote", write_json("train_throughput", {
        "settings": {"repeats": FLAGS.repeats, "examples": FLAGS.examples, "epochs": FLAGS.epochs, "batch": BATCH,
                     "tensorflow": tf.__version__, "keras": keras.__version__, "cpu_flags": cpu_flags()},
        "rows": rows, "runs": {setting.label().replace("  ", " ").strip(): r for setting, r in runs.items()}}))


if __name__ == "__main__":
    app.run(main)
