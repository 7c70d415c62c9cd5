"""Float64 statistics of feature sets: streaming moments, the Frechet distance and the kernel inception distance.

Features come in as arrays (from any extractor); everything is accumulated in float64, because FID subtracts
large, nearly equal traces, and float32 accumulation over 10k x 2048 features loses several digits.
"""
import numpy as np


class RunningMoments:
    """Mean and covariance of feature batches accumulated in float64 (sums of x and of x x^T).

    Args:
        dim: int. Feature dimension.
    """

    def __init__(self, dim):
        self.dim = int(dim)
        self.count = 0
        self._sum = np.zeros(self.dim, np.float64)
        self._outer = np.zeros((self.dim, self.dim), np.float64)

    def update(self, features):
        """Adds a batch [B, dim] of features."""
        features = np.asarray(features, np.float64)
        if features.ndim != 2 or features.shape[1] != self.dim:
            raise ValueError(f"features must have shape [batch, {self.dim}]. Received: {features.shape}")
        if not np.isfinite(features).all():
            raise ValueError("features contain NaN or infinite values; the extractor or the samples are broken.")
        self.count += len(features)
        self._sum += features.sum(axis=0)
        self._outer += features.T @ features

    def result(self):
        """Returns (mean [dim], covariance [dim, dim]) with the unbiased (N - 1) normalization."""
        if self.count < 2:
            raise ValueError(f"At least 2 feature vectors are needed for a covariance. Received: {self.count}")
        mean = self._sum / self.count
        covariance = (self._outer - self.count * np.outer(mean, mean)) / (self.count - 1)
        return mean, covariance


def symmetric_sqrt(matrix):
    """The positive semi-definite square root of a symmetric matrix (through its eigendecomposition)."""
    matrix = np.asarray(matrix, np.float64)
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2.0)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def frechet_distance(mean_a, covariance_a, mean_b, covariance_b, root_a=None):
    """Frechet distance between N(mean_a, covariance_a) and N(mean_b, covariance_b) (FID when the moments are
    Inception pool_3 features; Heusel et al. 2017, eq. 6).

    Math:
        d^2 = ||m_a - m_b||^2 + tr(C_a) + tr(C_b) - 2 tr( (C_a^1/2 C_b C_a^1/2)^1/2 )
        The trace of the matrix square root is taken through the symmetric eigendecomposition of
        C_a^1/2 C_b C_a^1/2 (positive semi-definite), which is stable where scipy's sqrtm on C_a C_b returns complex
        round-off for near-singular covariances.

    Args:
        root_a: `symmetric_sqrt(covariance_a)` when it is known: the distance is symmetric in a and b, so a caller
            comparing many sets with one reference passes the reference as a with its root computed once (one
            d x d eigendecomposition per set instead of two).

    Returns:
        float.
    """
    mean_a, mean_b = np.asarray(mean_a, np.float64), np.asarray(mean_b, np.float64)
    covariance_a, covariance_b = np.asarray(covariance_a, np.float64), np.asarray(covariance_b, np.float64)
    root_a = symmetric_sqrt(covariance_a) if root_a is None else np.asarray(root_a, np.float64)
    product = root_a @ covariance_b @ root_a
    trace_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((product + product.T) / 2.0), 0.0, None)).sum()
    distance = (np.sum(np.square(mean_a - mean_b)) + np.trace(covariance_a) + np.trace(covariance_b)
                - 2.0 * trace_sqrt)
    return float(max(distance, 0.0))


def _polynomial_kernel(x, y):
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def _linear_kernel(x, y):
    return x @ y.T


KID_KERNELS = {"polynomial": _polynomial_kernel, "linear": _linear_kernel}


def kernel_inception_distance(features_a, features_b, num_subsets=100, subset_size=1000, kernel="polynomial",
                              seed=0):
    """Kernel inception distance: the unbiased MMD^2 with the cubic polynomial kernel k(x, y) = (x.y / d + 1)^3,
    averaged over random subsets (Binkowski et al. 2018), with its standard error over the subsets.

    Args:
        features_a, features_b: arrays [N_a, d], [N_b, d].
        num_subsets: int. Defaults to 100.
        subset_size: int. Drawn without replacement from each set; capped at the smaller set. Defaults to 1000.
        kernel: str. "polynomial" (KID) or "linear" (for which E[MMD^2] = ||m_a - m_b||^2). Defaults to
            "polynomial".
        seed: int. Seed of the subset draws. Defaults to 0.

    Returns:
        (mean, standard error) of the subset estimates, floats.
    """
    if kernel not in KID_KERNELS:
        raise ValueError(f"kernel must be one of {sorted(KID_KERNELS)}. Received: {kernel!r}")
    a, b = np.asarray(features_a, np.float64), np.asarray(features_b, np.float64)
    size = min(subset_size, len(a), len(b))
    if size < 2:
        raise ValueError(f"KID needs at least 2 features in each set. Received: {len(a)} and {len(b)}")
    rng = np.random.default_rng(seed)
    k = KID_KERNELS[kernel]
    estimates = []
    for _ in range(num_subsets):
        x = a[rng.choice(len(a), size, replace=False)]
        y = b[rng.choice(len(b), size, replace=False)]
        kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
        within = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (size * (size - 1))
        estimates.append(within - 2.0 * kxy.mean())
    estimates = np.asarray(estimates)
    return float(estimates.mean()), float(estimates.std(ddof=1) / np.sqrt(len(estimates)) if num_subsets > 1 else 0.0)
