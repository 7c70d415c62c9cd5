"""The training configuration is declared once (`TrainConfig`): trainers.train's flags are derived from it, and a
run can start from a configuration file (a workdir's config.json) with flags overriding it."""
import dataclasses
import json

import pytest
from absl import flags

from trainers import flags as tfvae_flags
from trainers.config import WORKDIR_FORMAT_KEY, TrainConfig, write_config


def test_every_field_is_a_flag_with_its_default_and_help(train_flags):
    assert train_flags([]) == TrainConfig()  # every default, through the flags
    for field in dataclasses.fields(TrainConfig):
        flag = flags.FLAGS[tfvae_flags.flag_name(field)]
        assert flag.help.endswith(field.metadata["help"]), field.name  # enums put their choices first
    assert flags.FLAGS["density"].value == ["gaussian", "gmm"] and "densities" not in flags.FLAGS
    choices = TrainConfig.__dataclass_fields__["mixed_precision"].metadata["choices"]
    assert flags.FLAGS["mixed_precision"].help.startswith(f"<{'|'.join(choices)}>")
    with pytest.raises(flags.IllegalFlagValueError):
        train_flags(["--mixed_precision=float64"])


def test_each_flag_sets_its_field(train_flags):
    config = train_flags(["--model=vae", "--epochs=7", "--learning_rate=0.5", "--jit_compile", "--density=gmm,flow",
                          '--model_kwargs={"beta": 2}', "--latent_dim=3", "--strategy=mirrored", "--download=false",
                          "--cache=gs://bucket/cache"])
    assert (config.model, config.epochs, config.learning_rate, config.jit_compile, config.densities,
            config.model_kwargs, config.latent_dim, config.strategy, config.download, config.cache) == (
                "vae", 7, 0.5, True, ("gmm", "flow"), {"beta": 2}, 3, "mirrored", False, "gs://bucket/cache")


def test_a_workdirs_config_round_trips_through_config_with_flags_overriding(train_flags, tmp_path, digits):
    original = TrainConfig(workdir=str(tmp_path / "old"), model="vae", epochs=12, densities=("gmm",),
                           model_kwargs={"beta": 0.5}, learning_rate=3e-4).resolve(digits)
    write_config(original)
    path = str(tmp_path / "old" / "config.json")
    assert WORKDIR_FORMAT_KEY in json.loads(open(path).read())
    assert train_flags([f"--config={path}"]) == original  # the same run, field for field
    again = train_flags([f"--config={path}", "--epochs=20", f"--workdir={tmp_path / 'new'}"])
    assert again == dataclasses.replace(original, epochs=20, workdir=str(tmp_path / "new"), export_base=None)
    assert again.resolve(digits).export_base == str(tmp_path / "new" / "export")  # its own, not the old one's


@pytest.mark.parametrize("content, message", [
    ("{", "is not valid JSON"), ("[1]", "must hold a JSON object"),
    ('{"epochz": 3}', "has fields TrainConfig does not know: ['epochz']"),
])
def test_a_bad_config_file_is_refused(train_flags, tmp_path, content, message):
    path = tmp_path / "config.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=__import__("re").escape(message)):
        train_flags([f"--config={path}"])
    with pytest.raises(FileNotFoundError, match="cannot read"):
        train_flags([f"--config={tmp_path / 'missing.json'}"])
