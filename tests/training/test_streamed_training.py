"""The training loop on a streamed data set (TFRecord files of real digits): exact resume, image logs, and the
replicas of a MirroredStrategy fed per-replica batches of the stream."""
import json
import os
import shutil
import uuid

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import assert_same_values
from tfvae import data, files, models, training


@pytest.fixture(scope="module")
def streamed(digit_records):
    return data.load(f"tfrecord:{digit_records[0]}/{{split}}-*.tfrecord")


def _vae():
    return models.build("vae", (8, 8, 1), latent_dim=4, network_kwargs={"hidden_units": (32,)})


@pytest.mark.slow  # three trainers
def test_a_resumed_run_on_a_stream_equals_the_uninterrupted_run_bit_for_bit(streamed, tmp_path):
    straight = training.Trainer(_vae, streamed, str(tmp_path / "a"), epochs=2, log_images=False)
    straight.fit()
    training.Trainer(_vae, streamed, str(tmp_path / "b"), epochs=1, log_images=False).fit()
    resumed = training.Trainer(_vae, streamed, str(tmp_path / "b"), epochs=2, log_images=False)
    assert [record["epoch"] for record in resumed.fit()] == [2]
    assert_same_values(resumed.model.weights, straight.model.weights)
    assert int(resumed.optimizer.iterations.numpy()) == 2 * (1347 // 100)


@pytest.mark.slow  # three trainers
def test_a_cached_stream_trains_from_its_cache_and_resumes_bit_for_bit(digit_records, tmp_path):
    """--cache: with a memory cache the files vanish after epoch 1 and training, validation and the image logs go
    on from memory; with cache files (ram://), a run stopped after epoch 1 and resumed on a new load of the data
    (another process) reads the files the first wrote and ends with the uninterrupted run's weights."""
    copy = tmp_path / "records"
    shutil.copytree(digit_records[0], copy)

    def delete_after_first_epoch(record):
        if record["epoch"] == 1:
            shutil.rmtree(copy)

    memory = data.load(f"tfrecord:{copy}/{{split}}-*.tfrecord", cache="memory")
    straight = training.Trainer(_vae, memory, str(tmp_path / "a"), epochs=2, on_epoch_end=delete_after_first_epoch)
    assert [record["epoch"] for record in straight.fit()] == [1, 2] and not copy.exists()

    pattern, cache = f"tfrecord:{digit_records[0]}/{{split}}-*.tfrecord", f"ram://tfvae-cache-{uuid.uuid4().hex}"
    training.Trainer(_vae, data.load(pattern, cache=cache), str(tmp_path / "b"), epochs=1, log_images=False).fit()
    written = files.listdir(cache)
    assert len(written) == 4  # the train and validation splits' caches, whole (no temporary files)
    resumed = training.Trainer(_vae, data.load(pattern, cache=cache), str(tmp_path / "b"), epochs=2,
                               log_images=False)
    assert [record["epoch"] for record in resumed.fit()] == [2]
    assert files.listdir(cache) == written
    assert_same_values(resumed.model.weights, straight.model.weights)


def test_the_validation_loss_and_image_logs_read_the_stream(streamed, digits, tmp_path):
    trainer = training.Trainer(_vae, streamed, str(tmp_path), epochs=1)
    record = trainer.fit()[0]
    # Validation over the stream's full batches equals validation over the same uint8 images held in memory.
    in_memory = data.DataSplits(name="digits-uint8", train=digits.train, test=digits.test,
                                validation=np.round(digits.validation * 255).astype(np.uint8))
    trainer.splits = in_memory
    assert trainer.evaluate("validation")["loss"] == record["validation/loss"]
    events = [name for name in os.listdir(tmp_path / "logs") if name.startswith("events.out.tfevents")]
    tags = {value.tag for event in tf.compat.v1.train.summary_iterator(str(tmp_path / "logs" / events[0]))
            for value in event.summary.value}
    assert "validation_reconstructions_and_prior_samples" in tags
    assert json.loads(open(tmp_path / "logs" / "history.jsonl").readline())["epoch"] == 1


@pytest.mark.slow  # traces the step for two replicas
def test_a_mirrored_run_reads_per_replica_batches_of_the_stream(streamed, tmp_path, mirrored):
    trainer = training.Trainer(_vae, streamed, str(tmp_path), strategy=mirrored, epochs=1, log_images=False)
    untrained = trainer.evaluate("validation")["loss"]
    record = trainer.fit()[0]
    assert int(trainer.optimizer.iterations.numpy()) == 1347 // 100
    assert record["validation/loss"] < untrained
