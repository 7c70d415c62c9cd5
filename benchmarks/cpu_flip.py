"""Hunts the two-speed flip of TensorFlow training on small CPUs: each setting is timed in many fresh processes.

On 2-core machines a training process has been seen to run either at full speed or at about half of it for its
whole life. A flip is a property of a process, so one process per measurement: every round starts one fresh process
per setting (alternating the settings inside the round, in reverse order every second round), each trains the VAE
(`--model`) of `train_throughput` (conv net, Fashion-MNIST, batch 100) through the binaries' Trainer and reports the
median images/s of its epochs after the first. The table gives, per setting, the median, range and the slowest run
over the median (a flip shows as a ratio near 0.5), and over every epoch of every process the count of slow epochs
(under 0.75x the median epoch) and the slowest epoch over the median: a stall that hits one epoch in three shows
there before it moves a process' median. Each process also reports the cores it kept busy and its CPU time per image
over those epochs (benchmarks.common.EpochUsage): a slow process with busy cores did its work more slowly, one with
idle cores waited. `--mixed_precision` trains every setting under that dtype policy (tfvae.precision).

    python -m benchmarks.cpu_flip [--processes=10] [--examples=5000] [--epochs=3]
        [--settings=baseline,inter_op_1,intra_op_1,onednn_off,data_private_pool,xla,steps_per_execution_1]
        [--mixed_precision=float32] [--sample_cpu] [--probe] [--sample_memory]

`--sample_cpu` reads the machine's CPU time (/proc/stat: every process on it, so run it on an idle machine) every
second while each process runs and prints, per process, the shares of user, system, idle and steal time (the
hypervisor's) over the seconds in which more than one core was busy (training; start-up and tracing run mostly on
one) and over all its seconds: is a slow process starved, waiting, or busy? `--probe` times a fixed NumPy workload
(benchmarks/machine_probe.py: matrix products and a memory copy, no TensorFlow) in a fresh process just before each
training process: was the machine itself slow then? `--sample_memory` measures the memory bandwidth during each
process (`machine_probe.BandwidthSampler`: a 64 MiB copy every 2 seconds beside the training, timed in its own CPU
time): a process slow for a reason of its own leaves more bandwidth to the copies, not less.

Settings (one suspect changed at a time against the baseline):
    baseline               TensorFlow's defaults (as the binaries run).
    inter_op_1             tf.config.threading inter-op pool of 1 thread (default: one per core).
    intra_op_1             intra-op pool of 1 thread.
    threads_2_2            inter-op and intra-op pools of 2 threads each, fixed.
    intra_op_4             intra-op pool of 4 threads on the 2 cores: oneDNN splits each kernel into as many equal
                           shares as threads, so with two threads a core that the host slows holds the other back;
                           with four, the operating system can move a slowed core's threads to the other.
    onednn_off             TF_ENABLE_ONEDNN_OPTS=0 (Eigen kernels instead of oneDNN's).
    omp_1                  OMP_NUM_THREADS=1 (oneDNN's OpenMP pool).
    data_private_pool      tf.data on a private pool of 1 thread (autotuning off, as in the baseline).
    data_autotune          tf.data's autotuning on, as tfvae's pipelines ran before the flip was found: deleting
                           each epoch's iterator could wait seconds for the autotuning thread.
    xla                    the step compiled with XLA.
    steps_per_execution_1  one step per compiled call (default 20).
    malloc_arena_2         MALLOC_ARENA_MAX=2 (glibc's allocator).
    onednn_caller_thread   TF_ONEDNN_THREADPOOL_USE_CALLER_THREAD=true (oneDNN runs one share of each kernel on the
                           thread that calls it instead of handing every share to the pool).
    onednn_system_allocator
                           TF_ONEDNN_USE_SYSTEM_ALLOCATOR=true (oneDNN's scratch memory from malloc, not TensorFlow's
                           allocator).
    flush_denormals        every thread flushes denormal floats to zero (FTZ and DAZ set in MXCSR through glibc's
                           fesetenv before TensorFlow starts its threads, which inherit it; x86-64 Linux only).
    philox_without_xla     the training noise's Philox rounds as plain TensorFlow ops instead of one XLA kernel
                           (tfvae.rowwise_random): the XLA kernel brings XLA's own 2-thread CPU pool into the step.
    keras_conv_transpose   the decoder's one-channel output layer on Keras' transposed-convolution kernel instead of
                           the shift-add (tfvae/networks/shift_add.py), as before that layer.
    malloc_hugepages       GLIBC_TUNABLES=glibc.malloc.hugetlb=1: glibc's malloc asks for transparent huge pages
                           (madvise) on its memory, which TensorFlow's CPU tensors come from; on a kernel whose
                           transparent huge pages are `madvise`-only a training process otherwise gets none.
    model_rae_l2           the RAE-L2 instead of `--model` (same network, data and loop): are slow processes one
                           model's, or the machine's?
    batch_norm_float32_input
                           the fused batch norm casts a 16-bit input to float32 before its kernel and the output
                           back, as before it passed bfloat16 and float16 inputs to the kernel as they are
                           (tfvae/networks/batch_norm.py; changes nothing under float32).
    no_thread_spinning     TensorFlow's thread pools sleep as soon as they run out of work instead of spinning a
                           while first (ConfigProto.experimental.disable_thread_spinning, set on the eager context
                           before it starts: no public TF2 API sets it).

benchmarks/results/cpu_flip.json keeps every run.
"""
import contextlib
import json
import os
import statistics
import tempfile
import time

from absl import app, flags

from benchmarks.common import EpochUsage, PeriodicSampler

FLAGS = flags.FLAGS

# name -> (environment variables, in-process changes)
SETTINGS = {
    "baseline": ({}, {}),
    "inter_op_1": ({}, {"inter_op": 1}),
    "intra_op_1": ({}, {"intra_op": 1}),
    "threads_2_2": ({}, {"inter_op": 2, "intra_op": 2}),
    "intra_op_4": ({}, {"intra_op": 4}),
    "onednn_off": ({"TF_ENABLE_ONEDNN_OPTS": "0"}, {}),
    "omp_1": ({"OMP_NUM_THREADS": "1"}, {}),
    "data_private_pool": ({}, {"data_private_pool": True}),
    "data_autotune": ({}, {"data_autotune": True}),
    "xla": ({}, {"jit_compile": True}),
    "steps_per_execution_1": ({}, {"steps_per_execution": 1}),
    "malloc_arena_2": ({"MALLOC_ARENA_MAX": "2"}, {}),
    "onednn_caller_thread": ({"TF_ONEDNN_THREADPOOL_USE_CALLER_THREAD": "true"}, {}),
    "onednn_system_allocator": ({"TF_ONEDNN_USE_SYSTEM_ALLOCATOR": "true"}, {}),
    "flush_denormals": ({}, {"flush_denormals": True}),
    "philox_without_xla": ({}, {"philox_without_xla": True}),
    "keras_conv_transpose": ({}, {"keras_conv_transpose": True}),
    "malloc_hugepages": ({"GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"}, {}),
    "model_rae_l2": ({}, {"model": "rae_l2"}),
    "no_thread_spinning": ({}, {"no_thread_spinning": True}),
    "batch_norm_float32_input": ({}, {"batch_norm_float32_input": True}),
}


def _flush_denormals():
    """Sets FTZ and DAZ in this thread's MXCSR through glibc's fegetenv/fesetenv (threads started afterwards inherit
    it). glibc's x86-64 fenv_t holds MXCSR at byte 28; its default is 0x1f80, checked before writing."""
    import ctypes
    import struct

    libm = ctypes.CDLL("libm.so.6")
    environment = ctypes.create_string_buffer(64)
    if libm.fegetenv(environment):
        raise RuntimeError("fegetenv failed")
    mxcsr = struct.unpack_from("<I", environment.raw, 28)[0]
    if mxcsr & 0xffff0000 or not mxcsr & 0x1f80:
        raise RuntimeError(f"Unexpected MXCSR {mxcsr:#x} at byte 28 of fenv_t: not glibc on x86-64?")
    struct.pack_into("<I", environment, 28, mxcsr | 0x8040)  # FTZ (bit 15) and DAZ (bit 6)
    if libm.fesetenv(environment):
        raise RuntimeError("fesetenv failed")
    import numpy as np

    tiny = np.array([np.finfo(np.float32).tiny], np.float32)
    if (tiny / np.float32(2))[0] != 0:
        raise RuntimeError("Denormals still computed after setting FTZ")


def _measure(setting):
    """Trains in this process under `setting`; returns the images/s of each epoch after the first, the wall-clock
    span [start, end] (time.time()) of the training and what the process spent on its epochs after the first
    (benchmarks.common.EpochUsage.summary)."""
    changes = SETTINGS[setting][1]
    if changes.get("flush_denormals"):
        _flush_denormals()
    import tensorflow as tf

    if changes.get("no_thread_spinning"):
        from tensorflow.core.protobuf import config_pb2
        from tensorflow.python.eager import context

        config = config_pb2.ConfigProto()
        config.experimental.disable_thread_spinning = True
        context.context()._config = config  # read when the context starts, with the threading settings merged in
    if "inter_op" in changes:
        tf.config.threading.set_inter_op_parallelism_threads(changes["inter_op"])
    if "intra_op" in changes:
        tf.config.threading.set_intra_op_parallelism_threads(changes["intra_op"])
    from tfvae import data, models, training
    from tfvae.data import DataSplits
    from tfvae.networks import shift_add

    if changes.get("keras_conv_transpose"):
        shift_add.MAX_SHIFT_ADD_FILTERS = 0  # no layer qualifies: Keras' code runs
    if changes.get("batch_norm_float32_input"):
        from tfvae.networks import batch_norm

        batch_norm._KERNEL_DTYPES = (tf.float32,)  # every other input dtype is cast to float32 first
    if changes.get("philox_without_xla"):
        from tfvae import rowwise_random

        rowwise_random._philox_rounds_compiled = tf.function(
            rowwise_random._philox_rounds.python_function, input_signature=[rowwise_random._WORD] * 6,
            autograph=False)

    if changes.get("data_private_pool") or changes.get("data_autotune"):
        from tfvae.training import trainer as trainer_module

        def changed(*args, **kwargs):
            options = tf.data.Options()
            if changes.get("data_private_pool"):
                options.threading.private_threadpool_size = 1
            else:
                options.autotune.enabled = True
            return data.make_dataset(*args, **kwargs).with_options(options)

        trainer_module.make_dataset = changed
    full = data.load("fashion_mnist")
    splits = DataSplits(name="fashion_mnist", train=full.train[:FLAGS.examples], validation=full.validation[:500],
                        test=full.test[:500])
    usage = EpochUsage()
    between_epochs = usage.between_epochs()
    with tempfile.TemporaryDirectory() as workdir:
        model = changes.get("model", FLAGS.model)
        trainer = training.Trainer(
            lambda: models.build(model, (28, 28, 1), latent_dim=16, network="conv"), splits, workdir,
            epochs=FLAGS.epochs, batch_size=100, log_images=False, jit_compile=changes.get("jit_compile", False),
            mixed_precision=FLAGS.mixed_precision,
            steps_per_execution=changes.get("steps_per_execution", 20),
            on_epoch_end=lambda record: between_epochs())
        started = time.time()
        history = trainer.fit()
        fit_span = [started, time.time()]
    return ([record["examples_per_second"] for record in history[1:]], fit_span,
            usage.summary(len(splits.train) // 100 * 100))


class CpuSampler(PeriodicSampler):
    """Per-second deltas of the machine's CPU time (/proc/stat's first line) while the `with` block runs."""

    FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
    WHAT = "/proc/stat"

    def __init__(self, interval=1.0):
        super().__init__(interval)
        self.deltas = []

    @staticmethod
    def _read():
        with open("/proc/stat") as f:
            return [int(value) for value in f.readline().split()[1:len(CpuSampler.FIELDS) + 1]]

    def _run(self):
        try:
            previous = self._read()
            while not self._stop.wait(self.interval):
                current = self._read()
                self.deltas.append(dict(zip(self.FIELDS, (now - before for now, before in zip(current, previous)))))
                previous = current
        except (OSError, ValueError) as error:  # no /proc, or another format: said at the end of the block
            self.error = error

    def shares(self, cores=None):
        """{"seconds": n, field: share of CPU time}: over every second, or with `cores` only over the seconds in
        which more than one of the `cores` cores was busy (training; start-up and tracing run mostly on one)."""
        def busy(d):
            return (sum(d.values()) - d["idle"] - d["iowait"]) / sum(d.values()) > 1 / cores

        kept = [d for d in self.deltas if sum(d.values()) and (cores is None or busy(d))]
        total = sum(sum(d.values()) for d in kept)
        return {"seconds": len(kept),
                **{field: sum(d[field] for d in kept) / total if total else float("nan") for field in self.FIELDS}}


def _run_child(setting):
    from benchmarks.common import run_child

    arguments = [f"--child={setting}", f"--examples={FLAGS.examples}", f"--epochs={FLAGS.epochs}",
                 f"--model={FLAGS.model}", f"--mixed_precision={FLAGS.mixed_precision}"]
    result = run_child("benchmarks.cpu_flip", arguments, SETTINGS[setting][0])
    return result["epoch_images_per_second"], result["fit_span"], result["usage"]


def main(argv):
    del argv
    if FLAGS.child:
        rates, fit_span, usage = _measure(FLAGS.child)
        print(json.dumps({"setting": FLAGS.child, "epoch_images_per_second": rates, "fit_span": fit_span,
                          "usage": usage}), flush=True)
        return
    from benchmarks import machine_probe
    from benchmarks.common import cpu_flags, median_and_spread, print_table, run_order, write_json

    unknown = sorted(set(FLAGS.settings) - set(SETTINGS))
    if unknown:
        raise ValueError(f"Unknown settings {unknown}. Expected some of {sorted(SETTINGS)}")
    runs = {setting: [] for setting in FLAGS.settings}
    epochs = {setting: [] for setting in FLAGS.settings}
    cpu_shares = {setting: [] for setting in FLAGS.settings}
    probes = {setting: [] for setting in FLAGS.settings}
    bandwidth = {setting: [] for setting in FLAGS.settings}
    usages = {setting: [] for setting in FLAGS.settings}
    for round_index in range(FLAGS.processes):
        for setting in run_order(FLAGS.settings, round_index):
            probe = ""
            if FLAGS.probe:
                probes[setting].append(machine_probe.probe())
                probe = f" [machine before: {machine_probe.describe(probes[setting][-1])}]"
            with contextlib.ExitStack() as stack:
                sampler = stack.enter_context(CpuSampler()) if FLAGS.sample_cpu else None
                memory = stack.enter_context(machine_probe.BandwidthSampler()) if FLAGS.sample_memory else None
                epoch_rates, fit_span, usage = _run_child(setting)
            usages[setting].append(usage)
            if memory is not None:  # the copies made while the child trained
                rates = memory.rates(*fit_span)
                bandwidth[setting].append(rates)
                if rates:
                    probe += (f" [memory during training: {statistics.median(rates):.1f} GB/s, "
                              f"{min(rates):.1f}-{max(rates):.1f}]")
            epochs[setting].append(epoch_rates)
            runs[setting].append(statistics.median(epoch_rates))
            cpu = ""
            if FLAGS.sample_cpu:
                shares = {"busy": sampler.shares(os.cpu_count()), "all": sampler.shares()}
                cpu_shares[setting].append(shares)
                cpu = "".join(f"; cpu over {part['seconds']} {name} s: user {part['user']:.1%}, system "
                              f"{part['system']:.1%}, idle {part['idle']:.1%}, steal {part['steal']:.1%}"
                              for name, part in shares.items())
            spent = EpochUsage.describe(usage)
            print(f"round {round_index + 1}/{FLAGS.processes} {setting:22s} {runs[setting][-1]:7.1f} images/s "
                  f"(epochs: {', '.join(f'{rate:.0f}' for rate in epoch_rates)}){spent}{probe}{cpu}", flush=True)
    rows = []
    for setting, rates in runs.items():
        median, low, high = median_and_spread(rates)
        every_epoch = [rate for process in epochs[setting] for rate in process]
        epoch_median = statistics.median(every_epoch)
        rows.append({"setting": setting, "median images/s": median, "min": low, "max": high,
                     "slowest / median": low / median, "processes": len(rates),
                     "slow epochs": f"{sum(rate < 0.75 * epoch_median for rate in every_epoch)}/{len(every_epoch)}",
                     "slowest epoch / median": min(every_epoch) / epoch_median})
        rows[-1].update(EpochUsage.columns(usages[setting]))
        if FLAGS.probe:
            gemm = [probe["gemm_gflops"] for probe in probes[setting]]
            rows[-1]["machine gemm GFLOP/s"] = "{:.0f} ({:.0f}-{:.0f})".format(*median_and_spread(gemm))
        if FLAGS.sample_memory:
            medians = [statistics.median(rates) for rates in bandwidth[setting] if rates]
            if medians:
                rows[-1]["memory GB/s during"] = "{:.1f} ({:.1f}-{:.1f})".format(*median_and_spread(medians))
    print_table(f"{FLAGS.model} training in {FLAGS.mixed_precision}, fresh process per run, {FLAGS.examples} images x {FLAGS.epochs} epochs "
                f"(slow epochs: under 0.75x the median epoch)", rows,
                ["setting", "median images/s", "min", "max", "slowest / median", "processes", "slow epochs",
                 "slowest epoch / median", *EpochUsage.COLUMNS]
                + (["machine gemm GFLOP/s"] if FLAGS.probe else [])
                + (["memory GB/s during"] if FLAGS.sample_memory else []))
    _print_correlations(runs, probes, bandwidth)
    import tensorflow as tf

    print("\nwrote", write_json("cpu_flip", {
        "settings": {"processes": FLAGS.processes, "examples": FLAGS.examples, "epochs": FLAGS.epochs,
                     "model": FLAGS.model, "mixed_precision": FLAGS.mixed_precision, "tensorflow": tf.__version__, "cpu_flags": cpu_flags()},
        "rows": rows, "runs": runs, "epochs": epochs, "usage": usages, "cpu_shares": cpu_shares, "probes": probes,
        "memory_during": bandwidth}))


def _print_correlations(runs, probes, bandwidth):
    """Pearson's r, over every process of every setting, between a process's rate and each machine measure."""
    rates = [rate for setting in runs for rate in runs[setting]]
    measures = {}
    if FLAGS.probe:
        measures["gemm GFLOP/s before"] = [p["gemm_gflops"] for setting in runs for p in probes[setting]]
        measures["copy GB/s before"] = [p["copy_gbs"] for setting in runs for p in probes[setting]]
    if FLAGS.sample_memory:
        measures["copy GB/s during (median)"] = [statistics.median(r) if r else float("nan")
                                                 for setting in runs for r in bandwidth[setting]]
    for name, values in measures.items():
        pairs = [(rate, value) for rate, value in zip(rates, values) if value == value]  # NaN: no copy made
        try:
            r = statistics.correlation(*zip(*pairs))
        except (statistics.StatisticsError, ValueError):  # fewer than two pairs, or a constant measure
            continue
        print(f"rate against {name}: Pearson r = {r:.2f} over {len(pairs)} processes")


def define_flags():
    """The benchmark's flags, defined only when it runs as a program: the tests import its parts."""
    flags.DEFINE_integer("processes", 10, "Fresh processes per setting.")
    flags.DEFINE_integer("examples", 5000, "Training images per epoch.")
    flags.DEFINE_integer("epochs", 3, "Epochs per process (the first, which traces, is discarded).")
    flags.DEFINE_string("model", "vae", "Model to train (vae or rae_l2).")
    flags.DEFINE_enum("mixed_precision", "float32", ["float32", "mixed_bfloat16", "mixed_float16"],
                      "Dtype policy of every process (tfvae.precision.POLICIES).")
    flags.DEFINE_list("settings", ["baseline", "inter_op_1", "intra_op_1", "onednn_off", "data_private_pool", "xla",
                                   "steps_per_execution_1"], "Settings to time.")
    flags.DEFINE_boolean("sample_cpu", False, "Sample /proc/stat every second during each process.")
    flags.DEFINE_boolean("probe", False, "Time a fixed NumPy workload in a fresh process before each process.")
    flags.DEFINE_boolean("sample_memory", False, "Time a 64 MiB copy every 2 s during each process.")
    flags.DEFINE_string("child", None, "Internal: run one measurement under this setting and print it as JSON.")


if __name__ == "__main__":
    define_flags()
    app.run(main)
