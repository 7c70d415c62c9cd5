"""tf.data pipelines over `DataSplits`: seeded shuffling, static batch shapes, sharding of streams and prefetch."""
import tensorflow as tf

from tfvae.data.data_splits import DataSplits
from tfvae.data.options import without_autotuning
from tfvae.data.streamed_split import StreamedSplit, as_float32

# Shuffle buffers above this size cost more memory than they buy randomness for the data sets tfvae targets.
_MAX_SHUFFLE_BUFFER = 100_000
# Batches the pipeline prepares ahead of the training step (a fixed depth: autotuning is off, see below).
_PREFETCH_BATCHES = 2


def make_dataset(splits: DataSplits, split, batch_size, shuffle=False, seed=0, epoch=0, drop_remainder=True,
                 repeat=False, input_context=None):
    """Builds the tf.data pipeline of one split, in memory or streamed.

    Shuffling is seeded by `seed + epoch`, so epoch k sees the same order whether the run went straight through or
    was resumed from a checkpoint at epoch k. An in-memory split is shuffled whole; a streamed one
    (`StreamedSplit.examples`) reads its files in an order drawn from that seed and shuffles its examples in a
    buffer of bounded size, seeded the same.

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
        input_context: tf.distribute.InputContext or None. One input pipeline of several
            (`strategy.distribute_datasets_from_function`): the pipeline reads only its shard (a streamed split its
            own files: `StreamedSplit.examples`) and batches `input_context.get_per_replica_batch_size(batch_size)`
            examples. Defaults to None (the whole split in global batches).

    Returns:
        tf.data.Dataset of float32 batches (images scaled to [0, 1]).
    """
    x = splits.split(split)
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive. Received: batch_size={batch_size}")
    if drop_remainder and len(x) < batch_size:
        raise ValueError(f"The {split} split of {splits.name} has {len(x)} examples, fewer than one batch of "
                         f"{batch_size}; lower --batch_size. Received: batch_size={batch_size}")
    num_shards, shard_index = 1, 0
    if input_context is not None:
        num_shards, shard_index = input_context.num_input_pipelines, input_context.input_pipeline_id
        batch_size = input_context.get_per_replica_batch_size(batch_size)
    if isinstance(x, StreamedSplit):
        dataset = x.examples(seed=seed + epoch if shuffle else None, num_shards=num_shards, shard_index=shard_index)
    else:
        dataset = tf.data.Dataset.from_tensor_slices(x)
        if shuffle:
            dataset = dataset.shuffle(min(len(x), _MAX_SHUFFLE_BUFFER), seed=seed + epoch,
                                      reshuffle_each_iteration=False)
        if num_shards > 1:
            dataset = dataset.shard(num_shards, shard_index)
    if repeat:
        dataset = dataset.repeat()
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    # Scaling after batching is one vectorized op per batch instead of one per example.
    dataset = dataset.map(as_float32)
    return without_autotuning(dataset.prefetch(_PREFETCH_BATCHES))


def shuffled_batches(array, batch_size, seed):
    """One epoch of an in-memory array: shuffled with `seed`, full batches of `batch_size`, autotuning off (the
    density estimators' training epochs)."""
    dataset = tf.data.Dataset.from_tensor_slices(array).shuffle(len(array), seed=seed)
    return without_autotuning(dataset.batch(batch_size, drop_remainder=True))
