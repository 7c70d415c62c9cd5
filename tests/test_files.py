"""Files on any filesystem (`tfvae.files`): the crash-safe write on the local disk (temporary file, fsync, rename)
and through `tf.io.gfile` on TensorFlow's in-memory ram:// filesystem, which stands in for an object store such as
gs:// (no test reaches a bucket). Each test runs in an empty current folder and checks that it stays empty: a
`ram://` path handed to `os` would create a local folder named "ram:" there."""
import io
import os
import uuid

import numpy as np
import pytest
import tensorflow as tf

from tfvae import files
from tfvae import workdir as workdirs


@pytest.fixture
def ram(tmp_path, monkeypatch):
    """A fresh ram:// folder (the in-memory filesystem lives as long as the process); the test runs with an empty
    current folder, which must stay empty."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    yield f"ram://tfvae-tests/{uuid.uuid4().hex}"
    assert os.listdir(cwd) == [], "a ram:// path went to the local disk"


def _read(path):
    with tf.io.gfile.GFile(path, "rb") as f:
        return f.read()


def _temporaries(folder):
    return [name for name in tf.io.gfile.listdir(folder) if name.startswith(".tmp-")]


@pytest.mark.parametrize("path, local", [("/tmp/w", True), ("relative/w", True), ("gs://bucket/w", False),
                                         ("s3://bucket/w", False), ("ram://w", False), ("file:///tmp/w", False)])
def test_is_local_tells_the_local_disk_from_urls(path, local):
    assert files.is_local(path) is local
    assert files.absolute(path) == (os.path.abspath(path) if local else path)


def test_atomic_write_on_the_local_disk_replaces_the_file_and_a_failing_writer_leaves_the_old_one(tmp_path):
    path = str(tmp_path / "sub" / "report.json")
    assert files.atomic_write(path, "old") == path  # the folder is created
    files.atomic_write(path, b"new")
    assert open(path).read() == "new"

    def failing(f):
        f.write(b"partial")
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError, match="killed mid-write"):
        files.atomic_write(path, failing)
    assert open(path).read() == "new"
    assert os.listdir(tmp_path / "sub") == ["report.json"]  # no temporary file left
    assert oct(os.stat(path).st_mode & 0o777) == oct(0o666 & ~_umask())  # as open() would create it


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_atomic_write_on_ram_replaces_the_object_and_a_failing_writer_leaves_the_old_one(ram):
    path = f"{ram}/density/gmm/params.npz"
    arrays = {"means": np.arange(6.0).reshape(2, 3)}
    files.atomic_write(path, lambda f: np.savez(f, **arrays))  # numpy seeks: written through memory
    with np.load(io.BytesIO(_read(path))) as loaded:
        np.testing.assert_array_equal(loaded["means"], arrays["means"])
    files.atomic_write(path, "replaced")
    assert _read(path) == b"replaced"

    def failing(f):
        f.write(b"partial")
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError, match="killed mid-write"):
        files.atomic_write(path, failing)
    assert _read(path) == b"replaced" and files.listdir(f"{ram}/density/gmm") == ["params.npz"]


def test_a_temporary_object_left_by_a_kill_is_ignored_and_removed_by_the_next_write(ram):
    path = f"{ram}/eval/report.json"
    files.atomic_write(path, "first")
    leftover = f"{ram}/eval/.tmp-report.json-0123456789ab"  # a kill between an upload and its rename
    with tf.io.gfile.GFile(leftover, "w") as f:
        f.write("half a report")
    other = f"{ram}/eval/.tmp-report.html-0123456789ab"  # another file's: not this write's to remove
    with tf.io.gfile.GFile(other, "w") as f:
        f.write("x")
    assert _read(path) == b"first"
    files.atomic_write(path, "second")
    assert _read(path) == b"second" and _temporaries(f"{ram}/eval") == [os.path.basename(other)]


def test_append_line_on_the_local_disk_and_on_ram(tmp_path, ram):
    for path in (str(tmp_path / "logs" / "history.jsonl"), f"{ram}/logs/history.jsonl"):
        files.append_line(path, '{"epoch": 1}')
        files.append_line(path, '{"epoch": 2}')
        assert files.read_text(path) == '{"epoch": 1}\n{"epoch": 2}\n'
    assert _temporaries(f"{ram}/logs") == []


def test_listdir_names_only_what_exists_and_strips_folder_slashes(ram):
    tf.io.gfile.makedirs(f"{ram}/v/assets")
    files.atomic_write(f"{ram}/v/assets.extra/tfvae_metadata.json", "{}")
    assert tf.io.gfile.listdir(f"{ram}/v/assets") == [".extra"]  # ram:// lists its sibling's content
    assert files.listdir(f"{ram}/v/assets") == []
    assert files.listdir(f"{ram}/v") == ["assets", "assets.extra"]
    assert files.listdir(f"{ram}/missing") == []


def _tree(root):
    """{relative path: bytes} of every file under `root`, local or not."""
    return {name: _read(f"{root}/{name}") for name in _files_under(root)}


def _files_under(root, prefix=""):
    found = []
    for name in files.listdir(f"{root}/{prefix}" if prefix else root):
        relative = f"{prefix}/{name}" if prefix else name
        if tf.io.gfile.isdir(f"{root}/{relative}"):
            found += _files_under(root, relative)
        else:
            found.append(relative)
    return found


def _version_folder(root):
    """A SavedModel-like folder: files at two depths, an empty subfolder."""
    content = {"saved_model.pb": b"graph", "fingerprint.pb": b"f", "variables/variables.index": b"i",
               "variables/variables.data-00000-of-00001": b"d", "assets.extra/tfvae_metadata.json": b"{}"}
    for name, data in content.items():
        files.atomic_write(f"{root}/{name}", data)
    tf.io.gfile.makedirs(f"{root}/assets")
    return content


def test_move_on_ram_moves_every_file_with_the_named_one_last_and_refuses_an_existing_target(ram, monkeypatch):
    content = _version_folder(f"{ram}/.tmp-1")
    renamed = []
    original = tf.io.gfile.rename
    monkeypatch.setattr(tf.io.gfile, "rename",
                        lambda source, target, overwrite=False: renamed.append(target) or original(
                            source, target, overwrite))
    files.move(f"{ram}/.tmp-1", f"{ram}/1", last=("saved_model.pb",))
    assert _tree(f"{ram}/1") == content and tf.io.gfile.isdir(f"{ram}/1/assets")
    assert not tf.io.gfile.exists(f"{ram}/.tmp-1") and files.listdir(ram) == ["1"]
    assert renamed[-1] == f"{ram}/1/saved_model.pb" and len(renamed) == len(content)
    _version_folder(f"{ram}/.tmp-2")
    with pytest.raises(FileExistsError, match="the target exists"):
        files.move(f"{ram}/.tmp-2", f"{ram}/1")
    assert _tree(f"{ram}/1") == content  # untouched
    files.move(f"{ram}/.tmp-2/fingerprint.pb", f"{ram}/moved/fingerprint.pb")  # one file, into a new folder
    assert _read(f"{ram}/moved/fingerprint.pb") == b"f"


def test_move_on_the_local_disk_is_one_rename(tmp_path, monkeypatch):
    content = _version_folder(str(tmp_path / ".tmp-1"))
    renames = []
    original = os.replace
    monkeypatch.setattr(os, "replace", lambda source, target: renames.append(target) or original(source, target))
    files.move(str(tmp_path / ".tmp-1"), str(tmp_path / "model" / "1"))
    assert renames == [str(tmp_path / "model" / "1")]
    assert _tree(str(tmp_path / "model" / "1")) == content and not (tmp_path / ".tmp-1").exists()


def test_copy_tree_and_remove_tree_on_ram(ram):
    content = _version_folder(f"{ram}/shared")
    files.copy_tree(f"{ram}/shared", f"{ram}/cell/eval/shared")
    assert _tree(f"{ram}/cell/eval/shared") == content == _tree(f"{ram}/shared")
    files.remove_tree(f"{ram}/shared")
    files.remove_tree(f"{ram}/shared")  # missing: no error
    files.remove_tree(f"{ram}/cell/eval/shared/fingerprint.pb")  # a file
    assert files.listdir(ram) == ["cell"] and "fingerprint.pb" not in files.listdir(f"{ram}/cell/eval/shared")


def test_a_ram_workdir_takes_no_lock_warns_once_and_restarts_by_moving_its_state(ram, caplog):
    for name in ("checkpoints", "logs", "density/gmm", "export/rae_l2/1"):
        files.atomic_write(f"{ram}/{name}/file", name)
    files.atomic_write(f"{ram}/samples.png", b"png")
    files.atomic_write(f"{ram}/config.json", "{}")
    with caplog.at_level("WARNING"):
        with workdirs.hold(ram):
            with workdirs.hold(ram):  # a job inside a job
                target = workdirs.restart(ram)
    assert [r.getMessage() for r in caplog.records].count(
        f"{ram} is not on a local filesystem: no lock is taken (object stores have none); make sure only one job "
        f"writes it.") == 1
    assert target.startswith(f"{ram}/{workdirs.PREVIOUS_DIR}/")
    assert files.listdir(target) == ["checkpoints", "density", "logs", "samples.png"]
    assert files.read_text(f"{target}/density/gmm/file") == "density/gmm"
    assert files.listdir(ram) == ["config.json", "export", workdirs.PREVIOUS_DIR]  # config and exports stay
    assert workdirs.restart(ram) is None


def test_the_source_fingerprint_follows_every_byte_and_name_of_the_code(tmp_path):
    """What keeps an evaluation's parts: the same tree gives the same digest; an edit, a renamed or an added module
    gives another; files that are not Python source, hidden files and folders do not count."""
    from tfvae import fingerprints

    package = tmp_path / "package"
    (package / "sub").mkdir(parents=True)
    (package / "a.py").write_text("x = 1\n")
    (package / "sub" / "b.py").write_text("y = 2\n")
    single = tmp_path / "module.py"
    single.write_text("z = 3\n")
    first = fingerprints.of_sources([str(package), str(single)])
    assert fingerprints.of_sources([str(package), str(single)]) == first
    (package / "notes.txt").write_text("not code")
    (package / ".#a.py").symlink_to(package / "gone")  # an editor's lock file: a dangling link
    (package / "sub" / "folder.py").mkdir()
    assert fingerprints.of_sources([str(package), str(single)]) == first
    (package / "a.py").write_text("x = 2\n")
    edited = fingerprints.of_sources([str(package), str(single)])
    assert edited != first
    (package / "a.py").rename(package / "c.py")
    assert fingerprints.of_sources([str(package), str(single)]) not in (first, edited)
    (package / "c.py").rename(package / "a.py")
    assert fingerprints.of_sources([str(package), str(single)]) == edited
    (package / "sub" / "new.py").write_text("")
    assert fingerprints.of_sources([str(package), str(single)]) != edited
