"""Files on any filesystem TensorFlow reads: local disk, and through `tf.io.gfile` object stores (gs:// on a Cloud
TPU, s3://), HDFS and TensorFlow's in-memory ram://. Every write of a workdir, a density, an export and a report goes
through here or through `tf.io.gfile`.

What a write promises depends on the filesystem (`is_local`):

- Local disk: a file is written to a temporary file in its folder, flushed to the disk and renamed over the old one
  (`os.replace`), so a reader or a run after a kill sees the old file or the new one, never a partial one; a folder
  is moved with one `os.replace`, atomically.
- Object stores have no atomic rename: `tf.io.gfile.rename` copies the object and deletes the source. A file is
  uploaded whole under a temporary name beside it and then renamed: a reader sees the old object or the new one,
  never a partial one (each object is written whole), and a kill between the upload and the rename leaves the old
  object plus a `.tmp-NAME-*` object, which nothing reads and the next write of NAME removes. A folder is moved file
  by file, so a kill can leave it split between its old and new place (`move`).
"""
import io
import os
import secrets
import tempfile

import tensorflow as tf

# Names of files being written (`atomic_write`) and of other temporary files beside their final place: nothing reads
# them, and the next write of the same file removes those a kill left behind.
TEMPORARY_PREFIX = ".tmp-"


def is_local(path):
    """Whether `path` is on the local disk, where `os` works, rather than behind a URL scheme (gs://, s3://,
    hdfs://, ram://; file:// too, which `tf.io.gfile` serves from the local disk).

    Args:
        path: str or os.PathLike. A file or folder.

    Returns:
        bool.
    """
    return "://" not in os.fspath(path)


def absolute(path):
    """`path` made absolute when it is local; a URL unchanged (it names its place already)."""
    return os.path.abspath(path) if is_local(path) else os.fspath(path)


def listdir(path):
    """Names of the entries of the folder `path`, sorted; [] when it does not exist.

    Object stores list subfolders with a trailing "/" (gs://): it is removed, so names compare alike everywhere.
    Only entries that exist are named: TensorFlow's ram:// also lists what sibling folders whose names extend this
    one's hold (listing assets/ names ".extra" for assets.extra/)."""
    if not tf.io.gfile.isdir(path):
        return []
    names = {name.rstrip("/") for name in tf.io.gfile.listdir(path)}
    return sorted(name for name in names if tf.io.gfile.exists(os.path.join(path, name)))


def _tree(root):
    """(relative paths of the subfolders, relative paths of the files) under the folder `root`, at any depth."""
    folders, found = [], []
    for name in listdir(root):
        if tf.io.gfile.isdir(os.path.join(root, name)):
            folders.append(name)
            below_folders, below_files = _tree(os.path.join(root, name))
            folders += [os.path.join(name, below) for below in below_folders]
            found += [os.path.join(name, below) for below in below_files]
        else:
            found.append(name)
    return folders, found


def read_text(path):
    """The text of the file `path` (UTF-8)."""
    with tf.io.gfile.GFile(path, "r") as f:
        return f.read()


def read_bytes(path):
    """The bytes of the file `path`."""
    with tf.io.gfile.GFile(path, "rb") as f:
        return f.read()


def atomic_write(path, content):
    """Writes `content` to `path` through a temporary file in the same folder and a rename.

    On the local disk the temporary file is flushed to the disk (fsync) and renamed with `os.replace`: a crash or a
    kill during the write leaves the previous file (or none) in place and no partial file under `path`. On an object
    store (see the module docstring) the content is uploaded whole under a temporary name and renamed with
    `tf.io.gfile.rename(overwrite=True)`, a copy and a delete: a reader sees the old object or the new one, and a
    kill between the two leaves the old object and a temporary one that this function removes at the next write of
    `path`. The temporary file is removed when the write fails with an exception, on either.

    Args:
        path: str. The file to write; its folder is created if missing.
        content: str, bytes, or a callable that takes a binary file object and writes into it (e.g.
            `lambda f: np.savez(f, **arrays)`).

    Returns:
        `path`.
    """
    if not is_local(path):
        return _write_and_rename(path, content)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=TEMPORARY_PREFIX + os.path.basename(path) + "-")
    try:
        with os.fdopen(handle, "wb") as f:
            _write_content(f, content)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp creates the file as 0600; give it the permissions a plain open() would (e.g. a model server
        # running as another user must read models.config).
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    return path


def _write_content(f, content):
    if callable(content):
        content(f)
    else:
        f.write(content.encode("utf-8") if isinstance(content, str) else bytes(content))


def _write_and_rename(path, content):
    """`atomic_write` off the local disk: upload under a temporary name, then `tf.io.gfile.rename`."""
    directory, name = os.path.dirname(path), os.path.basename(path)
    prefix = f"{TEMPORARY_PREFIX}{name}-"
    tf.io.gfile.makedirs(directory)
    for leftover in tf.io.gfile.listdir(directory):  # a kill between an earlier upload and its rename
        if leftover.startswith(prefix):
            remove_tree(os.path.join(directory, leftover))
    # Callables write into memory first: numpy's zip writer seeks and asks for the position, which object-store
    # files refuse while they are written.
    buffer = io.BytesIO()
    _write_content(buffer, content)
    temporary = os.path.join(directory, prefix + secrets.token_hex(6))
    try:
        with tf.io.gfile.GFile(temporary, "wb") as f:
            f.write(buffer.getvalue())
        tf.io.gfile.rename(temporary, path, overwrite=True)
    except BaseException:
        remove_tree(temporary, ignore_errors=True)  # a failing store must not hide the error that matters
        raise
    return path


def append_line(path, line):
    """Appends `line` and a newline to the text file `path` (created with its folder if missing).

    On the local disk the line is appended and flushed to the disk: a kill can cut the last line short (a reader
    drops such a line). Object stores cannot append: the file is read and written again whole (`atomic_write`), so
    it holds every line or none of the new one; it suits small files such as a history of epochs.

    Args:
        path: str. The file.
        line: str. One line, without its newline.
    """
    if is_local(path):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "a") as f:
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())
        return
    previous = read_text(path) if tf.io.gfile.exists(path) else ""
    atomic_write(path, previous + line + "\n")


def move(source, target, last=()):
    """Moves the file or folder `source` to `target`, whose parent folder is created if missing.

    On the local disk this is one `os.replace`: atomic, and a folder moves only onto a missing or empty folder.
    Object stores have no folders to rename: every file is renamed on its own (`tf.io.gfile.rename`, a copy and a
    delete per file), in sorted order with the relative paths in `last` at the end, and the emptied source removed.
    A reader can see the folder half moved, and a kill can leave it split between `source` and `target`, each file
    whole in one of the two.

    Args:
        source: str. The file or folder to move.
        target: str. Its new path; must not exist on an object store.
        last: iterable of str. Paths relative to `source` moved after every other file on an object store, e.g.
            the file by which a reader recognizes a whole folder ("saved_model.pb"). Defaults to ().
    """
    if is_local(source) and is_local(target):
        os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
        os.replace(source, target)
        return
    if tf.io.gfile.exists(target):
        raise FileExistsError(f"Cannot move {source} onto {target}: the target exists, and object stores move folders "
                              f"file by file, which would mix the two. Received: target={target!r}")
    tf.io.gfile.makedirs(os.path.dirname(target))
    if not tf.io.gfile.isdir(source):
        tf.io.gfile.rename(source, target)
        return
    folders, names = _tree(source)
    for folder in ["", *folders]:  # empty subfolders move too
        tf.io.gfile.makedirs(os.path.join(target, folder))
    last = [name for name in last if name in names]
    for name in sorted(set(names) - set(last)) + last:
        tf.io.gfile.rename(os.path.join(source, name), os.path.join(target, name))
    remove_tree(source)


def copy_tree(source, target):
    """Copies the folder `source` with every file and subfolder to `target` (created; files there are
    overwritten)."""
    folders, names = _tree(source)
    for folder in ["", *folders]:
        tf.io.gfile.makedirs(os.path.join(target, folder))
    for name in names:
        tf.io.gfile.copy(os.path.join(source, name), os.path.join(target, name), overwrite=True)


def remove_tree(path, ignore_errors=False):
    """Deletes the file or folder `path` with everything in it; a missing `path` is no error.

    Args:
        path: str. What to delete.
        ignore_errors: bool. Also swallow any other failure (e.g. while cleaning up after an error, which must not
            hide the error). Defaults to False.
    """
    try:
        if tf.io.gfile.isdir(path):
            tf.io.gfile.rmtree(path)
        elif tf.io.gfile.exists(path):
            tf.io.gfile.remove(path)
    except tf.errors.NotFoundError:
        return  # already gone (removed between the check and the removal): nothing to do
    except (tf.errors.OpError, OSError):
        if not ignore_errors:
            raise
