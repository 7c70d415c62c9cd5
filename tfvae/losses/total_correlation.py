"""Minibatch estimators of log q(z) and log prod_j q(z_j) for beta-TCVAE (Chen et al. 2018, section 4.1).

The aggregate posterior q(z) = 1/N sum_n q(z | x_n) over a data set of N examples is estimated from a minibatch of B
posteriors. Two estimators:

- minibatch weighted sampling (MWS): log q(z_i) ~ logsumexp_j log q(z_i | x_j) - log(N B). Strongly biased: it
  gives the sample's own posterior the weight 1/(N B) although it is certainly in the data set (weight 1/N).
- minibatch stratified sampling (MSS): weights w_ij with w_ii = 1/N on the diagonal (the sample's own posterior),
  (N - M) / (N M) on one other entry per row and 1/M on the remaining M - 1 = B - 2 entries, M = B - 1; every row
  sums to 1. The widely copied reference code writes the 1/N weights with a stride of B into the flattened matrix,
  which fills column 0 instead of the diagonal; here they are on the diagonal.

References:
    Chen et al. 2018, Isolating sources of disentanglement in variational autoencoders (arXiv:1802.04942).
"""
import math

import tensorflow as tf

_LOG_2PI = math.log(2.0 * math.pi)


def gaussian_log_density_matrix(z, z_mean, z_log_var):
    """log q(z_i,l | x_j) for every pair (i, j) and dimension l: shape [B, B, L]."""
    z = z[:, None, :]
    mean, log_var = z_mean[None, :, :], z_log_var[None, :, :]
    return -0.5 * (tf.square(z - mean) * tf.exp(-log_var) + log_var + _LOG_2PI)


def stratified_log_weights(batch_size, dataset_size):
    """log of the MSS importance-weight matrix [B, B] (rows: samples, columns: posteriors)."""
    b = batch_size
    m = b - 1
    n = float(dataset_size)
    eye = tf.eye(b)
    # The "one other entry" of row i is column (i + 1) mod B.
    shifted = tf.roll(eye, shift=1, axis=1)
    weights = eye * (1.0 / n) + shifted * ((n - m) / (n * m)) + (1.0 - eye - shifted) * (1.0 / m)
    return tf.math.log(weights)


def log_aggregate_posteriors(z, z_mean, z_log_var, dataset_size, estimator="mss"):
    """Estimates log q(z_i) and sum_l log q(z_i,l) for each sample of the batch.

    Args:
        z: Tensor [B, L]. One posterior sample per example.
        z_mean, z_log_var: Tensor [B, L]. The diagonal Gaussian posteriors of the batch.
        dataset_size: int. N, the number of training examples.
        estimator: str. "mss" (minibatch stratified sampling) or "mws" (minibatch weighted sampling).

    Returns:
        (log_qz [B], log_prod_qzj [B]).
    """
    matrix = gaussian_log_density_matrix(z, z_mean, z_log_var)
    batch = tf.shape(z)[0]
    if estimator == "mss":
        log_weights = stratified_log_weights(int(z.shape[0]), dataset_size)
        log_qz = tf.reduce_logsumexp(log_weights + tf.reduce_sum(matrix, axis=2), axis=1)
        log_prod = tf.reduce_sum(tf.reduce_logsumexp(log_weights[:, :, None] + matrix, axis=1), axis=1)
    elif estimator == "mws":
        log_nb = tf.math.log(tf.cast(batch, z.dtype) * float(dataset_size))
        log_qz = tf.reduce_logsumexp(tf.reduce_sum(matrix, axis=2), axis=1) - log_nb
        log_prod = tf.reduce_sum(tf.reduce_logsumexp(matrix, axis=1) - log_nb, axis=1)
    else:
        raise ValueError(f"Unknown total correlation estimator {estimator!r}; expected 'mss' or 'mws'. "
                         f"Received: {estimator!r}")
    return log_qz, log_prod
