"""Evaluation metrics (see the evaluation issue); the statistics core is added there."""
