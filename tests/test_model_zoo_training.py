"""Every registered model trains through the binaries' job (train, densities, export, sample grid)."""
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import zoo_config
from tests.goldens import learned_prior_model_names
from tfvae import registry
from trainers import jobs
from trainers.config import TrainConfig

pytestmark = pytest.mark.slow

# Every model with the standard prior; the decoupled prior through the job for the VAE and for the two-stage VAE
# (whose second stage is fitted on a decoupled model's latents). The decoupled variant of every other model whose
# loss involves the prior runs the contract tests (tests/goldens.py derives them from the registry: step, config,
# saving, the SavedModel contract), which is where its own code differs.
DECOUPLED_THROUGH_THE_JOB = ("vae", "two_stage_vae")
CASES = ([(name, "standard") for name in registry.names("model")]
         + [(name, "decoupled") for name in DECOUPLED_THROUGH_THE_JOB])


def test_the_decoupled_job_cases_are_models_with_a_learned_prior():
    assert set(DECOUPLED_THROUGH_THE_JOB) <= set(learned_prior_model_names())


@pytest.mark.parametrize("model, prior", CASES)
def test_one_epoch_on_digits_writes_a_sample_grid(model, prior, trained_run):
    workdir, result, _ = trained_run(**zoo_config(model, prior))
    record = result["history"][0]
    assert all(np.isfinite(v) for k, v in record.items() if k.startswith(("train/", "validation/"))), record
    png = tf.io.decode_png(tf.io.read_file(result["samples"]))
    assert png.shape[-1] == 1 and int(tf.reduce_max(png)) > int(tf.reduce_min(png))
    metadata = json.loads(open(os.path.join(result["export"], "assets.extra", "tfvae_metadata.json")).read())
    expected = {"two_stage_vae": "two_stage", "dcgan": "prior", "wgan_gp": "prior"}.get(model, "gaussian")
    assert metadata["default_sampler"] == expected
    # The workdir's checkpoint gives back the trained model: the export (written from the live model) and the model
    # every other binary rebuilds with load_run draw the same images from the prior.
    _, _, rebuilt = jobs.load_run(workdir)
    seeds = tf.constant([[3, row] for row in range(4)], tf.int32)
    exported = tf.saved_model.load(result["export"]).signatures["sample_prior"](seed=seeds)
    np.testing.assert_allclose(rebuilt.prior.sample_from_seeds(seeds), exported["latents"], atol=1e-5)
    np.testing.assert_allclose(rebuilt.decode(exported["latents"]), exported["images"], atol=1e-5)


@pytest.mark.parametrize("model, prior, network", [
    ("rae_l2", "standard", "conv"), ("vae", "decoupled", "conv"), ("beta_tcvae", "decoupled", "infogan"),
    ("vgh_pp", "standard", "dcgan"), ("wgan_gp", "standard", "dcgan"), ("two_stage_vae", "standard", "infogan"),
])
def test_one_epoch_on_a_fashion_mnist_subset(model, prior, network, tmp_path, fashion_mnist_dir):
    config = TrainConfig(workdir=str(tmp_path), **zoo_config(model, prior), network=network, dataset="fashion_mnist",
                         data_dir=fashion_mnist_dir, max_train_examples=400, max_validation_examples=200)
    result = jobs.run_main_job(config)
    assert np.isfinite(result["history"][0]["validation/loss"])
    assert tf.io.decode_png(tf.io.read_file(result["samples"])).shape[0] >= 200
