"""Every registered model's objective against an independent NumPy implementation of its paper's equation.

Each oracle builds a tiny model (2x2 images, 2 latents, one hidden layer of 3 units, so every network can be
evaluated by hand), gives it fixed weights, and recomputes in float64 NumPy, from those weights and the model's own
noise draws, every per-example term the model reports: each term, each weight, each sign. Adversarial models also
have their discriminators' losses checked separately, and one optimization step is replayed by hand to check which
variables each update touches and with which loss. `test_every_registered_model_has_an_objective_oracle` fails when
a registered model has none.

The noise (posterior epsilon, prior samples, permutations, interpolation weights) is taken from the model's own
stateless streams (`Generator.noise_seed` and `tfvae.rowwise_random`, tested in tests/test_rowwise_random.py):
the oracles check what the model computes with it, not the random number generator.
"""
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfvae import models, registry, rowwise_random
from tfvae.models import DiscriminatorTraining, noise_salts
from tfvae.models.factor_vae import permute_dims
from tfvae.networks.joint_discriminator import JointDiscriminator

SHAPE = (2, 2, 1)
LATENT = 2
BATCH = 4
_LOG_2PI = math.log(2.0 * math.pi)
_TINY = {"latent_dim": LATENT, "network_kwargs": {"hidden_units": (3,)}}


# ------------------------------------------------------------------------------------ NumPy networks
def _dense_parts(layer, training):
    """(kernel, bias, activation) of a Dense layer as float64 arrays; a spectrally normalized one divides its kernel
    by the largest singular value estimated by power iteration from its vector u, as a training call does (RAE paper
    eq. 18; Miyato et al. 2018, algorithm 1)."""
    inner = layer.layer if isinstance(layer, keras.layers.SpectralNormalization) else layer
    kernel = inner.kernel.numpy().astype(np.float64)
    bias = inner.bias.numpy().astype(np.float64) if inner.use_bias else np.zeros(kernel.shape[-1])
    if isinstance(layer, keras.layers.SpectralNormalization) and training:
        u = layer.vector_u.numpy().astype(np.float64)
        for _ in range(layer.power_iterations):
            v = u @ kernel.T
            v /= np.linalg.norm(v)
            u = v @ kernel
            u /= np.linalg.norm(u)
        kernel = kernel / (v @ kernel @ u.T).item()
    return kernel, bias, inner.get_config()["activation"]


def _step(layer, h, training):
    """One layer in NumPy: (output, function mapping d out to d input)."""
    if isinstance(layer, keras.layers.Flatten):
        shape = h.shape
        return h.reshape(len(h), -1), lambda g: g.reshape(shape)
    if isinstance(layer, keras.layers.Reshape):
        shape = h.shape
        return h.reshape(len(h), *layer.target_shape), lambda g: g.reshape(shape)
    if isinstance(layer, keras.layers.LeakyReLU):
        slope = np.where(h > 0, 1.0, layer.negative_slope)
        return h * slope, lambda g: g * slope
    if isinstance(layer, (keras.layers.Dense, keras.layers.SpectralNormalization)):
        kernel, bias, activation = _dense_parts(layer, training)
        pre = h @ kernel + bias
        assert activation in ("relu", "linear"), activation
        slope = (pre > 0).astype(np.float64) if activation == "relu" else np.ones_like(pre)
        return pre * slope, lambda g: (g * slope) @ kernel.T
    raise NotImplementedError(f"The NumPy oracle has no {type(layer).__name__} layer")


def _net(network, x, training=False):
    """network(x) in float64 and the vector-Jacobian product g -> d sum(output * g) / dx."""
    h, backs = np.asarray(x, np.float64), []
    for layer in network.layers:
        h, back = _step(layer, h, training)
        backs.append(back)

    def vjp(g):
        for back in reversed(backs):
            g = back(g)
        return g

    return h, vjp


def _joint(network, x, z):
    """VEEGAN's joint discriminator J(x, z): both trunks' features concatenated, then the head."""
    assert isinstance(network, JointDiscriminator)
    features = np.concatenate([_net(network.image_trunk, x)[0], _net(network.code_trunk, z)[0]], axis=1)
    return _net(network.head, features)[0][:, 0]


def _logit(network, inputs):
    return _net(network, inputs)[0][:, 0]


# ------------------------------------------------------------------------------- NumPy probability
def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def _softplus(a):
    return np.logaddexp(0.0, a)


def _flat(a):
    return np.reshape(a, (len(a), -1))


def _log_bernoulli(x, logits):
    """sum_i x_i log s(l_i) + (1 - x_i) log(1 - s(l_i)), with log s(l) = -softplus(-l), log(1 - s(l)) = -softplus(l)."""
    return np.sum(_flat(-x * _softplus(-logits) - (1.0 - x) * _softplus(logits)), axis=1)


def _log_gaussian(x, mean, variance):
    """log N(x | mean, variance I), summed over every non-batch dimension."""
    return np.sum(_flat(-0.5 * ((x - mean) ** 2 / variance + math.log(variance) + _LOG_2PI)), axis=1)


def _log_standard_normal(z):
    return np.sum(-0.5 * (z ** 2 + _LOG_2PI), axis=1)


def _log_diagonal_normal(z, mean, log_var):
    """log N(z | mean, diag exp(log_var)), per dimension (not summed)."""
    return -0.5 * ((z - mean) ** 2 / np.exp(log_var) + log_var + _LOG_2PI)


def _kl_to_standard_normal(mean, log_var):
    """KL[N(mean, diag exp(log_var)) || N(0, I)] = 1/2 sum_j (mean_j^2 + var_j - log var_j - 1) (Kingma & Welling
    2014, appendix B)."""
    return 0.5 * np.sum(mean ** 2 + np.exp(log_var) - log_var - 1.0, axis=1)


def _unbiased_mmd(x, y, kernel):
    """The U-statistic of MMD^2 (Gretton et al. 2012, eq. 3), written out over pairs."""
    n, m = len(x), len(y)
    within_x = sum(kernel(x[i], x[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    within_y = sum(kernel(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    cross = sum(kernel(a, b) for a in x for b in y) / (n * m)
    return within_x + within_y - 2.0 * cross


def _rbf(dim):
    """InfoVAE's Gaussian kernel exp(-||a - b||^2 / (2 h^2)) with h^2 = latent_dim (tfvae.losses.mmd)."""
    return lambda a, b: math.exp(-np.sum((a - b) ** 2) / (2.0 * dim))


def _imq(dim, scales=(0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)):
    """WAE's multi-scale inverse multiquadratic kernel sum_s C_s / (C_s + ||a - b||^2), C_s = 2 d_z s (Tolstikhin et
    al. 2018, section 4 and their code's scales)."""
    return lambda a, b: sum(2.0 * dim * s / (2.0 * dim * s + np.sum((a - b) ** 2)) for s in scales)


# ------------------------------------------------------------------------------------- the model's noise
def _normal(model, salt, shape):
    return rowwise_random.stream_normal(shape, model.noise_seed(salt)).numpy().astype(np.float64)


def _uniform(model, salt, shape):
    return rowwise_random.stream_uniform(shape, model.noise_seed(salt)).numpy().astype(np.float64)


def _prior_draws(model, count=BATCH, salt=noise_salts.PRIOR):
    """z ~ N(0, I) as the model's standard prior draws them for `salt` at this step."""
    return _normal(model, salt, [count, model.latent_dim])


# ---------------------------------------------------------------------------------- shared forward passes
def _gaussian_posterior(model, x):
    """(mean, log variance, reparameterized sample z = mean + exp(log_var / 2) eps) of q(z|x) (Kingma & Welling
    2014, eq. 10), eps from the training noise stream."""
    output = _net(model.encoder, x)[0]
    mean, log_var = output[:, :LATENT], output[:, LATENT:]
    z = mean + np.exp(0.5 * log_var) * _normal(model, noise_salts.TRAIN, [len(x), LATENT])
    return mean, log_var, z


def _negative_elbo_terms(model, x, log_likelihood):
    """The VAE's -log p(x|z) and closed-form KL for the one-sample ELBO (RAE paper eqs. 5-7)."""
    mean, log_var, z = _gaussian_posterior(model, x)
    reconstruction = -log_likelihood(x, _net(model.decoder, z)[0])
    return mean, log_var, z, reconstruction, _kl_to_standard_normal(mean, log_var)


def _bernoulli(x, logits):
    return _log_bernoulli(x, logits)


def _squared_error_gaussian(variance):
    """The fixed-variance Gaussian decoder of tfvae images: mean sigmoid(outputs)."""
    return lambda x, outputs: _log_gaussian(x, _sigmoid(outputs), variance)


# -------------------------------------------------------------------------------------------- oracles
# case -> (model name, constructor arguments, batch size, oracle). An oracle returns {"losses": {term: [B]},
# "discriminators": {network attribute: (log name, [B])}, "weight_penalty": float}; it may set up the model first
# (an optimizer step count) and assert model-specific pieces itself.
ORACLES = {}


def oracle(case, model_name=None, batch=BATCH, **kwargs):
    def register(function):
        ORACLES[case] = (model_name or case, {**_TINY, **kwargs}, batch, function)
        return function
    return register


@oracle("vae")
def _vae(model, x):
    """-ELBO = -log p(x|z) + KL[q(z|x) || p(z)] with a Bernoulli decoder (Rosca et al. eq. 3; RAE paper eqs. 5-7)."""
    *_, reconstruction, kl = _negative_elbo_terms(model, x, _bernoulli)
    return {"losses": {"loss": reconstruction + kl, "reconstruction": reconstruction, "kl": kl}}


@oracle("cv_vae", posterior_std=0.4)
def _cv_vae(model, x):
    """q(z|x) = N(mu(x), sigma^2 I) with a constant sigma; the KL is 1/2 ||mu||^2 plus a constant (RAE paper eqs.
    13-14); the decoder is the Gaussian of variance 0.0195 (the authors' KL weight 0.039, halved)."""
    mean = _net(model.encoder, x)[0]
    z = mean + 0.4 * _normal(model, noise_salts.TRAIN, [len(x), LATENT])
    reconstruction = -_squared_error_gaussian(0.0195)(x, _net(model.decoder, z)[0])
    kl = 0.5 * np.sum(mean ** 2, axis=1) + 0.5 * LATENT * (0.4 ** 2 - math.log(0.4 ** 2) - 1.0)
    return {"losses": {"loss": reconstruction + kl, "reconstruction": reconstruction, "kl": kl}}


@oracle("beta_vae_h", beta=2.5)
def _beta_vae_h(model, x):
    """-log p(x|z) + beta KL (Higgins et al. 2017, eq. 4)."""
    *_, reconstruction, kl = _negative_elbo_terms(model, x, _bernoulli)
    return {"losses": {"loss": reconstruction + 2.5 * kl, "reconstruction": reconstruction, "kl": kl}}


@oracle("beta_vae_b", gamma=7.0, max_capacity=60.0, capacity_steps=10)
def _beta_vae_b(model, x):
    """-log p(x|z) + gamma |E KL - C|, C = C_max min(1, step / steps) (Burgess et al. 2018, eq. 8); the expectation
    is the batch's mean, handed to each example as gamma s (KL_b - C), s = sign(mean KL - C). At step 5 of 10,
    C = 30 nats lies above the batch's KL: the penalty pulls the KL up (s = -1)."""
    model.compile(optimizer="sgd")
    model.optimizer.iterations.assign(5)
    *_, reconstruction, kl = _negative_elbo_terms(model, x, _bernoulli)
    capacity = 60.0 * min(1.0, 5 / 10)
    assert kl.mean() < capacity
    penalty = 7.0 * np.sign(kl.mean() - capacity) * (kl - capacity)
    assert penalty.mean() == pytest.approx(7.0 * abs(kl.mean() - capacity))
    return {"losses": {"loss": reconstruction + penalty, "reconstruction": reconstruction, "kl": kl,
                       "capacity": np.full(len(x), capacity)}}


def _beta_tcvae(model, x, log_aggregate):
    """-log p(x|z) + alpha MI + beta TC + gamma DWKL (Chen et al. 2018, eq. 4 and section 4.1), with
    MI = log q(z|x) - log q(z), TC = log q(z) - sum_j log q(z_j), DWKL = sum_j log q(z_j) - log p(z) evaluated at
    each example's own posterior sample."""
    mean, log_var, z = _gaussian_posterior(model, x)
    reconstruction = -_log_bernoulli(x, _net(model.decoder, z)[0])
    # densities[i, j, l] = log q(z_il | x_j): sample i under example j's posterior, dimension l.
    densities = _log_diagonal_normal(z[:, None, :], mean[None, :, :], log_var[None, :, :])
    log_qz, log_prod_qzj = log_aggregate(densities)
    log_qz_x = np.sum(_log_diagonal_normal(z, mean, log_var), axis=1)
    log_pz = _log_standard_normal(z)
    mi, tc, dwkl = log_qz_x - log_qz, log_qz - log_prod_qzj, log_prod_qzj - log_pz
    return {"losses": {"loss": reconstruction + 0.7 * mi + 3.0 * tc + 1.3 * dwkl, "reconstruction": reconstruction,
                       "kl": log_qz_x - log_pz, "mutual_information": mi, "total_correlation": tc,
                       "dimension_wise_kl": dwkl}}


def _logsumexp(a, axis):
    top = np.max(a, axis=axis, keepdims=True)
    return np.squeeze(top, axis) + np.log(np.sum(np.exp(a - top), axis=axis))


@oracle("beta_tcvae", alpha=0.7, beta=3.0, gamma=1.3, dataset_size=50)
def _beta_tcvae_mss(model, x):
    """Minibatch stratified sampling (Chen et al., the appendix on stratified sampling): for a batch of B = M + 1
    examples from a data set of N, the sample's own posterior has weight 1/N, one other (here the next example,
    i + 1 mod B) (N - M) / (N M), and the remaining B - 2 have 1/M each."""
    n, batch = 50, len(x)
    m = batch - 1
    weights = np.full((batch, batch), 1.0 / m)
    for i in range(batch):
        weights[i, i] = 1.0 / n
        weights[i, (i + 1) % batch] = (n - m) / (n * m)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)

    def log_aggregate(densities):
        log_qz = np.log(np.sum(weights * np.exp(densities.sum(axis=2)), axis=1))
        log_prod = np.sum(np.log(np.sum(weights[:, :, None] * np.exp(densities), axis=1)), axis=1)
        return log_qz, log_prod

    return _beta_tcvae(model, x, log_aggregate)


@oracle("beta_tcvae_mws", model_name="beta_tcvae", alpha=0.7, beta=3.0, gamma=1.3, dataset_size=50,
        estimator="mws")
def _beta_tcvae_mws(model, x):
    """Minibatch weighted sampling (Chen et al., section 4.1): q(z_i) ~ 1/(N B) sum_j q(z_i | x_j), and each
    marginal the same way."""
    log_nb = math.log(50 * len(x))

    def log_aggregate(densities):
        return (_logsumexp(densities.sum(axis=2), axis=1) - log_nb,
                np.sum(_logsumexp(densities, axis=1) - log_nb, axis=1))

    return _beta_tcvae(model, x, log_aggregate)


@oracle("factor_vae", gamma=3.5, discriminator_units=(5,))
def _factor_vae(model, x):
    """VAE: -log p(x|z) + KL + gamma log(D(z) / (1 - D(z))) with D the softmax probability of "from q(z)" of a two
    logit discriminator, so the TC estimate is logit_0 - logit_1 (Kim & Mnih 2018, section 3 and algorithm 2).
    Discriminator: the cross-entropy of q(z) samples (class 0) against their dimension-wise permutation (class 1),
    halved: -1/2 [log D(z') + log(1 - D(permute(z')))]."""
    _, _, z, reconstruction, kl = _negative_elbo_terms(model, x, _bernoulli)
    logits = _net(model.discriminator, z)[0]
    tc = logits[:, 0] - logits[:, 1]
    # The permutation the model draws this step, read off by permuting row indices: column l of permute(z) is
    # z[order[:, l], l], each column shuffled on its own.
    indices = tf.tile(tf.range(len(x), dtype=tf.float32)[:, None], [1, LATENT])
    order = permute_dims(indices, model.noise_seed(noise_salts.PERMUTE)).numpy().astype(int)
    permuted = np.stack([z[order[:, column], column] for column in range(LATENT)], axis=1)
    real = _net(model.discriminator, z)[0]
    fake = _net(model.discriminator, permuted)[0]
    log_softmax = lambda a: a - _logsumexp(a, axis=1)[:, None]  # noqa: E731
    d_loss = -0.5 * (log_softmax(real)[:, 0] + log_softmax(fake)[:, 1])
    return {"losses": {"loss": reconstruction + kl + 3.5 * tc, "reconstruction": reconstruction, "kl": kl, "tc": tc},
            "discriminators": {"discriminator": ("d_loss", d_loss)}}


@oracle("info_vae", alpha=0.3, mmd_weight=4.0, kernel="rbf")
def _info_vae(model, x):
    """-log p(x|z) + (1 - alpha) KL[q(z|x) || p(z)] + (alpha + lambda - 1) MMD(q(z), p(z)) (Zhao et al. 2019,
    eq. 6), the MMD between the batch's posterior samples and as many prior draws, charged to every example."""
    _, _, z, reconstruction, kl = _negative_elbo_terms(model, x, _bernoulli)
    divergence = np.full(len(x), _unbiased_mmd(z, _prior_draws(model, len(x)), _rbf(LATENT)))
    return {"losses": {"loss": reconstruction + (1 - 0.3) * kl + (0.3 + 4.0 - 1) * divergence,
                       "reconstruction": reconstruction, "kl": kl, "mmd": divergence}}


@oracle("wae_mmd", mmd_weight=3.0)
def _wae_mmd(model, x):
    """c(x, G(E(x))) + lambda MMD_k(q(z), p(z)) with the multi-scale IMQ kernel and a deterministic encoder
    (Tolstikhin et al. 2018, algorithm 2); c = -log N(x | G(z), 1/2 I), the squared error plus a constant."""
    z = _net(model.encoder, x)[0]
    reconstruction = -_squared_error_gaussian(0.5)(x, _net(model.decoder, z)[0])
    divergence = np.full(len(x), _unbiased_mmd(z, _prior_draws(model, len(x)), _imq(LATENT)))
    return {"losses": {"loss": reconstruction + 3.0 * divergence, "reconstruction": reconstruction,
                       "mmd": divergence}}


def _rae_terms(model, x, beta, training=False):
    """-log p(x|z) + beta 1/2 ||z||^2 with z = E(x) (RAE paper eq. 15, L_KL^RAE = 1/2 ||z||^2); the decoder is the
    Gaussian of variance 1/2, whose negative log-likelihood is ||x - D(z)||^2 plus a constant (eq. 10)."""
    z = _net(model.encoder, x)[0]
    outputs = _net(model.decoder, z, training=training)[0]
    reconstruction = -_squared_error_gaussian(0.5)(x, outputs)
    np.testing.assert_allclose(reconstruction - np.sum(_flat(x - _sigmoid(outputs)) ** 2, axis=1),
                               0.5 * np.prod(SHAPE) * (math.log(0.5) + _LOG_2PI), rtol=1e-12)
    latent = 0.5 * np.sum(z ** 2, axis=1)
    return z, reconstruction, latent, {"loss": reconstruction + beta * latent, "reconstruction": reconstruction,
                                       "latent_l2": latent}


@oracle("ae")
def _ae(model, x):
    """The reconstruction loss alone (RAE paper, section 3: the AE baseline)."""
    z = _net(model.encoder, x)[0]
    reconstruction = -_squared_error_gaussian(0.5)(x, _net(model.decoder, z)[0])
    return {"losses": {"loss": reconstruction, "reconstruction": reconstruction}}


@oracle("rae", beta=0.8)
def _rae(model, x):
    return {"losses": _rae_terms(model, x, 0.8)[3]}


@oracle("rae_l2", beta=0.8, weight_decay=0.05)
def _rae_l2(model, x):
    """RAE plus lambda ||theta_decoder||^2 over the decoder's kernels, once per step (RAE paper eqs. 15-16)."""
    kernels = [layer.kernel.numpy().astype(np.float64) for layer in model.decoder.layers
               if isinstance(layer, keras.layers.Dense)]
    assert len(kernels) == 2
    return {"losses": _rae_terms(model, x, 0.8)[3], "weight_penalty": 0.05 * sum(np.sum(k ** 2) for k in kernels)}


@oracle("rae_gp", beta=0.8, gradient_penalty=0.3)
def _rae_gp(model, x):
    """RAE plus lambda ||grad_z ||D(z)||^2||^2, D(z) the decoder mean (RAE paper eqs. 15 and 17, with the squared
    output norm the authors' code differentiates: tfvae.losses.decoder_gradient_penalty)."""
    z, reconstruction, latent, terms = _rae_terms(model, x, 0.8)
    outputs, vjp = _net(model.decoder, z)
    mean = _sigmoid(outputs)
    gradient = vjp(2.0 * mean * mean * (1.0 - mean))  # d sum(mean^2) / d outputs = 2 mean * sigmoid'
    penalty = np.sum(gradient ** 2, axis=1)
    return {"losses": {**terms, "loss": terms["loss"] + 0.3 * penalty, "gp": penalty}}


@oracle("rae_sn", beta=0.8)
def _rae_sn(model, x):
    """RAE whose decoder layers are theta / s(theta) (RAE paper eq. 18): every Dense of the decoder is wrapped, and a
    training call divides its kernel by the power-iteration estimate of the largest singular value."""
    wrapped = [layer for layer in model.decoder.layers if isinstance(layer, keras.layers.SpectralNormalization)]
    assert len(wrapped) == 2 and not any(isinstance(layer, keras.layers.Dense) for layer in model.decoder.layers)
    return {"losses": _rae_terms(model, x, 0.8, training=True)[3]}


@oracle("two_stage_vae")
def _two_stage_vae(model, x):
    """The first stage: -log N(x | mu_x(z), gamma I) + KL with the learned scalar gamma (two-stage VAE paper, eq. 2
    with Sigma_x = gamma I, section 4)."""
    model.likelihood.log_gamma.assign(-0.6)
    *_, reconstruction, kl = _negative_elbo_terms(model, x, _squared_error_gaussian(math.exp(-0.6)))
    return {"losses": {"loss": reconstruction + kl, "reconstruction": reconstruction, "kl": kl}}


@oracle("aae")
def _aae(model, x):
    """Autoencoder: -log p(x | G(E(x))) - log C(E(x)) (non-saturating); code discriminator:
    -log C(z_p) - log(1 - C(E(x))), z_p ~ p(z); unweighted (Makhzani et al. 2016; Rosca et al., appendix K)."""
    z = _net(model.encoder, x)[0]
    reconstruction = -_log_bernoulli(x, _net(model.decoder, z)[0])
    code_logits = _logit(model.code_discriminator_net, z)
    adversarial = -np.log(_sigmoid(code_logits))
    prior_logits = _logit(model.code_discriminator_net, _prior_draws(model, len(x)))
    c_loss = -np.log(_sigmoid(prior_logits)) - np.log(1.0 - _sigmoid(code_logits))
    return {"losses": {"loss": reconstruction + adversarial, "reconstruction": reconstruction,
                       "adversarial": adversarial},
            "discriminators": {"code_discriminator_net": ("c_loss", c_loss)}}


def _vgh(model, x, weight, plus_plus):
    """Rosca et al., algorithm 5 (R(u) = -log D(u) + log(1 - D(u)) = -logit(u); x_hat = G(z), z ~ q(z|x)):
    encoder (eq. 14): lambda ||x - x_hat||_1 + R_C(z); generator: lambda ||x - x_hat||_1 + R_D(x_hat)
    [+ R_D(G(z_p)) for VGH++]; data discriminator (eq. 8 / eq. 9): -log D(x) - log(1 - D(x_hat))
    [- log(1 - D(G(z_p)))]; code discriminator (eq. 15): -log C(z_p) - log(1 - C(z))."""
    _, _, z = _gaussian_posterior(model, x)
    x_hat = _sigmoid(_net(model.decoder, z)[0])
    l1 = np.sum(np.abs(_flat(x - x_hat)), axis=1)
    code_logits = _logit(model.code_discriminator_net, z)
    reconstruction_logits = _logit(model.data_discriminator_net, x_hat)
    code_adversarial = -code_logits
    data_adversarial = -reconstruction_logits
    d_loss = -np.log(_sigmoid(_logit(model.data_discriminator_net, x))) - np.log(1 - _sigmoid(reconstruction_logits))
    z_p = _prior_draws(model, len(x))
    if plus_plus:
        sample_logits = _logit(model.data_discriminator_net, _sigmoid(_net(model.decoder, z_p)[0]))
        data_adversarial = data_adversarial - sample_logits
        d_loss = d_loss - np.log(1 - _sigmoid(sample_logits))
    c_loss = -np.log(_sigmoid(_logit(model.code_discriminator_net, z_p))) - np.log(1 - _sigmoid(code_logits))
    return {"losses": {"loss": weight * l1 + code_adversarial + data_adversarial, "reconstruction": l1,
                       "code_adversarial": code_adversarial, "data_adversarial": data_adversarial,
                       "encoder_loss": weight * l1 + code_adversarial,
                       "generator_loss": weight * l1 + data_adversarial},
            "discriminators": {"data_discriminator_net": ("d_loss", d_loss),
                               "code_discriminator_net": ("c_loss", c_loss)}}


@oracle("vgh", reconstruction_weight=2.5)
def _vgh_oracle(model, x):
    return _vgh(model, x, 2.5, plus_plus=False)


@oracle("vgh_pp", reconstruction_weight=2.5)
def _vgh_pp_oracle(model, x):
    return _vgh(model, x, 2.5, plus_plus=True)


@oracle("veegan")
def _veegan(model, x):
    """Generator and reconstructor F: -J(G(z_p), z_p) + ||z_p - F(G(z_p))||_1 (density ratio plus the l1 code
    reconstruction, unweighted: Srivastava et al. 2017, eq. 8; Rosca et al., appendix K); joint discriminator:
    -log s(J(x, F(x))) - log(1 - s(J(G(z_p), z_p))). `reconstruction` reports ||x - G(F(x))||_1."""
    z_p = _prior_draws(model, len(x))
    generated = _sigmoid(_net(model.decoder, z_p)[0])
    network = model.joint_discriminator_net
    adversarial = -_joint(network, generated, z_p)
    code_reconstruction = np.sum(np.abs(z_p - _net(model.encoder, generated)[0]), axis=1)
    codes = _net(model.encoder, x)[0]
    data_reconstruction = np.sum(np.abs(_flat(x - _sigmoid(_net(model.decoder, codes)[0]))), axis=1)
    d_loss = (-np.log(_sigmoid(_joint(network, x, codes)))
              - np.log(1 - _sigmoid(_joint(network, generated, z_p))))
    return {"losses": {"loss": adversarial + code_reconstruction, "reconstruction": data_reconstruction,
                       "code_reconstruction": code_reconstruction, "adversarial": adversarial},
            "discriminators": {"joint_discriminator_net": ("d_loss", d_loss)}}


@oracle("dcgan")
def _dcgan(model, x):
    """Generator: -log D(G(z)) (non-saturating, Goodfellow et al. 2014, section 3); discriminator:
    -log D(x) - log(1 - D(G(z))) (Radford et al. 2016)."""
    fake_logits = _logit(model.data_discriminator_net, _sigmoid(_net(model.decoder, _prior_draws(model, len(x)))[0]))
    d_loss = -np.log(_sigmoid(_logit(model.data_discriminator_net, x))) - np.log(1 - _sigmoid(fake_logits))
    return {"losses": {"loss": -np.log(_sigmoid(fake_logits))},
            "discriminators": {"data_discriminator_net": ("d_loss", d_loss)}}


def _wgan_critic(model, x, step):
    """Critic update `step` (Gulrajani et al. 2017, algorithm 1, line 7): f(G(z)) - f(x) + lambda (||grad f(x_hat)||
    - 1)^2 at x_hat = u x + (1 - u) G(z), u ~ U[0, 1] per example; returns (loss, penalty, f(x) - f(G(z)))."""
    critic = model.data_discriminator_net
    fake = _sigmoid(_net(model.decoder, _prior_draws(model, len(x), noise_salts.CRITIC_PRIOR + step))[0])
    u = _uniform(model, noise_salts.GRADIENT_PENALTY + step, [len(x), 1, 1, 1])
    scores, vjp = _net(critic, u * x + (1 - u) * fake)
    gradient = vjp(np.ones_like(scores))
    penalty = (np.sqrt(np.sum(_flat(gradient) ** 2, axis=1)) - 1.0) ** 2
    real_scores, fake_scores = _logit(critic, x), _logit(critic, fake)
    return fake_scores - real_scores + 4.0 * penalty, penalty, real_scores - fake_scores


@oracle("wgan_gp", critic_steps=2, gradient_penalty=4.0)
def _wgan_gp(model, x):
    """Generator: -f(G(z)) (Gulrajani et al. 2017, algorithm 1, line 11); critic: `_wgan_critic`. The critic has no
    output bias (it cancels from both losses)."""
    assert not model.data_discriminator_net.layers[-1].use_bias
    for step in (0, 1):  # each critic update draws its own fakes and interpolation weights
        actual = model.critic_losses(tf.constant(x, tf.float32), step)
        expected = _wgan_critic(model, x, step)
        assert len(actual) == len(expected) == 3
        for name, value, oracle_value in zip(("loss", "penalty", "distance"), actual, expected):
            np.testing.assert_allclose(value.numpy(), oracle_value, rtol=1e-4, atol=1e-4, err_msg=f"{name} {step}")
    fake = _sigmoid(_net(model.decoder, _prior_draws(model, len(x)))[0])
    return {"losses": {"loss": -_logit(model.data_discriminator_net, fake)},
            "discriminators": {"data_discriminator_net": ("d_loss", _wgan_critic(model, x, 0)[0])}}


# ----------------------------------------------------------------------------------------------- tests
def _fixed_weights(model, seed=0):
    """Every variable of the model set from a fixed NumPy stream: kernels N(0, 1/fan_in), vectors and scalars
    N(0, 0.3^2), so biases are never zero and every network's outputs are of order 1."""
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        shape = tuple(variable.shape)
        scale = 1.0 / math.sqrt(math.prod(shape[:-1])) if len(shape) >= 2 else 0.3
        variable.assign(rng.normal(size=shape).astype(np.float32) * scale)


def _build(case):
    name, kwargs, batch, function = ORACLES[case]
    model = models.build(name, SHAPE, **kwargs)
    _fixed_weights(model)
    x = np.random.default_rng(1).uniform(0.05, 0.95, size=(batch, *SHAPE))
    return model, x, function


def _assert_terms(actual, expected, what):
    assert set(actual) == set(expected), f"{what}: the model reports {sorted(actual)}, the oracle {sorted(expected)}"
    for term, value in expected.items():
        np.testing.assert_allclose(np.asarray(actual[term], np.float64), value, rtol=2e-4, atol=2e-4,
                                   err_msg=f"{what}: {term}")


def test_every_registered_model_has_an_objective_oracle():
    missing = set(registry.names("model")) - {model_name for model_name, *_ in ORACLES.values()}
    assert not missing, f"Registered models without an objective oracle in {__name__}: {sorted(missing)}"


@pytest.mark.parametrize("case", sorted(ORACLES))
def test_objective_equals_the_papers_equation(case):
    model, x, function = _build(case)
    expected = function(model, x)  # before the model runs: a spectrally normalized layer rewrites its kernel
    inputs = tf.constant(x, tf.float32)
    _assert_terms(model.per_example_losses(inputs, training=True), expected["losses"], f"{case} losses")
    assert float(model.weight_penalty()) == pytest.approx(expected.get("weight_penalty", 0.0), rel=1e-5)
    discriminators = {}
    if isinstance(model, DiscriminatorTraining):
        discriminators = model.discriminator_objectives(inputs, training=True)
    assert set(discriminators) == set(expected.get("discriminators", {})), case
    for network, (log_name, values) in expected.get("discriminators", {}).items():
        assert discriminators[network][0] == log_name, (case, network)
        np.testing.assert_allclose(discriminators[network][1].numpy(), values, rtol=2e-4, atol=2e-4,
                                   err_msg=f"{case}: {network}")


# ------------------------------------------------------------------------------- which variables each update moves
def _mean(values):
    return tf.reduce_mean(values)


def _main_loss(model, x):
    return _mean(model.per_example_losses(x, training=True)["loss"]) + model.weight_penalty()


def _descend(updates, learning_rate):
    """Applies plain gradient descent for [(variables, loss function)], every gradient taken before any update (as
    one optimizer step, or simultaneous discriminator steps, take them)."""
    steps = []
    for variables, loss in updates:
        with tf.GradientTape() as tape:
            value = loss()
        steps.append((variables, tape.gradient(value, variables)))
    for variables, gradients in steps:
        assert any(g is not None and float(tf.reduce_max(tf.abs(g))) > 0 for g in gradients), "a vacuous update"
        for variable, gradient in zip(variables, gradients):
            if gradient is not None:
                variable.assign_sub(learning_rate * gradient)


def _others(model, *excluded):
    """The model's trainable variables outside the `excluded` networks."""
    ids = {id(v) for network in excluded for v in network.trainable_variables}
    return [v for v in model.trainable_variables if id(v) not in ids]


def _replayed_step(name, model, x, learning_rate):
    """The updates of one training step in the order of the model's paper, by hand: each with the loss of the
    network it trains (checked against NumPy above), and only that network's variables."""
    half = len(x) // 2
    if name in ("aae", "veegan", "dcgan", "factor_vae"):
        # The model's update, then its discriminator's, at the next step's noise. FactorVAE trains the VAE on the
        # first half of the batch and the discriminator on an independent second half (Kim & Mnih, algorithm 2).
        attribute = {"aae": "code_discriminator_net", "veegan": "joint_discriminator_net",
                     "dcgan": "data_discriminator_net", "factor_vae": "discriminator"}[name]
        network = getattr(model, attribute)
        main, rest = (x[:half], x[half:]) if name == "factor_vae" else (x, x)
        _descend([(_others(model, network), lambda: _main_loss(model, main))], learning_rate)
        model.optimizer.iterations.assign_add(1)
        _descend([(network.trainable_variables,
                   lambda: _mean(model.discriminator_objectives(rest, training=True)[attribute][1]))], learning_rate)
    elif name in ("vgh", "vgh_pp"):
        # Algorithm 5: the encoder on its loss (eq. 14), the generator on its own, then both discriminators.
        data, code = model.data_discriminator_net, model.code_discriminator_net
        _descend([(model.encoder.trainable_variables,
                   lambda: _mean(model.per_example_losses(x, training=True)["encoder_loss"])),
                  (_others(model, model.encoder, data, code),
                   lambda: _mean(model.per_example_losses(x, training=True)["generator_loss"]))], learning_rate)
        model.optimizer.iterations.assign_add(1)
        _descend([(data.trainable_variables,
                   lambda: _mean(model.discriminator_objectives(x, training=True)["data_discriminator_net"][1])),
                  (code.trainable_variables,
                   lambda: _mean(model.discriminator_objectives(x, training=True)["code_discriminator_net"][1]))],
                 learning_rate)
    elif name == "wgan_gp":
        # Algorithm 1: `critic_steps` critic updates, each on its own share of the batch, then the generator.
        critic = model.data_discriminator_net
        chunk = len(x) // model.critic_steps
        for step in range(model.critic_steps):
            part = x[step * chunk:(step + 1) * chunk]
            _descend([(critic.trainable_variables,
                       lambda: _mean(model.critic_losses(part, step)[0]))], learning_rate)  # noqa: B023
        _descend([(_others(model, critic), lambda: _main_loss(model, x))], learning_rate)
    elif name == "rae_l2":
        # One update of every variable on the batch's mean loss plus the weight penalty, counted once per step.
        _descend([(model.trainable_variables, lambda: _main_loss(model, x))], learning_rate)
    else:
        raise AssertionError(f"No replayed step for {name}")


ADVERSARIAL = ("aae", "dcgan", "factor_vae", "veegan", "vgh", "vgh_pp", "wgan_gp")


def test_every_adversarial_model_has_a_replayed_step():
    adversarial = {name for name in registry.names("model")
                   if issubclass(registry.get("model", name), DiscriminatorTraining)}
    assert adversarial == set(ADVERSARIAL)


@pytest.mark.parametrize("name", [*ADVERSARIAL, "rae_l2"])
def test_each_update_moves_only_its_networks_variables_along_its_own_loss(name):
    """One `replica_step` with plain SGD equals the paper's updates replayed by hand: a discriminator never moves on
    the model's loss, the model never on a discriminator's, and each network on its own loss (for RAE-L2, the one
    model with a weight penalty: the loss plus the penalty, once per step)."""
    model, x, _ = _build(name)
    learning_rate = 0.05
    discriminators = {"discriminator_optimizers": {network: keras.optimizers.SGD(learning_rate)
                                                   for network in model.discriminator_names}
                      } if isinstance(model, DiscriminatorTraining) else {}
    model.compile(optimizer=keras.optimizers.SGD(learning_rate), **discriminators)
    x = tf.constant(np.concatenate([x, x[::-1] * 0.9]), tf.float32)  # 8 examples: halves and critic chunks
    start = [v.numpy() for v in model.weights]
    _replayed_step(name, model, x, learning_rate)
    expected = [v.numpy() for v in model.weights]
    for variable, value in zip(model.weights, start):
        variable.assign(value)
    model.optimizer.iterations.assign(0)
    model.replica_step(x)
    for variable, value in zip(model.weights, expected):
        np.testing.assert_allclose(variable.numpy(), value, rtol=1e-4, atol=1e-6, err_msg=variable.path)
    moved = {v.path for v, value in zip(model.weights, start) if not np.array_equal(v.numpy(), value)}
    trainable = {v.path for v in model.trainable_weights}
    assert moved == trainable, sorted(trainable ^ moved)
