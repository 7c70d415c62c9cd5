"""Data sources on real data (digits, moons, Fashion-MNIST, TFDS) and every bad-data case."""
import gzip
import os

import numpy as np
import pytest
import tensorflow as tf

from tfvae import data
from tfvae.data import DataError, read_idx, write_idx
from tfvae.data import tfds_local


def test_digits_splits_are_disjoint_scaled_images(digits):
    assert digits.element_shape == (8, 8, 1)
    assert (len(digits.train), len(digits.validation), len(digits.test)) == (1347, 180, 270)
    assert digits.train.dtype == np.float32 and 0.0 <= digits.train.min() and digits.train.max() == 1.0
    # Every one of the 1797 images lands in exactly one split: the multiset of all images is the original one.
    from sklearn.datasets import load_digits

    everything = np.concatenate([digits.train, digits.validation, digits.test]).reshape(1797, -1)
    original = (load_digits().images.reshape(1797, -1) / 16.0).astype(np.float32)
    assert sorted(map(bytes, everything)) == sorted(map(bytes, original))
    assert set(np.unique(digits.test_labels)) == set(range(10))


def test_digits_split_is_deterministic():
    assert np.array_equal(data.load("digits").test, data.load("digits").test)


def test_moons_are_standardized_points():
    moons = data.load("moons")
    assert not moons.is_image and moons.element_shape == (2,)
    points = np.concatenate([moons.train, moons.validation, moons.test]).astype(np.float64)
    # Standardized: zero mean and unit standard deviation per coordinate over the whole set (tfvae.data.sources).
    np.testing.assert_allclose(points.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(points.std(axis=0), 1, rtol=1e-5)


def test_pipeline_static_batches_seeded_shuffle(digits):
    first = data.make_dataset(digits, "train", 100, shuffle=True, seed=3, epoch=0)
    assert first.element_spec.shape.as_list() == [100, 8, 8, 1]
    batches = [b.numpy() for b in first]
    assert len(batches) == 1347 // 100
    again = [b.numpy() for b in data.make_dataset(digits, "train", 100, shuffle=True, seed=3, epoch=0)]
    other_epoch = next(iter(data.make_dataset(digits, "train", 100, shuffle=True, seed=3, epoch=1))).numpy()
    assert np.array_equal(batches[0], again[0]) and not np.array_equal(batches[0], other_epoch)


def test_pipelines_run_without_autotuning(digits, monkeypatch):
    """Deleting an autotuned iterator can wait seconds (tfvae.data.pipeline.without_autotuning): every pipeline
    that gets a new iterator per epoch (training, evaluation, the density estimators' epochs) turns it off."""
    assert data.make_dataset(digits, "train", 100, shuffle=True).options().autotune.enabled is False
    batches = data.shuffled_batches(digits.train[:250], 100, seed=1)
    assert batches.options().autotune.enabled is False
    first = [b.numpy() for b in batches]
    assert [len(b) for b in first] == [100, 100]  # full batches only
    again = next(iter(data.shuffled_batches(digits.train[:250], 100, seed=1))).numpy()
    assert np.array_equal(first[0], again) and not np.array_equal(first[0], digits.train[:100])  # seeded shuffle
    # The density estimators train their epochs on it.
    from tfvae.density import Flow, TwoStage

    calls = []
    original = data.pipeline.shuffled_batches
    monkeypatch.setattr(data.pipeline, "shuffled_batches",
                        lambda *args, **kwargs: calls.append(kwargs["seed"]) or original(*args, **kwargs))
    latents = np.random.RandomState(0).normal(size=(64, 2)).astype(np.float32)
    Flow(epochs=2, num_couplings=2, batch_size=32).fit(latents)
    TwoStage(epochs=2, hidden_units=(8,), batch_size=32).fit(latents)
    assert len(calls) == 4


def test_pipeline_rejects_batch_larger_than_split(digits):
    with pytest.raises(ValueError, match="fewer than one batch"):
        data.make_dataset(digits, "validation", 500)


def test_fashion_mnist_from_idx_files(fashion_mnist_dir):
    splits = data.load("fashion_mnist", data_dir=fashion_mnist_dir)
    assert (len(splits.train), len(splits.validation), len(splits.test)) == (50000, 10000, 10000)
    assert splits.element_shape == (28, 28, 1) and splits.train.dtype == np.uint8
    assert set(np.unique(splits.train_labels)) == set(range(10))
    batch = next(iter(data.make_dataset(splits, "test", 64)))
    assert batch.dtype == tf.float32 and batch.shape == (64, 28, 28, 1)
    assert 0.0 <= float(tf.reduce_min(batch)) and float(tf.reduce_max(batch)) <= 1.0


def test_fashion_mnist_padded_to_32_keeps_pixels(fashion_mnist_dir):
    plain = data.load("fashion_mnist", data_dir=fashion_mnist_dir)
    padded = data.load("fashion_mnist", data_dir=fashion_mnist_dir, pad_to=32)
    assert padded.element_shape == (32, 32, 1)
    np.testing.assert_array_equal(padded.test[:, 2:30, 2:30], plain.test)
    assert padded.test[:, :2].max() == 0 and padded.test[:, 30:].max() == 0


def test_resize(digits):
    resized = data.load("digits", resize_to=16)
    assert resized.element_shape == (16, 16, 1) and resized.train.max() <= 1.0


def test_tfds_source_offline_is_streamed(tmp_path, fashion_mnist_dir):
    tfds_local.prepare_fashion_mnist(str(tmp_path), source_dir=fashion_mnist_dir, max_examples=300)
    splits = data.load("tfds:fashion_mnist", data_dir=str(tmp_path), download=False)
    assert all(splits.is_streamed(split) for split in data.SPLITS) and splits.element_shape == (28, 28, 1)
    assert (len(splits.train), len(splits.validation), len(splits.test)) == (270, 30, 300)
    direct = read_idx(os.path.join(fashion_mnist_dir, "t10k-images-idx3-ubyte.gz"))[:300]
    test = np.concatenate([batch for batch in splits.test.examples().batch(128).as_numpy_iterator()])
    # TFDS stores examples in the order of their hashed keys: compare as multisets of images.
    def rows(x):
        return sorted(image.tobytes() for image in x)

    assert test.dtype == np.uint8 and rows(test[..., 0]) == rows(direct)
    images, labels = splits.first("test", 300, with_labels=True)
    np.testing.assert_array_equal(images, test.astype(np.float32) * np.float32(1 / 255))
    assert set(np.unique(labels)) == set(range(10))
    # Seeded epochs: the same seed gives the same order, another seed another one.
    def order(seed):
        return next(iter(data.make_dataset(splits, "train", 64, shuffle=True, seed=seed))).numpy()

    assert np.array_equal(order(1), order(1)) and not np.array_equal(order(1), order(2))


def test_download_false_refuses_a_tfds_set_that_is_not_prepared(tmp_path, monkeypatch):
    import tensorflow_datasets as tfds

    def no_download(self, *args, **kwargs):
        raise AssertionError("download_and_prepare must not be called with download=False")

    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", no_download)
    with pytest.raises(DataError, match=r"'mnist' is not prepared in .* and --download=false forbids downloading "
                                        r"it.*`tfds build mnist --data_dir=DIR`"):
        data.load("tfds:mnist", data_dir=str(tmp_path), download=False)


def test_a_failed_tfds_download_says_what_to_do_offline(tmp_path, monkeypatch):
    import tensorflow_datasets as tfds

    calls = []

    def offline(self, *args, **kwargs):
        calls.append(self.name)
        raise ConnectionError("Failed to establish a new connection: [Errno 101] Network is unreachable")

    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", offline)
    with pytest.raises(DataError, match=r"Cannot download and prepare TFDS data set 'mnist' into .*"
                                        r"\(ConnectionError: .*Network is unreachable\)\. Without network, prepare it "
                                        r".*`tfds build mnist --data_dir=DIR`.*--download=false.*"
                                        r"--dataset=tfrecord:PATTERN"):
        data.load("mnist", data_dir=str(tmp_path))
    assert calls == ["mnist"]  # downloading is the default


def test_unknown_tfds_name_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="Unknown data set 'no_such_dataset_xyz'"):
        data.load("no_such_dataset_xyz", data_dir=str(tmp_path))


# ------------------------------------------------------------------------------------------ bad data
def _fake_fashion_dir(tmp_path, images=None, labels=None):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (20, 28, 28), dtype=np.uint8) if images is None else images
    labels = rng.integers(0, 10, (len(images),), dtype=np.uint8) if labels is None else labels
    for prefix in ("train", "t10k"):
        write_idx(str(tmp_path / f"{prefix}-images-idx3-ubyte.gz"), images)
        write_idx(str(tmp_path / f"{prefix}-labels-idx1-ubyte.gz"), labels)
    return tmp_path


def test_fake_idx_round_trip(tmp_path):
    from tfvae.data.sources import fashion_mnist

    splits = fashion_mnist(str(_fake_fashion_dir(tmp_path)), num_validation=5)
    assert splits.element_shape == (28, 28, 1) and (len(splits.train), len(splits.validation)) == (15, 5)
    with pytest.raises(DataError, match="num_validation must be between 1 and 19"):
        fashion_mnist(str(tmp_path))


def test_missing_idx_file(tmp_path):
    with pytest.raises(DataError, match="IDX file not found.*train-images-idx3-ubyte.gz.*apt-get install"):
        data.load("fashion_mnist", data_dir=str(tmp_path))


def test_corrupt_gzip(tmp_path):
    _fake_fashion_dir(tmp_path)
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b\x08\x00not really gzip")
    with pytest.raises(DataError, match="Cannot decompress .*train-images-idx3-ubyte.gz"):
        data.load("fashion_mnist", data_dir=str(tmp_path))


def test_wrong_magic_number(tmp_path):
    _fake_fashion_dir(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"\x00\x00\x0d\x01" + b"\x00" * 20))
    with pytest.raises(DataError, match="not a uint8 IDX file.*Received: magic bytes 00000d01"):
        data.load("fashion_mnist", data_dir=str(tmp_path))


def test_wrong_image_shape(tmp_path):
    _fake_fashion_dir(tmp_path, images=np.zeros((5, 32, 32), np.uint8))
    with pytest.raises(DataError, match=r"elements of shape \(32, 32\), expected \(28, 28\)"):
        data.load("fashion_mnist", data_dir=str(tmp_path))


def test_truncated_idx(tmp_path):
    _fake_fashion_dir(tmp_path)
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(raw[:-100]))
    with pytest.raises(DataError, match="truncated or corrupt"):
        data.load("fashion_mnist", data_dir=str(tmp_path))


def test_label_count_mismatch(tmp_path):
    _fake_fashion_dir(tmp_path, labels=np.zeros(7, np.uint8))
    with pytest.raises(DataError, match="disagree in count"):
        data.load("fashion_mnist", data_dir=str(tmp_path))


def test_npz_happy_path_and_errors(tmp_path, rng):
    good = tmp_path / "good.npz"
    np.savez(good, x_train=rng.random((50, 6, 6)).astype(np.float32), x_test=rng.random((10, 6, 6)))
    splits = data.load(f"npz:{good}")
    assert splits.element_shape == (6, 6, 1) and len(splits.train) + len(splits.validation) == 50

    nan = tmp_path / "nan.npz"
    x = rng.random((20, 6, 6, 1))
    x[3, 2, 2, 0] = np.nan
    np.savez(nan, x=x)
    with pytest.raises(DataError, match="NaN or infinite"):
        data.load(f"npz:{nan}")

    out_of_range = tmp_path / "range.npz"
    np.savez(out_of_range, x=rng.random((20, 6, 6)) * 255.0)
    with pytest.raises(DataError, match=r"float images must lie in \[0, 1\]"):
        data.load(f"npz:{out_of_range}")

    empty = tmp_path / "empty.npz"
    np.savez(empty, x_train=rng.random((20, 6, 6)), x_test=np.zeros((0, 6, 6)))
    with pytest.raises(DataError, match="test is empty"):
        data.load(f"npz:{empty}")

    wrong_keys = tmp_path / "keys.npz"
    np.savez(wrong_keys, images=rng.random((20, 6, 6)))
    with pytest.raises(DataError, match="must contain arrays x_train and x_test"):
        data.load(f"npz:{wrong_keys}")

    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"PK\x03\x04 this is not a zip")
    with pytest.raises(DataError, match="Cannot read .* as a NumPy .npz"):
        data.load(f"npz:{corrupt}")

    with pytest.raises(DataError, match="npz file not found"):
        data.load(f"npz:{tmp_path / 'missing.npz'}")


def test_folder_happy_path_and_errors(tmp_path, rng):
    folder = tmp_path / "images"
    folder.mkdir()
    for index in range(12):
        pixels = rng.integers(0, 255, (10, 10, 3), dtype=np.uint8)
        (folder / f"{index:02d}.png").write_bytes(tf.io.encode_png(pixels).numpy())
    splits = data.load(f"folder:{folder}")
    assert splits.element_shape == (10, 10, 3)
    assert len(splits.train) + len(splits.validation) + len(splits.test) == 12

    (folder / "99.png").write_bytes(tf.io.encode_png(np.zeros((12, 10, 3), np.uint8)).numpy())
    with pytest.raises(DataError, match="differ in size"):
        data.load(f"folder:{folder}")
    (folder / "99.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(DataError, match="Cannot decode image .*99.png"):
        data.load(f"folder:{folder}")
    with pytest.raises(DataError, match="Image folder not found"):
        data.load(f"folder:{tmp_path / 'nope'}")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="holds no .png"):
        data.load(f"folder:{empty}")


def test_npz_folder_and_idx_files_are_read_through_gfile(rng):
    """npz:, folder: and the IDX files of fashion_mnist on TensorFlow's in-memory filesystem: every data file goes
    through tf.io.gfile, so the same names work on gs://."""
    from tfvae.data.sources import fashion_mnist
    from tfvae.files import atomic_write

    root = f"ram://data-{rng.integers(1 << 30)}"
    x = rng.integers(0, 255, (20, 6, 6), dtype=np.uint8)
    atomic_write(f"{root}/set.npz", lambda f: np.savez(f, x=x, y=np.arange(20)))
    splits = data.load(f"npz:{root}/set.npz")
    assert splits.element_shape == (6, 6, 1) and len(splits.train) + len(splits.validation) + len(splits.test) == 20
    np.testing.assert_array_equal(np.sort(np.concatenate([splits.labels(s) for s in data.SPLITS])), np.arange(20))
    with pytest.raises(DataError, match="npz file not found: ram://"):
        data.load(f"npz:{root}/missing.npz")

    for index in range(8):  # one subfolder deep: the folder source walks the tree
        atomic_write(f"{root}/images/part-{index % 2}/{index}.png", tf.io.encode_png(x[index][..., None]).numpy())
    splits = data.load(f"folder:{root}/images")
    assert splits.element_shape == (6, 6, 1) and len(splits.train) + len(splits.validation) + len(splits.test) == 8
    atomic_write(f"{root}/images/part-0/99.png", b"\x89PNG broken")
    with pytest.raises(DataError, match=r"Cannot decode image ram://.*99.png.*Received: 11 bytes"):
        data.load(f"folder:{root}/images")

    for prefix in ("train", "t10k"):
        write_idx(f"{root}/idx/{prefix}-images-idx3-ubyte.gz", rng.integers(0, 255, (6, 28, 28), dtype=np.uint8))
        write_idx(f"{root}/idx/{prefix}-labels-idx1-ubyte", np.arange(6, dtype=np.uint8))  # read without .gz too
    splits = fashion_mnist(f"{root}/idx", num_validation=2)
    assert (len(splits.train), len(splits.validation), len(splits.test)) == (4, 2, 6)


def test_invalid_preprocessing_combinations(digits):
    with pytest.raises(DataError, match="exclusive"):
        data.load("digits", pad_to=32, resize_to=16)
    with pytest.raises(DataError, match="smaller than the images"):
        data.load("digits", pad_to=4)
    with pytest.raises(DataError, match="apply to images"):
        data.load("moons", pad_to=8)
