"""Every registered experiment at every scale, without training: each row gives a valid training configuration and
passes the checks `run_experiment` makes before any cell trains (the smoke tests train the smoke scale only), a
scale's prior arguments reach the rows of that prior only, and every claim gets, on the paper's own numbers, the
verdict the paper's table supports (in the column the experiment follows and in the table's other columns)."""
import dataclasses

import pytest

from tfvae import registry
from trainers.config import TrainConfig
from trainers import experiments, reproduction  # noqa: F401  (registers the experiments)
from trainers.experiments import statistics

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


def test_rows_and_seeds_are_checked_before_any_cell_trains(tmp_path):
    experiment = registry.get("experiment", "two_stage_table1")
    chosen = reproduction.select_rows(experiment, ["2_stage_vae", "VAE (cross-entr.)"])  # folder name or label
    assert [row.label for row in chosen] == ["VAE (cross-entr.)", "2-Stage VAE"]  # in the experiment's order
    assert reproduction.select_rows(experiment, None) == experiment.rows
    with pytest.raises(ValueError, match=r"has no rows \['Best GAN'\]. Valid rows: \['VAE \(cross-entr.\)', "):
        reproduction.run_experiment("two_stage_table1", "smoke", str(tmp_path), rows=["Best GAN"])
    assert reproduction.parse_seeds(["0", "2"]) == (0, 2) and reproduction.parse_seeds(None) is None
    for bad in (["0", "one"], ["-1"], ["1", "1"], []):
        with pytest.raises(ValueError, match=f"Received: --seeds={','.join(bad)}$"):
            reproduction.parse_seeds(bad)
    with pytest.raises(ValueError, match=r"distinct non-negative integers, e.g. \(0, 1, 2\). Received: seeds=\(0, 0\)"):
        reproduction.run_experiment("two_stage_table1", "smoke", str(tmp_path), seeds=[0, 0])
    assert not (tmp_path / "two_stage_table1").exists()


R, C, I, N = (statistics.REPRODUCED, statistics.CONTRADICTED, statistics.INCONCLUSIVE, statistics.NOT_JUDGED)
# The verdict each claim must get on the paper's own numbers: the column each experiment follows (None) and the
# paper's other columns of the same table. "not judged" where the paper gives no number for the claim (a figure).
PAPER_VERDICTS = {
    "two_stage_table1": {  # Dai & Wipf, table 1 (mean +- std over 10 trials) and table 3; figures 1a and 2: no numbers
        None: {"two_stage_best": R, "learned_gamma": R, "wae_worse": R, "second_stage_mmd": R,
               "second_stage_spectrum": N, "log_gamma_keeps_falling": N},
        "MNIST": {"two_stage_best": R, "learned_gamma": C, "wae_worse": R, "second_stage_mmd": R,
                  "second_stage_spectrum": N, "log_gamma_keeps_falling": N},
        "CIFAR-10": {"two_stage_best": R, "learned_gamma": R, "wae_worse": R, "second_stage_mmd": R,
                     "second_stage_spectrum": N, "log_gamma_keeps_falling": N},
        "CelebA": {"two_stage_best": R, "learned_gamma": C, "wae_worse": R, "second_stage_mmd": R,
                   "second_stage_spectrum": N, "log_gamma_keeps_falling": N},
    },
    "rae_table1": {  # Ghosh et al., table 1 and appendix C's table 2 (MNIST is the followed column)
        None: {"gmm_below_n": R, "rae_best_with_gmm": R, "gmm_recall": R, "gmm_precision": R, "ae_needs_gmm": R,
               "rae_interpolates_better_than_vae": R},
        "CIFAR-10": {"gmm_below_n": R, "rae_best_with_gmm": R, "gmm_recall": R, "gmm_precision": R,
                     "ae_needs_gmm": C, "rae_interpolates_better_than_vae": R},
        "CelebA": {"gmm_below_n": C, "rae_best_with_gmm": R, "gmm_recall": I, "gmm_precision": R,
                   "ae_needs_gmm": R, "rae_interpolates_better_than_vae": C},  # RAE-GP 47.00, RAE-L2 45.98 > 44.49
    },
    "dpvae_table1": {  # Bhalodia et al., table 1 (MNIST is the followed column); figure 4 and the pockets: no numbers
        None: {"dp_lowers_fid": R, "dp_lowers_skl": R, "dp_low_posterior_gap": R, "dp_keeps_nll": R,
               "dp_leaks_less": N, "dp_shrinks_pockets": N},
        "SVHN": {"dp_lowers_fid": R, "dp_lowers_skl": R, "dp_low_posterior_gap": C, "dp_keeps_nll": C,
                 "dp_leaks_less": N, "dp_shrinks_pockets": N},  # NLL lower for 4 of 6 pairs, 5 needed
        "CelebA": {"dp_lowers_fid": R, "dp_lowers_skl": R, "dp_low_posterior_gap": C, "dp_keeps_nll": C,
                   "dp_leaks_less": N, "dp_shrinks_pockets": N},  # NLL lower for 2 of 6 pairs
    },
    "dpvae_moons": {None: {"dp_removes_pockets": N, "dp_low_posterior_on_data": N, "dp_lowers_skl": N}},
    "distribution_matching": {  # Rosca et al., appendix E's table 1; the rest are box plots and samples
        None: {"vae_marginal_kl": R, "density_ratio_underestimates": R, "hybrids_between": N, "vgh_pp_beats_vgh": N,
               "aae_degrades_with_latents": N, "vae_ignores_extra_latents": N,
               "rnvp_posterior_no_better": N, "low_posterior_less_likely": N},  # figures 1 and 13: no numbers
    },
}


def test_every_claim_and_column_of_the_papers_has_an_expected_verdict():
    assert set(PAPER_VERDICTS) == set(registry.names("experiment"))
    for name, by_data_set in PAPER_VERDICTS.items():
        experiment = registry.get("experiment", name)
        assert set(by_data_set) == {None, *experiment.paper_numbers_elsewhere}, name
        for expected in by_data_set.values():
            assert list(expected) == [claim.name for claim in experiment.claims], name


@pytest.mark.parametrize("name, data_set", [(name, data_set) for name, by_data_set in PAPER_VERDICTS.items()
                                            for data_set in by_data_set])
def test_claims_on_the_papers_own_numbers_get_the_verdict_the_table_supports(name, data_set):
    experiment = registry.get("experiment", name)
    table = experiment.paper_table(data_set)
    verdicts = {claim.name: claim.check(table) for claim in experiment.claims}
    assert {key: judgement.verdict for key, judgement in verdicts.items()} == PAPER_VERDICTS[name][data_set], {
        key: judgement.detail for key, judgement in verdicts.items()}
    for judgement in verdicts.values():  # judged claims carry the effect (or per-part effects) they were judged on
        if judgement.verdict != N:
            effects = [judgement.effect] if judgement.effect else [part.effect for _, part in judgement.parts]
            assert effects and all(effect is not None for effect in effects)


def test_the_nll_claim_counts_the_pairs_each_column_of_table_1_shows():
    """dp_keeps_nll's text gives, per data set, how many pairs have a lower NLL with the decoupled prior (5 needed)."""
    experiment = registry.get("experiment", "dpvae_table1")
    claim = next(claim for claim in experiment.claims if claim.name == "dp_keeps_nll")
    for data_set, lower, worse in ((None, 5, ["FactorVAE + dp vs FactorVAE"]),
                                   ("SVHN", 4, ["FactorVAE + dp vs FactorVAE", "InfoVAE + dp vs InfoVAE"]),
                                   ("CelebA", 2, None)):
        judgement = claim.check(experiment.paper_table(data_set))
        assert judgement.counts()[R] == lower and judgement.counts()[C] == 6 - lower, (data_set, judgement.detail)
        if worse is not None:
            assert [label for label, part in judgement.parts if part.verdict == C] == worse, data_set
        assert f"{lower}/6" in claim.text, data_set


def test_the_papers_spread_enters_the_intervals_where_the_paper_gives_one():
    experiment = registry.get("experiment", "two_stage_table1")
    assert experiment.paper_trials == 10
    table = experiment.paper_table()
    fid = table.cell("2-Stage VAE", "FD")
    assert (fid.mean, fid.std, fid.n) == (29.3, 1.0, 10) and fid.low < 29.3 < fid.high
    mmd = table.cell("2-Stage VAE", "MMD q(u) vs N(0,I)")  # table 3 gives no spread: exact
    assert mmd.exact and mmd.low == mmd.high == 0.40
    learned_gamma = next(claim for claim in experiment.claims if claim.name == "learned_gamma").check(table)
    assert learned_gamma.effect.method.startswith("Welch over 10/10 trials")
    assert 23.0 < learned_gamma.effect.low < 24.6 < learned_gamma.effect.high < 26.0
    with pytest.raises(ValueError, match="other columns \\['CIFAR-10', 'CelebA', 'MNIST'\\]. Received: "
                                         "data_set='SVHN'"):
        experiment.paper_table("SVHN")


def test_every_scale_has_the_seeds_the_statistics_need():
    for name in registry.names("experiment"):
        experiment = registry.get("experiment", name)
        assert len(experiment.scale("smoke").seeds) >= 2, name
        assert len(experiment.scale("cpu").seeds) >= 3, name


def test_a_cell_evaluated_with_other_settings_is_evaluated_again_and_keeps_its_training(tmp_path):
    experiment = registry.get("experiment", "two_stage_table1")
    scale, row = experiment.scale("smoke"), experiment.rows[0]
    settings = reproduction.evaluation_settings(experiment, scale, 1)
    assert settings["seed"] == 1 and settings["stretch_generated"] is True  # the authors' FID preprocessing
    cell = reproduction._Cell(str(tmp_path), row, 1, settings)
    cell.mark("train", 3.0)
    cell.mark("evaluate", 2.0)
    assert reproduction._Cell(str(tmp_path), row, 1, settings).done("evaluate")

    changed = reproduction._Cell(str(tmp_path), row, 1, {**settings, "stretch_generated": False})
    assert changed.done("train") and not changed.done("evaluate")
    assert changed.stale_evaluation() == "stretch_generated: True -> False"

    older = reproduction._Cell(str(tmp_path), row, 1, settings)
    del older.record["phases"]["evaluate"]["settings"]  # a record written before settings were kept
    assert not older.done("evaluate") and "not recorded" in older.stale_evaluation()


def test_a_history_column_reads_the_middle_and_the_last_epoch_of_a_cells_training(tmp_path):
    """Figure 1a's columns come from logs/history.jsonl: epoch ceil(E / 2) and epoch E, by their epoch numbers; a cell
    whose records lack the key has no value (cells trained before tfvae logged it)."""
    import json

    from trainers import jobs
    from trainers.experiments.experiment import Column

    assert jobs.read_history(str(tmp_path)) == []
    (tmp_path / "logs").mkdir()
    records = [{"epoch": epoch, "state/log_gamma": -0.1 * epoch} for epoch in (1, 2, 3, 4, 5)]
    lines = [json.dumps(record) for record in records[2:] + records[:2]]  # in any order
    (tmp_path / "logs" / "history.jsonl").write_text("\n".join(lines) + "\n")
    history = jobs.read_history(str(tmp_path))
    middle = Column("log gamma (middle epoch)", "state/log_gamma", "middle", source="history")
    last = Column("log gamma (last epoch)", "state/log_gamma", "last", source="history")
    assert reproduction._history_value(history, middle) == (pytest.approx(-0.3), {
        "source": "the cell's training history (logs/history.jsonl, one record per epoch)", "key": "state/log_gamma",
        "epoch": "middle: epoch 3 of 5"})
    assert reproduction._history_value(history, last)[0] == pytest.approx(-0.5)
    assert reproduction._history_value(records[:4], middle)[0] == pytest.approx(-0.2)  # E = 4: epoch 2
    missing = Column("kl", "state/no_such_key", "last", source="history")
    assert reproduction._history_value(history, missing) == (None, None)
    with pytest.raises(ValueError, match=r"epochs are named \('middle', 'last'\). Received: set='first'"):
        Column("x", "state/log_gamma", "first", source="history")
    with pytest.raises(ValueError, match=r"source must be one of \('report', 'history'\). Received: source='logs'"):
        Column("x", "fd", "samples/prior", source="logs")


def test_a_protocol_is_a_partial_train_config():
    protocol = experiments.Protocol("vae", epochs=400, sources={"epochs": "the paper"})
    assert protocol.epochs == 400 and protocol.batch_size == TrainConfig().batch_size  # TrainConfig's default
    assert protocol.settings == {"model": "vae", "epochs": 400}
    assert set(protocol.as_dict()) == set(experiments.experiment.PROTOCOL_FIELDS) | {"sources"}
    with pytest.raises(ValueError, match=r"belong to the scale and the cell. Received: \['seed'\]"):
        experiments.Protocol("vae", seed=3)
    fields = {field.name for field in dataclasses.fields(TrainConfig)}
    assert set(experiments.experiment.PROTOCOL_FIELDS) <= fields
    for name in registry.names("experiment"):  # every cell trains with its protocol's settings
        experiment = registry.get("experiment", name)
        scale = experiment.scale("paper")
        for row in experiment.rows:
            config = reproduction.cell_config(experiment, scale, row, 0, "/tmp/unused")
            for field, value in row.protocol.settings.items():
                if field == "model_kwargs":
                    assert value.items() <= config.model_kwargs.items(), (name, row.label)
                elif not (field in ("epochs", "network") and getattr(scale, field)):
                    assert getattr(config, field) == value, (name, row.label, field)


def test_every_scale_that_reconstructs_validation_images_keeps_enough_of_them():
    """`evaluate` refuses a validation split smaller than num_samples when the held-out sets come from it; rae_table1
    takes its reconstructions and interpolations from the validation split at every scale (its table 1)."""
    rae = registry.get("experiment", "rae_table1")
    for name in registry.names("experiment"):
        experiment = registry.get("experiment", name)
        for scale in experiment.scales.values():
            settings = reproduction.evaluation_settings(experiment, scale, 0)
            if experiment is rae:
                assert (settings["held_out_split"], settings["interpolation"], settings["reconstruction_code"]) == (
                    "validation", "spherical", "sample"), scale.name
            if settings.get("held_out_split") == "validation":
                assert scale.max_validation_examples is None or (
                    scale.max_validation_examples >= scale.num_samples), (name, scale.name)


def test_no_column_sets_a_kernel_density_of_codes_beside_a_mixture_of_posteriors():
    """The marginal KL's `monte_carlo` is algorithm 2 for a VAE (through its posterior flow, with the flow's Jacobian,
    when it has one: tests/trainers/test_latent_space.py) and a kernel density estimate for deterministic codes (an
    AAE): a column holds one kind only."""
    from tfvae.models import VAE

    checked = 0
    for name in registry.names("experiment"):
        experiment = registry.get("experiment", name)
        for column in experiment.columns:
            if (column.metric, column.set) != ("marginal_kl", "monte_carlo"):
                continue
            kinds = {issubclass(registry.get("model", row.protocol.model), VAE)
                     for row in experiment.rows if column.applies_to(row.label)}
            assert len(kinds) == 1, (name, column.label)
            checked += 1
    assert checked == 2  # distribution_matching: the VAEs' algorithm 2 and the AAEs' kernel density
    rows = registry.get("experiment", "distribution_matching").rows
    assert any(row.protocol.model_kwargs.get("posterior_flow_couplings") for row in rows)  # figure 1's RNVP row
