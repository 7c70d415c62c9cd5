"""Defaults that come from the authors' code, pinned to the authors' numbers through the unit conversion stated in
each class docstring (tfvae sums the reconstruction over the D pixels and penalties over the L latents; the
authors' RAE code averages both; MNIST padded to 32 px: D = 1024, L = 16)."""
import pytest

from tfvae import models
from tfvae.density import TwoStage

D, L = 32 * 32 * 1, 16


def _build(name, **kwargs):
    return models.build(name, (8, 8, 1), latent_dim=3, network_kwargs={"hidden_units": (8,)}, **kwargs)


@pytest.mark.parametrize("name", ["rae", "rae_l2", "rae_gp", "rae_sn"])
def test_rae_family_beta_is_the_authors_converted(name):
    model = _build(name)
    assert model.beta == pytest.approx(2 * type(model).AUTHORS_BETA * D / L)
    assert {"rae": 5e-4, "rae_l2": 1e-4, "rae_gp": 1e-4, "rae_sn": 0.009}[name] == type(model).AUTHORS_BETA


def test_rae_l2_and_rae_gp_weights_are_the_authors_converted():
    assert _build("rae_l2").weight_decay == pytest.approx(1e-7 * D)
    assert _build("rae_gp").gradient_penalty == pytest.approx(0.5e-7 * D / L)


def test_cv_vae_uses_sigma_0_7_and_the_authors_kl_weight_as_gamma():
    model = _build("cv_vae")
    assert model.posterior_std == 0.7
    assert model.likelihood.variance == pytest.approx(0.039 / 2)
    assert _build("cv_vae", likelihood_kwargs={"variance": 0.3}).likelihood.variance == 0.3  # still a choice
    assert _build("cv_vae", likelihood_kwargs={"bounded": False}).likelihood.variance == pytest.approx(0.0195)


def test_wae_mmd_weight_is_tolstikhins_converted():
    assert _build("wae_mmd").mmd_weight == pytest.approx(10 / 0.05)


def test_two_stage_vae_second_stage_follows_the_authors_schedule():
    model = _build("two_stage_vae")
    arguments = model.ex_post_density_arguments()["two_stage"]
    assert arguments == {"epochs": 800, "batch_size": 64, "learning_rate": 1e-4, "halve_every_epochs": 300,
                         "seed": 0}
    density = TwoStage(**arguments)
    assert (density.epochs, density.halve_every_epochs) == (800, 300)


def test_decoupled_prior_defaults_are_dpvaes_flow():
    """dpVAE's flow: 6 affine couplings whose scale/shift networks have two hidden layers of 64 units; smaller flows
    (the tests' goldens, the smoke scale) come only through `prior_kwargs`."""
    prior = _build("vae", prior="decoupled").prior
    assert len(prior.networks) == prior.num_couplings == 6
    assert all(network.hidden_units == 64 and len(network.hidden) == 2 for network in prior.networks)
