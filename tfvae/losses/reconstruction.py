"""Reconstruction log-likelihoods log p(x | z), summed over every non-batch dimension.

Both return a tensor of shape [B]; negate them for a loss.
"""
import math

import tensorflow as tf

_LOG_2PI = math.log(2.0 * math.pi)


def _sum_per_example(values):
    return tf.reduce_sum(tf.reshape(values, [tf.shape(values)[0], -1]), axis=1)


def bernoulli_log_likelihood(x, logits):
    """Bernoulli ("cross-entropy") log-likelihood of x in [0, 1] under decoder logits.

    Args:
        x: Tensor [B, ...]. Targets in [0, 1] (grey levels are treated as soft labels, as is common for images).
        logits: Tensor [B, ...]. Decoder outputs before the sigmoid.

    Returns:
        Tensor [B].

    Math:
        log p(x|z) = sum_i x_i log s(l_i) + (1 - x_i) log(1 - s(l_i)),   s = sigmoid
    """
    return -_sum_per_example(tf.nn.sigmoid_cross_entropy_with_logits(labels=x, logits=logits))


def gaussian_log_likelihood(x, mean, log_variance):
    """Isotropic Gaussian log-likelihood log N(x | mean, gamma I) with gamma = exp(log_variance).

    Args:
        x: Tensor [B, ...]. Targets.
        mean: Tensor [B, ...]. Decoder mean.
        log_variance: scalar Tensor (or broadcastable to x). log gamma; the two-stage VAE learns one scalar.

    Returns:
        Tensor [B].

    Math:
        log p(x|z) = -1/2 sum_i [ (x_i - mu_i)^2 / gamma + log gamma + log 2 pi ]
        Implements the decoder of eq. 2 of the two-stage VAE paper (Sigma_x = gamma I).
    """
    log_variance = tf.cast(log_variance, x.dtype)
    squared = tf.square(x - mean) * tf.exp(-log_variance)
    return -0.5 * _sum_per_example(squared + log_variance + _LOG_2PI)
