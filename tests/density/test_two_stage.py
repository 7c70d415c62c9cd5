"""The second-stage VAE of the two-stage VAE, as a density over latents."""
import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import assert_same_values
from tfvae.density import FitData, TwoStage
from tfvae.losses import mmd


def _ring(rng, count):
    angle = rng.uniform(0, 2 * np.pi, count)
    return (np.stack([np.cos(angle), np.sin(angle)], 1) * 3 + rng.normal(size=(count, 2)) * 0.1).astype(np.float32)


def test_second_stage_brings_a_ring_close_to_standard_normal(rng):
    latents = _ring(rng, 2000)
    estimator = TwoStage(epochs=30, learning_rate=1e-3, hidden_units=(64, 64, 64))
    info = estimator.fit(latents[:1600], latents[1600:])
    assert info["latents"] == "posterior means" and np.isfinite(info["validation_log_likelihood"])
    # A ring is the case where one Gaussian must fail. Measured: second stage -4.08 nats with seed 0, -3.85 to -3.90
    # with seeds 1-5 (importance-sampled, a lower bound), one Gaussian -4.35; the true density is about -2.1. The
    # second stage's single scalar decoder variance keeps it from the ring's 0.1 width in 30 epochs; it still must
    # beat the Gaussian.
    from tfvae.density import Gaussian

    gaussian_ll = Gaussian().fit(latents[:1600], latents[1600:])["validation_log_likelihood"]
    assert info["validation_log_likelihood"] > gaussian_ll + 0.2, (info["validation_log_likelihood"], gaussian_ll)
    reference = tf.random.stateless_normal([400, 2], seed=[1, 1])
    before = float(mmd(tf.constant(latents[1600:]), reference))
    after = float(mmd(estimator.encode_to_generation_space(latents[1600:]), reference))
    # Two-stage VAE paper, table 3: the second stage closes the gap to N(0, I). Measured on this ring with seeds 0-5
    # (the initialization is the seed's): 0.38 before; after 0.056 (seed 0, the default), 0.005-0.009 (seeds 1-5).
    assert after < before / 5, (before, after)
    samples = estimator.sample(2000, seed=[3, 4]).numpy()
    radius = np.linalg.norm(samples, axis=1)
    assert abs(np.median(radius) - 3.0) < 0.5  # Samples lie on the ring, not in its hole.


def test_stage_two_is_fed_fresh_posterior_samples_not_means(rng, monkeypatch):
    means = rng.normal(size=(256, 3)).astype(np.float32)
    log_variances = np.full_like(means, np.log(0.25))
    estimator = TwoStage(epochs=3, hidden_units=(8,))
    seen = []
    original = FitData.epoch_latents

    def spy(self, epoch):
        batch = original(self, epoch)
        seen.append(batch.copy())
        return batch

    monkeypatch.setattr(FitData, "epoch_latents", spy)
    # The second stage resamples every epoch whatever use_posterior_samples says (two-stage VAE protocol).
    info = estimator.fit(means, posterior_log_variances=log_variances, use_posterior_samples=False)
    assert info["latents"] == "fresh posterior samples every epoch" and len(seen) == 3
    for batch in seen:
        assert not np.allclose(batch, means)
        np.testing.assert_allclose(np.std(batch - means), 0.5, rtol=0.05)  # sigma = sqrt(0.25)
    assert not np.allclose(seen[0], seen[1])  # Fresh noise every epoch.


def test_epoch_trained_densities_log_their_progress(rng, monkeypatch, caplog):
    import logging

    from tfvae.density import Flow, density_estimator

    monkeypatch.setattr(density_estimator, "PROGRESS_SECONDS", 0.0)  # a line after every epoch
    latents = rng.normal(size=(128, 2)).astype(np.float32)
    with caplog.at_level(logging.INFO, logger="absl"):
        TwoStage(epochs=3, hidden_units=(8,)).fit(latents)
        Flow(epochs=2, num_couplings=2, hidden_units=8).fit(latents)
    lines = [record.getMessage() for record in caplog.records if " density: epoch " in record.getMessage()]
    assert [line.split("  ")[0] for line in lines] == [
        "two_stage density: epoch 1/3", "two_stage density: epoch 2/3", "two_stage density: epoch 3/3",
        "flow density: epoch 1/2", "flow density: epoch 2/2"], lines
    assert all("loss " in line and "eta " in line for line in lines)
    assert lines[-1].endswith("eta 0:00:00")


class _Cut(Exception):
    """A fit stopped from outside (a kill, in a real run)."""


def _second_stage(latents, log_variances, checkpoint_dir=None):
    estimator = TwoStage(epochs=4, batch_size=32, hidden_units=(16,), seed=3)
    report = estimator.fit(latents, posterior_log_variances=log_variances, checkpoint_dir=checkpoint_dir)
    return estimator, report


def test_a_second_stage_fit_cut_midway_resumes_to_the_uninterrupted_weights(rng, monkeypatch, tmp_path, caplog):
    import logging

    from tfvae.density import density_estimator

    monkeypatch.setattr(density_estimator, "CHECKPOINT_SECONDS", 0.0)  # a checkpoint after every epoch
    means = rng.normal(size=(96, 3)).astype(np.float32)
    log_variances = np.full_like(means, np.log(0.1))
    reference, reference_report = _second_stage(means, log_variances)  # no checkpoints
    checkpointed, _ = _second_stage(means, log_variances, str(tmp_path / "whole"))
    assert_same_values(checkpointed.vae.weights, reference.vae.weights)  # checkpointing does not change the fit

    # Cut after 2 of 4 epochs (the third epoch's data fails), then the same call again on the same folder.
    original, epochs_run = FitData.epoch_latents, []

    def cut(self, epoch):
        epochs_run.append(epoch)
        if epoch == 2 and len(epochs_run) == 3:
            raise _Cut()
        return original(self, epoch)

    monkeypatch.setattr(FitData, "epoch_latents", cut)
    folder = str(tmp_path / "cut")
    with pytest.raises(_Cut):
        _second_stage(means, log_variances, folder)
    with caplog.at_level(logging.INFO, logger="absl"):
        resumed, resumed_report = _second_stage(means, log_variances, folder)
    assert epochs_run == [0, 1, 2, 2, 3]  # the cut epoch again, never the done ones
    assert any("resumed from" in r.getMessage() and "after 2 epochs" in r.getMessage() for r in caplog.records)
    assert_same_values(resumed.vae.weights, reference.vae.weights)
    assert resumed_report["final_loss"] == reference_report["final_loss"]

    # A checkpoint of other latents is not resumed: the fit starts over and trains every epoch.
    epochs_run.clear()
    monkeypatch.setattr(FitData, "epoch_latents", lambda self, epoch: epochs_run.append(epoch) or original(self, epoch))
    _second_stage(means + 1.0, log_variances, folder)
    assert epochs_run == [0, 1, 2, 3]


def test_a_second_stage_fit_resumes_past_a_damaged_index_and_a_cut_newest_checkpoint(rng, monkeypatch, tmp_path):
    import glob
    import os

    from tfvae.density import density_estimator

    monkeypatch.setattr(density_estimator, "CHECKPOINT_SECONDS", 0.0)  # a checkpoint after every epoch
    means = rng.normal(size=(96, 3)).astype(np.float32)
    log_variances = np.full_like(means, np.log(0.1))
    reference, _ = _second_stage(means, log_variances)
    original, epochs_run = FitData.epoch_latents, []

    def cut(self, epoch):  # stopped in the fourth epoch: ckpt-2 and ckpt-3 on disk
        epochs_run.append(epoch)
        if epoch == 3 and len(epochs_run) == 4:
            raise _Cut()
        return original(self, epoch)

    monkeypatch.setattr(FitData, "epoch_latents", cut)
    folder = tmp_path / "cut"
    with pytest.raises(_Cut):
        _second_stage(means, log_variances, str(folder))
    (folder / "checkpoint").write_text("")
    data = glob.glob(str(folder / "ckpt-3.data-*"))[0]
    os.truncate(data, 16)
    resumed, _ = _second_stage(means, log_variances, str(folder))
    assert epochs_run == [0, 1, 2, 3, 2, 3]  # from ckpt-2: the damaged ckpt-3's epoch again, never from scratch
    assert_same_values(resumed.vae.weights, reference.vae.weights)
    assert glob.glob(str(folder / "damaged" / "*" / "ckpt-3.index"))
