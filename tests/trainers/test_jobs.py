"""One pass through the main job: configuration, data and model are resolved once and handed down; the job never
reads its own workdir back to continue (reading a run back is for the standalone binaries)."""
import numpy as np
import pytest

from tfvae import models
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
