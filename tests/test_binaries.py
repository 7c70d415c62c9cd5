"""The main job's workdir (trained once per session in-process, tests/conftest.py) and each binary end to end: the
TF-only SavedModel consumer, flag and workdir errors, fit_density and export (crash and resume:
tests/test_crash_safety.py)."""
import json
import os
import re
import shutil

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import TF_ONLY_PRELUDE, run_python


@pytest.mark.slow
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


@pytest.mark.slow
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


FLAG_ERRORS = [
    (["--model=nope"], "Unknown model 'nope'. Expected one of:"),
    (["--epochs=0"], "--epochs must be at least 1"),
    (["--model_kwargs=[1]"], "--model_kwargs must be a JSON object"),
    (["--cache="], "A cache is 'memory' or a folder for cache files"),
]


@pytest.mark.parametrize("argv, message", FLAG_ERRORS, ids=["model", "epochs", "model_kwargs", "cache"])
def test_flag_errors_are_clear(train_flags, argv, message, tmp_path):
    """In-process: absl parses the flags, TrainConfig checks them before any work starts."""
    with pytest.raises(ValueError, match=re.escape(message)):
        train_flags([f"--workdir={tmp_path}", *argv]).validate()
    assert not os.listdir(tmp_path)  # refused before anything was written


# Bad inputs a user types: (flags, the start of the message printed after "error: "). Each runs the train binary's
# main in-process (through `trainers.binary.clean_errors`, as `run_binary` does).
BAD_INPUTS = [
    (["--dataset=npz:/nonexistent.npz"], "npz file not found: /nonexistent.npz"),
    (["--dataset=npz:{tmp}/corrupt.npz"], "Cannot read {tmp}/corrupt.npz as a NumPy .npz archive"),
    (["--dataset=npz:{tmp}/keys.npz"], "{tmp}/keys.npz must contain arrays x_train and x_test"),
    (["--dataset=npz:{tmp}/nan.npz"], "npz:{tmp}/nan.npz/train contains 25 NaN or infinite values"),
    (["--dataset=npz:{tmp}/shape.npz"], "npz:{tmp}/shape.npz/train must hold images of shape [N, H, W, C]"),
    (["--dataset=folder:{tmp}/empty"], "{tmp}/empty holds no .png/.jpg/.jpeg files"),
    (["--dataset=nope"], "Unknown data set 'nope'"),
    (["--network=nope"], "Unknown network 'nope'"),
    (["--likelihood=nope"], "Unknown likelihood 'nope'"),
    (["--strategy=multi_worker"], "--strategy=multi_worker needs the TF_CONFIG environment variable"),
    (["--batch_size=-5"], "--batch_size must be at least 1"),
    (["--latent_dim=0"], "--latent_dim must be at least 1"),
    (["--learning_rate=nan"], "--learning_rate must be positive"),
    (["--resize_to=0"], "--resize_to must be at least 1"),
    (["--model=rae", '--model_kwargs={"beta": "x"}'], "Model 'rae' got an argument of the wrong type"),
    (["--model=rae", '--model_kwargs={"bta": 1}'], "Model 'rae' has no hyperparameters ['bta']; it takes ['beta'"),
    (["--model=rae", "--prior=decoupled"], "--prior=decoupled needs a model whose loss involves the prior"),
    (["--max_train_examples=50", "--batch_size=100"], "The training split has 50 examples, fewer than one batch"),
]


def _bad_files(directory):
    """The broken data files of BAD_INPUTS."""
    (directory / "corrupt.npz").write_bytes(b"PK\x03\x04 not really a zip archive")
    np.savez(directory / "keys.npz", images=np.zeros((4, 8, 8)))
    images = np.random.default_rng(0).random((40, 8, 8)).astype(np.float32)
    np.savez(directory / "nan.npz", x_train=np.where(images > 0.99, np.nan, images), x_test=images[:10])
    np.savez(directory / "shape.npz", x_train=np.zeros((40, 8)), x_test=np.zeros((10, 8)))
    (directory / "empty").mkdir()


@pytest.mark.parametrize("argv, message", BAD_INPUTS, ids=[str(i) for i in range(len(BAD_INPUTS))])
def test_bad_inputs_print_one_clear_line_and_exit_1(train_flags, argv, message, tmp_path, capsys):
    from trainers import binary, jobs

    _bad_files(tmp_path)
    argv = [arg.replace("{tmp}", str(tmp_path)) for arg in argv]
    main = binary.clean_errors(lambda args: jobs.run_main_job(train_flags(args[1:])))
    with pytest.raises(SystemExit) as exit_info:
        main(["trainers.train", f"--workdir={tmp_path / 'run'}", "--epochs=1", *argv])
    assert exit_info.value.code == 1
    error = capsys.readouterr().err
    assert error.startswith(f"error: {message.replace('{tmp}', str(tmp_path))}") and "Traceback" not in error, error
    assert error.count("\n") == 2, error  # the message and the hint, one line each


def _old_workdir(path):
    """A workdir whose config.json was written before tfvae recorded a workdir format."""
    path.mkdir()
    (path / "config.json").write_text(json.dumps({"model": "rae_l2", "dataset": "digits"}))
    return str(path)


def _damaged_workdir(path):
    path.mkdir()
    (path / "config.json").write_text('{"model": "rae_l2", "data')  # cut short
    return str(path)


# The jobs behind the other binaries (fit_density, export, evaluate, reproduce), as each binary's main calls them:
# (job(tmp_path), the start of the message).
JOB_ERRORS = [
    (lambda tmp: __import__("trainers.jobs").jobs.fit_densities(str(tmp / "none"), ["gmm"]),
     "{tmp}/none/config.json not found: {tmp}/none holds no tfvae run"),
    (lambda tmp: __import__("trainers.jobs").jobs.export(str(tmp / "none")), "{tmp}/none/config.json not found"),
    (lambda tmp: __import__("trainers.evaluation").evaluation.evaluate(str(tmp / "none")),
     "{tmp}/none/config.json not found"),
    (lambda tmp: __import__("trainers.evaluation").evaluation.evaluate(_old_workdir(tmp / "old")),
     "{tmp}/old was written by another version of tfvae (workdir format None; this version reads format 1)"),
    (lambda tmp: __import__("trainers.jobs").jobs.export(_damaged_workdir(tmp / "damaged")),
     "{tmp}/damaged/config.json is not valid JSON"),
    (lambda tmp: __import__("trainers.reproduction").reproduction.run_experiment("nope", "cpu", str(tmp)),
     "Unknown experiment 'nope'"),
]


@pytest.mark.parametrize("job, message", JOB_ERRORS, ids=["fit_density", "export", "evaluate", "old_workdir",
                                                         "damaged_workdir", "reproduce"])
def test_the_other_binaries_refuse_bad_workdirs_in_one_line(job, message, tmp_path, capsys):
    from trainers import binary

    with pytest.raises(SystemExit) as exit_info:
        binary.clean_errors(lambda argv: job(tmp_path))([])
    assert exit_info.value.code == 1
    error = capsys.readouterr().err
    assert error.startswith("error: " + message.format(tmp=tmp_path)) and "Traceback" not in error, error


def test_a_run_on_a_workdir_of_another_format_is_refused_before_writing(train_flags, tmp_path):
    from tfvae import workdir as workdir_lock
    from trainers import jobs

    workdir = _old_workdir(tmp_path / "old")
    with pytest.raises(ValueError, match="written by another version of tfvae"):
        jobs.run_main_job(train_flags([f"--workdir={workdir}", "--epochs=1"]))
    assert sorted(os.listdir(workdir)) == [workdir_lock.LOCK_FILE, "config.json"]  # the lock is all it added


def test_unexpected_errors_keep_their_traceback(monkeypatch):
    from trainers import binary

    def fails_inside_numpy(argv):
        return np.zeros(-1)  # a ValueError raised by NumPy, not by a check of tfvae's

    with pytest.raises(ValueError, match="negative dimensions"):
        binary.clean_errors(fails_inside_numpy)([])
    with pytest.raises(RuntimeError, match="a bug"):
        binary.clean_errors(lambda argv: (_ for _ in ()).throw(RuntimeError("a bug")))([])
    monkeypatch.setenv(binary.TRACEBACK_VARIABLE, "1")
    with pytest.raises(ValueError, match="Unknown model"):
        binary.clean_errors(lambda argv: __import__("tfvae").registry.get("model", "nope"))([])


@pytest.mark.slow
def test_the_train_binary_prints_flag_errors_and_exits_non_zero(tmp_path):
    result = run_python(["-m", "trainers.train", f"--workdir={tmp_path}", *FLAG_ERRORS[0][0]], check=False)
    assert result.returncode == 1 and f"error: {FLAG_ERRORS[0][1]}" in result.stdout
    assert "Traceback" not in result.stdout


@pytest.mark.slow
def test_fit_density_and_export_binaries(main_job, tmp_path):
    workdir = tmp_path / "main"
    shutil.copytree(main_job[0], workdir)  # the session's main job stays as trained
    result = run_python(["-m", "trainers.fit_density", f"--workdir={workdir}", "--density=gmm,flow",
                         "--components=3", "--latents=sample"])
    info = json.loads((workdir / "density" / "gmm" / "config.json").read_text())
    # RAE-L2's encoder is deterministic: with --latents=sample there is no posterior variance to sample from.
    assert info["config"]["num_components"] == 3 and info["fit_info"]["latents"] == "posterior means"
    assert "flow" in result.stdout and "validation" in result.stdout
    base = tmp_path / "export"
    result = run_python(["-m", "export.export_saved_model", f"--workdir={workdir}", f"--export_base={base}",
                         "--samplers=gmm"])
    assert result.stdout.strip().splitlines()[-1] == str(base / "rae_l2" / "1")
    metadata = json.loads((base / "rae_l2" / "1" / "assets.extra" / "tfvae_metadata.json").read_text())
    assert metadata["samplers"] == ["gmm", "prior"] and metadata["default_sampler"] == "gmm"
    from trainers import jobs  # the binary's job, in-process: every fitted sampler by default

    assert jobs.export(str(workdir), export_base=str(base)) == str(base / "rae_l2" / "2")
    metadata = json.loads((base / "rae_l2" / "2" / "assets.extra" / "tfvae_metadata.json").read_text())
    assert metadata["samplers"] == ["flow", "gaussian", "gmm", "prior"]
    assert metadata["dataset"] == "digits" and metadata["latent_dim"] == 16
