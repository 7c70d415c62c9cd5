"""Per-example scores of inputs under a trained autoencoder, for anomaly and out-of-distribution detection (the
SavedModel's `score` and `score_likelihood` endpoints).

Every function works row by row: row b of the output depends on row b of the inputs only, so TF Serving may batch
requests together. Which score to use for what: docs/serving.md, "Scores for anomaly detection".
"""
import math

import tensorflow as tf

from tfvae import rowwise_random

_LOG_2PI = math.log(2.0 * math.pi)
# rowwise_random stream of the importance samples (other streams belong to the samplers).
_IMPORTANCE_STREAM = 11


def reconstruction_error(model, x):
    """Sum over an example's values of (x - decode(encode(x)))^2, shape [B]."""
    x = tf.convert_to_tensor(x, tf.float32)
    squared = tf.square(x - model.reconstruct(x))
    return tf.reduce_sum(tf.reshape(squared, [tf.shape(x)[0], -1]), axis=1)


def importance_bounds(model, x, seeds, num_importance):
    """(ELBO [B], IWAE bound [B]) on log p(x) in nats from K_b = num_importance[b] posterior samples per row.

    Math (Burda et al. 2016), with u_k ~ q(u | x) the Gaussian posterior (before a posterior flow, if any):
        log w_k = log p(x | f(u_k)) + log p(f(u_k)) + log|det df/du| - log q(u_k | x)
        ELBO ~= 1/K sum_k log w_k            IWAE = log 1/K sum_k exp(log w_k)  (>= ELBO, -> log p(x) as K grows)
    The samples are drawn one k at a time (memory B x L, K decoder passes of the batch) with an online logsumexp;
    u_k of row b is keyed by (seeds[b], k), so it does not depend on the other rows or on K.

    Args:
        model: a `tfvae.models.VAE` (it has `importance_sampling_terms`).
        x: float [B, ...] examples.
        seeds: int32 [B, 2]. One stateless seed per row.
        num_importance: int32 [B], each >= 1.
    """
    posterior, log_likelihood, log_prior = model.importance_sampling_terms()
    x = tf.convert_to_tensor(x, tf.float32)
    num_importance = tf.convert_to_tensor(num_importance, tf.int32)
    mean, log_var = posterior(x)
    latent_dim = int(mean.shape[-1])
    rows = tf.shape(x)[0]

    def body(k, total, running_max, scaled_sum):
        noise = rowwise_random.normal(seeds, latent_dim, stream=_IMPORTANCE_STREAM, index=k)
        u = mean + tf.exp(0.5 * log_var) * noise
        log_q = -0.5 * tf.reduce_sum(tf.square(noise) + log_var + _LOG_2PI, axis=-1)
        log_w = log_likelihood(x, u) + log_prior(u) - log_q
        active = k < num_importance
        new_max = tf.where(active, tf.maximum(running_max, log_w), running_max)
        scaled_sum = tf.where(active, scaled_sum * tf.exp(running_max - new_max) + tf.exp(log_w - new_max),
                              scaled_sum)
        return k + 1, tf.where(active, total + log_w, total), new_max, scaled_sum

    start = (tf.constant(0), tf.zeros([rows]), tf.fill([rows], -float("inf")), tf.zeros([rows]))
    _, total, running_max, scaled_sum = tf.while_loop(lambda k, *_: k < tf.reduce_max(num_importance), body, start)
    count = tf.cast(num_importance, tf.float32)
    return total / count, running_max + tf.math.log(scaled_sum) - tf.math.log(count)
