"""Decoder likelihoods p(x | z): map raw decoder outputs to an image mean and a per-example log-likelihood."""
from tfvae.likelihoods.bernoulli_likelihood import BernoulliLikelihood
from tfvae.likelihoods.gaussian_likelihood import GaussianLikelihood
from tfvae.likelihoods.learned_gaussian_likelihood import LearnedGaussianLikelihood
