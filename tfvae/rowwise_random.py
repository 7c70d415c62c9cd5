"""Per-row stateless random numbers: row b of the output depends on seeds[b] only, computed for all rows at once.

The exported `sample` endpoints take one seed per row so that TF Serving's request batching never changes what a
client gets. `tf.random.stateless_*` take a single seed per call, which forces a per-row `tf.map_fn` loop whose
overhead (several microseconds per row, and far more around a TFP distribution's sampler) showed up as 20-30% of
the endpoint's time. Here the counter-based generator Philox-4x32-10 [1] runs vectorized over rows: the row's seed
is the key, the (block, stream) pair the counter, so every row gets an independent stream without a loop. The
random bits of a row are exact whatever the batch; the float transforms (log, cos) may round the last bit differently
for another batch size, as vectorized math kernels (and the decoder's matrix products) do.

Math:
    words(b, j, s) = Philox4x32-10(key = seeds[b], counter = (j, s, 0, 0))  (4 uint32 per block j, stream s)
    uniform = (top 24 bits + 0.5) / 2^24 in (0, 1);  normal: Box-Muller on pairs of uniforms.

References:
    [1] Salmon, Moraes, Dror, Shaw. Parallel random numbers: as easy as 1, 2, 3. SC 2011 (Philox, its test vectors).
"""
import contextlib
import math
import threading

import tensorflow as tf

_MULTIPLIERS = (0xD2511F53, 0xCD9E8D57)
_WEYL = (0x9E3779B9, 0xBB67AE85)
_ROUNDS = 10


def _mulhilo(a, multiplier):
    product = tf.cast(a, tf.uint64) * tf.constant(multiplier, tf.uint64)
    high = tf.cast(tf.bitwise.right_shift(product, tf.constant(32, tf.uint64)), tf.uint32)
    low = tf.cast(tf.bitwise.bitwise_and(product, tf.constant(0xFFFFFFFF, tf.uint64)), tf.uint32)
    return high, low


def _low_half(word):
    """The low 16 bits of uint32 words, with the ops TFLite's builtin kernels have: the wrapping multiply by 2^16
    drops the high half, the shift brings the low half back down."""
    return tf.bitwise.right_shift(word * tf.constant(1 << 16, tf.uint32), tf.constant(16, tf.uint32))


def _mulhilo_32bit(a, multiplier):
    """`_mulhilo` in uint32 arithmetic only (multiply modulo 2^32, add, right shift): the same two words.

    Math (16-bit halves a = a1 2^16 + a0, m = m1 2^16 + m0; all partial sums below 2^32):
        a m = a1 m1 2^32 + (a1 m0 + a0 m1) 2^16 + a0 m0
        carry = (a0 m0 >> 16) + low16(a0 m1) + low16(a1 m0)             < 3 * 2^16
        high  = a1 m1 + (a0 m1 >> 16) + (a1 m0 >> 16) + (carry >> 16)
        low   = a m mod 2^32                                             (the wrapping multiply)
    """
    sixteen = tf.constant(16, tf.uint32)
    high_a, low_a = tf.bitwise.right_shift(a, sixteen), _low_half(a)
    high_m = tf.constant(multiplier >> 16, tf.uint32)
    low_m = tf.constant(multiplier & 0xFFFF, tf.uint32)
    low_low, low_high, high_low = low_a * low_m, low_a * high_m, high_a * low_m
    carry = tf.bitwise.right_shift(low_low, sixteen) + _low_half(low_high) + _low_half(high_low)
    high = (high_a * high_m + tf.bitwise.right_shift(low_high, sixteen) + tf.bitwise.right_shift(high_low, sixteen)
            + tf.bitwise.right_shift(carry, sixteen))
    return high, a * tf.constant(multiplier, tf.uint32)


_THIRTY_TWO_BIT = threading.local()  # `.active`: whether `philox4x32` traces the 32-bit rounds in this thread


@contextlib.contextmanager
def thirty_two_bit_integer_ops():
    """Functions traced inside this context draw their numbers with Philox rounds written in 32-bit integer ops only
    (`_mulhilo_32bit`): the same bits, about twice the ops.

    TensorFlow Lite's builtin kernels have no 64-bit unsigned multiply or shift and no bitwise and, so the plain
    rounds convert only with the TensorFlow ops fallback (`SELECT_TF_OPS`, the Flex delegate: several MB more
    runtime on a device, and absent from the TFLite interpreter of TensorFlow's pip package). The TFLite export
    (`tfvae.export.tflite`) traces inside this context; everything else keeps the shorter graph. The choice is made
    when a function is traced: a function traced before keeps its rounds.
    """
    previous = getattr(_THIRTY_TWO_BIT, "active", False)
    _THIRTY_TWO_BIT.active = True
    try:
        yield
    finally:
        _THIRTY_TWO_BIT.active = previous


def philox4x32(counter, key):
    """Philox-4x32-10 on broadcastable uint32 tensors: counter (c0, c1, c2, c3), key (k0, k1) -> 4 uint32 words."""
    c0, c1, c2, c3 = counter
    k0, k1 = key
    rounds = _philox_rounds_32bit if getattr(_THIRTY_TWO_BIT, "active", False) else _philox_rounds
    return rounds(c0, c1, c2, c3, k0, k1)


_WORD = tf.TensorSpec(None, tf.uint32)  # any shape: the rounds are elementwise and broadcast


def _rounds(mulhilo, c0, c1, c2, c3, k0, k1):
    for round_index in range(_ROUNDS):
        if round_index:
            k0 = k0 + tf.constant(_WEYL[0], tf.uint32)
            k1 = k1 + tf.constant(_WEYL[1], tf.uint32)
        high0, low0 = mulhilo(c0, _MULTIPLIERS[0])
        high1, low1 = mulhilo(c2, _MULTIPLIERS[1])
        c0, c1, c2, c3 = (tf.bitwise.bitwise_xor(tf.bitwise.bitwise_xor(high1, c1), k0), low1,
                          tf.bitwise.bitwise_xor(tf.bitwise.bitwise_xor(high0, c3), k1), low0)
    return c0, c1, c2, c3


# One traced graph function per process, called (not inlined) by every function that draws numbers: the ten
# unrolled rounds are ~250 ops, and tracing them again inside each exported endpoint was a third of an export's time.
@tf.function(input_signature=[_WORD] * 6, autograph=False)
def _philox_rounds(c0, c1, c2, c3, k0, k1):
    return _rounds(_mulhilo, c0, c1, c2, c3, k0, k1)


@tf.function(input_signature=[_WORD] * 6, autograph=False)
def _philox_rounds_32bit(c0, c1, c2, c3, k0, k1):
    return _rounds(_mulhilo_32bit, c0, c1, c2, c3, k0, k1)


def _words(seeds, count, stream, index=0):
    """uint32 [B, count] random words; row b depends on seeds[b] only (`index`: a further counter word, which may
    be a tensor, e.g. the step of a loop)."""
    seeds = tf.convert_to_tensor(seeds)
    if seeds.dtype not in (tf.int32, tf.int64) or seeds.shape.rank != 2 or seeds.shape[-1] not in (None, 2):
        raise ValueError(f"seeds must be an int32 tensor of shape [B, 2]. Received: {seeds.dtype.name} of shape "
                         f"{seeds.shape}")
    keys = tf.bitcast(tf.cast(seeds, tf.int32), tf.uint32)  # [B, 2]
    blocks = -(-count // 4)
    rows = tf.shape(seeds)[0]
    block_index = tf.cast(tf.broadcast_to(tf.range(blocks)[None, :], [rows, blocks]), tf.uint32)
    zeros = tf.zeros_like(block_index)
    index = tf.cast(tf.convert_to_tensor(index), tf.uint32)
    counter = (block_index, zeros + tf.constant(stream, tf.uint32), zeros + index, zeros)
    words = philox4x32(counter, (keys[:, :1], keys[:, 1:]))
    return tf.reshape(tf.stack(words, axis=-1), [rows, 4 * blocks])[:, :count]


def uniform(seeds, dim, stream=0, index=0):
    """float32 [B, dim] uniform in the open interval (0, 1); row b depends on seeds[b] only.

    Args:
        seeds: int32 [B, 2]. One stateless seed per row.
        dim: int. Numbers per row.
        stream: int. Independent streams of the same seeds (e.g. 0 for a Gaussian draw, 1 for a component choice).
        index: int or int32 scalar tensor. Independent draws within a stream (e.g. the k-th importance sample).
    """
    return _unit_interval(_words(seeds, int(dim), int(stream), index))


def _unit_interval(words):
    """uint32 words -> float32 in the open interval (0, 1): (top 24 bits + 0.5) / 2^24."""
    top = tf.cast(tf.bitwise.right_shift(words, tf.constant(8, tf.uint32)), tf.float32)
    return (top + 0.5) * (1.0 / 16777216.0)


def _box_muller(first, second, axis):
    """Standard normals from two equal-sized halves of uniforms, concatenated along `axis`."""
    radius = tf.sqrt(-2.0 * tf.math.log(first))
    angle = (2.0 * math.pi) * second
    return tf.concat([radius * tf.cos(angle), radius * tf.sin(angle)], axis=axis)


def normal(seeds, dim, stream=0, index=0):
    """float32 [B, dim] standard normal; row b depends on seeds[b] only (Box-Muller on `uniform`)."""
    dim = int(dim)
    pairs = -(-dim // 2)
    u = uniform(seeds, 2 * pairs, stream, index)
    return _box_muller(u[:, :pairs], u[:, pairs:], axis=1)[:, :dim]


# The rounds as one XLA kernel for the training noise: ten rounds of integer ops are ~250 small ops that cost the
# TensorFlow executor about 0.1 ms per draw, as much as a small model's whole step (exports keep the plain graph
# function: XLA-compiled endpoints do not serve on TF Serving GPU).
_philox_rounds_compiled = tf.function(_philox_rounds.python_function, input_signature=[_WORD] * 6, autograph=False,
                                      jit_compile=True)


def _stream_words(seed, count, stream):
    """uint32 [count] words of one stateless `seed` [2] (Philox with key `seed`, counter (block, stream, 0, 0));
    `count` may be a tensor (dynamic batch sizes)."""
    key = tf.bitcast(tf.cast(tf.reshape(tf.convert_to_tensor(seed), [2]), tf.int32), tf.uint32)
    blocks = (count + 3) // 4
    block_index = tf.cast(tf.range(blocks), tf.uint32)
    zeros = tf.zeros_like(block_index)
    words = _philox_rounds_compiled(block_index, zeros + tf.constant(stream, tf.uint32), zeros, zeros,
                                    key[0] + zeros, key[1] + zeros)
    return tf.reshape(tf.stack(words, axis=-1), [-1])[:count]


def stream_uniform(shape, seed, stream=0):
    """float32 uniform in (0, 1) of `shape` from one stateless `seed` [2].

    Unlike `tf.random.stateless_uniform`, whose Philox stream under XLA differs from its TensorFlow kernel's, the
    same numbers with and without `jit_compile` (and on any device), up to the last bit of the float transform: the
    training noise of the models, so that XLA and plain steps compute the same update."""
    shape = tf.convert_to_tensor(shape, tf.int32)
    return tf.reshape(_unit_interval(_stream_words(seed, tf.reduce_prod(shape), int(stream))), shape)


def stream_normal(shape, seed, stream=0):
    """float32 standard normal of `shape` from one stateless `seed` [2] (Box-Muller on `stream_uniform`); the same
    numbers with and without XLA, as `stream_uniform`."""
    shape = tf.convert_to_tensor(shape, tf.int32)
    count = tf.reduce_prod(shape)
    pairs = (count + 1) // 2
    u = stream_uniform(tf.reshape(2 * pairs, [1]), seed, stream)
    return tf.reshape(_box_muller(u[:pairs], u[pairs:], axis=0)[:count], shape)
