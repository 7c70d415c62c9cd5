"""tf.data pipelines over `DataSplits`: seeded shuffling, static batch shapes, caching and prefetch."""
import tensorflow as tf

from tfvae.data.data_splits import DataSplits

# Shuffle buffers above this size cost more memory than they buy randomness for the data sets tfvae targets.
_MAX_SHUFFLE_BUFFER = 100_000
# Batches the pipeline prepares ahead of the training step (a fixed depth: autotuning is off, see below).
_PREFETCH_BATCHES = 2


def without_autotuning(dataset):
    """`dataset` with tf.data's autotuning turned off.

    With autotuning on (tf.data's default, whatever the pipeline's arguments), deleting an iterator waits for the
    autotuning thread to wake from its sleep, which grows to seconds as the iterator lives: on a 2-core machine
    a third to a half of the training epochs lost 2.2-2.5 s each there, for 2.6 s of training steps: the "two-speed
    flip" of training throughput (docs/speed.md). Every pipeline that makes a new iterator per epoch needs
    this; tfvae's pipelines are in-memory slices with one cheap map, which need no tuning.
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)


def make_dataset(splits: DataSplits, split, batch_size, shuffle=False, seed=0, epoch=0, drop_remainder=True,
                 repeat=False):
    """Builds the tf.data pipeline of one split.

    Shuffling is seeded by `seed + epoch`, so epoch k sees the same order whether the run went straight through or
    was resumed from a checkpoint at epoch k.

    Args:
        splits: DataSplits. The data set.
        split: str. train, validation or test.
        batch_size: int. Examples per batch (the global batch under a distribution strategy).
        shuffle: bool. Shuffle the examples. Defaults to False.
        seed: int. Shuffle seed. Defaults to 0.
        epoch: int. Epoch number, mixed into the shuffle seed. Defaults to 0.
        drop_remainder: bool. Drop the last partial batch so every batch has a static shape (needed by TPUs and
            by `jit_compile`). Defaults to True.
        repeat: bool. Repeat forever (for `model.fit` with steps_per_epoch). Defaults to False.

    Returns:
        tf.data.Dataset of float32 batches (images scaled to [0, 1]).
    """
    x = splits.split(split)
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive. Received: batch_size={batch_size}")
    if drop_remainder and len(x) < batch_size:
        raise ValueError(f"The {split} split of {splits.name} has {len(x)} examples, fewer than one batch of "
                         f"{batch_size}; lower --batch_size. Received: batch_size={batch_size}")
    scale = 1.0 / 255.0 if x.dtype.name == "uint8" else 1.0
    dataset = tf.data.Dataset.from_tensor_slices(x)
    if shuffle:
        dataset = dataset.shuffle(min(len(x), _MAX_SHUFFLE_BUFFER), seed=seed + epoch, reshuffle_each_iteration=False)
    if repeat:
        dataset = dataset.repeat()
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    # Scaling after batching is one vectorized op per batch instead of one per example.
    dataset = dataset.map(lambda b: tf.cast(b, tf.float32) * scale)
    return without_autotuning(dataset.prefetch(_PREFETCH_BATCHES))


def shuffled_batches(array, batch_size, seed):
    """One epoch of an in-memory array: shuffled with `seed`, full batches of `batch_size`, autotuning off (the
    density estimators' training epochs)."""
    dataset = tf.data.Dataset.from_tensor_slices(array).shuffle(len(array), seed=seed)
    return without_autotuning(dataset.batch(batch_size, drop_remainder=True))
