"""tfvae: generative autoencoders that sample well, in Keras 3 and TensorFlow.

Importing the package registers every component (models, networks, likelihoods, priors, density estimators).
"""
from tfvae import registry
from tfvae import data
from tfvae import likelihoods
from tfvae import networks
from tfvae import priors
from tfvae import models
from tfvae import density
from tfvae import legacy  # noqa: F401  (registers the class names older .keras files hold)

__version__ = "0.1.0"
