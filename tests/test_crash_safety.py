"""Kill anywhere, lose nothing: the main job is SIGKILLed at random moments (training, checkpoint writing, density
fitting, export, the sample grid) and restarted on the same workdir each time; it must end with the files of an
uninterrupted run (docs/training.md, "Crash safety")."""
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import REPO, subprocess_env

pytestmark = pytest.mark.slow

# A short main job: 8 epochs of RAE-L2 on 600 digits, Gaussian and GMM fitted, exported, sample grid written.
JOB = ["-m", "trainers.train", "--epochs=8", "--max_train_examples=600", "--density=gaussian,gmm"]
# When each run is killed: once an event shows the job is in a phase, after a random delay (seconds). The last kill
# comes at a random moment of a whole run.
KILLS = [
    ("training", lambda w: os.path.exists(os.path.join(w, "checkpoints", "ckpt-3.index")), 0.5),
    ("density fitting", lambda w: os.path.isdir(os.path.join(w, "density")), 0.3),
    ("export writing", lambda w: any(name.startswith(".tmp-") for name in _entries(w, "export", "rae_l2")), 1.0),
    ("sample grid", lambda w: "1" in _entries(w, "export", "rae_l2"), 0.3),
]


def _entries(workdir, *parts):
    path = os.path.join(workdir, *parts)
    return os.listdir(path) if os.path.isdir(path) else []


def _start(workdir):
    return subprocess.Popen([sys.executable, *JOB, f"--workdir={workdir}"], cwd=REPO, env=subprocess_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _finish(workdir):
    process = _start(workdir)
    _, error = process.communicate(timeout=300)
    assert process.returncode == 0, error[-4000:]


def _state(workdir):
    """What the workdir holds, for the record of where each kill landed."""
    def count(*parts):
        path = os.path.join(workdir, *parts)
        return len(os.listdir(path)) if os.path.isdir(path) else 0

    return (f"{count('checkpoints')} checkpoint files, {count('density')} densities, "
            f"{count('export', 'rae_l2')} export entries, "
            f"samples.png {os.path.exists(os.path.join(workdir, 'samples.png'))}")


def where_so_far(landed):
    return "; ".join(landed)


def _damage_newest_checkpoint(workdir):
    """Empties the checkpoint index and cuts the newest data file short: the next run must find the checkpoints by
    their files and resume from the one before the newest, and still end as an uninterrupted run."""
    directory = workdir / "checkpoints"
    newest = max(int(name.split("-")[1].split(".")[0]) for name in os.listdir(directory)
                 if name.startswith("ckpt-") and name.endswith(".index"))
    (directory / "checkpoint").write_text("")
    data = next(directory.glob(f"ckpt-{newest}.data-*"))
    os.truncate(data, data.stat().st_size // 2)
    return f"index emptied and ckpt-{newest}'s data cut to half"


def _checkpoint(workdir):
    reader = tf.train.load_checkpoint(os.path.join(workdir, "checkpoints"))
    keys = [key for key in reader.get_variable_to_shape_map() if "save_counter" not in key
            and not key.startswith("_CHECKPOINTABLE_OBJECT_GRAPH")]
    return {key: reader.get_tensor(key) for key in keys}


def test_a_main_job_killed_at_random_moments_ends_as_an_uninterrupted_run(tmp_path):
    from tfvae.density import DensityEstimator

    reference = tmp_path / "reference"
    started = time.perf_counter()
    _finish(reference)
    duration = time.perf_counter() - started

    workdir = tmp_path / "killed"
    rng = random.Random(0)
    landed, killed = [], []
    for phase, started_phase, max_delay in KILLS + [("a random moment", None, None)]:
        process = _start(workdir)
        deadline = time.perf_counter() + (duration * rng.uniform(0.3, 1.0) if started_phase is None else 300)
        while process.poll() is None and time.perf_counter() < deadline:
            if started_phase is not None and started_phase(str(workdir)):
                time.sleep(rng.uniform(0.0, max_delay))
                break
            time.sleep(0.02)
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
            landed.append(f"killed in {phase}: {_state(workdir)}")
            # A killed holder's lock file stays behind, naming it (this process's, or an earlier killed one's when
            # the kill came before the lock); the next run takes it over without a flag.
            assert json.loads((workdir / ".lock").read_text())["pid"] in killed + [process.pid], where_so_far(landed)
            killed.append(process.pid)
            if phase == "training":
                landed[-1] += f"; then {_damage_newest_checkpoint(workdir)}"
        else:
            landed.append(f"{phase}: finished before the kill")
    _finish(workdir)
    where = "; ".join(landed)
    print("where the kills landed:", where)  # shown by pytest -s
    assert sum(entry.startswith("killed") for entry in landed) >= 4, where

    # The same weights and optimizer state, bit for bit.
    expected, found = _checkpoint(reference), _checkpoint(workdir)
    assert expected.keys() == found.keys(), where
    for key in expected:
        np.testing.assert_array_equal(found[key], expected[key], err_msg=f"{key} ({where})")
    # Each epoch's record exactly once.
    records = [json.loads(line) for line in (workdir / "logs" / "history.jsonl").read_text().splitlines()]
    assert [record["epoch"] for record in records] == list(range(1, 9)), where
    # Every density pair whole, with the reference's parameters.
    for name in ("gaussian", "gmm"):
        density = DensityEstimator.load(str(workdir / "density" / name))
        twin = DensityEstimator.load(str(reference / "density" / name))
        assert density.fingerprint() == twin.fingerprint(), (name, where)
    # One export version (restarts after the export reuse it), no partial folder left, and the same samples.
    assert sorted(os.listdir(workdir / "export" / "rae_l2")) == ["1"], where
    tf.saved_model.load(str(workdir / "export" / "rae_l2" / "1"))
    png = (workdir / "samples.png").read_bytes()
    assert tf.io.decode_png(png).shape[-1] in (1, 3) and png == (reference / "samples.png").read_bytes(), where


def test_a_second_process_on_a_held_workdir_is_refused_and_a_killed_holder_is_taken_over(tmp_path):
    workdir = tmp_path / "run"
    # A first run long enough to be training when the second one starts.
    first = subprocess.Popen([sys.executable, "-m", "trainers.train", "--epochs=100000", "--max_train_examples=300",
                              "--density=gaussian", f"--workdir={workdir}"], cwd=REPO, env=subprocess_env(),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.perf_counter() + 120
        while not (workdir / "checkpoints" / "ckpt-1.index").exists() and time.perf_counter() < deadline:
            time.sleep(0.1)
        assert first.poll() is None, "the first run ended early"
        second = subprocess.run([sys.executable, *JOB, f"--workdir={workdir}"], cwd=REPO, env=subprocess_env(),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
        assert first.poll() is None, "the first run ended before the second was refused"
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    assert second.returncode == 1, second.stderr[-3000:]
    assert (f"error: {workdir} is in use by another process (host {socket.gethostname()}, pid {first.pid}, started "
            in second.stderr) and "Traceback" not in second.stderr, second.stderr[-3000:]
    epochs = [json.loads(line)["epoch"] for line in (workdir / "logs" / "history.jsonl").read_text().splitlines()
              if line.endswith("}")]

    # The killed holder's lock is taken over without a flag; its epochs were already past the 2 asked for now.
    third = subprocess.run([sys.executable, "-m", "trainers.train", "--epochs=2", "--max_train_examples=300",
                            "--density=gaussian", f"--workdir={workdir}"], cwd=REPO, env=subprocess_env(),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
    assert third.returncode == 0, third.stdout[-3000:]
    assert json.loads((workdir / ".lock").read_text())["pid"] != first.pid
    records = [json.loads(line)["epoch"] for line in (workdir / "logs" / "history.jsonl").read_text().splitlines()]
    assert records == list(range(1, len(records) + 1)) and len(records) >= 1 and len(records) <= len(epochs) + 1
