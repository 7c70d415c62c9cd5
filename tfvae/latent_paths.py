"""Paths through latent space, one point per row: interpolations and traversals.

The evaluation report's figures and the SavedModel's `interpolate*` and `traverse*` endpoints call these same
functions. Every input has one row per output point, so row b depends on row b only (TF Serving may batch rows of
different requests together); a path of S points is S rows that share their end points.
"""
import tensorflow as tf

# Below this angle (radians) between the end points the spherical path is the straight one (sin(omega) ~ 0).
_MIN_ANGLE = 1e-6


def interpolate(start, end, t, spherical):
    """The point at fraction `t` of the way from `start` to `end`, per row.

    Math:
        linear:    (1 - t) a + t b
        spherical: (sin((1 - t) w) a + sin(t w) b) / sin(w),  cos w = <a, b> / (|a| |b|)   (slerp; White 2016:
                   keeps the norm profile of Gaussian draws, where the straight path dips towards the origin)

    Args:
        start, end: float [B, L].
        t: float [B]. 0 gives `start`, 1 gives `end`; values outside [0, 1] extrapolate.
        spherical: bool. Slerp (for Gaussian codes, in the generation space) or the straight segment (for codes of
            deterministic encoders).

    Returns:
        float [B, L].
    """
    start = tf.convert_to_tensor(start, tf.float32)
    end = tf.convert_to_tensor(end, tf.float32)
    t = tf.convert_to_tensor(t, tf.float32)[:, None]
    linear = (1.0 - t) * start + t * end
    if not spherical:
        return linear
    cosine = tf.reduce_sum(start * end, axis=-1, keepdims=True) / (
        tf.norm(start, axis=-1, keepdims=True) * tf.norm(end, axis=-1, keepdims=True) + 1e-12)
    omega = tf.acos(tf.clip_by_value(cosine, -1.0, 1.0))
    safe = tf.where(omega < _MIN_ANGLE, tf.ones_like(omega), omega)
    slerp = (tf.sin((1.0 - t) * safe) * start + tf.sin(t * safe) * end) / tf.sin(safe)
    return tf.where(omega < _MIN_ANGLE, linear, slerp)


def traverse(latents, dimension, offset):
    """`latents` with `offset` added to coordinate `dimension`, per row.

    Args:
        latents: float [B, L].
        dimension: int [B]. The coordinate to move, in [0, L).
        offset: float [B].

    Returns:
        float [B, L].
    """
    latents = tf.convert_to_tensor(latents, tf.float32)
    mask = tf.one_hot(tf.convert_to_tensor(dimension, tf.int32), tf.shape(latents)[-1], dtype=tf.float32)
    return latents + mask * tf.convert_to_tensor(offset, tf.float32)[:, None]
