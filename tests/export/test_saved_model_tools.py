"""The exported SavedModel with TensorFlow's own tools, in tf.data pipelines, and under an interrupted export."""
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tfvae.export import saved_model
from tests import goldens
from tests.conftest import REPO, subprocess_env
from tfvae.density import GaussianMixture, PriorSampler


@pytest.fixture(scope="module")
def version(tmp_path_factory):
    model, _ = goldens.build_golden("rae")
    gmm = GaussianMixture(num_components=2)
    gmm.fit(np.random.default_rng(0).normal(size=(100, 3)))
    base = tmp_path_factory.mktemp("export")
    return saved_model.export_saved_model(model, {"prior": PriorSampler(model.prior), "gmm": gmm}, "gmm", str(base),
                                          "rae")


def _cli(*args):
    result = subprocess.run(["saved_model_cli", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=subprocess_env(), timeout=180)
    assert result.returncode == 0, result.stdout[-3000:]
    return result.stdout


@pytest.mark.slow
def test_saved_model_cli_shows_every_endpoint_and_runs_each_input_dtype(version, tmp_path):
    """saved_model_cli lists every endpoint and runs one of each input dtype (int32 seeds, float32 images) from .npy
    files; what every endpoint returns is the in-process SavedModel contract's (tests/export/test_saved_model.py)."""
    shown = _cli("show", "--dir", version, "--tag_set", "serve")
    for name in ("serving_default", "sample", "sample_gmm", "sample_prior", "decode", "encode", "reconstruct"):
        assert f'"{name}"' in shown or name in shown.split()
    np.save(tmp_path / "seed.npy", np.array([[1, 2], [3, 4]], np.int32))
    np.save(tmp_path / "images.npy", np.full((2, 8, 8, 1), 0.5, np.float32))
    for signature, inputs in (("sample", f"seed={tmp_path / 'seed.npy'}"),
                              ("reconstruct", f"images={tmp_path / 'images.npy'}")):
        out = _cli("run", "--dir", version, "--tag_set", "serve", "--signature_def", signature, "--inputs", inputs)
        assert "Result for output key" in out, out[-2000:]


def test_decode_inside_a_tf_data_pipeline(version):
    generator = tf.saved_model.load(version)
    latents = tf.data.Dataset.from_tensor_slices(tf.random.stateless_normal([10, 3], seed=[0, 1])).batch(4)
    images = list(latents.map(lambda z: generator.signatures["decode"](latents=z)["images"]))
    assert [tuple(batch.shape) for batch in images] == [(4, 8, 8, 1), (4, 8, 8, 1), (2, 8, 8, 1)]


def test_decode_endpoint_inside_a_keras_model(version):
    """docs/serving.md's frozen-generator example: the SavedModel's decode signature as a Keras layer."""
    import keras

    decoder = keras.layers.TFSMLayer(version, call_endpoint="decode")
    latents = keras.Input((3,))
    pipeline = keras.Model(latents, decoder(latents)["images"])
    z = tf.random.stateless_normal([5, 3], seed=[0, 2])
    np.testing.assert_allclose(pipeline(z), tf.saved_model.load(version).signatures["decode"](latents=z)["images"],
                               atol=1e-6)


@pytest.mark.slow
def test_export_killed_mid_write_leaves_previous_version_and_no_partial_one(tmp_path):
    from tests.export import export_child

    base = tmp_path / "base"
    assert export_child.export(str(base)).endswith(os.path.join("vae", "1"))  # in-process: only the kill needs a child
    command = [sys.executable, "-m", "tests.export.export_child", str(base), "--hang"]
    hanging = subprocess.Popen(command, cwd=REPO, env=subprocess_env(), stdout=subprocess.PIPE, text=True)
    try:
        assert hanging.stdout.readline().strip() == "writing"  # The new version's files are being written.
        hanging.kill()
        hanging.wait(timeout=30)
    finally:
        if hanging.poll() is None:
            hanging.kill()
    entries = os.listdir(base / "vae")
    assert saved_model.existing_versions(str(base / "vae")) == [1]
    assert all(name == "1" or name.startswith(".tmp-") for name in entries), entries  # TF Serving skips dot-folders.
    loaded = tf.saved_model.load(str(base / "vae" / "1"))
    assert loaded.signatures["sample"](seed=tf.constant([[0, 1]], tf.int32))["images"].shape == (1, 8, 8, 1)
    assert export_child.export(str(base)).endswith(os.path.join("vae", "2"))
    assert sorted(os.listdir(base / "vae")) == ["1", "2"]  # the killed export's temporary folder was removed
