"""Runs a paper's experiment: every cell (row x seed) is an ordinary workdir (train -> densities -> evaluate), then
one table with our numbers beside the paper's and a verdict for each of its claims.

    DIR/EXPERIMENT/experiment.json        the experiment and scale this folder belongs to
    DIR/EXPERIMENT/cells/ROW-seedK/       a workdir per cell, plus cell.json (finished phases and their times)
    DIR/EXPERIMENT/table.md, table.json, report.html

A killed run resumes where it stopped: a finished phase of a cell is never run again (cell.json says which are
done, written atomically after each), and a killed training resumes from its last checkpoint.
"""
import dataclasses
import datetime
import html
import json
import os
import platform
import re
import shutil
import sys
import time

import numpy as np
import tensorflow as tf
from absl import logging

from tfvae import models, registry
from tfvae.files import atomic_write
from trainers import evaluation, jobs
from trainers.config import TrainConfig
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
        workdir=workdir, model=protocol.model, dataset=scale.dataset, data_dir=data_dir, pad_to=scale.pad_to,
        max_train_examples=scale.max_train_examples, max_validation_examples=scale.max_validation_examples,
        network=scale.network or protocol.network, latent_dim=protocol.latent_dim, likelihood=protocol.likelihood,
        prior=protocol.prior, model_kwargs=_model_kwargs(protocol, scale),
        epochs=scale.epochs or protocol.epochs, batch_size=protocol.batch_size,
        learning_rate=protocol.learning_rate, seed=seed, patience=protocol.patience,
        halve_every_epochs=protocol.halve_every_epochs,
        densities=protocol.densities).validate()


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
    """Mistakes in an experiment's definition (unknown metric, model or hyperparameter) found before any cell
    trains, not when the first one is evaluated."""
    unknown = sorted(set(experiment.metrics) - set(registry.names("metric")))
    if unknown:
        raise ValueError(f"Experiment {experiment.name} selects unknown metrics {unknown}; registered: "
                         f"{registry.names('metric')}")
    slugs = [_slug(row.label) for row in experiment.rows]
    if len(set(slugs)) < len(slugs):
        raise ValueError(f"Experiment {experiment.name}: rows {[row.label for row in experiment.rows]} would share "
                         f"cell folders {slugs}")
    for row in experiment.rows:
        model_class = registry.get("model", row.protocol.model)
        kwargs = _model_kwargs(row.protocol, scale)
        extra = sorted(set(kwargs) - set(models.hyperparameters(model_class)))
        if extra:
            raise ValueError(f"Experiment {experiment.name}, row {row.label!r}: model {row.protocol.model!r} has no "
                             f"hyperparameters {extra}")


class _Cell:
    """One row x seed: its workdir and the record of its finished phases."""

    def __init__(self, root, row, seed):
        self.row, self.seed = row, seed
        self.workdir = os.path.join(root, "cells", f"{_slug(row.label)}-seed{seed}")
        self.path = os.path.join(self.workdir, CELL_FILE)
        self.record = {"row": row.label, "seed": seed, "phases": {}}
        if os.path.isfile(self.path):
            with open(self.path) as f:
                self.record = json.load(f)

    def done(self, phase):
        return phase in self.record["phases"]

    def mark(self, phase, seconds):
        self.record["phases"][phase] = {"seconds": round(seconds, 1),
                                        "finished": datetime.datetime.now().isoformat(timespec="seconds")}
        atomic_write(self.path, json.dumps(self.record, indent=2))


def _claim_experiment_folder(root, experiment, scale):
    """Writes or checks DIR/EXPERIMENT/experiment.json: one folder holds one experiment at one scale."""
    path = os.path.join(root, EXPERIMENT_FILE)
    identity = {"experiment": experiment.name, "scale": scale.name}
    if os.path.isfile(path):
        with open(path) as f:
            previous = json.load(f)
        if {k: previous.get(k) for k in identity} != identity:
            raise ValueError(f"{root} holds {previous.get('experiment')} at scale {previous.get('scale')}; cells of "
                             f"another scale would mix with them. Use another --workdir. Received: "
                             f"experiment={experiment.name}, scale={scale.name}")
        return
    atomic_write(path, json.dumps(identity, indent=2))


def run_experiment(name, scale_name="cpu", workdir="/tmp/tfvae/reproduce", data_dir=None):
    """Runs (or resumes) every cell of experiment `name` at `scale_name`, then writes the table.

    Returns:
        (table dict as written to table.json, path of table.md).
    """
    experiment = registry.get("experiment", name)
    scale = experiment.scale(scale_name)
    _check_before_training(experiment, scale)
    root = os.path.join(workdir, experiment.name)
    os.makedirs(root, exist_ok=True)
    _claim_experiment_folder(root, experiment, scale)
    cells = [_Cell(root, row, seed) for row in experiment.rows for seed in scale.seeds]
    started, spent, phases_run = time.perf_counter(), 0.0, 0
    remaining = sum(not cell.done(phase) for cell in cells for phase in _PHASES)
    for index, cell in enumerate(cells, 1):
        for phase in _PHASES:
            if cell.done(phase):
                continue
            eta = (spent / phases_run * remaining) if phases_run else float("nan")
            logging.info("[reproduce %s/%s] cell %d/%d %s (seed %d): %s; %d phases left, ETA %s", experiment.name,
                         scale.name, index, len(cells), cell.row.label, cell.seed, phase, remaining,
                         "unknown" if np.isnan(eta) else str(datetime.timedelta(seconds=int(eta))))
            phase_started = time.perf_counter()
            if phase == "train":
                # Training and the ex-post densities; a cell needs no SavedModel (evaluation reads the workdir).
                jobs.train_and_fit_densities(cell_config(experiment, scale, cell.row, cell.seed, cell.workdir,
                                                         data_dir))
            else:
                _evaluate(cell, experiment, scale, root)
            seconds = time.perf_counter() - phase_started
            cell.mark(phase, seconds)
            spent, phases_run, remaining = spent + seconds, phases_run + 1, remaining - 1
    logging.info("[reproduce %s/%s] all %d cells done in this run after %.0f s", experiment.name, scale.name,
                 len(cells), time.perf_counter() - started)
    return write_table(experiment, scale, root, cells)


def _evaluate(cell, experiment, scale, root):
    """Evaluates a cell; the domain classifier is trained once per experiment folder and shared by every cell."""
    shared = os.path.join(root, _SHARED_CLASSIFIER)
    own = os.path.join(cell.workdir, evaluation.EVAL_DIR, _SHARED_CLASSIFIER)
    if os.path.isdir(shared) and not os.path.isdir(own):
        shutil.copytree(shared, own)
    evaluation.evaluate(cell.workdir, list(experiment.metrics), num_samples=scale.num_samples,
                        extractors=scale.extractors, seed=cell.seed, **scale.evaluate_kwargs)
    if os.path.isdir(own) and not os.path.isdir(shared):
        temporary = shared + ".tmp"
        shutil.rmtree(temporary, ignore_errors=True)
        shutil.copytree(own, temporary)
        os.replace(temporary, shared)


def _values(experiment, scale, cells):
    """{extractor: {row: {column: [value per finished seed]}}} and {column: protocol of its first number}."""
    values = {extractor: {row.label: {} for row in experiment.rows} for extractor in scale.extractors}
    protocols = {}
    for cell in cells:
        report_path = os.path.join(cell.workdir, evaluation.EVAL_DIR, "report.json")
        if not cell.done("evaluate") or not os.path.isfile(report_path):
            continue
        with open(report_path) as f:
            report = json.load(f)
        for extractor in scale.extractors:
            for column in experiment.columns:
                if not column.applies_to(cell.row.label):
                    continue
                key = column.report_key(extractor)
                value = report["metrics"].get(key, {}).get(cell.row.sets.get(column.label, column.set))
                if value is None:
                    continue
                values[extractor][cell.row.label].setdefault(column.label, []).append(float(value))
                protocols.setdefault(f"{column.label} @ {extractor}", report["protocol"].get(key))
    return values, protocols


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


def write_table(experiment, scale, root, cells):
    """Writes table.json, table.md and report.html from the finished cells; returns (table dict, table.md path)."""
    values, protocols = _values(experiment, scale, cells)
    judged = ResultTable(values[scale.extractors[0]])
    claims = []
    for claim in experiment.claims:
        verdict, detail = claim.check(judged)
        claims.append({"claim": claim.text, "verdict": verdict, "detail": detail})
    finished = sum(cell.done("evaluate") for cell in cells)
    figures = _figures(experiment, cells)
    table = {
        "experiment": experiment.name, "paper": experiment.paper, "caption": experiment.caption,
        "scale": {k: v for k, v in dataclasses.asdict(scale).items()}, "judged_on": scale.extractors[0],
        "date": datetime.date.today().isoformat(), "machine": _machine(), "command": _command(),
        "cells_finished": finished, "cells": len(cells),
        "rows": [{"label": row.label, "protocol": dataclasses.asdict(row.protocol), "sets": dict(row.sets)}
                 for row in experiment.rows],
        "columns": [dataclasses.asdict(column) for column in experiment.columns],
        "values": values, "paper_note": experiment.paper_note,
        "paper_numbers": [{"row": r, "column": c, "value": v[0], "std": v[1]}
                          for (r, c), v in experiment.paper_numbers.items()],
        "claims": claims, "protocols": protocols,
        "figures": [{"caption": caption, "summary": drawn["summary"], "data": drawn["data"]}
                    for caption, drawn in figures.items()],
    }
    atomic_write(os.path.join(root, "table.json"), json.dumps(table, indent=2, default=str))
    markdown = render_markdown(experiment, scale, table)
    md_path = atomic_write(os.path.join(root, "table.md"), markdown)
    atomic_write(os.path.join(root, "report.html"), _render_html(experiment, table, markdown, figures))
    return table, md_path


def _figures(experiment, cells):
    """{caption: drawn figure} of the experiment's figures that the finished cells can draw."""
    finished = {}
    for cell in cells:
        if cell.done("evaluate"):
            finished.setdefault(cell.row.label, []).append(cell.workdir)
    drawn = {figure.caption: figure.draw(finished) for figure in experiment.figures}
    return {caption: figure for caption, figure in drawn.items() if figure is not None}


def _format(runs):
    if not runs:
        return "–"
    if len(runs) == 1:
        return f"{runs[0]:.3g}"
    return f"{np.mean(runs):.3g} ± {np.std(runs, ddof=1):.2g}"


def _verdict(value):
    return {True: "reproduced", False: "NOT reproduced", None: "not judged"}[value]


def render_markdown(experiment, scale, table):
    """table.md: our numbers beside the paper's per extractor, the claims' verdicts, and how each was measured."""
    lines = [f"# {experiment.name}: {experiment.caption}", "",
             f"Paper: {experiment.paper}. Scale `{scale.name}`: {scale.description}", "",
             f"Run {table['date']} on {table['machine']['processor']} ({table['machine']['cpu_count']} cores, GPUs: "
             f"{', '.join(table['machine']['gpus']) or 'none'}, TensorFlow {table['machine']['tensorflow']}); "
             f"{table['cells_finished']}/{table['cells']} cells finished; command: `{table['command']}`.", ""]
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
                cells.append(f"{_format(rows[row.label].get(column.label, []))} | {theirs}")
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    lines += [f"Paper numbers: {experiment.paper_note}", "", "## Claims", ""]
    for claim in table["claims"]:
        lines.append(f"- **{_verdict(claim['verdict'])}**: {claim['claim']} — {claim['detail']}")
    if table["figures"]:
        lines += ["", "## Figures (drawn in report.html, data in table.json)", ""]
        lines += [f"- {figure['caption']}: {figure['summary']}" for figure in table["figures"]]
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


def _render_html(experiment, table, markdown, figures):
    """A page with the table as preformatted text, the redrawn figures and a link to every cell's evaluation
    report."""
    links = []
    for row in table["rows"]:
        for seed in table["scale"]["seeds"]:
            cell = f"cells/{_slug(row['label'])}-seed{seed}/eval/report.html"
            links.append(f'<li><a href="{html.escape(cell)}">{html.escape(row["label"])} (seed {seed})</a></li>')
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(experiment.name)}</title>"
            f"<style>body{{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto}}"
            f"pre{{white-space:pre-wrap;font-size:0.85em}}</style></head><body>"
            f"<pre>{html.escape(markdown)}</pre>"
            + "".join(f"<figure>{drawn['svg']}<figcaption>{html.escape(caption)}</figcaption></figure>"
                      for caption, drawn in figures.items())
            + f"<h2>Cells</h2><ul>{''.join(links)}</ul></body></html>")
