"""Hunts the two-speed flip of TensorFlow training on small CPUs: each setting is timed in many fresh processes.

On 2-core machines a training process has been seen to run either at full speed or at about half of it for its
whole life. A flip is a property of a process, so one process per measurement: every round starts one fresh process
per setting (alternating the settings inside the round), each trains the VAE of `train_throughput` (conv net,
Fashion-MNIST, batch 100) through the binaries' Trainer and reports the median images/s of its epochs after the
first. The table gives, per setting, the median, range and the slowest run over the median (a flip shows as a ratio
near 0.5), and over every epoch of every process the count of slow epochs (under 0.75x the median epoch) and the
slowest epoch over the median: a stall that hits one epoch in three shows there before it moves a process' median.

    python -m benchmarks.cpu_flip [--processes=10] [--examples=5000] [--epochs=3]
        [--settings=baseline,inter_op_1,intra_op_1,onednn_off,data_private_pool,xla,steps_per_execution_1]

Settings (one suspect changed at a time against the baseline):
    baseline               TensorFlow's defaults (as the binaries run).
    inter_op_1             tf.config.threading inter-op pool of 1 thread (default: one per core).
    intra_op_1             intra-op pool of 1 thread.
    threads_2_2            inter-op and intra-op pools of 2 threads each, fixed.
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
    keras_conv_transpose   the decoder's one-channel output layer on Keras' transposed-convolution kernel instead of
                           the shift-add (tfvae/networks/shift_add.py), as before that layer.

benchmarks/results/cpu_flip.json keeps every run.
"""
import json
import statistics
import tempfile

from absl import app, flags

flags.DEFINE_integer("processes", 10, "Fresh processes per setting.")
flags.DEFINE_integer("examples", 5000, "Training images per epoch.")
flags.DEFINE_integer("epochs", 3, "Epochs per process (the first, which traces, is discarded).")
flags.DEFINE_string("model", "vae", "Model to train (vae or rae_l2).")
flags.DEFINE_list("settings", ["baseline", "inter_op_1", "intra_op_1", "onednn_off", "data_private_pool", "xla",
                               "steps_per_execution_1"], "Settings to time.")
flags.DEFINE_string("child", None, "Internal: run one measurement under this setting and print it as JSON.")
FLAGS = flags.FLAGS

# name -> (environment variables, in-process changes)
SETTINGS = {
    "baseline": ({}, {}),
    "inter_op_1": ({}, {"inter_op": 1}),
    "intra_op_1": ({}, {"intra_op": 1}),
    "threads_2_2": ({}, {"inter_op": 2, "intra_op": 2}),
    "onednn_off": ({"TF_ENABLE_ONEDNN_OPTS": "0"}, {}),
    "omp_1": ({"OMP_NUM_THREADS": "1"}, {}),
    "data_private_pool": ({}, {"data_private_pool": True}),
    "data_autotune": ({}, {"data_autotune": True}),
    "xla": ({}, {"jit_compile": True}),
    "steps_per_execution_1": ({}, {"steps_per_execution": 1}),
    "malloc_arena_2": ({"MALLOC_ARENA_MAX": "2"}, {}),
    "onednn_caller_thread": ({"TF_ONEDNN_THREADPOOL_USE_CALLER_THREAD": "true"}, {}),
    "onednn_system_allocator": ({"TF_ONEDNN_USE_SYSTEM_ALLOCATOR": "true"}, {}),
    "keras_conv_transpose": ({}, {"keras_conv_transpose": True}),
}


def _measure(setting):
    """Trains in this process under `setting`; returns the images/s of each epoch after the first."""
    import tensorflow as tf

    changes = SETTINGS[setting][1]
    if "inter_op" in changes:
        tf.config.threading.set_inter_op_parallelism_threads(changes["inter_op"])
    if "intra_op" in changes:
        tf.config.threading.set_intra_op_parallelism_threads(changes["intra_op"])
    from tfvae import data, models, training
    from tfvae.data import DataSplits
    from tfvae.networks import shift_add

    if changes.get("keras_conv_transpose"):
        shift_add.MAX_SHIFT_ADD_FILTERS = 0  # no layer qualifies: Keras' code runs

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
    with tempfile.TemporaryDirectory() as workdir:
        trainer = training.Trainer(
            lambda: models.build(FLAGS.model, (28, 28, 1), latent_dim=16, network="conv"), splits, workdir,
            epochs=FLAGS.epochs, batch_size=100, log_images=False, jit_compile=changes.get("jit_compile", False),
            steps_per_execution=changes.get("steps_per_execution", 20))
        history = trainer.fit()
    return [record["examples_per_second"] for record in history[1:]]


def _run_child(setting):
    from benchmarks.common import run_child

    arguments = [f"--child={setting}", f"--examples={FLAGS.examples}", f"--epochs={FLAGS.epochs}",
                 f"--model={FLAGS.model}"]
    return run_child("benchmarks.cpu_flip", arguments, SETTINGS[setting][0])["epoch_images_per_second"]


def main(argv):
    del argv
    if FLAGS.child:
        print(json.dumps({"setting": FLAGS.child, "epoch_images_per_second": _measure(FLAGS.child)}), flush=True)
        return
    from benchmarks.common import cpu_flags, median_and_spread, print_table, write_json

    unknown = sorted(set(FLAGS.settings) - set(SETTINGS))
    if unknown:
        raise ValueError(f"Unknown settings {unknown}. Expected some of {sorted(SETTINGS)}")
    runs = {setting: [] for setting in FLAGS.settings}
    epochs = {setting: [] for setting in FLAGS.settings}
    for round_index in range(FLAGS.processes):
        for setting in FLAGS.settings:
            epoch_rates = _run_child(setting)
            epochs[setting].append(epoch_rates)
            runs[setting].append(statistics.median(epoch_rates))
            print(f"round {round_index + 1}/{FLAGS.processes} {setting:22s} {runs[setting][-1]:7.1f} images/s "
                  f"(epochs: {', '.join(f'{rate:.0f}' for rate in epoch_rates)})", flush=True)
    rows = []
    for setting, rates in runs.items():
        median, low, high = median_and_spread(rates)
        every_epoch = [rate for process in epochs[setting] for rate in process]
        epoch_median = statistics.median(every_epoch)
        rows.append({"setting": setting, "median images/s": median, "min": low, "max": high,
                     "slowest / median": low / median, "processes": len(rates),
                     "slow epochs": f"{sum(rate < 0.75 * epoch_median for rate in every_epoch)}/{len(every_epoch)}",
                     "slowest epoch / median": min(every_epoch) / epoch_median})
    print_table(f"{FLAGS.model} training, fresh process per run, {FLAGS.examples} images x {FLAGS.epochs} epochs "
                f"(slow epochs: under 0.75x the median epoch)", rows,
                ["setting", "median images/s", "min", "max", "slowest / median", "processes", "slow epochs",
                 "slowest epoch / median"])
    import tensorflow as tf

    print("\nwrote", write_json("cpu_flip", {
        "settings": {"processes": FLAGS.processes, "examples": FLAGS.examples, "epochs": FLAGS.epochs,
                     "model": FLAGS.model, "tensorflow": tf.__version__, "cpu_flags": cpu_flags()},
        "rows": rows, "runs": runs, "epochs": epochs}))


if __name__ == "__main__":
    app.run(main)
