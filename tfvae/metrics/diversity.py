"""Sample diversity as 1 - MS-SSIM between random pairs of samples (Rosca et al. section 6; Odena et al. 2017).

`tf.image.ssim_multiscale` with its defaults (11 x 11 Gaussian window, 5 scales) needs images of at least 161 px
per side; the papers' data sets are 28-64 px. Smaller images use a 5 x 5 window with sigma 0.75 (half the default
window's sigma) and as many of the 5 standard scales as keep the window inside the smallest scale (28-32 px: 3;
8 px: 1, plain SSIM), with the standard scale weights renormalized. The protocol returned with the number says
which, so numbers are compared only between images of the same size.
"""
import numpy as np
import tensorflow as tf

STANDARD_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def ms_ssim_protocol(height, width):
    """(filter_size, filter_sigma, power_factors) for images of this size."""
    side = min(height, width)
    filter_size, sigma = (11, 1.5) if side >= 11 * 16 else (5, 0.75)
    if side < filter_size:
        raise ValueError(f"MS-SSIM needs images of at least {filter_size} px per side. Received: {height}x{width}")
    scales = 1
    while scales < 5 and side // 2 ** scales >= filter_size:
        scales += 1
    weights = np.asarray(STANDARD_WEIGHTS[:scales]) / np.sum(STANDARD_WEIGHTS[:scales])
    return filter_size, sigma, tuple(float(w) for w in weights)


def ms_ssim_diversity(images, num_pairs=1000, seed=0, batch_size=256):
    """1 - mean MS-SSIM over `num_pairs` random pairs of different images (higher = more diverse).

    Args:
        images: [N, H, W, C] in [0, 1], N >= 2.
        num_pairs: int. Pairs drawn with replacement. Defaults to 1000.
        seed: int. Seed of the pairing.

    Returns:
        dict with `diversity` (1 - mean MS-SSIM), `ms_ssim` (the mean), `standard_error` and `protocol`.
    """
    images = np.asarray(images, np.float32)
    if images.ndim != 4 or len(images) < 2:
        raise ValueError(f"images must be [N >= 2, H, W, C]. Received: shape {images.shape}")
    filter_size, sigma, weights = ms_ssim_protocol(*images.shape[1:3])
    rng = np.random.default_rng(seed)
    first = rng.integers(0, len(images), num_pairs)
    second = (first + rng.integers(1, len(images), num_pairs)) % len(images)  # never the same image
    values = []
    for start in range(0, num_pairs, batch_size):
        a, b = images[first[start:start + batch_size]], images[second[start:start + batch_size]]
        values.append(tf.image.ssim_multiscale(a, b, 1.0, power_factors=weights, filter_size=filter_size,
                                               filter_sigma=sigma).numpy())
    values = np.concatenate(values).astype(np.float64)
    return {"diversity": float(1.0 - values.mean()), "ms_ssim": float(values.mean()),
            "standard_error": float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else 0.0,
            "protocol": {"num_pairs": int(num_pairs), "filter_size": filter_size, "filter_sigma": sigma,
                         "power_factors": list(weights), "seed": int(seed)}}
