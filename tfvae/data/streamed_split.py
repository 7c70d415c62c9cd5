"""One split of a data set read from files as a tf.data stream, never held in memory as a whole."""
import dataclasses
import os
from typing import Callable, Optional

import numpy as np
import tensorflow as tf

from tfvae.data.errors import DataError
from tfvae.data.options import without_autotuning

# The shuffle buffer of a streamed split holds at most this many bytes of decoded examples (64x64x3 uint8 images:
# 5,461 of them). Bounded in bytes rather than examples, so that memory grows neither with the data set nor with the
# image size; the files' seeded order mixes the data set at a larger scale.
SHUFFLE_BUFFER_BYTES = 64 * 2**20
# Threads that read files and decode examples (fixed: tf.data's autotuning is off, `without_autotuning`).
PARALLEL_CALLS = max(1, min(8, os.cpu_count() or 1))
# Examples per batch when a split is read into NumPy (`first`).
_READ_BATCH = 1000


def as_float32(batch):
    """A tensor of examples as float32: uint8 images scaled to [0, 1] (one multiply by 1/255), float32 unchanged."""
    return tf.cast(batch, tf.float32) * (1.0 / 255.0 if batch.dtype == tf.uint8 else 1.0)


@dataclasses.dataclass(frozen=True)
class StreamedSplit:
    """One split of a data set read from files as a tf.data stream of single examples.

    The source (`tfrecord:PATTERN`, TFDS) says how its files are read; this class adds what every stream needs: a
    seeded order (the files in an order drawn from the seed, then the examples through a shuffle buffer of at most
    `SHUFFLE_BUFFER_BYTES`, seeded the same way), sharding over input pipelines (one per worker: each reads its own
    files), a cut to the first examples (`take`), preprocessing (`map`) and bounded reads into NumPy (`first`,
    `float_batches`). The same seed gives the same order in any process, so epoch k of a resumed run sees what an
    uninterrupted run saw.

    Args:
        name: str. The split's name in errors, e.g. "tfrecord:/data/*.tfrecord (train)".
        read: callable(seed=None, num_shards=1, shard_index=0) -> tf.data.Dataset of (example, label) pairs: the
            split's examples (uint8 [H, W, C] images or float32 arrays) with their int64 label (-1 when the data set
            has none). With `seed` None the files come in the split's fixed order, else in an order drawn from
            `seed`; of that order, only the files `shard_index`, `shard_index + num_shards`, ... are read.
        num_examples: int. Examples in the split.
        num_files: int. Files the split is read from; files are dealt out to input pipelines only when there are at
            least as many as pipelines.
        element_shape: tuple of int. The shape of one example.
        dtype: str. "uint8" (images in [0, 255]) or "float32" (images in [0, 1], or points).
        has_labels: bool. Whether every example carries a label. Defaults to False.
        limit: int or None. Only the first `limit` examples of the fixed order (`take`). Defaults to None.
    """

    name: str
    read: Callable[..., tf.data.Dataset]
    num_examples: int
    num_files: int
    element_shape: tuple
    dtype: str = "uint8"
    has_labels: bool = False
    limit: Optional[int] = None

    def __post_init__(self):
        if self.num_examples < 1:
            raise DataError(f"{self.name} is empty: expected at least one example. Received: "
                            f"{self.num_examples} examples")
        if self.dtype not in ("uint8", "float32"):
            raise DataError(f"{self.name} must hold uint8 or float32 examples. Received: dtype {self.dtype}")

    def __len__(self):
        return self.num_examples if self.limit is None else min(self.limit, self.num_examples)

    @property
    def shuffle_buffer_size(self):
        """Examples in the shuffle buffer: `SHUFFLE_BUFFER_BYTES` worth, at most the whole split."""
        example_bytes = int(np.prod(self.element_shape)) * np.dtype(self.dtype).itemsize
        return max(1, min(len(self), SHUFFLE_BUFFER_BYTES // example_bytes))

    def take(self, count):
        """The split cut to the first `count` examples of its fixed order; its shuffled epochs permute those (in the
        shuffle buffer: the files' order cannot change which examples are first)."""
        if count < 1:
            raise ValueError(f"A split is cut to at least one example. Received: count={count}")
        return dataclasses.replace(self, limit=count if self.limit is None else min(count, self.limit))

    def map(self, function, element_shape, dtype):
        """The split with `function` applied to every example (preprocessing: padding, resizing).

        Args:
            function: callable. Tensor example -> tensor example of `element_shape` and `dtype`.
            element_shape: tuple of int. The shape of a mapped example.
            dtype: str. "uint8" or "float32": the dtype of a mapped example.
        """
        read = self.read

        def mapped(seed=None, num_shards=1, shard_index=0):
            return read(seed=seed, num_shards=num_shards, shard_index=shard_index).map(
                lambda example, label: (function(example), label), num_parallel_calls=PARALLEL_CALLS,
                deterministic=True)

        return dataclasses.replace(self, read=mapped, element_shape=tuple(int(d) for d in element_shape), dtype=dtype)

    def examples(self, seed=None, num_shards=1, shard_index=0, with_labels=False):
        """The split's single examples as a tf.data.Dataset.

        Args:
            seed: int or None. None: the fixed order. Else the files in an order drawn from `seed`, then a shuffle
                buffer seeded with `seed`. Defaults to None.
            num_shards, shard_index: int. This input pipeline's share of the split: the files it reads when there
                are at least `num_shards` files and the split is not cut (`take`), else every `num_shards`-th
                example of the whole stream. Defaults to 1 and 0 (everything).
            with_labels: bool. Yield (example, label) pairs instead of examples. Defaults to False.

        Returns:
            tf.data.Dataset of examples of `element_shape` and `dtype` (and int64 labels, -1 where there are none).
        """
        if not 0 <= shard_index < num_shards:
            raise ValueError(f"shard_index must lie in [0, num_shards). Received: shard_index={shard_index}, "
                             f"num_shards={num_shards}")
        if self.limit is None and self.num_files >= num_shards:
            dataset = self.read(seed=seed, num_shards=num_shards, shard_index=shard_index)
        else:
            # A cut keeps the first examples of the fixed order whatever the seed. Sharding by example reads the
            # whole stream in every pipeline: only for cuts and for splits of fewer files than pipelines.
            dataset = self.read(seed=None if self.limit is not None else seed)
            if self.limit is not None:
                dataset = dataset.take(self.limit)
            if num_shards > 1:
                dataset = dataset.shard(num_shards, shard_index)
        if seed is not None:
            dataset = dataset.shuffle(self.shuffle_buffer_size, seed=seed, reshuffle_each_iteration=False)
        if not with_labels:
            dataset = dataset.map(lambda example, label: example)
        return without_autotuning(dataset)

    def float_batches(self, batch_size, count=None, seed=None, with_labels=False):
        """Yields the split (or its first `count` examples) as NumPy float32 batches of `batch_size`, the last one
        partial; images scaled to [0, 1] as the training pipeline scales them.

        Args:
            batch_size: int. Examples per batch.
            count: int or None. Read only the first `count` examples. Defaults to None (all).
            seed: int or None. The order (`examples`). Defaults to None (the fixed order).
            with_labels: bool. Yield (batch, labels) pairs. Defaults to False.
        """
        dataset = self.examples(seed=seed, with_labels=True)
        if count is not None:
            dataset = dataset.take(count)
        dataset = dataset.batch(batch_size).map(lambda examples, labels: (as_float32(examples), labels))
        for examples, labels in without_autotuning(dataset).as_numpy_iterator():
            yield (examples, labels) if with_labels else examples

    def first(self, count, seed=None, with_labels=False):
        """The first `count` examples (all, if fewer) as a float32 array; with `with_labels`, (examples, labels or
        None). Holds `count` examples in memory, never more.

        Args:
            count: int. Examples to read.
            seed: int or None. The order (`examples`): None takes them in the fixed order. Defaults to None.
            with_labels: bool. Also return the int64 labels (None when the split has none). Defaults to False.
        """
        parts = list(self.float_batches(min(count, _READ_BATCH), count=count, seed=seed, with_labels=True))
        examples = np.concatenate([examples for examples, _ in parts])
        if not with_labels:
            return examples
        return examples, (np.concatenate([labels for _, labels in parts]) if self.has_labels else None)
