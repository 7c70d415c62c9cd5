"""Dai & Wipf 2019, "Diagnosing and enhancing VAE models" (arXiv:1903.05789): table 1, Fashion-MNIST column.

Every VAE-like model uses one generic setting (their section 5: "a single generic setting was first agnostically
selected and then applied to all VAE-like models"), with the "neutral" InfoGAN architecture of Lucic et al. and
kappa = 64 latents. The numbers of that setting come from the authors' code (daib13/TwoStageVAE); see each
protocol's `sources`.

The paper reports each FID as the mean +- standard deviation of 10 trials (table 1), so its claims are judged on
its own numbers with Welch intervals; the claims are stated for the Fashion-MNIST column this experiment follows,
and say where another column (`paper_numbers_elsewhere`) disagrees.

Figure 1a (log gamma falls through training, Theorem 3) is judged from each learned-gamma cell's training history:
log gamma after the middle epoch (ceil(E / 2) of E) against after the last, paired per seed. These two columns are
read from the workdirs (`Column(source="history")`), not measured by the evaluation, so finished cells gain them
without being evaluated again. At the cpu scale log gamma falls by Adam's largest step, about 1e-4 per update (156
updates per epoch), from 0 towards -0.16 after 10 epochs: the claim sees that it is still falling, not where it
would settle.

Evaluation, at every scale: each generated image (samples and reconstructions alike) is stretched to span [0, 1]
before its features, and the test images are used as they are, as the authors' FID code does (daib13/TwoStageVAE,
fid_score.py: `preprocess_fake_images(..., norm=True)` in demo.py); `evaluate(stretch_generated=True)`.

Scales:
- smoke: 300 digits (8x8, MLP), one epoch, 40 samples, 2 seeds: runs every row end to end in seconds (one epoch is
  both the middle and the last, so the log-gamma effect is 0 there).
- cpu: Fashion-MNIST (28 px) with the small `conv` net instead of the InfoGAN one, the first 10,000 training images,
  fewer epochs for both stages, FD of the domain classifier's features on 2,000 samples against 2,000 test images,
  3 seeds; the paper's FIDs are Inception FIDs on 10,000 samples and are not comparable in value; the directions
  of the findings are compared.
- paper: the full training set, the authors' epochs, Inception FID with 10,000 samples against the test split.
"""
import json
import math
import os

from tfvae import registry
from tfvae.files import read_text
from trainers import jobs, report_html
from trainers.experiments import claims
from trainers.experiments.experiment import Claim, Column, Experiment, Figure, Protocol, Row, Scale

_COMMON = dict(network="infogan", latent_dim=64, batch_size=64, learning_rate=1e-4, epochs=400, patience=0,
               halve_every_epochs=150, densities=())
_SOURCES = {
    "network": "paper section 5: the neutral InfoGAN architecture of Lucic et al. 2018 (tfvae network `infogan`)",
    "latent_dim": "paper section 5: kappa = 64 for every model and data set",
    "batch_size, learning_rate, epochs": "authors' code (daib13/TwoStageVAE, demo.py): batch 64, Adam 1e-4 halved "
                                         "every 150 epochs, 400 epochs (stage 2: 800 epochs halved every 300, the "
                                         "TwoStageVAE defaults)",
    "data": "authors' code: 28 px images, not padded",
}
_FID = "fd_{extractor}"


def _protocol(model, **kwargs):
    sources = {**_SOURCES, **kwargs.pop("sources", {})}
    return Protocol(model=model, **{**_COMMON, **kwargs}, sources=sources)


ROWS = (
    Row("VAE (cross-entr.)", _protocol("vae", likelihood="bernoulli", sources={
        "likelihood": "table 1 row label: Bernoulli decoder (cross-entropy)"})),
    Row("VAE (fixed gamma)", _protocol("vae", likelihood="gaussian", model_kwargs={
        "likelihood_kwargs": {"variance": 1.0}}, sources={
        "likelihood": "table 1 row label: Gaussian decoder with gamma fixed at 1 (eq. 2 without learning gamma)"})),
    Row("VAE (learned gamma)", _protocol("vae", likelihood="gaussian_learned", sources={
        "likelihood": "paper eq. 2: scalar gamma learned, log gamma initialized at 0"})),
    Row("VAE + Flow", _protocol("vae", likelihood="gaussian_learned", model_kwargs={"posterior_flow_couplings": 4},
                                sources={"posterior_flow_couplings": "paper silent on the flow; tfvae uses 4 RealNVP "
                                         "couplings on the learned-gamma VAE (our choice)"})),
    Row("WAE-MMD", _protocol("wae_mmd", likelihood="gaussian", sources={
        "objective": "Tolstikhin et al. 2018 WAE-MMD with kappa = 64 (paper section 5); its lambda is not in the "
                     "two-stage code, so the WAE class default (Tolstikhin et al.'s MNIST setting, converted: 200)"})),
    Row("2-Stage VAE", _protocol("two_stage_vae", likelihood="gaussian_learned", sources={
        "second stage": "paper section 4 (a second VAE on samples of q(z)) and section 5 ('small, 3-layer "
                        "networks'); authors' code: 3 x 1024 MLP with skip, learned gamma, trained after stage 1 on "
                        "fresh posterior samples"}),
        sets={"FD": "samples/two_stage"}),
)

# Table 1, the VAE-like rows: mean +- std of the FID over 10 trials, per data set.
PAPER_FID = {
    "MNIST": {"VAE (cross-entr.)": (16.6, 0.4), "VAE (fixed gamma)": (52.0, 0.6), "VAE (learned gamma)": (54.5, 1.0),
              "VAE + Flow": (54.8, 2.8), "WAE-MMD": (115.0, 1.1), "2-Stage VAE": (12.6, 1.5)},
    "Fashion-MNIST": {"VAE (cross-entr.)": (43.6, 0.7), "VAE (fixed gamma)": (84.6, 0.9),
                      "VAE (learned gamma)": (60.0, 1.1), "VAE + Flow": (62.1, 1.6), "WAE-MMD": (101.7, 0.8),
                      "2-Stage VAE": (29.3, 1.0)},
    "CIFAR-10": {"VAE (cross-entr.)": (106.0, 1.0), "VAE (fixed gamma)": (160.5, 1.1),
                 "VAE (learned gamma)": (76.7, 0.8), "VAE + Flow": (81.2, 2.0), "WAE-MMD": (80.9, 0.4),
                 "2-Stage VAE": (72.9, 0.9)},
    "CelebA": {"VAE (cross-entr.)": (53.3, 0.6), "VAE (fixed gamma)": (55.9, 0.6), "VAE (learned gamma)": (60.5, 0.6),
               "VAE + Flow": (65.7, 2.8), "WAE-MMD": (62.9, 0.8), "2-Stage VAE": (44.4, 0.7)},
}
PAPER_FASHION = PAPER_FID["Fashion-MNIST"]
# Table 3: MMD between N(0, I) and q(z) (first stage) or q(u) (second stage); no spread given.
PAPER_MMD = {"MNIST": (2.85, 0.43), "Fashion-MNIST": (1.37, 0.40), "CIFAR-10": (1.08, 0.00), "CelebA": (7.42, 0.29)}
_MMD_Z, _MMD_U = "MMD q(z) vs N(0,I)", "MMD q(u) vs N(0,I)"
# Figure 1a: log gamma of the rows that learn it, read from each cell's training history at the middle and the last
# epoch (the first stage's for the 2-Stage VAE).
_LEARNED_GAMMA = tuple(row.label for row in ROWS if row.protocol.likelihood == "gaussian_learned")
_LOG_GAMMA_MIDDLE, _LOG_GAMMA_LAST = "log gamma (middle epoch)", "log gamma (last epoch)"


def _numbers(data_set):
    first, second = PAPER_MMD[data_set]
    return {**{(row, "FD"): value for row, value in PAPER_FID[data_set].items()},
            ("2-Stage VAE", _MMD_Z): (first, None), ("2-Stage VAE", _MMD_U): (second, None)}


def _log_gamma_figure(finished):
    """Figure 1a (red line): log gamma of every learned-gamma row over its training epochs (first seed)."""
    series = {}
    for row in ROWS:
        if row.protocol.likelihood == "gaussian_learned" and finished.get(row.label):
            values = [record.get("state/log_gamma") for record in jobs.read_history(finished[row.label][0])]
            if values and None not in values:  # cells trained before tfvae logged state/ have no curve
                series[row.label] = values
    if not series:
        return None
    epochs = list(range(1, max(len(values) for values in series.values()) + 1))
    padded = {label: values + [math.nan] * (len(epochs) - len(values)) for label, values in series.items()}
    summary = "; ".join(f"{label}: {values[0]:.2f} after epoch 1, {values[-1]:.2f} after epoch {len(values)}"
                        for label, values in series.items())
    return {"data": {"epochs": epochs, "log_gamma": series},
            "figure": report_html.line_plot("log gamma over training", epochs, padded, "epoch", "log gamma"),
            "summary": f"log gamma (Theorem 3: gamma -> 0 at the optimum, so it should keep falling): {summary}"}


def _spectrum_figure(finished):
    """Figure 2: singular values of Z ~ q(z) and U ~ q(u) of the 2-Stage VAE beside an N(0, I) matrix (first
    seed's evaluation, `sample_spectrum`)."""
    if not finished.get("2-Stage VAE"):
        return None
    report = json.loads(read_text(os.path.join(finished["2-Stage VAE"][0], "eval", "report.json")))
    spectra = report["protocol"]["sample_spectrum"]["spectra"]
    distances = report["metrics"]["sample_spectrum"]
    labels = {"N(0, I)": "i.i.d. N(0, I)", "posterior": "first stage q(z)", "generation/two_stage": "second stage q(u)"}
    series = {labels.get(name, name): values for name, values in spectra.items()}
    index = list(range(1, len(spectra["N(0, I)"]) + 1))
    summary = ", ".join(f"{labels.get(name, name)} {value:.3f}" for name, value in distances.items())
    return {"data": {"index": index, "spectra": series, "distance_to_standard_normal": distances},
            "figure": report_html.line_plot("Singular values of latent sample matrices / sqrt(N)", index, series,
                                            "index", "singular value", log_y=True),
            "summary": f"RMS log distance of each spectrum to the N(0, I) one (paper: q(u) much closer than "
                       f"q(z)): {summary}"}


TWO_STAGE_TABLE1 = registry.register("experiment", "two_stage_table1")(Experiment(
    name="two_stage_table1",
    paper="Dai & Wipf 2019, Diagnosing and enhancing VAE models (arXiv:1903.05789)",
    caption="table 1, Fashion-MNIST: FD (the paper: Inception FID) of samples from the prior (the second stage for the "
            "2-Stage VAE); table 3's MMD to N(0, I) of the first stage's q(z) and the second stage's q(u); figure "
            "2's spectra as a distance to an N(0, I) matrix's; figure 1a's log gamma",
    rows=ROWS,
    columns=(Column("FD", _FID, "samples/prior"), Column(_MMD_Z, "mmd_rbf", "posterior"),
             Column(_MMD_U, "mmd_rbf", "generation/two_stage", rows=("2-Stage VAE",)),
             Column("spectrum q(z) vs N(0,I)", "sample_spectrum", "posterior"),
             Column("spectrum q(u) vs N(0,I)", "sample_spectrum", "generation/two_stage", rows=("2-Stage VAE",)),
             Column(_LOG_GAMMA_MIDDLE, "state/log_gamma", "middle", rows=_LEARNED_GAMMA, source="history"),
             Column(_LOG_GAMMA_LAST, "state/log_gamma", "last", rows=_LEARNED_GAMMA, source="history")),
    metrics=("fd", "mmd", "sample_spectrum"),
    paper_numbers=_numbers("Fashion-MNIST"),
    paper_note="table 1's Fashion column (Inception FID, 10 trials, mean +- std); the MMDs are table 3's Fashion "
               "column (their kernel and sample sizes are not stated, so only the ratio of first to second stage "
               "compares); the spectrum distances summarize figure 2 and the log-gamma columns figure 1a, which "
               "have no numbers.",
    paper_trials=10,
    paper_numbers_elsewhere={data_set: _numbers(data_set) for data_set in ("MNIST", "CIFAR-10", "CelebA")},
    claims=(
        Claim("two_stage_best",
              "The 2-Stage VAE has the best FID of the VAE-like models (section 5, table 1: on all four data sets; "
              "Fashion-MNIST 29.3 +- 1.0 against 43.6 +- 0.7 for the cross-entropy VAE)",
              claims.best_row_among([row.label for row in ROWS], "FD", {"2-Stage VAE"})),
        Claim("learned_gamma",
              "Learning gamma improves FID over a fixed gamma on Fashion-MNIST (table 1: 60.0 +- 1.1 vs 84.6 +- 0.9; "
              "also CIFAR-10, 76.7 vs 160.5; not on MNIST, 54.5 vs 52.0, or CelebA, 60.5 vs 55.9)",
              claims.row_below("VAE (learned gamma)", "FD", "VAE (fixed gamma)")),
        Claim("wae_worse",
              "WAE-MMD with kappa = 64 is worse than the learned-gamma VAE on Fashion-MNIST (table 1: 101.7 +- 0.8 vs "
              "60.0 +- 1.1, and on the other three data sets; section 5 attributes its poor MNIST and Fashion-MNIST "
              "results to kappa = 64 being much larger than the manifold dimension r)",
              claims.row_below("VAE (learned gamma)", "FD", "WAE-MMD")),
        Claim("second_stage_mmd",
              "The second stage's q(u) is closer to N(0, I) than the first stage's q(z) (section 6, table 3: MMD 1.37 "
              "-> 0.40 on Fashion-MNIST, lower on every data set)",
              claims.row_below("2-Stage VAE", _MMD_U, "2-Stage VAE", _MMD_Z)),
        Claim("second_stage_spectrum",
              "The spectrum of U ~ q(u) is closer to an N(0, I) matrix's than that of Z ~ q(z) (section 6, figure 2; "
              "the paper gives no numbers, so its own table cannot judge it)",
              claims.row_below("2-Stage VAE", "spectrum q(u) vs N(0,I)", "2-Stage VAE", "spectrum q(z) vs N(0,I)")),
        Claim("log_gamma_keeps_falling",
              "The decoder variance gamma keeps falling through training, as Theorem 3 implies (section 6, figure "
              "1a, which has no numbers, so the paper's own table cannot judge it): log gamma is lower after the "
              "last epoch than after the middle one, for every row that learns gamma (the 2-Stage VAE: its first "
              "stage)",
              claims.every_row(_LEARNED_GAMMA, _LOG_GAMMA_LAST, _LOG_GAMMA_MIDDLE, lower_is_better=True,
                               description="learned-gamma rows: log gamma after the last epoch < after the middle "
                                           "epoch")),
    ),
    figures=(Figure("Figure 1a: log gamma over training (learned-gamma rows)", _log_gamma_figure),
             Figure("Figure 2: singular values of Z ~ q(z) and U ~ q(u) of the 2-Stage VAE", _spectrum_figure)),
    scales={
        "smoke": Scale("smoke", "300 digits (8x8), MLP, 1 epoch per stage, 40 samples, domain features",
                       dataset="digits", max_train_examples=300, max_validation_examples=100, epochs=1,
                       network="mlp", model_kwargs={"second_stage_epochs": 1}, num_samples=40,
                       extractors=("domain",), seeds=(0, 1),
                       evaluate_kwargs={"classifier_epochs": 1, "stretch_generated": True}),
        "cpu": Scale("cpu", "Fashion-MNIST 28 px, first 10,000 training images, the `conv` net (32-64-128 filters; "
                            "the InfoGAN net trained at 205-790 images/s at batch 64 on 2 CPU cores shared with other "
                            "jobs, 2026-12-07), the first 10 epochs of "
                            "the schedule (stage 2: 40; no halving happens that early), domain-classifier FD on "
                            "2,000 samples vs 2,000 test images",
                     dataset="fashion_mnist", max_train_examples=10000, max_validation_examples=2000, epochs=10,
                     network="conv",
                     model_kwargs={"second_stage_epochs": 40}, num_samples=2000, extractors=("domain",),
                     seeds=(0, 1, 2), evaluate_kwargs={"classifier_epochs": 5, "stretch_generated": True}),
        "paper": Scale("paper", "the paper's setting: full Fashion-MNIST, InfoGAN net, the authors' epochs, "
                                "Inception FID on 10,000 samples vs the test split (one seed; the paper ran 10)",
                       dataset="fashion_mnist", num_samples=10000, extractors=("inception", "domain"),
                       evaluate_kwargs={"stretch_generated": True}),
    },
))
