"""A data set's three splits: train / validation / test, each in memory (NumPy) or streamed from files."""
import dataclasses
from typing import Optional, Union

import numpy as np

from tfvae.data.errors import DataError
from tfvae.data.streamed_split import StreamedSplit

SPLITS = ("train", "validation", "test")


@dataclasses.dataclass(frozen=True)
class DataSplits:
    """Three splits of one data set, validated once when built.

    A split is an array in memory or a `StreamedSplit` read from files (`tfrecord:PATTERN`, TFDS), which nothing
    holds in memory unless it is given a cache (`load(cache=...)`): its consumers read it in batches
    (`make_dataset`, `float_batches`) or take a bounded head (`first`). In memory, images are stored as uint8 in
    [0, 255] (scaled to float32 [0, 1] inside the tf.data pipeline, which keeps memory four times smaller) or as
    float32 in [0, 1]; point data (`moons`) as float32 of any range.

    Args:
        name: str. The data set name as given on the command line.
        train, validation, test: np.ndarray or StreamedSplit. Examples, shape [N, H, W, C] for images or [N, D] for
            points.
        train_labels, validation_labels, test_labels: np.ndarray or None. Integer class labels of an in-memory split,
            when known (a streamed split carries its labels with its examples: `StreamedSplit.has_labels`).
        is_image: bool. Whether examples are images (checked to lie in [0, 1]).
    """

    name: str
    train: Union[np.ndarray, StreamedSplit]
    validation: Union[np.ndarray, StreamedSplit]
    test: Union[np.ndarray, StreamedSplit]
    train_labels: Optional[np.ndarray] = None
    validation_labels: Optional[np.ndarray] = None
    test_labels: Optional[np.ndarray] = None
    is_image: bool = True

    def __post_init__(self):
        shapes = set()
        for split in SPLITS:
            x = getattr(self, split)
            labels = getattr(self, f"{split}_labels")
            if isinstance(x, StreamedSplit):
                if self.is_image and len(x.element_shape) != 3:
                    raise DataError(f"{x.name} must hold images of shape [H, W, C]. Received: element shape "
                                    f"{x.element_shape}")
                if labels is not None:
                    raise DataError(f"{self.name}/{split} is streamed: its labels travel with its examples, not "
                                    f"as an array; expected {split}_labels=None. Received: labels shape "
                                    f"{np.shape(labels)}")
                shapes.add(tuple(x.element_shape))
                continue
            validate_array(x, f"{self.name}/{split}", self.is_image)
            shapes.add(x.shape[1:])
            if labels is not None and len(labels) != len(x):
                raise DataError(f"{self.name}/{split} has {len(x)} examples but {len(labels)} labels; expected one "
                                f"label per example. Received: labels shape {labels.shape}")
        if len(shapes) != 1:
            raise DataError(f"The splits of {self.name} hold examples of different shapes; expected one shape. "
                            f"Received: {sorted(shapes)}")

    @property
    def element_shape(self):
        """The shape of one example, e.g. (8, 8, 1) for digits or (2,) for moons."""
        if isinstance(self.train, StreamedSplit):
            return tuple(self.train.element_shape)
        return tuple(int(d) for d in self.train.shape[1:])

    def split(self, name):
        """Returns split `name` (one of train, validation, test): an array or a `StreamedSplit`."""
        if name not in SPLITS:
            raise ValueError(f"Unknown split {name!r}; expected one of {SPLITS}. Received: {name!r}")
        return getattr(self, name)

    def is_streamed(self, name):
        """Whether split `name` is streamed from files rather than held in memory."""
        return isinstance(self.split(name), StreamedSplit)

    def has_labels(self, name):
        """Whether every example of split `name` has a class label."""
        x = self.split(name)
        return x.has_labels if isinstance(x, StreamedSplit) else getattr(self, f"{name}_labels") is not None

    def labels(self, name):
        """Returns the labels of in-memory split `name`, or None (a streamed split's come with `first`)."""
        if self.is_streamed(name):
            raise ValueError(f"The {name} split of {self.name} is streamed: read labels with its examples, "
                             f"splits.first({name!r}, count, with_labels=True). Received: split={name!r}")
        return getattr(self, f"{name}_labels")

    def as_float(self, name):
        """Returns in-memory split `name` as float32 (images scaled to [0, 1])."""
        if self.is_streamed(name):
            raise ValueError(f"The {name} split of {self.name} is streamed from files and is not read into memory "
                             f"whole; read a bounded head with splits.first({name!r}, count) or batches with "
                             f"splits.float_batches({name!r}, batch_size) or tfvae.data.make_dataset. "
                             f"Received: split={name!r}")
        return to_float(self.split(name))

    def first(self, name, count, with_labels=False):
        """The first `count` examples of split `name` (all, if fewer) as float32 (images in [0, 1]): bounded in
        memory whatever the split's size. With `with_labels`, (examples, labels or None)."""
        x = self.split(name)
        if isinstance(x, StreamedSplit):
            return x.first(count, with_labels=with_labels)
        examples = to_float(x[:count])
        if not with_labels:
            return examples
        labels = getattr(self, f"{name}_labels")
        return examples, None if labels is None else labels[:count]

    def float_batches(self, name, batch_size):
        """Yields split `name` in order as float32 batches of `batch_size` (the last one partial)."""
        x = self.split(name)
        if isinstance(x, StreamedSplit):
            yield from x.float_batches(batch_size)
            return
        for start in range(0, len(x), batch_size):
            yield to_float(x[start:start + batch_size])

    def take(self, name, count):
        """These splits with split `name` cut to its first `count` examples (a streamed one reads no further)."""
        x = self.split(name)
        if isinstance(x, StreamedSplit):
            return dataclasses.replace(self, **{name: x.take(count)})
        labels = getattr(self, f"{name}_labels")
        return dataclasses.replace(self, **{name: x[:count],
                                            f"{name}_labels": None if labels is None else labels[:count]})


def to_float(x):
    """Converts uint8 images to float32 in [0, 1]; leaves float arrays as float32."""
    if x.dtype == np.uint8:
        return x.astype(np.float32) / 255.0
    return x.astype(np.float32, copy=False)


def validate_array(x, where, is_image):
    """Checks one split: non-empty, numeric, finite, and for images rank 4 with values in [0, 1] (or uint8)."""
    if not isinstance(x, np.ndarray):
        raise DataError(f"{where} must be a NumPy array. Received: {type(x).__name__}")
    if len(x) == 0:
        raise DataError(f"{where} is empty: expected at least one example. Received: shape {x.shape}")
    if is_image and x.ndim != 4:
        raise DataError(f"{where} must hold images of shape [N, H, W, C]. Received: shape {x.shape}")
    if x.dtype == np.uint8:
        return
    if not np.issubdtype(x.dtype, np.floating):
        raise DataError(f"{where} must be uint8 or floating point. Received: dtype {x.dtype}")
    finite = np.isfinite(x)
    if not finite.all():
        bad = int(np.size(x) - np.count_nonzero(finite))
        raise DataError(f"{where} contains {bad} NaN or infinite values; expected finite numbers. "
                        f"Received: first bad example index {int(np.argwhere(~finite)[0][0])}")
    if is_image:
        low, high = float(x.min()), float(x.max())
        if low < 0.0 or high > 1.0:
            raise DataError(f"{where} has values in [{low:g}, {high:g}]; float images must lie in [0, 1] "
                            f"(uint8 images in [0, 255] are scaled automatically). Received: range [{low:g}, {high:g}]")


def split_off(x, labels, fractions, seed=0):
    """Splits one array into train / validation / test parts with a fixed permutation.

    Args:
        x: np.ndarray. All examples.
        labels: np.ndarray or None.
        fractions: tuple (validation_fraction, test_fraction).
        seed: int. Seed of the permutation; fixed so that the test split never changes with the training seed.

    Returns:
        dict with keys train, validation, test and the matching `<split>_labels`.
    """
    n = len(x)
    order = np.random.default_rng(seed).permutation(n)
    num_validation = int(round(n * fractions[0]))
    num_test = int(round(n * fractions[1]))
    parts = {"test": order[:num_test], "validation": order[num_test:num_test + num_validation],
             "train": order[num_test + num_validation:]}
    result = {}
    for split, index in parts.items():
        result[split] = x[index]
        result[f"{split}_labels"] = None if labels is None else labels[index]
    return result
