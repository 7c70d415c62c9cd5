"""Precision and recall of a generated distribution against a reference one, on feature vectors.

Two definitions, both used in the papers' tables:
- PRD (Sajjadi et al. 2018, "Assessing generative models via precision and recall"; the RAE paper's table 2):
  both sets are clustered together, and the PRD curve compares the two cluster histograms; summarized by
  F_8 (recall-like) and F_1/8 (precision-like), averaged over runs with different clusterings.
- Improved precision and recall (Kynkaanniemi et al. 2019): a sample is "precise" when it falls inside the k-NN
  ball of some reference point, a reference point is "recalled" when it falls inside some sample's k-NN ball.
"""
import numpy as np


def prd_curve(eval_histogram, reference_histogram, num_angles=1001, epsilon=1e-10):
    """PRD curve of two histograms over the same bins (Sajjadi et al., eq. 3 and theorem 2).

    Math:
        for slopes lambda = tan(angle), angle in (0, pi/2):
            precision(lambda) = sum_bins min(lambda * ref, eval),  recall(lambda) = precision(lambda) / lambda

    Returns:
        (precision [num_angles], recall [num_angles]).
    """
    eval_histogram = np.asarray(eval_histogram, np.float64)
    reference_histogram = np.asarray(reference_histogram, np.float64)
    angles = np.linspace(epsilon, np.pi / 2 - epsilon, num_angles)
    slopes = np.tan(angles)
    precision = np.minimum(reference_histogram[None, :] * slopes[:, None], eval_histogram[None, :]).sum(axis=1)
    recall = precision / slopes
    return np.clip(precision, 0.0, 1.0), np.clip(recall, 0.0, 1.0)


def max_f_beta(precision, recall, beta):
    """max over the curve of F_beta = (1 + beta^2) P R / (beta^2 P + R) (0 where P = R = 0)."""
    precision, recall = np.asarray(precision), np.asarray(recall)
    denominator = beta ** 2 * precision + recall
    scores = np.where(denominator > 0, (1 + beta ** 2) * precision * recall / np.maximum(denominator, 1e-300), 0.0)
    return float(scores.max())


def prd(eval_features, reference_features, num_clusters=20, num_angles=1001, num_runs=10, beta=8, seed=0):
    """PRD between generated (`eval_features`) and reference features, averaged over `num_runs` k-means runs.

    Args:
        eval_features: [N, D] features of generated samples.
        reference_features: [M, D] features of real data.
        num_clusters: int. k-means clusters of the union. Defaults to 20 (the authors' setting).
        num_angles: int. Points of the curve. Defaults to 1001.
        num_runs: int. Clusterings averaged. Defaults to 10.
        beta: float. Defaults to 8: F_8 weighs recall, F_1/8 precision.
        seed: int. Seed of the clusterings.

    Returns:
        dict with `precision`, `recall` (curves, averaged over runs), `f_beta` (F_8), `f_beta_inv` (F_1/8).
    """
    from sklearn.cluster import MiniBatchKMeans

    eval_features = _checked(eval_features, "eval_features")
    reference_features = _checked(reference_features, "reference_features", eval_features.shape[1])
    if num_clusters < 2 or len(eval_features) + len(reference_features) < num_clusters:
        raise ValueError(f"PRD needs at least num_clusters={num_clusters} >= 2 points in total. Received: "
                         f"{len(eval_features)} + {len(reference_features)}")
    union = np.concatenate([eval_features, reference_features])
    curves = []
    for run in range(num_runs):
        kmeans = MiniBatchKMeans(n_clusters=num_clusters, n_init=10, random_state=seed + run)
        labels = kmeans.fit(union).labels_
        eval_labels, reference_labels = labels[:len(eval_features)], labels[len(eval_features):]
        eval_histogram = np.bincount(eval_labels, minlength=num_clusters) / len(eval_labels)
        reference_histogram = np.bincount(reference_labels, minlength=num_clusters) / len(reference_labels)
        curves.append(prd_curve(eval_histogram, reference_histogram, num_angles))
    precision = np.mean([c[0] for c in curves], axis=0)
    recall = np.mean([c[1] for c in curves], axis=0)
    return {"precision": precision, "recall": recall, "f_beta": max_f_beta(precision, recall, beta),
            "f_beta_inv": max_f_beta(precision, recall, 1.0 / beta)}


def _kth_neighbour_radii(features, k, chunk=1024):
    """Distance of every row to its k-th nearest other row."""
    radii = np.empty(len(features))
    squared = np.sum(features ** 2, axis=1)
    for start in range(0, len(features), chunk):
        block = features[start:start + chunk]
        distances = squared[start:start + chunk, None] - 2 * block @ features.T + squared[None, :]
        # Column k of the sorted row: column 0 is the point itself (distance 0).
        radii[start:start + chunk] = np.sqrt(np.maximum(np.partition(distances, k, axis=1)[:, k], 0.0))
    return radii


def _inside_any_ball(points, centers, radii, chunk=1024):
    inside = np.zeros(len(points), bool)
    center_squared = np.sum(centers ** 2, axis=1)
    for start in range(0, len(points), chunk):
        block = points[start:start + chunk]
        distances = np.sum(block ** 2, axis=1)[:, None] - 2 * block @ centers.T + center_squared[None, :]
        inside[start:start + chunk] = (distances <= radii[None, :] ** 2).any(axis=1)
    return inside


def improved_precision_recall(real_features, fake_features, k=3):
    """Improved precision and recall (Kynkaanniemi et al. 2019, eq. 1-2) with k-NN balls (k = 3).

    Math:
        precision = 1/|F| sum_{f in F} [f inside some ball B(r, NN_k(r)), r in R]
        recall    = 1/|R| sum_{r in R} [r inside some ball B(f, NN_k(f)), f in F]

    Returns:
        dict with `precision` and `recall` (floats in [0, 1]).
    """
    real = _checked(real_features, "real_features").astype(np.float64)
    fake = _checked(fake_features, "fake_features", real.shape[1]).astype(np.float64)
    if min(len(real), len(fake)) <= k:
        raise ValueError(f"Both sets need more than k={k} points. Received: {len(real)} and {len(fake)}")
    precision = _inside_any_ball(fake, real, _kth_neighbour_radii(real, k)).mean()
    recall = _inside_any_ball(real, fake, _kth_neighbour_radii(fake, k)).mean()
    return {"precision": float(precision), "recall": float(recall)}


def _checked(features, name, dim=None):
    features = np.asarray(features, np.float64)
    if features.ndim != 2 or (dim is not None and features.shape[1] != dim) or not len(features):
        raise ValueError(f"{name} must be a non-empty array [N, {dim or 'D'}]. Received: shape {features.shape}")
    if not np.isfinite(features).all():
        raise ValueError(f"{name} contains NaN or infinite values.")
    return features
