"""Every registered experiment at every scale, without training: each row gives a valid training configuration and
passes the checks `run_experiment` makes before any cell trains (the smoke tests train the smoke scale only), and a
scale's prior arguments reach the rows of that prior only."""
import pytest

from tfvae import registry
from trainers import experiments, reproduction  # noqa: F401  (registers the experiments)

CASES = [(name, scale) for name in registry.names("experiment") for scale in registry.get("experiment", name).scales]


@pytest.mark.parametrize("name, scale_name", CASES)
def test_every_row_at_every_scale_is_a_valid_training_configuration(name, scale_name, tmp_path):
    experiment = registry.get("experiment", name)
    scale = experiment.scale(scale_name)
    reproduction._check_before_training(experiment, scale)
    for row in experiment.rows:
        config = reproduction.cell_config(experiment, scale, row, 0, str(tmp_path / "cell"))  # validated
        assert (config.model, config.prior, config.dataset) == (row.protocol.model, row.protocol.prior, scale.dataset)
        assert config.epochs == (scale.epochs or row.protocol.epochs), row.label


@pytest.mark.parametrize("name", ["dpvae_table1", "dpvae_moons"])
def test_the_smoke_scale_shrinks_the_decoupled_prior_and_the_other_scales_keep_dpvaes(name, tmp_path):
    experiment = registry.get("experiment", name)
    for scale_name in experiment.scales:
        scale = experiment.scale(scale_name)
        for row in experiment.rows:
            kwargs = reproduction.cell_config(experiment, scale, row, 0, str(tmp_path)).model_kwargs
            small = scale_name == "smoke" and row.protocol.prior == "decoupled"
            assert kwargs.get("prior_kwargs") == ({"num_couplings": 2, "hidden_units": 16} if small else None), (
                scale_name, row.label)
