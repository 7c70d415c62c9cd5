"""One pass through the main job: configuration, data and model are resolved once and handed down; the job never
reads its own workdir back to continue (reading a run back is for the standalone binaries); on a workdir behind a
URL (ram://, TensorFlow's in-memory filesystem, standing in for gs://) as on the local disk."""
import json
import os
import uuid

import numpy as np
import pytest
import tensorflow as tf

from tfvae import data, files, models
from tfvae.density import DensityEstimator
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


@pytest.mark.slow  # a whole main job (train, densities, export, grid)
def test_the_main_job_on_tfrecord_files_trains_fits_densities_from_the_stream_and_exports(tmp_path, digit_records):
    directory, arrays = digit_records
    config = TrainConfig(workdir=str(tmp_path), dataset=f"tfrecord:{directory}/{{split}}-*.tfrecord", epochs=1,
                         max_validation_examples=100)
    result = jobs.run_main_job(config)
    assert result["export"].endswith("/export/rae_l2/1") and os.path.isfile(result["samples"])
    assert sorted(result["densities"]) == ["gaussian", "gmm"]
    assert result["history"][0]["epoch"] == 1
    # The densities were fitted on the latents of every training example, encoded batch by batch from the stream:
    # those of the same uint8 images held in memory (scaled there by a division, in pipelines by a multiplication
    # with 1/255: a float32 rounding apart).
    _, splits, model = jobs.load_run(str(tmp_path))
    assert splits.is_streamed("train") and len(splits.validation) == 100
    streamed_means, _ = jobs.encode_split(model, splits, "train")
    in_memory = data.DataSplits(name="uint8 digits", train=arrays["train"][0], validation=arrays["validation"][0],
                                test=arrays["test"][0])
    np.testing.assert_allclose(streamed_means, jobs.encode_split(model, in_memory, "train")[0], rtol=0, atol=1e-5)
    fitted = DensityEstimator.load(os.path.join(str(tmp_path), "density", "gaussian"))
    np.testing.assert_allclose(fitted.params["loc"].numpy(), streamed_means.mean(axis=0), rtol=1e-5, atol=1e-6)
    # The evaluation reads bounded heads of the streamed test and validation splits and trains its domain
    # classifier on streamed, labelled training examples.
    from trainers import evaluation

    report, _, _ = evaluation.evaluate(str(tmp_path), metric_names=["fd"], num_samples=100, classifier_epochs=1)
    assert report["num_samples"] == 100 and np.isfinite(report["metrics"]["fd_domain"]["samples/gmm"])
    assert "domain classifier of tfrecord:" in report["protocol"]["fd_domain"]["extractor"]


def test_the_jobs_read_data_with_the_runs_download_setting_and_cut_streams(tmp_path, digit_records):
    with pytest.raises(data.DataError, match="--download=false forbids downloading"):
        jobs.load_data(TrainConfig(dataset="tfds:mnist", data_dir=str(tmp_path), download=False))
    splits = jobs.load_data(TrainConfig(dataset=f"tfrecord:{digit_records[0]}/{{split}}-*.tfrecord",
                                        max_train_examples=300, max_validation_examples=50, cache="memory"))
    assert (len(splits.train), len(splits.validation), len(splits.test)) == (300, 50, 270)
    assert {splits.split(split).cache for split in data.SPLITS} == {"memory"}  # the run's --cache, after the cuts
    np.testing.assert_array_equal(splits.first("train", 1000), digit_records[1]["train"][0][:300] * np.float32(1 / 255))
