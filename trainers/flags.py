"""Command-line flags of the binaries: trainers.train's are derived from `TrainConfig` (one declaration of the
configuration); --workdir is shared by every binary. Every flag is optional."""
import dataclasses
import json
import os
import typing

import tensorflow as tf
from absl import flags

from tfvae.files import read_text
from trainers.config import WORKDIR_FORMAT_KEY, TrainConfig

_D = TrainConfig()
_FIELDS = {field.name: field for field in dataclasses.fields(TrainConfig)}

WORKDIR = flags.DEFINE_string("workdir", _D.workdir, _FIELDS["workdir"].metadata["help"])


def flag_name(field):
    """The command-line name of a TrainConfig field."""
    return field.metadata.get("flag") or field.name


def define_train_flags():
    """Flags of trainers.train: one per TrainConfig field (its default and help), plus --config, --callbacks and
    --restart, which are not part of a run's configuration."""
    for field in dataclasses.fields(TrainConfig):
        if field.name == "workdir":  # defined for every binary, above
            continue
        name, help_text, default = flag_name(field), field.metadata["help"], getattr(_D, field.name)
        kind = typing.get_args(field.type)[0] if typing.get_origin(field.type) is typing.Union else field.type
        if field.metadata.get("choices"):
            flags.DEFINE_enum(name, default, list(field.metadata["choices"]), help_text)
        elif kind is bool:
            flags.DEFINE_bool(name, default, help_text)
        elif kind is int:
            flags.DEFINE_integer(name, default, help_text)
        elif kind is float:
            flags.DEFINE_float(name, default, help_text)
        elif kind is tuple:
            flags.DEFINE_list(name, list(default), help_text)
        elif kind is dict:
            flags.DEFINE_string(name, json.dumps(default), help_text)
        elif kind is str:
            flags.DEFINE_string(name, default, help_text)
        else:
            raise TypeError(f"TrainConfig.{field.name} has a type no flag is derived for. Received: {field.type}")
    flags.DEFINE_string("config", None, "Start from a configuration file (JSON; a workdir's config.json works); "
                        "flags given on the command line override its values.")
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


def _flag_value(field):
    value = flags.FLAGS[flag_name(field)].value
    kind = typing.get_args(field.type)[0] if typing.get_origin(field.type) is typing.Union else field.type
    if kind is tuple:
        return tuple(value)
    if kind is dict:
        try:
            value = json.loads(value)
        except ValueError as error:
            raise ValueError(f"--{flag_name(field)} must be a JSON object ({error}). Received: {value!r}") from error
        if not isinstance(value, dict):
            raise ValueError(f"--{flag_name(field)} must be a JSON object. Received: {value!r}")
    return value


def train_config_from_flags():
    """The TrainConfig of trainers.train: the --config file's values (if any), overridden by every flag given on
    the command line; without --config, the flags with their defaults."""
    f = flags.FLAGS
    values = {}
    if f.config:
        values = _read_config_file(f.config)
        if f["workdir"].present and not f["export_base"].present and values.get("export_base") == os.path.join(
                values.get("workdir", ""), "export"):
            del values["export_base"]  # the old workdir's default export folder: the new workdir gets its own
    for field in dataclasses.fields(TrainConfig):
        if not f.config or f[flag_name(field)].present or field.name not in values:
            values[field.name] = _flag_value(field)
    return TrainConfig(**values)


def _read_config_file(path):
    try:
        values = json.loads(read_text(path))
    except tf.errors.OpError as error:
        reason = error.message.rsplit("; ", 1)[-1] or type(error).__name__  # "PATH; No such file or directory"
        raise FileNotFoundError(f"--config: cannot read {path} ({reason}). Received: {path!r}") from error
    except ValueError as error:
        raise ValueError(f"--config: {path} is not valid JSON ({error}). Received: {path!r}") from error
    if not isinstance(values, dict):
        raise ValueError(f"--config: {path} must hold a JSON object of TrainConfig fields. Received: {path!r}")
    unknown = sorted(set(values) - set(_FIELDS) - {WORKDIR_FORMAT_KEY})
    if unknown:
        raise ValueError(f"--config: {path} has fields TrainConfig does not know: {unknown}; expected some of "
                         f"{sorted(_FIELDS)}. Received: {path!r}")
    values.pop(WORKDIR_FORMAT_KEY, None)
    if "densities" in values:
        values["densities"] = tuple(values["densities"])
    return values
