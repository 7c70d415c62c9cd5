"""beta-TCVAE (Chen et al. 2018)."""
import keras

from tfvae import registry
from tfvae.losses import log_aggregate_posteriors
from tfvae.models.vae import VAE


@registry.register("model", "beta_tcvae")
@keras.saving.register_keras_serializable("tfvae")
class BetaTCVAE(VAE):
    """beta-TCVAE: the KL decomposed into index-code mutual information, total correlation and dimension-wise KL,
    each with its own weight (Chen et al. 2018, eq. 4).

    Math:
        MI   = E[ log q(z|x) - log q(z) ]
        TC   = E[ log q(z) - sum_j log q(z_j) ]
        DWKL = E[ sum_j log q(z_j) - log p(z) ]
        L = -log p(x|z) + alpha MI + beta TC + gamma DWKL
        log q(z) and log q(z_j) come from the minibatch (stratified or weighted sampling, `tfvae.losses`).
        With the standard prior DWKL is the sum of dimension-wise KLs. With the decoupled prior (beta-TC-dpVAE,
        dpVAE section 4.3) p(z) is not factorized; we use its exact log-density, so DWKL becomes
        KL[q(z) || p(z)] - TC, which equals the dimension-wise KL whenever the prior factorizes. (The paper
        estimates this term from prior samples z = g^{-1}(z0); the flow's exact density is available and unbiased.)

    Args:
        alpha, beta, gamma: float. Weights of MI, TC and DWKL. Default to 1, 6, 1 (Chen et al.).
        estimator: str. "mss" (minibatch stratified sampling, weights on the diagonal) or "mws" (minibatch
            weighted sampling, strongly biased; kept for comparison). Defaults to "mss".
        dataset_size: int. N, the number of training examples (the binaries pass it). Defaults to 60000.
        **kwargs: see `VAE`.
    """

    loss_terms = ("kl", "mutual_information", "total_correlation", "dimension_wise_kl")
    needs_dataset_size = True

    def __init__(self, input_shape, alpha=1.0, beta=6.0, gamma=1.0, estimator="mss", dataset_size=60000, **kwargs):
        super().__init__(input_shape, **kwargs)
        if estimator not in ("mss", "mws"):
            raise ValueError(f"estimator must be 'mss' or 'mws'. Received: estimator={estimator!r}")
        if self.posterior_flow:
            raise ValueError("beta-TCVAE's minibatch estimators need Gaussian posteriors; use "
                             "posterior_flow_couplings=0. Received: posterior_flow_couplings="
                             f"{self.posterior_flow_couplings}")
        self.alpha, self.beta, self.gamma = float(alpha), float(beta), float(gamma)
        self.estimator = estimator
        self.dataset_size = int(dataset_size)

    def regularizer(self, x, posterior, training=False):
        z = posterior["z"]
        log_qz_x = self.log_posterior(posterior)
        log_qz, log_prod_qzj = log_aggregate_posteriors(z, posterior["z_mean"], posterior["z_log_var"],
                                                        self.dataset_size, self.estimator)
        log_pz = self.prior.log_prob(z)
        mutual_information = log_qz_x - log_qz
        total_correlation = log_qz - log_prod_qzj
        dimension_wise_kl = log_prod_qzj - log_pz
        penalty = self.alpha * mutual_information + self.beta * total_correlation + self.gamma * dimension_wise_kl
        return penalty, {"kl": log_qz_x - log_pz, "mutual_information": mutual_information,
                         "total_correlation": total_correlation, "dimension_wise_kl": dimension_wise_kl}

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha, "beta": self.beta, "gamma": self.gamma,
                "estimator": self.estimator, "dataset_size": self.dataset_size}
