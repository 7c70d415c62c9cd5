"""Image preprocessing applied once when a data set is loaded: zero padding and resizing."""
import numpy as np
import tensorflow as tf

from tfvae.data.errors import DataError


def pad_to(images, size):
    """Zero-pads square images to `size` x `size` pixels, centred (the RAE paper pads 28 px MNIST to 32 px).

    Args:
        images: np.ndarray [N, H, W, C].
        size: int. Target height and width; must be at least H and W.

    Returns:
        np.ndarray [N, size, size, C] of the same dtype.
    """
    _, height, width, _ = images.shape
    if size < height or size < width:
        raise DataError(f"pad_to={size} is smaller than the images ({height}x{width}); expected a size at least as "
                        f"large, or use resize_to to shrink. Received: pad_to={size}")
    top, left = (size - height) // 2, (size - width) // 2
    return np.pad(images, ((0, 0), (top, size - height - top), (left, size - width - left), (0, 0)))


def resize_to(images, size, batch_size=4096):
    """Resizes images to `size` x `size` with bilinear interpolation (antialiased when shrinking).

    Args:
        images: np.ndarray [N, H, W, C], uint8 or float in [0, 1].
        size: int. Target height and width.
        batch_size: int. Images resized per TensorFlow call, to bound memory.

    Returns:
        np.ndarray [N, size, size, C], float32 in [0, 1].
    """
    if size <= 0:
        raise DataError(f"resize_to must be a positive number of pixels. Received: resize_to={size}")
    scale = 255.0 if images.dtype == np.uint8 else 1.0
    out = []
    for start in range(0, len(images), batch_size):
        chunk = tf.cast(images[start:start + batch_size], tf.float32) / scale
        out.append(tf.clip_by_value(tf.image.resize(chunk, (size, size), antialias=True), 0.0, 1.0).numpy())
    return np.concatenate(out, axis=0)
