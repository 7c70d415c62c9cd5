"""One writer per workdir, clean errors when a disk cannot take a write, and starting over without deleting.

A workdir (docs/training.md, "The workdir") is written by one process at a time: `hold(workdir)` takes an exclusive OS lock on
WORKDIR/.lock for the life of a job and refuses a second process at once, naming the holder. The lock is the kernel's
(`fcntl.flock`): it is released when its process ends however it ends, so the lock file a killed process leaves
behind is taken over by the next run without a flag; the holder's host, pid and start time written into the file are
for the message only. The lock needs a local file: on paths behind a URL scheme (`tfvae.files.is_local`: object
stores such as gs://, and ram://) and on filesystems without such locks (NFS without lock support) nothing is locked:
a warning says so, and keeping one writer per workdir is the scheduler's job there.

`writes(workdir)` turns a full disk, a read-only filesystem or a refused permission, raised by any write inside it
(a checkpoint, history.jsonl, a density, an export, a report), into `WriteFailed`: one message naming the path, what
the workdir holds (last checkpointed epoch, fitted densities, export versions) and what to do. The writes it guards
are atomic or checkpointed, so nothing saved before the failure is changed and the same command resumes once space
is freed.
"""
import contextlib
import datetime
import errno
import fcntl
import functools
import json
import os
import re
import socket
import sys
import threading

import tensorflow as tf
from absl import logging

from tfvae import checkpoints, files
from tfvae.density.density_estimator import DensityEstimator

LOCK_FILE = ".lock"
PREVIOUS_DIR = "previous"  # WORKDIR/previous/TIMESTAMP: what --restart moved aside
# What a restart moves aside: everything a run derives from its training (config.json and exports stay: a new run
# rewrites the config, and exported versions are served, so a new export takes the next version).
RUN_STATE = ("checkpoints", "checkpoints-workers", "logs", "density", "density-checkpoints", "eval", "samples.png")

_held = {}  # real path of a workdir -> [open lock file, depth]: the lock is re-entrant within a process
_held_guard = threading.Lock()
_unlocked = set()  # the folders off the local disk this process was warned about (they take no lock)
_DISK_ERRNOS = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is exhausted",
                errno.EROFS: "the filesystem is read-only", errno.EACCES: "permission denied",
                errno.EPERM: "permission denied"}
# The same conditions as TensorFlow's C++ file system reports them (tf.errors.*Error messages).
_TF_DISK_MESSAGES = (("No space left on device", errno.ENOSPC), ("Disk quota exceeded", errno.EDQUOT),
                     ("Read-only file system", errno.EROFS), ("Permission denied", errno.EACCES))


class WorkdirBusy(RuntimeError):
    """Another process holds the workdir's lock."""


class WriteFailed(RuntimeError):
    """A write into the workdir failed for a reason of the machine (full, read-only, not permitted).

    Attributes:
        path: str or None. The file or folder that could not be written, when known.
        reason: str. What the machine said, in words.
    """

    def __init__(self, message, path=None, reason=""):
        super().__init__(message)
        self.path, self.reason = path, reason


@contextlib.contextmanager
def hold(workdir, lock_file=LOCK_FILE):
    """Holds the exclusive lock of `workdir` (created if missing) for the block; re-entrant within a process.

    Args:
        workdir: str. The folder to hold.
        lock_file: str. The lock's file name inside `workdir`. Defaults to `LOCK_FILE`.

    Raises:
        WorkdirBusy: another live process holds it.
    """
    workdir = str(workdir)
    if not files.is_local(workdir):
        with _held_guard:
            first = workdir not in _unlocked
            _unlocked.add(workdir)
        if first:  # once per folder: the jobs of one run hold it several times
            logging.warning("%s is not on a local filesystem: no lock is taken (object stores have none); make sure "
                            "only one job writes it.", workdir)
        yield
        return
    os.makedirs(workdir, exist_ok=True)
    path = os.path.join(workdir, lock_file)
    key = os.path.realpath(path)
    with _held_guard:
        if key in _held:
            _held[key][1] += 1
        else:
            handle = _acquire(workdir, path)
            if handle is not None:
                _held[key] = [handle, 1]
    try:
        yield
    finally:
        with _held_guard:
            if key in _held:
                _held[key][1] -= 1
                if _held[key][1] == 0:
                    handle = _held.pop(key)[0]
                    fcntl.flock(handle, fcntl.LOCK_UN)
                    handle.close()


def _acquire(workdir, path):
    """Opens and locks `path` and writes the holder into it; None where the filesystem has no locks."""
    handle = open(path, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip()
        handle.close()
        raise WorkdirBusy(
            f"{workdir} is in use by another process ({_describe_holder(holder)}): two processes writing one workdir "
            f"would interleave their checkpoints, history and exports. Wait for it to finish, stop it, or use another "
            f"--workdir. (The lock is the operating system's: it ends with its process, so a killed process never "
            f"leaves it held.) Received: workdir={workdir!r}") from None
    except OSError as error:  # ENOLCK, EOPNOTSUPP: the filesystem has no locks
        handle.close()
        logging.warning("%s cannot be locked on this filesystem (%s): make sure only one job writes it.", workdir,
                        error.strerror)
        return None
    handle.seek(0)
    handle.truncate()
    handle.write(json.dumps({"host": socket.gethostname(), "pid": os.getpid(),
                             "started": datetime.datetime.now().isoformat(timespec="seconds"),
                             "command": " ".join(sys.argv)}) + "\n")
    handle.flush()
    return handle


def _describe_holder(text):
    try:
        holder = json.loads(text)
        return (f"host {holder['host']}, pid {holder['pid']}, started {holder['started']}, "
                f"command: {holder.get('command', '?')}")
    except (ValueError, KeyError, TypeError):
        return "holder not recorded"


def restart(workdir):
    """Moves the run's state (`RUN_STATE`: checkpoints, logs, densities, evaluations, samples) into
    WORKDIR/previous/TIMESTAMP, deleting nothing, so the next run starts from scratch on purpose.

    Each entry moves with `tfvae.files.move`: on the local disk with one atomic rename each; on an object store file
    by file, so a kill during the restart can leave an entry split between its place and the TIMESTAMP folder.
    Restarting again moves what is left into a new TIMESTAMP folder, still deleting nothing.

    Args:
        workdir: str. The run's folder.

    Returns:
        The folder the state was moved to, or None when there was nothing to move.
    """
    present = [name for name in RUN_STATE if _present(os.path.join(workdir, name))]
    if not present:
        return None
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    target = os.path.join(workdir, PREVIOUS_DIR, stamp)
    if files.is_local(target):
        os.makedirs(target)  # fails when the stamp exists: two restarts within a second never mix their state
    for name in present:
        files.move(os.path.join(workdir, name), os.path.join(target, name))
    logging.info("Restart: moved %s to %s; training starts from scratch.", ", ".join(present), target)
    return target


def _present(path):
    """Whether `path` exists; on the local disk also a dangling symbolic link (moved aside like the rest)."""
    return os.path.lexists(path) if files.is_local(path) else tf.io.gfile.exists(path)


def saved_state(workdir):
    """What the workdir holds, in one line: the last checkpointed epoch, fitted densities, export versions,
    the evaluation report."""
    parts = []
    found = checkpoints.find_checkpoints(os.path.join(workdir, "checkpoints"))
    parts.append(f"checkpoints up to epoch {checkpoints.checkpoint_number(found[0])}" if found
                 else "no checkpoint")
    densities = fitted_densities(workdir)
    parts.append(f"densities {', '.join(densities)}" if densities else "no fitted density")
    export_dir = os.path.join(workdir, "export")
    for model in files.listdir(export_dir):
        if not tf.io.gfile.isdir(os.path.join(export_dir, model)):  # the exports' lock files
            continue
        versions = sorted(int(v) for v in files.listdir(os.path.join(export_dir, model)) if v.isdigit())
        if versions:
            parts.append(f"export {model} versions {', '.join(map(str, versions))}")
    if tf.io.gfile.exists(os.path.join(workdir, "eval", "report.json")):
        parts.append("eval/report.json")
    return "; ".join(parts)


def fitted_densities(workdir):
    """Names of the densities saved whole in WORKDIR/density (a folder that a failed or killed save left without
    its config.json is not one)."""
    density_dir = os.path.join(workdir, "density")
    return [name for name in files.listdir(density_dir) if DensityEstimator.is_saved(os.path.join(density_dir, name))]


def disk_reason(error):
    """(errno, words) when `error` (an OSError or a TensorFlow error) says the disk cannot take a write; else
    None."""
    if isinstance(error, OSError) and error.errno in _DISK_ERRNOS:
        return error.errno, _DISK_ERRNOS[error.errno]
    if isinstance(error, tf.errors.OpError):
        for text, number in _TF_DISK_MESSAGES:
            if text in (error.message or ""):
                return number, _DISK_ERRNOS[number]
        if isinstance(error, tf.errors.PermissionDeniedError):  # an object store's refusal (HTTP 403) in its words
            return errno.EACCES, _DISK_ERRNOS[errno.EACCES]
    return None


def _failed_path(error):
    if isinstance(error, OSError) and error.filename:
        return str(error.filename)
    match = re.search(r"([a-z][a-z0-9+.-]*://[^\s;'\"]+|/[^\s:;'\"]+)", getattr(error, "message", "") or "")
    return match.group(1) if match else None


@contextlib.contextmanager
def writes(workdir):
    """Turns a failed write of the block (disk full, read-only, permission denied) into `WriteFailed` with what
    the workdir holds and what to do; other errors pass unchanged. Nested blocks translate once."""
    try:
        yield
    except WriteFailed:
        raise
    except (OSError, tf.errors.OpError) as error:
        found = disk_reason(error)
        if found is None:
            raise
        path = _failed_path(error)
        advice = {errno.ENOSPC: "free space", errno.EDQUOT: "free space or raise the quota",
                  errno.EROFS: "make the filesystem writable", errno.EACCES: "fix the permissions",
                  errno.EPERM: "fix the permissions"}[found[0]]
        raise WriteFailed(
            f"Could not write {path or 'into ' + str(workdir)}: {found[1]}. What {workdir} holds is unchanged "
            f"({saved_state(workdir)}). {advice.capitalize()}, then run the same command again: it resumes from "
            f"the last saved state. Received: {type(error).__name__}: "
            f"{(getattr(error, 'message', None) or str(error)).strip()[:300]}", path=path, reason=found[1]) from error


@contextlib.contextmanager
def job(workdir, lock=True):
    """`hold` (when `lock`) and `writes` for one job on `workdir`: what every binary that writes a workdir runs
    its work inside."""
    with contextlib.ExitStack() as stack:
        if lock:
            stack.enter_context(hold(workdir))
        stack.enter_context(writes(workdir))
        yield


def holding(function):
    """Decorates a job on an existing workdir (its first argument): it runs inside `job(workdir)`. A folder that
    does not exist is neither created nor locked: the job itself says that it holds no run."""
    @functools.wraps(function)
    def wrapper(workdir, *args, **kwargs):
        with job(workdir, lock=not files.is_local(workdir) or os.path.isdir(workdir)):
            return function(workdir, *args, **kwargs)
    return wrapper
