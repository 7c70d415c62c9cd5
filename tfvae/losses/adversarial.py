"""Adversarial losses on discriminator logits, per example."""
import tensorflow as tf


def discriminator_cross_entropy(real_logits, fake_logits):
    """-log D(real) - log(1 - D(fake)) with D = sigmoid(logit): the classifier GAN loss. Shapes [B] -> [B]."""
    return tf.nn.softplus(-real_logits) + tf.nn.softplus(fake_logits)


def non_saturating_generator_loss(fake_logits):
    """-log D(fake): the non-saturating generator loss of Goodfellow et al. (2014). Shape [B] -> [B]."""
    return tf.nn.softplus(-fake_logits)


def density_ratio_loss(fake_logits):
    """R(x) = -log D(x) + log(1 - D(x)) = -logit(x): the density-ratio loss of Rosca et al. (algorithm 5, lines 3-4).

    Minimizing it pushes log[D / (1 - D)], the estimated log density ratio of data to model, up at x.
    """
    return -fake_logits


def wasserstein_critic_loss(real_scores, fake_scores):
    """critic(fake) - critic(real), per example (WGAN, Arjovsky et al. 2017)."""
    return fake_scores - real_scores
