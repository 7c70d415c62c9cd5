"""Salts that keep the models' stateless noise streams apart (see `Generator.noise_seed`).

One table, so no two uses of noise in a step draw the same stream by accident. Values are part of the
reproducibility contract (a resumed run equals an uninterrupted one): never renumber an existing entry.
"""

TRAIN = 0             # posterior noise eps of a training step
TEST = 1              # posterior noise of validation steps
PRIOR = 2             # prior samples of a step (MMD, adversarial fakes, generator inputs)
PERMUTE = 3           # FactorVAE's dimension-wise permutation
CRITIC_PRIOR = 12     # WGAN-GP: prior samples of critic update k use CRITIC_PRIOR + k
GRADIENT_PENALTY = 40  # WGAN-GP: interpolation weights of critic update k use GRADIENT_PENALTY + k
