"""Class names that `.keras` files written by older tfvae versions hold, kept so those files still load.

Until 2026-12-07 two library pieces had tfvae replacements, both dropped then under the rule that a custom
replacement must buy at least 10% of a user-visible time (docs/speed.md, "Replacements tried and dropped"):

- `tfvae>ShiftAddConv2DTranspose`, the decoders' last layer: Keras' `Conv2DTranspose` with a faster forward pass
  on CPU for one output channel; +2.4% of a CPU training step.
- `tfvae>FusedAdam`, every optimizer: Keras' `Adam` with TensorFlow's fused update kernel; it made tracing a step
  0.36 s cheaper and the step itself no faster.

Both had Keras' variables in Keras' order, so checkpoints restore either way; a `.keras` file that names them loads
them as the Keras classes they extended.
"""
import keras


@keras.saving.register_keras_serializable("tfvae", name="ShiftAddConv2DTranspose")
class ShiftAddConv2DTranspose(keras.layers.Conv2DTranspose):
    """`keras.layers.Conv2DTranspose` under its former tfvae name (for loading older `.keras` files)."""


@keras.saving.register_keras_serializable("tfvae", name="FusedAdam")
class FusedAdam(keras.optimizers.Adam):
    """`keras.optimizers.Adam` under its former tfvae name (for loading older `.keras` files)."""
