"""Importance-sampled negative log-likelihood (the IWAE estimator, Burda et al. 2016; dpVAE section 5.1)."""
import math

import numpy as np
import tensorflow as tf


def importance_sampled_nll(x, posterior, log_likelihood, log_prior, num_samples=1000, batch_size=100,
                           chunk_size=100, seed=0):
    """-log p(x) per example, estimated with K importance samples from the encoder's Gaussian posterior.

    Math:
        log p(x) ~= log 1/K sum_k p(x | z_k) p(z_k) / q(z_k | x),   z_k ~ q(z | x) = N(mu(x), diag sigma^2(x))
        (a lower bound in expectation, tight as K grows; exact for any K when q is the true posterior)

    Args:
        x: [N, ...] examples.
        posterior: callable x [B, ...] -> (z_mean [B, L], z_log_var [B, L]).
        log_likelihood: callable (x [B, ...], z [B, L]) -> [B] log p(x | z) (the model's decoder likelihood).
        log_prior: callable z [B, L] -> [B] log p(z) (the model's real prior: decoupled or standard).
        num_samples: int. K. Defaults to 1000 (dpVAE used 21,000).
        batch_size: int. Examples per pass.
        chunk_size: int. Importance samples evaluated together per example batch.
        seed: int. Stateless seed of the draws.

    Returns:
        np.ndarray [N] of NLL in nats; divide by (D log 2) for bits per dimension (`bits_per_dim`).
    """
    x = np.asarray(x, np.float32)
    nll = []
    for start in range(0, len(x), batch_size):
        batch = tf.constant(x[start:start + batch_size])
        mean, log_var = (tf.convert_to_tensor(t, tf.float32) for t in posterior(batch))
        log_weights = []
        for k0 in range(0, num_samples, chunk_size):
            k = min(chunk_size, num_samples - k0)
            eps = tf.random.stateless_normal([k, *mean.shape], seed=[seed, start * 7919 + k0], alg="philox")
            z = mean[None] + tf.exp(0.5 * log_var)[None] * eps  # [k, B, L]
            log_q = -0.5 * tf.reduce_sum(tf.square(eps) + log_var[None] + math.log(2 * math.pi), axis=-1)
            flat_z = tf.reshape(z, [-1, mean.shape[-1]])
            repeated_x = tf.reshape(tf.repeat(batch[None], k, axis=0), [-1, *batch.shape[1:]])
            log_joint = tf.reshape(log_likelihood(repeated_x, flat_z) + log_prior(flat_z), [k, -1])
            log_weights.append(log_joint - log_q)
        log_weights = tf.concat(log_weights, axis=0)
        nll.append(-(tf.reduce_logsumexp(log_weights, axis=0) - math.log(num_samples)).numpy())
    return np.concatenate(nll).astype(np.float64)


def bits_per_dim(nll, dims):
    """NLL in nats per example -> bits per dimension."""
    return np.asarray(nll, np.float64) / (dims * math.log(2.0))
