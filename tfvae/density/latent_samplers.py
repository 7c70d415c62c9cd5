"""Latent-space samplers for the papers' diagnostics: low- and high-posterior samples, interpolations, traversals.

All take and return arrays (or tensors) of latents; decoding is the caller's. They never reach into model classes:
the aggregate posterior is given as posterior parameters, the prior as a log-density function.
"""
import math

import numpy as np
import tensorflow as tf

from tfvae import latent_paths

_LOG_2PI = math.log(2.0 * math.pi)


# Floats per [rows of z, data chunk, L] block of `aggregate_posterior_log_density` (64 MiB).
_BLOCK_ELEMENTS = 1 << 24


def aggregate_posterior_log_density(z, posterior_means, posterior_log_variances=None, chunk_size=2048,
                                    flow_inverse=None):
    """log q(z) = log 1/N sum_n q(z | x_n) for every row of z, over a whole data set (algorithm 2's inner loop).

    With a posterior flow f shared by every example (a RealNVP posterior: z = f(u), u ~ N(mu_n, sigma_n^2)), each
    q(z | x_n) carries the same Jacobian term, so it leaves the sum:

        log q(z) = log 1/N sum_n N(f^-1(z); mu_n, diag sigma_n^2) - log|det df/du| at u = f^-1(z)

    Args:
        z: [M, L] points to evaluate.
        posterior_means: [N, L] posterior means mu_n of the data set (before the flow, if there is one).
        posterior_log_variances: [N, L] or None. Diagonal log sigma_n^2; None for a deterministic encoder, whose
            aggregate posterior is then smoothed by a Gaussian kernel of the codes' per-dimension standard deviation
            times Scott's factor N^(-1/(L+4)) (a kernel density estimate; a sum of deltas has no density).
        chunk_size: int. Data points per logsumexp chunk. Memory is bounded at `_BLOCK_ELEMENTS` floats per
            [rows of z, chunk, L] block whatever M and L (a 10,000 x 2,048 x 250 block needed 20 GB).
        flow_inverse: callable z [M, L] -> (u = f^-1(z) [M, L], log|det df/du| at u [M]), or None (no flow).

    Returns:
        np.ndarray [M] of log q(z).
    """
    if flow_inverse is not None:
        u, log_det = flow_inverse(np.asarray(z, np.float32))
        return (aggregate_posterior_log_density(u, posterior_means, posterior_log_variances, chunk_size)
                - np.asarray(log_det, np.float32))
    z = tf.convert_to_tensor(z, tf.float32)
    means = np.asarray(posterior_means, np.float32)
    n, dim = means.shape
    if posterior_log_variances is None:
        bandwidth = means.std(axis=0) * n ** (-1.0 / (dim + 4)) + 1e-6
        log_variances = np.broadcast_to(2.0 * np.log(bandwidth), means.shape).astype(np.float32)
    else:
        log_variances = np.asarray(posterior_log_variances, np.float32)
    chunk_size = max(1, min(int(chunk_size), _BLOCK_ELEMENTS // dim))
    rows = max(1, _BLOCK_ELEMENTS // (chunk_size * dim))
    chunks = [(tf.constant(means[start:start + chunk_size])[None],
               tf.constant(log_variances[start:start + chunk_size])[None]) for start in range(0, n, chunk_size)]
    results = []
    for first in range(0, int(z.shape[0]), rows):
        block = z[first:first + rows, None]
        partial = [tf.reduce_logsumexp(
            -0.5 * tf.reduce_sum(tf.square(block - mu) * tf.exp(-log_var) + log_var + _LOG_2PI, axis=-1), axis=1)
            for mu, log_var in chunks]
        results.append(tf.reduce_logsumexp(tf.stack(partial, axis=1), axis=1) - math.log(n))
    return tf.concat(results, axis=0).numpy() if results else np.zeros([0], np.float32)


def low_posterior_samples(candidates, log_aggregate_posterior, num_samples):
    """The `num_samples` candidates of lowest aggregate-posterior density (Rosca et al., algorithm 1).

    Args:
        candidates: [M, L] prior samples (for a decoupled prior: z = g^{-1}(z0), z0 ~ N(0, I); dpVAE section 4.1).
        log_aggregate_posterior: callable [M, L] -> [M] log q(z), e.g. `aggregate_posterior_log_density`.
        num_samples: int. How many to keep (at most M).

    Returns:
        (latents [num_samples, L] in increasing order of log q, their log q values).
    """
    candidates = np.asarray(candidates)
    if not 0 < num_samples <= len(candidates):
        raise ValueError(f"num_samples must be between 1 and the {len(candidates)} candidates. "
                         f"Received: num_samples={num_samples}")
    scores = np.asarray(log_aggregate_posterior(candidates))
    order = np.argsort(scores)[:num_samples]
    return candidates[order], scores[order]


def high_posterior_samples(posterior_samples, log_prior, num_samples):
    """The `num_samples` aggregate-posterior samples least likely under the prior (dpVAE section 4.1: latent leaks).

    Args:
        posterior_samples: [M, L] samples of q(z) (encoded data).
        log_prior: callable [M, L] -> [M]; for a decoupled prior the paper ranks by N(g(z); 0, I).
        num_samples: int.

    Returns:
        (latents [num_samples, L] in increasing order of prior density, their log-densities).
    """
    return low_posterior_samples(posterior_samples, log_prior, num_samples)


def linear_interpolation(start, end, steps):
    """`steps` points on the segment from `start` [L] to `end` [L], both included: [steps, L]
    (`tfvae.latent_paths.interpolate`, the SavedModel's)."""
    return _path(start, end, steps, spherical=False)


def spherical_interpolation(start, end, steps):
    """Spherical linear interpolation (slerp) from `start` to `end`, [steps, L]: keeps the norm profile that
    Gaussian latents have, where the linear path dips towards the origin (White 2016)."""
    return _path(start, end, steps, spherical=True)


def _path(start, end, steps, spherical):
    starts = np.repeat(np.asarray(start, np.float32)[None], steps, axis=0)
    ends = np.repeat(np.asarray(end, np.float32)[None], steps, axis=0)
    return latent_paths.interpolate(starts, ends, np.linspace(0.0, 1.0, steps), spherical).numpy()


def traversal(latent, dimension, scale, num_std=3.0, steps=7):
    """Copies of `latent` [L] whose `dimension` varies over +-num_std * scale around its value: [steps, L]
    (`tfvae.latent_paths.traverse`, the SavedModel's)."""
    latent = np.asarray(latent, np.float32)
    if not 0 <= dimension < len(latent):
        raise ValueError(f"dimension must index the {len(latent)} latent dimensions. Received: {dimension}")
    offsets = np.linspace(-num_std, num_std, steps) * scale
    return latent_paths.traverse(np.repeat(latent[None], steps, axis=0), np.full(steps, dimension), offsets).numpy()
