"""The binaries' main job end to end (train, densities, export, sample grid) for one model of each kind, and a check
that every registered model trains through the job's code here or in a reproduction smoke test."""
import json
import os
import re

import numpy as np
import pytest
import tensorflow as tf

from tests import goldens
from tests.conftest import zoo_config
from tests.goldens import learned_prior_model_names
from tfvae import registry
from trainers import jobs
from trainers import reproduction  # noqa: F401  (registers the experiments)
from trainers.config import TrainConfig

pytestmark = pytest.mark.slow
_REPRODUCE_TESTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "trainers", "test_reproduce.py")

# The whole main job (train, densities, export, sample grid, and the model rebuilt from the workdir drawing what the
# export draws) for one model per base class (`goldens.representative_goldens`: a GAN, whose default sampler is the
# prior, a deterministic AE, a VAE, an adversarial AE and VAE) and the decoupled prior (the VAE, and the two-stage VAE,
# whose own default sampler is its second stage fitted on a decoupled model's latents).
# Every other model trains through the same job code (`jobs.train_and_fit_densities`) in the reproduction smoke tests,
# and every model's golden exports the SavedModel contract in tests/export (`goldens.own_code_goldens`):
# `test_every_model_trains_through_the_job_somewhere` keeps the first true.
DECOUPLED_THROUGH_THE_JOB = ("vae", "two_stage_vae")
STANDARD_THROUGH_THE_JOB = sorted({goldens.MODEL_GOLDENS[key][1].get("model", key)
                                   for key in goldens.representative_goldens()})
CASES = ([(name, "standard") for name in STANDARD_THROUGH_THE_JOB]
         + [(name, "decoupled") for name in DECOUPLED_THROUGH_THE_JOB])


def test_every_model_trains_through_the_job_somewhere():
    """Each registered model runs the main job here or trains in a reproduction experiment's smoke test."""
    in_experiments = {row.protocol.model for name in registry.names("experiment")
                      for row in registry.get("experiment", name).rows}
    missing = set(registry.names("model")) - in_experiments - set(STANDARD_THROUGH_THE_JOB)
    assert not missing, f"Models trained by no job test: {sorted(missing)}"
    smoked = set(re.findall(r'run_experiment\("(\w+)", "smoke"', open(_REPRODUCE_TESTS).read()))
    assert set(registry.names("experiment")) <= smoked, smoked


def test_the_decoupled_job_cases_are_models_with_a_learned_prior():
    assert set(DECOUPLED_THROUGH_THE_JOB) <= set(learned_prior_model_names())


@pytest.mark.parametrize("model, prior", CASES)
def test_one_epoch_on_digits_writes_a_sample_grid(model, prior, trained_run):
    workdir, result, _ = trained_run(**zoo_config(model, prior))
    record = result["history"][0]
    losses = {k: v for k, v in record.items() if k.startswith(("train/", "validation/"))}
    assert {"train/loss", "validation/loss"} <= set(losses) and all(np.isfinite(v) for v in losses.values()), record
    png = tf.io.decode_png(tf.io.read_file(result["samples"]))
    assert png.shape[-1] == 1 and int(tf.reduce_max(png)) > int(tf.reduce_min(png))
    metadata = json.loads(open(os.path.join(result["export"], "assets.extra", "tfvae_metadata.json")).read())
    expected = {"two_stage_vae": "two_stage", "dcgan": "prior", "wgan_gp": "prior"}.get(model, "gaussian")
    assert metadata["default_sampler"] == expected
    # The two-stage VAE's second stage checkpoints its fit; the checkpoints go once the density is saved.
    assert not os.path.exists(os.path.join(workdir, jobs.DENSITY_CHECKPOINTS))
    # The workdir's checkpoint gives back the trained model: the export (written from the live model) and the model
    # every other binary rebuilds with load_run draw the same images from the prior.
    _, _, rebuilt = jobs.load_run(workdir)
    seeds = tf.constant([[3, row] for row in range(4)], tf.int32)
    exported = tf.saved_model.load(result["export"]).signatures["sample_prior"](seed=seeds)
    np.testing.assert_allclose(rebuilt.prior.sample_from_seeds(seeds), exported["latents"], atol=1e-5)
    np.testing.assert_allclose(rebuilt.decode(exported["latents"]), exported["images"], atol=1e-5)


# Each convolutional network once: conv (with the decoupled prior), infogan (with the two-stage VAE's second stage),
# dcgan (with a hybrid's two discriminators).
@pytest.mark.parametrize("model, prior, network", [
    ("vae", "decoupled", "conv"), ("vgh_pp", "standard", "dcgan"), ("two_stage_vae", "standard", "infogan"),
])
def test_one_epoch_on_a_fashion_mnist_subset(model, prior, network, tmp_path, fashion_mnist_dir):
    config = TrainConfig(workdir=str(tmp_path), **zoo_config(model, prior), network=network, dataset="fashion_mnist",
                         data_dir=fashion_mnist_dir, max_train_examples=400, max_validation_examples=200)
    result = jobs.run_main_job(config)
    assert np.isfinite(result["history"][0]["validation/loss"])
    assert tf.io.decode_png(tf.io.read_file(result["samples"])).shape[0] >= 200
