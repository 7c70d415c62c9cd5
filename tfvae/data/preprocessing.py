"""Image preprocessing applied when a data set is loaded: zero padding and resizing, of arrays in memory at once and
of streamed images one at a time (the same arithmetic)."""
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
    (top, bottom), (left, right) = padding(height, width, size)
    return np.pad(images, ((0, 0), (top, bottom), (left, right), (0, 0)))


def pad_image(image, size):
    """`pad_to` of one image tensor [H, W, C] of static shape (a streamed split's preprocessing)."""
    height, width, _ = image.shape
    return tf.pad(image, [*padding(height, width, size), (0, 0)])


def padding(height, width, size):
    """((top, bottom), (left, right)) zero rows and columns that centre a height x width image in size x size."""
    if size < height or size < width:
        raise DataError(f"pad_to={size} is smaller than the images ({height}x{width}); expected a size at least as "
                        f"large, or use resize_to to shrink. Received: pad_to={size}")
    top, left = (size - height) // 2, (size - width) // 2
    return (top, size - height - top), (left, size - width - left)


def resize_to(images, size, batch_size=4096):
    """Resizes images to `size` x `size` with bilinear interpolation (antialiased when shrinking).

    Args:
        images: np.ndarray [N, H, W, C], uint8 or float in [0, 1].
        size: int. Target height and width.
        batch_size: int. Images resized per TensorFlow call, to bound memory.

    Returns:
        np.ndarray [N, size, size, C], float32 in [0, 1].
    """
    check_size(size)
    return np.concatenate([resize_image(images[start:start + batch_size], size).numpy()
                           for start in range(0, len(images), batch_size)], axis=0)


def resize_image(images, size):
    """`resize_to` of an image tensor [H, W, C] or a batch [N, H, W, C], uint8 or float in [0, 1]: float32 in
    [0, 1]."""
    check_size(size)
    scale = 255.0 if tf.as_dtype(images.dtype) == tf.uint8 else 1.0
    resized = tf.image.resize(tf.cast(images, tf.float32) / scale, (size, size), antialias=True)
    return tf.clip_by_value(resized, 0.0, 1.0)


def check_size(size):
    """Raises DataError unless `size`, a resize_to value, is a positive number of pixels."""
    if size <= 0:
        raise DataError(f"resize_to must be a positive number of pixels. Received: resize_to={size}")
