"""The papers' tables as experiments (`registry.get("experiment", NAME)`), run by `python -m trainers.reproduce`."""
from trainers.experiments import distribution_matching, dpvae, rae, two_stage  # noqa: F401  (registers the experiments)
from trainers.experiments.experiment import Claim, Column, Experiment, Protocol, ResultTable, Row, Scale
