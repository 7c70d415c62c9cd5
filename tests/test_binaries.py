"""The binaries end to end in subprocesses: the main job, crash and resume, the TF-only consumer."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import REPO, TF_ONLY_PRELUDE, run_python, subprocess_env

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def main_job(tmp_path_factory):
    """Runs `python -m trainers.train` with every default but the workdir (the README's main job)."""
    workdir = tmp_path_factory.mktemp("main")
    started = time.perf_counter()
    result = run_python(["-m", "trainers.train", f"--workdir={workdir}"], timeout=600)
    return workdir, result, time.perf_counter() - started


def test_main_job_writes_config_checkpoints_density_export_and_grid(main_job):
    workdir, result, seconds = main_job
    assert seconds < 180, f"The main job must finish within 3 minutes on 2 cores; took {seconds:.0f}s"
    config = json.loads((workdir / "config.json").read_text())
    assert config["model"] == "rae_l2" and config["dataset"] == "digits" and config["network"] == "mlp"
    assert tf.train.latest_checkpoint(str(workdir / "checkpoints")).endswith("ckpt-100")
    for name in ("gmm", "gaussian"):
        info = json.loads((workdir / "density" / name / "config.json").read_text())
        assert np.isfinite(info["fit_info"]["validation_log_likelihood"])
    gmm = json.loads((workdir / "density" / "gmm" / "config.json").read_text())
    assert gmm["config"]["num_components"] == 10
    assert os.listdir(workdir / "export" / "rae_l2") == ["1"]
    png = tf.io.decode_png(tf.io.read_file(str(workdir / "samples.png")))
    assert png.shape[0] >= 64 and png.shape[1] >= 64 and int(tf.reduce_max(png)) > int(tf.reduce_min(png))


def test_savedmodel_in_a_tensorflow_only_process(main_job):
    workdir, _, _ = main_job
    version = workdir / "export" / "rae_l2" / "1"
    code = TF_ONLY_PRELUDE + f"""
import json
for name in ('keras', 'tensorflow_probability', 'tfvae'):
    try:
        __import__(name)
        raise SystemExit(name + ' is importable')
    except ImportError:
        pass
loaded = tf.saved_model.load({str(version)!r})
signatures = sorted(loaded.signatures.keys())
seeds = tf.constant([[7, i] for i in range(5)], tf.int32)
first = loaded.signatures['sample'](seed=seeds)
second = loaded.signatures['sample'](seed=seeds)
default = loaded.signatures['serving_default'](seed=seeds)
images = first['images'].numpy()
decoded = loaded.signatures['decode'](latents=first['latents'])['images'].numpy()
encoded = loaded.signatures['encode'](images=tf.constant(images))['latents'].numpy()
print(json.dumps({{
    'signatures': signatures,
    'same': bool((first['images'].numpy() == second['images'].numpy()).all()),
    'default_same': bool((first['latents'].numpy() == default['latents'].numpy()).all()),
    'shape': list(images.shape), 'latent_shape': list(first['latents'].shape),
    'min': float(images.min()), 'max': float(images.max()),
    'decode_matches': float(abs(decoded - images).max()),
    'distinct': bool(len({{r.tobytes() for r in images}}) == 5),
}}))
"""
    result = run_python(["-c", code])
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert {"sample", "serving_default", "decode", "encode", "reconstruct", "sample_gmm", "sample_gaussian",
            "sample_prior"} <= set(report["signatures"])
    assert report["same"] and report["default_same"] and report["distinct"]
    assert report["shape"] == [5, 8, 8, 1] and report["latent_shape"] == [5, 16]
    assert 0.0 <= report["min"] <= report["max"] <= 1.0
    assert report["decode_matches"] < 1e-6


def test_crash_and_resume(tmp_path):
    workdir = tmp_path / "run"
    flags = [f"--workdir={workdir}", "--density=gaussian", "--model=vae"]
    process = subprocess.Popen([sys.executable, "-m", "trainers.train", *flags, "--epochs=100000"], cwd=REPO,
                               env=subprocess_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 180
        while tf.train.latest_checkpoint(str(workdir / "checkpoints")) is None:
            assert process.poll() is None, "training exited before its first checkpoint"
            assert time.time() < deadline, "no checkpoint within 180 s"
            time.sleep(0.2)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    latest = tf.train.latest_checkpoint(str(workdir / "checkpoints"))
    epoch = int(latest.rsplit("-", 1)[1])
    assert epoch >= 1
    result = run_python(["-m", "trainers.train", *flags, f"--epochs={epoch + 2}"])
    assert f"Resumed from {latest} at epoch {epoch}" in result.stdout
    records = [json.loads(line) for line in (workdir / "logs" / "history.jsonl").read_text().splitlines()]
    resumed_epochs = [r["epoch"] for r in records if r["epoch"] > epoch]
    assert resumed_epochs == [epoch + 1, epoch + 2]
    assert tf.train.latest_checkpoint(str(workdir / "checkpoints")).endswith(f"ckpt-{epoch + 2}")


def test_flag_errors_are_clear(tmp_path):
    result = run_python(["-m", "trainers.train", f"--workdir={tmp_path}", "--model=nope"], check=False)
    assert result.returncode != 0 and "Unknown model 'nope'. Expected one of:" in result.stdout
    result = run_python(["-m", "trainers.train", f"--workdir={tmp_path}", "--epochs=0"], check=False)
    assert "--epochs must be at least 1" in result.stdout
    result = run_python(["-m", "trainers.train", f"--workdir={tmp_path}", "--model_kwargs=[1]"], check=False)
    assert "--model_kwargs must be a JSON object" in result.stdout


def test_fit_density_and_export_binaries(main_job, tmp_path):
    workdir, _, _ = main_job
    result = run_python(["-m", "trainers.fit_density", f"--workdir={workdir}", "--density=gmm,flow",
                         "--components=3", "--latents=sample"])
    info = json.loads((workdir / "density" / "gmm" / "config.json").read_text())
    assert info["config"]["num_components"] == 3 and info["fit_info"]["latents"] == "sample"
    assert "flow" in result.stdout and "validation" in result.stdout
    result = run_python(["-m", "export.export_saved_model", f"--workdir={workdir}", f"--export_base={tmp_path}",
                         "--samplers=gmm"])
    assert result.stdout.strip().splitlines()[-1] == str(tmp_path / "rae_l2" / "1")
    metadata = json.loads((tmp_path / "rae_l2" / "1" / "assets.extra" / "tfvae_metadata.json").read_text())
    assert metadata["samplers"] == ["gmm", "prior"] and metadata["default_sampler"] == "gmm"
    result = run_python(["-m", "export.export_saved_model", f"--workdir={workdir}", f"--export_base={tmp_path}"])
    metadata = json.loads((tmp_path / "rae_l2" / "2" / "assets.extra" / "tfvae_metadata.json").read_text())
    assert metadata["samplers"] == ["flow", "gaussian", "gmm", "prior"]
    assert metadata["dataset"] == "digits" and metadata["latent_dim"] == 16
