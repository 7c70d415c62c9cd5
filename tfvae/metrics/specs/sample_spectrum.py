"""Singular-value spectra of latent sample matrices beside an i.i.d. N(0, I) matrix (two-stage VAE paper, figure 2)."""
import numpy as np

from tfvae import registry
from tfvae.metrics.metric import LATENTS, Measurement, Metric
from tfvae.metrics.specs._latent_protocol import GENERATION_SPACES, latent_protocol, latent_spaces


def spectrum(samples):
    """Singular values of the (uncentered) sample matrix [N, L] divided by sqrt(N), descending: all near 1 for
    N(0, I) samples when N >> L."""
    samples = np.asarray(samples, np.float64)
    return np.linalg.svd(samples, compute_uv=False) / np.sqrt(len(samples))


@registry.register("metric", "sample_spectrum")
class SampleSpectrum(Metric):
    """How far the spectrum of a latent sample matrix is from that of a standard normal matrix of the same shape.

    The two-stage VAE paper (figure 2) plots the singular values of samples Z ~ q(z) of the first stage and
    U ~ q(u) of the second: the second is much closer to the spectrum of an i.i.d. N(0, I) matrix. The number
    reported per space is the root mean square of log(s_i / s_i^N) over the L sorted singular values (0: the same
    spectrum); the spectra themselves are in the protocol (`spectra`) and plotted in report.html.

    Math:
        d = sqrt(1/L sum_i log(s_i(Z) / s_i(E))^2),  E [N, L] i.i.d. N(0, 1),  s_i(A) = i-th singular value / sqrt(N)

    References:
        Dai & Wipf 2019, Diagnosing and enhancing VAE models (arXiv:1903.05789), figure 2.
    """

    requires = LATENTS

    def measure(self, context):
        spaces = latent_spaces(context)
        shape = next(iter(spaces.values())).shape
        reference = spectrum(np.random.default_rng([context.seed, 12]).standard_normal(shape))
        spectra = {name: spectrum(samples) for name, samples in spaces.items()}
        protocol = {**latent_protocol(context, shape[0]), "sets": GENERATION_SPACES,
                    "distance": "RMS of log(s_i / s_i of an i.i.d. N(0, I) matrix of the same shape)",
                    "spectra": {"N(0, I)": reference.tolist(), **{k: v.tolist() for k, v in spectra.items()}}}
        for name, values in spectra.items():
            distance = float(np.sqrt(np.mean(np.log(np.maximum(values, 1e-12) / reference) ** 2)))
            yield Measurement("sample_spectrum", name, distance, protocol, extra=protocol["spectra"])
