"""Training under tf.distribute strategies: strategy factory, checkpointed loop, image utilities."""
from tfvae.training.strategies import is_chief, make_strategy
from tfvae.training.trainer import Trainer, TrainingDiverged
