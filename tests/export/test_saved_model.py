"""The SavedModel contract (export/saved_model.py) on a small trained model: endpoints, validation, atomic versions."""
import os

import numpy as np
import pytest
import tensorflow as tf

from export import saved_model
from tests import goldens
from tfvae.density import GaussianMixture, PriorSampler


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
    from export import warmup

    _, _, _, path, loaded = exported
    requests = warmup.read_warmup_requests(path)
    assert sorted(name for name, _ in requests) == sorted(
        ["sample", "sample_gmm", "sample_prior", "decode", "encode", "reconstruct"])
    for signature, inputs in requests:
        outputs = loaded.signatures[signature](**{k: tf.constant(v) for k, v in inputs.items()})
        assert all(np.isfinite(v.numpy()).all() for v in outputs.values())


@pytest.mark.parametrize("endpoint, inputs, message", [
    ("sample", {"seed": tf.zeros((17, 2), tf.int32)}, "at most 16 rows"),
    ("decode", {"latents": tf.fill((2, 3), np.nan)}, "latents must be finite"),
    ("encode", {"images": tf.fill((2, 8, 8, 1), 2.0)}, r"images must lie in \[0, 1\]"),
    ("reconstruct", {"images": tf.fill((2, 8, 8, 1), -0.5)}, r"images must lie in \[0, 1\]"),
])
def test_bad_requests_fail_with_invalid_argument(exported, endpoint, inputs, message):
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        exported[-1].signatures[endpoint](**inputs)


def test_wrong_shapes_are_rejected_by_the_signature(exported):
    loaded = exported[-1]
    with pytest.raises((TypeError, ValueError, tf.errors.InvalidArgumentError)):
        loaded.signatures["decode"](latents=tf.zeros((2, 5)))
    with pytest.raises((TypeError, ValueError, tf.errors.InvalidArgumentError)):
        loaded.signatures["sample"](seed=tf.zeros((2, 2), tf.float32))


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
        saved_model.export_saved_model(model, samplers, "prior", str(base), "vae")
    assert sorted(os.listdir(base / "vae")) == ["1", "2"]
    assert saved_model.existing_versions(str(base / "vae")) == [1, 2]


def test_export_argument_errors(exported, tmp_path):
    model = exported[0]
    with pytest.raises(ValueError, match="default_sampler must be one of"):
        saved_model.export_saved_model(model, {"prior": PriorSampler(model.prior)}, "gmm", str(tmp_path), "m")
    with pytest.raises(ValueError, match="must match"):
        saved_model.export_saved_model(model, {"Bad-Name": PriorSampler(model.prior)}, "Bad-Name", str(tmp_path), "m")


@pytest.mark.parametrize("key", goldens.tiered(goldens.MODEL_GOLDENS))
def test_every_golden_exports_the_savedmodel_contract(key, tmp_path):
    """Every endpoint with named inputs and dict outputs, `sample` a function of its seeds (and equal to the live
    model), shapes of decode / encode / reconstruct; models without an encoder (GANs) export no encode/reconstruct."""
    model, shape = goldens.build_golden(key)
    sampler = PriorSampler(model.prior)
    path = saved_model.export_saved_model(model, {"prior": sampler}, "prior", str(tmp_path), "m", max_batch_size=8)
    loaded = tf.saved_model.load(path)
    has_encoder = getattr(model, "encoder", None) is not None
    inputs = {"sample": ["seed"], "serving_default": ["seed"], "sample_prior": ["seed"], "decode": ["latents"],
              **({"encode": ["images"], "reconstruct": ["images"]} if has_encoder else {})}
    outputs = {"sample": ["images", "latents"], "serving_default": ["images", "latents"],
               "sample_prior": ["images", "latents"], "decode": ["images"],
               **({"encode": ["latents"], "reconstruct": ["images", "latents"]} if has_encoder else {})}
    assert sorted(loaded.signatures) == sorted(inputs)
    for name, signature in loaded.signatures.items():
        args, kwargs = signature.structured_input_signature
        assert args == () and sorted(kwargs) == inputs[name], name
        assert isinstance(signature.structured_outputs, dict) and sorted(signature.structured_outputs) == outputs[name]
    assert saved_model.read_metadata(path)["endpoints"] == [
        n for n in ("sample", "sample_prior", "decode", "encode", "reconstruct") if n in inputs]

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
