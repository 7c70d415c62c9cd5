"""Keras callbacks in the binaries' training loop: the standard hooks with `self.model` set, Keras' own CSVLogger and
TerminateOnNaN, each epoch reported once across a resume, stopping from a callback, the progress bar, and
`--callbacks=MODULE:FACTORY`."""
import csv
import math
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfvae import models, training
from trainers import flags as tfvae_flags


def _vae():
    return models.build("vae", (8, 8, 1), latent_dim=4, network_kwargs={"hidden_units": (16,)})


class Recorder(keras.callbacks.Callback):
    """Records every hook with its argument, and which model it was given."""

    def __init__(self, stop_after_epoch=None):
        super().__init__()
        self.calls, self.stop_after_epoch = [], stop_after_epoch

    def on_train_begin(self, logs=None):
        self.calls.append(("train_begin", self.model))

    def on_epoch_begin(self, epoch, logs=None):
        self.calls.append(("epoch_begin", epoch))

    def on_train_batch_end(self, batch, logs=None):
        self.calls.append(("batch_end", batch, dict(logs)))

    def on_epoch_end(self, epoch, logs=None):
        self.calls.append(("epoch_end", epoch, dict(logs)))
        if epoch + 1 == self.stop_after_epoch:
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        self.calls.append(("train_end", dict(logs)))

    def epochs_ended(self):
        return [call[1] for call in self.calls if call[0] == "epoch_end"]


def make_recorder():
    """A factory for `--callbacks=tests.training.test_callbacks:make_recorder`."""
    return [Recorder(), keras.callbacks.TerminateOnNaN()]


def _trainer(digits, workdir, epochs, callbacks, **kwargs):
    return training.Trainer(_vae, digits, str(workdir), epochs=epochs, log_images=False, steps_per_execution=5,
                            callbacks=callbacks, **kwargs)


def test_hooks_follow_keras_order_with_the_model_and_logs_once_per_epoch_across_a_resume(digits, tmp_path):
    recorder, csv_path = Recorder(), str(tmp_path / "log.csv")
    trainer = _trainer(digits, tmp_path / "run", 2, [recorder, keras.callbacks.CSVLogger(csv_path)])
    history = trainer.fit()
    steps = 1347 // 100  # 13 steps a epoch, in calls of 5, 5 and 3
    names = [call[0] for call in recorder.calls]
    assert names == (["train_begin"] + (["epoch_begin"] + ["batch_end"] * 3 + ["epoch_end"]) * 2 + ["train_end"])
    assert recorder.calls[0][1] is trainer.model and recorder.model is trainer.model
    assert [call[1] for call in recorder.calls if call[0] == "batch_end"][:3] == [4, 9, steps - 1]
    last_batch = [call for call in recorder.calls if call[0] == "batch_end"][2][2]
    epoch_logs = recorder.calls[5][2]
    assert math.isclose(last_batch["loss"], history[0]["train/loss"], rel_tol=1e-6)  # running mean at the end
    assert epoch_logs["loss"] == history[0]["train/loss"] and epoch_logs["val_loss"] == history[0]["validation/loss"]
    assert {"kl", "reconstruction", "val_kl", "val_reconstruction", "learning_rate"} <= epoch_logs.keys()
    with open(csv_path) as f:
        rows = list(csv.DictReader(f))
    assert [int(row["epoch"]) for row in rows] == [0, 1]
    assert float(rows[1]["val_loss"]) == pytest.approx(history[1]["validation/loss"], rel=1e-6)

    resumed_recorder = Recorder()
    resumed = _trainer(digits, tmp_path / "run", 4, [resumed_recorder])
    assert [record["epoch"] for record in resumed.fit()] == [3, 4]
    assert recorder.epochs_ended() + resumed_recorder.epochs_ended() == [0, 1, 2, 3]  # each epoch once


def test_a_callback_that_stops_training_ends_fit_after_a_saved_epoch(digits, tmp_path):
    recorder = Recorder(stop_after_epoch=2)
    history = _trainer(digits, tmp_path, 5, [recorder]).fit()
    assert [record["epoch"] for record in history] == [1, 2] and recorder.calls[-1][0] == "train_end"
    assert tf.train.latest_checkpoint(os.path.join(str(tmp_path), "checkpoints")).endswith("ckpt-2")
    # Started again, the run goes on from there (stop_training is reset for each fit).
    assert [record["epoch"] for record in _trainer(digits, tmp_path, 3, [Recorder()]).fit()] == [3]


def test_terminate_on_nan_sees_the_nan_loss_and_the_run_stops_with_its_checkpoint_untouched(digits, tmp_path):
    trainer = _trainer(digits, tmp_path, 2, [keras.callbacks.TerminateOnNaN()])
    names = list(trainer.model.trackers)
    trainer._train_steps = lambda iterator, num_steps: {name: tf.constant(np.nan) for name in names}
    with pytest.raises(training.TrainingDiverged):
        trainer.fit()
    assert trainer.model.stop_training  # set by Keras' TerminateOnNaN from the batch logs


def test_the_progress_bar_shows_each_epoch_when_asked(digits, tmp_path, capsys):
    _trainer(digits, tmp_path / "bar", 1, None, progress_bar=True).fit()
    shown = capsys.readouterr().out
    assert "Epoch 1/1" in shown and "13/13" in shown and "loss:" in shown
    _trainer(digits, tmp_path / "quiet", 1, None, progress_bar=False).fit()
    assert capsys.readouterr().out == ""


def test_callbacks_are_loaded_from_module_factory_specs():
    loaded = tfvae_flags.load_callbacks(["tests.training.test_callbacks:make_recorder"])
    assert [type(callback) for callback in loaded] == [Recorder, keras.callbacks.TerminateOnNaN]
    with pytest.raises(ValueError, match="MODULE:FACTORY"):
        tfvae_flags.load_callbacks(["tests.training.test_callbacks"])
    with pytest.raises(ValueError, match="cannot load nope from tests.training.test_callbacks"):
        tfvae_flags.load_callbacks(["tests.training.test_callbacks:nope"])
    with pytest.raises(ValueError, match="not a keras.callbacks.Callback"):
        tfvae_flags.load_callbacks(["tests.training.test_callbacks:_vae"])
    with pytest.raises(ValueError, match="must be keras.callbacks.Callback instances"):
        training.Trainer(_vae, None, "/tmp/unused", callbacks=[print])


def test_an_epoch_trained_density_shows_a_bar_on_a_terminal_and_log_lines_elsewhere(capsys, caplog, monkeypatch):
    import logging

    from tfvae.density import density_estimator

    progress = density_estimator.EpochProgress("two_stage", epochs=4, first_epoch=1, progress_bar=True)
    for epoch in (1, 2, 3):
        progress.epoch_done(epoch, loss=float(epoch))
    shown = capsys.readouterr().out
    assert "two_stage density" in shown and "4/4" in shown and "loss: 3.0000" in shown

    monkeypatch.setattr(density_estimator, "PROGRESS_SECONDS", 0.0)
    with caplog.at_level(logging.INFO, logger="absl"):
        quiet = density_estimator.EpochProgress("two_stage", epochs=4, progress_bar=False)
        quiet.epoch_done(0, loss=2.5)
    assert capsys.readouterr().out == ""
    assert any("two_stage density: epoch 1/4  loss 2.5000" in r.getMessage() for r in caplog.records)


def test_an_eta_of_more_than_a_day_keeps_its_days(caplog, monkeypatch):
    import logging

    from tfvae.density import density_estimator

    monkeypatch.setattr(density_estimator, "PROGRESS_SECONDS", 0.0)
    clock = iter([1000.0, 1200.0])  # the first epoch takes 200 s: 999 more take 2 days, 7 h 30 min
    monkeypatch.setattr(density_estimator.time, "perf_counter", lambda: next(clock))
    progress = density_estimator.EpochProgress("two_stage", epochs=1000, progress_bar=False)
    with caplog.at_level(logging.INFO, logger="absl"):
        progress.epoch_done(0, loss=1.0)
    assert caplog.records[-1].getMessage().endswith("eta 2 days, 7:30:00"), caplog.records[-1].getMessage()
