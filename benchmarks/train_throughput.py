"""Training throughput (images/second) of the VAE and RAE-L2 on Fashion-MNIST, batch 100, 16 latents: the binaries'
Trainer loop, `model.fit` on a tf.data pipeline and `model.fit` on a NumPy array, and optionally the same network in
PyTorch side by side (benchmarks/torch_reference.py: a plain loop, in float32 or with its networks in bfloat16
under torch.autocast; benchmarks/pythae_reference.py: pythae's trainer; the `conv` net only); over the axes of networks (`conv`, the 32-64-128 CPU-scale net at 28 px; `rae_conv`,
the RAE paper's at 32 px; `infogan`, the two-stage VAE paper's at 28 px), dtype policies (`tfvae.precision`) and
XLA.

    python -m benchmarks.train_throughput [--repeats=5] [--examples=10000] [--epochs=3]
        [--paths=trainer,fit_dataset,fit_numpy,pytorch,pytorch_autocast,pythae] [--models=vae,rae_l2] [--networks=conv]
        [--mixed_precision=float32,mixed_bfloat16] [--jit_compile=false,true] [--probe] [--lockstep]
        [--quiet=GFLOPS,GBS] [--quiet_wait=600] [--sample_memory]

Every (model, network, policy, XLA, path) setting is run `repeats` times, alternating the settings inside each
repeat (in reverse order every second repeat, so no setting always runs first or last), each run in a fresh process
(`--nofresh_process`: all in this one); a run's rate is the median over its epochs after the first (which pays for
tracing). `--probe` times a fixed NumPy workload (benchmarks/machine_probe.py) in a fresh process before each run
and prints it beside the run: a slow run next to a slow probe is the machine's. The first table shows each
setting's median, range and slowest run over its median (a two-speed flip shows near 0.5); the second, with
PyTorch paths, each TensorFlow path's rate over each PyTorch path's in the same repeat.

A `Trainer` run also reports its validation loss after each epoch (1,000 Fashion-MNIST validation images), so a
dtype policy's speed comes with its loss curve (`--epochs=10` for a longer one). Every run reports what its process
spent on the epochs after the first (benchmarks.common.EpochUsage): the cores its threads kept busy (CPU seconds per
wall second, at most the machine's cores) and the CPU milliseconds per image. A slow run with its cores busy and
more CPU time per image did the same work more slowly (a loaded memory system, a slower core: the machine); a slow
run with fewer cores busy waited (its own threads). `--sample_memory` also times a 64 MiB copy every 2 seconds
beside each run and reports the copies' bandwidth during its epochs.
benchmarks/results/train_throughput.json keeps every number, each run's epoch rates too.

`--lockstep` starts the fresh processes of all settings of a repeat at once and lets them train one epoch at a
time in turn (the order reversed every second turn; one process trains at any moment, the others wait on a pipe
between epochs, outside their epochs' timing): an epoch of one path runs within seconds of the others', so the
machine's slow stretches, which last minutes, fall on every path of the repeat instead of on whichever ran then.

`--quiet=GFLOPS,GBS` waits before each repeat (up to `--quiet_wait` seconds) for a probe at least that fast, probes
again around the runs (after each turn with `--lockstep`, after the last run without), and calls the repeat quiet
when every one of its probes reaches both thresholds. Every repeat is run and reported; the tables are printed for
all of them and again for the quiet ones, so a reader sees what the machine's loaded stretches do to each path.
"""
import contextlib
import dataclasses
import functools
import importlib.metadata
import io
import itertools
import json
import statistics
import subprocess
import sys
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf
from absl import app, flags

from benchmarks import machine_probe
from benchmarks.common import (EpochUsage, child_environment, cpu_flags, median_and_spread, print_table,
                               read_until_waiting, run_child, run_order, wait_for_parent, write_json)
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
        # After each epoch, outside its timing (the training steps): the usage marks, and in lockstep mode the wait.
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


def _measure(setting, wait=None):
    """One run of `setting` in this process: {"rates": images/s of each epoch after the first, "usage": what the
    process spent on them (benchmarks.common.EpochUsage), and for the `Trainer` "validation_loss": the loss on 1,000
    validation images after each epoch, the first too}. `wait()`, if given, is called after each epoch, outside its
    timing and its usage (the turn-taking runs' pause)."""
    splits, side = _splits(setting.network)
    usage = EpochUsage()
    result = PATHS[setting.path](setting, splits, side, between_epochs=usage.between_epochs(wait))
    return {**{key: [float(value) for value in values] for key, values in result.items()},
            "usage": usage.summary(len(splits.train) // BATCH * BATCH)}


def _child_arguments(setting):
    return [f"--child={json.dumps(dataclasses.asdict(setting))}", f"--examples={FLAGS.examples}",
            f"--epochs={FLAGS.epochs}", f"--seed={FLAGS.seed}"]


def _run(setting):
    """One run ({"rates", "usage"}, as `_measure`), in a fresh process unless --nofresh_process."""
    if not FLAGS.fresh_process:
        return _measure(setting)
    return run_child("benchmarks.train_throughput", _child_arguments(setting))


def _run_lockstep(settings, between_turns=None):
    """One repeat with every setting's fresh process alive at once, taking turns one epoch at a time (the order
    reversed every second turn): each epoch of one path runs within seconds of the others', so a slow stretch of the
    machine falls on all of them. Only one process trains at any moment; `between_turns()`, if given, is called
    after each turn of epochs, while every child waits. Returns {setting: {"rates", "usage"}}, as `_measure`."""
    results, children = {}, {}
    with contextlib.ExitStack() as stack:
        for setting in settings:
            log = stack.enter_context(tempfile.TemporaryFile("w+"))
            process = subprocess.Popen(
                [sys.executable, "-m", "benchmarks.train_throughput", *_child_arguments(setting), "--lockstep"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True,
                env=child_environment())
            stack.callback(_stop, process)
            children[setting] = process, log
        for setting in settings:  # every child set up and waiting before its first epoch
            read_until_waiting(*children[setting], want_result=False)
        for turn in range(FLAGS.epochs + 1):  # turn E lets each child finish and report
            for setting in run_order(settings, turn):
                process, log = children[setting]
                process.stdin.write("go\n")
                process.stdin.flush()
                result = read_until_waiting(process, log, want_result=turn == FLAGS.epochs)
                if result is not None:
                    results[setting] = result
            if between_turns is not None and turn < FLAGS.epochs:
                between_turns()
    return results


def _stop(process):
    if process.poll() is None:
        process.kill()
    process.wait()


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


def _take_probe(probes, prefix, when, show=True):
    """Probes the machine, appends the result to `probes`, prints it (`show`); returns it."""
    probes.append(machine_probe.probe())
    if show:
        print(f"{prefix} machine {when}: {machine_probe.describe(probes[-1])}", flush=True)
    return probes[-1]


def main(argv):
    del argv
    if FLAGS.child:
        setting = Setting(**json.loads(FLAGS.child))
        if FLAGS.lockstep:
            wait_for_parent()  # set up; the first epoch starts on the parent's word
        print(json.dumps(_measure(setting, wait=wait_for_parent if FLAGS.lockstep else None)), flush=True)
        return
    if FLAGS.lockstep and not FLAGS.fresh_process:
        raise ValueError("--lockstep runs every path in its own process: it cannot be combined with "
                         "--nofresh_process")
    if FLAGS.sample_memory and FLAGS.lockstep:
        raise ValueError("--sample_memory times copies beside one training process at a time; in --lockstep the "
                         "processes take turns within seconds, so it is not offered there")
    if FLAGS.quiet_wait < 0:
        raise ValueError(f"--quiet_wait is in seconds, 0 or more. Received: {FLAGS.quiet_wait}")
    quiet = machine_probe.QuietMachine.parse(FLAGS.quiet) if FLAGS.quiet else None
    probing = FLAGS.probe or quiet is not None
    settings = repeat_settings(FLAGS.models, FLAGS.networks, FLAGS.mixed_precision, FLAGS.jit_compile, FLAGS.paths)
    epoch_rates = {setting: [] for setting in settings}
    probes = {setting: [] for setting in settings}
    usage = {setting: [] for setting in settings}  # EpochUsage summaries, one per run
    memory = {setting: [] for setting in settings}  # --sample_memory: the copies' GB/s during each run's epochs
    losses = {setting: [] for setting in settings}  # the Trainer's validation loss after each epoch, per run
    repeat_probes, quiet_repeats = [], []  # every probe taken around each repeat; whether the repeat was quiet
    for repeat in range(FLAGS.repeats):
        order = run_order(settings, repeat)
        around = []  # every probe of this repeat
        take_probe = functools.partial(_take_probe, around, f"repeat {repeat + 1}/{FLAGS.repeats}")
        if quiet is not None:
            waited = quiet.wait(FLAGS.quiet_wait, report=lambda measured: print(
                f"waiting for a quiet machine ({quiet}): {machine_probe.describe(measured)}", flush=True))
            around.append(waited[-1])
            print(f"repeat {repeat + 1}/{FLAGS.repeats} machine before: {machine_probe.describe(waited[-1])} "
                  f"({len(waited)} probes while waiting for {quiet})", flush=True)
        elif FLAGS.lockstep and probing:
            take_probe("before")
        lockstep = {}
        if FLAGS.lockstep:
            lockstep = _run_lockstep(order, between_turns=(lambda: take_probe("after a turn")) if probing else None)
        for index, setting in enumerate(order):
            probe = ""
            if probing and not FLAGS.lockstep:
                # The quiet wait's last probe was taken just now: it is the first run's probe.
                first_after_wait = index == 0 and quiet is not None
                probes[setting].append(around[-1] if first_after_wait else take_probe("before", show=False))
                probe = f" [machine before: {machine_probe.describe(probes[setting][-1])}]"
            with contextlib.ExitStack() as stack:
                sampler = stack.enter_context(machine_probe.BandwidthSampler()) if FLAGS.sample_memory else None
                result = lockstep[setting] if FLAGS.lockstep else _run(setting)
            epoch_rates[setting].append(result["rates"])
            usage[setting].append(result["usage"])
            spent = EpochUsage.describe(result["usage"])
            if "validation_loss" in result:
                losses[setting].append(result["validation_loss"])
                spent += f", validation loss {' '.join(f'{loss:.2f}' for loss in result['validation_loss'])}"
            if sampler is not None:
                memory[setting].append(sampler.rates(*result["usage"]["span"]) if result["usage"] else [])
                if memory[setting][-1]:
                    spent += (f", copies beside it {statistics.median(memory[setting][-1]):.1f} GB/s "
                              f"({min(memory[setting][-1]):.1f}-{max(memory[setting][-1]):.1f})")
            print(f"repeat {repeat + 1}/{FLAGS.repeats} {setting.label()} {np.median(epoch_rates[setting][-1]):7.1f} "
                  f"images/s (epochs: {', '.join(f'{rate:.0f}' for rate in epoch_rates[setting][-1])}){probe}"
                  f"{spent}", flush=True)
        if quiet is not None:
            if not FLAGS.lockstep:
                take_probe("after")
            quiet_repeats.append(all(quiet.holds(measured) for measured in around))
            verdict = "quiet (every probe" if quiet_repeats[-1] else "LOADED (not every probe"
            print(f"repeat {repeat + 1}/{FLAGS.repeats}: {verdict} around it reached {quiet})", flush=True)
        repeat_probes.append(around)
    # A run's rate: the median of its epochs after the first.
    runs = {setting: [float(np.median(rates)) for rates in epoch_rates[setting]] for setting in settings}
    rows, ratios = _tables(runs, "every repeat", usage, losses)
    if quiet is not None:
        calm = [number for number, is_quiet in enumerate(quiet_repeats, start=1) if is_quiet]
        if calm:
            quiet_rows, quiet_ratios = _tables({setting: [rates[number - 1] for number in calm]
                                                for setting, rates in runs.items()},
                                               f"the {len(calm)} quiet repeats: {', '.join(map(str, calm))}",
                                               {setting: [spent[number - 1] for number in calm]
                                                for setting, spent in usage.items()},
                                               {setting: [curves[number - 1] for number in calm] if curves else []
                                                for setting, curves in losses.items()})
            rows, ratios = rows + quiet_rows, ratios + quiet_ratios
        else:
            print(f"\nNo repeat was quiet ({quiet}).")
    versions = {"tensorflow": tf.__version__, "keras": keras.__version__}
    for package in ("torch", "pythae"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            pass
    print("\nwrote", write_json("train_throughput", {
        "settings": {"repeats": FLAGS.repeats, "examples": FLAGS.examples, "epochs": FLAGS.epochs, "batch": BATCH,
                     "seed": FLAGS.seed,
                     "fresh_process": FLAGS.fresh_process, **versions, "cpu_flags": cpu_flags()},
        "rows": rows, "ratios": ratios,
        "runs": {setting.key(): r for setting, r in runs.items()},
        "epoch_rates": {setting.key(): r for setting, r in epoch_rates.items()},
        "probes": {setting.key(): p for setting, p in probes.items() if p},
        "usage": {setting.key(): u for setting, u in usage.items()},
        "memory_during": {setting.key(): m for setting, m in memory.items() if m},
        "validation_loss": {setting.key(): curves for setting, curves in losses.items() if curves},
        "repeat_probes": repeat_probes, "quiet": None if quiet is None else dataclasses.asdict(quiet),
        "quiet_repeats": quiet_repeats}))


def define_flags():
    """The benchmark's flags, defined only when it runs as a program: the tests import its parts."""
    flags.DEFINE_integer("repeats", 5, "Runs of each (model, path) pair.")
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
    flags.DEFINE_bool("lockstep", False, "Start every path's process of a repeat at once and let them train one "
                      "epoch at a time in turn (one trains at any moment), so a slow stretch of the machine falls on "
                      "all paths.")
    flags.DEFINE_bool("probe", False, "Time a fixed NumPy workload in a fresh process before each run (--lockstep: "
                      "before each repeat and after each turn).")
    flags.DEFINE_string("quiet", None, "GFLOPS,GBS (implies --probe): before each repeat, wait up to --quiet_wait "
                        "seconds for a probe at least this fast; a repeat is quiet when every probe around it reaches "
                        "both. The tables then show every repeat and the quiet ones apart. Take the thresholds from "
                        "this machine's own quiet probes (python -m benchmarks.machine_probe): another CPU's mean "
                        "nothing here.")
    flags.DEFINE_integer("seed", 0, "Seed of the `Trainer` runs (initialization, shuffling, training noise).")
    flags.DEFINE_bool("sample_memory", False, "Time a 64 MiB copy every 2 s beside each run (not with --lockstep) and "
                      "report the copies' bandwidth during its epochs after the first.")
    flags.DEFINE_integer("quiet_wait", 600, "Seconds to wait for a quiet probe before a repeat (it runs anyway then).")
    flags.DEFINE_string("child", None, "Internal: run one setting (JSON) in this process and print its rates as JSON.")


if __name__ == "__main__":
    define_flags()
    app.run(main)
