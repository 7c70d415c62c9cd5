"""Tiny instances of every registered component, for the cross-cutting contract tests.

Every registered model must have a golden here: `test_every_registered_model_has_a_golden` fails otherwise.
"""
import pytest

from tfvae import models, registry

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


def learned_prior_model_names():
    """The registered models whose loss involves the prior (`supports_learned_prior`: the VAE family), read from the
    registry so that no such model can be left off a hand-written list."""
    return sorted(name for name in registry.names("model") if registry.get("model", name).supports_learned_prior)


# name -> constructor arguments of a tiny instance of every registered prior (`tfvae.priors`).
# `test_every_registered_prior_has_a_golden` fails when a registered prior has none.
PRIOR_GOLDENS = {
    "standard": {"latent_dim": 3},
    "decoupled": {"latent_dim": 3, "num_couplings": 2, "hidden_units": 8},
}

# Every model whose prior takes part in training also gets a golden with the decoupled prior (dpVAE), `NAME_decoupled`,
# derived from its first golden above, with the prior golden's small flow (2 couplings of 8 units instead of dpVAE's
# 6 of 64: the same code, a third of the graph to trace). A model without any golden fails
# test_every_registered_model_has_a_golden.
_DECOUPLED_PRIOR_KWARGS = {k: v for k, v in PRIOR_GOLDENS["decoupled"].items() if k != "latent_dim"}
for _key in list(MODEL_GOLDENS):
    _shape, _kwargs = MODEL_GOLDENS[_key]
    _name = _kwargs.get("model", _key)
    if _name in learned_prior_model_names() and f"{_name}_decoupled" not in MODEL_GOLDENS:
        MODEL_GOLDENS[f"{_name}_decoupled"] = (_shape, {**_kwargs, "model": _name, "prior": "decoupled",
                                                       "prior_kwargs": _DECOUPLED_PRIOR_KWARGS})


def build_golden(key):
    """Builds the golden model `key` and returns (model, example shape)."""
    shape, kwargs = MODEL_GOLDENS[key]
    kwargs = dict(kwargs)
    name = kwargs.pop("model", key)
    return models.build(name, shape, **kwargs), shape


def golden_model_names():
    """The registered model names that have at least one golden."""
    return {MODEL_GOLDENS[key][1].get("model", key) for key in MODEL_GOLDENS}


def representative_goldens():
    """One golden per base class: the first standard-prior golden of each combination of (Autoencoder, VAE,
    DiscriminatorTraining) among the registered models: a GAN, a deterministic autoencoder, a VAE, an adversarial
    autoencoder and an adversarial VAE. They share the code paths of the contract tests (the step, the
    discriminators' optimizers, the encoder endpoints) with the other goldens of their base classes."""
    first = {}
    for key, (_, kwargs) in MODEL_GOLDENS.items():
        if kwargs.get("prior", "standard") == "standard":
            model_class = registry.get("model", kwargs.get("model", key))
            family = tuple(issubclass(model_class, base)
                           for base in (models.Autoencoder, models.VAE, models.DiscriminatorTraining))
            first.setdefault(family, key)
    return sorted(first.values())


def first_goldens(networks=False):
    """The first golden of every registered model and of every prior besides the standard one: every model's and
    every prior's own code (loss, layers, saving); with `networks`, also of every network (conv, dcgan, ...)."""
    first = {}
    for key, (_, kwargs) in MODEL_GOLDENS.items():
        first.setdefault(("model", kwargs.get("model", key)), key)
        first.setdefault(("prior", kwargs.get("prior", "standard")), key)
        if networks:
            first.setdefault(("network", kwargs.get("network", "mlp")), key)
    return sorted(set(first.values()))


# Goldens whose options change code that exporting or saving a model runs, beyond their model, prior and network
# (`first_goldens(networks=True)` covers those): golden -> what it adds. Every other golden combines components these
# cover with another training loss or loss estimator, which neither an endpoint nor saving runs.
OWN_CODE_VARIANTS = {
    "vae_flow_posterior": "a posterior flow: the encode endpoint's code and its weights",
    "vae_learned_gamma": "a learned decoder variance: a weight that the score_likelihood endpoint reads",
    "vgh_pp_conv": "the dcgan network's encoder (the network's first golden, dcgan_conv, is a GAN without one)",
    "rae_sn_conv": "spectral normalization of conv layers, with their power-iteration weights",
}


def own_code_goldens():
    """The first golden of every model, prior and network, and the `OWN_CODE_VARIANTS`: every golden whose export
    or saving runs code that no other in this list runs."""
    return sorted({*first_goldens(networks=True), *OWN_CODE_VARIANTS})


def tiered(keys, fast=None):
    """pytest parameters over the golden `keys`: those in `fast` (default: `representative_goldens()`) in the fast
    tier, every other one marked `slow`, so that `pytest -m "not slow"` runs a contract on a few goldens and the
    full suite on all of them."""
    fast = set(representative_goldens() if fast is None else fast)
    return [key if key in fast else pytest.param(key, marks=pytest.mark.slow) for key in sorted(keys)]


# name -> constructor arguments of a tiny instance of every registered density estimator (`tfvae.density`): a few
# epochs and small networks keep each contract test fast. The prior sampler wraps a model's prior: its "prior"
# argument names an entry of PRIOR_GOLDENS, built by `build_density_golden`.
# `test_every_registered_density_has_a_golden` fails when a registered density has none.
DENSITY_GOLDENS = {
    "gaussian": {},
    "gmm": {"num_components": 2, "max_iter": 20},
    "flow": {"num_couplings": 2, "hidden_units": 8, "epochs": 2, "batch_size": 32},
    "two_stage": {"epochs": 2, "batch_size": 32, "hidden_units": (8, 8), "importance_samples": 4},
    "prior": {"prior": "decoupled"},
}


def build_prior_golden(name):
    """Builds the golden prior `name` with its weights created."""
    from tfvae import registry

    prior = registry.get("prior", name)(**PRIOR_GOLDENS[name])
    prior.build((None, PRIOR_GOLDENS[name]["latent_dim"]))
    return prior


def build_density_golden(name):
    """Builds the golden density estimator `name`, unfitted (the prior sampler gets its golden prior)."""
    from tfvae import registry

    kwargs = dict(DENSITY_GOLDENS[name])
    if "prior" in kwargs:
        kwargs["prior"] = build_prior_golden(kwargs["prior"])
    return registry.get("density", name)(**kwargs)
