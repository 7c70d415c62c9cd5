"""The Inception score of class probabilities (Salimans et al. 2016), with its split standard deviation."""
import numpy as np


def inception_score(probabilities, num_splits=10):
    """exp(E_x KL[p(y|x) || p(y)]) over `num_splits` splits; returns (mean, standard deviation) over splits.

    It is C for confident predictions spread uniformly over C classes and 1 when every prediction is the same.
    With the official Inception logits unavailable offline, tfvae computes it on a classifier trained on the data
    set's labels (a "domain" score): compare it only with scores from the same classifier.

    Args:
        probabilities: [N, C] rows summing to 1.
        num_splits: int. Defaults to 10 (the original protocol).
    """
    p = np.asarray(probabilities, np.float64)
    if p.ndim != 2 or len(p) < num_splits or num_splits < 1:
        raise ValueError(f"probabilities must be [N, C] with N >= num_splits={num_splits}. Received: {p.shape}")
    if (p < 0).any() or not np.allclose(p.sum(axis=1), 1.0, atol=1e-3):
        raise ValueError("probabilities must be non-negative rows summing to 1 (apply softmax to logits).")
    scores = []
    for part in np.array_split(p, num_splits):
        marginal = part.mean(axis=0, keepdims=True)
        kl = np.sum(part * (np.log(np.maximum(part, 1e-30)) - np.log(np.maximum(marginal, 1e-30))), axis=1)
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))
