"""The TFLite export (tfvae/export/tflite.py) through TensorFlow Lite's own interpreter: the same numbers as the
SavedModel's endpoints for the same seeds (a trained VAE with the decoupled prior and its GMM through the binary, an
RAE with its GMM in-process), every bundled sampler kind converting with builtin ops only, and the refusal of a
sampler that does not. Conversions take several seconds each: those tests are slow-tier; the fast tier checks the
pieces that make the conversion possible (Philox in 32-bit ops, the GMM's component choice) and the arguments."""
import os
import shutil
import warnings

import numpy as np
import pytest
import tensorflow as tf

from tests import goldens
from tests.conftest import run_python, zoo_config
from tfvae import rowwise_random
from tfvae.density import GaussianMixture, PriorSampler
from tfvae.export import saved_model, tflite

# One batch of seeds with small, negative and extreme keys, and two rows with the same first word.
SEEDS = np.array([[0, 0], [1, 2], [-1, -1], [2 ** 31 - 1, -2 ** 31], [7, 3], [7, 4], [123456, -98765]], np.int32)
# Largest |TFLite - SavedModel| accepted: float round-off of TFLite's log, cos and matmul kernels against
# TensorFlow's (about 5e-7 was seen); a wrong random word or weight is off by far more.
ATOL = 1e-5


def _interpreter(**source):
    with warnings.catch_warnings():  # TF 2.21 announces that the interpreter moves to the ai_edge_litert package
        warnings.simplefilter("ignore", UserWarning)
        return tf.lite.Interpreter(**source)


def _randomized(model, seed=0):
    """The model with random trainable weights: a fresh decoupled prior is the identity (its couplings' output
    layers start at zero), which would hide a flow that converts wrongly."""
    rng = np.random.default_rng(seed)
    for weight in model.trainable_weights:
        weight.assign(rng.normal(scale=0.4, size=weight.shape).astype(np.float32))
    return model


def _differences(tflite_path, savedmodel_path):
    """{signature/output: max |TFLite - SavedModel|} over every TFLite signature, called on SEEDS in one batch and
    on one of its rows alone (decode: on the SavedModel's sampled latents of SEEDS)."""
    runners = _interpreter(model_path=tflite_path)
    loaded = tf.saved_model.load(savedmodel_path)
    latents = loaded.signatures["sample"](seed=tf.constant(SEEDS))["latents"].numpy()
    differences = {}
    for name in runners.get_signature_list():
        runner = runners.get_signature_runner(name)
        batches = ([{"latents": latents}, {"latents": latents[3:4]}] if name == "decode"
                   else [{"seed": SEEDS}, {"seed": SEEDS[3:4]}])
        for inputs in batches:
            got = runner(**inputs)
            want = loaded.signatures[name](**{key: tf.constant(value) for key, value in inputs.items()})
            assert sorted(got) == sorted(want), name
            for key, value in got.items():
                assert value.shape == tuple(want[key].shape), (name, key)
                difference = float(np.max(np.abs(value - want[key].numpy())))
                differences[f"{name}/{key}"] = max(differences.get(f"{name}/{key}", 0.0), difference)
    return differences


# ----------------------------------------------------------------------------------------------------- fast tier
def _draw(seed):
    return {"uniform": rowwise_random.uniform(seed, 5, stream=1), "normal": rowwise_random.normal(seed, 3)}


def _draw_converter(thirty_two_bit):
    """A builtin-ops-only TFLite converter of `_draw`, traced in 32-bit integer ops or plainly."""
    module = tf.Module()  # a module, not the function, or the converter makes a model without signatures
    module.draw = tf.function(_draw, input_signature=[tf.TensorSpec([None, 2], tf.int32, name="seed")])
    if thirty_two_bit:
        with rowwise_random.thirty_two_bit_integer_ops():
            concrete = module.draw.get_concrete_function()
    else:
        concrete = module.draw.get_concrete_function()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], module)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    return converter


def test_row_wise_draws_convert_to_builtin_ops_with_the_same_bits():
    """The seeded draws every sampler starts from: traced in 32-bit integer ops they convert with TFLite's builtin
    ops alone, and the interpreter gives the same uniforms bit for bit (and normals to float round-off)."""
    got = _interpreter(model_content=_draw_converter(True).convert()).get_signature_runner()(seed=SEEDS)
    want = _draw(tf.constant(SEEDS))
    np.testing.assert_array_equal(got["uniform"], want["uniform"].numpy())
    np.testing.assert_allclose(got["normal"], want["normal"].numpy(), atol=ATOL)


def test_the_gmm_picks_the_component_searchsorted_picks(rng):
    """The GMM's component choice is a comparison count (TFLite has no searchsorted kernel): the latents equal
    those of the component np.searchsorted picks for the same uniforms."""
    gmm = GaussianMixture(num_components=5, max_iter=20)
    gmm.fit(rng.normal(size=(500, 3)) + rng.integers(0, 5, size=(500, 1)) * 4.0)
    seeds = tf.stack([tf.range(4000), tf.fill([4000], 11)], axis=1)
    cdf = np.cumsum(tf.nn.softmax(gmm.params["logits"]).numpy())
    u = rowwise_random.uniform(seeds, 1, stream=1).numpy()[:, 0]
    component = np.minimum(np.searchsorted(cdf, u, side="right"), len(cdf) - 1)
    assert len(set(component)) == 5
    eps = rowwise_random.normal(seeds, 3).numpy()
    expected = (gmm.params["loc"].numpy()[component]
                + np.einsum("bij,bj->bi", gmm.params["scale_tril"].numpy()[component], eps))
    np.testing.assert_allclose(gmm.sample_from_seeds(seeds).numpy(), expected, rtol=1e-5, atol=1e-5)


def test_export_arguments_are_checked(tmp_path):
    model, _ = goldens.build_golden("rae")
    prior = PriorSampler(model.prior)
    path = str(tmp_path / "m.tflite")
    with pytest.raises(ValueError, match=r"default_sampler must be one of the bundled samplers \['prior'\]"):
        tflite.export_tflite(model, {"prior": prior}, "gmm", path)
    with pytest.raises(ValueError, match=r"must match \[a-z\]\[a-z0-9_\]\*\. Received: 'Bad-Name'"):
        tflite.export_tflite(model, {"Bad-Name": prior}, "Bad-Name", path)
    with pytest.raises(ValueError, match="At least one sampler is needed"):
        tflite.export_tflite(model, {}, "prior", path)
    two_dimensional = GaussianMixture(num_components=1, max_iter=5)
    two_dimensional.fit(np.random.default_rng(0).normal(size=(50, 2)))
    with pytest.raises(ValueError, match="draws 2-dimensional latents but the model decodes 3.*Received: latent_dim"):
        tflite.export_tflite(model, {"prior": prior, "gmm": two_dimensional}, "prior", path)
    assert not os.path.exists(path)
    assert tflite.metadata_path("/a/vae.tflite") == "/a/vae.json" and tflite.metadata_path("/a/m") == "/a/m.json"
    assert tflite.signature_names({"prior": 0, "gmm": 0}) == ["sample", "sample_gmm", "sample_prior", "decode"]


# ----------------------------------------------------------------------------------------------------- slow tier
@pytest.mark.slow
def test_an_rae_with_its_gmm_matches_the_savedmodel(tmp_path, monkeypatch):
    """RAE + GMM (the RAE paper's sampler) as the default: every signature equals the SavedModel's endpoint; the
    metadata says what was checked; an unchanged export is kept, a changed one (or a damaged file) converted
    again."""
    model = _randomized(goldens.build_golden("rae")[0])
    gmm = GaussianMixture(num_components=3, max_iter=20)
    gmm.fit(model.encode(tf.constant(np.random.default_rng(1).random((300, 8, 8, 1)), tf.float32)).numpy())
    samplers = {"prior": PriorSampler(model.prior), "gmm": gmm}
    exported = saved_model.export_saved_model(model, samplers, "gmm", str(tmp_path / "serving"), "rae")
    path = tflite.export_tflite(model, samplers, "gmm", str(tmp_path / "rae.tflite"), metadata={"dataset": "unit"})

    differences = _differences(path, exported)
    assert sorted(differences) == ["decode/images", "sample/images", "sample/latents", "sample_gmm/images",
                                   "sample_gmm/latents", "sample_prior/images", "sample_prior/latents"]
    assert max(differences.values()) <= ATOL, differences
    metadata = tflite.read_metadata(path)
    assert metadata["default_sampler"] == "gmm" and metadata["dataset"] == "unit"
    assert metadata["ops"] == "TFLITE_BUILTINS" and metadata["size_bytes"] == os.path.getsize(path)
    assert sorted(metadata["signatures"]) == ["decode", "sample", "sample_gmm", "sample_prior"]
    assert metadata["signatures"]["sample"]["inputs"] == {"seed": {"shape": [-1, 2], "dtype": "int32"}}
    assert metadata["signatures"]["decode"]["outputs"] == {"images": {"shape": [-1, 8, 8, 1], "dtype": "float32"}}
    assert max(metadata["check"]["max_abs_difference"].values()) <= tflite.TOLERANCE

    written = os.stat(path).st_mtime_ns
    assert tflite.export_tflite(model, samplers, "gmm", path, metadata={"dataset": "unit"}) == path
    assert os.stat(path).st_mtime_ns == written  # the same content: not converted again

    def converted(*args):
        raise RuntimeError("converted again")

    monkeypatch.setattr(tflite, "_functions", converted)  # what a conversion traces first
    with pytest.raises(RuntimeError, match="converted again"):  # another default sampler
        tflite.export_tflite(model, samplers, "prior", path, metadata={"dataset": "unit"})
    with open(path, "r+b") as f:  # the JSON's content, but a model file it does not describe
        f.truncate(1000)
    with pytest.raises(RuntimeError, match="converted again"):
        tflite.export_tflite(model, samplers, "gmm", path, metadata={"dataset": "unit"})


@pytest.mark.slow
def test_the_binary_exports_a_trained_decoupled_prior_vae_as_its_savedmodel_samples(trained_run, tmp_path):
    """`python -m export.export_saved_model --format=tflite` on a trained VAE with the decoupled prior and a GMM
    (the run test_evaluate trains too): every signature equals the main job's SavedModel for the same seeds, and
    the decoupled prior's flow is really in the model (its samples are not the base normals)."""
    workdir = tmp_path / "run"
    shutil.copytree(trained_run(**zoo_config("vae", "decoupled", epochs=3, densities=("gmm",)))[0], workdir)
    result = run_python(["-m", "export.export_saved_model", f"--workdir={workdir}", "--format=tflite"])
    path = workdir / "tflite" / "vae.tflite"
    assert result.stdout.strip().splitlines()[-1] == str(path)
    differences = _differences(str(path), str(workdir / "export" / "vae" / "1"))
    assert {"sample_prior/latents", "sample_gmm/latents", "decode/images"} <= set(differences)
    assert max(differences.values()) <= ATOL, differences
    prior_latents = _interpreter(model_path=str(path)).get_signature_runner("sample_prior")(seed=SEEDS)["latents"]
    base = rowwise_random.normal(tf.constant(SEEDS), prior_latents.shape[1]).numpy()
    assert np.max(np.abs(prior_latents - base)) > 0.05
    assert tflite.read_metadata(str(path))["training_config"]["prior"] == "decoupled"

    refused = run_python(["-m", "export.export_saved_model", f"--workdir={workdir}", "--format=tflite",
                          f"--export_base={tmp_path}"], check=False)
    assert refused.returncode != 0 and "--format=tflite writes --tflite_path instead" in refused.stdout


@pytest.mark.slow
def test_every_sampler_kind_converts_with_a_conv_decoder(tmp_path):
    """prior, gaussian, gmm, flow and two_stage on the conv network (whose last layer is the shift-add in
    TensorFlow): each signature gives what the live sampler and decoder give, which the SavedModel serves
    (tests/export/test_saved_model.py)."""
    model = _randomized(goldens.build_golden("rae_conv")[0])
    latents = np.random.default_rng(2).normal(size=(300, model.latent_dim)) * 2.0 + 1.0
    samplers = {"prior": PriorSampler(model.prior)}
    for name in ("gaussian", "gmm", "flow", "two_stage"):
        samplers[name] = goldens.build_density_golden(name)
        samplers[name].fit(latents)
    path = tflite.export_tflite(model, samplers, "flow", str(tmp_path / "conv.tflite"))
    runners = _interpreter(model_path=path)
    assert sorted(runners.get_signature_list()) == sorted(tflite.signature_names(samplers))
    seeds = tf.constant(SEEDS)
    for name, sampler in samplers.items():
        got = runners.get_signature_runner(f"sample_{name}")(seed=SEEDS)
        want = sampler.sample_from_seeds(seeds)
        np.testing.assert_allclose(got["latents"], want, atol=ATOL, rtol=ATOL, err_msg=name)
        np.testing.assert_allclose(got["images"], model.decode(want), atol=ATOL, err_msg=name)
    assert tflite.read_metadata(path)["signatures"]["decode"]["outputs"]["images"]["shape"] == [-1, 28, 28, 1]


class _SearchsortedMixture(GaussianMixture):
    """A sampler with an op TFLite has no builtin kernel for (the GMM's former searchsorted)."""

    def sample_from_seeds(self, seeds):
        cdf = tf.cumsum(tf.nn.softmax(self.params["logits"]))
        u = rowwise_random.uniform(seeds, 1, stream=1)[:, 0]
        component = tf.minimum(tf.searchsorted(cdf, u, side="right"), tf.shape(cdf)[0] - 1)
        return tf.gather(self.params["loc"], component) + rowwise_random.normal(seeds, self.latent_dim)


@pytest.mark.slow
def test_a_sampler_without_builtin_kernels_is_refused_with_its_ops(tmp_path):
    model, _ = goldens.build_golden("rae")
    sampler = _SearchsortedMixture(num_components=2, max_iter=5)
    sampler.fit(np.random.default_rng(3).normal(size=(50, 3)))
    path = tmp_path / "m.tflite"
    with pytest.raises(ValueError, match=r"do not convert to TensorFlow Lite's builtin ops: searchsorted: no TFLite "
                                         r"builtin kernel for UpperBound.*Received: samplers=\['prior', "
                                         r"'searchsorted'\]"):
        tflite.export_tflite(model, {"prior": PriorSampler(model.prior), "searchsorted": sampler}, "prior",
                             str(path))
    assert not path.exists() and not os.path.exists(tflite.metadata_path(str(path)))


@pytest.mark.slow
def test_plain_draws_need_the_64_bit_products_tflite_lacks():
    """Why the export traces in 32-bit ops: the plain rounds have no TFLite builtin kernels."""
    with pytest.raises(Exception, match=r"TF Select ops: .*BitwiseAnd"):
        _draw_converter(False).convert()
