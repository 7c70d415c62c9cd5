"""Image grids and PNG files (TensorFlow's PNG encoder; no imaging library needed).

Used by the training loop, evaluation, the jobs and the serving client alike.
"""
import math

import numpy as np
import tensorflow as tf

from tfvae.files import atomic_write


def grid(images, columns=None, padding=1):
    """Tiles images [N, H, W, C] in [0, 1] into one image [rows*(H+p)+p, columns*(W+p)+p, C] with white gaps."""
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4:
        raise ValueError(f"grid expects images of shape [N, H, W, C]. Received: shape {images.shape}")
    count, height, width, channels = images.shape
    columns = columns or max(1, int(math.ceil(math.sqrt(count))))
    rows = int(math.ceil(count / columns))
    canvas = np.ones((rows * (height + padding) + padding, columns * (width + padding) + padding, channels),
                     np.float32)
    for index, image in enumerate(np.clip(images, 0.0, 1.0)):
        row, column = divmod(index, columns)
        top, left = padding + row * (height + padding), padding + column * (width + padding)
        canvas[top:top + height, left:left + width] = image
    return canvas


def stretch_each(images):
    """Each image [N, H, W, C] stretched to span [0, 1]: (x - min) / (max - min) over its own pixels and channels.

    Dai & Wipf's FID code applies this to every generated image (not to the real ones) before the Inception features
    of the two-stage VAE paper's tables. An image of one value, which that code turns into NaN, is left as it is.
    """
    images = np.asarray(images, dtype=np.float32)
    axes = tuple(range(1, images.ndim))
    low, high = images.min(axis=axes, keepdims=True), images.max(axis=axes, keepdims=True)
    span = high - low
    return np.where(span > 0, (images - low) / np.where(span > 0, span, 1.0), images).astype(np.float32)


def scatter(points, size=256, margin=0.1):
    """Rasterizes 2-D points into a grey image [size, size, 1] (dark = many points), for point data sets."""
    points = np.asarray(points, dtype=np.float64)[:, :2]
    low, high = points.min(axis=0), points.max(axis=0)
    span = np.maximum(high - low, 1e-9)
    scaled = (points - low) / span * (1 - 2 * margin) + margin
    pixels = np.clip((scaled * (size - 1)).round().astype(int), 0, size - 1)
    counts = np.zeros((size, size), np.float32)
    np.add.at(counts, (size - 1 - pixels[:, 1], pixels[:, 0]), 1.0)
    return (1.0 - np.minimum(counts / max(1.0, np.percentile(counts[counts > 0], 90)), 1.0))[..., None]


def upscale(image, factor):
    """Nearest-neighbour enlargement of one image [H, W, C] so small images (8x8 digits) stay visible."""
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


def write_png(path, image):
    """Writes one image [H, W, C] in [0, 1] as an 8-bit PNG, atomically; returns `path`."""
    return atomic_write(path, tf.io.encode_png(tf.cast(tf.round(np.clip(image, 0.0, 1.0) * 255.0), tf.uint8)).numpy())


def picture(images, columns=8, min_size=256):
    """One picture of a set: a grid of images [N, H, W, C] enlarged to about `min_size` pixels, or for points
    [N, D] a scatter plot of the first two coordinates."""
    images = np.asarray(images)
    if images.ndim == 2:
        return scatter(images, size=min_size)
    tiled = grid(images, columns=columns)
    return upscale(tiled, max(1, min_size // tiled.shape[0]))


def write_picture(path, images, columns=8, min_size=256):
    """Writes `picture(images)` as a PNG at `path`, atomically; returns `path`."""
    return write_png(path, picture(images, columns=columns, min_size=min_size))
