"""Command-line flags of the binaries, defined once so that train, fit_density, evaluate and export read a flag the
same way, with defaults from `TrainConfig`. Every flag is optional."""
import json

from absl import flags

from tfvae import precision
from trainers.config import TrainConfig

_D = TrainConfig()

WORKDIR = flags.DEFINE_string("workdir", _D.workdir, "Folder of the run: config, checkpoints, logs, densities, export.")


def define_train_flags():
    """Flags of trainers.train."""
    flags.DEFINE_string("model", _D.model, "Registered model name, e.g. vae, ae, rae, rae_l2.")
    flags.DEFINE_string("dataset", _D.dataset, "digits, moons, fashion_mnist, npz:PATH, folder:PATH or a TFDS name.")
    flags.DEFINE_string("data_dir", None, "IDX folder (fashion_mnist) or prepared TFDS data_dir.")
    flags.DEFINE_integer("pad_to", None, "Zero-pad images to this size (RAE protocol: 32 for 28 px).")
    flags.DEFINE_integer("resize_to", None, "Resize images to this size.")
    flags.DEFINE_integer("max_train_examples", None, "Train on the first N training examples only (a quick look).")
    flags.DEFINE_integer("max_validation_examples", None, "Validate on the first N validation examples only.")
    flags.DEFINE_string("network", None, "mlp, conv or rae_conv; default by data (mlp below 28 px).")
    flags.DEFINE_integer("latent_dim", None, "Latent dimensions; default 16 for images, 2 for points.")
    flags.DEFINE_string("likelihood", None, "Decoder likelihood: bernoulli, gaussian, gaussian_learned.")
    flags.DEFINE_string("prior", _D.prior, "Prior over latents.")
    flags.DEFINE_string("model_kwargs", "{}", 'JSON of extra model hyperparameters, e.g. \'{"beta": 0.5}\'.')
    flags.DEFINE_integer("epochs", _D.epochs, "Training epochs.")
    flags.DEFINE_integer("batch_size", _D.batch_size, "Global batch size.")
    flags.DEFINE_float("learning_rate", _D.learning_rate, "Initial Adam learning rate (halved on plateau).")
    flags.DEFINE_integer("seed", _D.seed, "Seed of initialization, shuffling and training noise.")
    flags.DEFINE_enum("strategy", _D.strategy, ["default", "mirrored", "multi_worker", "tpu"],
                      "tf.distribute strategy; multi_worker reads TF_CONFIG.")
    flags.DEFINE_string("tpu", None, "TPU address for --strategy=tpu.")
    flags.DEFINE_integer("patience", _D.patience,
                         "Epochs without validation improvement before halving the LR; 0: a fixed LR.")
    flags.DEFINE_integer("halve_every_epochs", _D.halve_every_epochs, "Also halve the LR every N epochs; 0: never.")
    flags.DEFINE_integer("steps_per_execution", _D.steps_per_execution, "Training steps per compiled call.")
    flags.DEFINE_bool("jit_compile", _D.jit_compile, "Compile the train step with XLA.")
    flags.DEFINE_enum("mixed_precision", _D.mixed_precision, list(precision.POLICIES),
                      "Dtype policy of the networks; priors, flows, likelihoods and losses stay float32.")
    flags.DEFINE_list("density", list(_D.densities), "Ex-post densities fitted after training.")
    flags.DEFINE_integer("components", _D.components, "Components of the gmm density.")
    flags.DEFINE_string("default_sampler", None, "Sampler behind the exported `sample` endpoint (default gmm).")
    flags.DEFINE_string("export_base", None, "TF Serving base folder (default WORKDIR/export).")
    flags.DEFINE_list("callbacks", [], "Keras callbacks to attach, as MODULE:FACTORY (comma-separated): FACTORY() "
                      "returns a keras.callbacks.Callback or a list of them, e.g. "
                      "my_team.callbacks:wandb_callbacks.")
    flags.DEFINE_bool("restart", False, "Start over on purpose: move the workdir's checkpoints, logs, densities and "
                      "evaluations to WORKDIR/previous/TIMESTAMP (nothing is deleted), then train from scratch.")


def load_callbacks(specs):
    """The Keras callbacks named by `--callbacks` entries "MODULE:FACTORY": each FACTORY() returns a
    `keras.callbacks.Callback` or a list of them."""
    import importlib

    import keras

    callbacks = []
    for spec in specs:
        module_name, _, factory_name = spec.partition(":")
        if not module_name or not factory_name:
            raise ValueError(f"--callbacks entries are MODULE:FACTORY, e.g. my_package.callbacks:make. "
                             f"Received: {spec!r}")
        try:
            factory = getattr(importlib.import_module(module_name), factory_name)
        except (ImportError, AttributeError) as error:
            raise ValueError(f"--callbacks: cannot load {factory_name} from {module_name} ({error}); the module "
                             f"must be importable (on PYTHONPATH). Received: {spec!r}") from error
        made = factory()
        made = list(made) if isinstance(made, (list, tuple)) else [made]
        for callback in made:
            if not isinstance(callback, keras.callbacks.Callback):
                raise ValueError(f"--callbacks: {spec} returned {callback!r}, not a keras.callbacks.Callback. "
                                 f"Received: {spec!r}")
        callbacks.extend(made)
    return callbacks


def train_config_from_flags():
    """Builds the TrainConfig of trainers.train from the parsed flags."""
    f = flags.FLAGS
    try:
        model_kwargs = json.loads(f.model_kwargs)
    except ValueError as error:
        raise ValueError(f"--model_kwargs must be a JSON object ({error}). Received: {f.model_kwargs!r}") from error
    if not isinstance(model_kwargs, dict):
        raise ValueError(f"--model_kwargs must be a JSON object. Received: {f.model_kwargs!r}")
    return TrainConfig(
        workdir=f.workdir, model=f.model, dataset=f.dataset, data_dir=f.data_dir, pad_to=f.pad_to,
        resize_to=f.resize_to, max_train_examples=f.max_train_examples,
        max_validation_examples=f.max_validation_examples, network=f.network, latent_dim=f.latent_dim,
        likelihood=f.likelihood, prior=f.prior,
        model_kwargs=model_kwargs, epochs=f.epochs, batch_size=f.batch_size, learning_rate=f.learning_rate,
        seed=f.seed, strategy=f.strategy, tpu=f.tpu, patience=f.patience, halve_every_epochs=f.halve_every_epochs,
        steps_per_execution=f.steps_per_execution,
        jit_compile=f.jit_compile, mixed_precision=f.mixed_precision, densities=tuple(f.density),
        components=f.components,
        default_sampler=f.default_sampler, export_base=f.export_base)
