"""Crash-safe file writes: a reader sees the old file or the new one, never a truncated one."""
import os
import tempfile


def atomic_write(path, content):
    """Writes `content` to `path` through a temporary file in the same folder and an atomic rename.

    A crash or a kill during the write leaves the previous file (or none) in place and no partial file under
    `path`; the temporary file is removed when the write fails with an exception.

    Args:
        path: str. The file to write; its folder is created if missing.
        content: str, bytes, or a callable that takes a binary file object and writes into it (e.g.
            `lambda f: np.savez(f, **arrays)`).

    Returns:
        `path`.
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=".tmp-" + os.path.basename(path) + "-")
    try:
        with os.fdopen(handle, "wb") as f:
            if callable(content):
                content(f)
            else:
                f.write(content.encode("utf-8") if isinstance(content, str) else bytes(content))
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
