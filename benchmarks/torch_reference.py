"""The PyTorch reference of the throughput benchmark: the same conv net (32-64-128, 16 latents, batch norm), batch
100, Adam, trained on the same Fashion-MNIST images held in memory by a plain loop (the fastest PyTorch a user would
write by hand). Used only by benchmarks/train_throughput.py (and benchmarks/pythae_reference.py, which trains the
same networks through pythae) when torch is installed (`pip install -e ".[bench]" -c constraints.txt`); tfvae never
imports torch.

The networks follow tfvae's `conv` network (tfvae/networks/conv.py) layer for layer. Its last layer, a 4x4
transposed convolution at stride 1 with "same" padding, has no ConvTranspose2d equivalent (even kernel): here it is
the 4x4 transposed convolution with padding 1 (29 px) cropped to 28 px, the same multiply-adds; the pixels sit
half a pixel apart from TensorFlow's, which changes nothing for speed.

`autocast=True` runs the networks under `torch.autocast("cpu", dtype=torch.bfloat16)` (PyTorch's CPU mixed
precision: convolutions and matrix products in bfloat16, weights float32) and the loss on their outputs cast back to
float32, as tfvae's mixed_bfloat16 policy computes (tfvae/precision.py): the bfloat16 step a user would write by
hand, beside tfvae's.
"""
import time

import numpy as np


def networks(model_name, latent_dim=16, sigmoid_output=False):
    """The encoder and decoder (`torch.nn.Sequential`) of the conv net for 28 px, 1-channel images, as tfvae builds
    it (no bias in a layer followed by batch norm).

    Args:
        model_name: str. "vae" gives the encoder 2 * latent_dim outputs (mean, log-variance), others latent_dim.
        latent_dim: int. Width of the latent code. Defaults to 16.
        sigmoid_output: bool. End the decoder with a sigmoid (for losses that take probabilities). Defaults to False.

    Returns:
        (encoder, decoder).
    """
    from torch import nn

    class Crop(nn.Module):
        def forward(self, x):
            return x[:, :, :28, :28]

    encoder_outputs = 2 * latent_dim if model_name == "vae" else latent_dim

    def block(conv, channels):
        return [conv, nn.BatchNorm2d(channels), nn.ReLU()]

    encoder = nn.Sequential(*block(nn.Conv2d(1, 32, 4, 2, 1, bias=False), 32),
                            *block(nn.Conv2d(32, 64, 4, 2, 1, bias=False), 64),
                            *block(nn.Conv2d(64, 128, 4, 2, 2, bias=False), 128), nn.Flatten(),
                            nn.Linear(128 * 4 * 4, encoder_outputs))
    decoder = nn.Sequential(nn.Linear(latent_dim, 7 * 7 * 128, bias=False), nn.BatchNorm1d(7 * 7 * 128), nn.ReLU(),
                            nn.Unflatten(1, (128, 7, 7)),
                            *block(nn.ConvTranspose2d(128, 64, 4, 2, 1, bias=False), 64),
                            *block(nn.ConvTranspose2d(64, 32, 4, 2, 1, bias=False), 32),
                            nn.ConvTranspose2d(32, 1, 4, 1, 1), Crop(), *([nn.Sigmoid()] if sigmoid_output else []))
    return encoder, decoder


def make_step(model_name, latent_dim=16, autocast=False):
    """The training step of the plain loop: `step(x)` for an NCHW float32 batch, one Adam update of encoder and
    decoder (the VAE's negative ELBO with a Bernoulli likelihood; the RAE-L2's squared error, latent penalty and
    decoder weight decay). `autocast`: the networks in bfloat16 under `torch.autocast` (module docstring)."""
    import contextlib

    import torch
    from torch import nn

    torch.manual_seed(0)
    encoder, decoder = networks(model_name, latent_dim)
    optimizer = torch.optim.Adam(list(encoder.parameters()) + list(decoder.parameters()), 1e-3)

    def in_policy(network, inputs):
        scope = torch.autocast("cpu", dtype=torch.bfloat16) if autocast else contextlib.nullcontext()
        with scope:
            outputs = network(inputs)
        return outputs.float()

    def step(x):
        h = in_policy(encoder, x)
        if model_name == "vae":
            mean, log_var = h.chunk(2, dim=1)
            z = mean + torch.exp(0.5 * log_var) * torch.randn_like(mean)
            kl = 0.5 * (mean ** 2 + log_var.exp() - log_var - 1).sum(1)
            logits = in_policy(decoder, z)
            reconstruction = nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="none")
            loss = (reconstruction.flatten(1).sum(1) + kl).mean()
        else:
            z = h
            mean = torch.sigmoid(in_policy(decoder, z))
            loss = (((x - mean) ** 2).flatten(1).sum(1) + 0.5 * (z ** 2).sum(1)).mean()
            loss = loss + 1e-4 * sum((p ** 2).sum() for n, p in decoder.named_parameters() if "weight" in n)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss

    return step


def rates(model_name, images, epochs, batch=100, latent_dim=16, between_epochs=None, autocast=False):
    """images/second of each epoch after the first (which pays for allocation and warm-up). `between_epochs`, if
    given, is called after each epoch, outside its timing (train_throughput marks its CPU use there);
    `autocast`, as `make_step`'s."""
    import torch

    step = make_step(model_name, latent_dim, autocast=autocast)
    data = torch.from_numpy(np.transpose(images, (0, 3, 1, 2)).copy())
    steps = len(data) // batch
    epoch_rates = []
    for _ in range(epochs):
        order = torch.randperm(len(data))
        started = time.perf_counter()
        for index in range(steps):
            step(data[order[index * batch:(index + 1) * batch]])
        epoch_rates.append(steps * batch / (time.perf_counter() - started))
        if between_epochs is not None:
            between_epochs()
    return epoch_rates[1:]
