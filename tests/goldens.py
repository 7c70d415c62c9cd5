"""Tiny instances of every registered component, for the cross-cutting contract tests.

Every registered model must have a golden here: `test_every_registered_model_has_a_golden` fails otherwise.
"""
from tfvae import models

_MLP = {"latent_dim": 3, "network_kwargs": {"hidden_units": (16,)}}

# name -> (example shape, constructor arguments). Small networks keep each contract test fast.
MODEL_GOLDENS = {
    "ae": ((8, 8, 1), {"latent_dim": 3, "network_kwargs": {"hidden_units": (16,)}}),
    "rae": ((8, 8, 1), {"latent_dim": 3, "network_kwargs": {"hidden_units": (16,)}, "beta": 0.5}),
    "rae_l2": ((8, 8, 1), {"latent_dim": 3, "network_kwargs": {"hidden_units": (16,)}, "weight_decay": 1e-3}),
    "vae": ((8, 8, 1), {"latent_dim": 3, "network_kwargs": {"hidden_units": (16,)}}),
    "vae_learned_gamma": ((8, 8, 1), {"model": "vae", "latent_dim": 3, "network_kwargs": {"hidden_units": (16,)},
                                      "likelihood": "gaussian_learned"}),
    "rae_conv": ((28, 28, 1), {"model": "rae", "latent_dim": 4, "network": "conv",
                               "network_kwargs": {"filters": (4, 8)}}),
    "vae_flow_posterior": ((8, 8, 1), {"model": "vae", **_MLP, "posterior_flow_couplings": 2}),
    "cv_vae": ((8, 8, 1), {**_MLP}),
    "beta_vae_h": ((8, 8, 1), {**_MLP}),
    "beta_vae_b": ((8, 8, 1), {**_MLP, "capacity_steps": 10}),
    "beta_tcvae": ((8, 8, 1), {**_MLP, "dataset_size": 100}),
    "beta_tcvae_mws": ((8, 8, 1), {"model": "beta_tcvae", **_MLP, "dataset_size": 100, "estimator": "mws"}),
    "factor_vae": ((8, 8, 1), {**_MLP, "discriminator_units": (16, 16)}),
    "info_vae": ((8, 8, 1), {**_MLP}),
    "info_vae_imq": ((8, 8, 1), {"model": "info_vae", **_MLP, "kernel": "imq"}),
    "wae_mmd": ((8, 8, 1), {**_MLP}),
    "rae_gp": ((8, 8, 1), {**_MLP}),
    "rae_sn": ((8, 8, 1), {**_MLP}),
    "rae_sn_conv": ((28, 28, 1), {"model": "rae_sn", "latent_dim": 4, "network": "conv",
                                  "network_kwargs": {"filters": (4, 8)}}),
    "two_stage_vae": ((8, 8, 1), {**_MLP, "second_stage_epochs": 1}),
    "aae": ((8, 8, 1), {**_MLP}),
    "vgh": ((8, 8, 1), {**_MLP}),
    "vgh_pp": ((8, 8, 1), {**_MLP}),
    "veegan": ((8, 8, 1), {**_MLP}),
    "dcgan": ((8, 8, 1), {**_MLP}),
    "wgan_gp": ((8, 8, 1), {**_MLP}),
    "dcgan_conv": ((28, 28, 1), {"model": "dcgan", "latent_dim": 3, "network": "dcgan"}),
    "vgh_pp_conv": ((28, 28, 1), {"model": "vgh_pp", "latent_dim": 3, "network": "dcgan"}),
    "vae_infogan": ((28, 28, 1), {"model": "vae", "latent_dim": 3, "network": "infogan"}),
}
# Every model of the VAE family also gets a golden with the decoupled prior (dpVAE).
VAE_FAMILY = ("vae", "cv_vae", "beta_vae_h", "beta_vae_b", "beta_tcvae", "factor_vae", "info_vae", "two_stage_vae")
for _key in VAE_FAMILY:
    _shape, _kwargs = MODEL_GOLDENS[_key]
    MODEL_GOLDENS[f"{_key}_decoupled"] = (_shape, {"model": _kwargs.get("model", _key), **_kwargs,
                                                   "prior": "decoupled"})


def build_golden(key):
    """Builds the golden model `key` and returns (model, example shape)."""
    shape, kwargs = MODEL_GOLDENS[key]
    kwargs = dict(kwargs)
    name = kwargs.pop("model", key)
    return models.build(name, shape, **kwargs), shape


def golden_model_names():
    """The registered model names that have at least one golden."""
    return {MODEL_GOLDENS[key][1].get("model", key) for key in MODEL_GOLDENS}
