"""Gradient penalties: of a decoder with respect to its latent input (RAE-GP) and of a critic (WGAN-GP)."""
import tensorflow as tf

from tfvae import rowwise_random


def decoder_gradient_penalty(decoder_fn, z):
    """||grad_z ||D(z)||^2||^2 per example: the RAE-GP regularizer as the authors' code computes it.

    Eq. 17 of the RAE paper writes ||grad D(z)||^2 for a vector-valued decoder without saying which norm; the
    authors' code (ParthaEth/Regularized_autoencoders, `loss_functions.py`) differentiates the squared norm of the
    decoder's output, sum_i D_i(z)^2, with one backward pass per batch (the Jacobian's Frobenius norm would need
    one per pixel). Since grad ||D||^2 = 2 J^T D, this penalizes the Jacobian in the direction of the output.

    Args:
        decoder_fn: callable z -> outputs [B, ...].
        z: Tensor [B, L].

    Returns:
        Tensor [B].
    """
    with tf.GradientTape() as tape:
        tape.watch(z)
        outputs = decoder_fn(z)
        total = tf.reduce_sum(tf.square(outputs))
    gradient = tape.gradient(total, z)
    return tf.reduce_sum(tf.square(gradient), axis=-1)


def critic_gradient_penalty(critic_fn, real, fake, seed):
    """(||grad critic(x_hat)|| - 1)^2 per example at x_hat = u real + (1 - u) fake, u ~ U[0, 1] (WGAN-GP, eq. 3).

    Args:
        critic_fn: callable x -> scores [B] or [B, 1].
        real, fake: Tensor [B, ...].
        seed: int Tensor [2]. Stateless seed of the interpolation weights.

    Returns:
        Tensor [B].
    """
    shape = tf.concat([tf.shape(real)[:1], tf.ones(tf.rank(real) - 1, tf.int32)], axis=0)
    u = tf.cast(rowwise_random.stream_uniform(shape, seed), real.dtype)
    interpolated = u * real + (1.0 - u) * fake
    with tf.GradientTape() as tape:
        tape.watch(interpolated)
        scores = tf.reduce_sum(critic_fn(interpolated))
    gradient = tape.gradient(scores, interpolated)
    norm = tf.sqrt(tf.reduce_sum(tf.square(tf.reshape(gradient, [tf.shape(real)[0], -1])), axis=1) + 1e-12)
    return tf.square(norm - 1.0)
