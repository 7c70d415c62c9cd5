"""Per-row stateless random numbers: the Philox test vectors, row independence, and the distributions."""
import numpy as np
import pytest
import tensorflow as tf
from scipy import stats

from tests import goldens
from tfvae import registry, rowwise_random
from tfvae.density import PriorSampler


@pytest.mark.parametrize("counter, key, expected", [
    # The known-answer vectors of Philox4x32-10 published with Random123 (kat_vectors, philox4x32 R=10).
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
])
@pytest.mark.parametrize("thirty_two_bit", [False, True], ids=["64-bit products", "32-bit ops (TFLite)"])
def test_philox_known_answers(counter, key, expected, thirty_two_bit):
    def words(values):
        return tuple(tf.constant([v], tf.uint32) for v in values)

    def draw():
        return rowwise_random.philox4x32(words(counter), words(key))

    if thirty_two_bit:  # the choice is made when a function is traced: trace inside the context
        with rowwise_random.thirty_two_bit_integer_ops():
            draw = tf.function(draw).get_concrete_function()
    assert tuple(int(w.numpy()[0]) for w in draw()) == expected


def test_thirty_two_bit_rounds_give_the_same_words():
    """The 32-bit formulation of the rounds (for TFLite) against the 64-bit products on random words, including
    the extremes of every 16-bit half, and its 32x32-bit products against NumPy's 64-bit ones."""
    rng = np.random.default_rng(0)
    edges = np.array([0, 1, 0xFFFF, 0x10000, 0xFFFF0000, 0xFFFFFFFF, 0x7FFFFFFF, 0x80000000], np.uint32)
    columns = [np.concatenate([edges, rng.integers(0, 2 ** 32, 4000, dtype=np.uint64).astype(np.uint32)])
               for _ in range(6)]
    words = [tf.constant(rng.permutation(column) if i else column) for i, column in enumerate(columns)]

    def draw(*w):
        return rowwise_random.philox4x32(w[:4], w[4:])

    with rowwise_random.thirty_two_bit_integer_ops():
        thirty_two_bit = tf.function(draw).get_concrete_function(*words)
    plain = tf.function(draw).get_concrete_function(*words)
    for got, want in zip(thirty_two_bit(*words), plain(*words)):
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    a = columns[0].astype(np.uint64)
    for multiplier in (0xD2511F53, 0xCD9E8D57, 0xFFFFFFFF, 0x10001, 1):
        high, low = rowwise_random._mulhilo_32bit(words[0], multiplier)
        np.testing.assert_array_equal(high.numpy(), (a * np.uint64(multiplier)) >> np.uint64(32))
        np.testing.assert_array_equal(low.numpy(), (a * np.uint64(multiplier)) & np.uint64(0xFFFFFFFF))


def test_rows_depend_on_their_own_seed_only():
    seeds = tf.constant([[1, 2], [3, 4], [-5, 2 ** 31 - 1], [3, 4]], tf.int32)
    np.testing.assert_array_equal(rowwise_random.uniform(seeds[2:3], 7).numpy()[0],
                                  rowwise_random.uniform(seeds, 7).numpy()[2])  # the random bits are exact
    together = rowwise_random.normal(seeds, 7).numpy()
    np.testing.assert_array_equal(together[1], together[3])
    # Vectorized log/cos kernels may round the last bit differently for another batch size.
    np.testing.assert_allclose(rowwise_random.normal(seeds[2:3], 7).numpy()[0], together[2], rtol=1e-6, atol=1e-7)
    assert not np.array_equal(together[0], together[1])
    first_streams = rowwise_random.uniform(seeds, 5, stream=0).numpy()
    assert not np.allclose(first_streams, rowwise_random.uniform(seeds, 5, stream=1).numpy())
    # A longer row extends a shorter one: dim never reshuffles the numbers already drawn.
    np.testing.assert_array_equal(rowwise_random.uniform(seeds, 9).numpy()[:, :5], first_streams)


def test_uniform_and_normal_distributions():
    seeds = tf.stack([tf.range(20000), tf.fill([20000], 9)], axis=1)
    u = rowwise_random.uniform(seeds, 3).numpy()
    assert 0.0 < u.min() and u.max() < 1.0
    assert stats.kstest(u.ravel(), "uniform").pvalue > 1e-3
    z = rowwise_random.normal(seeds, 5).numpy()
    assert stats.kstest(z.ravel(), "norm").pvalue > 1e-3
    np.testing.assert_allclose(np.cov(z, rowvar=False), np.eye(5), atol=0.03)  # independent coordinates


def test_bad_seeds_are_refused():
    with pytest.raises(ValueError, match=r"int32 tensor of shape \[B, 2\]"):
        rowwise_random.normal(tf.zeros([3, 3], tf.int32), 2)
    with pytest.raises(ValueError, match=r"int32 tensor of shape \[B, 2\]"):
        rowwise_random.normal(tf.zeros([3, 2], tf.float32), 2)


# Every density golden fitted to latents, and the prior sampler over every prior golden.
SAMPLERS = ([f"density:{name}" for name in sorted(goldens.DENSITY_GOLDENS)
             if registry.get("density", name).fitted_to_latents]
            + [f"prior:{name}" for name in sorted(goldens.PRIOR_GOLDENS)])


def _fitted_sampler(spec, rng):
    kind, name = spec.split(":")
    if kind == "prior":
        return PriorSampler(goldens.build_prior_golden(name))
    sampler = goldens.build_density_golden(name)
    centers = np.array([[-3.0, 0.0, 1.0], [3.0, 1.0, -1.0]])
    sampler.fit(centers[rng.integers(0, 2, 3000)] + rng.normal(size=(3000, 3)) * np.array([0.5, 1.0, 0.3]))
    return sampler


@pytest.mark.parametrize("spec", SAMPLERS)
def test_every_sampler_draws_per_row_what_it_draws_in_bulk(spec, rng):
    """sample_from_seeds (vectorized, per-row) and sample (TFP, one seed) are two draws of one distribution."""
    seeds = tf.stack([tf.range(6000), tf.fill([6000], 3)], axis=1)
    sampler = _fitted_sampler(spec, rng)
    per_row = sampler.sample_from_seeds(seeds).numpy()
    bulk = sampler.sample(6000, seed=[5, 6]).numpy()
    scale = bulk.std(axis=0)
    np.testing.assert_array_less(np.abs(per_row.mean(0) - bulk.mean(0)), 0.1 * scale + 1e-3)
    np.testing.assert_allclose(per_row.std(0), scale, rtol=0.1)
    for dim in range(3):  # the marginals agree in shape too (a two-sample Kolmogorov-Smirnov test)
        assert stats.ks_2samp(per_row[:, dim], bulk[:, dim]).pvalue > 1e-4, dim
    alone = sampler.sample_from_seeds(seeds[7:8]).numpy()[0]
    np.testing.assert_allclose(alone, per_row[7], rtol=1e-5, atol=1e-6)


def test_stream_draws_are_standard_and_the_same_under_xla():
    """`stream_normal` / `stream_uniform` (the models' training noise): right moments and marginals, any shape, a
    new stream per seed and stream id, and the same numbers in a plain and an XLA-compiled function, which
    `tf.random.stateless_normal` does not give (XLA's Philox stream differs from the TensorFlow kernel's)."""
    seed = tf.constant([7, 11], tf.int64)
    normal = rowwise_random.stream_normal([1000, 7], seed).numpy()
    assert normal.shape == (1000, 7)
    assert abs(normal.mean()) < 0.05 and abs(normal.std() - 1) < 0.05
    assert stats.kstest(normal.ravel(), "norm").pvalue > 1e-4
    uniform = rowwise_random.stream_uniform([5001], seed).numpy()
    assert 0 < uniform.min() and uniform.max() < 1 and stats.kstest(uniform, "uniform").pvalue > 1e-4
    assert not np.allclose(rowwise_random.stream_normal([4], [7, 12]), rowwise_random.stream_normal([4], seed))
    assert not np.allclose(rowwise_random.stream_normal([4], seed, stream=1), rowwise_random.stream_normal([4], seed))
    # The numbers depend on the count, not the shape: a [3, 5] draw is the [15] draw reshaped.
    np.testing.assert_array_equal(rowwise_random.stream_normal([3, 5], seed).numpy().ravel(),
                                  rowwise_random.stream_normal([15], seed).numpy())

    def draw(rows):
        return rowwise_random.stream_normal([rows, 7], seed), rowwise_random.stream_uniform([rows, 1, 1], seed)

    for plain, compiled in zip(draw(1000), tf.function(draw, jit_compile=True)(tf.constant(1000))):
        np.testing.assert_allclose(compiled, plain, rtol=1e-5, atol=1e-6)
