"""What a paper's table is, as data: the models with their authors' protocols, the columns, the paper's numbers and
its claims. `trainers.reproduction` runs an `Experiment` at a `Scale`; scales change sizes, never the math."""
import dataclasses
from typing import Callable, Mapping, Optional, Tuple

from trainers.config import TrainConfig
from trainers.experiments import statistics

_TRAIN_CONFIG_DEFAULTS = {field.name: (field.default if field.default is not dataclasses.MISSING
                                       else field.default_factory())
                          for field in dataclasses.fields(TrainConfig)}


# The `TrainConfig` fields a protocol sets: how its model is trained. The data, sizes and seed are the scale's and
# the cell's.
PROTOCOL_FIELDS = ("model", "model_kwargs", "network", "latent_dim", "likelihood", "prior", "learning_rate",
                   "batch_size", "epochs", "patience", "halve_every_epochs", "densities")


@dataclasses.dataclass(frozen=True, init=False)
class Protocol:
    """How one model is trained in a paper's experiment: a partial `TrainConfig` in tfvae's units, and where each
    setting comes from.

    `Protocol(model="vae", epochs=400, sources={...})` sets TrainConfig fields (`PROTOCOL_FIELDS`); every field it
    leaves out keeps TrainConfig's default, so `protocol.epochs` reads what a cell trains with either way.

    Attributes:
        settings: dict. The TrainConfig fields the protocol sets (`model` always), in tfvae's units.
        sources: dict setting -> where its value comes from (paper section, authors' code file) and how it was
            converted.
    """

    settings: Mapping
    sources: Mapping

    def __init__(self, model, sources=None, **settings):
        unknown = sorted(set(settings) - set(PROTOCOL_FIELDS))
        if unknown:
            raise ValueError(f"A protocol sets how a model trains, the TrainConfig fields {PROTOCOL_FIELDS}; the data, "
                             f"sizes and seed belong to the scale and the cell. Received: {unknown}")
        object.__setattr__(self, "settings", {"model": model, **settings})
        object.__setattr__(self, "sources", dict(sources or {}))

    def __getattr__(self, name):
        if name in PROTOCOL_FIELDS:
            return self.settings.get(name, _TRAIN_CONFIG_DEFAULTS[name])
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    def as_dict(self):
        """Every protocol field (set or TrainConfig's default) and the sources, as table.json shows a row."""
        return {**{name: getattr(self, name) for name in PROTOCOL_FIELDS}, "sources": dict(self.sources)}


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


# Where a column's numbers come from: the cell's evaluation report, or the per-epoch record of its training.
SOURCES = ("report", "history")
# The epochs a `history` column can read: "middle" is epoch ceil(E / 2) of the E trained, "last" is epoch E.
HISTORY_EPOCHS = ("middle", "last")


@dataclasses.dataclass(frozen=True)
class Column:
    """A column of the table: one number of each row's evaluation report, or of its training history.

    Attributes:
        label: str. The paper's column label, e.g. "FID GMM".
        metric: str. Report key; "{extractor}" is replaced by each extractor of the scale (`fd_{extractor}` gives
            `fid` for Inception and `fd_domain` for the domain classifier). For a `history` column, the key of the
            per-epoch training record (e.g. "state/log_gamma").
        set: str. The key inside the metric, e.g. "samples/gmm", "reconstructions", "posterior". For a `history`
            column, the epoch read (`HISTORY_EPOCHS`): "middle" (epoch ceil(E / 2) of the E trained) or "last".
        lower_is_better: bool. For the verdicts and for marking the best row.
        rows: tuple of row labels, or None. The rows that have this number (e.g. only the 2-Stage VAE has a second
            stage); None: every row.
        source: str. "report" (default: the cell's eval/report.json) or "history" (the cell's logs/history.jsonl,
            written while it trained: such a column is tabulated from finished cells without evaluating them again).
    """

    label: str
    metric: str
    set: str
    lower_is_better: bool = True
    rows: Optional[Tuple[str, ...]] = None
    source: str = "report"

    def __post_init__(self):
        if self.source not in SOURCES:
            raise ValueError(f"Column {self.label!r}: source must be one of {SOURCES}. Received: "
                             f"source={self.source!r}")
        if self.source == "history" and self.set not in HISTORY_EPOCHS:
            raise ValueError(f"Column {self.label!r} reads the training history, whose epochs are named "
                             f"{HISTORY_EPOCHS}. Received: set={self.set!r}")

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
        seeds: tuple of int. One cell (its own workdir) per row and seed; `--seeds` overrides them. Claims need at
            least 2 seeds for an interval (`trainers.experiments.statistics`).
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
        name: str. A short stable key (table.json, tests).
        text: str. The finding as the paper's table supports it (in the paper's words where they hold), with the
            section and table it comes from and where it does not hold in the paper's own numbers.
        check: callable(`ResultTable`) -> `statistics.Judgement`: reproduced, contradicted, inconclusive or not
            judged, with the effect (positive where the paper's finding holds) and its interval
            (`trainers.experiments.claims` builds them).
    """

    name: str
    text: str
    check: Callable


@dataclasses.dataclass(frozen=True)
class Figure:
    """A figure of the paper redrawn from the finished cells.

    Attributes:
        caption: str. What the figure shows, with its number in the paper.
        draw: callable({row label: [workdir of each finished cell of the row]}) -> {"data": JSON-able values,
            "figure": a matplotlib Figure (`trainers.report_html`'s plots), "summary": one sentence of what it shows,
            for table.md}, or None while the cells it needs are not finished.
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
        paper_trials: int or None. The trials behind the paper's +- std (Dai & Wipf: 10); None when the paper gives
            no spread, so its numbers are taken as exact when a claim is judged on them.
        paper_numbers_elsewhere: dict data set -> numbers like `paper_numbers`: the same table's other columns (e.g.
            CIFAR-10 and CelebA), so a claim's scope can be checked against the whole table (tests, docs).
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
    paper_trials: Optional[int] = None
    paper_numbers_elsewhere: Mapping = dataclasses.field(default_factory=dict)

    def scale(self, name):
        if name not in self.scales:
            raise ValueError(f"Experiment {self.name} has scales {sorted(self.scales)}. Received: scale={name!r}")
        return self.scales[name]

    def paper_table(self, data_set=None):
        """The paper's own numbers as a `ResultTable`: the column of `paper_numbers`, or `data_set`'s."""
        if data_set is None:
            return ResultTable.from_paper(self.paper_numbers, self.paper_trials)
        if data_set not in self.paper_numbers_elsewhere:
            raise ValueError(f"Experiment {self.name} holds the paper's other columns "
                             f"{sorted(self.paper_numbers_elsewhere)}. Received: data_set={data_set!r}")
        return ResultTable.from_paper(self.paper_numbers_elsewhere[data_set], self.paper_trials)


class ResultTable:
    """The numbers claims are judged on: a `statistics.Estimate` per row and column (None where missing).

    Our tables hold per-seed values (`from_seeds`), so two rows of the same seeds compare seed by seed; a paper's
    table holds its reported means (`from_paper`), with its +- std over trials where it gives one.
    """

    def __init__(self, cells):
        self.cells = {row: dict(columns) for row, columns in cells.items()}

    @classmethod
    def from_seeds(cls, values):
        """values: {row: {column: {seed: value}}}."""
        return cls({row: {column: statistics.over_seeds(per_seed) for column, per_seed in columns.items()}
                    for row, columns in values.items()})

    @classmethod
    def from_paper(cls, numbers, trials=None):
        """numbers: {(row, column): (value, std or None)}; trials: the trials behind every std (None: exact)."""
        cells = {}
        for (row, column), (value, std) in numbers.items():
            cells.setdefault(row, {})[column] = statistics.summary(value, std, trials if std is not None else None)
        return cls(cells)

    def cell(self, row, column):
        """The row's `Estimate` of `column`, or None where there is no value."""
        return self.cells.get(row, {}).get(column)

    def rows(self):
        return list(self.cells)
