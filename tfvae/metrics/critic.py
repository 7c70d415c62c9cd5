"""The independent Wasserstein critic (Rosca et al. section 6; Danihelka et al. 2017).

A fresh WGAN-GP critic is trained to separate real data from samples, then scored on held-out real data and
held-out samples it never saw: the gap E[f(real)] - E[f(samples)] estimates the Wasserstein-1 distance between the
two distributions (the critic is kept near 1-Lipschitz by the gradient penalty), and, being measured on held-out
data, it also catches a generator that memorizes its training set.
"""
import keras
import numpy as np
import tensorflow as tf

from tfvae.losses import critic_gradient_penalty


def _critic_network(input_shape, hidden_units, seed):
    keras.utils.set_random_seed(seed)
    layers = [keras.Input(input_shape), keras.layers.Flatten()]
    for units in hidden_units:
        layers += [keras.layers.Dense(units), keras.layers.LeakyReLU(0.2)]
    layers.append(keras.layers.Dense(1))
    return keras.Sequential(layers)


def independent_critic_distance(train_real, train_fake, test_real, test_fake, steps=2000, batch_size=64,
                                hidden_units=(256, 256, 256), penalty_weight=10.0, learning_rate=5e-4, seed=0):
    """Trains a WGAN-GP critic on (train_real, train_fake) and returns its Wasserstein estimate on the test sets.

    Args:
        train_real, train_fake: [N, ...] data and samples the critic is trained on (e.g. the validation split and
            one set of samples).
        test_real, test_fake: [M, ...] held-out data (the test split) and fresh samples, scored after training.
        steps: int. Critic updates. Defaults to 2000.
        batch_size: int. Defaults to 64.
        hidden_units: tuple of int. MLP critic on flattened inputs, leaky ReLU 0.2. Defaults to 3 x 256.
        penalty_weight: float. Gradient penalty lambda. Defaults to 10 (Gulrajani et al.).
        learning_rate: float. Adam with beta_1 = 0.5, beta_2 = 0.9. Defaults to 5e-4 (the critic trains alone, to
            convergence, not against a moving generator).
        seed: int. Initialization, batches and interpolation weights.

    Returns:
        dict with `distance` (E_test[f(real)] - E_test[f(fake)]), `standard_error` and `train_distance`.
    """
    arrays = [np.asarray(a, np.float32) for a in (train_real, train_fake, test_real, test_fake)]
    shapes = {a.shape[1:] for a in arrays}
    if len(shapes) != 1 or min(len(a) for a in arrays) < 2:
        raise ValueError(f"The four sets must hold at least 2 examples each, all of one shape. Received shapes "
                         f"{[a.shape for a in arrays]}")
    train_real, train_fake, test_real, test_fake = arrays
    critic = _critic_network(train_real.shape[1:], hidden_units, seed)
    optimizer = keras.optimizers.Adam(learning_rate, beta_1=0.5, beta_2=0.9)
    optimizer.build(critic.trainable_variables)

    @tf.function
    def step(real, fake, step_seed):
        with tf.GradientTape() as tape:
            gap = tf.reduce_mean(critic(fake)) - tf.reduce_mean(critic(real))
            penalty = tf.reduce_mean(critic_gradient_penalty(lambda x: critic(x), real, fake, step_seed))
            loss = gap + penalty_weight * penalty
        optimizer.apply_gradients(zip(tape.gradient(loss, critic.trainable_variables), critic.trainable_variables))
        return -gap

    rng = np.random.default_rng(seed)
    for index in range(int(steps)):
        real = train_real[rng.integers(0, len(train_real), batch_size)]
        fake = train_fake[rng.integers(0, len(train_fake), batch_size)]
        step(real, fake, tf.constant([seed, index], tf.int32))

    def scores(x):
        return np.concatenate([critic(x[i:i + 1024]).numpy()[:, 0] for i in range(0, len(x), 1024)])

    real_scores, fake_scores = scores(test_real), scores(test_fake)
    standard_error = np.sqrt(real_scores.var(ddof=1) / len(real_scores) + fake_scores.var(ddof=1) / len(fake_scores))
    return {"distance": float(real_scores.mean() - fake_scores.mean()), "standard_error": float(standard_error),
            "train_distance": float(scores(train_real).mean() - scores(train_fake).mean())}
