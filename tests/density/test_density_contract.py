"""The contract every registered density estimator keeps, checked on its golden (tests/goldens.py)."""
import json

import numpy as np
import pytest
import tensorflow as tf

from tests import goldens
from tfvae import registry
from tfvae.density import DensityEstimator, FitData

LATENT_DIM = 3
FITTED = sorted(name for name in goldens.DENSITY_GOLDENS if registry.get("density", name).fitted_to_latents)
# Densities whose files written before config.json kept latent_dim at the top level held it in their arguments.
_LEGACY_LATENT_DIM_ARGUMENT = ("flow", "two_stage")


def _latents(rng, count):
    centers = np.array([[-2.0, 0.0, 1.0], [2.0, 1.0, -1.0]])
    return centers[rng.integers(0, 2, count)] + rng.normal(size=(count, LATENT_DIM)) * np.array([0.5, 1.0, 0.3])


@pytest.fixture(scope="module")
def fitted():
    """name -> (golden estimator, its fit report, training latents, validation latents); each fitted once."""
    cache = {}

    def get(name):
        if name not in cache:
            rng = np.random.default_rng(0)
            train, validation = _latents(rng, 160), _latents(rng, 40)
            estimator = goldens.build_density_golden(name)
            report = estimator.fit(train, validation) if estimator.fitted_to_latents else None
            cache[name] = (estimator, report, train, validation)
        return cache[name]

    return get


def test_every_registered_density_has_a_golden():
    registered = set(registry.names("density"))
    assert registered - set(goldens.DENSITY_GOLDENS) == set(), "add a golden to tests/goldens.py DENSITY_GOLDENS"
    assert set(goldens.DENSITY_GOLDENS) - registered == set(), "a golden names no registered density"


@pytest.mark.parametrize("name", FITTED)
def test_fit_reports_and_keeps_no_training_data(name, fitted):
    estimator, report, train, validation = fitted(name)
    assert estimator.is_fitted and estimator.latent_dim == LATENT_DIM
    assert report["latents"] == "posterior means"
    assert report["num_train"] == len(train) and report["num_validation"] == len(validation)
    assert np.isfinite(report["train_log_likelihood"]) and np.isfinite(report["validation_log_likelihood"])
    assert estimator.fit_info == report
    # Nothing of the fit's inputs is parked on the estimator.
    for attribute, value in vars(estimator).items():
        assert not isinstance(value, FitData), attribute
        assert not (isinstance(value, np.ndarray) and len(value) in (len(train), len(validation))), attribute


@pytest.mark.parametrize("name", sorted(goldens.DENSITY_GOLDENS))
def test_log_prob_and_sample_shapes(name, fitted):
    estimator, _, _, validation = fitted(name)
    assert estimator.latent_dim == LATENT_DIM
    log_prob = estimator.log_prob(validation[:7].astype(np.float32)).numpy()
    assert log_prob.shape == (7,) and np.isfinite(log_prob).all()
    samples = estimator.sample(5, seed=[1, 2]).numpy()
    assert samples.shape == (5, LATENT_DIM) and np.isfinite(samples).all()
    np.testing.assert_array_equal(estimator.sample(5, seed=[1, 2]), samples)
    assert not np.allclose(estimator.sample(5, seed=[1, 3]), samples)


@pytest.mark.parametrize("name", sorted(goldens.DENSITY_GOLDENS))
def test_sample_from_seeds_row_depends_on_its_seed_only(name, fitted):
    estimator = fitted(name)[0]
    together = estimator.sample_from_seeds(tf.constant([[1, 2], [3, 4], [5, 6], [1, 2]], tf.int32)).numpy()
    alone = estimator.sample_from_seeds(tf.constant([[3, 4]], tf.int32)).numpy()
    assert together.shape == (4, LATENT_DIM) and np.isfinite(together).all()
    np.testing.assert_allclose(together[1], alone[0], rtol=1e-5, atol=1e-6)  # last-bit rounding may differ
    np.testing.assert_allclose(together[0], together[3], rtol=1e-5, atol=1e-6)
    assert not np.allclose(together[0], together[1])


@pytest.mark.parametrize("name", FITTED)
def test_save_load_gives_identical_samples(name, fitted, tmp_path):
    estimator, _, _, validation = fitted(name)
    estimator.save(str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "params.npz"]  # never pickled
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["name"] == name and config["latent_dim"] == LATENT_DIM
    seeds = tf.constant([[1, 2], [3, 4]], tf.int32)
    # Files written before latent_dim moved to the top level of config.json still load.
    legacy = {"name": name, "config": dict(config["config"]), "fit_info": config["fit_info"]}
    if name in _LEGACY_LATENT_DIM_ARGUMENT:
        legacy["config"]["latent_dim"] = LATENT_DIM
    legacy_dir = tmp_path / "legacy"
    legacy_dir.mkdir()
    (legacy_dir / "params.npz").write_bytes((tmp_path / "params.npz").read_bytes())
    (legacy_dir / "config.json").write_text(json.dumps(legacy))
    for directory in (tmp_path, legacy_dir):
        loaded = DensityEstimator.load(str(directory))
        assert type(loaded) is type(estimator) and loaded.latent_dim == LATENT_DIM
        assert loaded.fit_info == estimator.fit_info and loaded.get_config() == estimator.get_config()
        np.testing.assert_array_equal(loaded.sample(7, seed=[4, 5]), estimator.sample(7, seed=[4, 5]))
        np.testing.assert_array_equal(loaded.sample_from_seeds(seeds), estimator.sample_from_seeds(seeds))
        np.testing.assert_allclose(loaded.log_prob(validation[:5]), estimator.log_prob(validation[:5]), rtol=1e-5)
