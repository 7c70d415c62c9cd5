"""Tiny instances of every registered component, for the cross-cutting contract tests.

Every registered model must have a golden here: `test_every_registered_model_has_a_golden` fails otherwise.
"""
from tfvae import models

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
}


def build_golden(key):
    """Builds the golden model `key` and returns (model, example shape)."""
    shape, kwargs = MODEL_GOLDENS[key]
    kwargs = dict(kwargs)
    name = kwargs.pop("model", key)
    return models.build(name, shape, **kwargs), shape


def golden_model_names():
    """The registered model names that have at least one golden."""
    return {MODEL_GOLDENS[key][1].get("model", key) for key in MODEL_GOLDENS}
