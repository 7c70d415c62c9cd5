"""The one RealNVP chain of the library: the VAE's posterior flow, the decoupled prior and the `flow` density."""
import tensorflow_probability as tfp

tfb = tfp.bijectors


def real_nvp_chain(networks, latent_dim):
    """Builds a chain of affine couplings (`tfb.RealNVP`) alternating with reversals of the dimensions.

    Coupling k keeps the first `latent_dim // 2` dimensions and transforms the others with the shift and log-scale
    that `networks[k]` computes from the kept ones; a `tfb.Permute` reversing the dimensions follows every coupling,
    so every dimension is transformed. Build the chain on every use, from the live networks: a bijector built once
    from Keras variables would keep stale values inside `tf.function`s and lose their gradients.

    Math:
        coupling:  y[:d] = x[:d],  y[d:] = x[d:] * exp(s(x[:d])) + t(x[:d]),  d = latent_dim // 2
        forward:   z = P . c_K . ... . P . c_1 (z0), P the reversal;  log|det dz/dz0| = sum_k sum_j s_k,j

    Args:
        networks: sequence of Keras layers. One per coupling, in application order; each maps the kept
            [B, latent_dim // 2] to (shift, log_scale), both [B, latent_dim - latent_dim // 2]
            (`tfvae.priors.CouplingNetwork`).
        latent_dim: int. Dimensions of the space the chain acts on (at least 2).

    Returns:
        A `tfb.Chain` whose forward direction applies the couplings in the order of `networks`.

    References:
        Dinh, Sohl-Dickstein and Bengio 2017, "Density estimation using Real NVP", arXiv:1605.08803.
    """
    latent_dim = int(latent_dim)
    if latent_dim < 2:
        raise ValueError(f"A RealNVP coupling keeps half of the dimensions and transforms the rest, so it needs "
                         f"latent_dim >= 2. Received: latent_dim={latent_dim}")
    num_masked = latent_dim // 2
    for network in networks:
        units = getattr(network, "output_units", None)
        if units is not None and units != latent_dim - num_masked:
            raise ValueError(f"Each coupling network must output {latent_dim - num_masked} shifts and log-scales "
                             f"for latent_dim={latent_dim}. Received: {network.name} with output_units={units}")
    reverse = list(reversed(range(latent_dim)))
    steps = []
    for network in networks:
        # RealNVP calls fn(x, output_units); a Keras layer takes one input, so wrap it (binding this network).
        steps.append(tfb.RealNVP(num_masked=num_masked, shift_and_log_scale_fn=lambda x, units, net=network: net(x)))
        steps.append(tfb.Permute(permutation=reverse))
    # tfb.Chain applies its list right to left.
    return tfb.Chain(list(reversed(steps)))
