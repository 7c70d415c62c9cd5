"""Training under tf.distribute strategies: strategy factory and the checkpointed loop."""
from tfvae.training.strategies import is_chief, make_strategy
from tfvae.training.trainer import Trainer, TrainingDiverged, restore_weights, weights_by_position
