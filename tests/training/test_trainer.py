"""The binaries' training loop: exact resume, reproducibility, divergence stop, plateau schedule, logs."""
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import assert_same_values
from tfvae import models, training
from tfvae.models import AE


def _vae():
    return models.build("vae", (8, 8, 1), latent_dim=4, network_kwargs={"hidden_units": (32,)})


def test_resumed_run_equals_uninterrupted_run(digits, tmp_path):
    straight = training.Trainer(_vae, digits, str(tmp_path / "a"), epochs=4, log_images=False)
    straight.fit()
    first = training.Trainer(_vae, digits, str(tmp_path / "b"), epochs=2, log_images=False)
    first.fit()
    resumed = training.Trainer(_vae, digits, str(tmp_path / "b"), epochs=4, log_images=False)
    history = resumed.fit()
    assert [record["epoch"] for record in history] == [3, 4]
    assert_same_values(resumed.model.weights, straight.model.weights)
    assert int(resumed.optimizer.iterations.numpy()) == 4 * (1347 // 100)


def test_finished_run_does_nothing(digits, tmp_path):
    training.Trainer(_vae, digits, str(tmp_path), epochs=1, log_images=False).fit()
    assert training.Trainer(_vae, digits, str(tmp_path), epochs=1, log_images=False).fit() == []


def test_on_epoch_end_sees_each_saved_epoch_once_and_can_stop_the_run(digits, tmp_path):
    seen = []

    def stop_after_two(record):
        saved = tf.train.latest_checkpoint(os.path.join(str(tmp_path), "checkpoints"))
        seen.append((record, int(saved.rsplit("-", 1)[1])))
        if record["epoch"] == 2:
            raise KeyboardInterrupt("enough")

    trainer = training.Trainer(_vae, digits, str(tmp_path), epochs=4, log_images=False, on_epoch_end=stop_after_two)
    with pytest.raises(KeyboardInterrupt, match="enough"):
        trainer.fit()
    # Each record as history.jsonl holds it, after its checkpoint was written.
    history = [json.loads(line) for line in open(os.path.join(str(tmp_path), "logs", "history.jsonl"))]
    assert [record for record, _ in seen] == history and [epoch for _, epoch in seen] == [1, 2]
    # The run resumes from the epoch the callback stopped after, and calls it for the new epochs only.
    later = []
    resumed = training.Trainer(_vae, digits, str(tmp_path), epochs=4, log_images=False,
                               on_epoch_end=lambda record: later.append(record["epoch"]))
    assert [record["epoch"] for record in resumed.fit()] == later == [3, 4]
    with pytest.raises(ValueError, match="on_epoch_end must be callable"):
        training.Trainer(_vae, digits, str(tmp_path), epochs=4, on_epoch_end="print")


def test_checkpoint_of_another_model_is_refused(digits, tmp_path):
    training.Trainer(_vae, digits, str(tmp_path), epochs=1, log_images=False).fit()
    other = lambda: models.build("ae", (8, 8, 1), latent_dim=7)  # noqa: E731
    with pytest.raises(ValueError, match="does not match this model"):
        training.Trainer(other, digits, str(tmp_path), epochs=2, log_images=False).fit()


class _DivergingAE(AE):
    """Produces a NaN loss from step 20 on (the second epoch of digits at batch 100)."""

    def regularizer(self, x, posterior, training=False):
        optimizer = getattr(self, "optimizer", None)
        step = optimizer.iterations if optimizer is not None else 0
        poison = tf.where(step >= 20, np.nan, 0.0)
        return tf.zeros_like(posterior["z"][:, 0]) + poison, {}


def test_nan_loss_stops_with_clear_error_and_keeps_last_good_checkpoint(digits, tmp_path):
    def build():
        model = _DivergingAE((8, 8, 1), latent_dim=3)
        model.build_for()
        return model

    trainer = training.Trainer(build, digits, str(tmp_path), epochs=5, steps_per_execution=1, log_images=False)
    with pytest.raises(training.TrainingDiverged, match="NaN or infinite during training in epoch 2.*ckpt-1"):
        trainer.fit()
    latest = tf.train.latest_checkpoint(str(tmp_path / "checkpoints"))
    assert latest.endswith("ckpt-1")
    restored = build()
    training.restore_weights(restored, latest)
    assert all(np.isfinite(w.numpy()).all() for w in restored.weights)


def test_learning_rate_halves_on_plateau(digits, tmp_path):
    trainer = training.Trainer(_vae, digits, str(tmp_path), epochs=1, patience=2, learning_rate=1e-3,
                               log_images=False)
    rates = [trainer._update_plateau(loss) for loss in [10.0, 9.0, 9.0, 9.0, 8.0, 8.5, 8.5]]
    np.testing.assert_allclose(rates, [1e-3, 1e-3, 1e-3, 5e-4, 5e-4, 5e-4, 2.5e-4], rtol=1e-6)


def test_logs_history_and_tensorboard(digits, tmp_path):
    training.Trainer(_vae, digits, str(tmp_path), epochs=2).fit()
    with open(tmp_path / "logs" / "history.jsonl") as f:
        records = [json.loads(line) for line in f]
    assert [r["epoch"] for r in records] == [1, 2]
    assert {"train/loss", "train/kl", "validation/loss", "learning_rate", "examples_per_second"} <= set(records[0])
    events = [name for name in os.listdir(tmp_path / "logs") if name.startswith("events.out.tfevents")]
    assert events
    tags = set()
    for event in tf.compat.v1.train.summary_iterator(str(tmp_path / "logs" / events[0])):
        tags.update(value.tag for value in event.summary.value)
    assert {"train/loss", "validation/loss", "validation_reconstructions_and_prior_samples"} <= tags


def test_history_follows_a_learned_decoder_variance(digits, tmp_path):
    """state/log_gamma is logged every epoch for a learned gamma (the two-stage VAE paper's figure 1a), equals the
    model's weight after training, and falls on digits as Theorem 3 predicts; a fixed gamma logs no state."""
    def build():
        return models.build("vae", (8, 8, 1), latent_dim=4, network_kwargs={"hidden_units": (32,)},
                            likelihood="gaussian_learned")

    trainer = training.Trainer(build, digits, str(tmp_path / "learned"), epochs=3, log_images=False)
    records = trainer.fit()
    values = [record["state/log_gamma"] for record in records]
    assert values[-1] == pytest.approx(float(trainer.model.likelihood.log_gamma.numpy()))
    assert values[0] < 0.0 and values[-1] < values[0]
    fixed = training.Trainer(_vae, digits, str(tmp_path / "fixed"), epochs=1, log_images=False).fit()
    assert not any(name.startswith("state/") for name in fixed[0])


def test_a_checkpoint_restores_every_weight_whatever_the_process_built_before(digits, tmp_path):
    """Every weight comes back, in a process that built other models first. Restored through the model's object
    graph, the decoupled prior's coupling networks (sub-layers held in a list, which TensorFlow's checkpoints do
    not follow) kept their initial weights: every evaluation and export in a process of its own read an untrained
    prior, i.e. N(0, I)."""
    def build():
        return models.build("vae", (8, 8, 1), latent_dim=4, network_kwargs={"hidden_units": (32,)},
                            prior="decoupled")

    trainer = training.Trainer(build, digits, str(tmp_path), epochs=1, log_images=False)
    trainer.fit()
    build()  # moves every automatic layer name of this process on
    fresh = build()
    training.restore_weights(fresh, trainer.manager.latest_checkpoint)
    assert_same_values(fresh.weights, trainer.model.weights)
