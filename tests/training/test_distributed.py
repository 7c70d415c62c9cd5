"""The same per-replica math under every strategy that can run on CPU."""
import json
import os
import socket
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import REPO, assert_same_values, subprocess_env
from tfvae import models, training


def _model():
    return models.build("rae_l2", (8, 8, 1), latent_dim=4, network_kwargs={"hidden_units": (32,)}, weight_decay=1e-2)


def test_one_mirrored_step_equals_one_device_step(digits, mirrored):
    # SGD, not Adam: Adam's first step is about lr * sign(gradient), blind to a wrongly scaled gradient (a plain
    # reduce_mean per replica doubles it on 2 replicas) and it amplifies rounding where a gradient is near 0.
    x = tf.constant(digits.train[:16])
    keras.utils.set_random_seed(0)
    single = _model()
    single.compile(optimizer=keras.optimizers.SGD(0.5))
    single.optimizer.build(single.trainable_variables)
    strategy = mirrored
    assert strategy.num_replicas_in_sync == 2
    with strategy.scope():
        mirrored = _model()
        mirrored.set_weights(single.get_weights())
        mirrored.compile(optimizer=keras.optimizers.SGD(0.5))
        mirrored.optimizer.build(mirrored.trainable_variables)

    single_logs = tf.function(single.replica_step)(x)
    batch = next(iter(strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensors(x))))
    replica_logs = tf.function(lambda b: strategy.run(mirrored.replica_step, args=(b,)))(batch)
    loss = strategy.reduce(tf.distribute.ReduceOp.MEAN, replica_logs["loss"], axis=None)
    np.testing.assert_allclose(float(loss), float(single_logs["loss"]), rtol=1e-5)
    assert_same_values(mirrored.weights, single.weights, atol=1e-6)
    assert not np.allclose(single.get_weights()[0], _model().get_weights()[0])  # The step did move the weights.


def test_trainer_under_mirrored_strategy(digits, tmp_path, mirrored):
    trainer = training.Trainer(_model, digits, str(tmp_path), strategy=mirrored, epochs=2, log_images=False)
    history = trainer.fit()
    assert len(history) == 2 and history[1]["validation/loss"] < history[0]["validation/loss"]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_two_workers(tmp_path, *child_arguments):
    """Runs tests.training.multi_worker_child as two workers on localhost; returns their saved weights."""
    workers = [f"127.0.0.1:{_free_port()}", f"127.0.0.1:{_free_port()}"]
    processes, outputs = [], []
    for index in range(2):
        config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        outputs.append(str(tmp_path / f"worker{index}.npz"))
        processes.append(subprocess.Popen(
            [sys.executable, "-m", "tests.training.multi_worker_child", str(tmp_path / "run"), outputs[-1],
             *child_arguments], cwd=REPO, env=subprocess_env(TF_CONFIG=json.dumps(config)), stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True))
    logs = []
    for process in processes:
        try:
            logs.append(process.communicate(timeout=240)[0])
        finally:
            process.kill()
    assert all(p.returncode == 0 for p in processes), "\n\n".join(log[-3000:] for log in logs)
    first, second = np.load(outputs[0]), np.load(outputs[1])
    for key in first.files:
        np.testing.assert_array_equal(first[key], second[key], err_msg=key)
    # Only the chief writes the run's checkpoints; the other worker saves beside them.
    assert tf.train.latest_checkpoint(str(tmp_path / "run" / "checkpoints")).endswith("ckpt-1")
    assert os.path.isdir(tmp_path / "run" / "checkpoints-workers" / "worker-1")
    return first


@pytest.mark.slow
def test_multi_worker_two_processes_hold_the_same_weights(tmp_path):
    weights = _run_two_workers(tmp_path)
    assert int(weights["iterations"]) == 2  # 200 examples, global batch 100.


@pytest.mark.slow
def test_the_main_job_trains_on_tfrecord_files_under_two_workers_each_reading_its_own(tmp_path, digit_records):
    # 4 training files, 2 validation files: dealt out 2 and 1 per worker (tests/data/test_streaming.py checks the
    # dealing); every worker runs the epoch's 1347 // 100 steps on its own share. The chief fits the density.
    weights = _run_two_workers(tmp_path, f"tfrecord:{digit_records[0]}/{{split}}-*.tfrecord")
    assert int(weights["iterations"]) == 1347 // 100
    assert os.path.isfile(tmp_path / "run" / "density" / "gaussian" / "config.json")


def test_strategy_factory_errors(monkeypatch):
    with pytest.raises(ValueError, match="needs --tpu=ADDRESS"):
        training.make_strategy("tpu")
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="needs the TF_CONFIG environment variable"):
        training.make_strategy("multi_worker")
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ValueError, match="TF_CONFIG must be JSON"):
        training.make_strategy("multi_worker")
    with pytest.raises(ValueError, match="Unknown strategy 'horovod'"):
        training.make_strategy("horovod")


def test_batch_must_divide_over_replicas(digits, tmp_path, mirrored):
    with pytest.raises(ValueError, match="multiple of the 2 replicas"):
        training.Trainer(_model, digits, str(tmp_path), strategy=mirrored, batch_size=99)


def test_jit_compile_is_refused_with_several_cpu_replicas(digits, tmp_path, mirrored):
    # TensorFlow fails on it: MirroredStrategy over 2 CPU devices lifts the XLA step into one cluster that reads
    # replica 1's variables from device 0; two CPU workers stop at "Collectives are not yet implemented for CPU
    # devices when compiling with XLA" (both seen with TF 2.21).
    with pytest.raises(ValueError, match=r"cannot compile the step with XLA across 2 replicas on CPU devices.*"
                                         r"Received: jit_compile=True, 2 replicas on .*CPU:0, .*CPU:1"):
        training.Trainer(_model, digits, str(tmp_path), strategy=mirrored, jit_compile=True)
    assert not os.listdir(tmp_path)  # refused before writing anything


def test_factory_builds_each_local_strategy():
    # Built, not run: running a second MirroredStrategy's collectives in this process would clash with `mirrored`.
    assert training.make_strategy("mirrored", devices=["/cpu:0", "/cpu:1"]).num_replicas_in_sync == 2
    assert training.make_strategy("default").num_replicas_in_sync == 1
