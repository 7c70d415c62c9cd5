"""The mechanisms behind a workdir's integrity, on small variables: checkpoints found by their files and verified
before a restore (`tfvae.checkpoints`), the workdir lock, the disk-error translation and the restart
(`tfvae.workdir`). The whole jobs are checked under the same faults in tests/test_workdir_integrity.py."""
import errno
import fcntl
import glob
import json
import os
import uuid

import numpy as np
import pytest
import tensorflow as tf

from tfvae import checkpoints
from tfvae import workdir as workdirs


def _save(directory, count, max_to_keep=3, size=50):
    """Saves ckpt-1..count of one variable v (value i at ckpt-i); returns (variable, checkpoint)."""
    variable = tf.Variable(tf.zeros([size]))
    checkpoint = tf.train.Checkpoint(v=variable)
    manager = tf.train.CheckpointManager(checkpoint, str(directory), max_to_keep=max_to_keep)
    for number in range(1, count + 1):
        variable.assign(tf.fill([size], float(number)))
        manager.save(checkpoint_number=number)
    return variable, checkpoint


def _restorer(checkpoint):
    def restore(prefix):
        try:
            checkpoint.restore(prefix).assert_existing_objects_matched()
        except (AssertionError, ValueError) as error:
            raise checkpoints.CheckpointMismatch(str(error)) from error
    return restore


def _cut(directory, number):
    data = glob.glob(os.path.join(directory, f"ckpt-{number}.data-*"))[0]
    os.truncate(data, 8)


def test_checkpoints_are_found_by_their_files_and_by_the_index(tmp_path):
    _save(tmp_path, 4)  # ckpt-2..4 kept
    (tmp_path / "checkpoint").write_text("")
    os.makedirs(tmp_path / "ckpt-5_temp")  # a save cut by a kill: not a checkpoint
    found = [os.path.basename(p) for p in checkpoints.find_checkpoints(str(tmp_path))]
    assert found == ["ckpt-4", "ckpt-3", "ckpt-2"]
    (tmp_path / "checkpoint").write_text('model_checkpoint_path: "ckpt-7"\nall_model_checkpoint_paths: "ckpt-7"\n')
    assert [os.path.basename(p) for p in checkpoints.find_checkpoints(str(tmp_path))][0] == "ckpt-7"  # named only
    assert checkpoints.find_checkpoints(str(tmp_path / "missing")) == []


def test_a_truncated_newest_checkpoint_is_moved_aside_and_the_one_before_restored(tmp_path):
    variable, checkpoint = _save(tmp_path, 4)
    _cut(tmp_path, 4)
    variable.assign(tf.zeros([50]))
    restored = checkpoints.restore_newest_readable(str(tmp_path), _restorer(checkpoint))
    assert os.path.basename(restored) == "ckpt-3" and np.all(variable.numpy() == 3.0)
    assert sorted(os.listdir(tmp_path / checkpoints.DAMAGED_DIR)) and not glob.glob(str(tmp_path / "ckpt-4.*"))
    moved = glob.glob(str(tmp_path / checkpoints.DAMAGED_DIR / "*" / "ckpt-4.*"))
    assert len(moved) == 2
    # The rewritten index lets a new manager go on from ckpt-3 and prune as usual (max_to_keep counts ckpt-2, 3).
    manager = tf.train.CheckpointManager(checkpoint, str(tmp_path), max_to_keep=3)
    assert os.path.basename(manager.latest_checkpoint) == "ckpt-3"
    for number in (4, 5):
        manager.save(checkpoint_number=number)
    assert [os.path.basename(p) for p in checkpoints.find_checkpoints(str(tmp_path))] == ["ckpt-5", "ckpt-4",
                                                                                          "ckpt-3"]


def test_a_truncated_newest_checkpoint_on_ram_is_moved_aside_and_the_one_before_restored():
    """The same through `tf.io.gfile` on the in-memory filesystem (an object store's stand-in), whose folder test
    answers yes for every prefix of a file name (ckpt-4 of ckpt-4.index)."""
    directory = f"ram://tfvae-tests/{uuid.uuid4().hex}/checkpoints"
    variable, checkpoint = _save(directory, 4)
    data = tf.io.gfile.glob(f"{directory}/ckpt-4.data-*")[0]
    with tf.io.gfile.GFile(data, "rb") as f:
        whole = f.read()
    tf.io.gfile.remove(data)  # ram:// opens an existing file for writing at its end
    with tf.io.gfile.GFile(data, "wb") as f:
        f.write(whole[:8])
    variable.assign(tf.zeros([50]))
    restored = checkpoints.restore_newest_readable(directory, _restorer(checkpoint))
    assert restored == f"{directory}/ckpt-3" and np.all(variable.numpy() == 3.0)
    assert len(tf.io.gfile.glob(f"{directory}/{checkpoints.DAMAGED_DIR}/*/ckpt-4.*")) == 2
    assert not tf.io.gfile.glob(f"{directory}/ckpt-4.*")
    assert tf.train.CheckpointManager(checkpoint, directory, max_to_keep=3).latest_checkpoint == restored


def test_a_mismatched_newest_checkpoint_falls_back_and_all_mismatched_are_refused(tmp_path):
    _save(tmp_path, 2, size=50)
    other = tmp_path / "other"
    _save(other, 1, size=7)
    for path in glob.glob(str(other / "ckpt-1.*")):
        os.replace(path, str(tmp_path / os.path.basename(path).replace("ckpt-1", "ckpt-3")))
    variable = tf.Variable(tf.zeros([50]))
    checkpoint = tf.train.Checkpoint(v=variable)
    restored = checkpoints.restore_newest_readable(str(tmp_path), _restorer(checkpoint))
    assert os.path.basename(restored) == "ckpt-2" and np.all(variable.numpy() == 2.0)

    small = tf.train.Checkpoint(v=tf.Variable(tf.zeros([9])))  # matches none of them
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(checkpoints.CheckpointsUnreadable, match=r"ckpt-2: does not match") as error:
        checkpoints.restore_newest_readable(str(tmp_path), _restorer(small))
    assert "ckpt-1: does not match" in str(error.value) and "--restart" in str(error.value)
    assert sorted(os.listdir(tmp_path)) == before


def test_no_readable_checkpoint_raises_and_changes_nothing(tmp_path):
    _, checkpoint = _save(tmp_path, 3)
    for number in (1, 2, 3):
        _cut(tmp_path, number)
    before = {name: (tmp_path / name).read_bytes() for name in os.listdir(tmp_path)}
    with pytest.raises(checkpoints.CheckpointsUnreadable, match="None of the 3 training checkpoints"):
        checkpoints.restore_newest_readable(str(tmp_path), _restorer(checkpoint))
    with pytest.raises(checkpoints.CheckpointsUnreadable):
        checkpoints.newest_readable(str(tmp_path))
    assert {name: (tmp_path / name).read_bytes() for name in os.listdir(tmp_path)} == before


def test_a_lone_damaged_index_is_moved_aside_so_a_manager_can_start(tmp_path):
    (tmp_path / "checkpoint").write_text("")  # TensorFlow's manager refuses to start on it
    with pytest.raises(ValueError):
        tf.train.CheckpointManager(tf.train.Checkpoint(), str(tmp_path), max_to_keep=1)
    assert checkpoints.restore_newest_readable(str(tmp_path), lambda prefix: None) is None
    assert not (tmp_path / "checkpoint").exists() and os.listdir(tmp_path / checkpoints.DAMAGED_DIR)
    tf.train.CheckpointManager(tf.train.Checkpoint(), str(tmp_path), max_to_keep=1)


def test_newest_readable_skips_a_damaged_newest_without_moving_it(tmp_path):
    _save(tmp_path, 3)
    _cut(tmp_path, 3)
    assert os.path.basename(checkpoints.newest_readable(str(tmp_path))) == "ckpt-2"
    assert glob.glob(str(tmp_path / "ckpt-3.*")) and not (tmp_path / checkpoints.DAMAGED_DIR).exists()
    assert checkpoints.newest_readable(str(tmp_path / "empty")) is None


def _another_process_holds(directory):
    handle = open(os.path.join(directory, workdirs.LOCK_FILE), "a+")
    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a file description of its own: as another process
    return handle


def test_the_lock_is_reentrant_in_a_process_records_its_holder_and_is_released_after(tmp_path):
    with workdirs.hold(tmp_path):
        with workdirs.hold(tmp_path):  # a job calling another job on its workdir
            holder = json.loads((tmp_path / workdirs.LOCK_FILE).read_text())
            assert holder["pid"] == os.getpid() and {"host", "started", "command"} <= holder.keys()
        with pytest.raises(BlockingIOError):  # still held by the outer block
            _another_process_holds(tmp_path)
    _another_process_holds(tmp_path).close()  # released


def test_a_held_workdir_is_refused_naming_the_holder(tmp_path):
    handle = _another_process_holds(tmp_path)
    handle.write(json.dumps({"host": "h", "pid": 7, "started": "then", "command": "python -m trainers.train"}))
    handle.flush()
    try:
        with pytest.raises(workdirs.WorkdirBusy, match=r"in use by another process \(host h, pid 7, started then, "
                                                       r"command: python -m trainers.train\)"):
            with workdirs.hold(tmp_path):
                pass
    finally:
        handle.close()


def test_a_job_on_a_missing_workdir_creates_nothing(tmp_path):
    @workdirs.holding
    def job(workdir):
        raise FileNotFoundError("no run")

    with pytest.raises(FileNotFoundError):
        job(str(tmp_path / "none"))
    assert not (tmp_path / "none").exists()


@pytest.mark.parametrize("error, reason", [
    (OSError(errno.ENOSPC, "No space left on device", "/w/logs/history.jsonl"), "the disk is full"),
    (OSError(errno.EROFS, "Read-only file system", "/w/x"), "the filesystem is read-only"),
    (PermissionError(errno.EACCES, "Permission denied", "/w/x"), "permission denied"),
    (tf.errors.ResourceExhaustedError(None, None, "/w/ckpt-1_temp/part; No space left on device [Op:SaveV2]"),
     "the disk is full"),
    (tf.errors.PermissionDeniedError(None, None, "/w/export/x : Permission denied"), "permission denied"),
])
def test_refused_writes_become_one_message_with_what_the_workdir_holds(tmp_path, error, reason):
    _save(tmp_path / "checkpoints", 2)
    with pytest.raises(workdirs.WriteFailed) as failed:
        with workdirs.writes(str(tmp_path)):
            raise error
    message = str(failed.value)
    assert failed.value.reason == reason and failed.value.path.startswith("/w/")
    assert message.startswith(f"Could not write {failed.value.path}: {reason}. What {tmp_path} holds is unchanged "
                              f"(checkpoints up to epoch 2; no fitted density)"), message


def test_an_object_store_refusal_names_its_url(tmp_path):
    error = tf.errors.PermissionDeniedError(None, None, "Error executing an HTTP request: HTTP response code 403 "
                                                        "with body 'denied' when initiating an upload to "
                                                        "gs://bucket/w/logs/history.jsonl")
    with pytest.raises(workdirs.WriteFailed) as failed:
        with workdirs.writes(str(tmp_path)):
            raise error
    assert failed.value.reason == "permission denied" and failed.value.path == "gs://bucket/w/logs/history.jsonl"
    assert str(failed.value).startswith("Could not write gs://bucket/w/logs/history.jsonl: permission denied.")


@pytest.mark.parametrize("error", [OSError(errno.ENOENT, "No such file"), tf.errors.NotFoundError(None, None, "x"),
                                   ValueError("bad input")])
def test_other_errors_pass_through_unchanged(tmp_path, error):
    with pytest.raises(type(error)) as raised:
        with workdirs.writes(str(tmp_path)):
            raise error
    assert raised.value is error


def test_restart_moves_the_run_state_aside_and_keeps_config_and_exports(tmp_path):
    for name in ("checkpoints", "logs", "density", "eval", "export"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "file").write_text(name)
    (tmp_path / "config.json").write_text("{}")
    target = workdirs.restart(str(tmp_path))
    assert sorted(os.listdir(target)) == ["checkpoints", "density", "eval", "logs"]
    assert (tmp_path / "export" / "file").exists() and (tmp_path / "config.json").exists()
    assert open(os.path.join(target, "logs", "file")).read() == "logs"
    assert workdirs.restart(str(tmp_path)) is None  # nothing left to move
