"""The SavedModel contract (tfvae/export/saved_model.py) on a small trained model: endpoints, validation, atomic versions."""
import os

import numpy as np
import pytest
import tensorflow as tf

from tfvae.export import saved_model
from tests import goldens
from tfvae.density import GaussianMixture, PriorSampler
from tfvae.models import VAE, Autoencoder


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    model, shape = goldens.build_golden("vae")
    latents = np.random.default_rng(0).normal(size=(200, 3))
    gmm = GaussianMixture(num_components=2)
    gmm.fit(latents)
    base = tmp_path_factory.mktemp("export")
    path = saved_model.export_saved_model(model, {"prior": PriorSampler(model.prior), "gmm": gmm}, "gmm", str(base),
                                          "vae", metadata={"dataset": "unit"}, max_batch_size=16)
    return model, gmm, base, path, tf.saved_model.load(path)


def test_endpoints_match_the_live_model(exported):
    model, gmm, _, path, loaded = exported
    assert path.endswith(os.path.join("vae", "1"))
    seeds = tf.constant([[1, 2], [3, 4]], tf.int32)
    out = loaded.signatures["sample"](seed=seeds)
    np.testing.assert_allclose(out["latents"], gmm.sample_from_seeds(seeds), atol=1e-6)
    np.testing.assert_allclose(out["images"], model.decode(out["latents"]), atol=1e-6)
    prior = loaded.signatures["sample_prior"](seed=seeds)["latents"]
    np.testing.assert_allclose(prior, model.prior.sample_from_seeds(seeds), atol=1e-6)
    x = tf.constant(np.random.default_rng(1).random((3, 8, 8, 1)).astype(np.float32))
    np.testing.assert_allclose(loaded.signatures["encode"](images=x)["latents"], model.encode(x), atol=1e-6)
    np.testing.assert_allclose(loaded.signatures["reconstruct"](images=x)["images"], model.reconstruct(x), atol=1e-6)
    metadata = saved_model.read_metadata(path)
    assert metadata["dataset"] == "unit" and metadata["default_sampler"] == "gmm"
    assert metadata["latent_dim"] == 3 and metadata["example_shape"] == [8, 8, 1]


def test_warmup_requests_replay_cleanly(exported):
    from tfvae.export import warmup

    _, _, _, path, loaded = exported
    requests = warmup.read_warmup_requests(path)
    assert sorted(name for name, _ in requests) == sorted(
        ["sample", "sample_gmm", "sample_prior", "decode", "encode", "reconstruct", "interpolate", "traverse",
         "interpolate_images", "traverse_images", "score", "score_likelihood"])
    for signature, inputs in requests:
        outputs = loaded.signatures[signature](**{k: tf.constant(v) for k, v in inputs.items()})
        assert all(np.isfinite(v.numpy()).all() for v in outputs.values())


@pytest.mark.parametrize("endpoint, inputs, message", [
    ("sample", {"seed": tf.zeros((17, 2), tf.int32)}, "at most 16 rows"),
    ("decode", {"latents": tf.fill((2, 3), np.nan)}, "latents must be finite"),
    ("encode", {"images": tf.fill((2, 8, 8, 1), 2.0)}, r"images must lie in \[0, 1\]"),
    ("reconstruct", {"images": tf.fill((2, 8, 8, 1), -0.5)}, r"images must lie in \[0, 1\]"),
    ("interpolate", {"seed_a": tf.zeros((2, 2), tf.int32), "seed_b": tf.zeros((3, 2), tf.int32),
                     "t": tf.zeros(2)}, "seed_b must have one row per row of the first input"),
    ("interpolate", {"seed_a": tf.zeros((2, 2), tf.int32), "seed_b": tf.zeros((2, 2), tf.int32),
                     "t": tf.constant([0.0, np.nan])}, "t must be finite"),
    ("interpolate_images", {"images_a": tf.zeros((2, 8, 8, 1)), "images_b": tf.fill((2, 8, 8, 1), 3.0),
                            "t": tf.zeros(2)}, r"images must lie in \[0, 1\]"),
    ("traverse", {"seed": tf.zeros((2, 2), tf.int32), "dimension": tf.constant([0, 3]), "offset": tf.zeros(2)},
     r"dimension must lie in \[0, 3\)"),
    ("traverse_images", {"images": tf.zeros((2, 8, 8, 1)), "dimension": tf.constant([-1, 0]),
                         "offset": tf.zeros(2)}, r"dimension must lie in \[0, 3\)"),
    ("traverse", {"seed": tf.zeros((17, 2), tf.int32), "dimension": tf.zeros(17, tf.int32), "offset": tf.zeros(17)},
     "at most 16 rows"),
    ("score", {"images": tf.fill((2, 8, 8, 1), np.nan)}, "images must be finite"),
    ("score_likelihood", {"images": tf.zeros((2, 8, 8, 1)), "seed": tf.zeros((2, 2), tf.int32),
                          "num_importance": tf.constant([1, 0])}, "num_importance must be at least 1"),
    ("score_likelihood", {"images": tf.zeros((2, 8, 8, 1)), "seed": tf.zeros((2, 2), tf.int32),
                          "num_importance": tf.constant([1, 5000])}, "num_importance must be at most 4096"),
])
def test_bad_requests_fail_with_invalid_argument(exported, endpoint, inputs, message):
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        exported[-1].signatures[endpoint](**inputs)


def test_score_endpoints_match_the_live_model_and_answer_row_by_row(exported):
    """score: the GMM's and the prior's log-density of the code and the reconstruction error per row;
    score_likelihood: ELBO <= IWAE, and a row's answer does not depend on the rows beside it."""
    model, gmm, _, _, loaded = exported
    x = tf.constant(np.random.default_rng(2).random((3, 8, 8, 1)).astype(np.float32))
    scores = loaded.signatures["score"](images=x)
    assert sorted(scores) == ["log_density_gmm", "log_density_prior", "reconstruction_error"]
    np.testing.assert_allclose(scores["log_density_gmm"], gmm.log_prob(model.encode(x)), rtol=1e-4, atol=1e-4)
    seeds = tf.constant([[9, row] for row in range(3)], tf.int32)
    bounds = loaded.signatures["score_likelihood"](images=x, seed=seeds, num_importance=tf.constant([1, 50, 200]))
    assert float(bounds["elbo"][0]) == pytest.approx(float(bounds["iwae"][0]), rel=1e-5)  # one sample: one weight
    assert np.all(bounds["iwae"].numpy()[1:] >= bounds["elbo"].numpy()[1:])
    alone = loaded.signatures["score_likelihood"](images=x[2:], seed=seeds[2:], num_importance=tf.constant([200]))
    np.testing.assert_allclose(alone["iwae"], bounds["iwae"][2:], rtol=1e-5)


def test_wrong_dtypes_latent_widths_and_image_shapes_are_rejected(exported):
    """A wrong dtype is refused by the signature itself. A wrong latent width or image shape is not (neither a loaded
    signature nor TF Serving checks static shapes): `decode` checks the width and names it, the image endpoints the
    image shape; both through tf.saved_model.load and in a TF1 session fed from C++ as TF Serving feeds it (no
    Python-side shape check)."""
    _, _, _, path, loaded = exported
    for latents in (tf.zeros((2, 5)), tf.zeros((2, 2)), tf.zeros((2, 3, 1))):
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match=r"latents must have shape \[B, 3\]: 3 columns, the latent_dim of the model. Received: "
                                 rf"shape\] \[{' '.join(map(str, latents.shape))}\]"):
            loaded.signatures["decode"](latents=latents)
    with pytest.raises(tf.errors.InvalidArgumentError, match="expected to be a int32 tensor but is a float tensor"):
        loaded.signatures["sample"](seed=tf.zeros((2, 2), tf.float32))
    image_error = r"images must have shape \[B, 8, 8, 1\], the example shape of the model. Received: shape\] "
    for images in (tf.zeros((2, 8, 8)),):  # (Python's binding refuses the other shapes below itself; TF Serving not)
        for name in ("encode", "reconstruct", "score"):
            with pytest.raises(tf.errors.InvalidArgumentError,
                               match=image_error + rf"\[{' '.join(map(str, images.shape))}\]"):
                loaded.signatures[name](images=images)

    from tensorflow.core.protobuf import config_pb2

    with tf.Graph().as_default() as graph, tf.compat.v1.Session(graph=graph) as session:
        signature = tf.compat.v1.saved_model.load(session, ["serve"], path).signature_def["decode"]
        decode = session._make_callable_from_options(config_pb2.CallableOptions(
            feed=[signature.inputs["latents"].name], fetch=[signature.outputs["images"].name]))
        assert decode(np.zeros((2, 3), np.float32))[0].shape == (2, 8, 8, 1)
        with pytest.raises(tf.errors.InvalidArgumentError, match=r"latents must have shape \[B, 3\]"):
            decode(np.zeros((2, 5), np.float32))
        signature = tf.compat.v1.saved_model.load(session, ["serve"], path).signature_def["encode"]
        encode = session._make_callable_from_options(config_pb2.CallableOptions(
            feed=[signature.inputs["images"].name], fetch=[signature.outputs["latents"].name]))
        for shape in ((2, 9, 8, 1), (2, 8, 8)):  # (a rank above 4 may fail first in a range check's reduction)
            with pytest.raises(tf.errors.InvalidArgumentError, match=image_error + rf"\[{' '.join(map(str, shape))}\]"):
                encode(np.zeros(shape, np.float32))


def test_versions_are_immutable_and_failed_exports_leave_nothing(exported, monkeypatch):
    model, gmm, base, _, _ = exported
    samplers = {"prior": PriorSampler(model.prior)}
    second = saved_model.export_saved_model(model, samplers, "prior", str(base), "vae")
    assert second.endswith(os.path.join("vae", "2"))
    with pytest.raises(FileExistsError, match="already exists"):
        saved_model.export_saved_model(model, samplers, "prior", str(base), "vae", version=1)

    def crash(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(saved_model.json, "dump", crash)
    with pytest.raises(RuntimeError, match="disk full"):
        saved_model.export_saved_model(model, samplers, "prior", str(base), "vae", reuse_unchanged=False)
    assert sorted(os.listdir(base / "vae")) == ["1", "2"]
    assert saved_model.existing_versions(str(base / "vae")) == [1, 2]


def test_an_unchanged_export_is_not_a_new_version(exported, monkeypatch):
    """TF Serving rolls out every new version: the same weights and samplers keep the latest version; a changed
    weight, sampler or default sampler makes a new one."""
    model, gmm, base, _, _ = exported
    samplers = {"prior": PriorSampler(model.prior), "gmm": gmm}
    first = saved_model.export_saved_model(model, samplers, "gmm", str(base), "vae")
    assert saved_model.export_saved_model(model, samplers, "gmm", str(base), "vae") == first
    assert saved_model.existing_versions(str(base / "vae"))[-1] == int(os.path.basename(first))
    changed = saved_model.export_saved_model(model, samplers, "prior", str(base), "vae")
    assert int(os.path.basename(changed)) == int(os.path.basename(first)) + 1
    weight = model.decoder.weights[0]
    original = weight.numpy()
    try:
        weight.assign(original + 1e-6)
        moved = saved_model.export_saved_model(model, samplers, "prior", str(base), "vae")
    finally:
        weight.assign(original)
    assert int(os.path.basename(moved)) == int(os.path.basename(changed)) + 1


def test_export_argument_errors(exported, tmp_path):
    model = exported[0]
    with pytest.raises(ValueError, match="default_sampler must be one of"):
        saved_model.export_saved_model(model, {"prior": PriorSampler(model.prior)}, "gmm", str(tmp_path), "m")
    with pytest.raises(ValueError, match="must match"):
        saved_model.export_saved_model(model, {"Bad-Name": PriorSampler(model.prior)}, "Bad-Name", str(tmp_path), "m")


# The goldens whose export runs code of its own (`goldens.own_code_goldens`); the others differ from these in their
# training loss only.
EXPORTED = goldens.tiered(goldens.own_code_goldens())


@pytest.mark.parametrize("key", EXPORTED)
def test_each_component_exports_the_savedmodel_contract(key, tmp_path):
    """Every endpoint with named inputs and dict outputs, `sample` a function of its seeds (and equal to the live
    model), shapes of decode / encode / reconstruct; models without an encoder (GANs) export no encode/reconstruct."""
    model, shape = goldens.build_golden(key)
    sampler = PriorSampler(model.prior)
    path = saved_model.export_saved_model(model, {"prior": sampler}, "prior", str(tmp_path), "m", max_batch_size=8)
    loaded = tf.saved_model.load(path)
    has_encoder = isinstance(model, Autoencoder)
    path_outputs = ["images", "latents"]
    inputs = {"sample": ["seed"], "serving_default": ["seed"], "sample_prior": ["seed"], "decode": ["latents"],
              "interpolate": ["seed_a", "seed_b", "t"], "traverse": ["dimension", "offset", "seed"],
              **({"encode": ["images"], "reconstruct": ["images"], "interpolate_images": ["images_a", "images_b", "t"],
                  "traverse_images": ["dimension", "images", "offset"], "score": ["images"]} if has_encoder else {}),
              **({"score_likelihood": ["images", "num_importance", "seed"]} if isinstance(model, VAE) else {})}
    outputs = {"sample": path_outputs, "serving_default": path_outputs, "sample_prior": path_outputs,
               "decode": ["images"], "interpolate": path_outputs, "traverse": path_outputs,
               "encode": ["latents"], "reconstruct": path_outputs, "interpolate_images": path_outputs,
               "traverse_images": path_outputs, "score": ["log_density_prior", "reconstruction_error"],
               "score_likelihood": ["elbo", "iwae"]}
    assert sorted(loaded.signatures) == sorted(inputs)
    for name, signature in loaded.signatures.items():
        args, kwargs = signature.structured_input_signature
        assert args == () and sorted(kwargs) == inputs[name], name
        assert isinstance(signature.structured_outputs, dict) and sorted(signature.structured_outputs) == outputs[name]
    assert saved_model.read_metadata(path)["endpoints"] == [
        n for n in ("sample", "sample_prior", "decode", "interpolate", "traverse", "encode", "reconstruct",
                    "interpolate_images", "traverse_images", "score", "score_likelihood") if n in inputs]

    seeds = tf.constant([[5, row] for row in range(4)], tf.int32)
    first, again = loaded.signatures["sample"](seed=seeds), loaded.signatures["sample"](seed=seeds)
    for name in ("images", "latents"):
        np.testing.assert_array_equal(first[name], again[name])
        np.testing.assert_array_equal(first[name], loaded.signatures["serving_default"](seed=seeds)[name])
    assert first["images"].shape == (4, *shape) and first["latents"].shape == (4, model.latent_dim)
    assert not np.array_equal(first["latents"][0], first["latents"][1])  # rows have their own seeds
    np.testing.assert_allclose(first["latents"], sampler.sample_from_seeds(seeds), atol=1e-5)
    np.testing.assert_allclose(first["images"], model.decode(first["latents"]), atol=1e-5)
    decoded = loaded.signatures["decode"](latents=first["latents"])["images"]
    np.testing.assert_allclose(decoded, first["images"], atol=1e-6)
    if has_encoder:
        x = tf.constant(np.random.default_rng(0).random((3, *shape)).astype(np.float32))
        encoded = loaded.signatures["encode"](images=x)["latents"]
        assert encoded.shape == (3, model.latent_dim)
        np.testing.assert_allclose(encoded, model.encode(x), atol=1e-5)
        reconstructed = loaded.signatures["reconstruct"](images=x)
        assert reconstructed["images"].shape == (3, *shape) and reconstructed["latents"].shape == (3, model.latent_dim)
        np.testing.assert_allclose(reconstructed["images"], model.reconstruct(x), atol=1e-5)
    _check_paths(loaded, model, sampler, seeds, has_encoder)


def _check_paths(loaded, model, sampler, seeds, has_encoder):
    """interpolate starts and ends at the two seeds' prior samples; traverse moves one coordinate only; the
    image forms do the same between and around the images' codes."""
    t = tf.constant([0.0, 1.0, 0.5, 0.5])
    path = loaded.signatures["interpolate"](seed_a=seeds, seed_b=seeds + 1, t=t)
    prior_a, prior_b = sampler.sample_from_seeds(seeds), sampler.sample_from_seeds(seeds + 1)
    np.testing.assert_allclose(path["latents"][0], prior_a[0], atol=1e-4)
    np.testing.assert_allclose(path["latents"][1], prior_b[1], atol=1e-4)
    np.testing.assert_allclose(path["images"], model.decode(path["latents"]), atol=1e-5)
    dimension, offset = tf.constant([0, 1, 0, 1]), tf.constant([0.0, 2.0, -1.0, 0.5])
    moved = loaded.signatures["traverse"](seed=seeds, dimension=dimension, offset=offset)["latents"]
    np.testing.assert_allclose(moved - prior_a, tf.one_hot(dimension, model.latent_dim) * offset[:, None], atol=1e-4)
    if not has_encoder:
        return
    x = tf.constant(np.random.default_rng(1).random((4, *model.example_shape)).astype(np.float32))
    codes = model.encode(x)
    between = loaded.signatures["interpolate_images"](images_a=x, images_b=x[::-1], t=t)["latents"]
    np.testing.assert_allclose(between[0], codes[0], atol=1e-4)
    np.testing.assert_allclose(between[1], codes[::-1][1], atol=1e-4)
    np.testing.assert_allclose(between, model.interpolate_codes(codes, codes[::-1], t), atol=1e-5)
    around = loaded.signatures["traverse_images"](images=x, dimension=dimension, offset=offset)["latents"]
    np.testing.assert_allclose(around - codes, tf.one_hot(dimension, model.latent_dim) * offset[:, None], atol=1e-4)
    scores = loaded.signatures["score"](images=x)
    np.testing.assert_allclose(scores["log_density_prior"], model.prior.log_prob(codes), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(scores["reconstruction_error"],
                               tf.reduce_sum(tf.reshape(tf.square(x - model.reconstruct(x)), [4, -1]), 1), rtol=1e-4)
