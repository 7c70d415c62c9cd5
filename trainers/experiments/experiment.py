"""What a paper's table is, as data: the models with their authors' protocols, the columns, the paper's numbers and
its claims. `trainers.reproduction` runs an `Experiment` at a `Scale`; scales change sizes, never the math."""
import dataclasses
from typing import Callable, Mapping, Optional, Tuple

import numpy as np


@dataclasses.dataclass(frozen=True)
class Protocol:
    """How one model is trained in a paper's experiment, in tfvae's units.

    Attributes:
        model: str. Registered model name.
        model_kwargs: dict. Hyperparameters in tfvae's units (the conversion is in `sources`).
        network, latent_dim, likelihood, prior: as the `trainers.train` flags.
        learning_rate, batch_size, epochs: Adam's initial rate, the global batch, the paper's epochs.
        patience: int. Plateau halving patience; 0 keeps the learning rate fixed.
        halve_every_epochs: int. A step schedule: the learning rate is halved every this many epochs; 0: none.
        densities: tuple of str. Ex-post densities fitted after training.
        sources: dict setting -> where its value comes from (paper section, authors' code file) and how it was
            converted.
    """

    model: str
    model_kwargs: Mapping = dataclasses.field(default_factory=dict)
    network: Optional[str] = None
    latent_dim: Optional[int] = None
    likelihood: Optional[str] = None
    prior: str = "standard"
    learning_rate: float = 1e-3
    batch_size: int = 100
    epochs: int = 100
    patience: int = 10
    halve_every_epochs: int = 0
    densities: Tuple[str, ...] = ("gaussian", "gmm")
    sources: Mapping = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Row:
    """A row of the paper's table: its label and the protocol of its model.

    Attributes:
        label: str. The paper's row label, e.g. "VAE (learned gamma)".
        protocol: `Protocol`.
        sets: dict column label -> evaluated set, overriding the column's set for this row (e.g. the RAE paper's
            "N" column is prior samples for the VAE and WAE, a fitted Gaussian for the others).
    """

    label: str
    protocol: Protocol
    sets: Mapping = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Column:
    """A column of the table: one number of each row's evaluation report.

    Attributes:
        label: str. The paper's column label, e.g. "FID GMM".
        metric: str. Report key; "{extractor}" is replaced by each extractor of the scale (`fd_{extractor}` gives
            `fid` for Inception and `fd_domain` for the domain classifier).
        set: str. The key inside the metric, e.g. "samples/gmm", "reconstructions", "posterior".
        lower_is_better: bool. For the verdicts and for marking the best row.
        rows: tuple of row labels, or None. The rows that have this number (e.g. only the 2-Stage VAE has a second
            stage); None: every row.
    """

    label: str
    metric: str
    set: str
    lower_is_better: bool = True
    rows: Optional[Tuple[str, ...]] = None

    def applies_to(self, row_label):
        return self.rows is None or row_label in self.rows

    def report_key(self, extractor):
        key = self.metric.format(extractor=extractor)
        return "fid" if key == "fd_inception" else key


@dataclasses.dataclass(frozen=True)
class Scale:
    """The sizes an experiment runs at.

    Attributes:
        name: str. "smoke", "cpu" or "paper".
        description: str. What was reduced, said in the table.
        dataset, pad_to: the data (`trainers.train` flags).
        max_train_examples, max_validation_examples: int or None (None: all).
        epochs: int or None. Replaces every protocol's epochs; None keeps the paper's.
        network: str or None. Replaces every protocol's network; None keeps the paper's.
        model_kwargs: dict. Merged into every protocol's (e.g. fewer second-stage epochs).
        prior_kwargs: dict prior name -> arguments of that prior in every row that uses it (e.g. a decoupled prior
            with fewer couplings at the smoke scale).
        num_samples: int. Samples per evaluated set (against as many test images).
        extractors: tuple of str. Feature networks of the set metrics; the first is the one claims are judged on.
        seeds: tuple of int.
        evaluate_kwargs: dict. Costs of the slower metrics (classifier_epochs, critic_steps, ...).
    """

    name: str
    description: str
    dataset: str
    pad_to: Optional[int] = None
    max_train_examples: Optional[int] = None
    max_validation_examples: Optional[int] = None
    epochs: Optional[int] = None
    network: Optional[str] = None
    model_kwargs: Mapping = dataclasses.field(default_factory=dict)
    prior_kwargs: Mapping = dataclasses.field(default_factory=dict)
    num_samples: int = 10000
    extractors: Tuple[str, ...] = ("inception",)
    seeds: Tuple[int, ...] = (0,)
    evaluate_kwargs: Mapping = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Claim:
    """A finding of the paper, checked on our table.

    Attributes:
        text: str. The finding in the paper's words (or close to them), with where it is stated.
        check: callable(`ResultTable`) -> (verdict: bool or None when it cannot be judged, detail: str).
    """

    text: str
    check: Callable


@dataclasses.dataclass(frozen=True)
class Figure:
    """A figure of the paper redrawn from the finished cells.

    Attributes:
        caption: str. What the figure shows, with its number in the paper.
        draw: callable({row label: [workdir of each finished cell of the row]}) -> {"data": JSON-able values,
            "svg": an inline SVG, "summary": one sentence of what it shows, for table.md}, or None while the cells
            it needs are not finished.
    """

    caption: str
    draw: Callable


@dataclasses.dataclass(frozen=True)
class Experiment:
    """One paper table.

    Attributes:
        name, paper, caption: str. Identity, the paper and what the table shows.
        rows, columns: tuples of `Row` and `Column`.
        metrics: tuple of str. The registered metrics evaluated (`trainers.evaluate --metrics`).
        paper_numbers: dict (row label, column label) -> (value, std or None): the paper's reported numbers.
        paper_note: str. Which of the paper's columns `paper_numbers` holds (e.g. its MNIST column).
        claims: tuple of `Claim`.
        scales: dict name -> `Scale`.
        figures: tuple of `Figure`, redrawn in report.html with their data in table.json.
    """

    name: str
    paper: str
    caption: str
    rows: Tuple[Row, ...]
    columns: Tuple[Column, ...]
    metrics: Tuple[str, ...]
    paper_numbers: Mapping
    paper_note: str
    claims: Tuple[Claim, ...]
    scales: Mapping
    figures: Tuple[Figure, ...] = ()

    def scale(self, name):
        if name not in self.scales:
            raise ValueError(f"Experiment {self.name} has scales {sorted(self.scales)}. Received: scale={name!r}")
        return self.scales[name]


class ResultTable:
    """Our numbers: values[row label][column label] -> list over seeds, for the judging extractor."""

    def __init__(self, values):
        self.values = values

    def mean(self, row, column):
        """The mean over seeds, or NaN where the cell has no value yet."""
        runs = self.values.get(row, {}).get(column, [])
        return float(np.mean(runs)) if runs else float("nan")

    def rows(self):
        return list(self.values)


def count_rows(table, rows, predicate, description):
    """A claim of the form "for every row ...": (all hold, "k/n rows: ..." detail); None if a value is missing."""
    results = {}
    for row in rows:
        outcome = predicate(row)
        if outcome is None:
            return None, f"not judged: {row} has no value yet"
        results[row] = outcome
    held = [row for row, ok in results.items() if ok]
    failed = [row for row, ok in results.items() if not ok]
    detail = f"{len(held)}/{len(results)} {description}"
    if failed:
        detail += f" (not: {', '.join(failed)})"
    return len(held) == len(results), detail
