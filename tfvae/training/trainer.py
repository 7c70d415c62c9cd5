"""The training loop of the binaries: any tf.distribute strategy, checkpoints every epoch, resume, divergence stop,
learning-rate halving on plateau, TensorBoard, progress."""
import datetime
import json
import math
import os
import sys
import time

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from tfvae import checkpoints
from tfvae import images as image_utils
from tfvae import precision
from tfvae.data import make_dataset
from tfvae.files import append_line, atomic_write
from tfvae.models.autoencoder import Autoencoder
from tfvae.models.generator import STEPS_PER_EXECUTION
from tfvae.training.strategies import is_chief

_MEAN = tf.distribute.ReduceOp.MEAN
# The checkpoint key of a LossScaleOptimizer's scale: its presence says the run used float16 loss scaling.
_LOSS_SCALE_KEY = "/dynamic_scale/.ATTRIBUTES/VARIABLE_VALUE"
HISTORY_FILE = "history.jsonl"


def weights_by_position(model):
    """{"0000": variable, ...}: every weight of `model` keyed by its position in `model.weights`, the part of a
    checkpoint that `restore_weights` reads.

    TensorFlow checkpoints follow an object graph, and Keras 3 custom layers hold sub-layers in lists that the graph
    does not follow (the decoupled prior's coupling networks): restored through the model alone, such weights kept
    their initial values, silently. The order of `model.weights` is fixed by the model's configuration.
    """
    return {f"{index:04d}": variable for index, variable in enumerate(model.weights)}


def restore_weights(model, checkpoint_path):
    """Restores every weight of `model` (built) from a checkpoint written by `Trainer`, or raises ValueError."""
    try:
        tf.train.Checkpoint(weights=weights_by_position(model)).restore(
            checkpoint_path).expect_partial().assert_existing_objects_matched()
    except (AssertionError, ValueError) as error:
        raise ValueError(f"The checkpoint {checkpoint_path} does not hold the weights of this model (was the workdir "
                         f"used for another model or configuration?). Received: {error}") from error


class TrainingDiverged(RuntimeError):
    """Raised when a loss becomes NaN or infinite; the last good checkpoint is left untouched."""


class Trainer:
    """Trains an autoencoder on `DataSplits` (in memory or streamed) under a distribution strategy, checkpointing
    every epoch.

    The per-replica math is the model's `replica_step`, the same one `model.fit` runs, called here through
    `strategy.run`: so one device, MirroredStrategy, MultiWorkerMirroredStrategy (where Keras 3 `fit` fails) and
    TPUStrategy share it. Starting a Trainer on a workdir with checkpoints resumes from the last one, with the
    optimizer state, learning rate, plateau counter and shuffling order of an uninterrupted run.

    Args:
        model_fn: callable returning a built, uncompiled model; called inside the strategy scope.
        splits: DataSplits. Training and validation data, in memory or streamed from files (a multi-worker run
            reads each worker's share of the files).
        workdir: str. Checkpoints go to WORKDIR/checkpoints, TensorBoard logs and history to WORKDIR/logs; a local
            folder or any URL `tf.io.gfile` writes (gs://, s3://, ram://).
        strategy: tf.distribute.Strategy or None (the default strategy).
        epochs: int. Total epochs (a resumed run continues up to this number). Defaults to 100 (RAE protocol).
        batch_size: int. Global batch size. Defaults to 100 (RAE protocol).
        learning_rate: float. Initial Adam learning rate. Defaults to 1e-3 (RAE paper).
        seed: int. Seed of weight initialization and shuffling. Defaults to 0.
        patience: int. Epochs without a validation improvement before the learning rate is halved (RAE protocol:
            "cut in half every time the validation loss plateaus"; Keras ReduceLROnPlateau's default); 0 keeps the
            learning rate fixed (Rosca et al.'s protocol). Defaults to 10.
        halve_every_epochs: int. Also halve the learning rate after every this many epochs (a step schedule, the
            two-stage VAE's); 0: none. Defaults to 0.
        min_delta: float. Absolute decrease of the validation loss that counts as progress (absolute, because
            likelihood losses carry large constants that make relative thresholds meaningless). Defaults to 1e-4.
        min_learning_rate: float. The halving stops here. Defaults to 1e-6.
        steps_per_execution: int. Training steps run per call into the compiled loop; larger values cut Python
            overhead. Defaults to 20.
        jit_compile: bool. Compile the per-replica step with XLA (what TPUs need). Defaults to False.
        mixed_precision: str. Dtype policy of the model's networks: "float32", "mixed_bfloat16" or "mixed_float16"
            (`tfvae.precision`); `model_fn` runs inside `precision.policy_scope(mixed_precision)`, so models built
            without their own policy take it. Under mixed_float16 every optimizer scales the loss. A checkpoint
            resumes under any policy with the same loss scaling (float32 <-> mixed_bfloat16); between
            mixed_float16 and the others the optimizers' checkpointed state differs and resuming is refused.
            Defaults to "float32".
        adam_beta_1, adam_beta_2: float or None. Adam moments; None takes the model's `adam_betas` ((0.9, 0.999), or
            (0.5, 0.9) for adversarial models).
        log_images: bool. Write a reconstruction and sample grid to TensorBoard every epoch. Defaults to True.
        max_to_keep: int. Checkpoints kept. Defaults to 3.
        on_epoch_end: callable or None. Called with each finished epoch's record (the dict `fit` returns and
            history.jsonl holds) after the epoch's checkpoint is written, on every worker; an exception it raises
            stops `fit` with the epoch already saved. Defaults to None.
        callbacks: list of `keras.callbacks.Callback` or None. Called as `model.fit` calls them, with `self.model`
            set: `on_train_begin`/`on_train_end` once per `fit` call, `on_epoch_begin` and `on_epoch_end` (logs as
            Keras writes them: `loss`, each loss term, `val_loss`, `val_<term>`, `learning_rate`) for every epoch
            trained in this call (after its checkpoint is written, so across a kill and a resume each epoch is
            reported once when its callback had run), `on_train_batch_begin`/`on_train_batch_end` per call into the
            compiled loop (`steps_per_execution` steps, as Keras does; logs are the epoch's running means). A
            callback that sets `model.stop_training` ends `fit` after the current epoch (saved). Defaults to None.
        progress_bar: bool or None. Show Keras' progress bar per epoch; None: when stdout is a terminal (otherwise
            a log line every 15 s). Defaults to None.
    """

    def __init__(self, model_fn, splits, workdir, strategy=None, epochs=100, batch_size=100, learning_rate=1e-3,
                 seed=0, patience=10, halve_every_epochs=0, min_delta=1e-4, min_learning_rate=1e-6,
                 steps_per_execution=STEPS_PER_EXECUTION,
                 jit_compile=False, mixed_precision="float32", adam_beta_1=None, adam_beta_2=None, log_images=True,
                 max_to_keep=3, on_epoch_end=None, callbacks=None, progress_bar=None):
        if epochs < 1:
            raise ValueError(f"epochs must be at least 1. Received: epochs={epochs}")
        if learning_rate <= 0:
            raise ValueError(f"learning_rate must be positive. Received: learning_rate={learning_rate}")
        if on_epoch_end is not None and not callable(on_epoch_end):
            raise ValueError(f"on_epoch_end must be callable or None. Received: on_epoch_end={on_epoch_end!r}")
        callbacks = list(callbacks or [])
        for callback in callbacks:
            if not isinstance(callback, keras.callbacks.Callback):
                raise ValueError(f"callbacks must be keras.callbacks.Callback instances (Keras 3). "
                                 f"Received: {callback!r}")
        self.on_epoch_end = on_epoch_end
        self.splits = splits
        self.workdir = workdir
        self.strategy = strategy or tf.distribute.get_strategy()
        self.epochs = int(epochs)
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.patience = int(patience)
        self.halve_every_epochs = int(halve_every_epochs)
        self.min_delta = float(min_delta)
        self.min_learning_rate = float(min_learning_rate)
        self.steps_per_execution = max(1, int(steps_per_execution))
        self.jit_compile = bool(jit_compile)
        self.mixed_precision = precision.check_policy(mixed_precision)
        self.log_images = log_images and splits.is_image
        self.is_chief = is_chief(self.strategy)
        if self.is_chief:
            hint = precision.bfloat16_hint(self.mixed_precision,
                                           {device.device_type for device in tf.config.list_logical_devices()})
            if hint:
                logging.info(hint)
        replicas = self.strategy.num_replicas_in_sync
        if self.batch_size % replicas:
            raise ValueError(f"batch_size must be a multiple of the {replicas} replicas so every replica gets the "
                             f"same static batch. Received: batch_size={batch_size}")
        _check_jit_compile(self.jit_compile, self.strategy)

        keras.utils.set_random_seed(self.seed)
        with self.strategy.scope():
            with precision.policy_scope(self.mixed_precision):
                self.model = model_fn()
            if self.model.mixed_precision != self.mixed_precision:
                raise ValueError(f"model_fn built a model with mixed_precision={self.model.mixed_precision!r}, but "
                                 f"the Trainer runs mixed_precision={self.mixed_precision!r}: leave the model's "
                                 f"policy unset or make the two agree.")
            beta_1, beta_2 = self.model.adam_betas
            self.model.compile(optimizer=keras.optimizers.Adam(
                learning_rate, beta_1=beta_1 if adam_beta_1 is None else adam_beta_1,
                beta_2=beta_2 if adam_beta_2 is None else adam_beta_2))
            self.optimizer = self.model.optimizer  # a LossScaleOptimizer around the Adam under mixed_float16
            # Optimizer variables are created now: inside the scope (optimizers built outside it break training under
            # a strategy), before a checkpoint is restored into them, and for the variables the main loss updates
            # (discriminators have their own optimizers).
            self.optimizer.build(self.model.main_variables())
            self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
            self.best_validation_loss = tf.Variable(np.inf, dtype=tf.float64, trainable=False)
            self.epochs_without_improvement = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.checkpoint = tf.train.Checkpoint(model=self.model, weights=weights_by_position(self.model),
                                              optimizer=self.optimizer, epoch=self.epoch,
                                              best_validation_loss=self.best_validation_loss,
                                              epochs_without_improvement=self.epochs_without_improvement)
        checkpoint_dir = os.path.join(workdir, "checkpoints")
        if not self.is_chief:
            # Every worker must save (saving is collective), but only the chief's files are the run's checkpoints.
            worker = f"worker-{self.strategy.cluster_resolver.task_id}"
            checkpoint_dir = os.path.join(workdir, "checkpoints-workers", worker)
        self.checkpoint_dir = checkpoint_dir
        self.max_to_keep = int(max_to_keep)
        # Built by `restore`, once the index is known to be sound (a damaged one fails the manager's constructor).
        self.manager = None
        self.log_dir = os.path.join(workdir, "logs")
        self.writer = None  # created by `fit` once a checkpoint (or none) is restored: a refused run writes nothing
        self._train_steps = self._make_train_function()
        self._test_step = self._make_test_function()
        # Keras' own dispatcher: `set_model`, `set_params` and every hook of the standard Callback interface.
        self.callbacks = keras.callbacks.CallbackList(callbacks, model=self.model)
        self.progress_bar = sys.stdout.isatty() if progress_bar is None else bool(progress_bar)

    # ------------------------------------------------------------------------------------------ compiled
    def _make_train_function(self):
        strategy, model = self.strategy, self.model
        step = tf.function(model.replica_step, jit_compile=True) if self.jit_compile else model.replica_step
        names = list(model.trackers)

        @tf.function
        def train_steps(iterator, num_steps):
            totals = {name: tf.constant(0.0) for name in names}
            for _ in tf.range(num_steps):
                logs = strategy.run(step, args=(next(iterator),))
                totals = {name: totals[name] + strategy.reduce(_MEAN, logs[name], axis=None) for name in names}
            return totals

        return train_steps

    def _make_test_function(self):
        strategy, model = self.strategy, self.model

        @tf.function
        def test_step(batch):
            logs = strategy.run(model.replica_test_step, args=(batch,))
            return {name: strategy.reduce(_MEAN, value, axis=None) for name, value in logs.items()}

        return test_step

    # ------------------------------------------------------------------------------------------- public
    def restore(self):
        """Restores the newest checkpoint of the workdir that reads completely (`restore_newest_readable`: damaged
        ones are moved aside, never trusted); returns the epoch to start from (0 for a new run)."""
        restored = checkpoints.restore_newest_readable(self.checkpoint_dir, self._restore_checkpoint)
        self.manager = tf.train.CheckpointManager(self.checkpoint, self.checkpoint_dir, max_to_keep=self.max_to_keep)
        if restored is None:
            return 0
        logging.info("Resumed from %s at epoch %d.", restored, int(self.epoch.numpy()))
        return int(self.epoch.numpy())

    def _restore_checkpoint(self, prefix):
        written_scaled = any(name.endswith(_LOSS_SCALE_KEY)
                             for name in checkpoints.reader(prefix).get_variable_to_shape_map())
        if written_scaled != precision.uses_loss_scaling(self.mixed_precision):
            raise ValueError(
                f"The checkpoint {prefix} was written {'with' if written_scaled else 'without'} float16 loss "
                f"scaling and this run uses mixed_precision={self.mixed_precision!r}: the loss scale is part of "
                f"every optimizer's checkpointed state, so the run resumes only under "
                f"{'mixed_float16' if written_scaled else 'float32 or mixed_bfloat16'}. Resume with that policy, or "
                f"start a new --workdir (the weights are float32 under every policy: `restore_weights` reads them "
                f"into a model of any policy).")
        try:
            self.checkpoint.restore(prefix).assert_existing_objects_matched()
        except (AssertionError, ValueError) as error:
            raise checkpoints.CheckpointMismatch(
                f"the checkpoint {prefix} does not match this model (was the workdir used for another model or "
                f"configuration?). Use a new --workdir or the original flags. Received: {error}") from error

    @property
    def history_path(self):
        return os.path.join(self.log_dir, HISTORY_FILE)

    def _reconcile_history(self, checkpoint_epoch):
        """Makes history.jsonl hold epochs 1..`checkpoint_epoch` once each, as the checkpoint does.

        An epoch's record is appended before its checkpoint is saved (`fit`), so a kill between the two leaves a
        record the checkpoint does not have: it is dropped here and written again when the epoch is retrained. A
        kill during the append leaves a partial last line, dropped too. Records of epochs the checkpoint holds are
        never lost."""
        if not self.is_chief or not tf.io.gfile.exists(self.history_path):
            return
        kept, changed = {}, False
        with tf.io.gfile.GFile(self.history_path) as f:
            for line in f:
                try:
                    record = json.loads(line)
                    epoch = int(record["epoch"])
                except (ValueError, KeyError, TypeError):
                    changed = True  # a line cut by a kill
                    continue
                if epoch > checkpoint_epoch or epoch in kept:
                    changed = True
                    continue
                kept[epoch] = record
        if changed:
            logging.info("history.jsonl: kept the records of the %d checkpointed epochs, dropped the rest.",
                         len(kept))
            atomic_write(self.history_path, "".join(json.dumps(kept[e]) + "\n" for e in sorted(kept)))

    def fit(self):
        """Trains until `epochs`; returns the list of per-epoch logs of this invocation."""
        start_epoch = self.restore()
        self._reconcile_history(start_epoch)
        if self.writer is None:
            self.writer = (tf.summary.create_file_writer(self.log_dir) if self.is_chief
                           else tf.summary.create_noop_writer())
        history = []
        if start_epoch >= self.epochs:
            logging.info("Training already finished (%d epochs); nothing to do.", start_epoch)
            return history
        steps_per_epoch = len(self.splits.train) // self.batch_size
        if steps_per_epoch == 0:
            raise ValueError(f"The training split has {len(self.splits.train)} examples, fewer than one batch of "
                             f"{self.batch_size}; lower --batch_size. Received: batch_size={self.batch_size}")
        self.model.stop_training = False
        self.callbacks.set_params({"epochs": self.epochs, "steps": steps_per_epoch, "verbose": 0})
        self.callbacks.on_train_begin()
        for epoch in range(start_epoch, self.epochs):
            self.callbacks.on_epoch_begin(epoch)
            started = time.perf_counter()
            train_logs = self._train_epoch(epoch, steps_per_epoch)
            seconds = time.perf_counter() - started
            validation_logs = self.evaluate("validation")
            _check_finite(validation_logs, f"validation after epoch {epoch + 1}", self.manager.latest_checkpoint)
            learning_rate = self._update_plateau(validation_logs["loss"])
            if self.halve_every_epochs and (epoch + 1) % self.halve_every_epochs == 0:  # a step schedule
                learning_rate = max(learning_rate / 2, self.min_learning_rate)
                self.optimizer.learning_rate = learning_rate
                logging.info("Epoch %d: learning rate halved to %.3g (every %d epochs).", epoch + 1, learning_rate,
                             self.halve_every_epochs)
            record = {"epoch": epoch + 1, "seconds": seconds,
                      "examples_per_second": steps_per_epoch * self.batch_size / seconds,
                      "learning_rate": learning_rate, **{f"train/{k}": v for k, v in train_logs.items()},
                      **{f"validation/{k}": v for k, v in validation_logs.items()},
                      **{f"state/{k}": float(tf.convert_to_tensor(v)) for k, v in self.model.training_state().items()}}
            # The record first, the checkpoint second: a kill in between leaves a record that the restart's
            # `_reconcile_history` drops and rewrites, so history.jsonl holds every epoch exactly once.
            self._write_logs(record)
            self.epoch.assign(epoch + 1)
            self.manager.save(checkpoint_number=epoch + 1)
            history.append(record)
            remaining = (self.epochs - epoch - 1) * seconds
            logging.info("epoch %d/%d  loss %.4f  val_loss %.4f  lr %.2g  %.0f ex/s  eta %s", epoch + 1, self.epochs,
                         train_logs["loss"], validation_logs["loss"], learning_rate, record["examples_per_second"],
                         str(datetime.timedelta(seconds=round(remaining))))
            if self.on_epoch_end is not None:
                self.on_epoch_end(record)
            logs = {**train_logs, **{f"val_{k}": v for k, v in validation_logs.items()},
                    "learning_rate": learning_rate}
            self.callbacks.on_epoch_end(epoch, logs)
            if self.model.stop_training:
                logging.info("A callback stopped training after epoch %d (saved).", epoch + 1)
                break
        self.callbacks.on_train_end(logs)
        return history

    def evaluate(self, split="validation"):
        """Mean of every loss term over `split` (full batches of the global batch size)."""
        count = len(self.splits.split(split))
        replicas = self.strategy.num_replicas_in_sync
        batch_size = min(self.batch_size, max(replicas, count // replicas * replicas))
        iterator = iter(self._distributed_dataset(split, batch_size))
        totals, steps = {}, count // batch_size
        for _ in range(steps):
            for name, value in self._test_step(next(iterator)).items():
                totals[name] = totals.get(name, 0.0) + float(value)
        return {name: value / steps for name, value in totals.items()}

    # ------------------------------------------------------------------------------------------ private
    def _distributed_dataset(self, split, batch_size, shuffle=False, epoch=0):
        """The strategy's batches of `split`: an in-memory split is batched whole and each global batch divided over
        the replicas (`experimental_distribute_dataset`); a streamed split is read by one input pipeline per worker,
        each of its own files (`distribute_datasets_from_function`), repeated, so that every worker has batches
        for the epoch's steps whatever the size of its share."""
        if not self.splits.is_streamed(split):
            return self.strategy.experimental_distribute_dataset(
                make_dataset(self.splits, split, batch_size, shuffle=shuffle, seed=self.seed, epoch=epoch))
        return self.strategy.distribute_datasets_from_function(
            lambda context: make_dataset(self.splits, split, batch_size, shuffle=shuffle, seed=self.seed,
                                         epoch=epoch, repeat=True, input_context=context))

    def _train_epoch(self, epoch, steps_per_epoch):
        iterator = iter(self._distributed_dataset("train", self.batch_size, shuffle=True, epoch=epoch))
        totals, done, last_report = {}, 0, time.perf_counter()
        bar = (keras.utils.Progbar(steps_per_epoch, unit_name="step", stateful_metrics=list(self.model.trackers))
               if self.progress_bar else None)
        if bar is not None:
            print(f"Epoch {epoch + 1}/{self.epochs}")
        while done < steps_per_epoch:
            num_steps = min(self.steps_per_execution, steps_per_epoch - done)
            self.callbacks.on_train_batch_begin(done + num_steps - 1)
            chunk = {name: float(value) for name, value in self._train_steps(iterator, tf.constant(num_steps)).items()}
            running = {name: (totals.get(name, 0.0) + value) / (done + num_steps) for name, value in chunk.items()}
            # As Keras calls it after each call into the compiled loop: the index of its last step, running means.
            self.callbacks.on_train_batch_end(done + num_steps - 1, running)
            _check_finite(chunk, f"training in epoch {epoch + 1}, steps {done + 1}-{done + num_steps}",
                          self.manager.latest_checkpoint)
            for name, value in chunk.items():
                totals[name] = totals.get(name, 0.0) + value
            done += num_steps
            if bar is not None:
                bar.update(done, values=list(running.items()), finalize=False)
            elif time.perf_counter() - last_report > 15:
                logging.info("epoch %d: step %d/%d  loss %.4f", epoch + 1, done, steps_per_epoch,
                             totals["loss"] / done)
                last_report = time.perf_counter()
        if bar is not None:
            bar.update(done, finalize=True)
        return {name: value / steps_per_epoch for name, value in totals.items()}

    def _update_plateau(self, validation_loss):
        """Halves the learning rate after `patience` epochs without an improvement of `min_delta`."""
        best = float(self.best_validation_loss.numpy())
        if not math.isfinite(best) or validation_loss < best - self.min_delta:
            self.best_validation_loss.assign(validation_loss)
            self.epochs_without_improvement.assign(0)
        else:
            self.epochs_without_improvement.assign_add(1)
        learning_rate = float(keras.ops.convert_to_numpy(self.optimizer.learning_rate))
        if (self.patience and self.epochs_without_improvement.numpy() >= self.patience
                and learning_rate > self.min_learning_rate):
            learning_rate = max(learning_rate / 2, self.min_learning_rate)
            self.optimizer.learning_rate = learning_rate
            self.epochs_without_improvement.assign(0)
            logging.info("Validation loss plateaued for %d epochs: learning rate halved to %.3g.", self.patience,
                         learning_rate)
        return learning_rate

    def _write_logs(self, record):
        if not self.is_chief:
            return
        append_line(self.history_path, json.dumps(record))
        step = record["epoch"]
        with self.writer.as_default(step=step):
            for name, value in record.items():
                if name != "epoch":
                    tf.summary.scalar(name, value)
            if self.log_images:
                samples = self.model.decode(self.model.prior.sample(8, tf.constant([self.seed, 0]))).numpy()
                rows = [samples]
                if isinstance(self.model, Autoencoder):
                    x = self.splits.first("validation", 8)
                    rows = [x, self.model.reconstruct(tf.constant(x)).numpy(), samples]
                grid = image_utils.grid(np.concatenate(rows), columns=8)
                tf.summary.image("validation_reconstructions_and_prior_samples", grid[None])
        self.writer.flush()


def _check_finite(logs, where, last_checkpoint):
    bad = {name: value for name, value in logs.items() if not math.isfinite(value)}
    if bad:
        raise TrainingDiverged(
            f"Loss became NaN or infinite during {where}: {bad}. Training stopped; the last good checkpoint "
            f"({last_checkpoint or 'none yet'}) is untouched. Lower --learning_rate, check the data for bad values, "
            f"or pick a more stable likelihood. Received: {logs}")


def _check_jit_compile(jit_compile, strategy):
    """Refuses XLA where TensorFlow cannot compile the step: under a strategy with several replicas on CPUs, the
    XLA step either holds the cross-replica all-reduce (collectives are not implemented for XLA on CPU: the
    multi-worker case) or is lifted into one XLA cluster over every local replica, which then reads variables of
    another device (MirroredStrategy over several CPU devices). On GPUs, TensorFlow runs the compiled step per replica
    with collectives outside it, and a TPU compiles every step with XLA anyway."""
    replicas = strategy.num_replicas_in_sync
    if not jit_compile or replicas == 1:  # (the default strategy has no worker_devices)
        return
    if "CPU" in [tf.DeviceSpec.from_string(device).device_type for device in strategy.extended.worker_devices]:
        raise ValueError(f"jit_compile=True needs a single replica or GPU/TPU replicas: TensorFlow cannot compile the "
                         f"step with XLA across {replicas} replicas on CPU devices. Train without --jit_compile, or "
                         f"on one device. Received: jit_compile=True, {replicas} replicas on "
                         f"{', '.join(strategy.extended.worker_devices)}")
