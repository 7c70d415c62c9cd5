"""Shared test set-up: two logical CPU devices (for MirroredStrategy) and helpers for subprocess tests."""
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

# Must run before anything touches the devices (NOTES.md).
_CPUS = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(_CPUS[0], [tf.config.LogicalDeviceConfiguration()] * 2)

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


# A prelude for child processes that must prove the SavedModel needs TensorFlow only.
TF_ONLY_PRELUDE = (
    "import sys\n"
    "for _name in ('keras', 'tensorflow_probability', 'tfvae', 'tf_keras', 'trainers', 'export'):\n"
    "    sys.modules[_name] = None\n"
    "import tensorflow as tf\n"
)


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


@pytest.fixture(scope="session")
def fashion_mnist_dir():
    if not os.path.isfile(os.path.join(FASHION_MNIST_DIR, "train-images-idx3-ubyte.gz")):
        pytest.fail(f"Fashion-MNIST is missing from {FASHION_MNIST_DIR}: run `apt-get install -y "
                    f"dataset-fashion-mnist` (.ci/run does).")
    return FASHION_MNIST_DIR


@pytest.fixture
def rng():
    return np.random.default_rng(0)
