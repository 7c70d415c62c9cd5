"""Shared test set-up: two logical CPU devices (for MirroredStrategy), helpers for subprocess tests and the trained
workdirs that several tests read (trained once per session, in-process)."""
import json
import os
import subprocess
import sys
import time

if os.environ.get("PYTEST_XDIST_WORKER"):
    # pytest.ini runs two workers, one per core of the 2-core machines the suite is timed on: NumPy's OpenBLAS and
    # scikit-learn's OpenMP pools get one thread each (set before NumPy loads OpenBLAS, which reads the variable
    # once, and inherited by the processes the tests start). With a pool of two threads per worker and both cores
    # busy, the pools' threads spin against each other: a GMM fit took over ten times as long.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pytest
import tensorflow as tf

# Must run before anything touches the devices: once TensorFlow has initialized them, changing the logical device
# configuration raises RuntimeError.
_CPUS = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(_CPUS[0], [tf.config.LogicalDeviceConfiguration()] * 2)
if os.environ.get("PYTEST_XDIST_WORKER"):
    # One pytest-xdist worker per core (pytest.ini): a single intra-op thread each keeps two workers from
    # oversubscribing the cores. The inter-op pool keeps its default size: the MirroredStrategy tests run two
    # replicas whose collective ops must execute concurrently.
    tf.config.threading.set_intra_op_parallelism_threads(1)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"


def subprocess_env(**extra):
    """Environment for child processes: the repository importable, quiet TensorFlow logs."""
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    env.update(extra)
    return env


def run_python(args, timeout=300, check=True, **env):
    """Runs `python ARGS...` from the repository root; returns the CompletedProcess (stdout+stderr merged)."""
    result = subprocess.run([sys.executable, *args], cwd=REPO, env=subprocess_env(**env), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"python {' '.join(args)} failed with {result.returncode}:\n{result.stdout[-6000:]}")
    return result


def assert_same_values(actual, expected, rtol=0.0, atol=0.0, what="values"):
    """Asserts that two sequences of weights (variables, tensors or arrays) are equally long, not empty, and equal
    pair by pair: exactly by default, within `rtol`/`atol` otherwise.

    A bare `for a, b in zip(...)` stops at the shorter sequence, so it passes when one side lost weights or both are
    empty; this checks the lengths first. A failure names the variable's path where it has one.
    """
    actual, expected = list(actual), list(expected)
    assert len(actual) == len(expected) > 0, (f"{what}: {len(actual)} to compare with {len(expected)} expected "
                                              f"(both must be equally many and at least one)")
    for index, (a, e) in enumerate(zip(actual, expected)):
        label = f"{what} [{index}] {getattr(e, 'path', getattr(a, 'path', ''))}".rstrip()
        a, e = (np.asarray(v.numpy() if hasattr(v, "numpy") else v) for v in (a, e))
        assert a.shape == e.shape, f"{label}: shape {a.shape}, expected {e.shape}"  # numpy would broadcast
        if rtol == 0.0 and atol == 0.0:
            np.testing.assert_array_equal(a, e, err_msg=label)
        else:
            np.testing.assert_allclose(a, e, rtol=rtol, atol=atol, err_msg=label)


def assert_svg_plot(path, page=None):
    """Asserts that `path` is a standalone SVG document of a drawn matplotlib plot: it parses as XML under an <svg>
    root, holds axes, and draws data (something stroked or filled in a colour: axes, ticks, grids and backgrounds
    are grey); given the text of an HTML `page`, the page inlines this very <svg> element with the file's name in the
    caption under it. Returns the document's text."""
    import re
    from xml.etree import ElementTree

    assert os.path.isfile(path), f"no SVG file at {path}"
    with open(path, encoding="utf-8") as f:
        document = f.read()
    root = ElementTree.fromstring(document)
    assert root.tag == "{http://www.w3.org/2000/svg}svg", (path, root.tag)
    assert '<g id="axes_' in document, f"{path}: no axes"
    colours = {colour for colour in re.findall(r"(?:stroke|fill): #([0-9a-f]{6})", document)
               if len({colour[0:2], colour[2:4], colour[4:6]}) > 1}
    assert colours, f"{path}: nothing drawn in a colour (no data)"
    if page is not None:
        inline = document[document.index("<svg"):]
        at = page.find(inline)
        assert at >= 0, f"{path} is not a plot the page shows"
        caption = page[at + len(inline):].split("</figcaption>", 1)[0]
        assert caption.startswith("<figcaption>") and os.path.basename(path) in caption, (path, caption[:200])
    return document


# A prelude for child processes that must prove the SavedModel needs TensorFlow only.
TF_ONLY_PRELUDE = (
    "import sys\n"
    "for _name in ('keras', 'tensorflow_probability', 'tfvae', 'tf_keras', 'trainers', 'export'):\n"
    "    sys.modules[_name] = None\n"
    "import tensorflow as tf\n"
)


# Modules whose tests take 20-80 s each: scheduled first, so that the two workers share the many short tests at the
# end instead of one of them finishing a long test alone.
_LONG_FIRST = ("tests/trainers/test_reproduce.py", "tests/trainers/test_evaluate.py", "tests/test_crash_safety.py",
               "tests/test_model_zoo_training.py")


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's own hook, which reads the xdist_group markers
def pytest_collection_modifyitems(items):
    """Keeps tests that share expensive state in one pytest-xdist worker (`--dist loadgroup`, pytest.ini): users of
    the session's main job, and the tests of a module whose module-scoped fixture trains or exports something. Every
    other test is scheduled on its own, so the two workers stay balanced; the long modules go first."""
    items.sort(key=lambda item: not item.nodeid.startswith(_LONG_FIRST))  # stable: the order is kept otherwise
    for item in items:
        fixtures = getattr(item, "_fixtureinfo", None)
        if fixtures is None:
            continue
        if "main_job" in item.fixturenames:
            item.add_marker(pytest.mark.xdist_group("main_job"))
        elif any(definitions[-1].scope == "module" for definitions in fixtures.name2fixturedefs.values()):
            item.add_marker(pytest.mark.xdist_group(item.module.__name__))


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory):
    """`trained_run(**config)` trains `trainers.jobs.run_main_job(TrainConfig(workdir=NEW, **config))` in-process once
    per distinct `config` in the session and returns (workdir path, the job's result dict, seconds the job took), so
    tests that need the same trained run (the model-zoo job of a model and an evaluation of it) train it once.

    The workdir is shared: treat it as read-only (copy it to change it, as the fit_density test does).
    """
    from trainers import jobs
    from trainers.config import TrainConfig

    runs = {}

    def run(**config):
        key = json.dumps(config, sort_keys=True, default=str)
        if key not in runs:
            workdir = tmp_path_factory.mktemp("run")
            started = time.perf_counter()
            try:
                result = jobs.run_main_job(TrainConfig(workdir=str(workdir), **config))
            except Exception as error:  # Every test of this run fails with the job's error; none trains it again.
                runs[key] = error
                raise
            runs[key] = workdir, result, time.perf_counter() - started
        if isinstance(runs[key], Exception):
            raise RuntimeError(f"The trained run {key} failed in an earlier test") from runs[key]
        return runs[key]

    return run


# Settings that keep one epoch of every model to seconds on 2 cores; the decoupled prior with 2 couplings of 16 units
# instead of dpVAE's 6 of 64 (the same code, a third of the graph to trace).
_ZOO_MODEL_KWARGS = {"factor_vae": {"discriminator_units": [256, 256]}, "two_stage_vae": {"second_stage_epochs": 2}}
_ZOO_PRIOR_KWARGS = {"decoupled": {"num_couplings": 2, "hidden_units": 16}}


def zoo_config(model, prior="standard", **extra):
    """`trained_run` arguments of the model-zoo job of `model` (one epoch, Gaussian fitted); tests that need a
    trained model of their own reuse these runs."""
    model_kwargs = dict(_ZOO_MODEL_KWARGS.get(model, {}))
    if prior in _ZOO_PRIOR_KWARGS:
        model_kwargs["prior_kwargs"] = _ZOO_PRIOR_KWARGS[prior]
    return {"model": model, "prior": prior, "epochs": 1, "densities": ("gaussian",), "model_kwargs": model_kwargs,
            **extra}


@pytest.fixture(scope="session")
def main_job(trained_run):
    """The README's main job: every default of `trainers.train` but the workdir (RAE-L2 on digits for 100 epochs,
    GMM and Gaussian fitted, export version 1, samples.png). (workdir, result, seconds) as `trained_run`."""
    return trained_run()


@pytest.fixture(scope="session")
def mirrored():
    """The one MirroredStrategy over the 2 logical CPUs of the test session.

    Several MirroredStrategy instances in one process hand out overlapping collective instance keys, and their
    all-reduces then fail with "Shape mismatch in the collective instance"; tests share this one instead.
    """
    return tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])


@pytest.fixture(scope="session")
def digits():
    from tfvae import data

    return data.load("digits")


# Files per split of `digit_records`.
DIGIT_RECORD_FILES = {"train": 4, "validation": 2, "test": 2}


@pytest.fixture(scope="session")
def digit_records(tmp_path_factory, digits):
    """scikit-learn's digits (the `digits` fixture's splits, as uint8) written as TFRecord files of PNG images with
    labels, DIR/{split}-K.tfrecord (`DIGIT_RECORD_FILES`), example i of a split in its file i % files: so the fixed
    order of `tfrecord:DIR/{split}-*.tfrecord` (files interleaved record by record) is the arrays' order.

    Returns (DIR as str, {split: (uint8 images [N, 8, 8, 1], int64 labels)}). Treat the files as read-only."""
    from tfvae.data import write_image_tfrecord

    directory = tmp_path_factory.mktemp("digit_records")
    arrays = {}
    for split, count in DIGIT_RECORD_FILES.items():
        images = np.round(digits.split(split) * 255).astype(np.uint8)
        labels = digits.labels(split)
        arrays[split] = images, labels
        for index in range(count):
            write_image_tfrecord(str(directory / f"{split}-{index}.tfrecord"), images[index::count],
                                 labels[index::count])
    return str(directory), arrays


@pytest.fixture(scope="session")
def fashion_mnist_dir():
    if not os.path.isfile(os.path.join(FASHION_MNIST_DIR, "train-images-idx3-ubyte.gz")):
        pytest.fail(f"Fashion-MNIST is missing from {FASHION_MNIST_DIR}: run `apt-get install -y "
                    f"dataset-fashion-mnist` (.ci/run does).")
    return FASHION_MNIST_DIR


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def train_flags():
    """trainers.train's flags on absl's global FlagValues for one test, parsed by `parse(argv)`; removed afterwards
    so that no other binary's flags (fit_density's --density) clash with them in this process."""
    from absl import flags

    from trainers import flags as tfvae_flags
    from trainers import jobs  # noqa: F401 - what trainers.train imports: registers the strategies, models, ...

    before = set(flags.FLAGS)
    tfvae_flags.define_train_flags()

    def parse(argv):
        flags.FLAGS.unparse_flags()
        flags.FLAGS(["trainers.train", *argv])
        return tfvae_flags.train_config_from_flags()

    try:
        yield parse
    finally:
        flags.FLAGS.unparse_flags()
        for name in set(flags.FLAGS) - before:
            delattr(flags.FLAGS, name)
