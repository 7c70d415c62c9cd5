"""Mixed precision (`tfvae.precision`): every model trains under each policy, float16 scales every optimizer's loss
and skips overflowing steps, probabilistic parts and public outputs stay float32, checkpoints resume."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from tests import goldens
from tests.conftest import assert_same_values
from tfvae import models, precision, training
from tfvae.models import AE, Autoencoder

MIXED = ("mixed_bfloat16", "mixed_float16")
# The first golden of every model, prior and network (`goldens.first_goldens`) under both mixed policies in the full
# suite, the representative goldens in the fast tier; float16 only on MLP goldens (every model's first golden is
# one): float16 convolutions have no fast CPU kernels (57 s for three steps of one conv golden), and the conv
# goldens' casts are those their bfloat16 runs check.
_FAST = set(goldens.representative_goldens())
EACH_MODEL_AND_POLICY = [
    pytest.param(key, policy, marks=() if key in _FAST else pytest.mark.slow, id=f"{key}-{policy}")
    for key in sorted(set(goldens.first_goldens(networks=True)) | _FAST) for policy in MIXED
    if policy == "mixed_bfloat16" or goldens.MODEL_GOLDENS[key][0][0] <= 8]


def _data(shape, count=8, seed=0):
    return tf.constant(np.random.default_rng(seed).random((count, *shape)).astype(np.float32))


def _build(key, policy):
    with precision.policy_scope(policy):
        return goldens.build_golden(key)


def _optimizers(model):
    return [model.optimizer, *getattr(model, "discriminator_optimizers", {}).values()]


@pytest.mark.parametrize("key,policy", EACH_MODEL_AND_POLICY)
def test_train_step_under_policy(key, policy):
    model, shape = _build(key, policy)
    assert model.mixed_precision == policy and model.get_config()["mixed_precision"] == policy
    model.compile(optimizer=keras.optimizers.Adam())  # Generator.compile wraps it under float16
    model.optimizer.build(model.main_variables())  # (the discriminators' optimizers are built by compile)
    scaled = [isinstance(o, keras.optimizers.LossScaleOptimizer) for o in _optimizers(model)]
    assert scaled == [policy == "mixed_float16"] * len(scaled)  # every optimizer, the discriminators' included
    for optimizer in _optimizers(model) if policy == "mixed_float16" else ():
        # A modest scale: at Keras' default (2**15) float16's first steps overflow on the summed likelihoods and
        # are skipped until the scale has come down (what the tests below check).
        optimizer.dynamic_scale.assign(2.0 ** 4)
    before = [w.numpy().copy() for w in model.trainable_weights]
    assert before and all(w.dtype == "float32" for w in model.weights)
    for seed in range(2):  # flows start as the identity: their hidden layers move from the second step on
        logs = model.train_step(_data(shape, seed=seed))
    assert logs and all(np.isfinite(float(v)) for v in logs.values()), logs
    changed = [not np.array_equal(b, w.numpy()) for b, w in zip(before, model.trainable_weights)]
    unchanged = [w.path for w, c in zip(model.trainable_weights, changed) if not c]
    assert all(changed), f"{key}: weights not updated: {unchanged}"
    # float32 at every public boundary.
    z = tf.random.stateless_normal([4, model.latent_dim], seed=[1, 2])
    assert model.decode(z).dtype == tf.float32 and model.prior.log_prob(z).dtype == tf.float32
    assert model.sample(3, [0, 1]).dtype == tf.float32
    if isinstance(model, Autoencoder):
        assert model.encode(_data(shape)).dtype == tf.float32
        assert model.reconstruct(_data(shape)).dtype == tf.float32
    assert all(v.dtype == tf.float32 for v in model.per_example_losses(_data(shape)).values())


@pytest.mark.parametrize("policy", MIXED)
def test_networks_compute_in_the_policy_and_everything_else_in_float32(policy):
    model, _ = _build("factor_vae_decoupled", policy)
    compute = policy.removeprefix("mixed_")
    assert {layer.compute_dtype for layer in model.decoder.layers if layer.weights} == {compute}
    assert {layer.compute_dtype for layer in model.encoder.layers if layer.weights} == {compute}
    assert {layer.compute_dtype for layer in model.discriminator.layers if layer.weights} == {compute}
    prior_layers = [layer for layer in model.prior._flatten_layers() if layer.weights]
    assert prior_layers and {layer.compute_dtype for layer in prior_layers} == {"float32"}
    assert model.likelihood.compute_dtype == "float32"


class _OverflowingAE(AE):
    """An AE whose loss can be multiplied by a huge factor: finite in float32, its float16 gradients overflow; with
    `only_replica`, on that replica only."""

    factor = 1.0
    only_replica = None

    def per_example_losses(self, x, training=False):
        terms = super().per_example_losses(x, training)
        factor = tf.constant(self.factor)
        if self.only_replica is not None:
            replica = tf.distribute.get_replica_context().replica_id_in_sync_group
            factor = tf.where(tf.equal(replica, self.only_replica), factor, 1.0)
        return {**terms, "loss": terms["loss"] * factor}


def test_float16_step_with_overflowing_gradients_is_skipped_not_applied():
    with precision.policy_scope("mixed_float16"):
        model = _OverflowingAE((8, 8, 1), latent_dim=3, network_kwargs={"hidden_units": (16,)})
    model.build_for()
    model.compile(optimizer=keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam(), initial_scale=2.0 ** 4))
    x = _data((8, 8, 1))
    model.train_step(x)
    weights, moments = ([v.numpy().copy() for v in variables]
                        for variables in (model.weights, model.optimizer.inner_optimizer.variables))
    iterations, scale = int(model.optimizer.iterations), float(model.optimizer.dynamic_scale)
    model.factor = 1e30
    logs = model.train_step(x)
    assert np.isfinite(float(logs["loss"]))  # the loss is finite: only its scaled float16 gradients overflow
    assert_same_values(model.weights, weights)
    assert_same_values(model.optimizer.inner_optimizer.variables[1:], moments[1:])  # [0]: iterations
    assert int(model.optimizer.iterations) == iterations and float(model.optimizer.dynamic_scale) == scale / 2
    model.factor = 1.0
    model.train_step(x)  # and training goes on
    assert int(model.optimizer.iterations) == iterations + 1
    assert any(not np.array_equal(b, v.numpy()) for b, v in zip(weights, model.weights))


# One golden per kind of update: the generic step (AE), VGH's two-loss step, WGAN-GP's critic steps, and the
# discriminators of FactorVAE, VEEGAN, DCGAN and the AAE.
EVERY_UPDATE = ["ae", "vgh", "wgan_gp", "factor_vae", "veegan", "dcgan", "aae"]


@pytest.mark.parametrize("key", [pytest.param(k, marks=() if k in ("vgh", "wgan_gp") else pytest.mark.slow)
                                 for k in EVERY_UPDATE])
def test_every_optimizer_scales_its_loss_and_skips_on_overflow(key):
    """With every loss scale far beyond float16's range, every update of the step overflows and is skipped: an
    update whose loss were not scaled would stay finite (the optimizer divides by the scale) and be applied."""
    model, shape = _build(key, "mixed_float16")
    model.compile(optimizer=keras.optimizers.Adam())
    model.optimizer.build(model.main_variables())
    for optimizer in _optimizers(model):
        optimizer.dynamic_scale.assign(2.0 ** 60)
    before = [w.numpy().copy() for w in model.weights]
    model.train_step(_data(shape))
    for optimizer in _optimizers(model):
        # none applied; the scale halved once per skipped update (WGAN-GP's critic updates five times a step)
        assert int(optimizer.iterations) == 0 and float(optimizer.dynamic_scale) <= 2.0 ** 59
    assert_same_values(model.weights, before)


def test_keras_global_policy_is_refused():
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        with pytest.raises(ValueError, match="give the model mixed_precision= instead"):
            AE((8, 8, 1))
    finally:
        keras.config.set_dtype_policy("float32")


def test_a_bad_policy_is_refused():
    with pytest.raises(ValueError, match="mixed_precision must be one of"):
        AE((8, 8, 1), mixed_precision="float16")
    with pytest.raises(ValueError, match="mixed_precision must be one of"):
        with precision.policy_scope("bfloat16"):
            pass


_CPUINFO = ("processor\t: {n}\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu sse2 avx2 fma avx512f {extra}\n"
            "bogomips\t: 4800.00\n\n")


def _cpuinfo(tmp_path, extra):
    path = tmp_path / "cpuinfo"
    path.write_text(_CPUINFO.format(n=0, extra=extra) + _CPUINFO.format(n=1, extra=extra))
    return str(path)


@pytest.mark.parametrize("extra, found", [("avx512_bf16 avx512_vnni", "avx512_bf16"),
                                          ("amx_bf16 amx_tile avx512_bf16", "avx512_bf16, amx_bf16")])
def test_bfloat16_hint_for_float32_on_a_cpu_with_native_bfloat16(tmp_path, extra, found):
    hint = precision.bfloat16_hint("float32", {"CPU"}, cpuinfo=_cpuinfo(tmp_path, extra))
    assert f"natively ({found})" in hint and "--mixed_precision=mixed_bfloat16" in hint


@pytest.mark.parametrize("policy, devices, extra", [
    ("float32", {"CPU"}, "avx512_vnni avx512_fp16"),  # AVX-512 without bfloat16 (AVX512_FP16 is float16's)
    ("mixed_bfloat16", {"CPU"}, "avx512_bf16"),  # already bfloat16
    ("float32", {"CPU", "GPU"}, "avx512_bf16"),  # the networks run on the accelerator
    ("float32", {"CPU", "TPU"}, "avx512_bf16"),
])
def test_no_bfloat16_hint_elsewhere(tmp_path, policy, devices, extra):
    assert precision.bfloat16_hint(policy, devices, cpuinfo=_cpuinfo(tmp_path, extra)) is None


def test_no_bfloat16_hint_without_a_readable_cpuinfo(tmp_path):
    assert precision.bfloat16_hint("float32", {"CPU"}, cpuinfo=str(tmp_path / "missing")) is None


# ------------------------------------------------------------------------------------------------------- Trainer
def _vae():
    return models.build("vae", (8, 8, 1), latent_dim=4, network_kwargs={"hidden_units": (32,)})


def _factor_vae():
    return models.build("factor_vae", (8, 8, 1), latent_dim=4, network_kwargs={"hidden_units": (32,)},
                        discriminator_units=(32, 32))


@pytest.mark.slow
@pytest.mark.parametrize("policy,model_fn", [("mixed_bfloat16", _vae), ("mixed_float16", _factor_vae)])
def test_checkpoint_resumes_under_the_same_policy_bit_for_bit(digits, tmp_path, policy, model_fn):
    """float16 with FactorVAE: the loss scales of the model's and the discriminator's optimizers resume too."""
    def run(workdir, epochs):
        trainer = training.Trainer(model_fn, digits, str(tmp_path / workdir), epochs=epochs, log_images=False,
                                   mixed_precision=policy)
        return trainer, trainer.fit()

    straight, _ = run("a", 2)
    run("b", 1)
    resumed, history = run("b", 2)
    assert [record["epoch"] for record in history] == [2]
    assert resumed.model.mixed_precision == policy
    assert_same_values(resumed.model.weights, straight.model.weights)
    optimizers = [_optimizers(trainer.model) for trainer in (straight, resumed)]
    assert len(optimizers[0]) == len(optimizers[1])
    for a, b in zip(*optimizers):  # moments, iterations and (float16) the loss scales
        assert_same_values(b.variables, a.variables, what=b.name)


def test_resuming_across_policies(digits, tmp_path):
    training.Trainer(_vae, digits, str(tmp_path), epochs=1, log_images=False).fit()
    # float32 <-> mixed_bfloat16: the same checkpointed state, so the run goes on.
    resumed = training.Trainer(_vae, digits, str(tmp_path), epochs=2, log_images=False,
                               mixed_precision="mixed_bfloat16")
    assert [record["epoch"] for record in resumed.fit()] == [2]
    # float16's loss scales are optimizer state the others lack: refused with the reason and the way out.
    with pytest.raises(ValueError, match="loss scaling.*resumes only under float32 or mixed_bfloat16"):
        training.Trainer(_vae, digits, str(tmp_path), epochs=3, log_images=False,
                         mixed_precision="mixed_float16").fit()
    # And the other way: a float16 run's checkpoint is refused under float32.
    training.Trainer(_vae, digits, str(tmp_path / "float16"), epochs=1, log_images=False,
                     mixed_precision="mixed_float16").fit()
    with pytest.raises(ValueError, match="written with float16 loss scaling.*resumes only under mixed_float16"):
        training.Trainer(_vae, digits, str(tmp_path / "float16"), epochs=2, log_images=False).fit()
    # The weights themselves are float32 under every policy and load into a model of any policy.
    with precision.policy_scope("mixed_float16"):
        model = _vae()
    model.build_for()
    training.restore_weights(model, resumed.manager.latest_checkpoint)
    assert_same_values(model.weights, resumed.model.weights)


def test_trainer_logs_the_bfloat16_hint_once_for_float32_only(digits, tmp_path, monkeypatch, caplog):
    import functools
    import logging

    monkeypatch.setattr(precision, "bfloat16_hint", functools.partial(
        precision.bfloat16_hint, cpuinfo=_cpuinfo(tmp_path, "avx512_bf16")))
    for policy, expected in (("float32", 1), ("mixed_bfloat16", 0)):
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="absl"):
            training.Trainer(_vae, digits, str(tmp_path / policy), epochs=1, log_images=False, mixed_precision=policy)
        assert sum("computes bfloat16 natively" in record.getMessage() for record in caplog.records) == expected


def test_trainer_refuses_a_model_of_another_policy(digits, tmp_path):
    def build():
        return models.build("vae", (8, 8, 1), latent_dim=4, mixed_precision="mixed_bfloat16")

    with pytest.raises(ValueError, match="model_fn built a model with mixed_precision='mixed_bfloat16'"):
        training.Trainer(build, digits, str(tmp_path), epochs=1)


def test_xla_and_plain_paths_agree():
    """The loss and its gradients compiled with XLA (Keras' default on GPUs) and without (CPU) agree: the same
    training noise (`rowwise_random.stream_normal`) and the same math, to float32 round-off."""
    model, shape = _build("vae", "float32")
    model.compile(optimizer="adam")
    x = _data(shape)

    def loss_and_gradients():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(model.per_example_losses(x, training=True)["loss"])
        return loss, tape.gradient(loss, model.trainable_variables)

    (plain_loss, plain), (xla_loss, xla) = (tf.function(loss_and_gradients, jit_compile=jit)() for jit in (False, True))
    tolerance = 1e-5
    np.testing.assert_allclose(xla_loss, plain_loss, rtol=tolerance)
    for a, b in zip(plain, xla):
        np.testing.assert_allclose(b, a, rtol=tolerance, atol=tolerance * float(tf.reduce_max(tf.abs(a))))


@pytest.mark.parametrize("key", [pytest.param(key, marks=() if key == "dcgan" else pytest.mark.slow)
                                 for key in ("dcgan", "vgh")])
@pytest.mark.parametrize("policy", MIXED)
def test_step_compiles_with_xla_under_policy(key, policy):
    """The kinds of step under XLA and each mixed policy: a GAN's (the generic step and a discriminator's update)
    and VGH's (a VAE's posterior, two losses on one optimizer, two discriminators); the float32 XLA step of every
    model's first golden is in tests/models/test_models.py."""
    model, shape = _build(key, policy)
    model.compile(optimizer="adam")
    model.optimizer.build(model.main_variables())
    logs = tf.function(model.replica_step, jit_compile=True)(_data(shape))
    assert all(np.isfinite(float(v)) for v in logs.values()), logs


def test_float16_overflow_on_one_replica_skips_the_step_on_all(mirrored):
    """Keras' LossScaleOptimizer decides from the first replica's gradients alone; `precision.skip_together` makes
    an overflow on replica 1 only skip the step everywhere instead of adding infinities to the weights."""
    with mirrored.scope():
        with precision.policy_scope("mixed_float16"):
            model = _OverflowingAE((8, 8, 1), latent_dim=3, network_kwargs={"hidden_units": (16,)})
        model.build_for()
        model.compile(optimizer=keras.optimizers.Adam())
        model.optimizer.build(model.main_variables())
    model.optimizer.dynamic_scale.assign(2.0 ** 4)
    model.factor, model.only_replica = 1e30, 1
    before = [w.numpy().copy() for w in model.weights]
    batch = next(iter(mirrored.experimental_distribute_dataset(
        tf.data.Dataset.from_tensors(_data((8, 8, 1), count=16)))))
    tf.function(lambda b: mirrored.run(model.replica_step, args=(b,)))(batch)
    assert_same_values(model.weights, before)
    assert int(model.optimizer.iterations.numpy()) == 0 and float(model.optimizer.dynamic_scale.numpy()) == 8.0


@pytest.mark.slow
def test_float16_under_mirrored_strategy_trains_every_optimizer(digits, tmp_path, mirrored):
    """The Trainer under MirroredStrategy and float16: every optimizer loss-scaled, the loss scale logged."""
    trainer = training.Trainer(_factor_vae, digits, str(tmp_path), strategy=mirrored, epochs=1, log_images=False,
                               mixed_precision="mixed_float16")
    [record] = trainer.fit()
    assert np.isfinite(record["validation/loss"]) and record["state/loss_scale"] <= 2.0 ** 15
    for optimizer in _optimizers(trainer.model):
        assert isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
        assert 0 < int(optimizer.iterations.numpy()) <= 1347 // 100  # steps applied, the first overflowing ones skipped


def test_train_config_refuses_an_unknown_policy(tmp_path):
    from trainers.config import TrainConfig

    with pytest.raises(ValueError, match=r"mixed_precision must be one of \['float32', 'mixed_bfloat16'"):
        TrainConfig(workdir=str(tmp_path), mixed_precision="float16").validate()


@pytest.mark.slow
def test_main_job_under_float16_exports_a_float32_savedmodel(trained_run):
    """The binaries' job: trained under mixed_float16, its densities and export come from the float32 rebuild."""
    from tests.conftest import zoo_config
    from trainers import jobs

    workdir, result, _ = trained_run(**zoo_config("vae", mixed_precision="mixed_float16"))
    config, _, rebuilt = jobs.load_run(str(workdir))
    assert config.mixed_precision == "mixed_float16" and rebuilt.mixed_precision == "float32"
    loaded = tf.saved_model.load(result["export"])
    signature = loaded.signatures["decode"]
    assert {spec.dtype for spec in signature.structured_outputs.values()} == {tf.float32}
    z = tf.random.stateless_normal([4, rebuilt.latent_dim], seed=[3, 4])
    np.testing.assert_allclose(signature(latents=z)["images"], rebuilt.decode(z), atol=1e-6)
