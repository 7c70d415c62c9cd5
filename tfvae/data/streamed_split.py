"""One split of a data set read from files as a tf.data stream, never held in memory as a whole unless the user
asks for a cache."""
import dataclasses
import hashlib
import json
import os
import re
import secrets
from typing import Callable, Optional

import numpy as np
import tensorflow as tf
from absl import logging

from tfvae import files
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
# `StreamedSplit.cache` value that holds the split in memory.
MEMORY = "memory"


def as_float32(batch):
    """A tensor of examples as float32: uint8 images scaled to [0, 1] (one multiply by 1/255), float32 unchanged."""
    return tf.cast(batch, tf.float32) * (1.0 / 255.0 if batch.dtype == tf.uint8 else 1.0)


@dataclasses.dataclass(frozen=True)
class StreamedSplit:
    """One split of a data set read from files as a tf.data stream of single examples.

    The source (`tfrecord:PATTERN`, TFDS) says how its files are read; this class adds what every stream needs: a
    seeded order (the files in an order drawn from the seed, then the examples through a shuffle buffer of at most
    `SHUFFLE_BUFFER_BYTES`, seeded the same way), sharding over input pipelines (one per worker: each reads its own
    files), a cut to the first examples (`take`), preprocessing (`map`), bounded reads into NumPy (`first`,
    `float_batches`) and an opt-in cache (`with_cache`). The same seed gives the same order in any process, so epoch
    k of a resumed run sees what an uninterrupted run saw.

    With a cache, the split is read from its files once, in its fixed order (each input pipeline its share), into
    memory or into cache files (tf.data's `cache`), and every later pass reads the cache: a seeded epoch shuffles
    the cached examples, the whole split at once in memory (the shuffle buffer holds references to the cached
    tensors, not copies) and through the bounded shuffle buffer from cache files. A cached split's epochs are as
    deterministic as an uncached one's, but they are not the same permutations: keep a run's cache setting when it
    resumes for bit-exact epochs.

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
        cache: str or None. None: every pass reads the files. "memory": the first pass fills a cache in this
            process's memory. Else a folder (local, or any URL tf.data writes: gs://, ram://) of cache files, named
            after the split and its input pipeline (`cache_prefix`); files another process wrote are read as they
            are. Defaults to None.
        transforms: tuple of str. What `map` applied, in order (e.g. "pad_to=32"): part of a cache file's name, so a
            cache of other preprocessing is never read. Defaults to ().
        source: str. What identifies the contents of the split's files (a digest of their paths, sizes and
            modification times; a TFDS data set's name, config and version): part of a cache file's name, so a cache
            of files that have changed since is never read. Defaults to "".
    """

    name: str
    read: Callable[..., tf.data.Dataset]
    num_examples: int
    num_files: int
    element_shape: tuple
    dtype: str = "uint8"
    has_labels: bool = False
    limit: Optional[int] = None
    cache: Optional[str] = None
    transforms: tuple = ()
    source: str = ""
    # (num_shards, shard_index) -> the filled in-memory cache of that input pipeline's share. Every derived split
    # (`take`, `map`, `with_cache`) starts with none: its examples differ.
    _memory_caches: dict = dataclasses.field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self):
        if self.num_examples < 1:
            raise DataError(f"{self.name} is empty: expected at least one example. Received: "
                            f"{self.num_examples} examples")
        if self.dtype not in ("uint8", "float32"):
            raise DataError(f"{self.name} must hold uint8 or float32 examples. Received: dtype {self.dtype}")
        check_cache(self.cache)

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

    def map(self, function, element_shape, dtype, description):
        """The split with `function` applied to every example (preprocessing: padding, resizing).

        Args:
            function: callable. Tensor example -> tensor example of `element_shape` and `dtype`.
            element_shape: tuple of int. The shape of a mapped example.
            dtype: str. "uint8" or "float32": the dtype of a mapped example.
            description: str. What `function` does, with its settings (e.g. "resize_to=32"): it names the cache
                files of the mapped split.
        """
        read = self.read

        def mapped(seed=None, num_shards=1, shard_index=0):
            return read(seed=seed, num_shards=num_shards, shard_index=shard_index).map(
                lambda example, label: (function(example), label), num_parallel_calls=PARALLEL_CALLS,
                deterministic=True)

        return dataclasses.replace(self, read=mapped, element_shape=tuple(int(d) for d in element_shape), dtype=dtype,
                                   transforms=(*self.transforms, str(description)))

    def with_cache(self, cache):
        """The split with the cache `cache` (the `cache` argument of this class: None, "memory" or a folder).

        The cache is filled by the first pass that needs it (in `examples`), one input pipeline's share at a time;
        a cache file is written under a temporary name and renamed when whole, so a kill while it fills leaves no
        cache that a later run would read (its temporary files are removed by the next fill).

        Args:
            cache: str or None. None, "memory", or a folder (local or a URL) for cache files.

        Returns:
            StreamedSplit, with no cache filled yet.
        """
        check_cache(cache)
        return dataclasses.replace(self, cache=cache)

    def cache_prefix(self, num_shards=1, shard_index=0):
        """The cache files' path without their suffixes (tf.data writes PREFIX.index and PREFIX.data-*) of one
        input pipeline's share, in the folder `cache`: the split's name, then a hash of everything that decides its
        examples and their order (name, size, cut, shape, dtype, preprocessing, files and their `source`, share).

        Args:
            num_shards, shard_index: int. The input pipeline (`examples`). Defaults to 1 and 0.

        Returns:
            str, e.g. "CACHE/tfrecord_data_split_.tfrecord_train-0123456789abcdef-shard0of1".
        """
        if self.cache in (None, MEMORY):
            raise ValueError(f"{self.name} has no cache folder. Received: cache={self.cache!r}")
        identity = json.dumps([self.name, self.num_examples, self.limit, list(self.element_shape), self.dtype,
                               list(self.transforms), self.num_files, self.source, num_shards, shard_index])
        digest = hashlib.sha256(identity.encode("utf-8")).hexdigest()[:16]
        readable = re.sub(r"[^A-Za-z0-9_.]+", "_", self.name).strip("_")[-60:]
        return os.path.join(self.cache, f"{readable}-{digest}-shard{shard_index}of{num_shards}")

    def examples(self, seed=None, num_shards=1, shard_index=0, with_labels=False):
        """The split's single examples as a tf.data.Dataset.

        Args:
            seed: int or None. None: the fixed order. Else the files in an order drawn from `seed`, then a shuffle
                buffer seeded with `seed`; with a cache, the cached fixed order through that buffer (from memory:
                one buffer of the whole split). Defaults to None.
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
        if self.cache is None:
            dataset, buffer_size = self._share(seed, num_shards, shard_index), self.shuffle_buffer_size
        elif self.cache == MEMORY:
            dataset, buffer_size = self._memory_cached(num_shards, shard_index), len(self)
        else:
            dataset, buffer_size = self._file_cached(num_shards, shard_index), self.shuffle_buffer_size
        if seed is not None:
            dataset = dataset.shuffle(buffer_size, seed=seed, reshuffle_each_iteration=False)
        if not with_labels:
            dataset = dataset.map(lambda example, label: example)
        return without_autotuning(dataset)

    def _share(self, seed, num_shards, shard_index):
        """This input pipeline's share of the split as (example, label) pairs, read from the files: with `seed`,
        the files in the order drawn from it (the shuffle buffer is the caller's)."""
        if self.limit is None and self.num_files >= num_shards:
            return self.read(seed=seed, num_shards=num_shards, shard_index=shard_index)
        # A cut keeps the first examples of the fixed order whatever the seed. Sharding by example reads the whole
        # stream in every pipeline: only for cuts and for splits of fewer files than pipelines.
        dataset = self.read(seed=None if self.limit is not None else seed)
        if self.limit is not None:
            dataset = dataset.take(self.limit)
        if num_shards > 1:
            dataset = dataset.shard(num_shards, shard_index)
        return dataset

    def _memory_cached(self, num_shards, shard_index):
        """The share in its fixed order from this process's memory, filled by one pass over the files the first
        time. Filled here rather than by the first epoch: an epoch stops after its last full batch, and tf.data
        drops a cache that was not read to its end."""
        key = (num_shards, shard_index)
        if key not in self._memory_caches:
            dataset = self._share(None, num_shards, shard_index).cache()
            count = _read_through(dataset)
            logging.info("%s (input pipeline %d of %d): %d examples cached in memory.", self.name, shard_index + 1,
                         num_shards, count)
            self._memory_caches[key] = dataset
        return self._memory_caches[key]

    def _file_cached(self, num_shards, shard_index):
        """The share in its fixed order from its cache files, written by one pass over the split's files when they
        do not exist yet (under a temporary name, then renamed, the index last: PREFIX.index exists only beside
        whole data files)."""
        prefix = self.cache_prefix(num_shards, shard_index)
        if not tf.io.gfile.exists(prefix + ".index"):
            directory, name = os.path.split(prefix)
            leftover = f"{files.TEMPORARY_PREFIX}{name}-"
            tf.io.gfile.makedirs(directory)
            for found in files.listdir(directory):  # a fill killed before its rename
                if found.startswith(leftover):
                    files.remove_tree(os.path.join(directory, found), ignore_errors=True)
            temporary = leftover + secrets.token_hex(6)
            try:
                count = _read_through(self._share(None, num_shards, shard_index).cache(
                    os.path.join(directory, temporary)))
                written = [found for found in files.listdir(directory) if found.startswith(temporary + ".")]
                index = temporary + ".index"
                for found in sorted(set(written) - {index}) + [index]:
                    tf.io.gfile.rename(os.path.join(directory, found),
                                       os.path.join(directory, name + found[len(temporary):]), overwrite=True)
            except BaseException:
                for found in files.listdir(directory):
                    if found.startswith(temporary):
                        files.remove_tree(os.path.join(directory, found), ignore_errors=True)
                raise
            # TensorFlow logs that "the calling iterator did not fully read the dataset being cached" after every
            # whole fill of a cache file (tensorflow/tensorflow#60174); this line says what was written.
            logging.info("%s (input pipeline %d of %d): %d examples cached in %s (whole).", self.name,
                         shard_index + 1, num_shards, count, prefix)
        return self._share(None, num_shards, shard_index).cache(prefix)

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


def check_cache(cache):
    """Raises ValueError unless `cache` is None, "memory" or a non-empty folder path.

    Args:
        cache: the value to check (`StreamedSplit.cache`, --cache).
    """
    if cache is not None and (not isinstance(cache, str) or not cache.strip()):
        raise ValueError(f"A cache is {MEMORY!r} or a folder for cache files (local, or a URL such as gs://...); "
                         f"None (unset) reads the files every epoch. Received: cache={cache!r}")


def _read_through(dataset):
    """Reads `dataset` to its end (filling the caches in it); returns the number of elements."""
    return int(without_autotuning(dataset).reduce(np.int64(0), lambda count, _: count + 1))
