"""Evaluation metrics. So far: the float64 statistics core of the sample metrics (Frechet distance, KID); the
feature extractors, the remaining metrics and `trainers.evaluate` are the subject of the evaluation issue."""
from tfvae.metrics.statistics import RunningMoments, frechet_distance, kernel_inception_distance
