"""Training throughput (images/second) of the VAE and RAE-L2 on Fashion-MNIST, batch 100, 16 latents: the binaries'
Trainer loop, `model.fit` on a tf.data pipeline and `model.fit` on a NumPy array, and optionally the same network in
PyTorch side by side (benchmarks/torch_reference.py: a plain loop, in float32 or with its networks in bfloat16
under torch.autocast; benchmarks/pythae_reference.py: pythae's trainer; the `conv` net only); over the axes of
networks (`conv`, the 32-64-128 CPU-scale net at 28 px; `rae_conv`, the RAE paper's at 32 px; `infogan`, the
two-stage VAE paper's at 28 px), dtype policies (`tfvae.precision`) and XLA.

    python -m benchmarks.train_throughput [--repeats=5] [--examples=10000] [--epochs=3]
        [--paths=trainer,fit_dataset,fit_numpy,pytorch,pytorch_autocast,pythae] [--models=vae,rae_l2] [--networks=conv]
        [--mixed_precision=float32,mixed_bfloat16] [--jit_compile=false,true] [--seed=0]

Every (model, network, policy, XLA, path) setting is run `repeats` times, alternating the settings inside each
repeat (in reverse order every second repeat, so no setting always runs first or last), each run in a fresh process
(`--nofresh_process`: all in this one); a run's rate is the median over its epochs after the first (which pays for
tracing). The first table shows each setting's median, range and slowest run over its median; the second, with
PyTorch paths, each TensorFlow path's rate over each PyTorch path's in the same repeat (side by side), with its
median and range over the repeats. docs/speed.md explains the method and why runs vary.

A `Trainer` run also reports its validation loss after each epoch (1,000 Fashion-MNIST validation images), so a
dtype policy's speed comes with its loss curve (`--epochs=10` for a longer one). Every run reports what its process
spent on the epochs after the first (benchmarks.common.EpochUsage): the cores its threads kept busy (CPU seconds per
wall second, at most the machine's cores) and the CPU milliseconds per image. A slow run with its cores busy and
more CPU time per image did the same work more slowly (a loaded machine, a slower core); a slow run with fewer cores
busy waited (its own threads). benchmarks/results/train_throughput.json keeps every number, each run's epoch rates
too.
"""
import contextlib
import dataclasses
import functools
import importlib.metadata
import io
import itertools
import json
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf
from absl import app, flags

from benchmarks.common import EpochUsage, cpu_flags, median_and_spread, print_table, run_child, run_order, write_json
from tfvae import data, models, precision, training
from tfvae.data import DataSplits

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
        return f"{self.model:7s} {self.network:8s} {self.policy:14s} xla={int(self.jit_compile)} {self.path:16s}"

    def key(self):
        """The label without its padding: the setting's key in the JSON record."""
        return " ".join(self.label().split())


def _build(setting, side):
    with precision.policy_scope(setting.policy):
        return models.build(setting.model, (side, side, 1), latent_dim=16, network=setting.network)


def _trainer_rate(setting, splits, side, between_epochs=None):
    with tempfile.TemporaryDirectory() as workdir:
        # After each epoch, outside its timing (the training steps): the usage mark.
        trainer = training.Trainer(lambda: _build(setting, side), splits, workdir, epochs=FLAGS.epochs,
                                   batch_size=BATCH, seed=FLAGS.seed, log_images=False, mixed_precision=setting.policy,
                                   jit_compile=setting.jit_compile,
                                   on_epoch_end=None if between_epochs is None else lambda record: between_epochs())
        history = trainer.fit()
    return {"rates": [record["examples_per_second"] for record in history[1:]],
            "validation_loss": [record["validation/loss"] for record in history]}


class _EpochTimer(keras.callbacks.Callback):
    def __init__(self, between_epochs=None):
        super().__init__()
        self.seconds, self.between_epochs = [], between_epochs

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.started)
        if self.between_epochs is not None:
            self.between_epochs()


def _fit_rate(setting, splits, side, between_epochs=None, numpy_input=False):
    model = _build(setting, side)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=setting.jit_compile)
    timer = _EpochTimer(between_epochs)
    if numpy_input:
        x = splits.as_float("train")
        model.fit(x, batch_size=BATCH, epochs=FLAGS.epochs, verbose=0, shuffle=True, callbacks=[timer])
    else:
        dataset = data.make_dataset(splits, "train", BATCH, shuffle=True)
        model.fit(dataset, epochs=FLAGS.epochs, verbose=0, callbacks=[timer])
    return {"rates": [len(splits.train) // BATCH * BATCH / s for s in timer.seconds[1:]]}


def _torch_rate(setting, splits, side, between_epochs=None, autocast=False):
    from benchmarks import torch_reference

    del side
    return {"rates": torch_reference.rates(setting.model, splits.as_float("train"), FLAGS.epochs,
                                           between_epochs=between_epochs, autocast=autocast)}


def _pythae_rate(setting, splits, side, between_epochs=None):
    from benchmarks import pythae_reference

    del side
    with contextlib.redirect_stderr(io.StringIO()):  # pythae's per-step progress bar
        return {"rates": pythae_reference.rates(setting.model, splits.as_float("train"), FLAGS.epochs,
                                                between_epochs=between_epochs)}


PATHS = {"trainer": _trainer_rate, "fit_dataset": functools.partial(_fit_rate, numpy_input=False),
         "fit_numpy": functools.partial(_fit_rate, numpy_input=True), "pytorch": _torch_rate,
         "pytorch_autocast": functools.partial(_torch_rate, autocast=True), "pythae": _pythae_rate}
# The PyTorch paths train the conv net without XLA only, once per model (their setting's policy reads float32):
# `pytorch_autocast` is our loop with its networks in bfloat16 under torch.autocast, the others are float32.
TORCH_PATHS = ("pytorch", "pytorch_autocast", "pythae")


def repeat_settings(models, networks, policies, jit_compile, paths):
    """The runs of one repeat: a Setting for each (model, network, policy, XLA setting, path) of tfvae's paths, and
    each PyTorch path once per model, inside the first policy's group whichever policies tfvae's paths run (its
    policy reads float32, or mixed_bfloat16 for `pytorch_autocast`; it trains the conv net without XLA).
    `jit_compile` holds "false"/"true" strings, as the flag does. Raises ValueError, naming what is accepted, for an
    unknown policy, network, path or XLA setting, and for PyTorch paths without the conv net."""
    for policy in policies:
        precision.check_policy(policy)
    unknown = sorted(set(networks) - set(SIDES)) + sorted(set(paths) - set(PATHS))
    if unknown:
        raise ValueError(f"Unknown networks or paths {unknown}; networks: {sorted(SIDES)}, paths: {sorted(PATHS)}")
    bad_xla = sorted(value for value in jit_compile if value.lower() not in ("false", "true"))
    if bad_xla:
        raise ValueError(f"--jit_compile takes false and true. Received: {bad_xla}")
    xla = [value.lower() == "true" for value in jit_compile]
    if set(paths) & set(TORCH_PATHS) and "conv" not in networks:
        raise ValueError(f"The PyTorch paths train the conv net only: add conv to --networks or leave out "
                         f"{sorted(set(paths) & set(TORCH_PATHS))}. Received: --networks={list(networks)}")
    runs = []
    for model, network, policy, jit, path in itertools.product(models, networks, policies, xla, paths):
        if path in TORCH_PATHS:
            if network != "conv" or policy != policies[0] or jit != xla[0]:
                continue
            policy, jit = ("mixed_bfloat16" if path == "pytorch_autocast" else "float32"), False
        runs.append(Setting(model, network, policy, jit, path))
    return runs


@functools.lru_cache(maxsize=None)
def _splits(network):
    """The training images of `network`'s side, loaded once per process."""
    side = SIDES[network]
    full = data.load("fashion_mnist", pad_to=side if side != 28 else None)
    return DataSplits(name="fashion_mnist", train=full.train[:FLAGS.examples], validation=full.validation[:1000],
                      test=full.test[:1000]), side


def _measure(setting):
    """One run of `setting` in this process: {"rates": images/s of each epoch after the first, "usage": what the
    process spent on them (benchmarks.common.EpochUsage), and for the `Trainer` "validation_loss": the loss on 1,000
    validation images after each epoch, the first too}."""
    splits, side = _splits(setting.network)
    usage = EpochUsage()
    result = PATHS[setting.path](setting, splits, side, between_epochs=usage.between_epochs())
    return {**{key: [float(value) for value in values] for key, values in result.items()},
            "usage": usage.summary(len(splits.train) // BATCH * BATCH)}


def _run(setting):
    """One run ({"rates", "usage"}, as `_measure`), in a fresh process unless --nofresh_process."""
    if not FLAGS.fresh_process:
        return _measure(setting)
    return run_child("benchmarks.train_throughput", [
        f"--child={json.dumps(dataclasses.asdict(setting))}", f"--examples={FLAGS.examples}",
        f"--epochs={FLAGS.epochs}", f"--seed={FLAGS.seed}"])


def _ratios(runs, repeats):
    """Each TensorFlow path's rate over each PyTorch path's, per repeat (side by side), for every model."""
    rows = []
    for ours, rates in runs.items():
        if ours.path in TORCH_PATHS:
            continue
        for theirs, their_rates in runs.items():
            if theirs.path in TORCH_PATHS and theirs.model == ours.model:
                ratios = [a / b for a, b in zip(rates, their_rates)]
                median, low, high = median_and_spread(ratios)
                rows.append({"model": ours.model, "network": ours.network, "policy": ours.policy,
                             "jit_compile": ours.jit_compile, "path": ours.path, "over": theirs.path,
                             "repeats": repeats, "median ratio": median, "min": low, "max": high,
                             "per repeat": " ".join(f"{ratio:.2f}" for ratio in ratios)})
    return rows


def _tables(runs, repeats, usage, losses):
    """Prints and returns (rows, ratios) of the runs {setting: rate per repeat}; `repeats` names them; `usage`
    holds each run's EpochUsage summary (the spread of cores busy and CPU time per image goes beside the rates) and
    `losses` each `Trainer` run's validation losses (the spread of the last goes beside them too)."""
    rows = []
    for setting, rates in runs.items():
        median, low, high = median_and_spread(rates)
        rows.append({**dataclasses.asdict(setting), "repeats": repeats, "median images/s": median, "min": low,
                     "max": high, "slowest / median": low / median, "runs": len(rates)})
        rows[-1].update(EpochUsage.columns(usage[setting]))
        if losses[setting]:
            rows[-1]["final validation loss"] = "{:.2f} ({:.2f}-{:.2f})".format(
                *median_and_spread([curve[-1] for curve in losses[setting]]))
    print_table(f"Training throughput, Fashion-MNIST, batch 100, 16 latents ({repeats})", rows,
                ["model", "network", "policy", "jit_compile", "path", "median images/s", "min", "max",
                 "slowest / median", "runs", *EpochUsage.COLUMNS, "final validation loss"])
    ratios = _ratios(runs, repeats)
    if ratios:
        print_table(f"Side by side: rate over the PyTorch path's in the same repeat ({repeats})", ratios,
                    ["model", "network", "policy", "jit_compile", "path", "over", "median ratio", "min", "max",
                     "per repeat"])
    return rows, ratios


def main(argv):
    del argv
    if FLAGS.child:
        print(json.dumps(_measure(Setting(**json.loads(FLAGS.child)))), flush=True)
        return
    settings = repeat_settings(FLAGS.models, FLAGS.networks, FLAGS.mixed_precision, FLAGS.jit_compile, FLAGS.paths)
    epoch_rates = {setting: [] for setting in settings}
    usage = {setting: [] for setting in settings}  # EpochUsage summaries, one per run
    losses = {setting: [] for setting in settings}  # the Trainer's validation loss after each epoch, per run
    for repeat in range(FLAGS.repeats):
        for setting in run_order(settings, repeat):
            result = _run(setting)
            epoch_rates[setting].append(result["rates"])
            usage[setting].append(result["usage"])
            spent = EpochUsage.describe(result["usage"])
            if "validation_loss" in result:
                losses[setting].append(result["validation_loss"])
                spent += f", validation loss {' '.join(f'{loss:.2f}' for loss in result['validation_loss'])}"
            print(f"repeat {repeat + 1}/{FLAGS.repeats} {setting.label()} {np.median(epoch_rates[setting][-1]):7.1f} "
                  f"images/s (epochs: {', '.join(f'{rate:.0f}' for rate in epoch_rates[setting][-1])}){spent}",
                  flush=True)
    # A run's rate: the median of its epochs after the first.
    runs = {setting: [float(np.median(rates)) for rates in epoch_rates[setting]] for setting in settings}
    rows, ratios = _tables(runs, f"{FLAGS.repeats} repeats, alternated", usage, losses)
    versions = {"tensorflow": tf.__version__, "keras": keras.__version__}
    for package in ("torch", "pythae"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            pass
    print("\nwrote", write_json("train_throughput", {
        "settings": {"repeats": FLAGS.repeats, "examples": FLAGS.examples, "epochs": FLAGS.epochs, "batch": BATCH,
                     "seed": FLAGS.seed, "fresh_process": FLAGS.fresh_process, **versions, "cpu_flags": cpu_flags()},
        "rows": rows, "ratios": ratios,
        "runs": {setting.key(): r for setting, r in runs.items()},
        "epoch_rates": {setting.key(): r for setting, r in epoch_rates.items()},
        "usage": {setting.key(): u for setting, u in usage.items()},
        "validation_loss": {setting.key(): curves for setting, curves in losses.items() if curves}}))


def define_flags():
    """The benchmark's flags, defined only when it runs as a program: the tests import its parts."""
    flags.DEFINE_integer("repeats", 5, "Runs of each setting, alternated with the others' (median and range over them).")
    flags.DEFINE_integer("examples", 10000, "Training images per epoch.")
    flags.DEFINE_integer("epochs", 3, "Epochs per run (the first is discarded).")
    flags.DEFINE_list("models", ["vae", "rae_l2"], "Models to time.")
    flags.DEFINE_list("paths", ["trainer", "fit_dataset", "fit_numpy"],
                      "Training paths to time; add `pytorch` (our PyTorch loop), `pytorch_autocast` (the same loop "
                      "with its networks in bfloat16 under torch.autocast) and `pythae` (pythae's trainer, float32: "
                      "its mixed precision is CUDA's only) for the PyTorch references (`pip install -e \".[bench]\" "
                      "-c constraints.txt`).")
    flags.DEFINE_list("networks", ["conv"], "Networks to time: conv (28 px), rae_conv (32 px), infogan (28 px).")
    flags.DEFINE_list("mixed_precision", ["float32"], "Dtype policies to time (tfvae.precision.POLICIES).")
    flags.DEFINE_list("jit_compile", ["false"], "XLA settings to time: false, true.")
    flags.DEFINE_bool("fresh_process", True, "Time each run in a fresh process (a process's speed is its own; "
                      "TensorFlow and PyTorch in one process compete for the cores).")
    flags.DEFINE_integer("seed", 0, "Seed of the `Trainer` runs (initialization, shuffling, training noise).")
    flags.DEFINE_string("child", None, "Internal: run one setting (JSON) in this process and print its rates as JSON.")


if __name__ == "__main__":
    define_flags()
    app.run(main)
