"""Streamed splits on real files (scikit-learn's digits written as TFRecords): the same examples as the arrays,
seeded epochs, sharding over workers, cuts, preprocessing, held-out splits, and every bad-file case."""
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import DIGIT_RECORD_FILES
from tfvae import data, files
from tfvae.data import DataError, StreamedSplit, write_image_tfrecord


@pytest.fixture(scope="module")
def streamed(digit_records):
    directory, _ = digit_records
    return data.load(f"tfrecord:{directory}/{{split}}-*.tfrecord")


def _all(dataset):
    return np.concatenate(list(dataset.batch(512).as_numpy_iterator()))


def _rows(images):
    return sorted(image.tobytes() for image in images)


def test_a_streamed_split_holds_the_examples_and_labels_of_the_arrays(streamed, digit_records, digits):
    _, arrays = digit_records
    assert streamed.name.startswith("tfrecord:") and streamed.element_shape == (8, 8, 1)
    for split in data.SPLITS:
        assert streamed.is_streamed(split) and streamed.has_labels(split)
        images, labels = arrays[split]
        assert len(streamed.split(split)) == len(images)
        assert streamed.split(split).num_files == DIGIT_RECORD_FILES[split]
        pairs = streamed.split(split).examples(with_labels=True)
        found_images = _all(pairs.map(lambda image, label: image))
        found_labels = _all(pairs.map(lambda image, label: label))
        assert found_images.dtype == np.uint8
        np.testing.assert_array_equal(found_images, images)  # PNG is lossless; the fixed order is the arrays'
        np.testing.assert_array_equal(found_labels, labels)
    # What the consumers read: float32 in [0, 1], scaled as the training pipeline scales.
    first, labels = streamed.first("validation", 50, with_labels=True)
    batch = next(iter(data.make_dataset(streamed, "validation", 50))).numpy()
    np.testing.assert_array_equal(first, batch)
    np.testing.assert_allclose(first, digits.validation[:50], atol=0.5 / 255)
    np.testing.assert_array_equal(labels, arrays["validation"][1][:50])
    np.testing.assert_array_equal(np.concatenate(list(streamed.float_batches("test", 100))),
                                  streamed.first("test", 10_000))
    with pytest.raises(ValueError, match="is streamed from files and is not read into memory whole"):
        streamed.as_float("train")
    with pytest.raises(ValueError, match="read labels with its examples"):
        streamed.labels("train")


def test_epoch_order_is_seeded_and_every_epoch_sees_each_example_once(streamed, digit_records):
    def epoch(seed, number):
        return np.concatenate([batch.numpy() for batch in data.make_dataset(
            streamed, "train", 100, shuffle=True, seed=seed, epoch=number, drop_remainder=False)])

    first = epoch(3, 0)
    np.testing.assert_array_equal(first, epoch(3, 0))  # a resumed run's epoch 0 is the uninterrupted run's
    second = epoch(3, 1)
    assert not np.array_equal(first, second) and not np.array_equal(first, epoch(4, 0))
    everything = np.round(digit_records[1]["train"][0] / np.float32(255), 6)
    for order in (first, second):
        assert _rows(np.round(order, 6)) == _rows(everything)  # a permutation of the split
    assert not np.array_equal(first, np.sort(first, axis=0))
    # The files' order changes with the seed; the shuffle buffer holds the whole (small) split here.
    assert streamed.train.shuffle_buffer_size == len(streamed.train)


def test_two_workers_read_disjoint_halves_of_the_files(streamed, digit_records):
    images = digit_records[1]["train"][0]
    files = [_rows(images[index::4]) for index in range(4)]
    shares = []
    for shard_index in range(2):
        rows = _rows(_all(streamed.train.examples(seed=5, num_shards=2, shard_index=shard_index)))
        owned = [index for index, file_rows in enumerate(files) if set(file_rows) <= set(rows)]
        assert len(owned) == 2 and rows == sorted(sum((files[index] for index in owned), []))
        shares.append(owned)
    assert sorted(shares[0] + shares[1]) == [0, 1, 2, 3]
    # Through make_dataset with an input context (what distribute_datasets_from_function passes): per-replica batches
    # of the worker's own files.
    context = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=1, num_replicas_in_sync=2)
    batch = next(iter(data.make_dataset(streamed, "train", 100, shuffle=True, seed=5, input_context=context)))
    assert batch.shape == (50, 8, 8, 1)
    assert set(_rows(np.round(batch.numpy() * 255).astype(np.uint8))) <= set(sum((files[i] for i in shares[1]), []))


def test_fewer_files_than_workers_and_cut_splits_shard_by_example(streamed, digit_records):
    images = digit_records[1]["validation"][0]
    parts = [_all(streamed.validation.examples(num_shards=3, shard_index=index)) for index in range(3)]
    np.testing.assert_array_equal(parts[1], images[1::3])  # 2 files, 3 workers: every third example
    cut = streamed.take("train", 250)
    assert len(cut.train) == 250 and len(cut.validation) == len(streamed.validation)
    head = digit_records[1]["train"][0][:250]
    np.testing.assert_array_equal(_all(cut.train.examples()), head)
    shuffled = _all(cut.train.examples(seed=1))
    assert _rows(shuffled) == _rows(head) and not np.array_equal(shuffled, head)
    halves = [_all(cut.train.examples(seed=1, num_shards=2, shard_index=index)) for index in range(2)]
    assert _rows(np.concatenate(halves)) == _rows(head)


def _epoch(splits, number, seed=3):
    return np.concatenate([batch.numpy() for batch in data.make_dataset(
        splits, "train", 100, shuffle=True, seed=seed, epoch=number, drop_remainder=False)])


def _uint8(images):
    return np.round(images * 255).astype(np.uint8)


def test_a_memory_cache_reads_the_files_once(digit_records, tmp_path):
    """cache="memory": after the first read the files can vanish; seeded epochs still come, each a permutation of
    the split, the same for the same seed; fixed-order reads are the files' order."""
    source, arrays = digit_records
    copy = tmp_path / "records"
    shutil.copytree(source, copy)
    pattern = f"tfrecord:{copy}/{{split}}-*.tfrecord"
    uncached, cached = data.load(pattern), data.load(pattern, cache="memory")
    first = _epoch(cached, 0)
    head = cached.first("validation", 10_000)
    shutil.rmtree(copy)
    np.testing.assert_array_equal(_epoch(cached, 0), first)  # from memory: the files are gone
    second = _epoch(cached, 1)
    assert not np.array_equal(first, second)
    assert _rows(_uint8(first)) == _rows(_uint8(second)) == _rows(arrays["train"][0])
    np.testing.assert_array_equal(cached.first("validation", 10_000), head)
    np.testing.assert_array_equal(_uint8(head), arrays["validation"][0])
    with pytest.raises(tf.errors.NotFoundError):
        _epoch(uncached, 0)  # without a cache every epoch reads the files
    with pytest.raises(ValueError, match="A cache is 'memory' or a folder for cache files.*Received: cache=''"):
        data.load(pattern, cache="")


def test_cache_files_are_written_once_whole_and_read_by_a_later_load(digit_records, tmp_path):
    """A cache folder on any filesystem (ram:// here): the first read writes each split's share under a temporary
    name and renames it (leftovers of a killed fill are removed), a later load (another process) reads those files
    instead of the data files, and preprocessing, cuts and input pipelines have cache files of their own."""
    source, arrays = digit_records
    copy = tmp_path / "records"
    shutil.copytree(source, copy)
    pattern = f"tfrecord:{copy}/{{split}}-*.tfrecord"
    cache = f"ram://tfvae-cache-{np.random.default_rng().integers(1 << 30)}"
    cached = data.load(pattern, cache=cache)
    name = os.path.basename(cached.train.cache_prefix())
    assert "train" in name and name.endswith("shard0of1")
    files.atomic_write(f"{cache}/.tmp-{name}-killed.index", b"a fill killed before its rename")
    first = _epoch(cached, 0)
    assert files.listdir(cache) == [f"{name}.data-00000-of-00001", f"{name}.index"]
    halves = [_all(cached.train.examples(seed=5, num_shards=2, shard_index=index)) for index in range(2)]
    assert _rows(np.concatenate(halves)) == _rows(arrays["train"][0])
    assert len(files.listdir(cache)) == 6  # one cache per input pipeline's share
    for other in (data.load(pattern, cache=cache, pad_to=10).train, cached.take("train", 100).train):
        assert other.cache_prefix() != cached.train.cache_prefix()
    # A training file rewritten since, within the same second (its time stamp 1 ms later; its records could differ,
    # their count the same): its cache is not the old one, while the other splits' files, untouched, keep theirs.
    rewritten = copy / "train-0.tfrecord"
    stamp = rewritten.stat().st_mtime_ns
    os.utime(rewritten, ns=(stamp, stamp - stamp % 10 ** 9 + (stamp % 10 ** 9 + 10 ** 6) % 10 ** 9))
    touched = data.load(pattern, cache=cache)
    assert touched.train.cache_prefix() != cached.train.cache_prefix()
    assert touched.test.cache_prefix() == cached.test.cache_prefix()
    os.utime(rewritten, ns=(stamp, stamp))

    later = data.load(pattern, cache=cache)  # its loading pass reads the files; its epochs read the cache
    shutil.rmtree(copy)
    np.testing.assert_array_equal(_epoch(later, 0), first)
    assert _rows(_uint8(_epoch(later, 1))) == _rows(arrays["train"][0])


def test_training_files_alone_hold_out_validation_and_test_by_a_hash_of_each_record(digit_records, tmp_path):
    directory, arrays = digit_records
    splits = data.load(f"tfrecord:{directory}/train-*.tfrecord")
    counts = {split: len(splits.split(split)) for split in data.SPLITS}
    total = len(arrays["train"][0])
    assert sum(counts.values()) == total
    assert abs(counts["test"] / total - 0.15) < 0.03 and abs(counts["validation"] / total - 0.10) < 0.03
    held = {split: _rows(_all(splits.split(split).examples())) for split in data.SPLITS}
    assert sorted(held["train"] + held["validation"] + held["test"]) == _rows(arrays["train"][0])
    # The assignment depends on the files' base names and record indices only: another folder, the same splits.
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    for index in range(4):
        shutil.copy(os.path.join(directory, f"train-{index}.tfrecord"), moved / f"train-{index}.tfrecord")
    again = data.load(f"tfrecord:{moved}/*.tfrecord")
    assert _rows(_all(again.test.examples())) == held["test"]
    # A split with files of its own is not held out: the validation files give the validation split.
    (moved / "validation-0.tfrecord").write_bytes(open(os.path.join(directory, "validation-0.tfrecord"), "rb").read())
    own = data.load(f"tfrecord:{moved}/{{split}}-*.tfrecord")
    assert len(own.validation) == len(arrays["validation"][0][0::2])
    assert len(own.train) + len(own.test) == total and len(own.test) == counts["test"]


def test_padding_and_resizing_a_stream_equal_the_in_memory_preprocessing(digit_records):
    directory, arrays = digit_records
    images = arrays["test"][0]
    padded = data.load(f"tfrecord:{directory}/{{split}}-*.tfrecord", pad_to=12)
    assert padded.element_shape == (12, 12, 1) and padded.test.dtype == "uint8"
    np.testing.assert_array_equal(_all(padded.test.examples()), data.preprocessing.pad_to(images, 12))
    resized = data.load(f"tfrecord:{directory}/{{split}}-*.tfrecord", resize_to=16)
    assert resized.element_shape == (16, 16, 1) and resized.test.dtype == "float32"
    np.testing.assert_allclose(resized.first("test", 1000), data.preprocessing.resize_to(images, 16), atol=1e-6)
    with pytest.raises(DataError, match="smaller than the images"):
        data.load(f"tfrecord:{directory}/{{split}}-*.tfrecord", pad_to=4)


def test_the_shuffle_buffer_is_bounded_in_bytes():
    split = StreamedSplit(name="big", read=None, num_examples=10**6, num_files=100, element_shape=(64, 64, 3))
    assert split.shuffle_buffer_size == data.streamed_split.SHUFFLE_BUFFER_BYTES // (64 * 64 * 3) == 5461
    assert StreamedSplit(name="small", read=None, num_examples=300, num_files=1,
                         element_shape=(28, 28, 1)).shuffle_buffer_size == 300
    with pytest.raises(DataError, match="small is empty"):
        StreamedSplit(name="small", read=None, num_examples=0, num_files=1, element_shape=(2,))


# ------------------------------------------------------------------------------------------ bad files
def _example(image=None, label=None, **extra):
    feature = dict(extra)
    if image is not None:
        feature["image"] = tf.train.Feature(bytes_list=tf.train.BytesList(value=image if isinstance(image, list)
                                                                           else [image]))
    if label is not None:
        feature["label"] = tf.train.Feature(int64_list=tf.train.Int64List(value=label))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def _write(path, records):
    with tf.io.TFRecordWriter(str(path)) as writer:
        for record in records:
            writer.write(record)
    return str(path)


def _png(height=6, width=6, channels=1, value=7):
    return tf.io.encode_png(np.full((height, width, channels), value, np.uint8)).numpy()


@pytest.mark.parametrize("records, message", [
    ([_example(_png(), [1]), _example(label=[2])], r"bad\.tfrecord record 1 has no single encoded image.*"
                                                    r"Received: features \{'label': 'int64_list'\}"),
    ([_example([_png(), _png()])], r"record 0 has no single encoded image.*2 value\(s\) under `image`"),
    ([_example(_png()), _example(b"not an image")], r"Cannot decode the image of .*bad\.tfrecord record 1: "
                                                     r".*Received: 12 bytes"),
    ([_example(_png()), _example(_png(height=7))], r"differ in size: .*record 0 is \(6, 6, 1\), .*record 1 is "
                                                   r"\(7, 6, 1\)"),
    ([_example(_png()), _example(_png(channels=3))], r"differ in size: .*record 1 is \(6, 6, 3\)"),
    ([_example(_png(), [3]), _example(_png(), [-2])], r"record 1 has a bad label: expected one non-negative.*"
                                                       r"Received: int64_list \[-2\]"),
    ([_example(_png(), [3]), _example(_png(), [1, 2])], r"record 1 has a bad label"),
    ([_example(_png(), [3]), _example(_png())], r"Some records of .* have a label and others not: .*record 0 has "
                                                r"one, .*record 1 none"),
    ([_example(image=None, image_bytes=tf.train.Feature(int64_list=tf.train.Int64List(value=[1])))],
     r"record 0 has no single encoded image"),
    ([b"this is no tf.train.Example"], r"record 0 is not a tf.train.Example"),
    # Bytes that are not UTF-8: TensorFlow's own message about them cannot even be decoded.
    ([_example(_png()), _png()], r"record 1 is not a tf.train.Example"),
])
def test_a_bad_record_is_a_data_error_naming_its_file_and_index(tmp_path, records, message):
    _write(tmp_path / "bad.tfrecord", records)
    with pytest.raises(DataError, match=message):
        data.load(f"tfrecord:{tmp_path}/*.tfrecord")


def test_an_image_stored_as_integers_is_a_data_error(tmp_path):
    record = tf.train.Example(features=tf.train.Features(feature={
        "image": tf.train.Feature(int64_list=tf.train.Int64List(value=[1, 2]))})).SerializeToString()
    _write(tmp_path / "good.tfrecord", [_example(_png())] * 3)
    _write(tmp_path / "ints.tfrecord", [_example(_png()), record])
    with pytest.raises(DataError, match=r"ints\.tfrecord record 1 has no single encoded image.*'image': "
                                        r"'int64_list'"):
        data.load(f"tfrecord:{tmp_path}/*.tfrecord")


def test_a_truncated_or_corrupt_file_is_a_data_error(tmp_path):
    path = _write(tmp_path / "cut.tfrecord", [_example(_png(value=value)) for value in range(20)])
    raw = open(path, "rb").read()
    open(path, "wb").write(raw[:-1])  # cut inside the last record (a cut between records reads as a shorter file)
    with pytest.raises(DataError, match=r"cut\.tfrecord is corrupt or truncated at record 19 \(.*truncated record"):
        data.load(f"tfrecord:{tmp_path}/*.tfrecord")
    flipped = bytearray(raw)
    flipped[len(raw) // 2] ^= 0xFF
    open(path, "wb").write(bytes(flipped))
    with pytest.raises(DataError, match=r"cut\.tfrecord is corrupt or truncated at record \d+ \(.*corrupted record"):
        data.load(f"tfrecord:{tmp_path}/*.tfrecord")


def test_missing_files_and_empty_splits_are_data_errors(tmp_path):
    with pytest.raises(DataError, match=r"No file matches .*nothing-\*\.tfrecord"):
        data.load(f"tfrecord:{tmp_path}/nothing-*.tfrecord")
    with pytest.raises(DataError, match=r"No file matches .*/train-\*\.tfrecord"):
        data.load(f"tfrecord:{tmp_path}/{{split}}-*.tfrecord")
    _write(tmp_path / "train-0.tfrecord", [_example(_png())])
    # One record cannot give three splits.
    with pytest.raises(DataError, match=r"split of tfrecord:.* is empty .*expected at least one example"):
        data.load(f"tfrecord:{tmp_path}/{{split}}-*.tfrecord")
    _write(tmp_path / "validation-0.tfrecord", [])
    _write(tmp_path / "test-0.tfrecord", [_example(_png())])
    with pytest.raises(DataError, match=r"The validation split of .* is empty \(its files hold no record\)"):
        data.load(f"tfrecord:{tmp_path}/{{split}}-*.tfrecord")


def test_a_file_matched_by_two_split_patterns_is_a_data_error(tmp_path):
    _write(tmp_path / "train-and-validation.tfrecord", [_example(_png())])
    with pytest.raises(DataError, match=r"train-and-validation\.tfrecord matches the train and the validation "
                                        r"pattern"):
        data.load(f"tfrecord:{tmp_path}/*{{split}}*.tfrecord")


def test_write_image_tfrecord_refuses_what_it_cannot_write(tmp_path):
    with pytest.raises(ValueError, match="uint8 arrays"):
        write_image_tfrecord(str(tmp_path / "x.tfrecord"), [np.zeros((4, 4, 1), np.float32)])
    with pytest.raises(ValueError, match="image_format must be one of"):
        write_image_tfrecord(str(tmp_path / "x.tfrecord"), [], image_format="gif")
    path = str(tmp_path / "y.tfrecord")
    assert write_image_tfrecord(path, (np.full((4, 5, 3), 9, np.uint8) for _ in range(3)), image_format="jpeg") == 3
    records = list(tf.data.TFRecordDataset(path).as_numpy_iterator())
    image = tf.train.Example.FromString(records[2]).features.feature["image"].bytes_list.value[0]
    assert len(records) == 3 and tf.io.decode_jpeg(image).shape == (4, 5, 3)
