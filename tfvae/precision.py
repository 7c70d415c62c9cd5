"""Mixed precision: the dtype policy the networks compute in, and loss scaling for float16.

Only the networks (encoders, decoders, discriminators, critics) follow a model's policy. Everything probabilistic
stays float32: likelihoods, KL and other loss terms, priors (the decoupled prior's flow included), posterior flows
and every ex-post density (sums of many per-dimension terms lose too much in 16 bits). The casts happen in one
place: every network built by `build_networks` answers in float32 (`Float32Outputs`), so the code that reads network
outputs never sees a 16-bit tensor. Weights are float32 under every policy (Keras' mixed policies keep float32
variables), so a checkpoint's weights do not depend on the policy.

float16 needs loss scaling: every optimizer of a model under `mixed_float16` (the model's own and each
discriminator's or critic's) is a `keras.optimizers.LossScaleOptimizer`; a step whose scaled gradients overflow is
skipped and the scale halved. bfloat16 has float32's exponent range and needs none.
"""
import contextlib

import keras
import tensorflow as tf
from keras import ops

POLICIES = ("float32", "mixed_bfloat16", "mixed_float16")

_default_policy = ["float32"]


def check_policy(policy):
    """Returns `policy` if it is one of `POLICIES`, else raises ValueError."""
    if policy not in POLICIES:
        raise ValueError(f"mixed_precision must be one of {list(POLICIES)}. Received: mixed_precision={policy!r}")
    return policy


def default_policy():
    """The policy of models built without an explicit `mixed_precision` (float32 outside `policy_scope`)."""
    return _default_policy[-1]


@contextlib.contextmanager
def policy_scope(policy):
    """Models built inside take `policy` unless given one (the `Trainer` builds its model inside this scope).

    Unlike Keras' global dtype policy, this reaches the models' networks only, never their priors or flows."""
    _default_policy.append(check_policy(policy))
    try:
        yield
    finally:
        _default_policy.pop()


# Linux /proc/cpuinfo flags of CPUs whose oneDNN kernels compute bfloat16 natively.
BFLOAT16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_flags(cpuinfo="/proc/cpuinfo"):
    """The set of instruction-set flags `cpuinfo` (Linux's) names; empty when it cannot be read."""
    try:
        with open(cpuinfo) as f:
            return {flag for line in f if line.startswith("flags") for flag in line.partition(":")[2].split()}
    except OSError:
        return set()


def bfloat16_hint(policy, device_types, cpuinfo="/proc/cpuinfo"):
    """The line the `Trainer` logs for a float32 run on a CPU that computes bfloat16 natively, or None.

    float32 stays the default so that a model's numbers do not depend on the machine; on such a CPU mixed_bfloat16
    may train faster, and the `Trainer` says so when it starts. None for another policy, when `device_types` (the
    process's logical device types) holds an accelerator, or when `cpuinfo` (Linux's) is unreadable or names none of
    `BFLOAT16_CPU_FLAGS`."""
    if policy != "float32" or set(device_types) - {"CPU"}:
        return None
    flags = cpu_flags(cpuinfo)
    found = [flag for flag in BFLOAT16_CPU_FLAGS if flag in flags]
    if not found:
        return None
    return (f"This CPU computes bfloat16 natively ({', '.join(found)}): mixed_precision='mixed_bfloat16' "
            f"(--mixed_precision=mixed_bfloat16) may train faster here. docs/speed.md (\"Dtype policies and XLA\") has "
            f"its conv nets at 1.37x-1.54x float32's rate on one such CPU, with the same validation loss; float32 "
            f"stays the default so that results do not depend on the machine.")


def uses_loss_scaling(policy):
    """Whether optimizers under `policy` scale the loss (float16 only)."""
    return policy == "mixed_float16"


def build_networks(policy, build):
    """Calls `build()` with Keras' global dtype policy set to `policy` (the previous one is restored) and returns its
    result, a network or a tuple of networks (None entries kept), each answering in float32.

    Under float32 the networks are returned as they are."""
    check_policy(policy)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        built = build()
    finally:
        keras.config.set_dtype_policy(previous)
    if policy == "float32":
        return built
    if isinstance(built, tuple):
        return tuple(None if network is None else Float32Outputs(network) for network in built)
    return Float32Outputs(built)


class Float32Outputs(keras.layers.Layer):
    """A network computing under a mixed policy whose outputs are cast to float32; weights and their order are the
    wrapped network's. Not serialized on its own: models are rebuilt from their configuration, policy included."""

    def __init__(self, network, **kwargs):
        super().__init__(name=network.name, dtype="float32", autocast=False, **kwargs)
        self.network = network

    def build(self, *input_shapes, **named_input_shapes):
        """Nothing to create: the wrapped network builds itself on its first call."""
        del input_shapes, named_input_shapes

    def call(self, inputs, *more_inputs, training=None):
        outputs = self.network(inputs, *more_inputs, training=training)
        return keras.tree.map_structure(lambda t: ops.cast(t, "float32"), outputs)

    @property
    def layers(self):
        return self.network.layers


def loss_scaled(optimizer, policy):
    """`optimizer` wrapped in a dynamic `LossScaleOptimizer` when `policy` needs loss scaling, else itself."""
    if not uses_loss_scaling(policy) or uses_loss_scaling_optimizer(optimizer):
        return optimizer
    return keras.optimizers.LossScaleOptimizer(optimizer)


def skip_together(gradients, optimizer):
    """`gradients` made non-finite on every replica when they are on any one, under a loss-scaled `optimizer` and a
    strategy with several replicas; unchanged otherwise (they are then added 0).

    `LossScaleOptimizer` decides whether to skip a step from each replica's own gradients before they are summed
    (on one replica's only, outside XLA): a replica whose gradients overflow alone would otherwise add infinities
    to the sum that the others apply. Call it between `tape.gradient` and `apply_gradients`.
    """
    context = tf.distribute.get_replica_context()
    if (not uses_loss_scaling_optimizer(optimizer) or context is None
            or context.num_replicas_in_sync == 1):
        return gradients
    finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(g)) for g in gradients if g is not None])
    overflowing_replicas = context.all_reduce(tf.distribute.ReduceOp.SUM, 1.0 - tf.cast(finite, tf.float32))
    everywhere = overflowing_replicas < 0.5
    poison = tf.where(everywhere, 0.0, float("nan"))
    return [None if g is None else g + tf.cast(poison, g.dtype) for g in gradients]


def uses_loss_scaling_optimizer(optimizer):
    """Whether `optimizer` scales the loss (a `LossScaleOptimizer`)."""
    return isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
