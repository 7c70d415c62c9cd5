"""`tfvae.images`: the per-image stretch of Dai & Wipf's FID code against its closed form."""
import numpy as np

from tfvae import images


def test_stretch_each_maps_every_image_onto_zero_one_on_its_own():
    rng = np.random.default_rng(0)
    x = rng.uniform(0.2, 0.6, size=(3, 4, 4, 3)).astype(np.float32)
    x[1] *= 0.1  # another range: each image is stretched by its own min and max
    x[2] = 0.5  # one value: left as it is (the authors' code would give NaN)
    stretched = images.stretch_each(x)
    for i in (0, 1):
        expected = (x[i] - x[i].min()) / (x[i].max() - x[i].min())
        np.testing.assert_allclose(stretched[i], expected, rtol=1e-6)
        assert stretched[i].min() == 0.0 and stretched[i].max() == 1.0
    np.testing.assert_array_equal(stretched[2], x[2])
    assert stretched.dtype == np.float32 and stretched.shape == x.shape
