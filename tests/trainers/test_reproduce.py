"""`trainers.reproduce` at the smoke scale: complete tables with every cell and claim, and a killed run that resumes
without recomputing what was finished."""
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import REPO, subprocess_env
from tfvae import registry
from trainers import experiments, reproduction  # noqa: F401  (registers the experiments)

pytestmark = pytest.mark.slow


def _check_complete(root, experiment):
    table = json.loads((root / "table.json").read_text())
    assert table["cells_finished"] == table["cells"] == len(experiment.rows)
    for row in experiment.rows:
        for column in experiment.columns:
            runs = table["values"][table["judged_on"]][row.label].get(column.label)
            assert (runs and len(runs) == 1) if column.applies_to(row.label) else runs is None, (row.label,
                                                                                                  column.label)
    assert len(table["claims"]) == len(experiment.claims)
    assert all(claim["verdict"] in (True, False) for claim in table["claims"]), table["claims"]
    markdown = (root / "table.md").read_text()
    for text in [row.label for row in experiment.rows] + [claim.text for claim in experiment.claims]:
        assert text in markdown, text
    assert all(f"{column.label} ours [{table['judged_on']}] | paper" in markdown for column in experiment.columns)
    report_html = (root / "report.html").read_text()
    assert report_html.count("<li>") == len(experiment.rows)
    assert [figure["caption"] for figure in table["figures"]] == [figure.caption for figure in experiment.figures]
    assert report_html.count("<svg") == len(experiment.figures)
    return table


def test_two_stage_table1_smoke_writes_every_cell_and_claim(tmp_path):
    experiment = registry.get("experiment", "two_stage_table1")
    table, path = reproduction.run_experiment("two_stage_table1", "smoke", str(tmp_path))
    assert path == str(tmp_path / "two_stage_table1" / "table.md")
    _check_complete(tmp_path / "two_stage_table1", experiment)
    paper = {(p["row"], p["column"]): p["value"] for p in table["paper_numbers"]}
    assert paper[("2-Stage VAE", "FID")] == 29.3  # the paper's number stands beside ours
    log_gamma = next(figure for figure in table["figures"] if "log gamma" in figure["caption"])["data"]["log_gamma"]
    assert set(log_gamma) == {"VAE (learned gamma)", "VAE + Flow", "2-Stage VAE"}
    assert all(len(values) == 1 for values in log_gamma.values())  # one value per epoch (the smoke scale: 1 epoch)
    with pytest.raises(ValueError, match="holds two_stage_table1 at scale smoke"):
        reproduction.run_experiment("two_stage_table1", "cpu", str(tmp_path))


def test_rae_table1_smoke_killed_run_resumes_without_recomputing(tmp_path):
    experiment = registry.get("experiment", "rae_table1")
    root = tmp_path / "rae_table1"
    first_cell = root / "cells" / "vae-seed0" / reproduction.CELL_FILE
    process = subprocess.Popen([sys.executable, "-m", "trainers.reproduce", "--experiment=rae_table1",
                                "--scale=smoke", f"--workdir={tmp_path}"], cwd=REPO, env=subprocess_env(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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

    reproduction.run_experiment("rae_table1", "smoke", str(tmp_path))
    assert json.loads(first_cell.read_text()) == finished_before  # never recomputed
    _check_complete(root, experiment)
    for row in experiment.rows:
        record = json.loads((root / "cells" / f"{reproduction._slug(row.label)}-seed0" / "cell.json").read_text())
        assert set(record["phases"]) == {"train", "evaluate"}, row.label


def test_dpvae_table1_smoke_writes_every_cell_claim_and_leakage_curve(tmp_path):
    experiment = registry.get("experiment", "dpvae_table1")
    table, _ = reproduction.run_experiment("dpvae_table1", "smoke", str(tmp_path))
    _check_complete(tmp_path / "dpvae_table1", experiment)
    paper = {(p["row"], p["column"]): p["value"] for p in table["paper_numbers"]}
    assert paper[("FactorVAE + dp", "LP")] == 121.3
    for row in experiment.rows:  # the twins differ in the prior only
        if row.label.endswith(" + dp"):
            twin = next(r for r in experiment.rows if r.label == row.label[:-len(" + dp")])
            assert row.protocol.prior == "decoupled" and twin.protocol.prior == "standard"
            assert dataclasses.replace(row.protocol, prior="standard", sources={}) == dataclasses.replace(
                twin.protocol, sources={})
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
    table, _ = reproduction.run_experiment("dpvae_moons", "smoke", str(tmp_path))
    _check_complete(tmp_path / "dpvae_moons", experiment)
    (figure,) = table["figures"]
    assert set(figure["data"]) == {row.label for row in experiment.rows}
    assert all(len(points["low_posterior"]) == 30 and len(points["generated"]) == 600
               for points in figure["data"].values())
    assert (tmp_path / "dpvae_moons" / "report.html").read_text().count("<image ") == len(experiment.rows)


def test_distribution_matching_smoke_judges_every_claim(tmp_path):
    experiment = registry.get("experiment", "distribution_matching")
    table, _ = reproduction.run_experiment("distribution_matching", "smoke", str(tmp_path))
    _check_complete(tmp_path / "distribution_matching", experiment)
    values = table["values"][table["judged_on"]]
    assert all(values[row]["active latents"][0] <= size for row, size in
               [(f"{model} (L={size})", size) for model in ("VAE", "AAE") for size in (10, 250)])
    # The test set's diversity sits between that of identical images (0) and the noised test set's.
    for row in ("VAE", "DCGAN"):
        assert 0 < values[row]["1 - MS-SSIM test"][0] < values[row]["1 - MS-SSIM noised test"][0]


def _rows_sharing_a_folder(experiment):
    """"VAE +" and "VAE+" both become the cell folder "vae_plus"."""
    row = experiment.rows[0]
    return {"rows": (dataclasses.replace(row, label=row.label + " +"), dataclasses.replace(row, label=row.label + "+"))}


@pytest.mark.parametrize("change, message", [
    (lambda experiment: {"metrics": ("fd", "no_such_metric")}, r"unknown metrics \['no_such_metric'\]"),
    (_rows_sharing_a_folder, "would share cell folders"),
])
def test_a_broken_experiment_is_refused_before_any_cell_trains(change, message, tmp_path, monkeypatch):
    experiment = registry.get("experiment", "rae_table1")
    monkeypatch.setitem(registry._REGISTRY["experiment"], "broken", dataclasses.replace(
        experiment, name="broken", **change(experiment)))
    with pytest.raises(ValueError, match=message):
        reproduction.run_experiment("broken", "smoke", str(tmp_path))
    assert not (tmp_path / "broken" / "cells").exists()
