"""A workdir survives the faults of real machines (docs/training.md, "Crash safety"): a damaged checkpoint index, a truncated
newest checkpoint, a checkpoint of another model, no readable checkpoint at all, a second process, and a disk that is
full, read-only or refuses permission at each kind of write. Each case checks what must hold afterwards: the epoch
resumed from, history.jsonl, what was moved aside, export versions, the exit code and the message."""
import errno
import fcntl
import glob
import json
import logging
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from tfvae import checkpoints
from tfvae import workdir as workdirs
from trainers import binary, jobs
from trainers.config import TrainConfig

pytestmark = pytest.mark.slow  # each test trains or evaluates for seconds; the module's fixture trains twice

# RAE-L2 (no sampling noise) on 300 digits: 4 epochs keep ckpt-2..4 (max_to_keep 3), in about 3 s.
_SETTINGS = dict(max_train_examples=300, densities=("gaussian",))


def _config(workdir, epochs):
    return TrainConfig(workdir=str(workdir), epochs=epochs, **_SETTINGS)


def _weights(prefix):
    reader = tf.train.load_checkpoint(prefix)
    return {key: reader.get_tensor(key) for key in reader.get_variable_to_shape_map()
            if "save_counter" not in key and not key.startswith("_CHECKPOINTABLE_OBJECT_GRAPH")}


def _history_epochs(workdir):
    with open(os.path.join(workdir, "logs", "history.jsonl")) as f:
        return [json.loads(line)["epoch"] for line in f]


def _files(directory):
    return sorted(os.path.relpath(os.path.join(root, name), directory)
                  for root, _, names in os.walk(directory) for name in names)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A run trained for 4 epochs (ckpt-2..4 on disk, a density, an export), and the weights of a 5-epoch run."""
    root = tmp_path_factory.mktemp("runs")
    jobs.run_main_job(_config(root / "four", 4))
    reference = root / "five"
    shutil.copytree(root / "four", reference)
    jobs.train_and_fit_densities(_config(reference, 5))
    return root / "four", _weights(str(reference / "checkpoints" / "ckpt-5"))


@pytest.fixture
def workdir(runs, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(runs[0], copy)
    config = json.loads((copy / "config.json").read_text())  # the copy's own paths, as a run there would write
    config.update(workdir=str(copy), export_base=str(copy / "export"))
    (copy / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True))
    return copy


def _resume_to_five_and_check(workdir, runs, expected_epochs):
    history = jobs.train_and_fit_densities(_config(workdir, 5))[4]["history"]
    assert [record["epoch"] for record in history] == expected_epochs
    assert _history_epochs(workdir) == [1, 2, 3, 4, 5]  # each epoch once, none lost
    found = _weights(str(workdir / "checkpoints" / "ckpt-5"))
    assert found.keys() == runs[1].keys()
    for key, value in runs[1].items():
        np.testing.assert_array_equal(found[key], value, err_msg=key)  # as if never interrupted


@pytest.mark.parametrize("damage", ["empty", "garbage", "missing"])
def test_a_damaged_index_resumes_from_the_newest_checkpoint_on_disk(workdir, runs, damage):
    index = workdir / "checkpoints" / "checkpoint"
    if damage == "missing":
        index.unlink()
    else:
        index.write_text("" if damage == "empty" else "model_checkpoint_path: {{ not a proto")
    _resume_to_five_and_check(workdir, runs, expected_epochs=[5])


def test_a_truncated_newest_checkpoint_falls_back_to_the_one_before(workdir, runs, caplog):
    data = glob.glob(str(workdir / "checkpoints" / "ckpt-4.data-*"))[0]
    os.truncate(data, 100)
    with caplog.at_level(logging.WARNING, logger="absl"):
        _resume_to_five_and_check(workdir, runs, expected_epochs=[4, 5])
    lines = [r.getMessage() for r in caplog.records if "cannot be restored" in r.getMessage()]
    assert len(lines) == 1 and "ckpt-4: IndexError" in lines[0] and "from ckpt-3 (epoch 3)" in lines[0], lines
    moved = glob.glob(str(workdir / "checkpoints" / checkpoints.DAMAGED_DIR / "*" / "ckpt-4.*"))
    assert len(moved) == 2 and os.path.getsize(next(p for p in moved if ".data-" in p)) == 100  # kept as it was


@pytest.fixture(scope="module")
def other_model_checkpoint(tmp_path_factory):
    """ckpt-1 of the same model with 8 latents instead of 16: whole, readable, and of other shapes."""
    other = tmp_path_factory.mktemp("other")
    jobs.train_and_fit_densities(TrainConfig(workdir=str(other), epochs=1, latent_dim=8, **_SETTINGS))
    return str(other / "checkpoints" / "ckpt-1")


def test_a_newest_checkpoint_of_another_model_is_skipped(workdir, runs, other_model_checkpoint):
    for path in glob.glob(other_model_checkpoint + ".*"):
        shutil.copy(path, str(workdir / "checkpoints" / os.path.basename(path).replace("ckpt-1", "ckpt-5")))
    _resume_to_five_and_check(workdir, runs, expected_epochs=[5])
    assert glob.glob(str(workdir / "checkpoints" / checkpoints.DAMAGED_DIR / "*" / "ckpt-5.index"))


def _main(job):
    """Runs `job` as a binary's main does: returns (exit code, stderr text) through `binary.clean_errors`."""
    return binary.clean_errors(lambda argv: job())


def test_no_readable_checkpoint_is_refused_and_restart_moves_the_run_aside(workdir, capsys):
    for data in glob.glob(str(workdir / "checkpoints" / "ckpt-*.data-*")):
        os.truncate(data, 10)
    def contents():  # config.json is rewritten as it was, but for the path of this copy of the run
        return {name: (workdir / name).read_bytes() for name in _files(workdir)
                if name not in (workdirs.LOCK_FILE, "config.json")}

    before = contents()
    with pytest.raises(SystemExit) as exit_info:
        _main(lambda: jobs.run_main_job(_config(workdir, 6)))([])
    assert exit_info.value.code == 1
    error = capsys.readouterr().err
    assert error.startswith("error: None of the 3 training checkpoints") and "Traceback" not in error, error
    assert all(f"ckpt-{n}: IndexError" in error for n in (2, 3, 4)) and "--restart" in error, error
    assert contents() == before  # nothing moved, trimmed or rewritten

    result = jobs.run_main_job(_config(workdir, 2), restart=True)
    assert [record["epoch"] for record in result["history"]] == [1, 2] and _history_epochs(workdir) == [1, 2]
    previous = glob.glob(str(workdir / workdirs.PREVIOUS_DIR / "*"))
    assert len(previous) == 1
    kept = {name: (workdir / workdirs.PREVIOUS_DIR / previous[0] / name).read_bytes()
            for name in _files(previous[0])}
    assert kept == {name: value for name, value in before.items() if name.split(os.sep)[0] in workdirs.RUN_STATE}
    assert sorted(os.listdir(workdir / "export" / "rae_l2")) == ["1", "2"]  # the new one is 2


def test_a_checkpoint_of_another_model_everywhere_is_refused(workdir, other_model_checkpoint):
    directory = workdir / "checkpoints"
    other = other_model_checkpoint
    for name in os.listdir(directory):
        os.unlink(directory / name)
    for path in glob.glob(other + ".*"):
        shutil.copy(path, str(directory / os.path.basename(path)))
    before = _files(directory)
    with pytest.raises(checkpoints.CheckpointsUnreadable, match=r"ckpt-1: does not match: the checkpoint"):
        jobs.train_and_fit_densities(_config(workdir, 5))
    assert _files(directory) == before


def _hold_from_another_process(workdir):
    """Locks WORKDIR/.lock through a file description of its own, as another process would, with a holder record."""
    handle = open(os.path.join(workdir, workdirs.LOCK_FILE), "a+")
    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    handle.truncate(0)
    handle.write(json.dumps({"host": "elsewhere", "pid": 4242, "started": "2026-01-01T00:00:00"}))
    handle.flush()
    return handle


@pytest.mark.parametrize("job", ["train", "fit_density", "export", "evaluate"])
def test_a_held_workdir_is_refused_at_once_naming_the_holder(workdir, capsys, job):
    from trainers import evaluation

    jobs_by_name = {"train": lambda: jobs.run_main_job(_config(workdir, 5)),
                    "fit_density": lambda: jobs.fit_densities(str(workdir), ["gmm"]),
                    "export": lambda: jobs.export(str(workdir)),
                    "evaluate": lambda: evaluation.evaluate(str(workdir), ["fd"], num_samples=20)}
    before = _files(workdir)
    holder = _hold_from_another_process(workdir)
    try:
        with pytest.raises(SystemExit) as exit_info:
            _main(jobs_by_name[job])([])
    finally:
        holder.close()
    assert exit_info.value.code == 1
    error = capsys.readouterr().err
    assert error.startswith(f"error: {workdir} is in use by another process (host elsewhere, pid 4242, started "
                            f"2026-01-01T00:00:00"), error
    assert _files(workdir) == before and _history_epochs(workdir) == [1, 2, 3, 4]


def test_the_lock_is_reentrant_in_a_process_and_released_after(tmp_path):
    with workdirs.hold(tmp_path):
        with workdirs.hold(tmp_path):  # a job calling another job on its workdir
            pass
        with pytest.raises(BlockingIOError):  # still held by the outer block
            _hold_from_another_process(tmp_path)
    _hold_from_another_process(tmp_path).close()  # released


def _disk_error(number):
    return OSError(number, os.strerror(number))


def _failing_fsync(monkeypatch, marker, number):
    """The disk refuses (`number`) when a file whose path contains `marker` is flushed: the write paths of
    history.jsonl (append) and of densities, reports and configs (`atomic_write`) all fsync."""
    original = os.fsync

    def fsync(fd):
        path = os.readlink(f"/proc/self/fd/{fd}")
        if marker in path:
            raise OSError(number, os.strerror(number), path)
        return original(fd)

    monkeypatch.setattr(os, "fsync", fsync)


def _failing_tensorflow_write(monkeypatch, target, attribute, message):
    def fail(*args, **kwargs):
        raise tf.errors.ResourceExhaustedError(None, None, message)

    monkeypatch.setattr(target, attribute, fail)


# (kind, errno, the job that writes it, how the failure is injected, the path named in the message)
_WRITES = {
    "checkpoint": (lambda w: jobs.train_and_fit_densities(_config(w, 5)),
                   lambda m, w, n: _failing_tensorflow_write(
                       m, tf.train.CheckpointManager, "save",
                       f"{w}/checkpoints/ckpt-5_temp/part-00000-of-00001.data-00000-of-00001.tempstate1; "
                       f"{os.strerror(n)} [Op:SaveV2]"),
                   "{w}/checkpoints/ckpt-5_temp/part-00000-of-00001.data-00000-of-00001.tempstate1"),
    "history": (lambda w: jobs.train_and_fit_densities(_config(w, 5)),
                lambda m, w, n: _failing_fsync(m, "history.jsonl", n), "{w}/logs/history.jsonl"),
    "density": (lambda w: jobs.fit_densities(str(w), ["gmm"], components=2),
                lambda m, w, n: _failing_fsync(m, f"{w}/density/gmm/", n), "{w}/density/gmm/.tmp-"),
    "export": (lambda w: jobs.export(str(w), samplers=["gaussian"]),
               lambda m, w, n: _failing_tensorflow_write(
                   m, __import__("tfvae.export.saved_model").export.saved_model, "_write_saved_model",
                   f"Failed to create a NewWriteableFile: {w}/export/rae_l2/.tmp-2/saved_model.pb : "
                   f"{os.strerror(n)}"),
               "{w}/export/rae_l2/.tmp-2/saved_model.pb"),
    "report": (lambda w: __import__("trainers.evaluation").evaluation.evaluate(
                   str(w), ["fd"], num_samples=20, classifier_epochs=1),
               lambda m, w, n: _failing_fsync(m, f"{w}/eval/.tmp-report", n), "{w}/eval/.tmp-report"),
}


# Each kind of write once, each errno at least once (the translation of every errno: the unit tests).
@pytest.mark.parametrize("kind, number", [("checkpoint", errno.ENOSPC), ("history", errno.EACCES),
                                          ("density", errno.ENOSPC), ("export", errno.EACCES),
                                          ("report", errno.EROFS)])
def test_a_refused_write_ends_in_one_message_and_nothing_saved_changes(workdir, monkeypatch, capsys, kind, number):
    job, inject, path = _WRITES[kind]
    saved = {name: (workdir / name).read_bytes() for name in _files(workdir)  # what the earlier run saved
             if not name.endswith(".lock") and name != "config.json"  # lock files record their last holder
             and not name.startswith("logs/events")}
    inject(monkeypatch, workdir, number)
    with pytest.raises(SystemExit) as exit_info:
        _main(lambda: job(workdir))([])
    assert exit_info.value.code == 1
    error = capsys.readouterr().err
    words = {errno.ENOSPC: ("the disk is full", "Free space"), errno.EROFS: ("the filesystem is read-only",
                                                                            "Make the filesystem writable"),
             errno.EACCES: ("permission denied", "Fix the permissions")}[number]
    assert error.startswith(f"error: Could not write {path.format(w=workdir)}") and f": {words[0]}. What {workdir} holds is unchanged (checkpoints up to epoch " \
        f"4; densities gaussian; export rae_l2 versions 1)" in error and f"{words[1]}, then run the same command " \
        f"again" in error and "Traceback" not in error, error
    for name, content in saved.items():  # nothing saved was damaged (history.jsonl may hold epoch 5's record)
        if name != "logs/history.jsonl":
            assert (workdir / name).read_bytes() == content, name
    assert not glob.glob(str(workdir / "**" / ".tmp-*"), recursive=True)  # no partial file left
    monkeypatch.undo()
    job(workdir)  # space freed: the same command finishes


def test_after_a_full_disk_at_a_checkpoint_the_run_resumes_bit_for_bit(workdir, runs, monkeypatch):
    _WRITES["checkpoint"][1](monkeypatch, workdir, errno.ENOSPC)
    with pytest.raises(workdirs.WriteFailed):
        jobs.train_and_fit_densities(_config(workdir, 5))
    assert _history_epochs(workdir) == [1, 2, 3, 4, 5]  # epoch 5's record, written before its checkpoint
    monkeypatch.undo()
    _resume_to_five_and_check(workdir, runs, expected_epochs=[5])
