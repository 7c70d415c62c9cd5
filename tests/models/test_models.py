"""Contracts every model satisfies, checked once over the goldens registry."""
import inspect

import numpy as np
import pytest
import tensorflow as tf

from tests import goldens
from tests.conftest import assert_same_values
from tfvae import models, registry
from tfvae.models import Autoencoder, DiscriminatorTraining


def test_every_registered_model_has_a_golden():
    missing = set(registry.names("model")) - goldens.golden_model_names()
    assert not missing, f"Registered models without a golden in tests/goldens.py: {sorted(missing)}"
    decoupled = {kwargs.get("model", key) for key, (_, kwargs) in goldens.MODEL_GOLDENS.items()
                 if kwargs.get("prior") == "decoupled"}
    learned = {name for name in registry.names("model") if registry.get("model", name).supports_learned_prior}
    assert learned and decoupled == learned, f"Models with a decoupled-prior golden {sorted(decoupled)} are not " \
                                             f"the models whose loss involves the prior {sorted(learned)}"


def test_each_own_code_variant_is_a_golden_that_adds_to_the_first_ones():
    """`goldens.OWN_CODE_VARIANTS` names goldens (a typo would drop a variant from the export and saving tests),
    none of them already the first golden of its model, prior or network."""
    assert set(goldens.OWN_CODE_VARIANTS) <= set(goldens.MODEL_GOLDENS)
    assert not set(goldens.OWN_CODE_VARIANTS) & set(goldens.first_goldens(networks=True))


# In the fast tier, every model's and prior's own code (config, loss, layers, saving) runs on its first golden, and
# compiling (XLA) and distributing on one golden per base class; the full suite runs every golden for the step and
# config, the goldens with code of their own for saving (`goldens.own_code_goldens`), and the first golden of every
# model, prior and network (`goldens.first_goldens`) for XLA and MirroredStrategy, whose failures come from a model's,
# a prior's or a network's own ops (goldens.tiered).
EACH_MODEL = goldens.tiered(goldens.MODEL_GOLDENS, goldens.first_goldens())
EACH_COMPONENT = goldens.tiered(goldens.first_goldens(networks=True))
OWN_CODE = goldens.tiered(goldens.own_code_goldens(), goldens.first_goldens())


def _data(shape, count=8, seed=0):
    return tf.constant(np.random.default_rng(seed).random((count, *shape)).astype(np.float32))


@pytest.mark.parametrize("key", EACH_MODEL)
def test_train_step_is_finite_and_changes_weights(key):
    model, shape = goldens.build_golden(key)
    model.compile(optimizer="adam")
    before = [w.numpy().copy() for w in model.trainable_weights]
    assert before, f"{key} has no trainable weights"
    # Two steps: flows start as the identity (zero-initialized output layers), so their hidden layers receive a
    # gradient only once the output layer has moved.
    model.train_step(_data(shape))
    logs = model.train_step(_data(shape, seed=1))
    assert set(logs) == {*type(model).base_terms, *type(model).loss_terms}
    assert all(np.isfinite(float(v)) for v in logs.values()), logs
    changed = [not np.array_equal(b, w.numpy()) for b, w in zip(before, model.trainable_weights)]
    unchanged = [w.path for w, c in zip(model.trainable_weights, changed) if not c]
    assert all(changed), f"{key}: weights not updated: {unchanged}"


@pytest.mark.parametrize("key", EACH_MODEL)
def test_config_round_trip(key):
    model, shape = goldens.build_golden(key)
    config = model.get_config()
    parameters = registry.constructor_arguments(type(model))  # every tfvae __init__ along the MRO
    assert {"input_shape", "latent_dim", "prior"} <= parameters  # the walk reached the base class
    assert not parameters - set(config), f"get_config() of {type(model).__name__} misses constructor " \
                                         f"parameters {sorted(parameters - set(config))}"
    clone = type(model).from_config(config)
    assert clone.get_config() == config


@pytest.mark.parametrize("key", OWN_CODE)
def test_save_and_load_give_same_outputs(key, tmp_path):
    model, shape = goldens.build_golden(key)
    model.compile(optimizer="adam")
    model.train_step(_data(shape))  # Moves weights (and batch-norm statistics) away from initialization.
    path = str(tmp_path / f"{key}.keras")
    model.save(path)
    import keras

    loaded = keras.saving.load_model(path)
    z = tf.random.stateless_normal([4, model.latent_dim], seed=[1, 2])
    np.testing.assert_allclose(loaded.decode(z), model.decode(z), atol=1e-6)
    np.testing.assert_allclose(loaded.prior.log_prob(z), model.prior.log_prob(z), atol=1e-5)
    if isinstance(model, Autoencoder):
        x = _data(shape, seed=1)
        np.testing.assert_allclose(loaded.reconstruct(x), model.reconstruct(x), atol=1e-6)
        np.testing.assert_allclose(loaded.encode(x), model.encode(x), atol=1e-6)
    # So does the optimizer, with its state (Keras skips compiling models with a custom `compile`: ours say how).
    assert type(loaded.optimizer) is type(model.optimizer)
    assert int(loaded.optimizer.iterations) == int(model.optimizer.iterations) > 0
    assert len(model.auxiliary_layers()) == len(getattr(type(model), "discriminator_names", ()))
    for layer in model.auxiliary_layers():  # Discriminators travel with the model, built, with every weight.
        twin = getattr(loaded, next(name for name in dir(model) if getattr(model, name, None) is layer))
        assert_same_values(twin.weights, layer.weights, what=layer.name)
    if isinstance(model, DiscriminatorTraining):  # So do the discriminators' optimizers (compile config).
        assert set(loaded.discriminator_optimizers) == set(model.discriminator_names)
        for name, optimizer in model.discriminator_optimizers.items():
            twin = loaded.discriminator_optimizers[name]
            assert twin.get_config() == optimizer.get_config()
            assert int(twin.iterations) == int(optimizer.iterations) > 0  # the state came along too
    np.testing.assert_allclose([w.numpy() for w in loaded.likelihood.weights],
                               [w.numpy() for w in model.likelihood.weights])


@pytest.mark.parametrize("key", EACH_COMPONENT)
def test_step_compiles_with_xla(key):
    model, shape = goldens.build_golden(key)
    model.compile(optimizer="adam")
    model.optimizer.build(model.trainable_variables)
    logs = tf.function(model.replica_step, jit_compile=True)(_data(shape))
    assert np.isfinite(float(logs["loss"]))


def test_public_api_shapes_and_ranges():
    model, shape = goldens.build_golden("vae")
    x = _data(shape)
    z = model.encode(x)
    assert z.shape == (8, 3)
    images = model.decode(z)
    assert images.shape == (8, *shape) and 0 <= float(tf.reduce_min(images)) <= float(tf.reduce_max(images)) <= 1
    np.testing.assert_allclose(model.reconstruct(x), model.decode(model.encode(x)))


def test_vae_loss_is_negative_elbo():
    """The evaluation loss (training=False, the validation noise stream) is the one-sample negative ELBO,
    -log p(x | z) + KL[q(z|x) || p(z)] with z = mu + sigma eps, recomputed here with TFP's Bernoulli and Gaussians
    from the encoder's and decoder's outputs (the training loss has its NumPy oracle in test_objective_oracles)."""
    import tensorflow_probability as tfp

    from tfvae import rowwise_random
    from tfvae.models import noise_salts

    tfd = tfp.distributions
    model, shape = goldens.build_golden("vae")
    x = _data(shape)
    terms = model.per_example_losses(x, training=False)
    mean, log_var = np.split(model.encoder(x).numpy(), 2, axis=1)
    posterior = tfd.MultivariateNormalDiag(mean, np.exp(0.5 * log_var))
    epsilon = rowwise_random.stream_normal(mean.shape, model.noise_seed(noise_salts.TEST)).numpy()
    z = mean + np.exp(0.5 * log_var) * epsilon
    log_likelihood = tfd.Independent(tfd.Bernoulli(logits=model.decoder(z), dtype=tf.float32), 3).log_prob(x)
    kl = tfd.kl_divergence(posterior, tfd.MultivariateNormalDiag(tf.zeros(3), tf.ones(3)))
    np.testing.assert_allclose(terms["reconstruction"], -log_likelihood, rtol=1e-5)
    np.testing.assert_allclose(terms["kl"], kl, rtol=1e-5)
    np.testing.assert_allclose(terms["loss"], -log_likelihood + kl, rtol=1e-5)
    assert float(tf.reduce_min(kl)) > 0


def test_rae_loss_adds_weighted_latent_norm():
    model, shape = goldens.build_golden("rae")
    x = _data(shape)
    terms = model.per_example_losses(x)
    z = model.encode(x)
    np.testing.assert_allclose(terms["latent_l2"], 0.5 * tf.reduce_sum(z * z, axis=1), rtol=1e-5)
    np.testing.assert_allclose(terms["loss"], terms["reconstruction"] + 0.5 * terms["latent_l2"], rtol=1e-5)


def test_rae_l2_penalizes_decoder_kernels_only():
    model, _ = goldens.build_golden("rae_l2")
    kernels = [w for w in model.decoder.trainable_weights if w.path.endswith("kernel")]
    expected = 1e-3 * sum(float(tf.reduce_sum(k * k)) for k in kernels)
    assert kernels and np.isclose(float(model.weight_penalty()), expected, rtol=1e-5)


def test_conv_network_shapes_for_28_32_64():
    for size in (28, 32, 64):
        model = models.build("ae", (size, size, 3), latent_dim=5, network="conv", network_kwargs={"filters": (2, 4)})
        assert model.decode(tf.zeros((1, 5))).shape == (1, size, size, 3)
    with pytest.raises(ValueError, match="halve equally"):
        models.build("ae", (9, 9, 1), network="conv")


@pytest.mark.parametrize("key", ["dcgan", "wgan_gp", "dcgan_conv"])
def test_gans_are_generators_without_an_encoder(key):
    """A GAN is a Generator, not an Autoencoder: no encode/reconstruct, and no encoder weights built and dropped."""
    model, shape = goldens.build_golden(key)
    assert isinstance(model, models.Generator) and not isinstance(model, Autoencoder)
    assert not hasattr(model, "encode") and not hasattr(model, "encoder")
    assert not [w.path for w in model.weights if "encoder" in w.path]
    images = model.sample(5, seed=[3, 4])
    assert images.shape == (5, *shape)
    np.testing.assert_array_equal(images, model.sample(5, seed=[3, 4]))


def test_decoupled_prior_is_refused_by_deterministic_models():
    with pytest.raises(ValueError, match="needs a model whose loss involves the prior"):
        models.build("rae", (8, 8, 1), prior="decoupled")


def test_prior_kwargs_reach_the_prior_and_unknown_ones_are_refused():
    model = models.build("vae", (8, 8, 1), latent_dim=4, prior="decoupled",
                         prior_kwargs={"num_couplings": 3, "hidden_units": 5})
    assert len(model.prior.networks) == 3 and model.prior.hidden_units == 5
    assert type(model).from_config(model.get_config()).prior.num_couplings == 3
    with pytest.raises(ValueError, match=r"prior_kwargs \['couplings'\] are not arguments of the 'decoupled' prior "
                                         r"\(it takes \['hidden_units', 'num_couplings'\]\)"):
        models.build("vae", (8, 8, 1), prior="decoupled", prior_kwargs={"couplings": 3})
    with pytest.raises(ValueError, match="'standard' prior .it takes none besides latent_dim"):
        models.build("vae", (8, 8, 1), prior_kwargs={"num_couplings": 3})


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="latent_dim must be a positive integer"):
        models.build("ae", (8, 8, 1), latent_dim=0)
    with pytest.raises(ValueError, match="Unknown network 'resnet'"):
        models.build("ae", (8, 8, 1), network="resnet")
    with pytest.raises(ValueError, match="beta must be non-negative"):
        models.build("rae", (8, 8, 1), beta=-1)


@pytest.mark.parametrize("name", registry.names("model"))
def test_every_constructor_argument_is_a_hyperparameter(name):
    """`models.build` accepts what the constructors along the MRO take, mixins included (an AAE's
    `discriminator_learning_rate` lives in `DiscriminatorTraining`)."""
    expected = set()
    for cls in registry.get("model", name).__mro__:
        if cls.__module__.startswith("tfvae.") and "__init__" in vars(cls):
            expected |= set(inspect.signature(cls.__init__).parameters) - {"self", "input_shape", "kwargs"}
    assert expected <= set(models.hyperparameters(registry.get("model", name)))
    if issubclass(registry.get("model", name), DiscriminatorTraining):
        assert "discriminator_learning_rate" in models.hyperparameters(registry.get("model", name))


def test_model_fit_on_one_device(digits):
    from tfvae import data

    model = models.build("vae", digits.element_shape, latent_dim=4, network_kwargs={"hidden_units": (32,)})
    model.compile(optimizer="adam")
    dataset = data.make_dataset(digits, "train", 100, shuffle=True)
    history = model.fit(dataset, epochs=2, verbose=0, validation_data=data.make_dataset(digits, "validation", 90))
    assert history.history["loss"][1] < history.history["loss"][0]
    assert set(history.history) >= {"loss", "reconstruction", "kl", "val_loss"}
    assert isinstance(model, Autoencoder)
    # 20 steps per compiled call by default; an epoch whose steps are no multiple of 20 still runs every step
    steps_per_epoch = int(dataset.cardinality())
    assert model.steps_per_execution == 20 and steps_per_epoch % 20
    assert int(model.optimizer.iterations.numpy()) == 2 * steps_per_epoch


@pytest.mark.parametrize("key", EACH_COMPONENT)
def test_step_runs_under_mirrored_strategy(key, mirrored):
    with mirrored.scope():
        model, shape = goldens.build_golden(key)
        model.compile(optimizer="adam")
        model.optimizer.build(model.trainable_variables)
    x = _data(shape, count=20)
    batch = next(iter(mirrored.experimental_distribute_dataset(tf.data.Dataset.from_tensors(x))))
    logs = tf.function(lambda b: mirrored.run(model.replica_step, args=(b,)))(batch)
    loss = mirrored.reduce(tf.distribute.ReduceOp.MEAN, logs["loss"], axis=None)
    assert np.isfinite(float(loss))
    assert int(model.optimizer.iterations.numpy()) == 1
