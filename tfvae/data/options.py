"""tf.data options shared by every pipeline of tfvae."""
import tensorflow as tf


def without_autotuning(dataset):
    """`dataset` with tf.data's autotuning turned off.

    With autotuning on (tf.data's default, whatever the pipeline's arguments), deleting an iterator waits for the
    autotuning thread to wake from its sleep, which grows to seconds as the iterator lives: on a 2-core machine
    a third to a half of the training epochs lost 2.2-2.5 s each there, for 2.6 s of training steps: the "two-speed
    flip" of training throughput (docs/speed.md). Every pipeline that makes a new iterator per epoch needs
    this; tfvae's pipelines have fixed parallelism (in-memory slices with one cheap map, or streamed files read and
    decoded by a fixed number of threads), which needs no tuning.
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)
