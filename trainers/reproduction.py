"""Runs a paper's experiment: every cell (row x seed) is an ordinary workdir (train -> densities -> evaluate), then
one table with our numbers beside the paper's and a verdict for each of its claims.

    DIR/EXPERIMENT/experiment.json        the experiment and scale this folder belongs to
    DIR/EXPERIMENT/cells/ROW-seedK/       a workdir per cell, plus cell.json (finished phases and their times)
    DIR/EXPERIMENT/table.md, table.json, report.html
    DIR/EXPERIMENT/figures/FIGURE.svg      the paper's figures we redraw, as SVG files (also inline in report.html)

A killed run resumes where it stopped: a finished phase of a cell is never run again (cell.json says which are
done, written atomically after each), and a killed training resumes from its last checkpoint. Each seed's cell is
its own workdir, so seeds (and rows) can run in separate processes or on separate machines: the table merges every
finished cell it finds in DIR/EXPERIMENT/cells, says how many seeds each number has, and judges each claim by the
interval of its effect over the seeds (`trainers.experiments.statistics`).
"""
import dataclasses
import datetime
import html
import json
import os
import platform
import re
import sys
import time

import tensorflow as tf
from absl import logging

from tfvae import files, models, registry
from tfvae.files import atomic_write
from tfvae.metrics import domain_classifier
from trainers import evaluation, jobs, report_html
from trainers.config import TrainConfig
from trainers.experiments import statistics
from trainers.experiments.experiment import ResultTable

CELL_FILE = "cell.json"
EXPERIMENT_FILE = "experiment.json"
_PHASES = ("train", "evaluate")
_SHARED_CLASSIFIER = "domain_classifier"


def _slug(label):
    """A row label as a folder name: "VGH++" -> "vgh_plus_plus", "VAE (L=10)" -> "vae_l_10"."""
    text = "".join(c if c.isalnum() else "_" for c in label.replace("+", "_plus_")).lower()
    return re.sub("_+", "_", text).strip("_")


def cell_config(experiment, scale, row, seed, workdir, data_dir=None):
    """The `TrainConfig` of one cell: the row's protocol at the scale's sizes."""
    protocol = row.protocol
    return TrainConfig(
        **{**protocol.settings, "model_kwargs": _model_kwargs(protocol, scale),
           "network": scale.network or protocol.network, "epochs": scale.epochs or protocol.epochs},
        workdir=workdir, dataset=scale.dataset, data_dir=data_dir, pad_to=scale.pad_to, seed=seed,
        max_train_examples=scale.max_train_examples, max_validation_examples=scale.max_validation_examples).validate()


def _model_kwargs(protocol, scale):
    """The row's hyperparameters at the scale: the protocol's, the scale's that the model takes, and the scale's
    arguments of the row's prior."""
    kwargs = {**protocol.model_kwargs, **_applicable(scale.model_kwargs, protocol)}
    if protocol.prior in scale.prior_kwargs:
        kwargs["prior_kwargs"] = {**kwargs.get("prior_kwargs", {}), **scale.prior_kwargs[protocol.prior]}
    return kwargs


def _applicable(overrides, protocol):
    """The scale's model_kwargs that the row's model takes (e.g. second-stage epochs only for the two-stage VAE)."""
    names = models.hyperparameters(registry.get("model", protocol.model))
    return {key: value for key, value in overrides.items() if key in names}


def _check_before_training(experiment, scale):
    """Mistakes in an experiment's definition (unknown metric, model or hyperparameter, claims sharing a name)
    found before any cell trains, not when the first one is evaluated."""
    names = [claim.name for claim in experiment.claims]
    if len(set(names)) < len(names):
        raise ValueError(f"Experiment {experiment.name}: claims must have distinct names. Received: {names}")
    unknown = sorted(set(experiment.metrics) - set(registry.names("metric")))
    if unknown:
        raise ValueError(f"Experiment {experiment.name} selects unknown metrics {unknown}; registered: "
                         f"{registry.names('metric')}")
    slugs = [_slug(row.label) for row in experiment.rows]
    if len(set(slugs)) < len(slugs):
        raise ValueError(f"Experiment {experiment.name}: rows {[row.label for row in experiment.rows]} would share "
                         f"cell folders {slugs}")
    files = [_figure_file(figure.caption) for figure in experiment.figures]
    if len(set(files)) < len(files):
        raise ValueError(f"Experiment {experiment.name}: figures {[figure.caption for figure in experiment.figures]} "
                         f"would share figure files {files}")
    labels = {column.label for column in experiment.columns}
    for row in experiment.rows:
        stray = sorted(set(row.sets) - labels)
        if stray:
            raise ValueError(f"Experiment {experiment.name}, row {row.label!r}: sets name columns {stray} the "
                             f"experiment does not have; its columns: {sorted(labels)}. Received: "
                             f"sets={dict(row.sets)}")
        model_class = registry.get("model", row.protocol.model)
        kwargs = _model_kwargs(row.protocol, scale)
        extra = sorted(set(kwargs) - set(models.hyperparameters(model_class)))
        if extra:
            raise ValueError(f"Experiment {experiment.name}, row {row.label!r}: model {row.protocol.model!r} has no "
                             f"hyperparameters {extra}")


def evaluation_settings(experiment, scale, seed):
    """Everything `_evaluate` passes to `trainers.evaluation.evaluate` for a cell of `seed` (JSON values)."""
    return json.loads(json.dumps({"metrics": list(experiment.metrics), "num_samples": scale.num_samples,
                                  "extractors": list(scale.extractors), "seed": seed, **scale.evaluate_kwargs}))


class _Cell:
    """One row x seed: its workdir and the record of its finished phases.

    The evaluate phase counts as done only for the evaluation settings it ran with (recorded with it): when a
    scale's protocol changes (say, a new preprocessing of generated images), its cells are evaluated again, never
    merged stale into a table; their training is kept.
    """

    def __init__(self, root, row, seed, settings):
        self.row, self.seed, self.settings = row, seed, settings
        self.workdir = os.path.join(root, "cells", f"{_slug(row.label)}-seed{seed}")
        self.path = os.path.join(self.workdir, CELL_FILE)
        self.record = {"row": row.label, "seed": seed, "phases": {}}
        if tf.io.gfile.exists(self.path):
            self.record = json.loads(files.read_text(self.path))

    def done(self, phase):
        if phase == "evaluate" and phase in self.record["phases"]:
            return self.stale_evaluation() is None
        return phase in self.record["phases"]

    def stale_evaluation(self):
        """None, or what differs between the recorded evaluation's settings and the scale's current ones."""
        recorded = self.record["phases"].get("evaluate", {}).get("settings")
        if recorded == self.settings:
            return None
        if recorded is None:
            return "settings not recorded (an older tfvae)"
        keys = sorted(key for key in set(recorded) | set(self.settings) if recorded.get(key) != self.settings.get(key))
        return ", ".join(f"{key}: {recorded.get(key)!r} -> {self.settings.get(key)!r}" for key in keys)

    def mark(self, phase, seconds):
        self.record["phases"][phase] = {"seconds": round(seconds, 1),
                                        "finished": datetime.datetime.now().isoformat(timespec="seconds")}
        if phase == "evaluate":
            self.record["phases"][phase]["settings"] = self.settings
        atomic_write(self.path, json.dumps(self.record, indent=2))


def _claim_experiment_folder(root, experiment, scale):
    """Writes or checks DIR/EXPERIMENT/experiment.json: one folder holds one experiment at one scale."""
    path = os.path.join(root, EXPERIMENT_FILE)
    identity = {"experiment": experiment.name, "scale": scale.name}
    if tf.io.gfile.exists(path):
        previous = json.loads(files.read_text(path))
        if {k: previous.get(k) for k in identity} != identity:
            raise ValueError(f"{root} holds {previous.get('experiment')} at scale {previous.get('scale')}; cells of "
                             f"another scale would mix with them. Use another --workdir. Received: "
                             f"experiment={experiment.name}, scale={scale.name}")
        return
    atomic_write(path, json.dumps(identity, indent=2))


def select_rows(experiment, rows=None):
    """The rows of `experiment` named in `rows` (labels or cell-folder names), in the experiment's order.

    Args:
        experiment: `Experiment`.
        rows: sequence of str, or None (every row).

    Returns:
        tuple of `Row`.
    """
    if not rows:
        return tuple(experiment.rows)
    known = {}
    for row in experiment.rows:
        known[row.label] = known[_slug(row.label)] = row
    unknown = [name for name in rows if name not in known]
    if unknown:
        raise ValueError(f"Experiment {experiment.name} has no rows {unknown}. Valid rows: "
                         f"{[row.label for row in experiment.rows]} (or their cell folders "
                         f"{[_slug(row.label) for row in experiment.rows]}). Received: rows={list(rows)}")
    chosen = {known[name].label for name in rows}
    return tuple(row for row in experiment.rows if row.label in chosen)


def select_seeds(scale, seeds=None):
    """`seeds` (distinct non-negative integers) or, when None, the scale's."""
    if seeds is None:
        return tuple(scale.seeds)
    seeds = tuple(seeds)
    valid = all(isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0 for seed in seeds)
    if not seeds or not valid or len(set(seeds)) < len(seeds):
        raise ValueError(f"Seeds must be one or more distinct non-negative integers, e.g. (0, 1, 2). Received: "
                         f"seeds={seeds}")
    return seeds


def parse_seeds(texts):
    """`--seeds` values ("0", "1", ...) as integers; None stays None (the scale's seeds)."""
    if texts is None:
        return None
    try:
        return select_seeds(None, [int(text) for text in texts])
    except ValueError:
        raise ValueError(f"--seeds takes comma-separated distinct non-negative integers, e.g. --seeds=0,1,2. "
                         f"Received: --seeds={','.join(texts)}") from None


def run_experiment(name, scale_name="cpu", workdir="/tmp/tfvae/reproduce", data_dir=None, seeds=None, rows=None):
    """Runs (or resumes) the cells of experiment `name` at `scale_name`, then writes the table.

    Args:
        name: str. Registered experiment.
        scale_name: str. "smoke", "cpu" or "paper".
        workdir: str. Parent folder; the cells go to WORKDIR/NAME/cells/ROW-seedK.
        data_dir: str or None. As `trainers.train --data_dir`.
        seeds: sequence of int, or None for the scale's seeds. Cells of other seeds already finished in the folder
            (another process or machine) are merged into the table too.
        rows: sequence of row labels (or cell-folder names), or None for every row. The table still shows every
            row; rows without finished cells are blank and the claims that need them are not judged.

    Returns:
        (table dict as written to table.json, path of table.md).
    """
    experiment = registry.get("experiment", name)
    scale = experiment.scale(scale_name)
    selected, seeds = select_rows(experiment, rows), select_seeds(scale, seeds)
    _check_before_training(experiment, scale)
    root = os.path.join(workdir, experiment.name)
    tf.io.gfile.makedirs(root)
    _claim_experiment_folder(root, experiment, scale)
    cells = [_Cell(root, row, seed, evaluation_settings(experiment, scale, seed)) for row in selected for seed in seeds]
    for cell in cells:
        if "evaluate" in cell.record["phases"] and not cell.done("evaluate"):
            logging.warning("[reproduce %s/%s] %s (seed %d) was evaluated with other settings (%s): evaluating it "
                            "again; its training is kept", experiment.name, scale.name, cell.row.label, cell.seed,
                            cell.stale_evaluation())
    planned = {(cell.row.label, cell.seed) for cell in cells}
    timed = cells + [cell for cell in _cells_on_disk(root, experiment, scale)
                     if (cell.row.label, cell.seed) not in planned]
    todo = [(cell, phase) for cell in cells for phase in _PHASES if not cell.done(phase)]
    started = time.perf_counter()
    for index, cell in enumerate(cells, 1):
        phases = [phase for phase in _PHASES if not cell.done(phase)]
        for phase in phases:
            logging.info("[reproduce %s/%s] %s", experiment.name, scale.name,
                         _progress(index, len(cells), cell, phase, todo, timed))
            phase_started = time.perf_counter()
            if phase == "train":
                # Training and the ex-post densities; a cell needs no SavedModel (evaluation reads the workdir).
                jobs.train_and_fit_densities(cell_config(experiment, scale, cell.row, cell.seed, cell.workdir,
                                                         data_dir))
            else:
                _evaluate(cell, experiment, scale, root)
            cell.mark(phase, time.perf_counter() - phase_started)
            todo.remove((cell, phase))
        if phases:
            logging.info("[reproduce %s/%s] cell %d/%d %s (seed %d) finished: %s", experiment.name, scale.name, index,
                         len(cells), cell.row.label, cell.seed,
                         ", ".join(f"{phase} {cell.record['phases'][phase]['seconds']:.0f} s" for phase in phases))
    logging.info("[reproduce %s/%s] %d cells (rows: %s; seeds: %s) done in this run after %.0f s", experiment.name,
                 scale.name, len(cells), ", ".join(row.label for row in selected), ", ".join(map(str, seeds)),
                 time.perf_counter() - started)
    return write_table(experiment, scale, root)


def _expected_seconds(cells, row, phase):
    """The mean seconds of `phase` over the timed cells of `row` (its other seeds), else of every row; None before
    any cell has timed the phase."""
    same = [cell.record["phases"][phase]["seconds"] for cell in cells
            if cell.row.label == row and cell.done(phase)]
    pool = same or [cell.record["phases"][phase]["seconds"] for cell in cells if cell.done(phase)]
    return sum(pool) / len(pool) if pool else None


def _eta(cells, work):
    """"~0:01:10 (at 14:03:22)" for the (cell, phase) pairs of `work`, from the phases already timed."""
    expected = [_expected_seconds(cells, cell.row.label, phase) for cell, phase in work]
    known = [seconds for seconds in expected if seconds is not None]
    if not known:
        return "unknown (no such phase timed yet)"
    total = sum(known)
    finish = (datetime.datetime.now() + datetime.timedelta(seconds=total)).strftime("%H:%M:%S")
    text = f"~{datetime.timedelta(seconds=round(total))} (at {finish})"
    untimed = len(expected) - len(known)
    return text + (f", plus {untimed} phase{'s' if untimed > 1 else ''} not timed yet" if untimed else "")


def _progress(index, total, cell, phase, todo, timed):
    """One progress line: the cell and phase starting, the ETA of this cell and of every phase left in the run."""
    this_cell = [(other, other_phase) for other, other_phase in todo if other is cell]
    return (f"cell {index}/{total} {cell.row.label} (seed {cell.seed}): {phase}; this cell ETA "
            f"{_eta(timed, this_cell)}; run ETA ({len(todo)} phase{'s' if len(todo) > 1 else ''} left) "
            f"{_eta(timed, todo)}")


_CELL_FOLDER = re.compile(r"^(?P<slug>.+)-seed(?P<seed>[0-9]+)$")


def _cells_on_disk(root, experiment, scale):
    """Every cell of `experiment` under root/cells that has a cell.json, whatever its seed, in row then seed order."""
    rows = {_slug(row.label): row for row in experiment.rows}
    folder = os.path.join(root, "cells")
    found = []
    for name in files.listdir(folder):
        match = _CELL_FOLDER.match(name)
        if match and match["slug"] in rows and tf.io.gfile.exists(os.path.join(folder, name, CELL_FILE)):
            seed = int(match["seed"])
            found.append(_Cell(root, rows[match["slug"]], seed, evaluation_settings(experiment, scale, seed)))
    order = {row.label: index for index, row in enumerate(experiment.rows)}
    return sorted(found, key=lambda cell: (order[cell.row.label], cell.seed))


def _evaluate(cell, experiment, scale, root):
    """Evaluates a cell; the domain classifier is trained once per experiment folder and shared by every cell."""
    shared = os.path.join(root, _SHARED_CLASSIFIER)
    own = os.path.join(cell.workdir, evaluation.EVAL_DIR, _SHARED_CLASSIFIER)
    if tf.io.gfile.isdir(shared) and not tf.io.gfile.isdir(own):
        files.copy_tree(shared, own)
    evaluation.evaluate(cell.workdir, list(experiment.metrics), num_samples=scale.num_samples,
                        extractors=scale.extractors, seed=cell.seed, **scale.evaluate_kwargs)
    if tf.io.gfile.isdir(own) and not tf.io.gfile.isdir(shared):
        temporary = shared + ".tmp"
        files.remove_tree(temporary, ignore_errors=True)
        files.copy_tree(own, temporary)
        files.move(temporary, shared, last=(domain_classifier.INFO_FILE,))


def _values(experiment, scale, cells):
    """{extractor: {row: {column: {seed: value}}}} of the finished cells, {column: protocol of its first number} and
    {code fingerprint of the evaluation (its first 12 digits; "not recorded" before tfvae recorded it): the cells it
    evaluated}."""
    values = {extractor: {row.label: {} for row in experiment.rows} for extractor in scale.extractors}
    protocols, code = {}, {}
    for cell in cells:
        report_path = os.path.join(cell.workdir, evaluation.EVAL_DIR, "report.json")
        if not cell.done("evaluate") or not tf.io.gfile.exists(report_path):
            continue
        report = json.loads(files.read_text(report_path))
        code.setdefault(report.get("code", "not recorded")[:12], []).append(os.path.basename(cell.workdir))
        history = None
        for extractor in scale.extractors:
            for column in experiment.columns:
                if not column.applies_to(cell.row.label):
                    continue
                if column.source == "history":
                    history = jobs.read_history(cell.workdir) if history is None else history
                    value, protocol = _history_value(history, column)
                else:
                    key = column.report_key(extractor)
                    value = report["metrics"].get(key, {}).get(cell.row.sets.get(column.label, column.set))
                    protocol = report["protocol"].get(key)
                if value is None:
                    continue
                values[extractor][cell.row.label].setdefault(column.label, {})[cell.seed] = float(value)
                protocols.setdefault(f"{column.label} @ {extractor}", protocol)
    return values, protocols, code


def _history_value(history, column):
    """(value, protocol) of a `history` column in one cell's per-epoch training records; (None, None) when the
    cell's records lack the key (cells trained before tfvae logged it)."""
    by_epoch = {int(record["epoch"]): record for record in history}
    if not by_epoch:
        return None, None
    epochs = max(by_epoch)
    epoch = -(-epochs // 2) if column.set == "middle" else epochs
    value = by_epoch.get(epoch, {}).get(column.metric)
    if value is None:
        return None, None
    return value, {"source": "the cell's training history (logs/history.jsonl, one record per epoch)",
                   "key": column.metric, "epoch": f"{column.set}: epoch {epoch} of {epochs}"}


def _command():
    """The command line that produced the table, as a user would type it."""
    program = sys.argv[0] if sys.argv else ""
    if os.path.basename(program) == "reproduce.py":
        return " ".join(["python -m trainers.reproduce", *sys.argv[1:]])
    return f"trainers.reproduction.run_experiment from {os.path.basename(program) or 'python'}"


def _machine():
    gpus = [d.name for d in tf.config.list_physical_devices("GPU")]
    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "gpus": gpus, "tensorflow": tf.__version__}


def write_table(experiment, scale, root):
    """Writes table.json, table.md and report.html from every finished cell in `root` (any seed, any process);
    returns (table dict, table.md path)."""
    cells = [cell for cell in _cells_on_disk(root, experiment, scale) if cell.done("evaluate")]
    values, protocols, code = _values(experiment, scale, cells)
    judged_on = scale.extractors[0]
    ours = ResultTable.from_seeds(values[judged_on])
    claims = []
    for claim in experiment.claims:
        judgement, on_paper = claim.check(ours), claim.check(experiment.paper_table())
        claims.append({"name": claim.name, "claim": claim.text, **judgement.as_dict(),
                       "on_paper_numbers": {"verdict": on_paper.verdict, "detail": on_paper.detail}})
    seeds = {row.label: sorted(cell.seed for cell in cells if cell.row.label == row.label) for row in experiment.rows}
    figures = _figures(experiment, cells)
    table = {
        "experiment": experiment.name, "paper": experiment.paper, "caption": experiment.caption,
        "scale": {k: v for k, v in dataclasses.asdict(scale).items()}, "judged_on": judged_on,
        "date": datetime.date.today().isoformat(), "machine": _machine(), "command": _command(),
        "cells_finished": len(cells), "seeds": seeds, "evaluation_code": code,
        "seconds_per_cell": {f"{cell.row.label} (seed {cell.seed})": round(sum(
            phase["seconds"] for phase in cell.record["phases"].values()), 1) for cell in cells},
        "rows": [{"label": row.label, "protocol": row.protocol.as_dict(), "sets": dict(row.sets)}
                 for row in experiment.rows],
        "columns": [dataclasses.asdict(column) for column in experiment.columns],
        "values": {extractor: {row: {column: statistics.over_seeds(per_seed).as_dict()
                                     for column, per_seed in columns.items()}
                               for row, columns in rows.items()}
                   for extractor, rows in values.items()},
        "paper_note": experiment.paper_note, "paper_trials": experiment.paper_trials,
        "paper_numbers": [{"row": r, "column": c, "value": v[0], "std": v[1]}
                          for (r, c), v in experiment.paper_numbers.items()],
        "claims": claims, "verdicts": _tally(claims), "protocols": protocols,
        "figures": [{"caption": caption, "summary": drawn["summary"], "data": drawn["data"], "file": drawn["file"]}
                    for caption, drawn in figures.items()],
    }
    for drawn in figures.values():
        atomic_write(os.path.join(root, drawn["file"]), drawn["svg"])
    atomic_write(os.path.join(root, "table.json"), json.dumps(table, indent=2, default=str))
    markdown = render_markdown(experiment, scale, table)
    md_path = atomic_write(os.path.join(root, "table.md"), markdown)
    atomic_write(os.path.join(root, "report.html"), _render_html(experiment, table, markdown, figures, cells))
    return table, md_path


def _tally(claims):
    """{verdict: number of claims} over every verdict kind."""
    return {kind: sum(claim["verdict"] == kind for claim in claims) for kind in statistics.VERDICTS}


def _figures(experiment, cells):
    """{caption: drawn figure} of the experiment's figures that the finished cells can draw."""
    finished = {}
    for cell in cells:
        if cell.done("evaluate"):
            finished.setdefault(cell.row.label, []).append(cell.workdir)
    drawn = {figure.caption: figure.draw(finished) for figure in experiment.figures}
    return {caption: {**figure, "svg": report_html.svg_document(figure["figure"]), "file": _figure_file(caption)}
            for caption, figure in drawn.items() if figure is not None}


def _figure_file(caption):
    """Where a figure's SVG file goes under the experiment's folder (for a paper or a slide)."""
    return f"{evaluation.FIGURES_DIR}/{_slug(caption)[:80].rstrip('_')}.svg"


def _format(cell):
    """"84.9 ± 3.2 (3)": the mean and the half-width of its 95% interval over the seeds, the seed count in
    brackets; "84.9 (1)" for one seed."""
    if not cell:
        return "–"
    if cell["low"] is None:
        return f"{cell['mean']:.3g} ({cell['n']})"
    return f"{cell['mean']:.3g} ± {(cell['high'] - cell['low']) / 2:.2g} ({cell['n']})"


def _seed_summary(seeds):
    """"seeds 0, 1 for every row" or "VAE: 0, 1; AE: 0" (rows without a finished cell left out)."""
    finished = {row: values for row, values in seeds.items() if values}
    if not finished:
        return "no finished cell yet"
    if len({tuple(values) for values in finished.values()}) == 1 and len(finished) == len(seeds):
        return f"seeds {', '.join(map(str, next(iter(finished.values()))))} for every row"
    return "; ".join(f"{row}: seeds {', '.join(map(str, values))}" for row, values in finished.items())


def render_markdown(experiment, scale, table):
    """table.md: our numbers beside the paper's per extractor, the claims' verdicts, and how each was measured."""
    tally = ", ".join(f"{count} {kind}" for kind, count in table["verdicts"].items())
    lines = [f"# {experiment.name}: {experiment.caption}", "",
             f"Paper: {experiment.paper}. Scale `{scale.name}`: {scale.description}", "",
             f"Run {table['date']} on {table['machine']['processor']} ({table['machine']['cpu_count']} cores, GPUs: "
             f"{', '.join(table['machine']['gpus']) or 'none'}, TensorFlow {table['machine']['tensorflow']}); "
             f"{table['cells_finished']} cells finished ({_seed_summary(table['seeds'])}); command: "
             f"`{table['command']}`.", ""]
    if len(table["evaluation_code"]) > 1:  # cells evaluated by other versions of the code, merged into one table
        lines += ["Evaluated by " + "; ".join(f"code {version} ({len(names)} cells)" for version, names in
                                              table["evaluation_code"].items()) +
                  " (table.json's `evaluation_code` lists the cells of each).", ""]
    lines += [f"Claims: {tally}.", "",
             "Ours: mean ± half-width of the 95% Student-t interval over the seeds, the number of seeds in "
             "brackets (one seed: no interval). The paper's ± is its own (" + (
                 f"standard deviation over {experiment.paper_trials} trials" if experiment.paper_trials else
                 "the paper gives no spread") + ").", ""]
    paper = {(p["row"], p["column"]): (p["value"], p["std"]) for p in table["paper_numbers"]}
    for extractor, rows in table["values"].items():
        lines += [f"## Ours with the `{extractor}` features" + (" (claims judged on these)" if extractor ==
                                                               table["judged_on"] else ""), ""]
        header = ["model"] + [cell for c in experiment.columns for cell in (f"{c.label} ours [{extractor}]", "paper")]
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for row in experiment.rows:
            cells = [row.label]
            for column in experiment.columns:
                if not column.applies_to(row.label):
                    cells.append("n/a | n/a")
                    continue
                number = paper.get((row.label, column.label))
                theirs = "–" if number is None else (f"{number[0]:g}" + (f" ± {number[1]:g}" if number[1] else ""))
                cells.append(f"{_format(rows[row.label].get(column.label))} | {theirs}")
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    lines += [f"Paper numbers: {experiment.paper_note}", "", "## Claims", "",
              "Each effect is positive where the paper's finding holds: **reproduced** when its 95% interval lies "
              "above zero, **contradicted** when below, **inconclusive** when it contains zero or one seed gives "
              "no interval, **not judged** when a value is missing. The same check on the paper's own numbers is "
              "given after each claim.", ""]
    for claim in table["claims"]:
        lines.append(f"- **{claim['verdict']}**: {claim['claim']} — {claim['detail']}")
        for part in claim.get("parts", []):
            lines.append(f"  - {part['verdict']}: {part['detail']}")
        paper_side = claim["on_paper_numbers"]
        lines.append(f"  - on the paper's own numbers: {paper_side['verdict']} ({paper_side['detail']})")
    if table["figures"]:
        lines += ["", "## Figures (drawn in report.html and as SVG files, data in table.json)", ""]
        lines += [f"- {figure['caption']} (`{figure['file']}`): {figure['summary']}" for figure in table["figures"]]
    lines += ["", "## How each number was measured", ""]
    for name, protocol in table["protocols"].items():
        if protocol:
            lines.append(f"- {name}: " + ", ".join(f"{k}={v}" for k, v in protocol.items()
                                                    if not isinstance(v, (list, dict))))
    lines += ["", "## Protocols (tfvae units, with sources)", ""]
    for row in table["rows"]:
        protocol = {k: v for k, v in row["protocol"].items() if k != "sources"}
        lines.append(f"- {row['label']}: `{json.dumps(protocol, sort_keys=True)}`")
        for setting, source in row["protocol"]["sources"].items():
            lines.append(f"  - {setting}: {source}")
    return "\n".join(lines) + "\n"


def _render_html(experiment, table, markdown, figures, cells):
    """A page with the table as preformatted text, the redrawn figures and a link to every finished cell's
    evaluation report."""
    links = []
    for cell in cells:
        target = f"cells/{os.path.basename(cell.workdir)}/eval/report.html"
        links.append(f'<li><a href="{html.escape(target)}">{html.escape(cell.row.label)} (seed {cell.seed})</a></li>')
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(experiment.name)}</title>"
            f"<style>body{{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto}}"
            f"pre{{white-space:pre-wrap;font-size:0.85em}}</style></head><body>"
            f"<pre>{html.escape(markdown)}</pre>"
            + "".join(f"<figure>{report_html.inline_svg(drawn['svg'])}<figcaption>{html.escape(caption)} "
                      f"({html.escape(drawn['file'])})</figcaption></figure>" for caption, drawn in figures.items())
            + f"<h2>Cells</h2><ul>{''.join(links)}</ul></body></html>")
