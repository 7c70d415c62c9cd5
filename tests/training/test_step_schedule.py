"""The step schedule (the two-stage VAE's "halve every N epochs") and a fixed learning rate (patience 0)."""
import json

import numpy as np

from tfvae import models, training


def test_learning_rate_halves_every_n_epochs_and_patience_zero_never_halves(digits, tmp_path):
    trainer = training.Trainer(
        lambda: models.build("ae", digits.element_shape, latent_dim=2, network_kwargs={"hidden_units": (8,)}),
        digits, str(tmp_path), epochs=5, batch_size=200, learning_rate=0.01, patience=0, halve_every_epochs=2,
        log_images=False)
    trainer.fit()
    with open(tmp_path / "logs" / "history.jsonl") as f:
        rates = [json.loads(line)["learning_rate"] for line in f]
    np.testing.assert_allclose(rates, [0.01, 0.005, 0.005, 0.0025, 0.0025], rtol=1e-6)  # float32 variable
