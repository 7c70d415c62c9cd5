"""Checkpoints verified before they are trusted: found by their files as well as by the index, read completely
before a restore, and skipped (moved aside, never deleted) when damaged.

TensorFlow's `tf.train.CheckpointManager` knows a folder's checkpoints only through its index file (`checkpoint`):
with the index damaged or missing it reports none, and a trainer that believes it starts from scratch. A truncated
data file is found only when a restore reads it, and fails every restart. `restore_newest_readable` is the one place
that decides which checkpoint of a folder a run resumes from; the `Trainer` and the epoch-trained densities use it.
"""
import datetime
import os
import re

import tensorflow as tf
from absl import logging

from tfvae.files import atomic_write

CHECKPOINT_NAME = "ckpt"  # tf.train.CheckpointManager's default prefix
INDEX_FILE = "checkpoint"  # the CheckpointManager's index
DAMAGED_DIR = "damaged"  # where checkpoints that cannot be restored are moved, inside their folder
_CHECKPOINT_FILE = re.compile(rf"^{CHECKPOINT_NAME}-(\d+)\.(index|data-\d+-of-\d+)$")


class CheckpointMismatch(ValueError):
    """Raised by a restore function when a checkpoint reads completely but does not hold this model's variables
    (shapes, dtypes or objects differ): `restore_newest_readable` then tries the next older checkpoint."""


class CheckpointsUnreadable(ValueError):
    """No checkpoint of a folder that has checkpoint files can be restored: the run refuses to start from scratch."""


def checkpoint_number(prefix):
    """N of a checkpoint prefix `.../ckpt-N`."""
    return int(os.path.basename(prefix).rsplit("-", 1)[1])


def find_checkpoints(directory):
    """Prefixes of every checkpoint in `directory`, newest first: each `ckpt-N` that has a file there (index or
    data, whole or not) or that the index file names.

    Returns:
        list of str, empty when the folder is missing or holds no checkpoint.
    """
    if not tf.io.gfile.isdir(directory):
        return []
    numbers = set()
    for name in tf.io.gfile.listdir(directory):
        match = _CHECKPOINT_FILE.match(name)
        if match:
            numbers.add(int(match.group(1)))
    state = _read_index(directory)
    if state is not None:
        for path in [state.model_checkpoint_path, *state.all_model_checkpoint_paths]:
            if path:
                try:
                    numbers.add(checkpoint_number(path))
                except (IndexError, ValueError):  # a name that is not ckpt-N: not one of ours
                    continue
    return [os.path.join(directory, f"{CHECKPOINT_NAME}-{number}") for number in sorted(numbers, reverse=True)]


def _read_index(directory):
    try:
        return tf.train.get_checkpoint_state(directory)  # None when missing or unparsable
    except (tf.errors.OpError, ValueError, UnicodeDecodeError):
        return None


def reader(prefix):
    """A `CheckpointReader` of the checkpoint `prefix` itself.

    `tf.train.load_checkpoint` first asks whether its argument is a folder, to read that folder's index instead, and
    TensorFlow's ram:// filesystem calls every prefix of a file name a folder (ckpt-2 of ckpt-2.index): the reader
    is opened on the prefix directly, as `load_checkpoint` does for a path that is not a folder."""
    return tf.compat.v1.train.NewCheckpointReader(prefix)


def unreadable_reason(prefix):
    """None when every tensor of the checkpoint `prefix` reads completely; else what went wrong, in one line.

    Reading every tensor costs about as much as the restore itself, once per start: the price of never resuming
    from a checkpoint that fails halfway through its restore."""
    try:
        opened = reader(prefix)
        for key in opened.get_variable_to_shape_map():
            opened.get_tensor(key)
    except (tf.errors.OpError, IndexError, ValueError, OSError, RuntimeError) as error:
        message = (getattr(error, "message", None) or str(error)).strip().splitlines()
        return f"{type(error).__name__}: {message[0] if message else 'unreadable'}"
    return None


def newest_readable(directory, what="training"):
    """The newest checkpoint of `directory` that reads completely, or None when the folder has no checkpoint file;
    changes nothing (for readers of a workdir, which take no lock).

    Raises:
        CheckpointsUnreadable: checkpoint files exist and none reads completely.
    """
    failures = []
    for prefix in find_checkpoints(directory):
        reason = unreadable_reason(prefix)
        if reason is None:
            if failures:
                logging.warning("Skipped damaged checkpoint(s) %s; reading %s.",
                                "; ".join(f"{os.path.basename(p)}: {r}" for p, r in failures), prefix)
            return prefix
        failures.append((prefix, reason))
    if failures:
        raise _unreadable(directory, failures, what)
    return None


def restore_newest_readable(directory, restore, what="training"):
    """Restores the newest checkpoint of `directory` that reads completely and matches, skipping damaged ones.

    Every checkpoint newer than the one restored (damaged or mismatched) is moved into DIRECTORY/damaged/ (never
    deleted) with one log line naming it and the epoch resumed from, and the index is rewritten to name the
    checkpoints that remain, so the next save continues from the restored one.

    Args:
        directory: str. A CheckpointManager's folder.
        restore: callable(prefix). Restores the checkpoint into the live objects; raises `CheckpointMismatch` when
            it does not match them (other errors propagate: e.g. a refused mixed-precision change).
        what: str. What the checkpoints hold, for the messages. Defaults to "training".

    Returns:
        The restored prefix, or None when the folder holds no checkpoint file.

    Raises:
        CheckpointsUnreadable: checkpoint files exist and none can be restored; nothing is moved then.
    """
    candidates = find_checkpoints(directory)
    failures = []
    for prefix in candidates:
        reason = unreadable_reason(prefix)
        if reason is None:
            try:
                restore(prefix)
            except CheckpointMismatch as error:
                reason = f"does not match: {error}"
        if reason is None:
            if failures:
                moved_to = _set_aside(directory, [failed for failed, _ in failures])
                logging.warning("Skipped %s checkpoint(s) that cannot be restored (%s), moved to %s; resumed %s "
                                "from %s (epoch %d).", len(failures),
                                "; ".join(f"{os.path.basename(p)}: {r}" for p, r in failures), moved_to, what,
                                os.path.basename(prefix), checkpoint_number(prefix))
            _write_index(directory, [p for p in candidates if checkpoint_number(p) <= checkpoint_number(prefix)])
            return prefix
        failures.append((prefix, reason))
    if failures:
        raise _unreadable(directory, failures, what)
    index = os.path.join(directory, INDEX_FILE)
    if tf.io.gfile.exists(index) and _read_index(directory) is None:  # an index naming nothing readable, alone
        tf.io.gfile.makedirs(os.path.join(directory, DAMAGED_DIR))
        tf.io.gfile.rename(index, os.path.join(directory, DAMAGED_DIR, f"{INDEX_FILE}-{_stamp()}"), overwrite=True)
    return None


def _stamp():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")


def _unreadable(directory, failures, what):
    listed = "\n".join(f"  {os.path.basename(p)}: {r}" for p, r in failures)
    return CheckpointsUnreadable(
        f"None of the {len(failures)} {what} checkpoints in {directory} can be restored, and the run will not "
        f"silently start from scratch over them:\n{listed}\nNothing was changed. Restore the files from a backup to "
        f"continue, or start over on purpose with --restart (it moves the old checkpoints and logs aside into "
        f"WORKDIR/previous/, deleting nothing). Received: directory={directory!r}")


def _set_aside(directory, prefixes):
    """Moves every file of `prefixes` into DIRECTORY/damaged/TIMESTAMP/; returns that folder."""
    target = os.path.join(directory, DAMAGED_DIR, _stamp())
    tf.io.gfile.makedirs(target)
    numbers = {checkpoint_number(prefix) for prefix in prefixes}
    for name in tf.io.gfile.listdir(directory):
        match = _CHECKPOINT_FILE.match(name)
        if match and int(match.group(1)) in numbers:
            tf.io.gfile.rename(os.path.join(directory, name), os.path.join(target, name))
    return target


def _write_index(directory, prefixes):
    """Rewrites the index (CheckpointManager's text proto, relative paths) to name `prefixes` (newest first), when
    it does not already name exactly them.

    Each checkpoint's time is its index file's modification time, and the preserved timestamp lies before them all:
    the manager then counts every listed checkpoint against `max_to_keep` (listed without times, it would keep them
    forever)."""
    state = _read_index(directory)
    wanted = [os.path.basename(p) for p in reversed(prefixes)]  # oldest first, as the manager writes them
    if state is not None and [os.path.basename(p) for p in state.all_model_checkpoint_paths] == wanted \
            and os.path.basename(state.model_checkpoint_path) == wanted[-1]:
        return
    times = []
    for name in wanted:
        try:
            times.append(tf.io.gfile.stat(os.path.join(directory, name + ".index")).mtime_nsec / 1e9)
        except tf.errors.NotFoundError:
            times.append(times[-1] if times else 0.0)
    lines = ([f'model_checkpoint_path: "{wanted[-1]}"'] + [f'all_model_checkpoint_paths: "{n}"' for n in wanted]
             + [f"all_model_checkpoint_timestamps: {t!r}" for t in times]
             + [f"last_preserved_timestamp: {min(times) - 1.0!r}"])
    atomic_write(os.path.join(directory, INDEX_FILE), "\n".join(lines) + "\n")
