"""Installs tfvae: the library, its absl binaries (trainers, export, serving) and optional test tools."""
import setuptools

# Versions checked together on the reference machine (../shared/NOTES.md). TensorFlow, Keras and TFP move in lock
# step: a newer Keras or TFP release may need a newer TensorFlow, so the three are pinned exactly.
INSTALL_REQUIRES = [
    "tensorflow==2.21.0",
    "keras==3.15.1",
    "tensorflow-probability==0.25.0",
    "tf-keras==2.21.0",  # Only because TFP 0.25 imports it; tfvae itself always uses Keras 3.
    "tensorflow-datasets==4.9.10",
    "importlib_resources>=6",  # tensorflow-datasets 4.9.10 imports it without declaring it.
    "scikit-learn>=1.5,<2",
    "absl-py>=2.1,<3",
    "tensorboard==2.21.0",  # tf.summary needs it since TF 2.21 stopped depending on it; it is also the viewer.
    "numpy>=1.26",
    # TF Serving's own request protos, for the warmup file inside every export (and serving clients): writing
    # PredictionLog records by hand would duplicate the official definitions.
    "tensorflow-serving-api==2.21.0",
]

EXTRAS_REQUIRE = {
    "test": ["pytest>=8", "pytest-timeout>=2.3"],
}

setuptools.setup(
    name="tfvae",
    version="0.1.0",
    description="Generative autoencoders that sample well: VAEs, decoupled priors, RAEs, VAE-GAN hybrids, "
    "ex-post density estimation, SavedModel export and serving, in Keras 3 and TensorFlow.",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
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
