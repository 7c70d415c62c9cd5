"""`trainers.reproduce` at the smoke scale: complete tables with every cell and claim, two seeds merged into one
table with intervals and three-way verdicts, a subset of rows with an ETA per cell, and a killed run that resumes
without recomputing what was finished."""
import dataclasses
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.conftest import REPO, assert_svg_plot, run_python, subprocess_env
from tfvae import latent_paths, metrics, registry
from trainers import experiments, reproduction  # noqa: F401  (registers the experiments)
from trainers.experiments import statistics
from trainers.experiments.experiment import Figure

pytestmark = pytest.mark.slow


def _check_complete(root, experiment, seeds):
    """Every cell of every seed is in table.json / table.md / report.html, every claim judged with its effect.

    `seeds` is the seeds of every row, or a {row label: seeds} dict where rows ran different seeds.
    """
    table = json.loads((root / "table.json").read_text())
    row_seeds = seeds if isinstance(seeds, dict) else {row.label: tuple(seeds) for row in experiment.rows}
    assert table["cells_finished"] == sum(len(row_seeds[row.label]) for row in experiment.rows)
    assert table["seeds"] == {row.label: list(row_seeds[row.label]) for row in experiment.rows}
    any_seed = sorted(set().union(*row_seeds.values()))
    judged_on = table["judged_on"]
    for row in experiment.rows:
        for column in experiment.columns:
            cell = table["values"][judged_on][row.label].get(column.label)
            if not column.applies_to(row.label):
                assert cell is None, (row.label, column.label)
                continue
            seeds = row_seeds[row.label]
            assert cell["seeds"] == list(seeds) and len(cell["values"]) == cell["n"] == len(seeds), (row.label,
                                                                                                     column.label)
            assert (cell["low"] is None) == (len(seeds) == 1), (row.label, column.label)
    assert [claim["name"] for claim in table["claims"]] == [claim.name for claim in experiment.claims]
    for claim in table["claims"]:
        assert claim["verdict"] in statistics.VERDICTS and claim["on_paper_numbers"]["verdict"] in statistics.VERDICTS
        effects = [claim["effect"]] if claim["effect"] else [part["effect"] for part in claim.get("parts", [])]
        assert effects and all(effects), claim  # every value is there, so every comparison has an effect
        for effect in effects:  # paired over the seeds its rows share
            assert effect["n"] == len(effect["seeds"]) and set(effect["seeds"]) <= set(any_seed), claim
            assert (effect["low"] is None) == (effect["n"] == 1), claim
        if all(effect["n"] == 1 for effect in effects):  # one seed gives no interval: no claim can be decided
            assert claim["verdict"] == statistics.INCONCLUSIVE, claim
        if "parts" in claim:
            assert sum(claim["counts"].values()) == len(claim["parts"])
    assert table["verdicts"] == {kind: sum(claim["verdict"] == kind for claim in table["claims"])
                                 for kind in statistics.VERDICTS}
    markdown = (root / "table.md").read_text()
    for text in [row.label for row in experiment.rows] + [claim.text for claim in experiment.claims]:
        assert text in markdown, text
    assert all(f"{column.label} ours [{judged_on}] | paper" in markdown for column in experiment.columns)
    assert "FID ours" not in markdown  # domain-classifier features are an FD, never an FID
    report_html = (root / "report.html").read_text()
    assert report_html.count("<li>") == table["cells_finished"]
    assert [figure["caption"] for figure in table["figures"]] == [figure.caption for figure in experiment.figures]
    assert report_html.count("<svg") == len(experiment.figures)
    paths = [figure["file"] for figure in table["figures"]]
    assert len(set(paths)) == len(paths) and all(path.startswith("figures/") and path.endswith(".svg") and
                                                  path in report_html for path in paths)
    for path in paths:
        assert_svg_plot(root / path, report_html)
    return table


def _cell_records(root):
    return {name: (root / "cells" / name / reproduction.CELL_FILE).read_text()
            for name in sorted(os.listdir(root / "cells"))}


def test_two_stage_table1_smoke_one_row_with_two_seeds_then_every_row_on_one(tmp_path, caplog):
    experiment = registry.get("experiment", "two_stage_table1")
    root = tmp_path / "two_stage_table1"
    caplog.set_level(logging.INFO, logger="absl")  # absl's own logger: parsed flags set its level
    table, path = reproduction.run_experiment("two_stage_table1", "smoke", str(tmp_path), rows=["2-Stage VAE"])
    assert path == str(root / "table.md")
    assert sorted(os.listdir(root / "cells")) == ["2_stage_vae-seed0", "2_stage_vae-seed1"]  # the smoke scale: 2 seeds
    # An ETA per cell: unknown before anything ran, then from the first seed's measured phases.
    progress = [record.getMessage() for record in caplog.records if "[reproduce two_stage_table1/smoke]" in
                record.getMessage()]
    assert any("cell 1/2 2-Stage VAE (seed 0): train; this cell ETA unknown" in line for line in progress), progress
    assert any(re.search(r"cell 2/2 2-Stage VAE \(seed 1\): train; this cell ETA ~0:\d\d:\d\d \(at \d\d:\d\d:\d\d\); "
                         r"run ETA \(2 phases left\) ~", line) for line in progress), progress
    assert any("cell 2/2 2-Stage VAE (seed 1) finished: train" in line for line in progress), progress
    claims = {claim["name"]: claim for claim in table["claims"]}
    assert claims["two_stage_best"]["verdict"] == statistics.NOT_JUDGED  # the other rows have not run
    assert claims["second_stage_mmd"]["effect"]["seeds"] == [0, 1]  # a within-row claim is judged on both seeds
    report = json.loads((root / "cells" / "2_stage_vae-seed0" / "eval" / "report.json").read_text())
    assert "Dai & Wipf" in report["protocol"]["fd_domain"]["generated_preprocessing"]  # the authors' FID input
    assert table["seeds"]["2-Stage VAE"] == [0, 1] and table["seeds"]["WAE-MMD"] == []
    finished_row = _cell_records(root)

    caplog.clear()
    table, _ = reproduction.run_experiment("two_stage_table1", "smoke", str(tmp_path), seeds=[0])
    records = _cell_records(root)
    assert {name: records[name] for name in finished_row} == finished_row  # never recomputed
    assert len(records) == len(experiment.rows) + 1  # seed 1 of the first row is merged in, not dropped
    first = next(record.getMessage() for record in caplog.records if "cell 1/6" in record.getMessage())
    assert "this cell ETA ~" in first, first  # timed from the cells already in the folder
    _check_complete(root, experiment, seeds={row.label: (0, 1) if row.label == "2-Stage VAE" else (0,)
                                             for row in experiment.rows})
    paper = {(p["row"], p["column"]): (p["value"], p["std"]) for p in table["paper_numbers"]}
    assert paper[("2-Stage VAE", "FD")] == (29.3, 1.0) and table["paper_trials"] == 10  # the paper's number beside ours
    best = next(claim for claim in table["claims"] if claim["name"] == "two_stage_best")
    assert sum(best["wins"].values()) == 1 and "ahead of" in best["detail"]  # over the one seed all rows share
    claims = {claim["name"]: claim for claim in table["claims"]}
    assert claims["second_stage_mmd"]["effect"]["seeds"] == [0, 1]  # a within-row claim keeps the row's 2 seeds
    log_gamma = next(figure for figure in table["figures"] if "log gamma" in figure["caption"])["data"]["log_gamma"]
    assert set(log_gamma) == {"VAE (learned gamma)", "VAE + Flow", "2-Stage VAE"}
    assert all(len(values) == 1 for values in log_gamma.values())  # one value per epoch (the smoke scale: 1 epoch)
    # Figure 1a's claim reads the same histories: one epoch is both the middle and the last, so the effect is 0.
    values = table["values"][table["judged_on"]]
    for row, curve in log_gamma.items():
        for column in ("log gamma (middle epoch)", "log gamma (last epoch)"):
            assert values[row][column]["values"][0] == pytest.approx(curve[0]), (row, column)
    falling = claims["log_gamma_keeps_falling"]
    assert [part["label"] for part in falling["parts"]] == list(log_gamma)
    assert all(part["effect"]["mean"] == 0.0 for part in falling["parts"]), falling
    assert falling["on_paper_numbers"]["verdict"] == statistics.NOT_JUDGED  # figure 1a has no numbers
    # Every cell was evaluated by this code; a cell evaluated by another version is merged, and the table says so.
    from trainers import evaluation

    cells = sorted(os.listdir(root / "cells"))
    assert {version: sorted(names) for version, names in table["evaluation_code"].items()} == {
        evaluation._CODE[:12]: cells}
    report_path = root / "cells" / cells[0] / "eval" / "report.json"
    report = json.loads(report_path.read_text())
    report_path.write_text(json.dumps({**report, "code": "0" * 64}))
    table, path = reproduction.write_table(experiment, experiment.scale("smoke"), str(root))
    assert {version: sorted(names) for version, names in table["evaluation_code"].items()} == {
        "0" * 12: cells[:1], evaluation._CODE[:12]: cells[1:]}
    line = next(line for line in open(path).read().splitlines() if line.startswith("Evaluated by "))
    assert "code 000000000000 (1 cells)" in line and f"code {evaluation._CODE[:12]} ({len(cells) - 1} cells)" in line
    with pytest.raises(ValueError, match="holds two_stage_table1 at scale smoke"):
        reproduction.run_experiment("two_stage_table1", "cpu", str(tmp_path))


def test_rae_table1_smoke_killed_run_resumes_without_recomputing(tmp_path):
    experiment = registry.get("experiment", "rae_table1")
    root = tmp_path / "rae_table1"
    first_cell = root / "cells" / "vae-seed0" / reproduction.CELL_FILE
    # --rows by label and by cell folder, --seeds overriding the scale's two.
    process = subprocess.Popen([sys.executable, "-m", "trainers.reproduce", "--experiment=rae_table1",
                                "--scale=smoke", "--seeds=0", "--rows=VAE,cv_vae", f"--workdir={tmp_path}"], cwd=REPO,
                               env=subprocess_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and process.poll() is None:
        if first_cell.is_file() and "evaluate" in json.loads(first_cell.read_text())["phases"]:
            break
        time.sleep(0.2)
    assert process.poll() is None, "the run ended before it could be killed"
    time.sleep(1.0)  # into the second cell
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    finished_before = json.loads(first_cell.read_text())
    assert not (root / "table.json").exists()
    assert set(os.listdir(root / "cells")) <= {"vae-seed0", "cv_vae-seed0"}

    reproduction.run_experiment("rae_table1", "smoke", str(tmp_path), seeds=[0])
    assert json.loads(first_cell.read_text()) == finished_before  # never recomputed
    _check_complete(root, experiment, seeds=(0,))
    for row in experiment.rows:
        record = json.loads((root / "cells" / f"{reproduction._slug(row.label)}-seed0" / "cell.json").read_text())
        assert set(record["phases"]) == {"train", "evaluate"}, row.label
    report = json.loads((root / "cells" / "vae-seed0" / "eval" / "report.json").read_text())
    assert report["protocol"]["prd_f8_domain"]["runs"] == 2  # the smoke scale's PRD cost, said in the report
    _check_sets_from_the_validation_split(root / "cells" / "rae-seed0", seed=0, num_samples=40)


def _check_sets_from_the_validation_split(workdir, seed, num_samples):
    """REC. and Interp. as table 1 measures them: the report's "reconstructions" and "interpolations" are the first
    validation images' reconstructions and slerp midpoints between random pairs of their codes (recomputed here from
    the cell's model), not the test images' reconstructions and linear midpoints (the library's default sets), and
    the report's FDs are those of these sets.

    The smoke model, one epoch old, decodes nearly one image for every code, so the sets are told apart by their
    saved 8-bit pictures (the validation ones equal to a grey level, the default ones off by several), not by FD."""
    import tensorflow as tf

    from tfvae import images as image_utils
    from tfvae.metrics import domain_classifier
    from trainers import evaluation, jobs

    report = json.loads((workdir / "eval" / "report.json").read_text())
    assert f"first {num_samples} validation images" in report["protocol"]["fd_domain"]["held_out_sets"]
    assert "spherical" in report["protocol"]["fd_domain"]["held_out_sets"]
    assert "reconstructions (left: validation image" in (workdir / "eval" / "report.html").read_text()
    _, splits, model = jobs.load_run(str(workdir))
    first, second = evaluation.interpolation_pairs(num_samples, seed)
    half = np.full(num_samples, 0.5, np.float32)
    sets = {}
    for split, spherical in (("validation", True), ("test", False)):
        codes = model.encode(splits.as_float(split)[:num_samples]).numpy()
        sets[f"{split} reconstructions"] = model.decode(codes).numpy()
        midpoints = latent_paths.interpolate(codes[first], codes[second], half, spherical=spherical)
        sets[f"{split} interpolations"] = model.decode(midpoints).numpy()
    for name in ("reconstructions", "interpolations"):
        saved = tf.io.decode_png(tf.io.read_file(str(workdir / "eval" / f"{name}.png"))).numpy().astype(float)
        grey = {split: np.abs(saved - np.round(np.clip(image_utils.picture(sets[f"{split} {name}"][:64]), 0, 1) * 255))
                .max() for split in ("validation", "test")}
        assert grey["validation"] <= 1 and grey["test"] >= 2, (name, grey)
    classifier = domain_classifier.DomainClassifier.load(str(workdir / "eval" / "domain_classifier"))
    test = splits.as_float("test")[:num_samples]
    context = metrics.EvaluationContext(images=metrics.ImageSets(
        sets=sets, reference=test, validation=test, extractors={"domain": classifier}, default_set=""))
    fd = {measurement.key: measurement.value for measurement in registry.get("metric", "fd")().measure(context)}
    assert report["metrics"]["fd_domain"]["reconstructions"] == pytest.approx(fd["validation reconstructions"],
                                                                              rel=1e-3)
    assert report["metrics"]["fd_domain"]["interpolations"] == pytest.approx(fd["validation interpolations"],
                                                                             rel=1e-3)


def test_the_binary_refuses_unknown_rows_listing_the_valid_ones(tmp_path):
    result = run_python(["-m", "trainers.reproduce", "--experiment=two_stage_table1", "--scale=smoke",
                         "--rows=2-Stage VAE,Best GAN", f"--workdir={tmp_path}"], check=False)
    assert result.returncode == 1, result.stdout
    assert "error: Experiment two_stage_table1 has no rows ['Best GAN']. Valid rows: ['VAE (cross-entr.)'" in (
        result.stdout), result.stdout
    assert "Received: rows=['2-Stage VAE', 'Best GAN']" in result.stdout
    assert not (tmp_path / "two_stage_table1").exists()


# The other experiments run one seed here (the two-stage test above covers two seeds): every cell and claim of their
# tables, within the suite's time.
def test_dpvae_table1_smoke_writes_every_cell_claim_and_leakage_curve(tmp_path):
    experiment = registry.get("experiment", "dpvae_table1")
    table, _ = reproduction.run_experiment("dpvae_table1", "smoke", str(tmp_path), seeds=[0])
    _check_complete(tmp_path / "dpvae_table1", experiment, seeds=(0,))
    paper = {(p["row"], p["column"]): p["value"] for p in table["paper_numbers"]}
    assert paper[("FactorVAE + dp", "FD LP")] == 121.3
    for row in experiment.rows:  # the twins differ in the prior only
        if row.label.endswith(" + dp"):
            twin = next(r for r in experiment.rows if r.label == row.label[:-len(" + dp")])
            assert row.protocol.prior == "decoupled" and twin.protocol.prior == "standard"
            assert {**row.protocol.as_dict(), "prior": "standard", "sources": {}} == {**twin.protocol.as_dict(),
                                                                                      "sources": {}}
    for row in experiment.rows:  # the smoke scale's small flow reaches the decoupled rows only
        config = json.loads((tmp_path / "dpvae_table1" / "cells" / f"{reproduction._slug(row.label)}-seed0" /
                             "config.json").read_text())
        assert config["model_kwargs"].get("prior_kwargs") == (
            {"num_couplings": 2, "hidden_units": 16} if row.protocol.prior == "decoupled" else None), row.label
    for figure in table["figures"]:
        curves = figure["data"]["leakage"]
        assert len(curves) == 2 and all(len(c) == len(figure["data"]["prior_mass"]) for c in curves.values())


def test_dpvae_moons_smoke_draws_both_spaces_of_every_row(tmp_path):
    experiment = registry.get("experiment", "dpvae_moons")
    table, _ = reproduction.run_experiment("dpvae_moons", "smoke", str(tmp_path), seeds=[0])
    _check_complete(tmp_path / "dpvae_moons", experiment, seeds=(0,))
    (figure,) = table["figures"]
    assert set(figure["data"]) == {row.label for row in experiment.rows}
    assert all(len(points["low_posterior"]) == 30 and len(points["generated"]) == 600
               for points in figure["data"].values())
    assert (tmp_path / "dpvae_moons" / "report.html").read_text().count("<image ") == len(experiment.rows)


def test_distribution_matching_smoke_judges_every_claim(tmp_path):
    experiment = registry.get("experiment", "distribution_matching")
    table, _ = reproduction.run_experiment("distribution_matching", "smoke", str(tmp_path), seeds=[0])
    _check_complete(tmp_path / "distribution_matching", experiment, seeds=(0,))
    values = table["values"][table["judged_on"]]
    assert all(values[row]["active latents"]["values"][0] <= size for row, size in
               [("VAE", 50), ("AAE", 50), ("VAE + RNVP posterior", 50), ("VAE (L=250)", 250), ("AAE (L=250)", 250)])
    cells = tmp_path / "distribution_matching" / "cells"
    # Figure 1: the RNVP posterior's algorithm 2 is the mixture of its flowed posteriors, in the VAEs' column.
    report = json.loads((cells / "vae_plus_rnvp_posterior-seed0" / "eval" / "report.json").read_text())
    assert "posterior flow" in report["protocol"]["marginal_kl"]["aggregate_posterior"]
    assert "kernel density" not in report["protocol"]["marginal_kl"]["algorithm"]
    assert report["metrics"]["marginal_kl"]["monte_carlo"] == values["VAE + RNVP posterior"][
        "marginal KL (alg. 2)"]["values"][0]
    # Figure 13: the NLL of the decoded low-posterior samples beside the test images', for the VAE rows only.
    report = json.loads((cells / "vae-seed0" / "eval" / "report.json").read_text())
    assert set(report["metrics"]["nll"]) == {"test", "low_posterior"}
    assert "the decoder's mean" in report["protocol"]["nll"]["scored_sets"]
    assert report["protocol"]["nll"]["importance_samples"] == 8  # the smoke scale's
    for column, key in (("NLL", "test"), ("NLL low-posterior", "low_posterior")):
        assert values["VAE"][column]["values"][0] == report["metrics"]["nll"][key]
    assert "NLL" not in values["AAE"] and "nll" in json.loads(
        (cells / "aae-seed0" / "eval" / "report.json").read_text())["not_applicable"]
    # Algorithm 2 for the VAE, a kernel density of the codes for the AAE: two quantities, each in its own column and
    # said so in the cell's protocol.
    for slug, row, aggregate in (("vae", "VAE", "mixture of the training posteriors"),
                                 ("aae", "AAE", "kernel density estimate of the training codes")):
        report = json.loads((tmp_path / "distribution_matching" / "cells" / f"{slug}-seed0" / "eval" /
                             "report.json").read_text())
        assert aggregate in report["protocol"]["marginal_kl"]["aggregate_posterior"], row
        assert ("kernel density" in report["protocol"]["marginal_kl"]["algorithm"]) == (row == "AAE")
        assert report["metrics"]["marginal_kl"]["monte_carlo"] == values[row][
            "marginal KL (KDE of codes)" if row == "AAE" else "marginal KL (alg. 2)"]["values"][0]
    markdown = (tmp_path / "distribution_matching" / "table.md").read_text()
    assert "not comparable with the paper's 12.3 / 2.3" in markdown and "MS-SSIM ours" not in markdown


def _rows_sharing_a_folder(experiment):
    """"VAE +" and "VAE+" both become the cell folder "vae_plus"."""
    row = experiment.rows[0]
    return {"rows": (dataclasses.replace(row, label=row.label + " +"), dataclasses.replace(row, label=row.label + "+"))}


def _sets_naming_an_unknown_column(experiment):
    """A row's `sets` naming a column label the experiment does not have (e.g. after a column was renamed)."""
    row = experiment.rows[0]
    return {"rows": (dataclasses.replace(row, sets={"FID N": "samples/prior"}),) + experiment.rows[1:]}


@pytest.mark.parametrize("change, message", [
    (lambda experiment: {"metrics": ("fd", "no_such_metric")}, r"unknown metrics \['no_such_metric'\]"),
    (_rows_sharing_a_folder, "would share cell folders"),
    (_sets_naming_an_unknown_column, r"sets name columns \['FID N'\] the experiment does not have"),
    (lambda experiment: {"claims": experiment.claims[:1] * 2}, "claims must have distinct names"),
    (lambda experiment: {"figures": (Figure("Figure 1: a", lambda finished: None),
                                     Figure("Figure 1 (a)", lambda finished: None))}, "would share figure files"),
])
def test_a_broken_experiment_is_refused_before_any_cell_trains(change, message, tmp_path, monkeypatch):
    experiment = registry.get("experiment", "rae_table1")
    monkeypatch.setitem(registry._REGISTRY["experiment"], "broken", dataclasses.replace(
        experiment, name="broken", **change(experiment)))
    with pytest.raises(ValueError, match=message):
        reproduction.run_experiment("broken", "smoke", str(tmp_path))
    assert not (tmp_path / "broken" / "cells").exists()
