"""The evaluate binary on trained digits workdirs: a complete report.json and a report.html that Debian's chromium
renders with every image present."""
import json
import math
import re
import shutil
import subprocess

import pytest

from tests.conftest import assert_svg_plot, run_python, zoo_config

pytestmark = pytest.mark.slow

SAMPLE_METRICS = ["fd_domain", "fid", "kid_domain", "kid_inception", "prd_f8_domain", "prd_f1/8_domain",
                  "precision_domain", "recall_domain", "precision_inception", "is_domain", "diversity"]
LATENT_METRICS = ["critic", "mmd_rbf", "mmd_imq", "skl", "marginal_kl", "leakage", "singular_values", "sample_spectrum",
                  "nll"]


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory, trained_run):
    """A decoupled-prior VAE on digits (3 epochs, GMM fitted, the model zoo's small flow; trained in-process),
    evaluated once by the evaluate binary with both feature extractors (PRD over 2 clusterings, not 10)."""
    workdir = tmp_path_factory.mktemp("evaluate") / "run"
    shutil.copytree(trained_run(**zoo_config("vae", "decoupled", epochs=3, densities=("gmm",)))[0], workdir)
    result = run_python(["-m", "trainers.evaluate", f"--workdir={workdir}", "--num_samples=20",
                         "--extractors=domain,inception", "--nll_samples=20", "--critic_steps=100",
                         "--ratio_steps=100", "--classifier_epochs=2", "--prd_runs=2"], timeout=900)
    return workdir, result


def test_report_json_is_complete_and_says_how_each_number_was_measured(evaluated):
    workdir, result = evaluated
    assert "[evaluate" in result.stdout  # progress lines
    report = json.loads((workdir / "eval" / "report.json").read_text())
    assert report["model"] == "vae" and report["dataset"] == "digits"
    assert report["samplers"] == ["gmm", "prior"] and report["default_sampler"] == "gmm"
    sets = {"samples/gmm", "samples/prior", "reconstructions", "interpolations", "low_posterior"}
    for name in SAMPLE_METRICS:
        assert sets <= set(report["metrics"][name]), name
    for name in SAMPLE_METRICS + LATENT_METRICS:
        values = report["metrics"][name]
        assert values and all(math.isfinite(v) for v in values.values()), (name, values)
        assert name in report["protocol"], name
    assert set(report["metrics"]["marginal_kl"]) == {"monte_carlo", "density_ratio", "density_model"}
    assert report["protocol"]["fid"]["weights_sha256"] == \
        "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
    assert report["protocol"]["fd_domain"]["reference"] == "test split (20 examples)"
    assert report["protocol"]["prd_f8_domain"]["runs"] == 2  # --prd_runs, said in the protocol
    held_out = report["protocol"]["fd_domain"]["held_out_sets"]  # the defaults: test images, means, linear midpoints
    assert "the first 20 test images, each decoded from its posterior mean" in held_out and "linear" in held_out
    assert report["protocol"]["leakage"]["h"] == "g (generation space)"
    assert report["protocol"]["nll"]["importance_samples"] == 20 and report["metrics"]["nll"]["test"] > 0
    assert all(value > 0 for value in report["metrics"]["fid"].values())
    classifier = json.loads((workdir / "eval" / "domain_classifier" / "info.json").read_text())
    assert classifier["test_accuracy"] > 0.3 and classifier["dataset"] == "digits"  # 10 classes: chance is 0.1
    assert report["protocol"]["fd_domain"]["weights_sha256"] == classifier["weights_sha256"]


def test_report_html_renders_every_image_in_headless_chromium(evaluated):
    workdir, _ = evaluated
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    assert browser, "Debian's chromium is needed for this check: apt-get install -y chromium (.ci/run does)"
    page = workdir / "eval" / "report.html"
    html = page.read_text()
    assert not re.search(r'(src|href)="(https?:)?//', html)  # self-contained: nothing fetched
    dom = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=10000",
                          "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120).stdout
    check = re.search(r'id="image-check" data-total="(\d+)" data-broken="(\d+)"', dom)
    assert check, dom[:2000]
    total, broken = int(check.group(1)), int(check.group(2))
    assert broken == 0 and total == html.count("<img ") >= 9
    for caption in ("samples/gmm", "low_posterior", "reconstructions (left", "interpolations (spherical",
                    "traversals"):
        assert caption in html
    # The plots, inline (one <svg> each) and as the same SVG documents in the files listed in report.json.
    report = json.loads((workdir / "eval" / "report.json").read_text())
    assert list(report["figures"]) == ["Leakage score LS(tau) (dpVAE eq. 6)", "Singular values of the test posterior "
                                       "means", "Singular values of latent sample matrices (two-stage VAE paper, "
                                       "figure 2)"]
    assert html.count("<svg") == len(report["figures"])
    for path in report["figures"].values():
        assert path.startswith("figures/") and path.endswith(".svg") and path in html, path  # named under its plot
        assert_svg_plot(workdir / "eval" / path, html)


def test_a_killed_evaluation_measures_only_what_is_missing(evaluated, monkeypatch):
    """Each finished metric is kept in eval/parts with a fingerprint of its inputs: a rerun after a crash (a part
    missing, a part cut short by the kill) measures those two metrics only and writes the same report."""
    from trainers import evaluation

    workdir, _ = evaluated
    before = json.loads((workdir / "eval" / "report.json").read_text())
    parts = workdir / "eval" / "parts"
    (parts / "mmd.json").unlink()
    text = (parts / "skl.json").read_text()
    (parts / "skl.json").write_text(text[:len(text) // 2])
    measured = []
    save = evaluation._Parts.save
    monkeypatch.setattr(evaluation._Parts, "save",
                        lambda self, name, measurements: (measured.append(name), save(self, name, measurements))[1])
    after, _, _ = evaluation.evaluate(str(workdir), num_samples=20, extractors=("domain", "inception"), nll_samples=20,
                                      critic_steps=100, ratio_steps=100, classifier_epochs=2, prd_runs=2)
    assert sorted(measured) == ["mmd", "skl"], measured
    assert after["metrics"].keys() == before["metrics"].keys()
    for name, values in before["metrics"].items():
        assert after["metrics"][name] == pytest.approx(values, rel=1e-5), name


def test_evaluate_a_gan_and_refuse_bad_arguments(trained_run, tmp_path, monkeypatch):
    """In-process (the binary's flags are covered above): a GAN has no encoder, so only sample metrics apply. A rerun
    keeps the measurements of the same code, and measures them again under another version of the code."""
    from trainers import evaluation

    shutil.copytree(trained_run(**zoo_config("dcgan"))[0], tmp_path / "run")  # the model zoo's dcgan job
    tmp_path = tmp_path / "run"
    report, _, _ = evaluation.evaluate(str(tmp_path), ["fd", "kid", "mmd"], num_samples=30, classifier_epochs=1)
    assert set(report["metrics"]) == {"fd_domain", "kid_domain"}
    assert set(report["metrics"]["fd_domain"]) == {"samples/prior"}
    measured = []
    save = evaluation._Parts.save
    monkeypatch.setattr(evaluation._Parts, "save",
                        lambda self, name, measurements: (measured.append(name), save(self, name, measurements))[1])
    assert evaluation.evaluate(str(tmp_path), ["fd", "kid"], num_samples=30, classifier_epochs=1)[0]["metrics"] == \
        report["metrics"] and measured == []
    monkeypatch.setattr(evaluation, "_CODE", "another version of the code")
    evaluation.evaluate(str(tmp_path), ["fd", "kid"], num_samples=30, classifier_epochs=1)
    assert sorted(measured) == ["fd", "kid"], measured
    with pytest.raises(ValueError, match=r"Unknown metrics \['bogus'\]"):
        evaluation.evaluate(str(tmp_path), ["fd", "bogus"])
    with pytest.raises(ValueError, match="num_samples must be at least 20"):
        evaluation.evaluate(str(tmp_path), num_samples=5)
    with pytest.raises(ValueError, match=r"interpolation must be one of \['linear', 'spherical'\]. Received: "
                                         r"interpolation='cubic'"):
        evaluation.evaluate(str(tmp_path), interpolation="cubic")


def test_reconstructions_from_a_validation_split_smaller_than_the_reference_are_refused(evaluated):
    """digits keeps 180 validation and 270 test images: 250 reconstructions cannot come from the validation split."""
    from trainers import evaluation

    workdir, _ = evaluated
    with pytest.raises(ValueError, match=r"The validation split of digits has 180 examples; .* Received: "
                                         r"held_out_split='validation', num_samples=250"):
        evaluation.evaluate(str(workdir), num_samples=250, held_out_split="validation")


def test_evaluate_points_with_two_latent_dimensions(tmp_path):
    """Moons: raw points as features, and the 2-D latent scatter over the prior's contours in the page."""
    from trainers import evaluation, jobs
    from trainers.config import TrainConfig

    jobs.run_main_job(TrainConfig(workdir=str(tmp_path), model="vae", dataset="moons", epochs=5,
                                  densities=("gmm",)))
    report, _, html_path = evaluation.evaluate(str(tmp_path), ["fd", "precision_recall", "mmd", "leakage",
                                                               "singular_values"], num_samples=200)
    assert report["protocol"]["fd_raw"]["extractor"] == "raw points (no feature network)"
    assert {"samples/gmm", "reconstructions"} <= set(report["metrics"]["precision_raw"])
    assert len(report["protocol"]["singular_values"]["all"]) == 2
    html = open(html_path).read()
    scatter = "test posterior means over the prior (contours: 50/90/99% of the prior mass)"
    assert list(report["figures"]) == ["Leakage score LS(tau) (dpVAE eq. 6)",
                                       "Singular values of the test posterior means", scatter]
    assert html.count("<svg") == 3 and "50%" in html and "99%" in html  # the contours' labels
    for path in report["figures"].values():
        assert_svg_plot(tmp_path / "eval" / path, html)


def test_reconstruction_codes_are_posterior_draws_or_the_codes():
    """`reconstruction_code="sample"`: a Gaussian posterior's reconstruction decodes z = mu + sigma * eps (the CV-VAE's
    sigma is the constant 0.7, so (z - mu) / 0.7 must be standard normal); a deterministic encoder decodes its code."""
    import numpy as np

    from tests import goldens
    from trainers import evaluation

    images = np.random.default_rng(0).uniform(size=(400, 8, 8, 1)).astype(np.float32)
    for key in ("cv_vae", "rae"):
        model, _ = goldens.build_golden(key)
        codes = model.encode(images).numpy()
        assert evaluation._reconstruction_codes(model, images, codes, "mean", seed=0) is codes
        drawn = evaluation._reconstruction_codes(model, images, codes, "sample", seed=0)
        if key == "rae":
            assert drawn is codes
            continue
        noise = (drawn - codes) / model.posterior_std
        assert abs(noise.mean()) < 0.05 and abs(noise.std() - 1.0) < 0.05  # 400 x latent_dim draws
        np.testing.assert_array_equal(drawn, evaluation._reconstruction_codes(model, images, codes, "sample", 0))
