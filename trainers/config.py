"""The resolved configuration of one run, written to WORKDIR/config.json."""
import dataclasses
import json
import os
from typing import Optional

import tensorflow as tf

from tfvae import precision, registry
from tfvae import training  # noqa: F401  (registers the strategies validate() checks)
from tfvae.data.streamed_split import check_cache
from tfvae.files import atomic_write, read_text
from tfvae.models.generator import STEPS_PER_EXECUTION

CONFIG_FILE = "config.json"
# The layout of a workdir (checkpoint objects, density files, history). Bumped when it changes: a workdir of another
# format is refused as a whole, never half-loaded. Format 1: history records before checkpoints, densities with
# params_sha256, every weight in the checkpoints by its position (`tfvae.training.weights_by_position`).
WORKDIR_FORMAT = 1
WORKDIR_FORMAT_KEY = "tfvae_workdir_format"
# Fields that define the model and data: a workdir's checkpoints only fit a run with the same values.
_IDENTITY_FIELDS = ("model", "dataset", "pad_to", "resize_to", "network", "latent_dim", "likelihood", "prior",
                    "model_kwargs")


def _field(default, help, flag=None, choices=None):
    """A configuration field with its command-line help; the flags of trainers.train are derived from these
    (`trainers.flags.define_train_flags`), never written out a second time."""
    metadata = {"help": help, "flag": flag, "choices": choices}
    if isinstance(default, dict):
        return dataclasses.field(default_factory=lambda: dict(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything a run needs, declared once: the fields, their defaults and their command-line help (each field
    is the flag of the same name; `densities` is --density). `resolve` fills the dataset-dependent defaults
    (network, latent size, likelihood); WORKDIR/config.json holds the resolved values, and `--config=FILE` starts
    a run from such a file."""

    workdir: str = _field("/tmp/tfvae/main", "Folder of the run: config, checkpoints, logs, densities, export.")
    model: str = _field("rae_l2", "Registered model name, e.g. vae, ae, rae, rae_l2.")
    dataset: str = _field("digits", "digits, moons, fashion_mnist, npz:PATH, folder:PATH, tfrecord:PATTERN (a glob, "
                          "{split} for train/validation/test) or a TFDS name (tfds:NAME).")
    data_dir: Optional[str] = _field(None, "IDX folder (fashion_mnist) or TFDS data_dir.")
    download: bool = _field(True, "Let a TFDS data set that is not prepared in --data_dir download and prepare itself "
                            "(TFDS's download_and_prepare); --download=false forbids it.")
    cache: Optional[str] = _field(None, "Cache a streamed data set (tfrecord:, TFDS) after its first read: 'memory', "
                                  "or a folder for cache files (local or a URL, e.g. gs://bucket/cache); unset: "
                                  "read the files every epoch. Keep it when resuming: it changes the epochs' "
                                  "order.")
    pad_to: Optional[int] = _field(None, "Zero-pad images to this size (RAE protocol: 32 for 28 px).")
    resize_to: Optional[int] = _field(None, "Resize images to this size.")
    max_train_examples: Optional[int] = _field(None, "Train on the first N training examples only (a quick look).")
    max_validation_examples: Optional[int] = _field(None, "Validate on the first N validation examples only.")
    network: Optional[str] = _field(None, "mlp, conv or rae_conv; default by data (mlp below 28 px).")
    latent_dim: Optional[int] = _field(None, "Latent dimensions; default 16 for images, 2 for points.")
    likelihood: Optional[str] = _field(None, "Decoder likelihood: bernoulli, gaussian, gaussian_learned.")
    prior: str = _field("standard", "Prior over latents.")
    model_kwargs: dict = _field({}, 'JSON of extra model hyperparameters, e.g. \'{"beta": 0.5}\'.')
    epochs: int = _field(100, "Training epochs.")
    batch_size: int = _field(100, "Global batch size.")
    learning_rate: float = _field(1e-3, "Initial Adam learning rate (halved on plateau).")
    seed: int = _field(0, "Seed of initialization, shuffling and training noise.")
    strategy: str = _field("default", "tf.distribute strategy; multi_worker reads TF_CONFIG.",
                           choices=("default", "mirrored", "multi_worker", "tpu"))
    tpu: Optional[str] = _field(None, "TPU address for --strategy=tpu.")
    patience: int = _field(10, "Epochs without validation improvement before halving the LR; 0: a fixed LR.")
    halve_every_epochs: int = _field(0, "Also halve the LR every N epochs; 0: never.")
    steps_per_execution: int = _field(STEPS_PER_EXECUTION, "Training steps per compiled call.")
    jit_compile: bool = _field(False, "Compile the train step with XLA.")
    mixed_precision: str = _field("float32", "Dtype policy of the networks; priors, flows, likelihoods and losses "
                                  "stay float32.", choices=tuple(precision.POLICIES))
    densities: tuple = _field(("gaussian", "gmm"), "Ex-post densities fitted after training.", flag="density")
    components: int = _field(10, "Components of the gmm density.")
    default_sampler: Optional[str] = _field(None, "Sampler behind the exported `sample` endpoint (default gmm).")
    export_base: Optional[str] = _field(None, "TF Serving base folder (default WORKDIR/export).")

    def validate(self):
        """Checks names and ranges before any work starts."""
        registry.get("model", self.model)
        registry.get("prior", self.prior)
        registry.get("strategy", self.strategy)
        if self.network is not None:
            registry.get("network", self.network)
        if self.likelihood is not None:
            registry.get("likelihood", self.likelihood)
        for name in self.densities:
            registry.get("density", name)
        precision.check_policy(self.mixed_precision)
        check_cache(self.cache)
        if "mixed_precision" in self.model_kwargs:
            raise ValueError(f"Set the dtype policy with --mixed_precision, not in --model_kwargs (the binaries build "
                             f"the exported and evaluated model in float32 from the same configuration). Received: "
                             f"model_kwargs={self.model_kwargs}")
        for field in ("epochs", "batch_size", "components", "steps_per_execution"):
            if getattr(self, field) < 1:
                raise ValueError(f"--{field} must be at least 1. Received: {field}={getattr(self, field)}")
        for field in ("max_train_examples", "max_validation_examples", "pad_to", "resize_to"):
            if getattr(self, field) is not None and getattr(self, field) < 1:
                raise ValueError(f"--{field} must be at least 1 (or left unset). Received: {field}="
                                 f"{getattr(self, field)}")
        if self.halve_every_epochs < 0:
            raise ValueError(f"--halve_every_epochs must be 0 (no step schedule) or positive. Received: "
                             f"halve_every_epochs={self.halve_every_epochs}")
        if self.patience < 0:
            raise ValueError(f"--patience must be 0 (a fixed learning rate) or positive. Received: "
                             f"patience={self.patience}")
        if self.latent_dim is not None and self.latent_dim < 1:
            raise ValueError(f"--latent_dim must be at least 1. Received: latent_dim={self.latent_dim}")
        if not self.learning_rate > 0:
            raise ValueError(f"--learning_rate must be positive. Received: learning_rate={self.learning_rate}")
        if self.pad_to and self.resize_to:
            raise ValueError(f"--pad_to and --resize_to are exclusive. Received: pad_to={self.pad_to}, "
                             f"resize_to={self.resize_to}")
        if self.strategy == "tpu" and not self.tpu:
            raise ValueError("--strategy=tpu needs --tpu=ADDRESS. Received: tpu=None")
        samplers = {"prior", *self.densities}
        if self.default_sampler is not None and self.default_sampler not in samplers:
            raise ValueError(f"--default_sampler must be one of the fitted samplers {sorted(samplers)}. "
                             f"Received: {self.default_sampler!r}")
        return self

    def resolve(self, splits):
        """Returns a copy with the dataset-dependent defaults filled in."""
        images = splits.is_image
        size = max(splits.element_shape[:2]) if images else 0
        likelihood = self.likelihood
        if not images and likelihood is None:
            likelihood = "gaussian"  # Bernoulli makes no sense for unbounded points.
        model_class = registry.get("model", self.model)
        densities = tuple(dict.fromkeys((*self.densities, *model_class.ex_post_densities)))
        return dataclasses.replace(
            self,
            network=self.network or ("rae_conv" if images and size >= 28 else "mlp"),
            latent_dim=self.latent_dim or (16 if images else 2),
            likelihood=likelihood,
            densities=densities,
            default_sampler=self.default_sampler or model_class.default_sampler(densities),
            export_base=self.export_base or os.path.join(self.workdir, "export"),
        )

    def model_arguments(self, splits):
        """Constructor arguments of the model (besides the input shape) for data `splits`."""
        arguments = {"latent_dim": self.latent_dim, "network": self.network, "prior": self.prior, "seed": self.seed,
                     **self.model_kwargs}
        if self.likelihood is not None:
            arguments["likelihood"] = self.likelihood
        if registry.get("model", self.model).needs_dataset_size:
            arguments.setdefault("dataset_size", len(splits.train))
        if not splits.is_image:
            arguments["likelihood_kwargs"] = {"bounded": False, **arguments.get("likelihood_kwargs", {})}
        return arguments

    def to_json(self):
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text):
        values = json.loads(text)
        values["densities"] = tuple(values.get("densities", ()))
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


def read_config(workdir):
    """Reads WORKDIR/config.json with a clear error when the workdir holds no run."""
    path = os.path.join(workdir, CONFIG_FILE)
    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(f"{path} not found: {workdir} holds no tfvae run. Train first with "
                                f"`python -m trainers.train --workdir={workdir}`. Received: workdir={workdir!r}")
    text = read_text(path)
    try:
        values = json.loads(text)
    except ValueError as error:
        raise ValueError(f"{path} is not valid JSON ({error}); the workdir is damaged. Use a new --workdir. "
                         f"Received: workdir={workdir!r}") from error
    found = values.get(WORKDIR_FORMAT_KEY) if isinstance(values, dict) else None
    if found != WORKDIR_FORMAT:
        raise ValueError(f"{workdir} was written by another version of tfvae (workdir format {found}; this version "
                         f"reads format {WORKDIR_FORMAT}), so its checkpoints and densities may not load as "
                         f"written. Train into a new --workdir. Received: workdir={workdir!r}")
    return TrainConfig.from_json(text)


def write_config(config):
    """Writes WORKDIR/config.json atomically, refusing to overwrite a run of a different model or data set."""
    tf.io.gfile.makedirs(config.workdir)
    path = os.path.join(config.workdir, CONFIG_FILE)
    if tf.io.gfile.exists(path):
        previous = read_config(config.workdir)
        changed = {f: (getattr(previous, f), getattr(config, f)) for f in _IDENTITY_FIELDS
                   if getattr(previous, f) != getattr(config, f)}
        if changed:
            raise ValueError(f"{config.workdir} holds a run with a different configuration, so its checkpoints "
                             f"cannot be resumed: {changed} (previous, new). Use a new --workdir or the previous "
                             f"flags. Received: workdir={config.workdir!r}")
    atomic_write(path, json.dumps({**json.loads(config.to_json()), WORKDIR_FORMAT_KEY: WORKDIR_FORMAT}, indent=2,
                                  sort_keys=True))
