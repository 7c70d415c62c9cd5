"""Image grids and PNG files (TensorFlow's PNG encoder; no imaging library needed)."""
import math
import os
import tempfile

import numpy as np
import tensorflow as tf


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
    """Writes one image [H, W, C] in [0, 1] as an 8-bit PNG, atomically."""
    data = tf.io.encode_png(tf.cast(tf.round(np.clip(image, 0.0, 1.0) * 255.0), tf.uint8)).numpy()
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".png")
    with os.fdopen(handle, "wb") as f:
        f.write(data)
    os.replace(temporary, path)
