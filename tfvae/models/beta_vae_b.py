"""beta-VAE with a controlled capacity (Burgess et al. 2018)."""
import keras
import tensorflow as tf

from tfvae import registry
from tfvae.models.vae import VAE


def batch_capacity_penalty(kl, target, gamma):
    """Per-example terms of gamma |mean_b KL_b - C|, the capacity penalty of the batch's mean KL.

    Burgess et al. (eq. 8) pull the KL, an expectation over the data, towards C; the dpVAE authors' code applies |.|
    to the batch's KL, not to each example's. The two differ whenever some examples' KL lies above C and others'
    below (per example the penalty is larger; with a one-sample KL, as under the decoupled prior, much larger).
    tfvae's losses are per example (`per_example_losses`), so the batch penalty is handed out as gamma * s * (KL_b -
    C) with s = sign(mean KL - C) held constant: the terms' mean is the batch penalty and their gradient its
    gradient. Under a distribution strategy "the batch" is each replica's.

    Args:
        kl: Tensor [B]. Each example's KL.
        target: scalar Tensor. The capacity C.
        gamma: float. The penalty's weight.

    Returns:
        Tensor [B].
    """
    side = tf.stop_gradient(tf.sign(tf.reduce_mean(kl) - target))
    return gamma * side * (kl - target)


def capacity(step, max_capacity, capacity_steps):
    """C(step) = max_capacity * min(1, step / capacity_steps): the linear capacity ramp of beta-VAE-B."""
    step = tf.cast(step, tf.float32)
    return max_capacity * tf.minimum(1.0, step / float(max(1, capacity_steps)))


@registry.register("model", "beta_vae_b")
@keras.saving.register_keras_serializable("tfvae")
class BetaVAEB(VAE):
    """beta-VAE-B: the KL is pulled towards a capacity C that grows linearly (Burgess et al. 2018, eq. 8).

    Math:
        L = -log p(x|z) + gamma * | E_x KL[q(z|x) || p(z)] - C(step) |,   C(step) = C_max * min(1, step / steps)

    with the expectation taken over the batch (`batch_capacity_penalty`), as in the dpVAE authors' code.

    Args:
        gamma: float. Defaults to 1000 (Burgess et al.).
        max_capacity: float. C_max in nats. Defaults to 25 (Burgess et al.).
        capacity_steps: int. Optimizer steps over which C grows from 0 to C_max. Defaults to 100000 (Burgess et al.).
        **kwargs: see `VAE`.
    """

    loss_terms = ("kl", "capacity")

    def __init__(self, input_shape, gamma=1000.0, max_capacity=25.0, capacity_steps=100000, **kwargs):
        super().__init__(input_shape, **kwargs)
        if gamma < 0 or max_capacity < 0 or capacity_steps < 1:
            raise ValueError(f"gamma and max_capacity must be non-negative and capacity_steps positive. Received: "
                             f"gamma={gamma}, max_capacity={max_capacity}, capacity_steps={capacity_steps}")
        self.gamma = float(gamma)
        self.max_capacity = float(max_capacity)
        self.capacity_steps = int(capacity_steps)

    def regularizer(self, x, posterior, training=False):
        kl = self.kl_divergence(posterior)
        optimizer = getattr(self, "optimizer", None)
        c = capacity(optimizer.iterations if optimizer is not None else 0, self.max_capacity, self.capacity_steps)
        return batch_capacity_penalty(kl, c, self.gamma), {"kl": kl, "capacity": tf.fill(tf.shape(kl), c)}

    def get_config(self):
        return {**super().get_config(), "gamma": self.gamma, "max_capacity": self.max_capacity,
                "capacity_steps": self.capacity_steps}
