"""Latent-space metrics: how well the aggregate posterior q(z) matches the prior p(z).

- MMD between latents and N(0, I) (two-stage VAE paper, WAE): rbf in closed form, imq against reference draws;
- symmetric KL between prior and aggregate posterior by sampling (dpVAE section 5.1, 5000 samples);
- marginal KL[q(z) || p(z)] three ways (Rosca et al. appendix E): Monte Carlo over the data set (algorithm 2), the
  density ratio trick (algorithm 3), a density model of q(z) (algorithm 4);
- the leakage score LS(tau) (dpVAE eq. 6) and the prior mass of the pockets where q(z) is far below p(z) (dpVAE
  figures 1 and 3);
- the number of active latents (Burda et al. 2016; Rosca et al. figure 5b);
- the singular-value spectrum of latent samples (two-stage VAE paper, figure 2).

Every function takes arrays or callables; none reaches into a model.
"""
import math

import keras
import numpy as np
import tensorflow as tf

from tfvae.losses import mmd


def mmd_to_standard_normal(latents, kernel="rbf", bandwidth=None, num_reference=None, seed=0):
    """Unbiased MMD^2 between latents [N, L] and N(0, I).

    rbf: k(x, y) = exp(-||x - y||^2 / (2 h^2)) with h^2 = L by default (typical N(0, I) distances, about 2L, give
    values of order exp(-1)); the N(0, I) expectations are exact:
        E_{y,y'} k(y, y') = (h^2 / (h^2 + 2))^{L/2}
        E_y k(x, y) = (h^2 / (h^2 + 1))^{L/2} exp(-||x||^2 / (2 (h^2 + 1)))
    imq: WAE's multi-scale inverse multiquadratic kernel (scales 0.1..10 times 2L), against `num_reference` draws
    (default: as many as latents) with `seed`; it has no closed form.

    Returns:
        float MMD^2 (can be slightly negative: the estimator is unbiased).
    """
    x = np.asarray(latents, np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"latents must be [N >= 2, L]. Received: shape {x.shape}")
    n, dim = x.shape
    if kernel == "rbf":
        h2 = float(bandwidth) ** 2 if bandwidth is not None else float(dim)
        squared = np.sum(x ** 2, axis=1)
        total = 0.0
        for start in range(0, n, 2048):  # row blocks keep memory at 2048 x N
            block = x[start:start + 2048]
            distances = np.maximum(squared[start:start + 2048, None] - 2 * block @ x.T + squared[None, :], 0.0)
            total += np.exp(-distances / (2 * h2)).sum()
        within = (total - n) / (n * (n - 1))
        cross = (h2 / (h2 + 1)) ** (dim / 2) * np.exp(-squared / (2 * (h2 + 1))).mean()
        prior = (h2 / (h2 + 2)) ** (dim / 2)
        return float(within - 2 * cross + prior)
    if kernel == "imq":
        reference = np.random.default_rng(seed).normal(size=(num_reference or n, dim))
        return float(mmd(tf.constant(x, tf.float32), tf.constant(reference, tf.float32), kernel="imq").numpy())
    raise ValueError(f"kernel must be 'rbf' or 'imq'. Received: {kernel!r}")


def symmetric_kl(prior_samples, posterior_samples, log_prior, log_posterior):
    """sKL = KL[p || q] + KL[q || p], each a Monte Carlo average over samples of its first argument.

    Args:
        prior_samples: [N, L] draws of p(z). posterior_samples: [M, L] draws of q(z) (encoded data).
        log_prior, log_posterior: callables [K, L] -> [K] log-densities (for q(z): the aggregate posterior,
            e.g. `aggregate_posterior_log_density` over the data set).

    Returns:
        dict with `kl_prior_posterior`, `kl_posterior_prior` and `symmetric_kl`.
    """
    forward = float(np.mean(np.asarray(log_prior(prior_samples)) - np.asarray(log_posterior(prior_samples))))
    backward = float(np.mean(np.asarray(log_posterior(posterior_samples)) -
                             np.asarray(log_prior(posterior_samples))))
    return {"kl_prior_posterior": forward, "kl_posterior_prior": backward, "symmetric_kl": forward + backward}


def marginal_kl_monte_carlo(posterior_samples, log_aggregate_posterior, log_prior):
    """KL[q(z) || p(z)] by Monte Carlo (Rosca et al., algorithm 2): the mean of log q(z_i) - log p(z_i).

    q(z) = 1/N sum_n q(z | x_n) over the whole data set (the paper's pseudocode writes log-sum-exp without the
    -log N of the average), e.g. `aggregate_posterior_log_density` of the Gaussian posteriors N(mu_n, sigma_n^2),
    with a posterior flow's Jacobian term where the posteriors go through one; z_i ~ q(z | x_i) for data points x_i.

    Args:
        posterior_samples: [M, L] draws z_i of the posteriors q(z | x_i), i.e. exact draws of q.
        log_aggregate_posterior: callable [M, L] -> [M] log q(z).
        log_prior: callable [M, L] -> [M] log p(z).

    Returns:
        float.
    """
    return float(np.mean(np.asarray(log_aggregate_posterior(posterior_samples), np.float64)
                         - np.asarray(log_prior(posterior_samples), np.float64)))


def marginal_kl_density_ratio(posterior_samples, prior_samples, eval_posterior_samples, steps=2000, batch_size=256,
                              hidden_units=(256, 256, 256), learning_rate=5e-4, seed=0):
    """KL[q(z) || p(z)] by the density ratio trick (Rosca et al., algorithm 3).

    A classifier C is trained to tell posterior samples (label 1) from prior samples (label 0); at optimum its logit
    is log q(z)/p(z), averaged over held-out posterior samples. The paper shows this estimate is sensitive to the
    classifier and tends to underestimate: report it beside algorithm 2.

    Returns:
        float.
    """
    posterior = np.asarray(posterior_samples, np.float32)
    prior = np.asarray(prior_samples, np.float32)
    keras.utils.set_random_seed(seed)
    classifier = keras.Sequential([keras.Input(posterior.shape[1:])] + [
        layer for units in hidden_units for layer in (keras.layers.Dense(units), keras.layers.LeakyReLU(0.2))] +
        [keras.layers.Dense(1)])
    optimizer = keras.optimizers.Adam(learning_rate, beta_1=0.9, beta_2=0.9)
    optimizer.build(classifier.trainable_variables)

    @tf.function
    def step(q_batch, p_batch):
        with tf.GradientTape() as tape:
            logits = tf.concat([classifier(q_batch), classifier(p_batch)], axis=0)[:, 0]
            labels = tf.concat([tf.ones(tf.shape(q_batch)[0]), tf.zeros(tf.shape(p_batch)[0])], axis=0)
            loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels, logits))
        optimizer.apply_gradients(zip(tape.gradient(loss, classifier.trainable_variables),
                                      classifier.trainable_variables))

    rng = np.random.default_rng(seed)
    for _ in range(int(steps)):
        step(posterior[rng.integers(0, len(posterior), batch_size)], prior[rng.integers(0, len(prior), batch_size)])
    held_out = np.asarray(eval_posterior_samples, np.float32)
    return float(np.mean(classifier.predict(held_out, batch_size=4096, verbose=0)[:, 0]))


def marginal_kl_density_model(train_samples, eval_samples, log_prior, density=None):
    """KL[q(z) || p(z)] with a density model t(z) of q(z) (Rosca et al., algorithm 4): mean log t(z) - log p(z).

    Args:
        train_samples: [N, L] posterior samples t is fitted on.
        eval_samples: [M, L] other posterior samples the average runs over.
        log_prior: callable [M, L] -> [M].
        density: a `tfvae.density` estimator (unfitted); defaults to a 10-component GMM.

    Returns:
        float.
    """
    from tfvae.density import GaussianMixture

    density = density or GaussianMixture(num_components=10)
    density.fit(np.asarray(train_samples, np.float64))
    eval_samples = np.asarray(eval_samples, np.float32)
    return float(np.mean(density.log_prob(eval_samples).numpy() - np.asarray(log_prior(eval_samples))))


def leakage_score(log_posterior, log_prior, thresholds):
    """LS(tau) = E_{z ~ q(z)}[S_tau(z)], S_tau(z) = log q(z) - log p(h(z)) where log p(h(z)) < tau, else 0
    (dpVAE eq. 6; h is the identity for a standard prior and g, the map to generation space, for a decoupled one).

    Args:
        log_posterior: [N] log q(z) at samples z of the aggregate posterior.
        log_prior: [N] log p(h(z)) at the same samples.
        thresholds: sequence of tau.

    Returns:
        dict with `thresholds`, `scores` (one LS per tau) and `fraction` (share of samples below each tau).
    """
    log_q, log_p = np.asarray(log_posterior, np.float64), np.asarray(log_prior, np.float64)
    if log_q.shape != log_p.shape or log_q.ndim != 1:
        raise ValueError(f"log_posterior and log_prior must be [N] arrays of one length. Received: {log_q.shape} "
                         f"and {log_p.shape}")
    taus = np.asarray(thresholds, np.float64)
    below = log_p[None, :] < taus[:, None]
    scores = np.where(below, (log_q - log_p)[None, :], 0.0).mean(axis=1)
    return {"thresholds": taus.tolist(), "scores": scores.tolist(), "fraction": below.mean(axis=1).tolist()}


def pocket_mass(log_posterior, log_prior, ratios):
    """The prior mass of the latent space's "pockets": P_{z ~ p}[q(z) / p(z) < r] for each ratio r, the share of
    prior samples that land where the aggregate posterior has under r times the prior's density (dpVAE figures 1
    and 3 draw these regions; their decoded samples are the low-posterior ones). The ratio q/p, and so this mass,
    is unchanged by any bijection of the latent space, e.g. a decoupled prior's g.

    Args:
        log_posterior: [N] log q(z) at prior samples z ~ p(z).
        log_prior: [N] log p(z) at the same samples.
        ratios: sequence of r in (0, 1].

    Returns:
        dict with `ratios`, `mass` (one share per ratio) and `standard_error` (binomial, per ratio).
    """
    log_q, log_p = np.asarray(log_posterior, np.float64), np.asarray(log_prior, np.float64)
    if log_q.shape != log_p.shape or log_q.ndim != 1 or not len(log_q):
        raise ValueError(f"log_posterior and log_prior must be non-empty [N] arrays of one length. Received: "
                         f"{log_q.shape} and {log_p.shape}")
    ratios = np.asarray(ratios, np.float64)
    if np.any(ratios <= 0) or np.any(ratios > 1):
        raise ValueError(f"ratios must lie in (0, 1]. Received: {ratios.tolist()}")
    below = (log_q - log_p)[None, :] < np.log(ratios)[:, None]
    mass = below.mean(axis=1)
    return {"ratios": ratios.tolist(), "mass": mass.tolist(),
            "standard_error": np.sqrt(mass * (1 - mass) / len(log_q)).tolist()}


def active_latents(posterior_means, threshold=0.01):
    """The latents a model uses: unit u is active when A_u = Cov_x(E_{q(z | x)}[z_u]) > threshold (Burda et al.
    2016, section 5.2: 0.01), the variance over examples of its posterior mean (of the code itself for a
    deterministic encoder).

    Args:
        posterior_means: [N, L] posterior means (or codes) of N examples.
        threshold: float.

    Returns:
        dict with `count` (int), `activity` ([L] A_u) and `threshold`.
    """
    means = np.asarray(posterior_means, np.float64)
    if means.ndim != 2 or len(means) < 2:
        raise ValueError(f"posterior_means must be [N, L] with N >= 2. Received: shape {means.shape}")
    activity = means.var(axis=0)
    return {"count": int(np.sum(activity > threshold)), "activity": activity.tolist(), "threshold": float(threshold)}


def singular_values(latents):
    """Singular values of the centered latents / sqrt(N - 1), descending: the standard deviations along the
    principal axes (two-stage VAE figure 2: a VAE on a manifold of dimension r < L shows r values near 1 and the
    rest near 0 for the posterior means)."""
    z = np.asarray(latents, np.float64)
    if z.ndim != 2 or len(z) < 2:
        raise ValueError(f"latents must be [N >= 2, L]. Received: shape {z.shape}")
    return np.linalg.svd(z - z.mean(axis=0), compute_uv=False) / math.sqrt(len(z) - 1)
