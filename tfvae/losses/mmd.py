"""Maximum mean discrepancy between two samples, with the kernels of InfoVAE and WAE.

The estimator is the unbiased U-statistic (Gretton et al. 2012, eq. 3): it is zero in expectation when both samples
come from the same distribution, and can be slightly negative.
"""
import tensorflow as tf

# WAE-MMD's multi-scale IMQ kernel sums C = 2 * latent_dim * s for these scales s (Tolstikhin et al., code).
WAE_SCALES = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)


def squared_distances(x, y):
    """Pairwise squared Euclidean distances [N, M] between rows of x [N, L] and y [M, L]."""
    xx = tf.reduce_sum(tf.square(x), axis=1, keepdims=True)
    yy = tf.reduce_sum(tf.square(y), axis=1, keepdims=True)
    return tf.maximum(xx - 2.0 * tf.matmul(x, y, transpose_b=True) + tf.transpose(yy), 0.0)


def rbf_kernel(x, y, bandwidth=None):
    """Gaussian kernel exp(-||x - y||^2 / (2 h^2)).

    Args:
        bandwidth: float or None. h; None uses h^2 = latent_dim, so typical distances under N(0, I) (about
            2 * latent_dim) give kernel values of order exp(-1). Defaults to None.
    """
    h2 = float(bandwidth) ** 2 if bandwidth is not None else tf.cast(tf.shape(x)[1], x.dtype)
    return tf.exp(-squared_distances(x, y) / (2.0 * h2))


def imq_kernel(x, y, scales=WAE_SCALES, latent_dim=None):
    """Multi-scale inverse multiquadratic kernel sum_s C_s / (C_s + ||x - y||^2), C_s = 2 * latent_dim * s.

    The kernel of WAE-MMD (Tolstikhin et al. 2018, section 4); its heavy tails keep gradients alive for distant
    points, where the Gaussian kernel's vanish.
    """
    latent_dim = tf.cast(latent_dim or tf.shape(x)[1], x.dtype)
    distances = squared_distances(x, y)
    return tf.add_n([2.0 * latent_dim * s / (2.0 * latent_dim * s + distances) for s in scales])


KERNELS = {"rbf": rbf_kernel, "imq": imq_kernel}


def mmd(x, y, kernel="rbf", **kernel_kwargs):
    """Unbiased estimate of MMD^2 between samples x [N, L] and y [M, L] (N, M >= 2). Returns a scalar.

    `kernel_kwargs` go to the kernel (`bandwidth` for rbf, `scales` for imq).

    Math:
        MMD^2 = 1/(N(N-1)) sum_{i != j} k(x_i, x_j) + 1/(M(M-1)) sum_{i != j} k(y_i, y_j)
                - 2/(NM) sum_{i, j} k(x_i, y_j)
    """
    if kernel not in KERNELS:
        raise ValueError(f"Unknown MMD kernel {kernel!r}; expected one of {sorted(KERNELS)}. Received: {kernel!r}")
    def k(a, b):
        return KERNELS[kernel](a, b, **kernel_kwargs)

    n = tf.cast(tf.shape(x)[0], x.dtype)
    m = tf.cast(tf.shape(y)[0], x.dtype)
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    within_x = (tf.reduce_sum(kxx) - tf.linalg.trace(kxx)) / (n * (n - 1.0))
    within_y = (tf.reduce_sum(kyy) - tf.linalg.trace(kyy)) / (m * (m - 1.0))
    return within_x + within_y - 2.0 * tf.reduce_mean(kxy)
