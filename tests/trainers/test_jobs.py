"""One pass through the main job: configuration, data and model are resolved once and handed down; the job never
reads its own workdir back to continue (reading a run back is for the standalone binaries); on a workdir behind a
URL (ram://, TensorFlow's in-memory filesystem, standing in for gs://) as on the local disk."""
import json
import os
import uuid

import numpy as np
import pytest
import tensorflow as tf

from tfvae import files, models
from trainers import jobs
from trainers.config import TrainConfig


@pytest.mark.slow  # a whole main job (train, densities, export, grid)
def test_the_main_job_loads_the_data_once_builds_the_model_once_and_reads_back_no_run(tmp_path, monkeypatch):
    counts = {"data": 0, "model": 0, "load_run": 0, "read_config": 0}

    def counting(name, function):
        def wrapper(*args, **kwargs):
            counts[name] += 1
            return function(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(jobs.data, "load", counting("data", jobs.data.load))
    monkeypatch.setattr(jobs.models, "build", counting("model", jobs.models.build))
    monkeypatch.setattr(jobs, "load_run", counting("load_run", jobs.load_run))
    monkeypatch.setattr(jobs, "read_config", counting("read_config", jobs.read_config))
    result = jobs.run_main_job(TrainConfig(workdir=str(tmp_path), epochs=1, max_train_examples=300,
                                           densities=("gaussian",)))
    assert result["export"].endswith("/export/rae_l2/1")
    assert counts == {"data": 1, "model": 1, "load_run": 0, "read_config": 0}


def _history_epochs(workdir):
    return [json.loads(line)["epoch"] for line in files.read_text(f"{workdir}/logs/history.jsonl").splitlines()]


def _objects(root):
    """Relative paths of every file under `root` (on any filesystem)."""
    found = []
    for name in files.listdir(root):
        path = f"{root}/{name}"
        found += [f"{name}/{below}" for below in _objects(path)] if tf.io.gfile.isdir(path) else [name]
    return found


@pytest.mark.slow  # two main jobs (train, densities, export, grid)
def test_the_main_job_runs_and_resumes_on_a_workdir_behind_a_url(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a URL handed to `os` would create a local folder "ram:" here
    workdir = f"ram://tfvae-tests/{uuid.uuid4().hex}/run"
    config = {"workdir": workdir, "dataset": "digits", "densities": ("gaussian", "gmm"), "components": 3,
              "max_train_examples": 300}
    first = jobs.run_main_job(TrainConfig(epochs=2, **config))
    assert [record["epoch"] for record in first["history"]] == [1, 2] and _history_epochs(workdir) == [1, 2]
    assert first["export"] == f"{workdir}/export/rae_l2/1" and first["samples"] == f"{workdir}/samples.png"
    second = jobs.run_main_job(TrainConfig(epochs=3, **config))
    assert [record["epoch"] for record in second["history"]] == [3]  # resumed from ckpt-2, not restarted
    assert _history_epochs(workdir) == [1, 2, 3]
    assert json.loads(files.read_text(f"{workdir}/config.json"))["epochs"] == 3
    assert second["export"] == f"{workdir}/export/rae_l2/2"  # new weights: a new version
    stored = _objects(workdir)
    for name in ("checkpoints/ckpt-3.index", "density/gaussian/config.json", "density/gmm/params.npz",
                 "export/rae_l2/2/saved_model.pb", "export/rae_l2/2/assets.extra/tfvae_metadata.json",
                 "export/rae_l2/2/assets.extra/tf_serving_warmup_requests", "samples.png"):
        assert name in stored, name
    assert not [name for name in stored if os.path.basename(name).startswith(".tmp-")], stored
    assert tf.io.decode_png(files.read_bytes(second["samples"])).shape[0] >= 64

    loaded = tf.saved_model.load(second["export"])
    seeds = tf.constant([[7, 0], [7, 1], [7, 2]], tf.int32)
    samples = loaded.signatures["sample_gmm"](seed=seeds)
    assert samples["images"].shape == (3, 8, 8, 1) and samples["latents"].shape == (3, 16)
    np.testing.assert_array_equal(samples["images"].numpy(),
                                  loaded.signatures["sample_gmm"](seed=seeds)["images"].numpy())
    assert os.listdir(tmp_path) == []


def test_the_float32_twin_of_a_mixed_precision_model_has_its_weights_in_memory(digits):
    config = TrainConfig(model="vae", dataset="digits", mixed_precision="mixed_bfloat16").resolve(digits)
    mixed = models.build(config.model, digits.element_shape, mixed_precision="mixed_bfloat16",
                         **config.model_arguments(digits))
    twin = jobs.float32_model(mixed, config, digits)
    assert twin is not mixed and twin.mixed_precision == "float32"
    assert len(twin.weights) == len(mixed.weights) > 0
    for a, b in zip(twin.weights, mixed.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    float32 = models.build(config.model, digits.element_shape, **config.model_arguments(digits))
    assert jobs.float32_model(float32, config, digits) is float32
