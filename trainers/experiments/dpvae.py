"""Bhalodia, Lee & Elhabian 2020, "dpVAEs: fixing sample generation for regularized VAEs" (arXiv:1911.10506): table 1
(MNIST column, on Fashion-MNIST) with figure 4's leakage curves, and the two-moons toy of figures 1 and 3.

Every regularized VAE is trained twice with the *same* hyperparameters (section 5.2: "we use the same
hyperparameters and perform no additional tuning"), once with the standard normal prior and once with the decoupled
prior (a RealNVP bijection g from the latent space to a standard normal generation space, 6 affine couplings with 64
hidden units as in the authors' code).

Protocol. The paper defers its settings to a supplement that is not available; they come from the authors' code
(riddhishb/dpVAE, read through its mirror iyerkrithika21/dpVAE at commit d0ec1a17, `config/*/mnist.json` and
`trainers/*.py`). Where the code's configs for a model with and without the prior differ (beta-VAE-H, beta-TCVAE,
InfoVAE), the standard-prior config is used for both, as the paper's text says. Conversions to tfvae's units
(tfvae's losses are per example):
- the authors' loss is `mse_weight` x the summed squared error on the decoder output, i.e. a Gaussian likelihood of
  variance 1 / (2 mse_weight);
- their KL terms are sums over the minibatch (weight unchanged per example; beta-VAE-B's capacity C, a target for
  the batch's summed KL, is divided by the batch size; like theirs, tfvae's |KL - C| is the batch's, see
  `batch_capacity_penalty`), while FactorVAE's TC term, InfoVAE's MMD and beta-TCVAE's three decomposed terms are
  minibatch means next to a summed reconstruction: their weights are divided by the batch size;
- FactorVAE's batch is 48: tfvae's FactorVAE trains the VAE on one half of each batch and the discriminator on the
  other, and the authors draw 24 images for each;
- 100,000 Adam iterations at a fixed learning rate are converted to epochs of tfvae's 50,000 Fashion-MNIST training
  images (60,000 minus the 10,000 held out for validation), or of the 7,500 moons training points.
Latents: 2 for MNIST in every one of the authors' configs.

Not reproduced from the authors' code: its data augmentation (colour jitter and small affine maps on MNIST), its
choice of the checkpoint with the lowest training loss (tfvae evaluates the last), its unbounded decoder output
(tfvae's Gaussian mean goes through a sigmoid for images), its tanh-bounded coupling networks, its (0.9, 0.999)
Adam moments for FactorVAE's discriminator (tfvae's adversarial default is (0.5, 0.9)), and its network (the `conv`
net is a stand-in of similar size, with batch normalization).

Metrics (tfvae's definitions, written next to the paper's in docs/reproduction.md): FID of prior samples; LP-FID of
the low-posterior samples (the fifth of 5N prior draws with the lowest aggregate posterior density, where the
authors' code keeps the lowest fifth of 500 draws per batch of 100); sKL between p(z) and the aggregate posterior by
Monte Carlo on 5,000 draws each; NLL by importance sampling in nats per example (the paper reports a single-sample
negative ELBO summed over a batch, scaled by 1 / (mse_weight 1000): not comparable in value); LS(tau) of eq. 6 at
thresholds of prior mass; and the prior mass of the pockets (`pockets`), which the paper draws but does not count.

Claims are stated as table 1 supports them in its MNIST column, the one this protocol follows; where the SVHN or
CelebA column disagrees, the claim says so (the tests judge every claim on all three, `paper_numbers_elsewhere`).
Figure 4 (leakage) and figures 1 and 3 (pockets) have no numbers, so those claims cannot be judged on the paper's
own table. Section 1's "without sacrificing the ELBO" is judged on the NLL column, by the direction of each pair
only (the two NLLs are not comparable in value, see Metrics): at least 5 of 6 pairs, as many as the MNIST column
has.

Scales:
- smoke: 300 digits (8x8, MLP) or 600 moons, one epoch, 40 samples, a decoupled prior of 2 couplings (16 units),
  2 seeds: every row end to end in seconds.
- cpu: Fashion-MNIST (28 px), the first 10,000 training images, the `conv` net, 10 epochs, domain-classifier FD on
  2,000 samples vs 2,000 test images; moons: 30 epochs with the MLP, raw-point FD; 3 seeds.
- paper: the authors' 100k iterations on the full training split, Inception FID on 10,000 samples.
"""
import json
import math
import os

import numpy as np
import tensorflow as tf

from tfvae import registry
from tfvae.density import latent_samplers
from tfvae.files import read_text
from trainers import evaluation, jobs, report_html
from trainers.experiments import claims
from trainers.experiments.experiment import Claim, Column, Experiment, Figure, Protocol, Row, Scale

_CODE = "authors' code (riddhishb/dpVAE via iyerkrithika21/dpVAE d0ec1a17)"
_TRAIN_EXAMPLES = {"fashion_mnist": 50000, "moons": 7500}  # tfvae's training splits
_ITERATIONS = 100000
# The smoke scale's decoupled prior: the same flow with 2 couplings of 16 units instead of 6 of 64 (a third of the
# graph to trace per cell).
_SMOKE_PRIOR_KWARGS = {"decoupled": {"num_couplings": 2, "hidden_units": 16}}
_SMOKE_FLOW = "decoupled prior of 2 couplings (16 units)"


def _variance(mse_weight):
    return {"likelihood_kwargs": {"variance": 1.0 / (2.0 * mse_weight)}}


def _epochs(batch_size, dataset):
    return max(1, round(_ITERATIONS * batch_size / _TRAIN_EXAMPLES[dataset]))


# name, model, model_kwargs, mse_weight, learning rate, batch size, where the numbers come from.
_FAMILIES = (
    ("VAE", "vae", {}, 1.0, 1e-4, 100, "config/vanilla/mnist.json (a later commit of the mirror)"),
    ("beta-VAE-H", "beta_vae_h", {"beta": 5.0}, 1.0, 1e-4, 24, "config/beta/mnist.json: beta 5 on the summed KL"),
    ("beta-VAE-B", "beta_vae_b", {"gamma": 15.0, "max_capacity": 25.0 / 24}, 100.0, 1e-3, 24,
     "config/betab/mnist.json and trainers/beta_trainer.py: gamma 15 on |KL - C| with the KL summed over the batch "
     "of 24 and C ramped 0 -> 25 nats over the whole training -> C per example 25 / 24"),
    ("beta-TCVAE", "beta_tcvae", {"alpha": 1.0 / 100, "beta": 4.0 / 100, "gamma": 15.0 / 100}, 10.0, 1e-4, 100,
     "config/betatc/mnist.json: alpha 1, beta 4, gamma 15 on minibatch means next to a summed reconstruction "
     "(trainers/betatc_trainer.py) -> divided by the batch of 100; minibatch-stratified sampling"),
    ("FactorVAE", "factor_vae", {"gamma": 1000.0 / 24, "discriminator_units": (1000,) * 5,
                                 "discriminator_learning_rate": 1e-4}, 1.0, 1e-4, 48,
     "config/factor/mnist.json and trainers/factor_trainer.py: gamma 1000 on the mean of the TC logits over the "
     "batch of 24 -> 1000 / 24; discriminator 5 x 1000 LeakyReLU units, Adam 1e-4, trained on a second batch of 24 "
     "(tfvae's batch of 48 holds both halves)"),
    ("InfoVAE", "info_vae", {"alpha": 0.0, "mmd_weight": 1.0 + 999.0 / 24}, 10.0, 1e-4, 24,
     "config/info/mnist.json and trainers/info_trainer.py: alpha 0, lambda 1000, (alpha + lambda - 1) x MMD of the "
     "batch -> 999 / 24 per example, so mmd_weight = 1 + 999 / 24 (tfvae's RBF kernel has h^2 = L; theirs "
     "exp(-||x - y||^2 / L^2))"),
)


def _rows(network, dataset):
    rows = []
    for name, model, kwargs, mse_weight, learning_rate, batch_size, source in _FAMILIES:
        for prior in ("standard", "decoupled"):
            label = name if prior == "standard" else f"{name} + dp"
            rows.append(Row(label, Protocol(
                model=model, model_kwargs={**kwargs, **_variance(mse_weight)}, network=network, latent_dim=2,
                likelihood="gaussian", prior=prior, learning_rate=learning_rate, batch_size=batch_size,
                epochs=_epochs(batch_size, dataset), patience=0, densities=(),
                sources={"hyperparameters": f"{_CODE}, {source}",
                         "likelihood": f"mse_weight {mse_weight:g} on the summed squared error -> Gaussian variance "
                                       f"{1 / (2 * mse_weight):g}",
                         "latent_dim": "2 in every MNIST config of the authors' code",
                         "optimizer": f"Adam {learning_rate:g}, fixed, batch {batch_size}; 100k iterations -> "
                                      f"{_epochs(batch_size, dataset)} epochs of {_TRAIN_EXAMPLES[dataset]:,} "
                                      f"examples",
                         "prior": "decoupled: 6 affine couplings with 64 hidden units (authors' "
                                  "models/implicit_model.py: separate s and t nets of 2 LeakyReLU layers, both ending "
                                  "in tanh, alternating half masks; tfvae's: one 2-layer ReLU net per coupling giving "
                                  "shift and log-scale, tanh on the log-scale only, output zero-initialized, the "
                                  "dimensions reversed between couplings)"
                                  if prior == "decoupled" else "N(0, I)"})))
    return tuple(rows)


def _pairs(rows):
    """(decoupled row, standard twin) label pairs."""
    return [(row.label, row.label[:-len(" + dp")]) for row in rows if row.label.endswith(" + dp")]


# ---------------------------------------------------------------------------------------------------------------
# Table 1
TABLE_ROWS = _rows("conv", "fashion_mnist")
_TABLE_PAIRS = _pairs(TABLE_ROWS)
_FID = "fd_{extractor}"
TABLE_COLUMNS = (
    Column("FD", _FID, "samples/prior"), Column("FD LP", _FID, "low_posterior"),
    Column("sKL", "skl", "prior_vs_posterior"), Column("NLL", "nll", "test"),
    Column("LS(1% prior mass)", "leakage", "prior_mass_0.01"),
    Column("pockets (q/p < 0.1)", "pockets", "ratio_0.1"),
)
# Table 1: FID, LP, sKL, NLL (x 10^3, the authors' units, see the module docstring) per data set; no spread given.
_PAPER = {
    "MNIST": {
        "VAE": (137.4, 165.0, 1.26, 3.56), "VAE + dp": (129.0, 153.1, 0.88, 3.53),
        "beta-VAE-H": (144.2, 163.1, 4.49, 4.12), "beta-VAE-H + dp": (127.1, 127.4, 1.07, 2.98),
        "beta-VAE-B": (130.8, 163.6, 2.74, 3.11), "beta-VAE-B + dp": (113.3, 114.1, 1.32, 2.80),
        "beta-TCVAE": (149.8, 200.3, 4.48, 2.91), "beta-TCVAE + dp": (133.3, 133.1, 2.07, 2.70),
        "FactorVAE": (130.5, 191.2, 1.04, 3.50), "FactorVAE + dp": (120.8, 121.3, 0.85, 3.60),
        "InfoVAE": (128.7, 133.2, 2.89, 2.88), "InfoVAE + dp": (110.1, 110.5, 1.70, 2.81),
    },
    "SVHN": {
        "VAE": (78.9, 83.8, 53.67, 0.386), "VAE + dp": (50.8, 55.2, 13.02, 0.318),
        "beta-VAE-H": (96.7, 97.6, 10.35, 0.611), "beta-VAE-H + dp": (65.2, 67.7, 4.05, 0.592),
        "beta-VAE-B": (61.7, 68.5, 2.62, 0.606), "beta-VAE-B + dp": (51.1, 50.3, 2.47, 0.550),
        "beta-TCVAE": (69.2, 70.5, 7.76, 9.86), "beta-TCVAE + dp": (50.3, 53.8, 2.94, 4.52),
        "FactorVAE": (97.2, 108.5, 1.91, 2.13), "FactorVAE + dp": (86.3, 86.9, 1.57, 2.36),
        "InfoVAE": (81.3, 83.2, 4.91, 1.55), "InfoVAE + dp": (62.9, 67.7, 2.67, 1.56),
    },
    "CelebA": {
        "VAE": (81.4, 79.0, 59.3, 9.26), "VAE + dp": (71.5, 74.3, 10.4, 4.91),
        "beta-VAE-H": (80.3, 79.9, 39.7, 6.93), "beta-VAE-H + dp": (67.2, 72.5, 33.5, 10.6),
        "beta-VAE-B": (75.7, 79.6, 25.8, 12.5), "beta-VAE-B + dp": (67.9, 72.0, 19.1, 10.4),
        "beta-TCVAE": (83.8, 83.0, 93.6, 9.33), "beta-TCVAE + dp": (80.3, 81.4, 90.3, 10.0),
        "FactorVAE": (82.6, 86.8, 71.3, 9.89), "FactorVAE + dp": (65.0, 73.4, 51.3, 12.2),
        "InfoVAE": (76.5, 79.1, 30.6, 11.1), "InfoVAE + dp": (68.9, 72.9, 20.3, 12.1),
    },
}


def _numbers(data_set):
    return {(row, column.label): (value, None) for row, values in _PAPER[data_set].items()
            for column, value in zip(TABLE_COLUMNS, values)}


def _leakage_figure(standard, decoupled):
    """Figure 4 for one pair: LS(tau) against the prior mass below tau, standard vs decoupled prior."""
    def draw(finished):
        if not finished.get(standard) or not finished.get(decoupled):
            return None
        curves, levels = {}, None
        for label in (standard, decoupled):
            report = json.loads(read_text(os.path.join(finished[label][0], evaluation.EVAL_DIR, "report.json")))
            scores = report["metrics"]["leakage"]
            levels = sorted(float(key.split("_")[-1]) for key in scores)
            curves[label] = [scores[f"prior_mass_{level:g}"] for level in levels]
        xs = [math.log10(level) for level in levels]
        lowest = levels[0]
        return {"data": {"prior_mass": levels, "leakage": curves},
                "figure": report_html.line_plot(f"LS(tau): {standard} vs {decoupled}", xs, curves,
                                                "log10 prior mass below tau", "LS(tau)"),
                "summary": f"LS at {lowest:g} prior mass: {standard} {curves[standard][0]:.3g}, {decoupled} "
                           f"{curves[decoupled][0]:.3g} (higher: more posterior mass leaks where the prior has "
                           f"little)"}
    return draw


DPVAE_TABLE1 = registry.register("experiment", "dpvae_table1")(Experiment(
    name="dpvae_table1",
    paper="Bhalodia, Lee & Elhabian 2020, dpVAEs: fixing sample generation for regularized VAEs (arXiv:1911.10506)",
    caption="table 1: FD of prior samples and of low-posterior samples (the paper: Inception FID and LP-FID), "
            "symmetric KL and NLL of six regularized VAEs with the standard and the decoupled prior; figure 4's "
            "leakage score; the prior mass of the pockets",
    rows=TABLE_ROWS, columns=TABLE_COLUMNS, metrics=("fd", "skl", "nll", "leakage", "pockets"),
    paper_numbers=_numbers("MNIST"),
    paper_note="table 1's MNIST column (Inception FID; sKL by a 1-nearest-neighbour estimator in the authors' code; "
               "NLL x 10^3 in the authors' units, not comparable with ours; no spread given); the paper has no "
               "Fashion-MNIST column, no LS table (figure 4 only) and no pockets number, so only directions compare.",
    paper_numbers_elsewhere={data_set: _numbers(data_set) for data_set in ("SVHN", "CelebA")},
    claims=(
        Claim("dp_lowers_fid",
              "Every decoupled-prior variant has a lower FID than its standard twin (section 5.2, table 1: 6/6 on "
              "MNIST, SVHN and CelebA)",
              claims.every_pair(_TABLE_PAIRS, claims.column("FD"), "pairs: dp FD < standard FD")),
        Claim("dp_lowers_skl",
              "Every decoupled-prior variant has a lower sKL than its standard twin (section 5.2, table 1: 6/6 on "
              "MNIST, SVHN and CelebA)",
              claims.every_pair(_TABLE_PAIRS, claims.column("sKL"), "pairs: dp sKL < standard sKL")),
        Claim("dp_low_posterior_gap",
              "On MNIST, low-posterior samples are almost as good as prior samples with the decoupled prior and much "
              "worse without (table 1: LP - FID is -0.2 to 0.8 for five dp variants and 24.1 for the dpVAE, 4.5 to "
              "60.7 without): LP - FID is smaller for every dp variant than for its twin. Section 5.2 says 'for all "
              "dpVAEs' the two are comparable, but the gap shrinks with the decoupled prior on MNIST only (SVHN 3/6; "
              "CelebA 0/6, where LP - FID is 1.1 to 8.4 with the decoupled prior and -2.4 to 4.2 without)",
              claims.every_pair(_TABLE_PAIRS, claims.column_difference("FD LP", "FD"),
                                "pairs: dp FD LP - FD < standard FD LP - FD")),
        Claim("dp_keeps_nll",
              "The decoupled prior does not sacrifice the ELBO (section 1's contributions: 'without sacrificing the "
              "ELBO of the vanilla VAE'; NLL by importance sampling, section 5.1): the NLL is lower with the "
              "decoupled prior for at least 5 of the 6 pairs, as table 1's MNIST column shows (5/6: FactorVAE's "
              "rises, 3.50 -> 3.60); not on SVHN (4/6: FactorVAE and InfoVAE rise) or CelebA (2/6: only the VAE "
              "and beta-VAE-B fall)",
              claims.every_pair(_TABLE_PAIRS, claims.column("NLL"), "pairs: dp NLL < standard NLL", at_least=5)),
        Claim("dp_leaks_less",
              "Decoupled-prior variants leak less posterior mass into low-prior regions (section 5.2, figure 4, "
              "which has no numbers): LS at the threshold below which the prior has 1% of its mass is lower for "
              "every dp variant (eq. 6 compares log q(z) with log N(g(z)) without g's Jacobian, so unlike the "
              "pockets it depends on g's volume change)",
              claims.every_pair(_TABLE_PAIRS, claims.column("LS(1% prior mass)"), "pairs: dp LS < standard LS")),
        Claim("dp_shrinks_pockets",
              "The decoupled prior shrinks the pockets (section 4.1, figures 1 and 3, which have no numbers): less "
              "prior mass where q(z) < p(z) / 10, for every pair",
              claims.every_pair(_TABLE_PAIRS, claims.column("pockets (q/p < 0.1)"),
                                "pairs: dp pocket mass < standard pocket mass")),
    ),
    figures=tuple(Figure(f"Figure 4: leakage score LS(tau), {standard} vs {decoupled}",
                         _leakage_figure(standard, decoupled)) for decoupled, standard in _TABLE_PAIRS),
    scales={
        "smoke": Scale("smoke", "300 digits (8x8), MLP, 1 epoch, 40 samples, domain features, " + _SMOKE_FLOW,
                       dataset="digits", max_train_examples=300, max_validation_examples=100, epochs=1, network="mlp",
                       model_kwargs={"capacity_steps": 13}, prior_kwargs=_SMOKE_PRIOR_KWARGS, num_samples=40,
                       extractors=("domain",), seeds=(0, 1),
                       evaluate_kwargs={"classifier_epochs": 1, "nll_samples": 8}),
        "cpu": Scale("cpu", "Fashion-MNIST 28 px, first 10,000 training images, `conv` net (32-64-128 filters), 10 "
                            "epochs (beta-VAE-B's capacity ramp over those 10), domain-classifier FD on 2,000 "
                            "samples vs 2,000 test images, NLL with 100 importance samples",
                     dataset="fashion_mnist", max_train_examples=10000, max_validation_examples=2000, epochs=10,
                     network="conv", model_kwargs={"capacity_steps": 10 * -(-10000 // 24)}, num_samples=2000,
                     extractors=("domain",), seeds=(0, 1, 2), evaluate_kwargs={"classifier_epochs": 5}),
        "paper": Scale("paper", "the authors' MNIST protocol on Fashion-MNIST: 100k iterations, `conv` net (a "
                                "stand-in for the authors' 32-channel net), Inception FID on 10,000 samples",
                       dataset="fashion_mnist", model_kwargs={"capacity_steps": _ITERATIONS}, num_samples=10000,
                       extractors=("inception", "domain")),
    },
))


# ---------------------------------------------------------------------------------------------------------------
# Two moons (figures 1 and 3)
_MOONS_FAMILIES = ("beta-VAE-H", "FactorVAE", "beta-TCVAE", "InfoVAE")  # figure 3's four models
MOONS_ROWS = tuple(row for row in _rows("mlp", "moons") if row.label.replace(" + dp", "") in _MOONS_FAMILIES)
_MOONS_PAIRS = _pairs(MOONS_ROWS)
_POINTS_FD = "fd_{extractor}"
MOONS_COLUMNS = (
    Column("FD prior", _POINTS_FD, "samples/prior"), Column("FD LP", _POINTS_FD, "low_posterior"),
    Column("sKL", "skl", "prior_vs_posterior"),
    Column("pockets (q/p < 0.1)", "pockets", "ratio_0.1"), Column("pockets (q/p < 0.01)", "pockets", "ratio_0.01"),
)
_FIGURE_POINTS = 600


def _moons_panels(label, workdir):
    """The latent space (prior density shading, test posterior samples, low-posterior prior draws) and the data
    space (test points, decoded prior samples, decoded low-posterior samples) of one cell."""
    _, splits, model = jobs.load_run(workdir)
    means, log_variances = jobs.encode_split(model, splits, "train")
    test_means, test_log_variances = jobs.encode_split(model, splits, "test")
    rng = np.random.default_rng(0)
    posterior = test_means[:_FIGURE_POINTS] + np.exp(0.5 * test_log_variances[:_FIGURE_POINTS]) * rng.standard_normal(
        test_means[:_FIGURE_POINTS].shape)
    prior_draws = np.asarray(model.prior.sample(5 * _FIGURE_POINTS, tf.constant([0, 2], tf.int32)))
    low, _ = latent_samplers.low_posterior_samples(
        prior_draws, lambda z: latent_samplers.aggregate_posterior_log_density(z, means, log_variances), 30)
    decode = tf.function(model.decode)
    generated = decode(tf.constant(prior_draws[:_FIGURE_POINTS], tf.float32)).numpy()
    decoded_low = decode(tf.constant(low, tf.float32)).numpy()
    span = float(np.clip(np.abs(np.concatenate([posterior, low])).max() * 1.05, 3.0, 8.0))
    latent_extent = (-span, span)
    log_prior = lambda z: model.prior.log_prob(tf.constant(z)).numpy()  # noqa: E731
    test = splits.first("test", _FIGURE_POINTS)
    data_extent = (-3.0, 3.0)
    panels = [
        {"title": f"{label}: latent space", "extent": latent_extent, "axes": ("$z_1$", "$z_2$"),
         "background": report_html.density_background(log_prior, latent_extent),
         "series": [(posterior, "#1f77b4", 1.5, "q(z): test posterior samples (shade: p(z))"),
                    (low, "#d62728", 3, "30 lowest-q(z) prior draws")]},
        {"title": f"{label}: data space", "extent": data_extent, "axes": ("$x_1$", "$x_2$"),
         "series": [(test, "#bbbbbb", 1.5, "test points"), (generated, "#2ca02c", 1.5, "decoded prior samples"),
                    (decoded_low, "#d62728", 3, "decoded low-posterior samples")]},
    ]
    data = {"posterior": np.round(posterior, 3).tolist(), "low_posterior": np.round(low, 3).tolist(),
            "generated": np.round(generated, 3).tolist(), "decoded_low_posterior": np.round(decoded_low, 3).tolist()}
    return panels, data


def _moons_figure(finished):
    """Figures 1 and 3: latent and data space of every row (first seed), standard and dp twins side by side."""
    if not all(finished.get(row.label) for row in MOONS_ROWS):
        return None
    panels, data = [], {}
    for row in MOONS_ROWS:
        row_panels, data[row.label] = _moons_panels(row.label, finished[row.label][0])
        panels += row_panels
    outside = {label: float(np.mean(np.abs(np.asarray(values["decoded_low_posterior"])).max(axis=1) > 2.5))
               for label, values in data.items()}
    return {"data": data,
            "figure": report_html.scatter_panels("Two moons: latent and data space", panels, columns=4),
            "summary": "share of the 30 decoded low-posterior samples outside the data's [-2.5, 2.5] box: " + ", ".join(
                f"{label} {share:.2f}" for label, share in outside.items())}


DPVAE_MOONS = registry.register("experiment", "dpvae_moons")(Experiment(
    name="dpvae_moons",
    paper="Bhalodia, Lee & Elhabian 2020, dpVAEs: fixing sample generation for regularized VAEs (arXiv:1911.10506)",
    caption="figures 1 and 3, two moons with 2-D latents: four regularized VAEs with the standard and the decoupled "
            "prior; Frechet distance of prior and low-posterior samples to the test points, symmetric KL and the "
            "prior mass of the pockets (q(z) < r p(z))",
    rows=MOONS_ROWS, columns=MOONS_COLUMNS, metrics=("fd", "skl", "pockets"),
    paper_numbers={},
    paper_note="the paper's toy figures have no numbers (and the authors' code has no moons configuration: the "
               "hyperparameters are those of table 1's MNIST configs, the likelihood variance included); the pocket "
               "mass turns the figures' pockets into a number.",
    claims=(
        Claim("dp_removes_pockets",
              "The decoupled prior removes the pockets of the latent space (section 4.1, figures 1 and 3, which have "
              "no numbers): less prior mass where q(z) < p(z) / 10 for every pair",
              claims.every_pair(_MOONS_PAIRS, claims.column("pockets (q/p < 0.1)"),
                                "pairs: dp pocket mass < standard pocket mass")),
        Claim("dp_low_posterior_on_data",
              "With the decoupled prior, low-posterior samples stay on the data (figure 3c); without, they fall off "
              "the moons: FD of low-posterior samples is lower for every dp variant",
              claims.every_pair(_MOONS_PAIRS, claims.column("FD LP"), "pairs: dp FD LP < standard FD LP")),
        Claim("dp_lowers_skl",
              "The decoupled prior brings the aggregate posterior closer to the prior: lower sKL (section 5.1's "
              "definition) for every pair (table 1 shows it on images; the paper gives no moons numbers)",
              claims.every_pair(_MOONS_PAIRS, claims.column("sKL"), "pairs: dp sKL < standard sKL")),
    ),
    figures=(Figure("Figures 1 and 3: latent space (q(z) samples over p(z), low-posterior prior draws in red) and "
                    "data space (decoded prior and low-posterior samples) of every row", _moons_figure),),
    scales={
        "smoke": Scale("smoke", "the first 600 moons points, 1 epoch, 40 samples, " + _SMOKE_FLOW, dataset="moons",
                       max_train_examples=600, max_validation_examples=100, epochs=1,
                       model_kwargs={"capacity_steps": 25}, prior_kwargs=_SMOKE_PRIOR_KWARGS, num_samples=40,
                       extractors=("raw",), seeds=(0, 1)),
        "cpu": Scale("cpu", "7,500 moons training points (noise 0.05, standardized), MLP, 30 epochs (2,300-9,400 "
                            "iterations instead of 100,000), raw-point FD on 1,500 samples vs the 1,500 test points",
                     dataset="moons", epochs=30, num_samples=1500, extractors=("raw",), seeds=(0, 1, 2)),
        "paper": Scale("paper", "moons with the authors' 100k iterations (the authors' code trains on 2,000 points; "
                                "tfvae's set has 7,500 training points)", dataset="moons", num_samples=1500,
                       extractors=("raw",)),
    },
))
