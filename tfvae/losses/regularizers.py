"""Regularizers of deterministic autoencoders (RAE paper, section 3)."""
import tensorflow as tf


def latent_l2(z):
    """The RAE latent penalty L_KL^RAE = 1/2 ||z||^2 per example (RAE paper, eq. 15).

    Args:
        z: Tensor [B, L].

    Returns:
        Tensor [B].
    """
    return 0.5 * tf.reduce_sum(tf.square(z), axis=-1)


def squared_weight_norm(weights):
    """Tikhonov penalty ||theta||^2 = sum of squared entries of `weights` (RAE paper, eq. 16). Returns a scalar."""
    if not weights:
        return tf.constant(0.0)
    return tf.add_n([tf.reduce_sum(tf.square(w)) for w in weights])
