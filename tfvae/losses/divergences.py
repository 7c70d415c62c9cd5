"""Divergences between distributions over latents, per example."""
import tensorflow as tf


def kl_diagonal_normal_standard(z_mean, z_log_var):
    """KL[ N(z_mean, diag(exp(z_log_var))) || N(0, I) ] in closed form.

    Args:
        z_mean: Tensor [B, L].
        z_log_var: Tensor [B, L].

    Returns:
        Tensor [B].

    Math:
        KL = 1/2 sum_j ( mu_j^2 + sigma_j^2 - log sigma_j^2 - 1 )
    """
    return 0.5 * tf.reduce_sum(tf.square(z_mean) + tf.exp(z_log_var) - z_log_var - 1.0, axis=-1)
