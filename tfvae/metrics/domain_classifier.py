"""A small classifier trained on the data set's labels: "domain" features for a fast Frechet distance on CPU, and
class probabilities for an Inception-style score on MNIST-like data.

The official Inception network has no logits offline and costs about 0.1 s per image on a 2-core CPU; this network
costs well under a millisecond. Its numbers are comparable only with numbers from the same classifier: reports
record its weights hash and test accuracy.
"""
import hashlib
import json
import os

import keras
import numpy as np
import tensorflow as tf

from tfvae.files import atomic_write, read_text
from tfvae.metrics.feature_extractor import FeatureExtractor

MODEL_FILE = "classifier.keras"
INFO_FILE = "info.json"


def _network(input_shape, num_classes, feature_dim):
    inputs = keras.Input(input_shape)
    if len(input_shape) == 3:
        x = keras.layers.Conv2D(32, 3, padding="same", activation="relu")(inputs)
        x = keras.layers.Conv2D(64, 3, strides=2, padding="same", activation="relu")(x)
        x = keras.layers.Conv2D(128, 3, strides=2, padding="same", activation="relu")(x)
        x = keras.layers.Flatten()(x)  # keeps where features are; global pooling cost 11 points of accuracy
    else:
        x = keras.layers.Dense(128, activation="relu")(inputs)
    features = keras.layers.Dense(feature_dim, activation="relu", name="features")(x)
    logits = keras.layers.Dense(num_classes, name="logits")(keras.layers.Dropout(0.3)(features))
    return keras.Model(inputs, [features, logits], name="domain_classifier")


class DomainClassifier(FeatureExtractor):
    """Classifier features [N, feature_dim] and class probabilities [N, C] for examples of one data set.

    Build with `train` (fits on labelled data and reports the test accuracy) or `load` (a saved one).

    Attributes:
        model: keras.Model x -> (features, logits).
        info: dict with `dataset`, `test_accuracy`, `num_classes`, `feature_dim`, `epochs`, `weights_sha256`.
    """

    short_name = "domain"

    def __init__(self, model, info):
        self.model = model
        self.info = dict(info)
        # One traced call for every batch of every set (Keras' `predict` costs ~0.1 s of setup per call, more than
        # the network on an evaluation's few hundred examples).
        self._call = tf.function(lambda x: self.model(x, training=False), reduce_retracing=True)

    @property
    def name(self):
        return f"domain classifier of {self.info['dataset']} (test accuracy {self.info['test_accuracy']:.3f})"

    @property
    def weights_sha256(self):
        return self.info["weights_sha256"]

    @classmethod
    def train(cls, dataset, train_x, train_labels, test_x, test_labels, epochs=10, batch_size=128, feature_dim=128,
              seed=0):
        """Trains on (train_x, train_labels) and measures the accuracy on (test_x, test_labels)."""
        train_labels = np.asarray(train_labels).astype(np.int64)
        if train_labels.ndim != 1 or len(train_labels) != len(train_x) or train_labels.min() < 0:
            raise ValueError(f"Labels must be one non-negative integer per training example. Received: shape "
                             f"{train_labels.shape} for {len(train_x)} examples")
        num_classes = int(train_labels.max()) + 1
        keras.utils.set_random_seed(seed)
        model = _network(train_x.shape[1:], num_classes, feature_dim)
        trainer = keras.Model(model.input, model.output[1])
        trainer.compile(keras.optimizers.Adam(1e-3),
                        keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
        trainer.fit(train_x, train_labels, batch_size=batch_size, epochs=epochs, verbose=0, shuffle=True)
        accuracy = float(np.mean(np.argmax(trainer.predict(test_x, batch_size=1024, verbose=0), axis=1)
                                 == np.asarray(test_labels)))
        digest = hashlib.sha256(b"".join(np.asarray(w).tobytes() for w in model.get_weights())).hexdigest()
        return cls(model, {"dataset": dataset, "test_accuracy": accuracy, "num_classes": num_classes,
                           "feature_dim": feature_dim, "epochs": epochs, "seed": seed, "weights_sha256": digest})

    def save(self, directory):
        tf.io.gfile.makedirs(directory)
        self.model.save(os.path.join(directory, MODEL_FILE))  # Keras writes URLs (gs://) through tf.io.gfile
        atomic_write(os.path.join(directory, INFO_FILE), json.dumps(self.info, indent=2))

    @classmethod
    def load(cls, directory):
        paths = [os.path.join(directory, name) for name in (MODEL_FILE, INFO_FILE)]
        missing = [p for p in paths if not tf.io.gfile.exists(p)]
        if missing:
            raise FileNotFoundError(f"No saved domain classifier in {directory}: missing {missing}.")
        info = json.loads(read_text(paths[1]))
        return cls(keras.models.load_model(paths[0]), info)

    def _outputs(self, x, batch_size):
        """(features [N, feature_dim], logits [N, C]) of the examples x, as NumPy arrays."""
        x = np.asarray(x, np.float32)
        parts = [self._call(x[start:start + batch_size]) for start in range(0, len(x), batch_size)]
        if not parts:
            return (np.zeros((0, self.info["feature_dim"]), np.float32),
                    np.zeros((0, self.info["num_classes"]), np.float32))
        return tuple(np.concatenate([part[index].numpy() for part in parts]) for index in (0, 1))

    def features(self, x, batch_size=1024):
        return self._outputs(x, batch_size)[0]

    def protocol(self):
        return {"extractor": self.name, "weights_sha256": self.weights_sha256,
                "classifier_test_accuracy": self.info["test_accuracy"]}

    @property
    def has_probabilities(self):
        return True

    def probabilities(self, x, features=None, batch_size=1024):
        """Class probabilities [N, C] (`features`, when given, are not needed: the logits come from `x`)."""
        del features
        logits = self._outputs(x, batch_size)[1]
        logits = logits - logits.max(axis=1, keepdims=True)
        return np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
